"""`slipway rollback`'s first step: every server switches its services back to the retained
release, outside the engine, over one SSH call each, all at once.

The release the live one replaced is still on each server: running for its drain and standby
(`standbySeconds`), then stopped and kept. Switching back to it needs no build, no pull and no
plan, so it is done before `pulumi up` records the rollback in the stack; that `up` then finds
each server already running it and changes nothing there. A server where the switch-back cannot
be done (its retained release is gone, or it fails its health gate and the live release keeps
serving) is left to that `up`, which deploys the release there the ordinary way.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slipway.commands.agent import render_agent
from slipway.commands.deploy import switch_back_command
from slipway.delivery.pulumi_cli import structured
from slipway.delivery.remote import remote_shell
from slipway.delivery.servers import StackServer, deploy_key, servers_of
from slipway.secret import Secret

SWITCHED, NOT_RETAINED = 0, 3  # the agent's exit codes; anything else failed


@dataclass(frozen=True)
class Outcome:
    server: str  # user@host:port
    service: str
    code: int
    message: str  # the agent's last line on stderr

    @property
    def switched(self) -> bool:
        return self.code == SWITCHED


def placements(config: Mapping[str, Any]) -> list[tuple[StackServer, str]]:
    """(server, service) for every service on every server that runs it; [] for a stack
    without servers in its config."""
    if not structured(config, "slipway:servers") and not structured(config, "slipway:server"):
        return []
    services = structured(config, "slipway:services") or {}
    placed = []
    for server in servers_of(config):
        for name, spec in services.items():
            only = spec.get("servers") if isinstance(spec, Mapping) else None
            if server.name is None or not only or server.name in only:
                placed.append((server, str(name)))
    return placed


def switch_one(server: StackServer, service: str, secrets: Mapping[str, Secret], environment: str,
               sha: str, actor: str) -> Outcome:
    """One service on one server; never raises (whatever goes wrong is its outcome)."""
    where = server.server.where
    try:
        key = deploy_key(secrets, server)
        if key is None:
            return Outcome(where, service, -1, "no deploy key in the stack's config")
        command = switch_back_command(server.deploy_dir, environment, service, sha, where, actor)
        with remote_shell(server.server, key) as shell:
            done = subprocess.run(shell.argv(command), input=render_agent(), capture_output=True,
                                  text=True, env=shell.env, timeout=330, check=False)
    except Exception as err:
        return Outcome(where, service, -1, f"{type(err).__name__}: {err}")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return Outcome(where, service, done.returncode, lines[-1] if lines else "")


def switch_back(config: Mapping[str, Any], secrets: Mapping[str, Secret], sha: str,
                actor: str) -> list[Outcome]:
    """Every (server, service) switched back to `sha` at the same time; their outcomes."""
    environment = str(config.get("slipway:environment"))
    placed = placements(config)
    if not placed:
        return []
    with ThreadPoolExecutor(max_workers=len(placed)) as pool:
        return list(pool.map(lambda p: switch_one(p[0], p[1], secrets, environment, sha, actor), placed))
