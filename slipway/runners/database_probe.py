"""Whether the app database is new: prints `fresh=true` if it has no table of its own yet.

Run once per stack, right after the database is created and before the first migration (the
Database component's `-fresh` command, which Pulumi never runs again); the first-release steps
run only if it printed `fresh=true`. The database URL comes on stdin (an env file's
DATABASE_URL line), never on a command line.
"""

from __future__ import annotations

import os
import subprocess
import sys

from slipway.commands.backup import connection_env, table_count_argv
from slipway.commands.envfile import parse_env_file
from slipway.naming import DATABASE_URL_ENV

FRESH_PREFIX = "fresh="


def main() -> int:
    client_dir = os.environ.get("SLIPWAY_PG_CLIENT_DIR") or None
    url = parse_env_file(sys.stdin.read())[DATABASE_URL_ENV]
    try:
        done = subprocess.run(table_count_argv(client_dir), capture_output=True, text=True,
                              env={**os.environ, **connection_env(url)}, check=False, timeout=120)
    except FileNotFoundError as err:
        print(f"slipway: {err.filename} was not found: the first-release check needs psql on the"
              " machine that runs pulumi (postgresql-client; or set slipway:backup.clientDir)",
              file=sys.stderr)
        return 1
    if done.returncode != 0:
        print(f"slipway: cannot count the database's tables: {done.stderr.strip()[-300:]}",
              file=sys.stderr)
        return 1
    tables = int(done.stdout.strip())
    print(f"slipway: the database has {tables} tables"
          + ("; the first release runs its first-release steps" if tables == 0 else
             "; it existed before, so the first-release steps will not run"))
    print(f"{FRESH_PREFIX}{'true' if tables == 0 else 'false'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
