"""`slipway tunnel --stack S -- <command>`: the stack's database tunnel (`database.access: ssh`)
held open around a command that does not run the program, such as `pulumi refresh` or
`pulumi destroy`, whose postgresql provider connects through it.

The command runs with SLIPWAY_TUNNEL_OPEN set, so a program it starts uses this tunnel instead
of opening its own. Its exit status is slipway tunnel's; the tunnel closes after it, and also
when slipway tunnel is killed (nothing outlives it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from slipway.delivery.pulumi_cli import PulumiCli, PulumiError, section
from slipway.delivery.servers import key_of, server_of, servers_of
from slipway.naming import default_tunnel_port
from slipway.state_settings import state_refusal
from slipway.tunnel import TUNNEL_OPEN_ENV, TunnelError, tunnel_open


def database_of(config: Mapping[str, Any], stack: str) -> tuple[str, str, int, int]:
    """(access, host, port, local port) as the program reads them (models.DatabaseSpec)."""
    db = section(config, "slipway:database")
    return (str(db.get("access", "direct")), str(db["adminHost"]), int(db.get("adminPort", 5432)),
            int(db.get("tunnelPort") or default_tunnel_port(stack)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="slipway tunnel",
        description="Hold the stack's database tunnel open around a command (pulumi refresh, destroy).")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--config-file", type=Path, help="passed to pulumi (as --config-file)")
    parser.add_argument("--cwd", type=Path, help="the Pulumi project directory (pulumi --cwd)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --, e.g. slipway tunnel --stack prod -- pulumi destroy")
    refusal = state_refusal("tunnel", args.stack, os.environ)
    if refusal:
        print(refusal, file=sys.stderr)
        return 3
    cli = PulumiCli(stack=args.stack, config_file=args.config_file, cwd=args.cwd)
    try:
        config = cli.config()
        server, _ = server_of(config)
        access, host, port, local_port = database_of(config, args.stack)
        key = key_of(cli, servers_of(config)[0])
    except (PulumiError, KeyError, ValueError) as err:
        print(f"slipway tunnel: {err}", file=sys.stderr)
        return 1
    if access != "ssh":
        print(f"slipway tunnel: stack {args.stack} reaches its database directly"
              " (slipway:database.access is not ssh); running the command as it is", file=sys.stderr)
        return subprocess.run(command, check=False).returncode
    if key is None:
        print("slipway tunnel: slipway:sshPrivateKey is not set for this stack", file=sys.stderr)
        return 1
    try:
        with tunnel_open(server, key, host, port, local_port) as tunnel:
            print(f"slipway tunnel: 127.0.0.1:{local_port} -> {tunnel.target} through {server.where}",
                  file=sys.stderr, flush=True)
            env = {**os.environ, TUNNEL_OPEN_ENV: str(local_port)}
            return subprocess.run(command, check=False, env=env).returncode
    except TunnelError as err:
        print(f"slipway tunnel: {err}. The command was not run.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
