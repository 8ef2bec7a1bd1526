"""A release across the environment's servers, batch by batch, each server health-gated: every
resource of a server (registry login, agent, proxy config, deploy) waits for all deploys of the
batch before it, so a failing server stops the rollout there and the servers after it are not
touched. The resources are the Pipeline's children, named by server."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import pulumi

from components.registry_login import RegistryLogin, RegistryLoginArgs
from components.server_agent import ServerAgent, ServerAgentArgs
from components.service import Service, ServiceArgs
from slipway.config import ServerConfig, ServiceConfig, StackConfig
from slipway.rollback_key import RollbackKey

# (service, server, pause before it switches) -> the deploy's args (its agent filled in here).
DeployArgs = Callable[[ServiceConfig, ServerConfig, int], ServiceArgs]


def server_resource_name(pipeline: str, server: ServerConfig | None, what: str) -> str:
    """`<pipeline>-<server>-<what>` for each of several named servers (`slipway:servers`);
    `<pipeline>-<what>` for the one server of `slipway:server` (server None), as always."""
    return f"{pipeline}-{server.name}-{what}" if server else f"{pipeline}-{what}"


def with_alias(opts: pulumi.ResourceOptions, old_name: str | None) -> pulumi.ResourceOptions:
    """A stack that had one server (`slipway:server`) and now lists several keeps that server's
    resources: the first named server's resources had the single server's names (their
    children follow, each child's name starting with its parent's)."""
    if old_name is None:
        return opts
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old_name)]))


def roll_out(pipeline: str, cfg: StackConfig, parent: pulumi.Resource,
             deploy_args: DeployArgs, after: Sequence[pulumi.Resource] = (),
             rollback_key: RollbackKey | None = None) -> dict[str, dict[str, Service]]:
    """Declares every server's resources, batch after batch (the first one after `after`);
    server -> service -> its Service."""
    deploys: dict[str, dict[str, Service]] = {}
    previous_batch: list[pulumi.Resource] = list(after)
    for index, batch in enumerate(cfg.batches()):
        this_batch: list[pulumi.Resource] = []
        for server in batch:
            pause = cfg.rollout.pause_seconds if index else 0  # batches after the first wait
            on_server = _one_server(pipeline, cfg, parent, server, previous_batch, deploy_args, pause,
                                    rollback_key)
            deploys[server.name] = on_server
            this_batch += on_server.values()
        previous_batch = this_batch or previous_batch
    return deploys


def _one_server(pipeline: str, cfg: StackConfig, parent: pulumi.Resource, server: ServerConfig,
                after: list[pulumi.Resource], deploy_args: DeployArgs, pause: int,
                rollback_key: RollbackKey | None) -> dict[str, Service]:
    named = server if cfg.multi_server else None
    first = named is not None and cfg.servers.index(server) == 0

    def was(what: str) -> str | None:
        """This resource's name when the stack had only this server."""
        return server_resource_name(pipeline, None, what) if first else None

    waits = pulumi.ResourceOptions(parent=parent, depends_on=after)
    login = (
        [RegistryLogin(server_resource_name(pipeline, named, "registry-login"),
                       RegistryLoginArgs(registry=cfg.registry, server=server),
                       opts=with_alias(waits, was("registry-login")))]
        if cfg.registry.username else []
    )
    # "<pipeline>-server" for the one server, as before several servers existed.
    agent = ServerAgent(server_resource_name(pipeline, named, "agent") if named else f"{pipeline}-server",
                        ServerAgentArgs(server=server, stack=cfg.stack, environment=cfg.environment,
                                        rollback_public_key=rollback_key.public if rollback_key else None),
                        opts=with_alias(waits, was("server")))
    runs_here = [svc for svc in cfg.services if server.name in {s.name for s in cfg.servers_of(svc)}]
    return {
        svc.name: Service(
            server_resource_name(pipeline, named, svc.name),
            dataclasses.replace(deploy_args(svc, server, pause), agent=agent.path),
            opts=with_alias(pulumi.ResourceOptions(parent=parent, depends_on=[*after, *login]),
                            was(svc.name)),
        )
        for svc in runs_here
    }
