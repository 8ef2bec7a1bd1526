"""The whole release of one environment: images, database, migration, deploys, GitHub."""

from __future__ import annotations

import os
import shlex

import pulumi
import pulumi_docker as docker

from components.database import Database, DatabaseArgs
from components.github_environment import GitHubEnvironment, GitHubEnvironmentArgs
from components.image import Image, ImageArgs, registry_host
from components.migration import Migration, MigrationArgs
from components.outputs import secret
from components.registry_login import RegistryLogin, RegistryLoginArgs
from components.server_agent import ServerAgent, ServerAgentArgs
from components.service import Service, ServiceArgs
from slipway.actor import current_actor
from slipway.config import DATABASE_URL_ENV, StackConfig


def docker_provider(name: str, cfg: StackConfig, parent: pulumi.Resource) -> docker.Provider:
    registry = cfg.registry
    auth = docker.ProviderRegistryAuthArgs(
        address=registry_host(registry.server),
        username=registry.username,
        password=secret(registry.password.reveal()) if registry.password else None,
        auth_disabled=registry.username is None,
    )
    return docker.Provider(name, registry_auth=[auth], opts=pulumi.ResourceOptions(parent=parent))


class Pipeline(pulumi.ComponentResource):
    """Build (or look up) -> migrate -> deploy, plus the environment's GitHub secrets."""

    def __init__(self, name: str, cfg: StackConfig,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:index:Pipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        provider = docker_provider(f"{name}-docker", cfg, self)

        images = {
            svc.name: Image(
                f"{name}-{svc.name}-image",
                ImageArgs(service=svc, registry=cfg.registry, environment=cfg.environment,
                          release=cfg.release,
                          # As configured (relative to the project): an absolute path in state
                          # would differ on every runner and force a rebuild.
                          context_path=svc.context,
                          provider=provider),
                opts=child,
            )
            for svc in cfg.services
        }
        database = Database(f"{name}-database", DatabaseArgs(cfg.database), opts=child)

        def secret_env(service_name: str) -> pulumi.Output[dict[str, str]]:
            svc = cfg.service(service_name)
            values = {var: cfg.secrets[var].reveal() for var in svc.secret_env}
            if service_name == cfg.migration.service:
                return secret(
                    database.url.apply(lambda url: {**values, DATABASE_URL_ENV: url})
                )
            return secret(values)

        migrating = cfg.service(cfg.migration.service)
        migration = Migration(
            f"{name}-migration",
            MigrationArgs(
                environment=cfg.environment, sha=cfg.release.sha, config=cfg.migration,
                image=images[migrating.name].sha_ref,
                env=secret_env(migrating.name).apply(lambda s: {**migrating.env, **s}),
                secret_names=(*migrating.secret_env, DATABASE_URL_ENV),
            ),
            opts=child,
        )

        login = (
            [RegistryLogin(f"{name}-registry-login",
                           RegistryLoginArgs(registry=cfg.registry, server=cfg.server),
                           opts=child)]
            if cfg.registry.username else []
        )
        actor = current_actor(os.environ)
        agent = ServerAgent(f"{name}-server", ServerAgentArgs(server=cfg.server), opts=child)
        services = {
            svc.name: Service(
                f"{name}-{svc.name}",
                ServiceArgs(
                    environment=cfg.environment, sha=cfg.release.sha, service=svc,
                    server=cfg.server, agent=agent.path, image=images[svc.name].sha_ref,
                    migrated_image=migration.migrated_image,
                    migrates=svc.name == migrating.name,
                    secret_env=secret_env(svc.name),
                    proxy=cfg.proxy,
                    operation="rollback" if cfg.release.is_rollback_pin else "deploy",
                    actor=actor,
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=login),
            )
            for svc in cfg.services
        }

        published = {DATABASE_URL_ENV: database.url}
        published |= {n: secret(s.reveal()) for n, s in cfg.secrets.items()}
        gh = GitHubEnvironment(
            f"{name}-github",
            GitHubEnvironmentArgs(
                config=cfg.github,
                secret_values={n: published[n] for n in cfg.github.secrets},
            ),
            opts=child,
        )

        self.images = images
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
        pulumi.export("appUrl", cfg.app_url)
        pulumi.export("githubEnvironment", self.github.environment)
        pulumi.export("githubSecretNames", self.github.secret_names)
        pulumi.export("databaseUrl", self.database.url)
