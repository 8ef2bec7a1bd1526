"""The whole release of one environment: images, database, migration, deploys, GitHub.

Declared in two steps. The builds are a release's first work and the rest waits for them, but the
Pulumi SDK sends the engine no registration until the program yields to its event loop: the
Pipeline's constructor declares the builds, and `declare_release`, awaited from the program's
`pulumi.run` entrypoint, lets them reach the engine before it imports the other providers' SDKs
and declares everything else. The images build meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from concurrent.futures import ThreadPoolExecutor

import pulumi
import pulumi_docker as docker

from components.image import Image, ImageArgs, registry_host
from components.outputs import secret
from slipway.actor import current_actor
from slipway.commands.backup import BackupPlan
from slipway.config import DATABASE_URL_ENV, ServiceConfig, StackConfig
from slipway.naming import PIN_NOTICE
from slipway.pushed_tags import TagLookup, tag_in_registry
from slipway.rollback_key import ENV_VAR as ROLLBACK_KEY_ENV
from slipway.rollback_key import RollbackKey
from slipway.rollback_key import derive as derive_rollback_key


def docker_provider(name: str, cfg: StackConfig, parent: pulumi.Resource) -> docker.Provider:
    registry = cfg.registry
    auth = docker.ProviderRegistryAuthArgs(
        address=registry_host(registry.server),
        username=registry.username,
        password=secret(registry.password.reveal()) if registry.password else None,
        auth_disabled=registry.username is None,
    )
    return docker.Provider(name, registry_auth=[auth], opts=pulumi.ResourceOptions(parent=parent))


def stack_rollback_key(cfg: StackConfig) -> RollbackKey | None:
    """The stack's rollback key, when `slipway:rollbackKey` asks for one."""
    if not cfg.rollback_key:
        return None
    return derive_rollback_key(cfg.stack, cfg.environment, [s.private_key for s in cfg.servers])


def backup_plan(cfg: StackConfig) -> BackupPlan | None:
    if not cfg.backup.enabled:
        return None
    return BackupPlan(stack=cfg.stack, directory=cfg.backup.directory, keep=cfg.backup.keep,
                      client_dir=cfg.backup.client_dir, host=cfg.server.host, port=cfg.server.port,
                      user=cfg.server.user, host_key=cfg.server.host_key)


def rollback_skip(cfg: StackConfig) -> str | None:
    """A rollback pin leaves the schema alone unless the stack says otherwise."""
    if cfg.release.is_rollback_pin and cfg.migration.on_rollback == "skip":
        return "rollback"
    return None


def pin_warning(cfg: StackConfig) -> str | None:
    """While `slipway:sha` pins an earlier release, every preview and up says so."""
    release = cfg.release
    if not release.is_rollback_pin:
        return None
    head = f"is at {release.head_sha[:12]}" if release.head_sha else "is not a git checkout"
    return (f"{PIN_NOTICE} stack {cfg.stack} runs {release.sha[:12]} by a pin (slipway:sha)"
            f" while the checkout {head}, which is not being deployed. To deploy the checkout"
            f" again: pulumi config rm slipway:sha --stack {cfg.stack}")


def announce_release(cfg: StackConfig, skip: str | None) -> None:
    warning = pin_warning(cfg)
    if warning:
        pulumi.log.warn(warning)
    if skip:
        pulumi.log.info(f"slipway: migrations: skipped ({skip}): {cfg.release.sha[:12]} reuses an"
                        " earlier image and the database is already at or beyond its schema"
                        " (slipway:migration.onRollback: run would run its steps)")


