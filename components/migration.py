"""Migrations run from where `pulumi up` runs, in the release image, before any deploy: a backup
first (when the stack takes them), then the steps; on a first release into a new database, its
first-release steps after them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.outputs import last_value, secret
from slipway.commands.backup import BACKUP_PREFIX, BackupPlan
from slipway.commands.envfile import render_env_file
from slipway.commands.migration import MigrationPlan
from slipway.config import MigrationConfig
from slipway.naming import MIGRATION_PLAN_ENV
from slipway.runners.migrate import MIGRATED_PREFIX
from slipway.secret import Secret

# The runner is stdlib-only Python, started from the project directory (the provider's cwd).
RUNNER_COMMAND = "python3 -m slipway.runners.migrate"
NOT_FRESH = "first-release steps: the database existed before this stack's first release"


def migrated_image(stdout: str) -> str:
    """The image the runner reports having migrated for (its last `migrated-image=` line)."""
    image = last_value(stdout, MIGRATED_PREFIX)
    if image is None:
        raise ValueError("the migration finished without reporting the image it migrated for")
    return image


def backup_path(stdout: str) -> str:
    """The backup the runner took before the steps ("" if it took none)."""
    return last_value(stdout, BACKUP_PREFIX) or ""


@dataclass(frozen=True)
class MigrationArgs:
    environment: str
    sha: str
    config: MigrationConfig
    image: pulumi.Input[str]  # pinned by digest
    env: pulumi.Input[Mapping[str, str]]  # the migrating service's env, secrets included
    secret_names: tuple[str, ...]  # which names in `env` hold secrets (masked in output)
    # Why no step runs this time (a rollback); None: they run.
    skip: str | None = None
    backup: BackupPlan | None = None  # taken before the first step
    private_key: Secret | None = None  # the deploy key, for writing the backup to the server
    # "true" when the database had no table before the first release (Database.fresh).
    database_fresh: pulumi.Input[str] | None = None
    after: Sequence[pulumi.Resource] = ()


class Migration(pulumi.ComponentResource):
    """Outputs `migrated_image`: the digest-pinned image the database now fits, and `backup`: the
    backup taken before the last migration that ran ("" if none)."""

    migrated_image: pulumi.Output[str]
    backup: pulumi.Output[str]

    def __init__(self, name: str, args: MigrationArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:index:Migration", name, None, opts)
        cfg = args.config
        backup = None if args.skip else args.backup

        def plan_json(image: str, steps: tuple[tuple[str, ...], ...], skip: str | None,
                      with_backup: BackupPlan | None) -> str:
            return MigrationPlan(
                environment=args.environment, sha=args.sha, image=image, steps=steps,
                timeout_seconds=cfg.timeout_minutes * 60, network=cfg.network,
                secret_names=args.secret_names, backup=with_backup, skip=skip, runner=cfg.runner,
            ).to_json()

        plan = pulumi.Output.from_input(args.image).apply(
            lambda image: plan_json(image, cfg.steps, args.skip, backup))
        env_text: pulumi.Output[str] = secret(
            pulumi.Output.from_input(args.env).apply(render_env_file))
        if backup is not None:
            assert args.private_key is not None, "a backup needs the deploy key"
            key = args.private_key
            stdin: pulumi.Output[str] = secret(env_text.apply(
                lambda text: json.dumps({"env": text, "sshPrivateKey": key.reveal()})))
        else:
            stdin = env_text
        run = command.local.Command(
            f"{name}-run",
            create=RUNNER_COMMAND,
            environment={MIGRATION_PLAN_ENV: plan},
            stdin=stdin,
            # A new image digest or a new step list is a new migration: replace (= run again).
            triggers=[args.image, json.dumps(cfg.steps), cfg.timeout_minutes],
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
        )
        done: pulumi.Output[str] = run.stdout
        if cfg.first_release_steps and args.database_fresh is not None:
            first_plan = pulumi.Output.all(args.image, args.database_fresh).apply(
                lambda v: plan_json(str(v[0]), cfg.first_release_steps,
                                    None if v[1] == "true" else NOT_FRESH, None))
            first = command.local.Command(
                f"{name}-first-release",
                create=RUNNER_COMMAND,
                environment={MIGRATION_PLAN_ENV: first_plan},
                stdin=env_text,
                # Created once, with the stack's first migration; never run again.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[run],
                                            ignore_changes=["create", "environment", "stdin"]),
            )
            done = pulumi.Output.all(run.stdout, first.stdout).apply(lambda v: str(v[0]))
        # The image name is not secret even though the command's output inherits secrecy.
        self.migrated_image = pulumi.Output.unsecret(done.apply(migrated_image))
        self.backup = pulumi.Output.unsecret(run.stdout.apply(backup_path))
        self.register_outputs({"migrated_image": self.migrated_image, "backup": self.backup})
