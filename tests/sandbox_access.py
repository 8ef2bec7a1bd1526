"""How tests reach the running sandbox (sandbox/up.sh): its SANDBOX_* settings and the GitHub double."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any


def sandbox_env() -> dict[str, str] | None:
    """The SANDBOX_* values of sandbox.env, or None when the sandbox has not been started."""
    cache = Path(os.environ.get("SLIPWAY_CACHE", Path.home() / ".cache" / "slipway"))
    env_file = Path(os.environ.get("SLIPWAY_SANDBOX_DIR", cache / "sandbox")) / "sandbox.env"
    if not env_file.exists():
        return None
    out = subprocess.run(["bash", "-c", f"set -a; source '{env_file}'; env -0"],
                         capture_output=True, check=True).stdout.decode()
    return {k: v for k, v in (i.split("=", 1) for i in out.split("\0") if "=" in i)
            if k.startswith("SANDBOX_")}


def github_call(sandbox: dict[str, str], method: str, path: str,
                body: dict[str, Any] | None = None) -> Any:
    """One call to the GitHub test double (loopback), as its one accepted token."""
    request = urllib.request.Request(  # noqa: S310 (loopback only)
        sandbox["SANDBOX_GITHUB_URL"].rstrip("/") + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {sandbox['SANDBOX_GITHUB_TOKEN']}",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        raw = resp.read()
    return json.loads(raw) if raw else None
