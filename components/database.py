"""The app's own database and least-privilege role, created with an admin connection."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pulumi
import pulumi_command as command
import pulumi_postgresql as postgresql

from components.outputs import last_value, secret
from slipway.commands.envfile import render_env_file
from slipway.config import DatabaseConfig
from slipway.naming import DATABASE_URL_ENV
from slipway.runners.database_probe import FRESH_PREFIX

# Generated once on the machine running `pulumi up`; the output is a secret from birth.
PASSWORD_COMMAND = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105


def database_url(db: DatabaseConfig, password: str, endpoint: tuple[str, int] | None = None) -> str:
    """The app role's URL at `endpoint` (default: as the app on the server reaches it)."""
    host, port = endpoint or (db.app_host, db.app_port)
    return (f"postgres://{quote(db.role, safe='')}:{quote(password, safe='')}@{host}:"
            f"{port}/{quote(db.name, safe='')}?sslmode={db.sslmode}")



PROBE_COMMAND = "python3 -m slipway.runners.database_probe"


def is_fresh(stdout: str) -> str:
    """"true" if the probe found no table (its `fresh=` line), else "false"."""
    return last_value(stdout, FRESH_PREFIX) or "false"


@dataclass(frozen=True)
class DatabaseArgs:
    database: DatabaseConfig
    # Look, once, whether the database is new (for first-release steps); where psql is.
    probe_freshness: bool = False
    client_dir: str | None = None


class Database(pulumi.ComponentResource):
    """Outputs `url` (secret): what the app on the server connects with; `pipeline_url` (secret):
    the same role and database as the pipeline reaches them (migration, backup); `fresh`: "true"
    if the database had no table when this stack first looked (only with probe_freshness)."""

    url: pulumi.Output[str]
    pipeline_url: pulumi.Output[str]
    fresh: pulumi.Output[str] | None
    probe: pulumi.Resource | None

    def __init__(self, name: str, args: DatabaseArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:index:Database", name, None, opts)
        db = args.database
        admin_host, admin_port = db.pipeline_endpoint
        provider = postgresql.Provider(
            f"{name}-admin",
            host=admin_host,
            port=admin_port,
            username=db.admin_user,
            password=secret(db.admin_password.reveal()),
            database=db.admin_database,
            sslmode=db.sslmode,
            superuser=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        generated = command.local.Command(
            f"{name}-password",
            create=PASSWORD_COMMAND,
            logging=command.local.Logging.NONE,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["stdout"]),
        )
        password: pulumi.Output[str] = secret(
            generated.stdout.apply(str.strip))
        role = postgresql.Role(
            f"{name}-role", name=db.role, login=True, password=password, opts=child,
            # Unset options are None: left out of the inputs, so they never cause a diff.
            bypass_row_level_security=db.role_options.bypass_rls,
            connection_limit=db.role_options.connection_limit,
            statement_timeout=db.role_options.statement_timeout_ms,
        )
        database = postgresql.Database(
            f"{name}-database", name=db.name, owner=role.name, opts=child
        )
        grant = postgresql.Grant(
            f"{name}-grant",
            role=role.name,
            database=database.name,
            object_type="database",
            privileges=["CONNECT", "CREATE", "TEMPORARY"],
            opts=child,
        )
        self.url = secret(
            pulumi.Output.all(password, database.name).apply(lambda p: database_url(db, p[0]))
        )
        self.pipeline_url = secret(pulumi.Output.all(password, database.name).apply(
            lambda p: database_url(db, p[0], db.pipeline_endpoint)))
        self.fresh, self.probe = None, None
        if args.probe_freshness:
            probe = command.local.Command(
                f"{name}-fresh",
                create=PROBE_COMMAND,
                environment={"SLIPWAY_PG_CLIENT_DIR": args.client_dir or ""},
                stdin=secret(self.pipeline_url.apply(
                    lambda url: render_env_file({DATABASE_URL_ENV: url}))),
                # Looks once, before the first migration; what it saw is kept in the state.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[grant],
                                            ignore_changes=["create", "environment", "stdin"]),
            )
            self.fresh = pulumi.Output.unsecret(probe.stdout.apply(is_fresh))
            self.probe = probe
        self.register_outputs({"url": self.url})
