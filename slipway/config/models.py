"""The stack config's shape: pydantic models of every `slipway:*` section, validated once.

`*Spec` models are what a user writes in Pulumi.<stack>.yaml (camelCase keys, unknown keys
refused). `*Config` models add what comes from elsewhere (secrets, the service's name) and are
what components take. All are frozen.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from slipway.config.fields import (
    arg_map,
    check_text,
    env_map,
    flag,
    id_list,
    integer,
    invalid,
    plain,
    shown,
    text,
    text_list,
)
from slipway.naming import DATABASE_URL_ENV as DATABASE_URL_ENV  # re-exported
from slipway.naming import default_tunnel_port
from slipway.secret import Secret

NAMESPACE = "slipway"
DEFAULT_MIGRATION_STEPS: tuple[tuple[str, ...], ...] = (
    ("python", "manage.py", "migrate_schemas", "--shared", "--fake-initial"),
    ("python", "manage.py", "create_super_tenant", "--no-input"),
    ("python", "manage.py", "migrate_schemas", "--tenant"),
)
DEFAULT_MIGRATION_TIMEOUT_MINUTES = 15
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

ENVIRONMENT_PATTERN = r"^[a-z][a-z0-9]{0,15}$"
SERVICE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
_HOSTNAME = r"^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:]+\]$"
_PG_IDENT = r"^[a-z_][a-z0-9_]{0,62}$"
_REPOSITORY = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"
_REGISTRY = r"^[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"
_HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
)

HOST_KEY_FIX = (
    "pin the server's key: ssh-keyscan -p <port> <host> | grep ed25519 | cut -d' ' -f2-"
    ' then set it as {key} ("ssh-ed25519 AAAA...")'
)


def required(alias: str | None = None) -> Any:
    """A required field whose absence its own validator reports, with an example fix."""
    return Field(None, alias=alias, validate_default=True)


class Spec(BaseModel):
    """Strict, frozen, camelCase in YAML; a key it does not know is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


# --------------------------------------------------------------------------- registry


class RegistrySpec(Spec):
    server: Annotated[
        str,
        text(
            _REGISTRY,
            "a registry host and optional path, without a scheme",
            "registry.digitalocean.com/myteam",
        ),
    ] = required()
    username: Annotated[str, text(example="ci@example.com")] | None = None


class RegistryConfig(RegistrySpec):
    password: Secret | None = None  # slipway:registryPassword


# --------------------------------------------------------------------------- server


def _host_key(value: Any) -> str:
    fix = HOST_KEY_FIX
    if not value:
        raise invalid("is missing; slipway never connects to a server whose key is not pinned", fix=fix)
    if not isinstance(value, str):
        raise invalid(f"must be a string like 'ssh-ed25519 AAAA...', got {shown(value)}", fix=fix)
    parts = value.split()
    if len(parts) < 2 or parts[0] not in _HOST_KEY_TYPES:
        raise invalid(f"{value[:40]!r} is not a public host key line", fix=fix)
    try:
        blob = base64.b64decode(parts[1], validate=True)
        embedded = blob[4 : 4 + int.from_bytes(blob[:4], "big")].decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid("has a key body that is not valid base64", fix=fix) from None
    expected = "ssh-rsa" if parts[0].startswith("rsa-sha2") else parts[0]
    if embedded != expected:
        raise invalid(f"says {parts[0]} but the key inside is {embedded or 'unreadable'}", fix=fix)
    return f"{parts[0]} {parts[1]}"


def _deploy_user(value: Any) -> str:
    user = check_text(r"^[a-z_][a-z0-9_-]*$", "a Unix user name", "deploy")(value)
    if user == "root":
        raise invalid("is 'root'; deploy as an unprivileged user in the docker group", example="deploy")
    return user


SERVER_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
SINGLE_SERVER_NAME = "server"  # the name of the one server of `slipway:server`


