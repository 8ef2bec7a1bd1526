"""The fix half of every problem: the exact command that sets a key, and the key meant."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from slipway.config.models import NAMESPACE


def set_command(stack: str, key: str, example: str, *, secret: bool = False) -> str:
    """The command that sets `key` (`slipway:a.b`). Secret values are read from a file on stdin,
    so they never land in shell history or a process list; `example` then names that file."""
    top, _, rest = key.partition(".")
    target = f"--path '{key}'" if rest else top
    if secret:
        return f"pulumi config set --secret {target} --stack {stack} < {example}"
    return f"pulumi config set {target} {example} --stack {stack}"


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known key `name` most likely meant (case and small typos forgiven)."""
    by_lower = {k.lower(): k for k in known}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def full_key(path: Iterable[str]) -> str:
    """`slipway:services.backend.port`, `slipway:migration.steps[0]`."""
    text = ""
    for part in path:
        text += part if part.startswith("[") or not text else f".{part}"
    return f"{NAMESPACE}:{text}"
