"""Which releases a stack ran before, read from `pulumi stack history --json`.

Pulumi's history keeps each update's config and message, not its outputs. A release's SHA is
in it when the SHA was pinned (`slipway:sha`, a rollback) or when the update's message carries
`slipway-sha=<40 hex>`, as every update the deploy workflow and the rollback command run does
(`release_message`). Updates run by hand without such a message are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

SHA_KEY = "slipway:sha"
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_MESSAGE_SHA = re.compile(r"\bslipway-sha=([0-9a-f]{40})\b")


def release_message(action: str, stack: str, sha: str) -> str:
    """The update message that records which SHA an update deployed."""
    return f"slipway {action} {stack}: slipway-sha={sha}"


def update_sha(entry: Mapping[str, Any]) -> str | None:
    """The SHA one history entry deployed, when the entry records it."""
    config = entry.get("config") or {}
    pinned = config.get(SHA_KEY)
    if isinstance(pinned, Mapping) and not pinned.get("secret"):
        value = str(pinned.get("value") or "").strip().lower()
        if _FULL_SHA.match(value):
            return value
    found = _MESSAGE_SHA.findall(str(entry.get("message") or ""))
    return found[-1] if found else None


def deployed_shas(history: Iterable[Mapping[str, Any]]) -> list[str]:
    """SHAs of the successful updates, newest first, consecutive repeats collapsed."""
    entries = sorted(
        (e for e in history if e.get("kind") == "update" and e.get("result") == "succeeded"),
        key=lambda e: str(e.get("startTime") or ""), reverse=True)
    shas: list[str] = []
    for entry in entries:
        sha = update_sha(entry)
        if sha and (not shas or shas[-1] != sha):
            shas.append(sha)
    return shas


def previous_release(current: str | None, shas: Sequence[str]) -> str | None:
    """The newest recorded release other than `current`."""
    return next((sha for sha in shas if sha != current), None)