class ServerSpec(Spec):
    host: Annotated[str, text(_HOSTNAME, "a host name or address", "203.0.113.10")] = required()
    port: Annotated[int, integer(1, 65535, "22")] = 22
    user: Annotated[str, plain(_deploy_user)] = required()
    host_key: Annotated[str, plain(_host_key)] = required("hostKey")
    deploy_dir: Annotated[str, text(r"^/[A-Za-z0-9._/-]+$", "an absolute path", "/srv/slipway")] = Field(
        "/srv/slipway", alias="deployDir"
    )
    command_timeout_seconds: Annotated[int, integer(30, 3600, "600")] = Field(
        600, alias="commandTimeoutSeconds"
    )


class FleetServerSpec(ServerSpec):
    """One entry of `slipway:servers`: a server of several, named (its resources and outputs go
    by the name). The deploy user defaults to `deploy`."""

    name: Annotated[str, text(SERVER_NAME_PATTERN, "a short lower-case name", "web1")] = required()
    user: Annotated[str, plain(_deploy_user)] = "deploy"


class ServerConfig(ServerSpec):
    name: str
    private_key: Secret  # slipway:sshPrivateKey

    @property
    def where(self) -> str:
        """How messages and the audit log name it: `user@host:port`, after its name if it has one."""
        address = f"{self.user}@{self.host}:{self.port}"
        return address if self.name == SINGLE_SERVER_NAME else f"{self.name} ({address})"


# --------------------------------------------------------------------------- rollout


def _batch_size(value: Any) -> str:
    fix = 'a number of servers (1) or a share of them ("50%")'
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise invalid(f"must be a count or a percentage, got {shown(value)}", fix=fix)
    count = value[:-1] if value.endswith("%") else value
    if not count.isdigit() or int(count) < 1 or (value.endswith("%") and int(count) > 100):
        raise invalid(f"{value!r} is not a count of at least 1 or a percentage from 1% to 100%", fix=fix)
    return value


