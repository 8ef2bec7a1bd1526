"""The server's `docker login` to the private registry, password on stdin."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.image import registry_host
from components.outputs import secret
from slipway.config import RegistryConfig, ServerConfig
from slipway.ssh import ssh_connection


def login_command(registry: RegistryConfig) -> str:
    assert registry.username is not None
    return shlex.join(["docker", "login", registry_host(registry.server),
                       "--username", registry.username, "--password-stdin"])


@dataclass(frozen=True)
class RegistryLoginArgs:
    registry: RegistryConfig
    server: ServerConfig


class RegistryLogin(pulumi.ComponentResource):
    """Lets the server pull private images; re-runs when the credentials change."""

    done: pulumi.Output[str]

    def __init__(self, name: str, args: RegistryLoginArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:index:RegistryLogin", name, None, opts)
        assert args.registry.password is not None
        login = command.remote.Command(
            f"{name}-login",
            connection=ssh_connection(args.server),
            create=login_command(args.registry),
            stdin=secret(args.registry.password.reveal()),
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.done = pulumi.Output.unsecret(login.stdout.apply(lambda _: "logged-in"))
        self.register_outputs({"done": self.done})
