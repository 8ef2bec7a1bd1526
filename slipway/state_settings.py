"""Where a stack's state lives and what encrypts its secrets: never the local sandbox's defaults
for a real stack.

`scripts/local-env.sh` gives the built-in `local` stack (and tests) a file backend under the cache
and a passphrase that is public by design. Any other stack must bring its own; these checks say
exactly what to set before anything runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

LOCAL_STACK = "local"
# The built-in local stack's passphrase: public, written in scripts/local-env.sh.
LOCAL_PASSPHRASE = "slipway-local-sandbox"  # noqa: S105 (public on purpose)
_CLOUD_PREFIXES = ("https://api.pulumi.com", "https://app.pulumi.com")


def _logged_in_backend(environ: Mapping[str, str]) -> str | None:
    """The backend `pulumi login` recorded, if any (PULUMI_HOME/credentials.json)."""
    home = Path(environ.get("PULUMI_HOME") or Path(environ.get("HOME", "~")).expanduser() / ".pulumi")
    try:
        current = json.loads((home / "credentials.json").read_text()).get("current")
    except (OSError, ValueError, AttributeError):
        return None
    return str(current) if current else None


def _sandbox_state_dirs(environ: Mapping[str, str]) -> set[str]:
    cache = environ.get("SLIPWAY_CACHE") or str(Path(environ.get("HOME", "~")).expanduser()
                                                / ".cache" / "slipway")
    default = str(Path(environ.get("HOME", "~")).expanduser() / ".cache" / "slipway")
    return {f"file://{os.path.join(c, 'state')}" for c in (cache, default)}


def unsafe_program_settings(stack: str, environ: Mapping[str, str]) -> list[str]:
    """What the program itself refuses for a non-local stack: the local sandbox's passphrase."""
    if stack == LOCAL_STACK:
        return []
    if environ.get("PULUMI_CONFIG_PASSPHRASE") == LOCAL_PASSPHRASE:
        return [f"PULUMI_CONFIG_PASSPHRASE is the local sandbox's public passphrase; stack '{stack}'"
                " needs its own: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the"
                " passphrase its secrets are encrypted with, and source scripts/env.sh, not"
                " scripts/local-env.sh"]
    return []


def state_problems(stack: str, environ: Mapping[str, str]) -> list[str]:
    """What is missing or unsafe for running `pulumi` on `stack`, each naming what to set."""
    if stack == LOCAL_STACK:
        return []
    problems = unsafe_program_settings(stack, environ)
    backend = environ.get("PULUMI_BACKEND_URL") or _logged_in_backend(environ)
    if not backend:
        problems.append(
            f"no state backend for stack '{stack}': set PULUMI_BACKEND_URL (e.g. s3://my-bucket/slipway"
            " or https://api.pulumi.com) or run `pulumi login <backend>`; the local sandbox's file"
            " backend is for the local stack only")
    elif backend.split("?", 1)[0].rstrip("/") in _sandbox_state_dirs(environ):
        problems.append(
            f"PULUMI_BACKEND_URL={backend} is the local sandbox's state folder; stack '{stack}' needs"
            " its real backend: set PULUMI_BACKEND_URL to it (e.g. s3://my-bucket/slipway)")
    cloud = bool(backend) and str(backend).startswith(_CLOUD_PREFIXES)
    has_passphrase = any(environ.get(f"PULUMI_CONFIG_PASSPHRASE{s}") for s in ("", "_FILE"))
    if not cloud and not has_passphrase:
        problems.append(
            f"no passphrase for stack '{stack}': set PULUMI_CONFIG_PASSPHRASE (or"
            " PULUMI_CONFIG_PASSPHRASE_FILE, a file holding it) to the passphrase its secrets are"
            " encrypted with")
    return problems


def state_refusal(command: str, stack: str, environ: Mapping[str, str]) -> str | None:
    """What `slipway <command>` prints (and then stops) when the state settings are unsafe."""
    unsafe = state_problems(stack, environ)
    if not unsafe:
        return None
    return f"slipway {command}: refused before running anything:\n" + "\n".join(f"  - {p}" for p in unsafe)