class RolloutConfig(Spec):
    """How a release reaches several servers: batch by batch, each batch health-gated."""

    batch_size: Annotated[str, plain(_batch_size)] = Field("1", alias="batchSize")
    pause_seconds: Annotated[int, integer(0, 3600, "30")] = Field(0, alias="pauseSeconds")

    def batches(self, servers: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
        """The servers in order, cut into batches (a percentage rounds up, at least one)."""
        if self.batch_size.endswith("%"):
            size = max(1, -(-len(servers) * int(self.batch_size[:-1]) // 100))
        else:
            size = int(self.batch_size)
        return tuple(servers[i:i + size] for i in range(0, len(servers), size))


# --------------------------------------------------------------------------- database


class RoleOptionsSpec(Spec):
    """Options of the app's role, as a real app needs them (unset: PostgreSQL's default)."""

    # For a schema with forced row-level security whose policies the app must not be bound by.
    bypass_rls: Annotated[bool, flag()] | None = Field(None, alias="bypassRls")
    connection_limit: Annotated[int, integer(-1, 100000, "20")] | None = Field(None, alias="connectionLimit")
    statement_timeout_ms: Annotated[int, integer(0, 86_400_000, "30000")] | None = Field(
        None, alias="statementTimeoutMs")


class DatabaseSpec(Spec):
    admin_host: Annotated[
        str, text(_HOSTNAME, "a host name", "db-postgresql-nyc1-12345.db.ondigitalocean.com")
    ] = required("adminHost")
    admin_port: Annotated[int, integer(1, 65535, "25060")] = Field(5432, alias="adminPort")
    admin_user: Annotated[str, text(example="doadmin")] = required("adminUser")
    admin_database: Annotated[str, text(example="defaultdb")] = Field("postgres", alias="adminDatabase")
    sslmode: Annotated[
        str, text("^(" + "|".join(SSL_MODES) + ")$", "one of " + ", ".join(SSL_MODES), "require")
    ] = "require"
    name: Annotated[str, text(_PG_IDENT, "lower-case letters, digits and _", "projectmeats_dev")] = required()
    role: Annotated[str, text(_PG_IDENT, "lower-case letters, digits and _", "projectmeats_dev_app")] = (
        required()
    )
    # How the app on the server reaches the database; defaults to the admin endpoint.
    app_host: Annotated[
        str, text(_HOSTNAME, "a host name", "private-db-postgresql-nyc1-12345.db.ondigitalocean.com")
    ] = Field("", alias="appHost")
    app_port: Annotated[int, integer(1, 65535, "25060")] = Field(5432, alias="appPort")
    # How the pipeline reaches adminHost:adminPort: "direct", or "ssh" through the server (a
    # local forward on tunnelPort, for a database that accepts only the server).
    access: Annotated[str, text(r"^(direct|ssh)$", "direct or ssh", "ssh")] = "direct"
    tunnel_port: Annotated[int, integer(1024, 65535, "25432")] | None = Field(None, alias="tunnelPort")
    role_options: RoleOptionsSpec = Field(default_factory=lambda: RoleOptionsSpec.model_validate({}),
                                          alias="roleOptions")

    @model_validator(mode="before")
    @classmethod
    def _app_endpoint_defaults_to_admin(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if data.get("adminHost") is not None:
                data.setdefault("appHost", data["adminHost"])
            data.setdefault("appPort", data.get("adminPort", 5432))
        return data

    @model_validator(mode="after")
    def _role_is_not_admin(self) -> DatabaseSpec:
        if self.role == self.admin_user:
            raise invalid(
                "must differ from adminUser: the app gets its own least-privilege role",
                at=("role",),
                example="<app role>",
            )
        return self


class DatabaseConfig(DatabaseSpec):
    admin_password: Secret  # slipway:databaseAdminPassword
    stack: str = ""

    @property
    def local_tunnel_port(self) -> int:
        """The forward's port on the pipeline's machine: fixed per stack (the provider's config
        in the state names it), from the stack's name unless set."""
        return self.tunnel_port or default_tunnel_port(self.stack)

    @property
    def pipeline_endpoint(self) -> tuple[str, int]:
        """Where the pipeline connects: the admin endpoint, or the tunnel's end on this machine."""
        if self.access == "ssh":
            return "127.0.0.1", self.local_tunnel_port
        return self.admin_host, self.admin_port


# --------------------------------------------------------------------------- services


def _volume(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f"must be a string, got {shown(value)}", fix="e.g. /srv/media:/app/media")
    parts = value.split(":")
    if not (
        len(parts) in (2, 3)
        and parts[0].startswith("/")
        and parts[1].startswith("/")
        and (len(parts) == 2 or parts[2] in ("ro", "rw"))
    ):
        raise invalid(
            f"{value!r} is not HOST_PATH:CONTAINER_PATH[:ro|rw]",
            fix="use absolute paths, e.g. /srv/media:/app/media",
        )
    return value


def _internal_ports(value: Any) -> tuple[int, int]:
    """Two different ports, 1024-65535 (the default, port+10000/20000, may run past that)."""
    fix = "set two free ports for the releases to alternate on, e.g. [18000, 28000]"
    if not isinstance(value, list) or len(value) != 2:
        raise invalid(f"must be two ports, got {shown(value)}", fix=fix)
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1024 <= v <= 65535 for v in value):
        raise invalid(f"must be two ports between 1024 and 65535, got {shown(value)}", fix=fix)
    if value[0] == value[1]:
        raise invalid("must be two different ports", fix=fix)
    return (value[0], value[1])


def _volumes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise invalid(
            f"must be a list, got {shown(value)}",
            fix='write it as a YAML list, e.g. ["/srv/media:/app/media"]',
        )
    return tuple(_volume(v) for v in value)


class ServiceSpec(Spec):
    context: Annotated[str, text(example="../backend")] = required()
    dockerfile: Annotated[str, text(example="Dockerfile")] = "Dockerfile"
    repository: Annotated[str, text(_REPOSITORY, "lower-case image repository name", "myapp-backend")] = (
        required()
    )
    port: Annotated[int, integer(1, 65535, "8000")] = required()
    health_path: Annotated[str, text(r"^/[^\s]*$", "a path starting with /", "/api/v1/ready/")] = required(
        "healthPath"
    )
    health_timeout_seconds: Annotated[int, integer(5, 900, "60")] = Field(60, alias="healthTimeoutSeconds")
    command: Annotated[tuple[str, ...], text_list('["gunicorn", "app.wsgi"]')] = ()
    env: Annotated[dict[str, str], env_map()] = Field(default_factory=dict)
    secret_env: Annotated[
        tuple[str, ...],
        text_list("[SECRET_KEY]", r"^[A-Z_][A-Z0-9_]*$", "an environment variable name (A-Z, 0-9, _)"),
    ] = Field((), alias="secretEnv")
    volumes: Annotated[tuple[str, ...], plain(_volumes)] = ()
    build_args: Annotated[dict[str, str], arg_map()] = Field(default_factory=dict, alias="buildArgs")
    # Blue/green: each release listens on one of these two ports (PORT, and `{port}` in the
    # command); the service's proxy on `port` sends traffic to the one that is live.
    internal_ports: Annotated[tuple[int, int], plain(_internal_ports)] = Field(alias="internalPorts")
    drain_seconds: Annotated[int, integer(0, 600, "10")] = Field(10, alias="drainSeconds")
    stop_timeout_seconds: Annotated[int, integer(1, 600, "30")] = Field(30, alias="stopTimeoutSeconds")
    # After its drain the replaced release stays running (no traffic) this long, so that a
    # `slipway rollback` to it is a switch, not a start; 0 stops it right after the drain.
    standby_seconds: Annotated[int, integer(0, 86400, "600")] = Field(0, alias="standbySeconds")
    keep_releases: Annotated[int, integer(0, 20, "3")] = Field(3, alias="keepReleases")
    # The servers (of `slipway:servers`, by name) that run it; unset: every server.
    servers: Annotated[
        tuple[str, ...] | None, text_list("[web1, web2]", SERVER_NAME_PATTERN, "a server's name")
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _default_internal_ports(cls, data: Any) -> Any:
        """port+10000 and port+20000, unless set (or past 65535: then it must be set)."""
        if isinstance(data, dict) and "internalPorts" not in data:
            port = data.get("port")
            if isinstance(port, str) and port.isdigit():
                port = int(port)
            if isinstance(port, int) and not isinstance(port, bool):
                data = {**data, "internalPorts": [port + 10000, port + 20000]}
        return data

    @model_validator(mode="after")
    def _internal_ports_are_not_the_port(self) -> ServiceSpec:
        if self.port in self.internal_ports:
            raise invalid(f"must differ from port {self.port}, where the proxy listens",
                          at=("internalPorts",), fix="pick two other free ports, e.g. [18000, 28000]")
        return self


class ServiceConfig(ServiceSpec):
    name: str


# --------------------------------------------------------------------------- migration


def _steps(value: Any) -> tuple[tuple[str, ...], ...]:
    example = "[python, manage.py, migrate, --noinput]"
    if not isinstance(value, list) or not value:
        raise invalid(
            "must be a non-empty list of commands",
            fix=f"list each step as a list of arguments, e.g. {example}",
        )
    steps = []
    for index, step in enumerate(value):
        if isinstance(step, str):
            raise invalid(
                "is a string; give each step as a list of arguments so nothing is" " re-parsed by a shell",
                at=(f"[{index}]",),
                fix=f"write it as {json.dumps(step.split())}",
            )
        if not isinstance(step, list) or not step or not all(isinstance(a, str) and a for a in step):
            raise invalid("must be a non-empty list of strings", at=(f"[{index}]",), fix=f"e.g. {example}")
        if any("\x00" in a for a in step):
            raise invalid("contains a NUL character", at=(f"[{index}]",), fix=f"e.g. {example}")
        steps.append(tuple(step))
    return tuple(steps)


def _optional_steps(value: Any) -> tuple[tuple[str, ...], ...]:
    if value == []:
        return ()
    return _steps(value)


class MigrationConfig(Spec):
    service: Annotated[str, text(example="backend")] = "backend"
    steps: Annotated[tuple[tuple[str, ...], ...], plain(_steps)] = DEFAULT_MIGRATION_STEPS
    # Run after `steps`, only by the first release into a database that had no tables when this
    # stack first looked at it (a new environment, a Codespace); never again after that.
    first_release_steps: Annotated[tuple[tuple[str, ...], ...], plain(_optional_steps)] = Field(
        (), alias="firstReleaseSteps")
    # A rollback pin reuses an earlier image: "skip" leaves the schema as it is (the database is
    # already at or beyond that release); "run" runs that image's steps anyway.
    on_rollback: Annotated[str, text(r"^(skip|run)$", "skip or run", "skip")] = Field(
        "skip", alias="onRollback")
    timeout_minutes: Annotated[int, integer(1, 120, "15")] = Field(
        DEFAULT_MIGRATION_TIMEOUT_MINUTES, alias="timeoutMinutes"
    )
    network: Annotated[str, text(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", "a docker network name", "host")] = "host"
    # How the steps run in the release image's one container. "processes": each a process of its
    # own, one after another. "django": every step is `<python> manage.py <command> ...`; Django
    # is set up once and each step runs in a process forked from that setup (what `python
    # manage.py <command>` does, without its setup each time; slipway.runners.django_steps).
    runner: Annotated[str, text(r"^(processes|django)$", "processes or django", "django")] = "processes"

    @model_validator(mode="after")
    def _django_runner_runs_manage_py(self) -> MigrationConfig:
        if self.runner != "django":
            return self
        # Each list runs in a container of its own: its steps share its first step's Python and
        # manage.py (one setup).
        for key, steps in (("steps", self.steps), ("firstReleaseSteps", self.first_release_steps)):
            first = steps[0] if steps else ()
            shaped = len(first) >= 3 and not django_step_problem(first, first[0], first[1])
            python, manage = (first[0], first[1]) if shaped else ("python", "manage.py")
            for index, step in enumerate(steps):
                problem = django_step_problem(step, python, manage)
                if problem:
                    raise invalid(
                        f"{problem} (runner: django runs manage.py commands only)",
                        at=(key, f"[{index}]"),
                        fix=f"write it as [{python}, {manage}, <command>, ...], or set"
                            f" {NAMESPACE}:migration.runner to processes",
                    )
        return self


def django_step_problem(step: tuple[str, ...], python: str, manage: str) -> str | None:
    """Why `step` is not a `<python> <manage.py> <command> ...` of the given Python and
    manage.py (one Django setup serves the steps of a list); None when it is."""
    if len(step) < 3:
        return f"{shown(list(step))} names no manage.py command"
    if not re.fullmatch(r"python[0-9.]*", step[0].rsplit("/", 1)[-1]):
        return f"{shown(list(step))} does not start with a Python interpreter"
    if step[1].rsplit("/", 1)[-1] != "manage.py":
        return f"{shown(list(step))} does not run manage.py"
    if (step[0], step[1]) != (python, manage):
        return f"{shown(list(step))} runs another Python or manage.py than the list's first step"
    return None


# --------------------------------------------------------------------------- backup


_ABS_PATH = r"^/[A-Za-z0-9._/-]+$"


class BackupSpec(Spec):
    """A pg_dump of the app database before every migration, kept on the server."""

    # Unset: on for the prod environment, off for the others.
    enabled: Annotated[bool, flag()] | None = None
    keep: Annotated[int, integer(1, 1000, "7")] = 7
    # On the server; unset: <deployDir>/backups. Created 0700, each backup 0600.
    directory: Annotated[str, text(_ABS_PATH, "an absolute path", "/srv/slipway/backups")] | None = None
    # Where pg_dump/pg_restore/psql are on the machine running pulumi (unset: PATH). They must
    # be at least the database server's major version.
    client_dir: Annotated[str, text(_ABS_PATH, "an absolute path", "/usr/lib/postgresql/16/bin")] | None = (
        Field(None, alias="clientDir"))


@dataclass(frozen=True)
class BackupConfig:
    """The backup settings with the defaults that depend on the stack resolved."""

    enabled: bool
    keep: int
    directory: str
    client_dir: str | None

    @classmethod
    def resolve(cls, spec: BackupSpec, *, environment: str, deploy_dir: str) -> BackupConfig:
        return cls(
            enabled=spec.enabled if spec.enabled is not None else environment == "prod",
            keep=spec.keep,
            directory=spec.directory or f"{deploy_dir.rstrip('/')}/backups",
            client_dir=spec.client_dir,
        )


# --------------------------------------------------------------------------- github

_ID_FIX = (
    "look ids up with: gh api users/<login> --jq .id" " (teams: gh api orgs/<org>/teams/<slug> --jq .id)"
)


class ReviewersSpec(Spec):
    users: Annotated[tuple[int, ...], id_list(_ID_FIX)] = ()
    teams: Annotated[tuple[int, ...], id_list(_ID_FIX)] = ()


class BranchPolicySpec(Spec):
    protected_branches: Annotated[bool, flag()] = Field(False, alias="protectedBranches")
    custom_branches: Annotated[tuple[str, ...], text_list("[main]")] = Field((), alias="customBranches")

    @model_validator(mode="after")
    def _one_kind(self) -> BranchPolicySpec:
        if self.protected_branches and self.custom_branches:
            raise invalid(
                "cannot have both protectedBranches and customBranches" " (GitHub allows one kind of policy)",
                fix="keep one of the two",
            )
        return self


class GitHubSpec(Spec):
    owner: Annotated[
        str, text(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$", "a GitHub user or organisation", "my-org")
    ] = required()
    repository: Annotated[str, text(r"^[A-Za-z0-9._-]{1,100}$", "a repository name", "my-app")] = required()
    environment: Annotated[
        str, text(r"^[A-Za-z0-9._-]{1,255}$", "a GitHub environment name", "dev-backend")
    ] = required()
    base_url: (
        Annotated[
            str, text(r"^https?://[^\s]+/$", "an http(s) URL ending in /", "https://github.example.com/")
        ]
        | None
    ) = Field(None, alias="baseUrl")
    reviewers: ReviewersSpec = Field(default_factory=lambda: ReviewersSpec.model_validate({}))
    branch_policy: BranchPolicySpec = Field(
        default_factory=lambda: BranchPolicySpec.model_validate({}), alias="branchPolicy"
    )
    secrets: Annotated[tuple[str, ...], text_list("[DATABASE_URL, SECRET_KEY]")] = ()
    variables: Annotated[dict[str, str], env_map()] = Field(default_factory=dict)


class GitHubConfig(GitHubSpec):
    token: Secret | None = None  # slipway:githubToken (else GITHUB_TOKEN)


# --------------------------------------------------------------------------- proxy

PINNED_IMAGE = r"^[a-z0-9][a-z0-9._:/-]*@sha256:[0-9a-f]{64}$"


class ProxyConfig(Spec):
    """The reverse proxy slipway runs in front of every service (nginx; see commands/proxy.py)."""

    image: Annotated[str, text(PINNED_IMAGE, "an image pinned by digest (name[:tag]@sha256:<64 hex>)",
                               "docker.io/library/nginx:1.27-alpine@sha256:<digest>")] = required()
    listen: Annotated[str, text(r"^[0-9.]+$|^\[[0-9a-fA-F:]+\]$", "an IP address to listen on",
                                "127.0.0.1")] = "127.0.0.1"
    client_max_body_size: Annotated[str, text(r"^[0-9]+[kKmMgG]?$", "an nginx size such as 100m", "100m")] = (
        Field("100m", alias="clientMaxBodySize"))
    read_timeout_seconds: Annotated[int, integer(1, 3600, "60")] = Field(60, alias="readTimeoutSeconds")


# --------------------------------------------------------------------------- the stack

_SERVICE_NAME = check_text(SERVICE_NAME_PATTERN, "lower-case letters, digits and -", "backend")


def _service_name(value: Any) -> str:
    try:
        return _SERVICE_NAME(value)
    except Exception:
        raise invalid(
            f"{value!r} is not a valid service name (lower-case letters, digits, -)",
            fix="rename the service, e.g. backend",
        ) from None


class StackSpec(Spec):
    """Every non-secret `slipway:*` key. Secrets are read and checked separately (raw.py)."""

    environment: Annotated[
        str, text(ENVIRONMENT_PATTERN, "use a short lower-case name such as dev, uat or prod", "dev")
    ] = required()
    sha: Annotated[str, text(example="<40-hex sha>")] | None = None
    app_url: Annotated[
        str, text(r"^https?://[^\s/]+(/\S*)?$", "an absolute http(s) URL", "https://dev.example.com")
    ] = required("appUrl")
    registry: RegistrySpec
    # One server (`server`), or several (`servers`, each named), never both (rules.py).
    server: ServerSpec | None = None
    servers: tuple[FleetServerSpec, ...] | None = None
    rollout: RolloutConfig = Field(default_factory=lambda: RolloutConfig.model_validate({}))
    database: DatabaseSpec
    services: dict[Annotated[str, plain(_service_name)], ServiceSpec] = required()
    migration: MigrationConfig = Field(default_factory=lambda: MigrationConfig.model_validate({}))
    github: GitHubSpec
    proxy: ProxyConfig
    backup: BackupSpec = Field(default_factory=lambda: BackupSpec.model_validate({}))
    # A restricted SSH key that can only switch a server back (slipway.rollback_key).
    rollback_key: Annotated[bool, flag()] = Field(False, alias="rollbackKey")

    @model_validator(mode="after")
    def _has_a_service(self) -> StackSpec:
        if not self.services:
            raise invalid(
                "declares no service", at=("services",), fix="add at least one service under slipway:services"
            )
        return self


# The secret top-level keys (read by raw.py), known here so that a typo of one gets a suggestion.
SECRET_KEYS = ("registryPassword", "sshPrivateKey", "sshPrivateKeys", "databaseAdminPassword",
               "githubToken", "secrets")


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
class StackConfig:
    """Everything one stack (one environment) needs, validated."""

    stack: str
    environment: str
    release: Release
    app_url: str
    registry: RegistryConfig
    # Every server, in rollout order; the first is the primary: the database tunnel and the
    # backups go through it.
    servers: tuple[ServerConfig, ...]
    rollout: RolloutConfig
    database: DatabaseConfig
    services: tuple[ServiceConfig, ...]
    migration: MigrationConfig
    github: GitHubConfig
    proxy: ProxyConfig
    backup: BackupConfig
    secrets: Mapping[str, Secret] = field(repr=False)
    rollback_key: bool = False  # slipway:rollbackKey

    def service(self, name: str) -> ServiceConfig:
        return next(s for s in self.services if s.name == name)

    @property
    def server(self) -> ServerConfig:
        """The primary server (the first): the database tunnel and the backups use it."""
        return self.servers[0]

    @property
    def multi_server(self) -> bool:
        """Configured with `slipway:servers` (named servers) rather than `slipway:server`."""
        return self.servers[0].name != SINGLE_SERVER_NAME  # a reserved name in `servers`

    def servers_of(self, service: ServiceConfig) -> tuple[ServerConfig, ...]:
        """The servers that run `service`, in rollout order."""
        if service.servers is None:
            return self.servers
        return tuple(s for s in self.servers if s.name in service.servers)

    def batches(self) -> tuple[tuple[ServerConfig, ...], ...]:
        by_name = {s.name: s for s in self.servers}
        return tuple(tuple(by_name[n] for n in batch)
                     for batch in self.rollout.batches(tuple(by_name)))

    def image_tag(self, sha: str | None = None) -> str:
        return f"{self.environment}-{sha or self.release.sha}"

    @property
    def latest_tag(self) -> str:
        return f"{self.environment}-latest"
