"""Test helpers: push a tiny image straight through the registry API, and a loopback registry
that demands basic or bearer-token auth (the sandbox registry has none)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.sandbox_access import sandbox_env

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def _context() -> ssl.SSLContext:
    """The system's trust store, plus the sandbox registry's CA when the sandbox names one."""
    context = ssl.create_default_context()
    env = sandbox_env() or {}
    if env.get("SANDBOX_REGISTRY_CA") and Path(env["SANDBOX_REGISTRY_CA"]).exists():
        context.load_verify_locations(cafile=env["SANDBOX_REGISTRY_CA"])
    return context


_SCHEMES: dict[str, str] = {}


def base_url(host: str) -> str:
    """https://host when the registry speaks TLS (the sandbox's does), else http://host."""
    if host not in _SCHEMES:
        try:
            urllib.request.urlopen(f"https://{host}/v2/", timeout=5,
                                   context=_context()).close()
            _SCHEMES[host] = "https"
        except urllib.error.HTTPError:
            _SCHEMES[host] = "https"
        except urllib.error.URLError:
            _SCHEMES[host] = "http"
    return f"{_SCHEMES[host]}://{host}"


def _call(method: str, url: str, data: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310 (loopback)
                                     headers=headers or {})
    context = _context() if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:  # noqa: S310
            return resp.status, dict(resp.headers.items())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items())


def _blob(host: str, repository: str, content: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    status, headers = _call("POST", f"{base_url(host)}/v2/{repository}/blobs/uploads/", b"")
    assert status == 202, status
    location = headers["Location"]
    if location.startswith("/"):
        location = f"{base_url(host)}{location}"
    sep = "&" if "?" in location else "?"
    status, _ = _call("PUT", f"{location}{sep}digest={digest}", content,
                      {"Content-Type": "application/octet-stream"})
    assert status == 201, status
    return {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest,
            "size": len(content)}


def push_tiny_image(host: str, repository: str, tag: str) -> str:
    """Push a one-layer OCI image under `tag`; return its manifest digest."""
    layer_bytes = secrets.token_bytes(64)
    config = _blob(host, repository, json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode())
    layer = _blob(host, repository, layer_bytes)
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": config,
                           "layers": [layer]}).encode()
    status, headers = _call("PUT", f"{base_url(host)}/v2/{repository}/manifests/{tag}", manifest,
                            {"Content-Type": MANIFEST_TYPE})
    assert status == 201, status
    return headers["Docker-Content-Digest"]


def delete_tag(host: str, repository: str, tag: str) -> None:
    """Delete the manifest `tag` points at (the registry has delete enabled)."""
    status, headers = _call("HEAD", f"{base_url(host)}/v2/{repository}/manifests/{tag}",
                            headers={"Accept": MANIFEST_TYPE + ", application/vnd.docker."
                                     "distribution.manifest.v2+json"})
    assert status == 200, status
    status, _ = _call("DELETE", f"{base_url(host)}/v2/{repository}/manifests/"
                      f"{headers['Docker-Content-Digest']}")
    assert status == 202, status


class AuthRegistry:
    """A loopback stand-in for a registry with auth: `mode` is "basic" or "bearer"."""

    def __init__(self, mode: str, username: str, password: str, tags: set[str]) -> None:
        self.mode = mode
        self.username = username
        self.password = password
        self.tags = tags  # "repository:tag" that exist
        self.token = "tok-" + secrets.token_hex(8)
        self.seen_auth: list[str] = []
        self.token_requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def _basic_ok(self, header: str) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return header == f"Basic {expected}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
                       ) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                auth = self.headers.get("Authorization", "")
                fake.seen_auth.append(auth)
                if self.path.startswith("/token"):
                    fake.token_requests.append(self.path)
                    if not fake._basic_ok(auth):
                        self._reply(401)
                        return
                    self._reply(200, json.dumps({"token": fake.token}).encode())
                    return
                if fake.mode == "basic":
                    ok = fake._basic_ok(auth)
                    challenge = 'Basic realm="fake"'
                else:
                    ok = auth == f"Bearer {fake.token}"
                    challenge = (f'Bearer realm="http://{fake.host}/token",service="fake",'
                                 'scope="repository:team/app:pull"')
                if not ok:
                    self._reply(401, b"{}", {"WWW-Authenticate": challenge})
                    return
                parts = self.path.split("/")  # /v2/<repo...>/manifests/<tag>
                if "manifests" in parts:
                    i = parts.index("manifests")
                    key = "/".join(parts[2:i]) + ":" + parts[i + 1]
                    self._reply(200 if key in fake.tags else 404)
                    return
                self._reply(404)

            def do_HEAD(self) -> None:
                self._handle()

            def do_GET(self) -> None:
                self._handle()

        return Handler

    @contextmanager
    def running(self) -> Iterator[AuthRegistry]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
