"""`slipway audit --stack S`: every deploy, rollback and failure of the stack's environment on its
server, from the append-only log the server agent keeps (`<deployDir>/.slipway/audit.log`)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from slipway.delivery.pulumi_cli import PulumiCli, PulumiError
from slipway.delivery.remote import RemoteError, remote_shell
from slipway.delivery.servers import key_of, servers_of
from slipway.state_settings import state_problems

AUDIT_LOG = ".slipway/audit.log"
COLUMNS = ("time", "environment", "service", "operation", "result", "sha", "previous_sha", "actor")


def parse_log(text: str) -> list[dict[str, Any]]:
    """The log's entries; a line that is not one (a torn write) is skipped, not fatal."""
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def render_table(entries: Sequence[Mapping[str, Any]]) -> str:
    """One line per entry, oldest first; SHAs shortened to 12."""
    if not entries:
        return "no deploys recorded yet"
    rows = [[("" if e.get(c) is None else str(e.get(c)))[:12] if "sha" in c else str(e.get(c, ""))
             for c in COLUMNS] for e in entries]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slipway audit",
                                     description="Every deploy, rollback and failure on the stack's servers.")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--last", type=int, default=0, help="only the last N entries")
    parser.add_argument("--json", action="store_true", help="the entries as JSON lines")
    parser.add_argument("--config-file", type=Path, help="passed to pulumi (as --config-file)")
    parser.add_argument("--cwd", type=Path, help="the Pulumi project directory (pulumi --cwd)")
    args = parser.parse_args(argv)
    unsafe = state_problems(args.stack, os.environ)
    if unsafe:
        print("slipway audit: refused:\n" + "\n".join(f"  - {p}" for p in unsafe), file=sys.stderr)
        return 3
    cli = PulumiCli(stack=args.stack, config_file=args.config_file, cwd=args.cwd)
    entries: list[dict[str, Any]] = []
    try:
        cli_config = cli.config()
        for each in servers_of(cli_config):
            key = key_of(cli, each)
            if key is None:
                print("slipway audit: slipway:sshPrivateKey is not set for this stack", file=sys.stderr)
                return 1
            with remote_shell(each.server, key) as shell:
                log = f"{each.deploy_dir.rstrip('/')}/{AUDIT_LOG}"
                entries += parse_log(shell.run(f"cat {shlex.quote(log)} 2>/dev/null || true"))
    except (PulumiError, RemoteError, KeyError, ValueError) as err:
        print(f"slipway audit: {err}", file=sys.stderr)
        return 1
    # The server may host other stacks (another environment in the same deployDir).
    environment = cli_config.get("slipway:environment")
    entries = sorted((e for e in entries if environment is None or e.get("environment") == environment),
                     key=lambda e: str(e.get("time", "")))
    entries = entries[-args.last:] if args.last else entries
    print("\n".join(json.dumps(e) for e in entries) if args.json else render_table(entries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