class Pipeline(pulumi.ComponentResource):
    """Build (or look up) -> migrate -> deploy, plus the environment's GitHub secrets. The
    constructor declares the builds; `declare_release` the rest (see the module's docstring)."""

    def __init__(self, name: str, cfg: StackConfig, *, pushed: TagLookup = tag_in_registry,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:index:Pipeline", name, None, opts)
        self._release_name, self._release_cfg = name, cfg
        # What the rest of the release derives from the config, worked out before anything is
        # declared: whatever fails here fails before a build starts.
        self._rollback_key = stack_rollback_key(cfg)
        self._skip = rollback_skip(cfg)
        self._backup = backup_plan(cfg)
        self._actor = current_actor(os.environ)
        self._docker = docker_provider(f"{name}-docker", cfg, self)

        def pushed_before(svc: ServiceConfig) -> bool:
            return cfg.release.mode == "build" and pushed(
                cfg.registry, svc.repository, f"{cfg.environment}-{cfg.release.sha}")

        # One round trip to the registry per service, all at once.
        with ThreadPoolExecutor(max_workers=len(cfg.services)) as pool:
            already_pushed = dict(zip((s.name for s in cfg.services),
                                      pool.map(pushed_before, cfg.services), strict=True))

        self.images = {
            svc.name: Image(
                f"{name}-{svc.name}-image",
                ImageArgs(service=svc, registry=cfg.registry, environment=cfg.environment,
                          release=cfg.release,
                          # As configured (relative to the project): an absolute path in state
                          # would differ on every runner and force a rebuild.
                          context_path=svc.context,
                          provider=self._docker, pushed_before=already_pushed[svc.name]),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for svc in cfg.services
        }

    async def _builds_sent(self) -> None:
        """Returns once the builds' registrations are on their way to the engine: each goes out
        when its parent (the Image component) and its provider are registered, a round trip each,
        and then a few turns of the event loop."""
        await asyncio.gather(self._docker.id.future(),
                             *(image.urn.future() for image in self.images.values()))
        for _ in range(3):
            await asyncio.sleep(0)

    async def declare_release(self) -> None:
        """Everything after the builds: database, migration, each server's deploys, GitHub."""
        await self._builds_sent()
        # Imported only now (the command, PostgreSQL and GitHub SDKs take a few hundred ms), while
        # the images build.
        from components.database import Database, DatabaseArgs
        from components.github_environment import GitHubEnvironment, GitHubEnvironmentArgs
        from components.migration import Migration, MigrationArgs
        from components.rollout import roll_out
        from components.service import ServiceArgs

        name, cfg, images, provider = self._release_name, self._release_cfg, self.images, self._docker
        child = pulumi.ResourceOptions(parent=self)
        # The engine takes registrations one at a time and starts a provider's plugin when it
        # meets it. The builds wait only for the docker provider; everything else is registered
        # after it too, so that the builds reach the engine before the postgresql, command and
        # GitHub plugins start, and those start while the images build.
        behind_builds = pulumi.ResourceOptions(parent=self, depends_on=[provider])
        database = Database(
            f"{name}-database",
            DatabaseArgs(cfg.database, probe_freshness=bool(cfg.migration.first_release_steps),
                         client_dir=cfg.backup.client_dir),
            opts=behind_builds)

        def secret_env(service_name: str) -> pulumi.Output[dict[str, str]]:
            svc = cfg.service(service_name)
            values = {var: cfg.secrets[var].reveal() for var in svc.secret_env}
            if service_name == cfg.migration.service:
                return secret(
                    database.url.apply(lambda url: {**values, DATABASE_URL_ENV: url})
                )
            return secret(values)

        migrating = cfg.service(cfg.migration.service)
        # The migration connects as the pipeline reaches the database (directly, or through
        # the tunnel on this machine); the containers and the GitHub secret as the server does.
        migration_env = secret(database.pipeline_url.apply(
            lambda url: {**migrating.env, **{v: cfg.secrets[v].reveal() for v in migrating.secret_env},
                         DATABASE_URL_ENV: url}))
        announce_release(cfg, self._skip)
        migration = Migration(
            f"{name}-migration",
            MigrationArgs(
                environment=cfg.environment, sha=cfg.release.sha, config=cfg.migration,
                image=images[migrating.name].sha_ref,
                env=migration_env,
                secret_names=(*migrating.secret_env, DATABASE_URL_ENV),
                skip=self._skip,
                backup=self._backup,
                private_key=cfg.server.private_key,
                database_fresh=database.fresh,
                after=[database.probe] if database.probe else [],
            ),
            opts=child,
        )

        self.deploys = roll_out(
            name, cfg, self,
            # What each service's deploy needs, whichever server it goes to.
            lambda svc, server, pause: ServiceArgs(
                environment=cfg.environment, sha=cfg.release.sha, service=svc, server=server,
                agent="", image=images[svc.name].sha_ref, migrated_image=migration.migrated_image,
                migrates=svc.name == migrating.name, secret_env=secret_env(svc.name), proxy=cfg.proxy,
                operation="rollback" if cfg.release.is_rollback_pin else "deploy",
                actor=self._actor, pause_seconds=pause,
            ), after=[provider], rollback_key=self._rollback_key)
        services = {svc.name: next(on[svc.name] for on in self.deploys.values() if svc.name in on)
                    for svc in cfg.services}

        published = {DATABASE_URL_ENV: database.url}
        published |= {n: secret(s.reveal()) for n, s in cfg.secrets.items()}
        to_publish = {n: published[n] for n in cfg.github.secrets}
        if self._rollback_key is not None:
            to_publish[ROLLBACK_KEY_ENV] = secret(self._rollback_key.private.reveal())
        gh = GitHubEnvironment(
            f"{name}-github",
            GitHubEnvironmentArgs(config=cfg.github, secret_values=to_publish),
            opts=behind_builds,
        )

        self.services = services
        self.migration = migration
        self.database = database
        self.github = gh
        self.register_outputs({
            "sha": cfg.release.sha,
            "images": {n: i.sha_ref for n, i in images.items()},
            "migrated_image": migration.migrated_image,
            "github_environment": gh.environment,
        })

    def export(self, cfg: StackConfig) -> None:
        """Stack outputs: what runs, what it replaced, and where (secrets stay secret)."""
        primary = cfg.migration.service
        pulumi.export("environment", cfg.environment)
        pulumi.export("deployedSha", cfg.release.sha)
        pulumi.export("releaseMode", cfg.release.mode)
        pulumi.export("replacedSha", self.services[primary].previous_sha)
        pulumi.export("images", {n: i.sha_ref for n, i in self.images.items()})
        pulumi.export("latestImages", {n: i.latest_ref for n, i in self.images.items()})
        pulumi.export("migrationSteps", [shlex.join(step) for step in cfg.migration.steps])
        pulumi.export("migrations", f"skipped ({skip})" if (skip := rollback_skip(cfg)) else "run")
        pulumi.export("migrationBackup", self.migration.backup)
        pulumi.export("pinned", cfg.release.is_rollback_pin)
        pulumi.export("checkoutSha", cfg.release.head_sha or "")
        pulumi.export("appUrl", cfg.app_url)
        pulumi.export("githubEnvironment", self.github.environment)
        pulumi.export("githubSecretNames", self.github.secret_names)
        pulumi.export("databaseUrl", self.database.url)
        # Which SHA each server runs, per service, as each server's agent reported it.
        pulumi.export("servers", {server: {svc: deploy.running_sha for svc, deploy in on.items()}
                                  for server, on in self.deploys.items()})
