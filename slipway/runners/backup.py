"""Takes the backup before a migration (called by the migration runner, before any step).

pg_dump runs where the migration runs, with the same database URL, and streams into a file on
the server over SSH (pinned host key, the deploy key held by a private ssh-agent). Any failure
raises BackupFailed, and the migration does not start.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO

from slipway.commands import backup as cmd
from slipway.commands.backup import BackupPlan
from slipway.delivery.remote import RemoteError, RemoteShell, Server, remote_shell
from slipway.secret import Secret

CHUNK = 1 << 16


class BackupFailed(Exception):
    """Says what failed and how to fix it; the migration and the deploy do not run."""


def _install_hint(client_dir: str | None, major: int | None = None) -> str:
    package = f"postgresql-client-{major}" if major else "postgresql-client"
    where = f" (looked in slipway:backup.clientDir = {client_dir})" if client_dir else ""
    return (f"install {package} or newer on the machine that runs pulumi, or point"
            f" slipway:backup.clientDir at its bin directory{where}")


def check_client(plan: BackupPlan, conn: dict[str, str]) -> int:
    """The client's major version, if it can dump this server (at least the server's major)."""
    try:
        version = subprocess.run(cmd.version_argv(plan.client_dir), capture_output=True, text=True,
                                 check=True, timeout=30)
        found = subprocess.run(cmd.server_version_argv(plan.client_dir), capture_output=True,
                               text=True, env=conn, check=False, timeout=60)
    except FileNotFoundError as err:
        raise BackupFailed(f"{err.filename} was not found: {_install_hint(plan.client_dir)}") from None
    except subprocess.CalledProcessError as err:
        raise BackupFailed(f"pg_dump --version failed: {err.stderr.strip()}") from None
    if found.returncode != 0:
        raise BackupFailed(f"cannot reach the database {conn['PGHOST']}:{conn['PGPORT']}/"
                           f"{conn['PGDATABASE']} to back it up: {found.stderr.strip()[-300:]}")
    client, server = cmd.client_major(version.stdout), cmd.server_major(found.stdout)
    if client < server:
        raise BackupFailed(f"pg_dump {client} cannot dump a PostgreSQL {server} server: "
                           + _install_hint(plan.client_dir, server))
    return client


def _pump(source: IO[bytes], sink: IO[bytes], count: list[int]) -> None:
    try:
        while chunk := source.read(CHUNK):
            sink.write(chunk)
            count[0] += len(chunk)
    finally:
        sink.close()


def stream_dump(plan: BackupPlan, shell: RemoteShell, name: str, conn: dict[str, str],
                timeout: float, mask: Callable[[str], str]) -> int:
    """pg_dump -> the server's partial file; the number of bytes the server holds."""
    dump = subprocess.Popen(cmd.dump_argv(plan.client_dir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=conn)
    upload = subprocess.Popen(shell.argv(cmd.upload_script(plan.directory, name)),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=shell.env)
    assert dump.stdout is not None and dump.stderr is not None and upload.stdin is not None
    sent = [0]
    pump = threading.Thread(target=_pump, args=(dump.stdout, upload.stdin, sent), daemon=True)
    pump.start()
    try:
        dump_err = dump.stderr.read().decode(errors="replace")
        dump.wait(timeout=timeout)
        pump.join(timeout=timeout)
        upload.stdin = None  # the pump has closed it
        held, upload_err = upload.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        dump.kill()
        upload.kill()
        raise BackupFailed(f"the backup took longer than {int(timeout)} s") from None
    if dump.returncode != 0:
        raise BackupFailed(f"pg_dump failed (exit {dump.returncode}): {mask(dump_err.strip())[-500:]}")
    if upload.returncode != 0:
        raise BackupFailed(f"cannot write the backup to {plan.directory} on {plan.where}:"
                           f" {upload_err.decode(errors='replace').strip()[-300:]}")
    if sent[0] == 0:
        raise BackupFailed("pg_dump wrote nothing: an empty backup is no backup")
    if int(held.strip() or 0) != sent[0]:
        raise BackupFailed(f"the server holds {held.decode().strip()} of {sent[0]} bytes")
    return sent[0]


def take_backup(plan: BackupPlan, *, sha: str, database_url: str, private_key: Secret,
                timeout: float, mask: Callable[[str], str],
                now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> str:
    """The backup's path on the server, once it is complete and retention has run."""
    try:
        conn = cmd.connection_env(database_url)
    except ValueError as err:
        raise BackupFailed(str(err)) from None
    conn = {**os.environ, **conn}
    major = check_client(plan, conn)
    name = cmd.backup_name(plan.stack, now(), sha)
    server = Server(host=plan.host, port=plan.port, user=plan.user, host_key=plan.host_key)
    try:
        with remote_shell(server, private_key) as shell:
            try:
                size = stream_dump(plan, shell, name, conn, timeout, mask)
                done = shell.run(cmd.finalize_script(plan.directory, name, plan.stack, plan.keep,
                                                     size), timeout=timeout)
            except BackupFailed:
                _discard(shell, plan, name)
                raise
    except RemoteError as err:
        raise BackupFailed(str(err)) from None
    path = f"{plan.directory}/{name}"
    print(f"slipway: backup: {path} on {plan.where} ({size} bytes, pg_dump {major},"
          f" keeping the newest {plan.keep})", flush=True)
    for line in done.splitlines():
        if line.startswith("removed="):
            print(f"slipway: backup: removed {line[len('removed='):]} (retention)", flush=True)
    return path


def _discard(shell: RemoteShell, plan: BackupPlan, name: str) -> None:
    with contextlib.suppress(RemoteError, subprocess.TimeoutExpired):
        shell.run(cmd.discard_script(plan.directory, name), timeout=30)
