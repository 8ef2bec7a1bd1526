"""The stack's servers as the operator commands see them (`slipway audit`, `restore`, `tunnel`):
read from the stack's config, `slipway:server` or `slipway:servers`, with each one's deploy key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slipway.delivery.pulumi_cli import PulumiCli, section, structured
from slipway.delivery.remote import Server
from slipway.secret import Secret

DEFAULT_DEPLOY_DIR = "/srv/slipway"  # as slipway.config.models.ServerSpec


@dataclass(frozen=True)
class StackServer:
    name: str | None  # None: the one server of `slipway:server`
    server: Server
    deploy_dir: str


def servers_of(config: Mapping[str, Any]) -> list[StackServer]:
    """Every server in rollout order; the first is the primary (database tunnel, backups)."""
    listed = structured(config, "slipway:servers")
    if isinstance(listed, list) and listed:
        return [StackServer(str(s["name"]), Server(host=s["host"], port=int(s.get("port", 22)),
                                                   user=s.get("user", "deploy"), host_key=s["hostKey"]),
                            str(s.get("deployDir", DEFAULT_DEPLOY_DIR))) for s in listed]
    one = section(config, "slipway:server")
    return [StackServer(None, Server(host=one["host"], port=int(one.get("port", 22)), user=one["user"],
                                     host_key=one["hostKey"]), str(one.get("deployDir", DEFAULT_DEPLOY_DIR)))]


def server_of(config: Mapping[str, Any]) -> tuple[Server, str]:
    """The primary server and its deploy dir."""
    primary = servers_of(config)[0]
    return primary.server, primary.deploy_dir


def deploy_key(secrets: Mapping[str, Secret], server: StackServer) -> Secret | None:
    """The server's own deploy key (`sshPrivateKeys.<name>`), else the stack's `sshPrivateKey`,
    from the stack's secret config values (`PulumiCli.secret_values()`)."""
    own = secrets.get("slipway:sshPrivateKeys")
    if server.name is not None and own is not None:
        keys = json.loads(own.reveal())
        if isinstance(keys, dict) and isinstance(keys.get(server.name), str):
            return Secret(keys[server.name])
    return secrets.get("slipway:sshPrivateKey")


def key_of(cli: PulumiCli, server: StackServer) -> Secret | None:
    """The server's deploy key, read from the stack (one decryption of its secrets)."""
    return deploy_key(cli.secret_values(), server)
