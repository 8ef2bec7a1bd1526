"""Is the SHA a plan deploys older than the one running? (A rollback across migrations.)

With a git checkout of the app: by ancestry. The target is *older* when it is an ancestor of
the running commit, *newer* when the running commit is its ancestor, *diverged* when neither
(a branch that lacks some of the running release's commits, and so possibly its migrations).

Without a checkout: by the stack's own record. The target is *older* when the stack ran it
before: it is the running release's `replacedSha`, or an earlier release in the stack's
history (see `slipway.delivery.history`). Otherwise the answer is *unknown*, never a guess.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Verdict = Literal["same", "older", "newer", "diverged", "unknown"]

# is_ancestor(a, b): True when a is an ancestor of b, False when not, None when git cannot tell.
AncestryProbe = Callable[[str, str], bool | None]


@dataclass(frozen=True)
class Ordering:
    verdict: Verdict
    basis: str  # how it was decided, said in the comment


def by_ancestry(target: str, running: str, is_ancestor: AncestryProbe) -> Ordering | None:
    """None when git does not know one of the commits."""
    if target == running:
        return Ordering("same", "git")
    back = is_ancestor(target, running)
    forward = is_ancestor(running, target)
    if back is None or forward is None:
        return None
    if back:
        return Ordering("older", "git ancestry")
    if forward:
        return Ordering("newer", "git ancestry")
    return Ordering("diverged", "git ancestry")


def by_history(target: str, running: str, replaced: str | None,
               previous: Sequence[str]) -> Ordering:
    """`previous`: SHAs the stack deployed, newest first (the running one may be among them)."""
    if target == running:
        return Ordering("same", "stack outputs")
    if replaced and target == replaced:
        return Ordering("older", "the stack's replacedSha")
    if target in previous:
        return Ordering("older", "the stack's update history")
    return Ordering("unknown", "neither git nor the stack's history knows this SHA")


def decide(target: str, running: str, *, replaced: str | None, previous: Sequence[str],
           is_ancestor: AncestryProbe | None) -> Ordering:
    if is_ancestor is not None:
        found = by_ancestry(target, running, is_ancestor)
        if found is not None:
            return found
    return by_history(target, running, replaced, previous)


def git_probe(checkout: Path) -> AncestryProbe:
    """`git merge-base --is-ancestor` in `checkout` (exit 0 yes, 1 no, other: unknown)."""

    def is_ancestor(a: str, b: str) -> bool | None:
        done = subprocess.run(["git", "-C", str(checkout), "merge-base", "--is-ancestor", a, b],
                              capture_output=True, check=False)
        return {0: True, 1: False}.get(done.returncode)

    return is_ancestor
