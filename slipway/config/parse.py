"""parse_stack_config: raw `slipway:*` values in, one validated StackConfig (or every problem) out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from slipway.config.models import (
    SECRET_KEYS,
    SINGLE_SERVER_NAME,
    BackupConfig,
    DatabaseConfig,
    GitHubConfig,
    RegistryConfig,
    ServerConfig,
    ServiceConfig,
    StackConfig,
    StackSpec,
)
from slipway.config.raw import RawConfig
from slipway.config.release import pin_problem, resolve_release
from slipway.config.rules import cross_section_problems, valid_sections
from slipway.config.translate import problems_from
from slipway.errors import ConfigError, Problem
from slipway.gitinfo import GitReader
from slipway.secret import Secret


def parse_stack_config(
    raw: Mapping[str, str], secret_keys: set[str], *, stack: str, project_dir: Path, git: GitReader
) -> StackConfig:
    """Parse and validate the stack config; raise ConfigError naming every bad key.

    Pure apart from the git reader and checking that build contexts exist: it takes the raw
    values as Pulumi hands them over and the set of keys that were set as secrets.
    """
    source = RawConfig.read(raw, secret_keys, stack)
    problems: list[Problem] = source.problems
    registry_username = _plain_section(source, "registry").get("username")
    secrets = {
        "registry": source.secret("registryPassword", required=registry_username is not None),
        "server": source.secret("sshPrivateKey"),
        "database": source.secret("databaseAdminPassword"),
        "github": source.secret("githubToken", required=False),
    }
    ssh_key = secrets["server"]
    if ssh_key is not None and "PRIVATE KEY-----" not in ssh_key.reveal():
        problems.append(
            Problem(
                "slipway:sshPrivateKey",
                "is not an SSH private key (no PRIVATE KEY block)",
                "pulumi config set --secret slipway:sshPrivateKey"
                f" --stack {stack} < ~/.ssh/deploy_ed25519",
            )
        )
    app_secrets = source.app_secrets()
    server_keys = source.server_keys()

    spec: StackSpec | None = None
    try:
        spec = StackSpec.model_validate(source.plain)
    except ValidationError as error:
        problems += problems_from(error, StackSpec, stack, extra_known=SECRET_KEYS)
    named = {s.get("name") for s in source.plain.get("servers") or [] if isinstance(s, dict)}
    for name in server_keys:
        if name not in named:
            problems.append(Problem(
                f"slipway:sshPrivateKeys.{name}", "is the key of a server that slipway:servers does not list",
                f"remove it (pulumi config rm --path 'slipway:sshPrivateKeys.{name}' --stack {stack})"
                " or add that server to slipway:servers"))
    if "server" not in source.plain and "servers" not in source.plain:
        problems.append(Problem(
            "slipway:server", "is missing",
            f"add a 'slipway:server:' section (host, user, hostKey) to Pulumi.{stack}.yaml,"
            " or a 'slipway:servers:' list (each with a name) for several servers"))
    # Every rule whose sections are valid runs, even when others are not: one run, every problem.
    problems += cross_section_problems(valid_sections(spec, source.plain), app_secrets, stack=stack,
                                       project_dir=project_dir)
    if spec is None:
        pin = source.plain.get("sha")
        shape = pin_problem(pin, stack=stack) if isinstance(pin, str) and pin.strip() else None
        raise ConfigError(stack, problems + ([shape] if shape else []))

    release = resolve_release(spec.sha, spec.services, stack=stack, project_dir=project_dir, git=git)
    if isinstance(release, Problem):
        problems.append(release)
    if problems or isinstance(release, Problem):
        raise ConfigError(stack, problems)
    assert secrets["server"] is not None and secrets["database"] is not None  # else a problem above
    servers = _servers(spec, secrets["server"], server_keys)
    return StackConfig(
        stack=stack,
        environment=spec.environment,
        release=release,
        app_url=spec.app_url,
        registry=_with(RegistryConfig, spec.registry, password=secrets["registry"]),
        servers=servers,
        rollout=spec.rollout,
        database=_with(DatabaseConfig, spec.database, admin_password=secrets["database"], stack=stack),
        services=tuple(_with(ServiceConfig, s, name=n) for n, s in spec.services.items()),
        migration=spec.migration,
        github=_with(GitHubConfig, spec.github, token=secrets["github"]),
        proxy=spec.proxy,
        backup=BackupConfig.resolve(spec.backup, environment=spec.environment,
                                    deploy_dir=servers[0].deploy_dir),
        secrets=app_secrets,
        rollback_key=spec.rollback_key,
    )


def _servers(spec: StackSpec, private_key: Secret,
             own_keys: Mapping[str, Secret]) -> tuple[ServerConfig, ...]:
    """`slipway:server` as the one server, or `slipway:servers` in their order (rules.py has
    checked that exactly one of them is set), each with its own key or the shared one."""
    if spec.servers:
        return tuple(_with(ServerConfig, s, private_key=own_keys.get(s.name, private_key))
                     for s in spec.servers)
    assert spec.server is not None
    return (_with(ServerConfig, spec.server, name=SINGLE_SERVER_NAME, private_key=private_key),)


def _plain_section(source: RawConfig, name: str) -> dict[str, object]:
    value = source.plain.get(name)
    return value if isinstance(value, dict) else {}


M = TypeVar("M", bound=BaseModel)


def _with(cls: type[M], spec: BaseModel, **extra: Secret | str | None) -> M:
    """The config model: the validated spec's fields plus what came from elsewhere."""
    values: dict[str, Any] = {**dict(spec), **extra}
    return cls.model_construct(None, **values)
