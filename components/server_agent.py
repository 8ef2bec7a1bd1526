"""The slipway agent on one server: installed once per version, called by every deploy there."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.outputs import secret
from slipway.commands.agent import agent_path, install_command, render_agent
from slipway.commands.rollback_gate import (
    install_key_command,
    line_comment,
    remove_key_command,
    render_gate,
)
from slipway.config import ServerConfig
from slipway.ssh import ssh_connection


@dataclass(frozen=True)
class ServerAgentArgs:
    server: ServerConfig
    stack: str
    environment: str
    # The stack's rollback key (slipway:rollbackKey), installed behind its gate; None: not used.
    rollback_public_key: str | None = None


class ServerAgent(pulumi.ComponentResource):
    """Outputs `path`, the agent's location on the server (a new version, a new path)."""

    path: pulumi.Output[str]

    def __init__(self, name: str, args: ServerAgentArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:index:ServerAgent", name, None, opts)
        server = args.server
        installed = command.remote.Command(
            f"{name}-install",
            connection=ssh_connection(server),
            create=install_command(server.deploy_dir),
            # Not secret, but stdin is where slipway's commands take secrets, and the policy pack
            # holds every stdin to that; the version shows in `create` (the path has its hash).
            stdin=secret(render_agent()),
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.rollback_public_key:
            gate = render_gate(server.deploy_dir, args.environment)
            comment = line_comment(args.stack, args.environment, server.name, server.deploy_dir)
            command.remote.Command(
                f"{name}-rollback-key",
                connection=ssh_connection(server),
                create=install_key_command(server.deploy_dir, args.environment, args.rollback_public_key,
                                           comment),
                delete=remove_key_command(server.deploy_dir, args.environment, comment),
                stdin=secret(gate),  # the gate's text, as the agent's (policy: stdin is secret)
                add_previous_output_in_env=False,
                # Any change (a new key, deploy dir, environment or server) takes the old line out
                # first, from where it was: an update would run only the new `create`.
                opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["*"],
                                            delete_before_replace=True),
            )
        # Deploys wait for the install through this output.
        self.path = installed.create.apply(lambda _: agent_path(server.deploy_dir))
        self.register_outputs({"path": self.path})
