"""Fixtures for the sandbox tests: start (or reuse) the sandbox with sandbox/up.sh once per
session and hand its sandbox.env to the tests.  Everything talks to 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
UP = REPO / "sandbox" / "up.sh"


def state_dir() -> Path:
    cache = Path(os.environ.get("SLIPWAY_CACHE", Path.home() / ".cache" / "slipway"))
    return Path(os.environ.get("SLIPWAY_SANDBOX_DIR", cache / "sandbox"))


def read_env_file(path: Path) -> dict[str, str]:
    """sandbox.env is plain KEY='value' lines; parse them without a shell."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, raw = line.partition("=")
        words = shlex.split(raw)
        env[key.strip()] = words[0] if words else ""
    return env


@pytest.fixture(scope="session")
def sandbox() -> dict[str, str]:
    if os.geteuid() != 0:
        pytest.skip("sandbox/up.sh needs root")
    env = dict(os.environ)
    # The double runs with this interpreter unless told otherwise (it has PyNaCl: the tests need it too).
    env.setdefault("SLIPWAY_PYTHON", sys.executable)
    done = subprocess.run(["bash", str(UP)], capture_output=True, text=True, timeout=1800, env=env)
    if done.returncode != 0:
        pytest.fail(f"sandbox/up.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return read_env_file(state_dir() / "sandbox.env")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 10) -> Response:
    """An HTTP(S) call to a loopback URL; HTTP errors come back as a Response too."""
    assert url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")), url
    data = None if body is None else json.dumps(body).encode()
    hdrs = dict(headers or {})
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return Response(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, dict(err.headers.items()), err.read())


class GitHubDouble:
    """Client of the GitHub API test double (REST under /api/v3/, as the provider sees it)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base = base_url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             api: bool = True) -> Response:
        headers = {"Authorization": f"token {self.token if token is None else token}"}
        if token == "":
            headers = {}
        prefix = "/api/v3" if api else ""
        return http(method, f"{self.base}{prefix}{path}", body, headers)

    def state(self) -> dict[str, Any]:
        resp = self.call("GET", "/_double/state", api=False)
        assert resp.status == 200, resp.body
        return dict(resp.json())


@pytest.fixture(scope="session")
def github(sandbox: dict[str, str]) -> GitHubDouble:
    return GitHubDouble(sandbox["SANDBOX_GITHUB_URL"], sandbox["SANDBOX_GITHUB_TOKEN"])
