"""Asks a Docker registry (HTTP API v2) whether a tag exists, with basic or bearer-token auth.

Only what the rollback needs: `HEAD /v2/<repository>/manifests/<tag>` and the tag list. A
registry that answers 401 is retried once with the credentials its `WWW-Authenticate` header
asks for: `Basic` (username and password) or `Bearer` (a token fetched from the realm it names,
with the username and password when there are any). The password is a `Secret`: it goes into
an Authorization header and nowhere else, and no error message carries it.

HTTPS always comes first (verified against the system's trust store). Only a loopback registry
that does not speak TLS is asked again over plain HTTP, as Docker treats 127.0.0.0/8 as an
insecure registry; credentials are never sent over plain HTTP to any other host.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import re
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from slipway.secret import Secret

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
TIMEOUT_SECONDS = 20.0


class RegistryError(Exception):
    """The registry could not answer the question (unreachable, refused, unexpected reply)."""


class _NoTls(RegistryError):
    """The TLS handshake failed (e.g. the server speaks plain HTTP)."""


@dataclass(frozen=True)
class ImageRef:
    """`<host>[/<path>]/<repository>:<tag>` split into where to ask and what to ask for."""

    host: str  # host[:port], where the API lives
    repository: str  # everything between the host and the tag
    tag: str

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        name, sep, tag = ref.rpartition(":")
        if not sep or "/" in tag or "@" in ref:
            raise ValueError(f"{ref!r} is not <registry>/<repository>:<tag>")
        host, slash, repository = name.partition("/")
        if not slash or not repository or not tag:
            raise ValueError(f"{ref!r} is not <registry>/<repository>:<tag>")
        return cls(host=host, repository=repository, tag=tag)

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}:{self.tag}"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost (with or without a port)."""
    bare = host
    if bare.startswith("["):
        bare = bare[1:].split("]", 1)[0]
    elif bare.count(":") == 1:
        bare = bare.split(":", 1)[0]
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="https://a/token",service="reg"` -> ("bearer", {"realm": ..., ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


@dataclass(frozen=True)
class Credentials:
    username: str
    password: Secret

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password.reveal()}".encode()
        return "Basic " + base64.b64encode(raw).decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """An Authorization header must not follow a redirect to another host."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class _SharedTlsContext(urllib.request.HTTPSHandler):
    """One TLS context for every request: building one loads the system's CA certificates (tens of
    milliseconds with OpenSSL 3), which a plain handler pays again for each connection."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        with self._lock:
            if self._context is None:
                self._context = ssl.create_default_context()
        return self.do_open(http.client.HTTPSConnection, req, context=self._context)


_OPENER = urllib.request.build_opener(_NoRedirect, _SharedTlsContext)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Registry:
    """One registry host; `credentials` are used only when the registry asks for them."""

    def __init__(self, host: str, credentials: Credentials | None = None,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self.host = host
        self.credentials = credentials
        self.timeout = timeout
        self.scheme = "https"
        self._authorization: str | None = None

    # -- what the rollback asks ------------------------------------------------------------
    def tag_exists(self, repository: str, tag: str) -> bool:
        """True when `<repository>:<tag>` has a manifest, False when the registry says 404."""
        path = f"/v2/{repository}/manifests/{urllib.parse.quote(tag, safe='')}"
        resp = self._call("HEAD", path, repository, {"Accept": ", ".join(MANIFEST_TYPES)})
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        raise RegistryError(f"{self.host}/{repository}:{tag}: the registry answered HTTP {resp.status}")

    def tags(self, repository: str) -> list[str]:
        """Every tag of `repository` (empty when the repository does not exist)."""
        found: list[str] = []
        path: str | None = f"/v2/{repository}/tags/list?n=1000"
        while path is not None:
            resp = self._call("GET", path, repository, {"Accept": "application/json"})
            if resp.status == 404:
                return found
            if resp.status != 200:
                raise RegistryError(f"{self.host}/{repository}: listing tags answered HTTP {resp.status}")
            found += list(json.loads(resp.body or b"{}").get("tags") or [])
            path = _next_page(resp.headers.get("Link", ""))
        return found

    # -- HTTP and auth ---------------------------------------------------------------------
    def _call(self, method: str, path: str, repository: str, headers: dict[str, str]) -> Response:
        resp = self._send(method, path, headers, self._authorization)
        if resp.status != 401:
            return resp
        challenge = resp.headers.get("WWW-Authenticate", "")
        # Kept for the next call, but this call retries with its own: another thread's call may
        # store a token for another repository meanwhile.
        authorization = self._authorization = self._authorize(challenge, repository)
        if authorization is None:
            raise RegistryError(f"{self.host}: the registry requires authentication"
                                f" ({parse_challenge(challenge)[0] or 'no challenge'}) and no"
                                " registry credentials are configured (slipway:registry.username"
                                " and the secret slipway:registryPassword)")
        resp = self._send(method, path, headers, authorization)
        if resp.status in (401, 403):
            raise RegistryError(f"{self.host}: the registry refused the configured credentials"
                                f" (HTTP {resp.status}) for {repository}")
        return resp

    def _authorize(self, challenge: str, repository: str) -> str | None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self.credentials is None:
                return None
            self._check_credentials_may_travel(self.scheme, self.host)
            return self.credentials.basic_header()
        if scheme == "bearer":
            return self._bearer(params, repository)
        return None

    def _bearer(self, params: Mapping[str, str], repository: str) -> str | None:
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"{self.host}: bearer challenge without a realm")
        query = {"service": params.get("service", ""),
                 "scope": params.get("scope") or f"repository:{repository}:pull"}
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(
            {k: v for k, v in query.items() if v})
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise RegistryError(f"{self.host}: token realm is not an http(s) URL")
        headers = {"Accept": "application/json"}
        if self.credentials is not None:
            self._check_credentials_may_travel(parts.scheme, parts.netloc)
            headers["Authorization"] = self.credentials.basic_header()
        resp = _request("GET", url, headers, self.timeout)
        if resp.status in (401, 403) and self.credentials is None:
            return None  # an anonymous token was refused: credentials are needed
        if resp.status in (401, 403):
            raise RegistryError(f"{self.host}: the token service refused the configured"
                                f" credentials (HTTP {resp.status})")
        if resp.status != 200:
            raise RegistryError(f"{self.host}: the token service at {parts.scheme}://{parts.netloc}"
                                f" answered HTTP {resp.status}")
        try:
            body = json.loads(resp.body)
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{self.host}: the token service returned no token")
        return f"Bearer {token}"

    @staticmethod
    def _check_credentials_may_travel(scheme: str, netloc: str) -> None:
        if scheme != "https" and not is_loopback(netloc):
            raise RegistryError(f"refusing to send registry credentials over plain HTTP to {netloc}")

    def _send(self, method: str, path: str, headers: dict[str, str],
              authorization: str | None) -> Response:
        all_headers = dict(headers)
        if authorization is not None:
            all_headers["Authorization"] = authorization
        scheme = self.scheme  # once: another thread's call may change it meanwhile
        try:
            return _request(method, f"{scheme}://{self.host}{path}", all_headers, self.timeout)
        except _NoTls:
            if scheme != "https" or not is_loopback(self.host):
                raise
            self.scheme = "http"  # a loopback registry without TLS, as Docker allows
            return _request(method, f"http://{self.host}{path}", all_headers, self.timeout)


def _next_page(link: str) -> str | None:
    """The path of a `Link: </v2/...?last=x&n=y>; rel="next"` header (same host only)."""
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
    if not match:
        return None
    target = urllib.parse.urlsplit(match.group(1))
    if target.netloc:  # an absolute URL: keep only its path, so a token never leaves the host
        return urllib.parse.urlunsplit(("", "", target.path, target.query, ""))
    return match.group(1)


def _request(method: str, url: str, headers: Mapping[str, str], timeout: float) -> Response:
    request = urllib.request.Request(url, method=method, headers=dict(headers))  # noqa: S310
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return Response(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, dict(err.headers.items()), err.read())
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        netloc = urllib.parse.urlsplit(url).netloc
        if isinstance(reason, ssl.SSLError) and not isinstance(reason, ssl.SSLCertVerificationError):
            raise _NoTls(f"no TLS at {netloc}: {reason}") from None
        raise RegistryError(f"cannot reach the registry at {netloc}: {reason}") from None
