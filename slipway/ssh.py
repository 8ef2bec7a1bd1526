"""How every remote command reaches a server: key-only SSH against its pinned host key
(the command provider's connection args; one home for them)."""

from __future__ import annotations

import pulumi
import pulumi_command as command

from slipway.config import ServerConfig


def ssh_connection(server: ServerConfig) -> command.remote.ConnectionArgs:
    """Key-only SSH that verifies the server against its pinned host key."""
    return command.remote.ConnectionArgs(
        host=server.host,
        port=server.port,
        user=server.user,
        private_key=pulumi.Output.secret(server.private_key.reveal()),
        host_key=server.host_key,
    )
