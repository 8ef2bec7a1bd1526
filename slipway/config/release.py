"""Which commit a stack deploys: HEAD of the build context, or a pinned SHA (a rollback)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from slipway.config.fixes import set_command
from slipway.config.models import NAMESPACE, Release, ServiceSpec
from slipway.errors import Problem
from slipway.gitinfo import GitReader

_HEX = re.compile(r"^[0-9a-f]+$")
_MUTABLE_WORDS = {"latest", "main", "master", "head", "stable", "prod", "dev", "uat", "edge"}


def pin_problem(pin: str, *, stack: str) -> Problem | None:
    """What is wrong with a pinned `slipway:sha` on its own, before any checkout is read."""
    key = f"{NAMESPACE}:sha"
    pin = pin.strip().lower()
    if pin in _MUTABLE_WORDS or pin.endswith("-latest") or not _HEX.match(pin):
        return Problem(
            key,
            f"{pin!r} is not a commit SHA; slipway deploys only immutable"
            " <env>-<git sha> images, never a mutable tag",
            set_command(stack, key, "<sha of the release to run>") + "  (or unset it to deploy HEAD)",
        )
    if len(pin) < 12 or len(pin) > 40:
        return Problem(
            key,
            f"{pin!r} has {len(pin)} hex digits; give the full SHA or at least 12",
            set_command(stack, key, "$(git rev-parse <commit>)"),
        )
    return None


def resolve_release(
    pin: str | None, services: Mapping[str, ServiceSpec], *, stack: str, project_dir: Path, git: GitReader
) -> Release | Problem:
    key = f"{NAMESPACE}:sha"
    pin = (pin or "").strip().lower() or None

    heads: dict[str, str] = {}
    dirty: list[str] = []
    for name, svc in services.items():
        checkout = git.checkout((project_dir / svc.context).resolve())
        if checkout is not None:
            heads[name] = checkout.head_sha
            if checkout.dirty:
                dirty.append(name)
    if len(set(heads.values())) > 1:
        detail = ", ".join(f"{n}={s[:12]}" for n, s in heads.items())
        return Problem(
            f"{NAMESPACE}:services",
            f"build contexts are at different commits ({detail})",
            "build every service of a stack from one checkout of one commit",
        )
    head = next(iter(heads.values()), None)

    if pin is None:
        if head is None:
            return Problem(
                key,
                "is not set and the build context is not a git checkout, so there is"
                " no SHA to build or deploy",
                set_command(stack, key, "<40-hex sha>"),
            )
        sha = head
    else:
        shape = pin_problem(pin, stack=stack)
        if shape is not None:
            return shape
        if len(pin) == 40:
            sha = pin
        elif head is not None and head.startswith(pin):
            sha = head
        else:
            expanded = next(
                (
                    full
                    for svc in services.values()
                    if (full := git.expand((project_dir / svc.context).resolve(), pin))
                ),
                None,
            )
            if not expanded:
                return Problem(
                    key,
                    f"{pin!r} is a short SHA this checkout cannot expand",
                    set_command(stack, key, "<the full 40-hex sha>"),
                )
            sha = expanded

    mode: Literal["build", "reuse"] = "build" if sha == head else "reuse"
    if mode == "build" and dirty:
        return Problem(
            f"{NAMESPACE}:services.{dirty[0]}.context",
            "has uncommitted changes; an image built from it would carry a SHA that does" " not contain them",
            "commit (or stash) the changes, then run again",
        )
    return Release(sha=sha, mode=mode, head_sha=head)
