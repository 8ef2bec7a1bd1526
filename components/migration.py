"""Migrations run from where `pulumi up` runs, in the release image, before any deploy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.outputs import secret
from slipway.commands.envfile import render_env_file
from slipway.commands.migration import MigrationPlan
from slipway.config import MigrationConfig
from slipway.naming import MIGRATION_PLAN_ENV
from slipway.runners.migrate import MIGRATED_PREFIX

# The runner is stdlib-only Python, started from the project directory (the provider's cwd).
RUNNER_COMMAND = "python3 -m slipway.runners.migrate"


def migrated_image(stdout: str) -> str:
    """The image the runner reports having migrated for (its last `migrated-image=` line)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MIGRATED_PREFIX):
            return line[len(MIGRATED_PREFIX):].strip()
    raise ValueError("the migration finished without reporting the image it migrated for")


@dataclass(frozen=True)
class MigrationArgs:
    environment: str
    sha: str
    config: MigrationConfig
    image: pulumi.Input[str]  # pinned by digest
    env: pulumi.Input[Mapping[str, str]]  # the migrating service's env, secrets included
    secret_names: tuple[str, ...]  # which names in `env` hold secrets (masked in output)


class Migration(pulumi.ComponentResource):
    """Outputs `migrated_image`: the digest-pinned image the database now fits."""

    migrated_image: pulumi.Output[str]

    def __init__(self, name: str, args: MigrationArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:index:Migration", name, None, opts)
        cfg = args.config
        plan = pulumi.Output.from_input(args.image).apply(
            lambda image: MigrationPlan(
                environment=args.environment, sha=args.sha, image=image, steps=cfg.steps,
                timeout_seconds=cfg.timeout_minutes * 60, network=cfg.network,
                secret_names=args.secret_names,
            ).to_json()
        )
        stdin: pulumi.Output[str] = secret(
            pulumi.Output.from_input(args.env).apply(render_env_file)
        )
        run = command.local.Command(
            f"{name}-run",
            create=RUNNER_COMMAND,
            environment={MIGRATION_PLAN_ENV: plan},
            stdin=stdin,
            # A new image digest or a new step list is a new migration: replace (= run again).
            triggers=[args.image, json.dumps(cfg.steps), cfg.timeout_minutes],
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The image name is not secret even though the command's output inherits secrecy.
        self.migrated_image = pulumi.Output.unsecret(run.stdout.apply(migrated_image))
        self.register_outputs({"migrated_image": self.migrated_image})
