"""A deploy of one release of one service on one server, rendered from a plan.

The remote command is a short call to the server agent (slipway.commands.agent), which reads the
env file from stdin and switches blue/green behind the service's proxy. The new release's
`docker create` is rendered here by `slipway.commands.docker`.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from slipway.commands import docker
from slipway.commands.agent import (
    ENV_HASH_PLACEHOLDER,
    LABEL_ENV_HASH,
    LABEL_PREVIOUS_SHA,
    LABEL_ROLE,
    NAME_PLACEHOLDER,
    PORT_PLACEHOLDER,
    PREVIOUS_SHA_PLACEHOLDER,
    agent_path,
    install_command,
)

LABEL_ENV = "slipway.env"
LABEL_SERVICE = "slipway.service"
LABEL_SHA = "slipway.sha"
LABEL_IMAGE = "slipway.image"
LABEL_DEPLOY = "slipway.deploy"
LABEL_PORT = "slipway.port"
# OCI's own label for "which commit is this", read by most tooling.
LABEL_REVISION = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class DeployPlan:
    """Everything a server needs to run one release of one service (no secrets)."""

    environment: str
    service: str
    sha: str
    image: str  # repository:tag@sha256:... (pinned by digest)
    migrated_image: str  # what the migration ran against
    migrates: bool  # this service's image is the one migrated: the two must be the same
    port: int  # where the service's proxy listens
    internal_ports: tuple[int, int]  # where releases listen, alternately
    health_path: str
    health_timeout_seconds: int
    deploy_dir: str
    command: tuple[str, ...]  # `{port}` becomes the release's internal port
    env: Mapping[str, str]
    volumes: tuple[str, ...]
    command_timeout_seconds: int
    proxy_image: str
    drain_seconds: int
    stop_timeout_seconds: int
    keep_releases: int
    agent: str  # the server agent's path (slipway.commands.agent.agent_path)
    where: str  # user@host:port, for messages
    operation: str = "deploy"  # or "rollback" (a pinned earlier SHA): for the audit log
    actor: str = "unknown"  # who ran it (the CI actor or user@host): for the audit log
    pause_seconds: int = 0  # a rollout's pause between batches: waited before this server switches
    proxy_listen: str = "127.0.0.1"  # where the service's proxy listens (proxy.listen)
    standby_seconds: int = 0  # the replaced release stays running, drained, for a switch back

    @property
    def proxy_host(self) -> str:
        """Where the agent asks the proxy: its listen address (loopback for a wildcard)."""
        return {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(self.proxy_listen, self.proxy_listen)  # noqa: S104

    @property
    def directory(self) -> str:
        return f"{self.deploy_dir.rstrip('/')}/{self.environment}/{self.service}"

    @property
    def proxy_container(self) -> str:
        return f"{self.environment}-{self.service}-proxy"


def _q(args: Sequence[str]) -> str:
    return shlex.join(args)


def deploy_id(plan: DeployPlan) -> str:
    """Identifies this exact release config; a redeploy of it is a no-op, and `delete` only
    removes a service whose live release is this one."""
    material = repr((plan.sha, plan.image, plan.command, sorted(plan.env.items()), plan.volumes,
                     plan.port, plan.internal_ports, plan.health_path))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def labels(plan: DeployPlan) -> dict[str, str]:
    return {
        LABEL_ENV: plan.environment,
        LABEL_SERVICE: plan.service,
        LABEL_SHA: plan.sha,
        LABEL_REVISION: plan.sha,
        LABEL_IMAGE: plan.image,
        LABEL_DEPLOY: deploy_id(plan),
        LABEL_ROLE: "app",
        LABEL_PORT: PORT_PLACEHOLDER,
        LABEL_ENV_HASH: ENV_HASH_PLACEHOLDER,
        LABEL_PREVIOUS_SHA: PREVIOUS_SHA_PLACEHOLDER,
    }


def create_argv(plan: DeployPlan) -> list[str]:
    """The new release's `docker create`, with the server-side placeholders left in."""
    command = tuple(arg.replace("{port}", PORT_PLACEHOLDER) for arg in plan.command)
    return docker.create(
        name=NAME_PLACEHOLDER, image=plan.image, command=command,
        env={**plan.env, "APP_SHA": plan.sha, "PORT": PORT_PLACEHOLDER}, labels=labels(plan),
        volumes=plan.volumes, restart="unless-stopped",
    )


