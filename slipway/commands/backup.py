"""The backup taken before every migration, and its restore: names, client calls and the small
shell scripts run on the server, all rendered here and run elsewhere (runners/backup.py and
delivery/restore.py).

A backup is `pg_dump --format=custom` of the app database, streamed over SSH into
`<directory>/<stack>-<UTC time>-<sha12>.dump` (0600, in a 0700 directory) on the server, so it
outlives the CI runner. The upload lands in a hidden `.partial` file first and becomes a backup
only once pg_dump has exited 0 and the server holds every byte it sent.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

NAME = re.compile(r"^(?P<stack>[A-Za-z0-9._-]+)-(?P<time>\d{8}T\d{6}Z)-(?P<sha>[0-9a-f]{12})\.dump$")
BACKUP_PREFIX = "backup="  # the runner's line naming the backup it took


@dataclass(frozen=True)
class BackupPlan:
    """What the migration runner needs to take the backup; holds no secret."""

    stack: str
    directory: str  # on the server
    keep: int
    client_dir: str | None
    host: str
    port: int
    user: str
    host_key: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class BackupName:
    stack: str
    time: str
    sha12: str


def backup_name(stack: str, when: datetime, sha: str) -> str:
    return f"{stack}-{when.strftime('%Y%m%dT%H%M%SZ')}-{sha[:12]}.dump"


def parse_backup_name(name: str) -> BackupName | None:
    match = NAME.match(name)
    return BackupName(match["stack"], match["time"], match["sha"]) if match else None


def client(client_dir: str | None, program: str) -> str:
    return str(PurePosixPath(client_dir) / program) if client_dir else program


# ------------------------------------------------------------------- connecting to Postgres

def connection_env(url: str) -> dict[str, str]:
    """libpq's environment for `url`: the password travels in PGPASSWORD, never in argv."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise ValueError("the database URL is not a postgres:// URL with a host")
    env = {
        "PGHOST": parts.hostname,
        "PGPORT": str(parts.port or 5432),
        "PGUSER": unquote(parts.username or ""),
        "PGDATABASE": unquote(parts.path.lstrip("/")),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGCONNECT_TIMEOUT": "10",
    }
    for item in parts.query.split("&"):
        key, _, value = item.partition("=")
        if key == "sslmode" and value:
            env["PGSSLMODE"] = value
    return env


def version_argv(client_dir: str | None) -> list[str]:
    return [client(client_dir, "pg_dump"), "--version"]


def server_version_argv(client_dir: str | None) -> list[str]:
    return [client(client_dir, "psql"), "--no-psqlrc", "--tuples-only", "--no-align",
            "--no-password", "--command", "SHOW server_version_num"]


def client_major(version_output: str) -> int:
    """`pg_dump (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)` -> 15."""
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", version_output)
    if not match:
        raise ValueError(f"cannot read a PostgreSQL version from {version_output.strip()!r}")
    return int(match[1])


def server_major(version_num: str) -> int:
    """`SHOW server_version_num` -> major (150010 -> 15; 90624 -> 9)."""
    return int(version_num.strip()) // 10000


def dump_argv(client_dir: str | None) -> list[str]:
    """The whole app database, custom format (compressed; pg_restore can pick from it)."""
    return [client(client_dir, "pg_dump"), "--format=custom", "--no-password"]


# ------------------------------------------------------------------- on the server

def _q(value: str) -> str:
    return shlex.quote(value)


def upload_script(directory: str, name: str) -> str:
    """stdin -> `<directory>/.<name>.partial`; prints the byte count the server holds."""
    partial = f"{directory}/.{name}.partial"
    return (f"set -eu; umask 077; mkdir -p {_q(directory)}; chmod 700 {_q(directory)}; "
            f"cat > {_q(partial)}; wc -c < {_q(partial)}")


def finalize_script(directory: str, name: str, stack: str, keep: int, size: int) -> str:
    """The partial upload becomes the backup if it has every byte; then only the newest `keep`
    of this stack's backups stay (names sort by time)."""
    partial, final = f"{directory}/.{name}.partial", f"{directory}/{name}"
    pattern = f"^{re.escape(stack)}-[0-9]{{8}}T[0-9]{{6}}Z-[0-9a-f]{{12}}[.]dump$"
    return (
        f"set -eu; have=$(wc -c < {_q(partial)}); "
        f'if [ "$have" -ne {size} ]; then rm -f {_q(partial)}; '
        f'echo "the server holds $have of {size} bytes" >&2; exit 1; fi; '
        f"mv -f {_q(partial)} {_q(final)}; chmod 600 {_q(final)}; "
        f"cd {_q(directory)}; "
        f"printf '%s\\n' {_q(stack)}-*.dump | grep -E {_q(pattern)} | sort -r | tail -n +{keep + 1} | "
        'while read -r old; do rm -f -- "$old"; echo "removed=$old"; done'
    )


def discard_script(directory: str, name: str) -> str:
    return f"rm -f {_q(f'{directory}/.{name}.partial')}"


def list_script(directory: str) -> str:
    """`<bytes> <name>` of every backup in the directory (nothing if there is none yet)."""
    return (f"cd {_q(directory)} 2>/dev/null || exit 0; "
            'for f in *.dump; do [ -f "$f" ] && printf \'%s %s\\n\' "$(wc -c < "$f")" "$f"; done; '
            "exit 0")


def download_script(directory: str, name: str) -> str:
    return f"cat {_q(f'{directory}/{name}')}"


# ------------------------------------------------------------------- restore

def archive_database(listing: str) -> str | None:
    """The database a custom-format archive was dumped from (`pg_restore --list` header)."""
    match = re.search(r"^;\s+dbname:\s+(\S+)\s*$", listing, re.MULTILINE)
    return match[1] if match else None


def list_archive_argv(client_dir: str | None, path: str) -> list[str]:
    return [client(client_dir, "pg_restore"), "--list", path]


def restore_sql_argv(client_dir: str | None, path: str) -> list[str]:
    """The archive as SQL (objects owned by whoever restores: the app role, as before)."""
    return [client(client_dir, "pg_restore"), "--no-owner", "--no-acl", "--file=-", path]


def psql_script_argv(client_dir: str | None) -> list[str]:
    """Runs the restore script from stdin and stops at the first error (the caller wraps it in
    BEGIN ... COMMIT, and sends COMMIT only once pg_restore has produced all of it)."""
    return [client(client_dir, "psql"), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1",
            "--no-password", "--file=-"]


# Before the archive's SQL: drop what the app role owns, so that what a failed migration
# created after the backup (a new table, a tenant schema) does not survive the restore and
# trip the next migration ("relation already exists").
CLEAR_SQL = """\
DO $slipway$
DECLARE r record;
BEGIN
  FOR r IN SELECT nspname FROM pg_namespace
           WHERE nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
             AND nspname <> 'public' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
             AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE',
                   CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                  WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.relname);
  END LOOP;
  FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind = 'S'
             AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS public.%I CASCADE', r.relname);
  END LOOP;
END
$slipway$;
"""

# Whether the database holds any table of its own (the first-release check).
TABLE_COUNT_SQL = (
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg_toast%'"
)


def table_count_argv(client_dir: str | None) -> list[str]:
    return [client(client_dir, "psql"), "--no-psqlrc", "--tuples-only", "--no-align",
            "--no-password", "--command", TABLE_COUNT_SQL]
