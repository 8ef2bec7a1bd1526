"""A deploy of one release of one service on one server, rendered from a plan.

The remote command is a short call to the server agent (slipway.commands.agent), which reads the
env file from stdin and keeps the previous container until the new one answers its health path.
The new container's `docker run` is rendered here by `slipway.commands.docker`.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from slipway.commands import docker
from slipway.commands.agent import ENV_FILE_PLACEHOLDER, PREVIOUS_SHA_PLACEHOLDER

LABEL_ENV = "slipway.env"
LABEL_SERVICE = "slipway.service"
LABEL_SHA = "slipway.sha"
LABEL_IMAGE = "slipway.image"
LABEL_DEPLOY = "slipway.deploy"
# OCI's own label for "which commit is this", read by most tooling.
LABEL_REVISION = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class DeployPlan:
    """Everything the server needs to run one release of one service (no secrets)."""

    environment: str
    service: str
    sha: str
    image: str  # repository:tag@sha256:... (pinned by digest)
    migrated_image: str  # what the migration ran against
    migrates: bool  # this service's image is the one migrated: the two must be the same
    port: int
    health_path: str
    health_timeout_seconds: int
    deploy_dir: str
    command: tuple[str, ...]
    env: Mapping[str, str]
    volumes: tuple[str, ...]
    command_timeout_seconds: int
    agent: str  # the server agent's path (slipway.commands.agent.agent_path)
    where: str  # user@host:port, for messages

    @property
    def container(self) -> str:
        return f"{self.environment}-{self.service}"

    @property
    def directory(self) -> str:
        return f"{self.deploy_dir.rstrip('/')}/{self.environment}/{self.service}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.health_path}"


def deploy_id(plan: DeployPlan) -> str:
    """Identifies this exact deploy; `delete` only removes the container it started."""
    material = repr((plan.sha, plan.image, plan.command, sorted(plan.env.items()), plan.volumes,
                     plan.port, plan.health_path))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def labels(plan: DeployPlan) -> dict[str, str]:
    return {
        LABEL_ENV: plan.environment,
        LABEL_SERVICE: plan.service,
        LABEL_SHA: plan.sha,
        LABEL_REVISION: plan.sha,
        LABEL_IMAGE: plan.image,
        LABEL_DEPLOY: deploy_id(plan),
    }


def run_argv(plan: DeployPlan) -> list[str]:
    """The new container's `docker run`, with the server-side placeholders left in."""
    return docker.run(
        name=plan.container, image=plan.image, command=plan.command, env_file=ENV_FILE_PLACEHOLDER,
        env={**plan.env, "APP_SHA": plan.sha}, labels=labels(plan), volumes=plan.volumes,
        detach=True, restart="unless-stopped",
    )


def deploy_command(plan: DeployPlan) -> str:
    """The remote command line of a deploy: a short call to the agent, under a hard time limit on
    the server itself. The env file comes on stdin; the agent prints one JSON line."""
    if "@sha256:" not in plan.image:
        raise ValueError(f"refusing to deploy {plan.image!r}: not pinned by digest")
    if plan.migrates and plan.migrated_image != plan.image:
        raise ValueError(
            f"refusing to deploy {plan.image!r}: the migration ran against {plan.migrated_image!r}"
        )
    argv = run_argv(plan)
    # The SHA this release replaces is only known on the server: a label filled in there.
    argv[argv.index("--network"):argv.index("--network")] = ["--label", PREVIOUS_SHA_PLACEHOLDER]
    return shlex.join([
        "timeout", "--kill-after=15", str(plan.command_timeout_seconds),
        "sh", plan.agent, "deploy", plan.service, plan.container, plan.image, plan.sha,
        plan.health_url, str(plan.health_timeout_seconds), plan.directory, deploy_id(plan), plan.where,
        "--", *argv,
    ])


def remove_command(plan: DeployPlan) -> str:
    """Runs on `pulumi destroy`: removes the container only if it is the one this deploy made."""
    return shlex.join(["timeout", "--kill-after=15", "120", "sh", plan.agent, "remove",
                       plan.container, deploy_id(plan), plan.directory])
