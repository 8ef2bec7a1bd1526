"""The whole stack config, parsed once into typed models and validated before any resource.

`parse_stack_config` is pure: it takes the raw `slipway:*` values as Pulumi hands them over
(strings, JSON for objects), the set of keys that were set as secrets, and a git reader.
Every problem is collected, so one run tells the user everything that is wrong.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from slipway.errors import ConfigError, Problem
from slipway.gitinfo import GitReader
from slipway.secret import Secret

NAMESPACE = "slipway"

DEFAULT_MIGRATION_STEPS: tuple[tuple[str, ...], ...] = (
    ("python", "manage.py", "migrate_schemas", "--shared", "--fake-initial"),
    ("python", "manage.py", "create_super_tenant", "--no-input"),
    ("python", "manage.py", "migrate_schemas", "--tenant"),
)
DEFAULT_MIGRATION_TIMEOUT_MINUTES = 15
DATABASE_URL_ENV = "DATABASE_URL"

_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_HEX = re.compile(r"^[0-9a-f]+$")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:]+\]$")
_PG_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
)
# Names that must never travel as plain env vars: they belong in secretEnv.
_SECRET_LOOKING = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|CREDENTIAL|_KEY$|^KEY$|DSN$)")
_MUTABLE_WORDS = {"latest", "main", "master", "head", "stable", "prod", "dev", "uat", "edge"}
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Release:
    """Which commit this stack deploys and whether this run builds it."""

    sha: str
    # "build": the SHA is the build context's checkout, so the image is built from it.
    # "reuse": a pinned other SHA (a rollback); its existing image is looked up, never built.
    mode: Literal["build", "reuse"]
    head_sha: str | None

    @property
    def is_rollback_pin(self) -> bool:
        return self.mode == "reuse"


@dataclass(frozen=True)
class RegistryConfig:
    server: str
    username: str | None
    password: Secret | None


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    user: str
    host_key: str
    private_key: Secret
    deploy_dir: str
    command_timeout_seconds: int


@dataclass(frozen=True)
class DatabaseConfig:
    admin_host: str
    admin_port: int
    admin_user: str
    admin_password: Secret
    admin_database: str
    sslmode: str
    name: str
    role: str
    app_host: str
    app_port: int


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    context: str
    dockerfile: str
    repository: str
    port: int
    health_path: str
    health_timeout_seconds: int
    command: tuple[str, ...]
    env: Mapping[str, str]
    secret_env: tuple[str, ...]
    volumes: tuple[str, ...]
    build_args: Mapping[str, str]


@dataclass(frozen=True)
class MigrationConfig:
    service: str
    steps: tuple[tuple[str, ...], ...]
    timeout_minutes: int
    network: str


@dataclass(frozen=True)
class GitHubConfig:
    owner: str
    repository: str
    environment: str
    base_url: str | None
    token: Secret | None
    reviewer_users: tuple[int, ...]
    reviewer_teams: tuple[int, ...]
    protected_branches: bool
    custom_branches: tuple[str, ...]
    secrets: tuple[str, ...]
    variables: Mapping[str, str]


@dataclass(frozen=True)
class StackConfig:
    """Everything one stack (one environment) needs, validated."""

    stack: str
    environment: str
    release: Release
    app_url: str
    registry: RegistryConfig
    server: ServerConfig
    database: DatabaseConfig
    services: tuple[ServiceConfig, ...]
    migration: MigrationConfig
    github: GitHubConfig
    secrets: Mapping[str, Secret] = field(repr=False)

    def service(self, name: str) -> ServiceConfig:
        return next(s for s in self.services if s.name == name)

    def image_tag(self, sha: str | None = None) -> str:
        return f"{self.environment}-{sha or self.release.sha}"

    @property
    def latest_tag(self) -> str:
        return f"{self.environment}-latest"


# --------------------------------------------------------------------------- parsing


class _Reader:
    """Reads typed values from raw config, recording a Problem for each bad one."""

    def __init__(self, raw: Mapping[str, str], secret_keys: set[str], stack: str) -> None:
        self.raw = raw
        self.secret_keys = secret_keys
        self.stack = stack
        self.problems: list[Problem] = []

    # -- helpers
    def problem(self, key: str, message: str, fix: str) -> None:
        self.problems.append(Problem(key, message, fix))

    def set_cmd(self, key: str, example: str, secret: bool = False, path: bool = False) -> str:
        """The command that sets `key`. Secret values are read from a file on stdin, so they
        never land in shell history or a process list; `example` then names that file."""
        top, _, rest = key.partition(".")
        target = f"--path '{key}'" if rest or path else top
        if secret:
            return f"pulumi config set --secret {target} --stack {self.stack} < {example}"
        return f"pulumi config set {target} {example} --stack {self.stack}"

    def top(self, name: str) -> Any:
        """The value of `slipway:<name>`, JSON-decoded when it is an object or list."""
        value = self.raw.get(f"{NAMESPACE}:{name}")
        if value is None:
            return None
        stripped = value.strip()
        if stripped.startswith(("{", "[")):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError as exc:
                self.problem(
                    f"{NAMESPACE}:{name}",
                    f"is not valid structured config ({exc.msg})",
                    f"check the YAML under {NAMESPACE}:{name} in Pulumi.{self.stack}.yaml",
                )
                return None
        return value

    def secret(self, name: str, example: str, required: bool = True) -> Secret | None:
        key = f"{NAMESPACE}:{name}"
        value = self.raw.get(key)
        if value is None or value == "":
            if required:
                self.problem(
                    key, "is missing", self.set_cmd(key, example, secret=True)
                )
            return None
        if key not in self.secret_keys:
            self.problem(
                key,
                "is stored in plain text; it is a secret and must be encrypted",
                self.set_cmd(key, example, secret=True),
            )
            return None
        return Secret(value)

    def obj(self, name: str, required: bool = True) -> dict[str, Any]:
        value = self.top(name)
        key = f"{NAMESPACE}:{name}"
        if value is None:
            if required:
                self.problem(key, "is missing", f"add a '{key}:' section to Pulumi.{self.stack}.yaml")
            return {}
        if not isinstance(value, dict):
            self.problem(key, f"must be an object, got {type(value).__name__}",
                         f"write {key} as a YAML mapping in Pulumi.{self.stack}.yaml")
            return {}
        return value

    def string(
        self, obj: Mapping[str, Any], key: str, field_name: str, *, required: bool = True,
        default: str | None = None, pattern: re.Pattern[str] | None = None, hint: str = "",
        example: str = "<value>",
    ) -> str | None:
        value = obj.get(field_name)
        if value is None or value == "":
            if required and default is None:
                self.problem(key, "is missing", self.set_cmd(key, example))
            return default
        if not isinstance(value, str):
            self.problem(key, f"must be a string, got {json.dumps(value)}", self.set_cmd(key, example))
            return default
        if pattern is not None and not pattern.match(value):
            self.problem(key, f"{value!r} is not valid{': ' + hint if hint else ''}",
                         self.set_cmd(key, example))
            return default
        return value

    def integer(
        self, obj: Mapping[str, Any], key: str, field_name: str, *, default: int | None,
        low: int, high: int, example: str,
    ) -> int:
        value = obj.get(field_name)
        if value is None:
            if default is None:
                self.problem(key, "is missing", self.set_cmd(key, example))
                return low
            return default
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"must be a whole number, got {json.dumps(value)}",
                         self.set_cmd(key, example))
            return default if default is not None else low
        if not low <= value <= high:
            self.problem(key, f"must be between {low} and {high}, got {value}",
                         self.set_cmd(key, example))
            return default if default is not None else low
        return int(value)

    def str_list(self, obj: Mapping[str, Any], key: str, field_name: str, example: str) -> list[str]:
        value = obj.get(field_name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(key, f"must be a list of strings, got {json.dumps(value)}",
                         f"write {key} as a YAML list, e.g. {example}")
            return []
        return list(value)

    def str_map(self, obj: Mapping[str, Any], key: str, field_name: str) -> dict[str, str]:
        value = obj.get(field_name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(key, f"must be a mapping of NAME: value, got {json.dumps(value)}",
                         f"write {key} as a YAML mapping")
            return {}
        out: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.problem(f"{key}.{name}", f"must be a plain string, got {json.dumps(item)}",
                             self.set_cmd(f"{key}.{name}", "<value>"))
                continue
            out[str(name)] = str(item)
        return out


def parse_stack_config(
    raw: Mapping[str, str],
    secret_keys: set[str],
    *,
    stack: str,
    project_dir: Path,
    git: GitReader,
) -> StackConfig:
    """Parse and validate the stack config; raise ConfigError naming every bad key."""
    r = _Reader(raw, secret_keys, stack)
    ns = NAMESPACE

    environment = r.string(
        {"environment": r.top("environment")}, f"{ns}:environment", "environment",
        pattern=_ENV_NAME, hint="use a short lower-case name such as dev, uat or prod",
        example="dev",
    ) or "invalid"

    app_url = r.string(
        {"appUrl": r.top("appUrl")}, f"{ns}:appUrl", "appUrl",
        pattern=re.compile(r"^https?://[^\s/]+(/\S*)?$"), hint="an absolute http(s) URL",
        example="https://dev.example.com",
    ) or ""

    registry = _parse_registry(r)
    server = _parse_server(r)
    database = _parse_database(r)
    secrets = _parse_secrets(r)
    services = _parse_services(r, project_dir, secrets)
    migration = _parse_migration(r, services)
    github = _parse_github(r, environment, services)
    release = _parse_release(r, services, project_dir, git)

    if r.problems:
        raise ConfigError(stack, r.problems)
    assert registry and server and database and migration and github and release
    return StackConfig(
        stack=stack, environment=environment, release=release, app_url=app_url,
        registry=registry, server=server, database=database, services=tuple(services),
        migration=migration, github=github, secrets=secrets,
    )


def _parse_registry(r: _Reader) -> RegistryConfig | None:
    key = f"{NAMESPACE}:registry"
    obj = r.obj("registry")
    server = r.string(obj, f"{key}.server", "server", pattern=_REGISTRY,
                      hint="a registry host and optional path, without a scheme",
                      example="registry.digitalocean.com/myteam")
    username = r.string(obj, f"{key}.username", "username", required=False)
    password = r.secret("registryPassword", "registry-token.txt", required=username is not None)
    return RegistryConfig(server or "", username, password) if server else None


def _parse_server(r: _Reader) -> ServerConfig | None:
    key = f"{NAMESPACE}:server"
    obj = r.obj("server")
    host = r.string(obj, f"{key}.host", "host", pattern=_HOSTNAME, example="203.0.113.10")
    port = r.integer(obj, f"{key}.port", "port", default=22, low=1, high=65535, example="22")
    user = r.string(obj, f"{key}.user", "user", pattern=re.compile(r"^[a-z_][a-z0-9_-]*$"),
                    example="deploy")
    if user == "root":
        r.problem(f"{key}.user", "is 'root'; deploy as an unprivileged user in the docker group",
                  r.set_cmd(f"{key}.user", "deploy"))
    host_key = _check_host_key(r, obj.get("hostKey"), f"{key}.hostKey")
    if "password" in obj:
        r.problem(f"{key}.password", "password logins are not supported; slipway uses SSH keys only",
                  f"remove {key}.password and set {NAMESPACE}:sshPrivateKey with --secret")
    if obj.get("strictHostKeyChecking") is not None:
        r.problem(f"{key}.strictHostKeyChecking",
                  "cannot be configured: the server's host key is always verified",
                  f"remove it and pin the key in {key}.hostKey")
    private_key = r.secret("sshPrivateKey", "~/.ssh/deploy_ed25519")
    if private_key is not None and "PRIVATE KEY-----" not in private_key.reveal():
        r.problem(f"{NAMESPACE}:sshPrivateKey", "is not an SSH private key (no PRIVATE KEY block)",
                  r.set_cmd(f"{NAMESPACE}:sshPrivateKey", "~/.ssh/deploy_ed25519", secret=True))
        private_key = None
    deploy_dir = r.string(obj, f"{key}.deployDir", "deployDir", default="/srv/slipway",
                          pattern=re.compile(r"^/[A-Za-z0-9._/-]+$"), hint="an absolute path",
                          example="/srv/slipway")
    timeout = r.integer(obj, f"{key}.commandTimeoutSeconds", "commandTimeoutSeconds",
                        default=600, low=30, high=3600, example="600")
    if not (host and user and host_key and private_key and deploy_dir):
        return None
    return ServerConfig(host, port, user, host_key, private_key, deploy_dir, timeout)


def _check_host_key(r: _Reader, value: Any, key: str) -> str | None:
    fix = (f"pin the server's key: ssh-keyscan -p <port> <host> | grep ed25519 | cut -d' ' -f2-"
           f" then {r.set_cmd(key, chr(34) + 'ssh-ed25519 AAAA...' + chr(34))}")
    if not value:
        r.problem(key, "is missing; slipway never connects to a server whose key is not pinned", fix)
        return None
    if not isinstance(value, str):
        r.problem(key, "must be a string like 'ssh-ed25519 AAAA...'", fix)
        return None
    parts = value.split()
    if len(parts) < 2 or parts[0] not in _HOST_KEY_TYPES:
        r.problem(key, f"{value[:40]!r} is not a public host key line", fix)
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
        name_len = int.from_bytes(blob[:4], "big")
        embedded = blob[4 : 4 + name_len].decode()
    except (ValueError, UnicodeDecodeError):
        r.problem(key, "has a key body that is not valid base64", fix)
        return None
    expected = "ssh-rsa" if parts[0].startswith("rsa-sha2") else parts[0]
    if embedded != expected:
        r.problem(key, f"says {parts[0]} but the key inside is {embedded}", fix)
        return None
    return f"{parts[0]} {parts[1]}"


def _parse_database(r: _Reader) -> DatabaseConfig | None:
    key = f"{NAMESPACE}:database"
    obj = r.obj("database")
    admin_host = r.string(obj, f"{key}.adminHost", "adminHost", pattern=_HOSTNAME,
                          example="db-postgresql-nyc1-12345.db.ondigitalocean.com")
    admin_port = r.integer(obj, f"{key}.adminPort", "adminPort", default=5432, low=1,
                           high=65535, example="25060")
    admin_user = r.string(obj, f"{key}.adminUser", "adminUser", example="doadmin")
    admin_db = r.string(obj, f"{key}.adminDatabase", "adminDatabase", default="postgres",
                        example="defaultdb")
    sslmode = r.string(obj, f"{key}.sslmode", "sslmode", default="require",
                       pattern=re.compile("^(" + "|".join(SSL_MODES) + ")$"),
                       hint="one of " + ", ".join(SSL_MODES), example="require")
    name = r.string(obj, f"{key}.name", "name", pattern=_PG_IDENT,
                    hint="lower-case letters, digits and _", example="projectmeats_dev")
    role = r.string(obj, f"{key}.role", "role", pattern=_PG_IDENT,
                    hint="lower-case letters, digits and _", example="projectmeats_dev")
    if admin_user and role and admin_user == role:
        r.problem(f"{key}.role", "must differ from adminUser: the app gets its own least-privilege role",
                  r.set_cmd(f"{key}.role", "<app role>"))
    app_host = r.string(obj, f"{key}.appHost", "appHost", default=admin_host, pattern=_HOSTNAME,
                        example="private-db-postgresql-nyc1-12345.db.ondigitalocean.com")
    app_port = r.integer(obj, f"{key}.appPort", "appPort", default=admin_port, low=1,
                         high=65535, example="25060")
    password = r.secret("databaseAdminPassword", "db-admin-password.txt")
    if not (admin_host and admin_user and admin_db and sslmode and name and role and app_host
            and password):
        return None
    return DatabaseConfig(admin_host, admin_port, admin_user, password, admin_db, sslmode,
                          name, role, app_host, app_port)


def _parse_secrets(r: _Reader) -> dict[str, Secret]:
    key = f"{NAMESPACE}:secrets"
    raw = r.raw.get(key)
    if raw is None:
        return {}
    if key not in r.secret_keys:
        r.problem(key, "holds values in plain text; app secrets must be encrypted",
                  f"re-set each value with: {r.set_cmd(key + '.NAME', '<file with the value>', secret=True)}")
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        r.problem(key, "must be a mapping of NAME: secret value",
                  r.set_cmd(key + ".SECRET_KEY", "<file with the value>", secret=True))
        return {}
    out: dict[str, Secret] = {}
    for name, item in value.items():
        if not _ENV_VAR.match(name):
            r.problem(f"{key}.{name}", "is not a valid environment variable name (A-Z, 0-9, _)",
                      "rename it to the exact name the app reads, e.g. SECRET_KEY")
        elif not isinstance(item, str) or not item:
            r.problem(f"{key}.{name}", "must be a non-empty string",
                      r.set_cmd(f"{key}.{name}", "<file with the value>", secret=True))
        else:
            out[name] = Secret(item)
    return out


def _parse_services(r: _Reader, project_dir: Path, secrets: Mapping[str, Secret]
                    ) -> list[ServiceConfig]:
    key = f"{NAMESPACE}:services"
    obj = r.obj("services")
    if not obj and f"{NAMESPACE}:services" in r.raw:
        r.problem(key, "declares no service", f"add at least one service under {key}")
    services: list[ServiceConfig] = []
    ports: dict[int, str] = {}
    for name, spec in obj.items():
        skey = f"{key}.{name}"
        if not _SERVICE_NAME.match(name):
            r.problem(skey, "is not a valid service name (lower-case letters, digits, -)",
                      "rename the service, e.g. backend")
            continue
        if not isinstance(spec, dict):
            r.problem(skey, "must be a mapping", f"write {skey} as a YAML mapping")
            continue
        context = r.string(spec, f"{skey}.context", "context", example="../backend")
        dockerfile = r.string(spec, f"{skey}.dockerfile", "dockerfile", default="Dockerfile") or ""
        if context:
            ctx = (project_dir / context).resolve()
            if not ctx.is_dir():
                r.problem(f"{skey}.context", f"{context!r} is not a directory (resolved to {ctx})",
                          r.set_cmd(f"{skey}.context", "<path to the app checkout>"))
            elif not (ctx / dockerfile).is_file():
                r.problem(f"{skey}.dockerfile", f"{dockerfile!r} not found in {ctx}",
                          r.set_cmd(f"{skey}.dockerfile", "Dockerfile"))
        repository = r.string(spec, f"{skey}.repository", "repository", pattern=_REPOSITORY,
                              hint="lower-case image repository name", example="myapp-backend")
        port = r.integer(spec, f"{skey}.port", "port", default=None, low=1, high=65535,
                         example="8000")
        if port in ports:
            r.problem(f"{skey}.port", f"{port} is already used by service '{ports[port]}'",
                      r.set_cmd(f"{skey}.port", "<another port>"))
        ports[port] = name
        health_path = r.string(spec, f"{skey}.healthPath", "healthPath",
                               pattern=re.compile(r"^/[^\s]*$"), hint="a path starting with /",
                               example="/api/v1/ready/")
        health_timeout = r.integer(spec, f"{skey}.healthTimeoutSeconds", "healthTimeoutSeconds",
                                   default=60, low=5, high=900, example="60")
        command = r.str_list(spec, f"{skey}.command", "command", '["gunicorn", "app.wsgi"]')
        env = r.str_map(spec, f"{skey}.env", "env")
        secret_env = r.str_list(spec, f"{skey}.secretEnv", "secretEnv", "[SECRET_KEY]")
        volumes = r.str_list(spec, f"{skey}.volumes", "volumes", '["/srv/media:/app/media"]')
        build_args = r.str_map(spec, f"{skey}.buildArgs", "buildArgs")
        for var in [*env, *secret_env]:
            if not _ENV_VAR.match(var):
                r.problem(f"{skey}.env.{var}", "is not a valid environment variable name",
                          "use upper-case letters, digits and _ (the exact name the app reads)")
        for var, value in env.items():
            if _SECRET_LOOKING.search(var) and var not in ("DJANGO_SETTINGS_MODULE",):
                r.problem(f"{skey}.env.{var}",
                          "looks like a secret but is a plain env var (it would sit in plain text"
                          " in the stack file and in state)",
                          f"remove it from env, add {var} to {skey}.secretEnv and run "
                          f"{r.set_cmd(f'{NAMESPACE}:secrets.{var}', '<file with the value>', secret=True)}")
            if var in secret_env:
                r.problem(f"{skey}.env.{var}", "is in both env and secretEnv",
                          "keep it in secretEnv only")
            if "\n" in value:
                r.problem(f"{skey}.env.{var}", "contains a newline, which an env file cannot hold",
                          "put it on one line")
        for var in secret_env:
            if var == DATABASE_URL_ENV:
                r.problem(f"{skey}.secretEnv.{var}",
                          "is generated by slipway from the database it creates",
                          f"remove {var} from secretEnv")
            elif var not in secrets:
                r.problem(f"{NAMESPACE}:secrets.{var}",
                          f"is missing (service '{name}' lists it in secretEnv)",
                          r.set_cmd(f"{NAMESPACE}:secrets.{var}", "<file with the value>", secret=True))
        for volume in volumes:
            parts = volume.split(":")
            if not (len(parts) in (2, 3) and parts[0].startswith("/") and parts[1].startswith("/")
                    and (len(parts) == 2 or parts[2] in ("ro", "rw"))):
                r.problem(f"{skey}.volumes", f"{volume!r} is not HOST_PATH:CONTAINER_PATH[:ro|rw]",
                          "use absolute paths, e.g. /srv/media:/app/media")
        if context and repository and port and health_path:
            services.append(ServiceConfig(
                name=name, context=context, dockerfile=dockerfile, repository=repository,
                port=port, health_path=health_path, health_timeout_seconds=health_timeout,
                command=tuple(command), env=env, secret_env=tuple(secret_env),
                volumes=tuple(volumes), build_args=build_args,
            ))
    return services


def _parse_migration(r: _Reader, services: list[ServiceConfig]) -> MigrationConfig | None:
    key = f"{NAMESPACE}:migration"
    obj = r.obj("migration", required=False)
    service = r.string(obj, f"{key}.service", "service", default="backend") or "backend"
    names = [s.name for s in services]
    if services and service not in names:
        r.problem(f"{key}.service", f"names '{service}', which is not a service ({', '.join(names)})",
                  r.set_cmd(f"{key}.service", names[0]))
    raw_steps = obj.get("steps")
    steps: list[tuple[str, ...]] = []
    if raw_steps is None:
        steps = list(DEFAULT_MIGRATION_STEPS)
    elif not isinstance(raw_steps, list) or not raw_steps:
        r.problem(f"{key}.steps", "must be a non-empty list of commands",
                  "list each step as a list of arguments, e.g. [python, manage.py, migrate, --noinput]")
    else:
        for index, step in enumerate(raw_steps):
            if isinstance(step, str):
                r.problem(f"{key}.steps[{index}]",
                          "is a string; give each step as a list of arguments so nothing is"
                          " re-parsed by a shell", f"write it as {json.dumps(step.split())}")
            elif (not isinstance(step, list) or not step
                  or not all(isinstance(a, str) and a for a in step)):
                r.problem(f"{key}.steps[{index}]", "must be a non-empty list of strings",
                          "e.g. [python, manage.py, migrate, --noinput]")
            else:
                steps.append(tuple(step))
    timeout = r.integer(obj, f"{key}.timeoutMinutes", "timeoutMinutes",
                        default=DEFAULT_MIGRATION_TIMEOUT_MINUTES, low=1, high=120, example="15")
    network = r.string(obj, f"{key}.network", "network", default="host",
                       pattern=re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"), example="host") or "host"
    return MigrationConfig(service, tuple(steps), timeout, network)


def _parse_github(r: _Reader, environment: str, services: list[ServiceConfig]
                  ) -> GitHubConfig | None:
    key = f"{NAMESPACE}:github"
    obj = r.obj("github")
    owner = r.string(obj, f"{key}.owner", "owner",
                     pattern=re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"), example="my-org")
    repository = r.string(obj, f"{key}.repository", "repository",
                          pattern=re.compile(r"^[A-Za-z0-9._-]{1,100}$"), example="my-app")
    env_name = r.string(obj, f"{key}.environment", "environment",
                        pattern=re.compile(r"^[A-Za-z0-9._-]{1,255}$"),
                        example=f"{environment}-backend")
    if env_name and environment and not (
        env_name == environment or env_name.startswith(f"{environment}-")
    ):
        r.problem(f"{key}.environment",
                  f"'{env_name}' does not belong to environment '{environment}'; stacks must not"
                  " write another environment's secrets",
                  r.set_cmd(f"{key}.environment", f"{environment}-backend"))
    base_url = r.string(obj, f"{key}.baseUrl", "baseUrl", required=False,
                        pattern=re.compile(r"^https?://[^\s]+/$"),
                        hint="an http(s) URL ending in /", example="https://github.example.com/")
    token = r.secret("githubToken", "github-token.txt", required=False)
    reviewers = obj.get("reviewers") or {}
    users = _int_list(r, reviewers.get("users"), f"{key}.reviewers.users")
    teams = _int_list(r, reviewers.get("teams"), f"{key}.reviewers.teams")
    policy = obj.get("branchPolicy") or {}
    protected = policy.get("protectedBranches", False)
    if not isinstance(protected, bool):
        r.problem(f"{key}.branchPolicy.protectedBranches", "must be true or false",
                  r.set_cmd(f"{key}.branchPolicy.protectedBranches", "true"))
        protected = False
    custom = r.str_list(policy, f"{key}.branchPolicy.customBranches", "customBranches",
                        "[development]")
    if protected and custom:
        r.problem(f"{key}.branchPolicy", "cannot have both protectedBranches and customBranches"
                  " (GitHub allows one kind of policy)", "keep one of the two")
    published = r.str_list(obj, f"{key}.secrets", "secrets", "[DATABASE_URL, SECRET_KEY]")
    available = {DATABASE_URL_ENV} | {v for s in services for v in s.secret_env}
    for name in published:
        if name not in available:
            r.problem(f"{key}.secrets", f"publishes '{name}', which no service reads"
                      f" (known secrets: {', '.join(sorted(available))})",
                      "publish only names listed in a service's secretEnv, or DATABASE_URL")
    variables = r.str_map(obj, f"{key}.variables", "variables")
    for var in variables:
        if _SECRET_LOOKING.search(var) and var != "DJANGO_SETTINGS_MODULE":
            r.problem(f"{key}.variables.{var}", "looks like a secret; GitHub variables are plain text",
                      f"list {var} under {key}.secrets instead")
    if not (owner and repository and env_name):
        return None
    return GitHubConfig(owner, repository, env_name, base_url, token, tuple(users), tuple(teams),
                        protected, tuple(custom), tuple(published), variables)


def _int_list(r: _Reader, value: Any, key: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                              for v in value):
        r.problem(key, "must be a list of numeric GitHub ids",
                  "look ids up with: gh api users/<login> --jq .id"
                  " (teams: gh api orgs/<org>/teams/<slug> --jq .id)")
        return []
    return list(value)


def _parse_release(r: _Reader, services: list[ServiceConfig], project_dir: Path,
                   git: GitReader) -> Release | None:
    key = f"{NAMESPACE}:sha"
    pin = r.top("sha")
    if pin is not None and not isinstance(pin, str):
        r.problem(key, "must be a git commit SHA", r.set_cmd(key, "<40-hex sha>"))
        return None
    pin = (pin or "").strip().lower() or None

    heads: dict[str, str] = {}
    dirty: list[str] = []
    for svc in services:
        checkout = git.checkout((project_dir / svc.context).resolve())
        if checkout is not None:
            heads[svc.name] = checkout.head_sha
            if checkout.dirty:
                dirty.append(svc.name)
    if len(set(heads.values())) > 1:
        detail = ", ".join(f"{n}={s[:12]}" for n, s in heads.items())
        r.problem(f"{NAMESPACE}:services", f"build contexts are at different commits ({detail})",
                  "build every service of a stack from one checkout of one commit")
        return None
    head = next(iter(heads.values()), None)

    if pin is None:
        if head is None:
            r.problem(key, "is not set and the build context is not a git checkout, so there is"
                      " no SHA to build or deploy", r.set_cmd(key, "<40-hex sha>"))
            return None
        sha = head
    else:
        if pin in _MUTABLE_WORDS or pin.endswith("-latest") or not _HEX.match(pin):
            r.problem(key, f"{pin!r} is not a commit SHA; slipway deploys only immutable"
                      " <env>-<git sha> images, never a mutable tag",
                      r.set_cmd(key, "<sha of the release to run>") + "  (or unset it to deploy HEAD)")
            return None
        if len(pin) < 12 or len(pin) > 40:
            r.problem(key, f"{pin!r} has {len(pin)} hex digits; give the full SHA or at least 12",
                      r.set_cmd(key, "$(git rev-parse <commit>)"))
            return None
        if len(pin) == 40:
            sha = pin
        elif head is not None and head.startswith(pin):
            sha = head
        else:
            expanded = None
            for svc in services:
                expanded = git.expand((project_dir / svc.context).resolve(), pin)
                if expanded:
                    break
            if not expanded:
                r.problem(key, f"{pin!r} is a short SHA this checkout cannot expand",
                          r.set_cmd(key, "<the full 40-hex sha>"))
                return None
            sha = expanded

    mode: Literal["build", "reuse"] = "build" if sha == head else "reuse"
    if mode == "build" and dirty:
        r.problem(f"{NAMESPACE}:services.{dirty[0]}.context",
                  "has uncommitted changes; an image built from it would carry a SHA that does"
                  " not contain them", "commit (or stash) the changes, then run again")
        return None
    return Release(sha=sha, mode=mode, head_sha=head)
