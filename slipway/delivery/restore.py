"""`slipway restore --stack S [--backup NAME] [--yes]`: list a stack's backups, or put one back.

The backups are the ones the migration takes before it runs (slipway/commands/backup.py), on
the stack's server. Without --backup this lists them, newest first. With --backup it asks
(unless --yes), then restores the backup into the app database in one transaction: everything
the app role owns there is dropped and the backup's contents take its place, so tables a failed
migration created after the backup are gone too. Either all of it is restored or nothing
changes. The running release keeps running and serves the restored data as soon as the
transaction commits (its queries wait while it runs).

A backup of another stack is refused, by its name and by the database named inside it.
Exit codes: 0 done, 1 failed, 2 bad usage, 3 refused (nothing changed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from slipway.commands import backup as cmd
from slipway.delivery.pulumi_cli import PulumiCli, PulumiError, section
from slipway.delivery.remote import RemoteError, RemoteShell, remote_shell
from slipway.delivery.servers import key_of, server_of, servers_of
from slipway.secret import Secret
from slipway.state_settings import state_refusal

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


class Refused(Exception):
    """Nothing was changed; the message says why."""


@dataclass(frozen=True)
class Backup:
    name: str
    size: int
    stack: str
    time: str
    sha12: str


@dataclass(frozen=True)
class Settings:
    directory: str
    client_dir: str | None
    database: str


def settings_of(config: Mapping[str, Any]) -> Settings:
    """Where this stack's backups are (the same defaults as the program's config)."""
    _, deploy_dir = server_of(config)
    backup = section(config, "slipway:backup")
    return Settings(directory=backup.get("directory") or f"{deploy_dir.rstrip('/')}/backups",
                    client_dir=backup.get("clientDir") or None,
                    database=str(section(config, "slipway:database").get("name", "")))


def parse_listing(text: str) -> list[Backup]:
    """`<bytes> <name>` lines -> the backups slipway made, newest first."""
    found = []
    for line in text.splitlines():
        size, _, name = line.strip().partition(" ")
        parsed = cmd.parse_backup_name(name)
        if parsed and size.isdigit():
            found.append(Backup(name, int(size), parsed.stack, parsed.time, parsed.sha12))
    return sorted(found, key=lambda b: b.time, reverse=True)


def render_listing(stack: str, backups: Sequence[Backup], where: str) -> str:
    mine = [b for b in backups if b.stack == stack]
    if not mine:
        return f"no backups of {stack} in {where} yet (one is taken before each migration)"
    lines = [f"backups of {stack} in {where}, newest first:"]
    lines += [f"  {b.name}  {b.size} bytes  sha {b.sha12}" for b in mine]
    lines.append(f"restore one: slipway restore --stack {stack} --backup <name>")
    return "\n".join(lines)


def choose(stack: str, name: str, backups: Sequence[Backup], where: str) -> Backup:
    parsed = cmd.parse_backup_name(name)
    if parsed is None:
        raise Refused(f"{name!r} is not the name of a slipway backup (<stack>-<time>-<sha>.dump)")
    if parsed.stack != stack:
        raise Refused(f"{name} is a backup of stack {parsed.stack}, not {stack}: restoring it would"
                      " put another environment's data into this one")
    match = next((b for b in backups if b.name == name), None)
    if match is None:
        raise Refused(f"there is no backup {name} in {where}; `slipway restore --stack {stack}`"
                      " lists them")
    return match


def _download(shell: RemoteShell, directory: str, name: str, into: Path) -> None:
    with into.open("wb") as out:
        done = subprocess.run(shell.argv(cmd.download_script(directory, name)), stdout=out,
                              stderr=subprocess.PIPE, env=shell.env, check=False, timeout=3600)
    if done.returncode != 0:
        raise RemoteError(f"{shell.server.where}: cannot read {directory}/{name}:"
                          f" {done.stderr.decode(errors='replace').strip()[-300:]}")


def _feed(source: subprocess.Popen[bytes], sink: IO[bytes]) -> None:
    """BEGIN, clear, the archive's SQL, then COMMIT only if pg_restore produced all of it: a
    restore cut short (a damaged archive) is rolled back, never half applied."""
    assert source.stdout is not None
    try:
        sink.write(b"BEGIN;\n" + cmd.CLEAR_SQL.encode())
        while chunk := source.stdout.read(1 << 16):
            sink.write(chunk)
        sink.write(b"\nCOMMIT;\n" if source.wait() == 0 else b"\nROLLBACK;\n")
    except BrokenPipeError:
        source.kill()  # psql stopped at an error (its transaction is rolled back): stop feeding it
    finally:
        with contextlib.suppress(BrokenPipeError):
            sink.close()


def restore_archive(path: Path, settings: Settings, url: Secret) -> None:
    """Check the archive is this database's, then replace the database's contents with it."""
    conn = {**os.environ, **cmd.connection_env(url.reveal())}
    listing = subprocess.run(cmd.list_archive_argv(settings.client_dir, str(path)),
                             capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise Refused(f"the backup is not a readable pg_dump archive: {listing.stderr.strip()[-300:]}")
    dumped_from = cmd.archive_database(listing.stdout)
    if dumped_from != settings.database:
        raise Refused(f"the backup was dumped from database {dumped_from!r}, not this stack's"
                      f" {settings.database!r}")
    sql = subprocess.Popen(cmd.restore_sql_argv(settings.client_dir, str(path)),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    psql = subprocess.Popen(cmd.psql_script_argv(settings.client_dir), stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=conn)
    assert psql.stdin is not None
    feeder = threading.Thread(target=_feed, args=(sql, psql.stdin), daemon=True)
    feeder.start()
    feeder.join()
    psql.stdin = None  # the feeder has closed it
    _, psql_err = psql.communicate()
    sql.stdout = None  # read to the end by the feeder
    _, sql_err = sql.communicate()
    if sql.returncode != 0:
        raise RuntimeError(f"pg_restore could not read the backup: {sql_err.decode().strip()[-500:]}")
    if psql.returncode != 0:
        raise RuntimeError("the restore failed and was rolled back (the database is as it was):"
                           f" {psql_err.decode(errors='replace').strip()[-800:]}")


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def run(args: argparse.Namespace, cli: PulumiCli, ask: Callable[[str], bool] = confirm) -> int:
    try:
        config = cli.config()
        server, _ = server_of(config)
        settings = settings_of(config)
        key = key_of(cli, servers_of(config)[0])
        if key is None:
            raise Refused("slipway:sshPrivateKey is not set for this stack")
    except (PulumiError, KeyError, ValueError) as err:
        print(f"slipway restore: {err}", file=sys.stderr)
        return EXIT_FAILED
    except Refused as err:
        print(f"slipway restore: refused: {err}. Nothing was changed.", file=sys.stderr)
        return EXIT_REFUSED
    where = f"{settings.directory} on {server.where}"
    workdir = Path(tempfile.mkdtemp(prefix="slipway-restore-"))
    try:
        with remote_shell(server, key) as shell:
            backups = parse_listing(shell.run(cmd.list_script(settings.directory)))
            if args.backup is None:
                print(render_listing(cli.stack, backups, where))
                return EXIT_OK
            chosen = choose(cli.stack, args.backup, backups, where)
            if not args.yes and not ask(
                    f"Restore {chosen.name} into database {settings.database} of {cli.stack}? Everything"
                    " the app role owns there is replaced by the backup's contents."):
                raise Refused("not confirmed (pass --yes to restore without asking)")
            url = cli.secret_output("databaseUrl")
            if url is None:
                raise Refused(f"stack {cli.stack} has no databaseUrl output (never deployed?)")
            archive = workdir / chosen.name
            _download(shell, settings.directory, chosen.name, archive)
        restore_archive(archive, settings, url)
    except Refused as err:
        print(f"slipway restore: refused: {err}. Nothing was changed.", file=sys.stderr)
        return EXIT_REFUSED
    except (PulumiError, RemoteError, RuntimeError, OSError, subprocess.SubprocessError) as err:
        print(f"slipway restore: {err}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"restored {chosen.name} (sha {chosen.sha12}) into {settings.database}. The running"
          " release serves it now; if that release needs a newer schema than the backup's, roll"
          f" back to the backup's release: slipway rollback --stack {cli.stack} --to <sha>")
    return EXIT_OK


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="slipway restore",
        description="List a stack's backups (taken before each migration), or restore one into"
                    " its database.")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--backup", metavar="NAME", help="the backup to restore (from the list)")
    parser.add_argument("--yes", action="store_true", help="restore without asking")
    parser.add_argument("--config-file", type=Path, help="passed to pulumi (as --config-file)")
    parser.add_argument("--cwd", type=Path, help="the Pulumi project directory (pulumi --cwd)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    refusal = state_refusal("restore", args.stack, os.environ)
    if refusal:
        print(refusal, file=sys.stderr)
        return EXIT_REFUSED
    return run(args, PulumiCli(stack=args.stack, config_file=args.config_file, cwd=args.cwd))


if __name__ == "__main__":
    sys.exit(main())
