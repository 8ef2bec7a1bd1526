"""One service on the server: its proxy's config and its blue/green deploy, over SSH with a
pinned host key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.outputs import secret
from slipway.commands.deploy import (
    DeployPlan,
    deploy_command,
    proxy_config_command,
    remove_command,
    stage_command,
)
from slipway.commands.envfile import render_env_file
from slipway.commands.proxy import ProxySite, render_nginx_conf
from slipway.config import ProxyConfig, ServerConfig, ServiceConfig
from slipway.naming import DEPLOY_COMMAND_SUFFIX, STAGE_COMMAND_SUFFIX
from slipway.ssh import ssh_connection


def reported(stdout: str, key: str) -> str:
    """One value of the agent's JSON line (`sha`: what runs now, `previous_sha`: what it replaced)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return str(json.loads(line).get(key, ""))
    return ""


def previous_sha(stdout: str) -> str:
    """The SHA that was running before this deploy."""
    return reported(stdout, "previous_sha")


@dataclass(frozen=True)
class ServiceArgs:
    environment: str
    sha: str
    service: ServiceConfig
    server: ServerConfig
    agent: pulumi.Input[str]  # the server agent's path: the deploy waits for its install
    image: pulumi.Input[str]  # pinned by digest
    migrated_image: pulumi.Input[str]  # from the Migration: the deploy waits for it
    migrates: bool  # this service's image is the migrated one
    secret_env: pulumi.Input[Mapping[str, str]]
    proxy: ProxyConfig
    operation: str  # "deploy", or "rollback" for a pinned earlier SHA (the audit log says which)
    actor: str  # who runs this (the audit log says who)
    pause_seconds: int = 0  # a rollout's pause before this server switches (batches after the first)


class Service(pulumi.ComponentResource):
    """Outputs the running image and the SHA it replaced."""

    image: pulumi.Output[str]
    previous_sha: pulumi.Output[str]
    running_sha: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:index:Service", name, None, opts)
        svc, server = args.service, args.server

        def plan(values: list[str]) -> DeployPlan:
            image, migrated_image, agent = values
            return DeployPlan(
                environment=args.environment, service=svc.name, sha=args.sha, image=image,
                migrated_image=migrated_image, migrates=args.migrates, port=svc.port,
                internal_ports=svc.internal_ports, health_path=svc.health_path,
                health_timeout_seconds=svc.health_timeout_seconds, deploy_dir=server.deploy_dir,
                command=svc.command, env=svc.env, volumes=svc.volumes,
                command_timeout_seconds=server.command_timeout_seconds, proxy_image=args.proxy.image,
                drain_seconds=svc.drain_seconds, stop_timeout_seconds=svc.stop_timeout_seconds,
                keep_releases=svc.keep_releases, standby_seconds=svc.standby_seconds, agent=agent,
                where=server.where, operation=args.operation,
                actor=args.actor, pause_seconds=args.pause_seconds, proxy_listen=args.proxy.listen,
            )

        plans = pulumi.Output.all(args.image, args.migrated_image, args.agent).apply(plan)
        env_file: pulumi.Output[str] = secret(
            pulumi.Output.from_input(args.secret_env).apply(render_env_file)
        )
        site = ProxySite(
            environment=args.environment, service=svc.name, listen_host=args.proxy.listen, port=svc.port,
            client_max_body_size=args.proxy.client_max_body_size,
            read_timeout_seconds=args.proxy.read_timeout_seconds,
        )
        # While the migration runs, the server pulls the image and creates the new release (not
        # started): the deploy, which waits for the migration, then only starts and switches it.
        # The proxy's config and the stage need nothing of the migration, so they do not wait.
        staged_plans = pulumi.Output.all(args.image, args.agent).apply(
            lambda values: plan([values[0], values[0], values[1]]))
        # The proxy's config: written (and the running proxy reloaded) only when it changes.
        proxy = command.remote.Command(
            f"{name}-proxy",
            connection=ssh_connection(server),
            create=staged_plans.apply(proxy_config_command),
            # Not secret, but the policy pack holds every command's stdin to be one.
            stdin=secret(render_nginx_conf(site)),
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        stage = command.remote.Command(
            f"{name}{STAGE_COMMAND_SUFFIX}",
            connection=ssh_connection(server),
            create=staged_plans.apply(stage_command),
            stdin=env_file,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[proxy]),
        )
        deploy = command.remote.Command(
            f"{name}{DEPLOY_COMMAND_SUFFIX}",
            connection=ssh_connection(server),
            create=plans.apply(deploy_command),
            delete=plans.apply(remove_command),
            stdin=env_file,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[proxy, stage]),
        )
        self.image = pulumi.Output.from_input(args.image)
        self.previous_sha = pulumi.Output.unsecret(deploy.stdout.apply(previous_sha))
        self.running_sha = pulumi.Output.unsecret(deploy.stdout.apply(lambda out: reported(out, "sha")))
        self.register_outputs({"image": self.image, "previous_sha": self.previous_sha,
                               "running_sha": self.running_sha})
