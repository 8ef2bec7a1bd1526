"""Which stack a branch deploys, and which stacks a pull request affects.

Pure functions, plus a small CLI the preview workflow calls with the system Python:

    python3 -m slipway.delivery.stacks affected --base main --changed-files changed.txt
    python3 -m slipway.delivery.stacks for-branch uat
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

# The deploy branches and the stack each one deploys (one stack = one environment).
BRANCH_STACKS: dict[str, str] = {"development": "dev", "uat": "uat", "main": "prod"}
DEPLOYED_STACKS: tuple[str, ...] = ("dev", "uat", "prod")

# Files that change the program or its dependencies: every stack runs the same program.
_PROGRAM_PREFIXES = ("components/", "slipway/", "toolchain/")
_PROGRAM_FILES = ("__main__.py", "Pulumi.yaml", "requirements.txt")
# Parts of slipway/ that never run inside `pulumi up`.
_NOT_PROGRAM_PREFIXES = ("slipway/delivery/",)


def stack_for_branch(branch: str) -> str | None:
    """`main` -> `prod`; None for a branch that deploys nothing."""
    return BRANCH_STACKS.get(branch.removeprefix("refs/heads/"))


def stacks_touched_by(path: str) -> set[str]:
    """The deployed stacks a change to `path` (relative to the project) can alter."""
    if path.startswith(_NOT_PROGRAM_PREFIXES):
        return set()
    if path.startswith(_PROGRAM_PREFIXES) or path in _PROGRAM_FILES:
        return set(DEPLOYED_STACKS)
    name = Path(path).name
    if "/" not in path and name.startswith("Pulumi.") and name.endswith((".yaml", ".yml")):
        stack = name.removeprefix("Pulumi.").rsplit(".", 1)[0]
        return {stack} & set(DEPLOYED_STACKS)
    return set()


def affected_stacks(base_branch: str, changed_files: Iterable[str]) -> list[str]:
    """The stacks a pull request into `base_branch` affects, in deploy order.

    The stack the base branch deploys is always affected: merging deploys it (with the new app
    SHA, even when only docs changed). A change to the program affects every stack; a change
    to `Pulumi.<stack>.yaml` affects that stack.
    """
    stacks: set[str] = set()
    target = stack_for_branch(base_branch)
    if target is not None:
        stacks.add(target)
    for path in changed_files:
        stacks |= stacks_touched_by(path.strip())
    return [s for s in DEPLOYED_STACKS if s in stacks]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slipway.delivery.stacks",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    affected = sub.add_parser("affected", help="JSON list of the stacks a pull request affects")
    affected.add_argument("--base", required=True, help="the pull request's base branch")
    affected.add_argument("--changed-files", type=Path, required=True,
                          help="file with one changed path per line (git diff --name-only)")
    branch = sub.add_parser("for-branch", help="the stack a branch deploys (exit 1 if none)")
    branch.add_argument("branch")
    args = parser.parse_args(argv)

    if args.command == "affected":
        lines = args.changed_files.read_text().splitlines()
        print(json.dumps(affected_stacks(args.base, [line for line in lines if line.strip()])))
        return 0
    stack = stack_for_branch(args.branch)
    if stack is None:
        print(f"branch {args.branch!r} deploys no stack; deploy branches: "
              + ", ".join(f"{b} -> {s}" for b, s in BRANCH_STACKS.items()), file=sys.stderr)
        return 1
    print(stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
