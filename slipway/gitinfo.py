"""What git says about a build context: its checkout's SHA and whether it is clean."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Checkout:
    """The git state of one build context."""

    root: str
    head_sha: str
    dirty: bool


class GitReader(Protocol):
    def checkout(self, path: Path) -> Checkout | None:
        """The checkout containing `path`, or None when it is not in a git work tree."""

    def expand(self, path: Path, prefix: str) -> str | None:
        """The full SHA of the commit starting with `prefix`, if the checkout has it."""


def _git(path: Path, *args: str) -> str | None:
    result = subprocess.run(
        ["git", "-C", str(path), *args], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


class LocalGit:
    """Reads the real git checkout on this machine."""

    def checkout(self, path: Path) -> Checkout | None:
        root = _git(path, "rev-parse", "--show-toplevel")
        head = _git(path, "rev-parse", "HEAD")
        if root is None or head is None:
            return None
        # Only the context itself matters: untracked files elsewhere in a monorepo
        # do not end up in the image.
        status = _git(path, "status", "--porcelain", "--", ".")
        return Checkout(root=root, head_sha=head, dirty=bool(status))

    def expand(self, path: Path, prefix: str) -> str | None:
        return _git(path, "rev-parse", "--verify", "--quiet", f"{prefix}^{{commit}}")
