"""The `slipway` command: `slipway rollback|plan-comment|stacks ...`.

Each subcommand is the module of the same name (`python -m slipway.delivery.rollback` etc.);
this only dispatches, so both spellings behave the same. Installed as a console script by
`[project.scripts] slipway = "slipway.delivery.cli:main"`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from slipway.delivery import audit, plan_comment, restore, rollback, stacks, summary, tunnel

COMMANDS: dict[str, tuple[Callable[[Sequence[str] | None], int], str]] = {
    "rollback": (rollback.main, "roll a stack back to an earlier release"),
    "plan-comment": (plan_comment.main, "post the sticky deploy-plan comment of a preview"),
    "stacks": (stacks.main, "which stacks a branch or a pull request affects"),
    "restore": (restore.main, "list a stack's backups, or restore one into its database"),
    "tunnel": (tunnel.main, "hold the stack's database tunnel open around a command"),
    "audit": (audit.main, "every deploy, rollback and failure on the stack's server"),
    "summary": (summary.main, "what a stack runs: SHA, images, migration steps, URL"),
}


def usage() -> str:
    lines = ["usage: slipway <command> [options]", "", "commands:"]
    lines += [f"  {name:<13} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "`slipway <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"slipway: unknown command {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return command[0](args[1:])


if __name__ == "__main__":
    sys.exit(main())
