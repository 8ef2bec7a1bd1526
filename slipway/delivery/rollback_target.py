"""Which SHA a rollback goes to, and which images it needs: pure decisions, no I/O.

Without `--to`, the target is the stack's `replacedSha` output (what the running release
replaced), or, when that is empty, the newest other release in the stack's update history. A
stack that already runs a pinned SHA (`releaseMode` = `reuse`, i.e. it was rolled back) is
not rolled back again implicitly: its `replacedSha` is the release it was rolled back *from*,
so going there would be a roll-forward; an explicit `--to` is required.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slipway.delivery.history import previous_release
from slipway.delivery.registry import ImageRef

_HEX = re.compile(r"^[0-9a-f]+$")


class Refusal(Exception):
    """The rollback will not happen; the message says why and what to do instead."""


@dataclass(frozen=True)
class Target:
    sha: str
    source: str  # how it was chosen, said to the user


def normalize_sha(value: str) -> str:
    sha = value.strip().lower()
    if not _HEX.match(sha) or not 12 <= len(sha) <= 40:
        raise Refusal(f"--to {value!r} is not a commit SHA (12 to 40 hex digits)")
    return sha


def expand_prefix(prefix: str, environment: str, tags: Sequence[str]) -> str:
    """A short SHA -> the one full SHA whose `<env>-<sha>` tag the registry has."""
    matches = sorted({t.removeprefix(f"{environment}-") for t in tags
                      if t.startswith(f"{environment}-{prefix}")
                      and re.fullmatch(r"[0-9a-f]{40}", t.removeprefix(f"{environment}-"))})
    if not matches:
        raise Refusal(f"no image tagged {environment}-{prefix}… is in the registry: nothing to roll"
                      " back to (it was never built for this environment, or it was deleted).")
    if len(matches) > 1:
        raise Refusal(f"{prefix} is ambiguous: " + ", ".join(matches) + ". Give more digits.")
    return matches[0]


def choose_target(to: str | None, outputs: Mapping[str, Any], history_shas: Sequence[str]) -> Target:
    """The SHA to roll back to (full or, from --to, possibly short) and where it came from."""
    current = _str(outputs.get("deployedSha"))
    if to is not None:
        sha = normalize_sha(to)
        if current and current.startswith(sha):
            raise Refusal(f"the stack already runs {current}; nothing to roll back.")
        return Target(sha, "--to")
    if not current:
        raise Refusal("the stack has no deployed release (no deployedSha output), so there is"
                      " nothing to roll back from; pass --to <sha> to deploy an existing image.")
    if _str(outputs.get("releaseMode")) == "reuse":
        raise Refusal(
            f"the stack already runs a pinned release ({current[:12]}: a rollback). Its"
            " replacedSha is the release it was rolled back from, so it is not taken"
            " implicitly: pass --to <sha> to go further back, or `pulumi up` without"
            " slipway:sha to deploy the checkout's HEAD again.")
    replaced = _str(outputs.get("replacedSha"))
    if replaced and replaced != current:
        return Target(replaced, "the stack's replacedSha output")
    found = previous_release(current, history_shas)
    if found:
        return Target(found, "the stack's update history")
    raise Refusal("no previous release is known: replacedSha is empty and the stack's history"
                  " records no other SHA. Pass --to <sha>.")


def image_refs(config: Mapping[str, Any], sha: str) -> dict[str, ImageRef]:
    """Per service, `<registry.server>/<repository>:<environment>-<sha>`, from the stack's
    plain config (`pulumi config --json`), exactly as the program names the images."""
    environment = _str(config.get("slipway:environment"))
    registry = config.get("slipway:registry")
    services = config.get("slipway:services")
    server = _str(registry.get("server")) if isinstance(registry, Mapping) else None
    if not environment or not server or not isinstance(services, Mapping) or not services:
        raise Refusal("the stack config lacks slipway:environment, slipway:registry.server or"
                      " slipway:services; run `pulumi preview` to see what is wrong")
    refs: dict[str, ImageRef] = {}
    for name, spec in services.items():
        repository = _str(spec.get("repository")) if isinstance(spec, Mapping) else None
        if not repository:
            raise Refusal(f"slipway:services.{name}.repository is not set")
        refs[str(name)] = ImageRef.parse(f"{server}/{repository}:{environment}-{sha}")
    return refs


def _str(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