def deploy_command(plan: DeployPlan) -> str:
    """The remote command line of a deploy: a short call to the agent, under a hard time limit on
    the server itself. The env file comes on stdin; the agent prints one JSON line."""
    if plan.migrates and plan.migrated_image != plan.image:
        raise ValueError(
            f"refusing to deploy {plan.image!r}: the migration ran against {plan.migrated_image!r}"
        )
    return _agent_call(plan, "deploy")


def stage_command(plan: DeployPlan) -> str:
    """The deploy's first half, run while the migration runs: pull the image and create the new
    release (env inside), not started. The deploy then finds it created and only starts it.
    Nothing of it takes traffic, or touches the database, before the migration is done."""
    return _agent_call(replace(plan, pause_seconds=0), "stage")


def _agent_call(plan: DeployPlan, subcommand: str) -> str:
    if "@sha256:" not in plan.image:
        raise ValueError(f"refusing to deploy {plan.image!r}: not pinned by digest")
    options = {
        "--env": plan.environment, "--service": plan.service, "--sha": plan.sha, "--image": plan.image,
        "--health-path": plan.health_path, "--health-seconds": str(plan.health_timeout_seconds),
        "--dir": plan.directory, "--root": plan.deploy_dir, "--id": deploy_id(plan),
        "--ports": ",".join(map(str, plan.internal_ports)), "--port": str(plan.port),
        "--proxy-image": plan.proxy_image, "--drain-seconds": str(plan.drain_seconds),
        "--stop-seconds": str(plan.stop_timeout_seconds),
        "--standby-seconds": str(plan.standby_seconds), "--keep": str(plan.keep_releases),
        "--operation": plan.operation, "--where": plan.where, "--actor": plan.actor,
    }
    if plan.pause_seconds:
        options["--pause"] = str(plan.pause_seconds)
    if plan.proxy_host != "127.0.0.1":
        options["--proxy-host"] = plan.proxy_host
    return _q(["timeout", "--kill-after=15", str(plan.command_timeout_seconds), "sh", plan.agent, subcommand,
               *(item for pair in options.items() for item in pair), "--", *create_argv(plan)])


def switch_back_command(deploy_dir: str, environment: str, service: str, sha: str, where: str,
                        actor: str) -> str:
    """`slipway rollback`'s first step, outside the engine: the service's traffic goes back to its
    retained release of `sha` (with the settings the last deploy recorded on the server). The
    agent's text comes on stdin: installed first when this version's is not there yet."""
    directory = f"{deploy_dir.rstrip('/')}/{environment}/{service}"
    call = _q(["timeout", "--kill-after=15", "300", "sh", agent_path(deploy_dir), "switch-back",
               "--dir", directory, "--sha", sha, "--where", where, "--actor", actor])
    return f"{install_command(deploy_dir)} && {call}"


def proxy_config_command(plan: DeployPlan) -> str:
    """Writes the service's nginx.conf (stdin) and reloads its running proxy."""
    return _q(["timeout", "--kill-after=15", "120", "sh", plan.agent, "proxy-config",
               "--dir", plan.directory, "--container", plan.proxy_container])


def remove_command(plan: DeployPlan) -> str:
    """Runs on `pulumi destroy`: removes the service only if its live release is this deploy's."""
    return _q(["timeout", "--kill-after=15", "120", "sh", plan.agent, "remove", "--env", plan.environment,
               "--service", plan.service, "--dir", plan.directory, "--id", deploy_id(plan)])
