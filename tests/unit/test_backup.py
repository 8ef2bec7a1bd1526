"""The backup before a migration, its restore, rollbacks that skip the steps: config, the rendered
scripts (run here with sh, and shellchecked), names, and what the plan comment says."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from components.pipeline import pin_warning, rollback_skip
from slipway.commands import backup as cmd
from slipway.commands.migration import MigrationPlan
from slipway.config import StackConfig
from slipway.delivery import restore
from slipway.delivery.plan_render import render
from slipway.delivery.preview import read_plan
from slipway.errors import ConfigError
from slipway.runners.migrate import read_stdin
from tests.unit.stackfiles import OLD_SHA, SHA, FakeGit, raw_config
from tests.unit.test_config import edit, parse

WHEN = datetime(2026, 12, 2, 9, 30, 5, tzinfo=UTC)


# ------------------------------------------------------------------------------ config

def test_backups_are_on_by_default_for_prod_only(tmp_path: Path) -> None:
    prod = parse(raw_config("prod"), tmp_path, stack="prod")
    assert prod.backup.enabled and prod.backup.directory == "/srv/slipway/backups"
    dev = parse(raw_config("dev"), tmp_path / "dev", stack="dev")
    assert not dev.backup.enabled


def test_backup_settings_per_stack(tmp_path: Path) -> None:
    raw = raw_config("dev")
    raw["slipway:backup"] = json.dumps({"enabled": True, "keep": 3, "directory": "/var/backups/app",
                                        "clientDir": "/usr/lib/postgresql/16/bin"})
    cfg = parse(raw, tmp_path)
    assert (cfg.backup.enabled, cfg.backup.keep, cfg.backup.directory, cfg.backup.client_dir) == (
        True, 3, "/var/backups/app", "/usr/lib/postgresql/16/bin")


@pytest.mark.parametrize(("section", "value", "key", "message"), [
    ("backup", {"keep": 0}, "slipway:backup.keep", "must be between 1 and 1000, got 0"),
    ("backup", {"directory": "backups"}, "slipway:backup.directory", "'backups' is not valid"),
    ("backup", {"enable": True}, "slipway:backup.enable", "is not a known key; did you mean enabled?"),
    ("migration", {"onRollback": "always"}, "slipway:migration.onRollback", "'always' is not valid"),
    ("migration", {"firstReleaseSteps": ["python manage.py seed"]},
     "slipway:migration.firstReleaseSteps[0]", "is a string"),
])
def test_bad_backup_and_migration_options_are_named(section: str, value: dict[str, object], key: str,
                                                    message: str, tmp_path: Path) -> None:
    raw = raw_config("dev")
    current = json.loads(raw.get(f"slipway:{section}", "{}"))
    raw[f"slipway:{section}"] = json.dumps({**current, **value})
    with pytest.raises(ConfigError) as caught:
        parse(raw, tmp_path)
    problems = {p.key: p for p in caught.value.problems}
    assert key in problems, caught.value.keys()
    assert message in problems[key].message, problems[key].message


def pinned(tmp_path: Path, on_rollback: str | None = None) -> StackConfig:
    raw = raw_config("prod")
    raw["slipway:sha"] = OLD_SHA
    if on_rollback:
        edit("migration", ["onRollback"], on_rollback)(raw)
    return parse(raw, tmp_path, stack="prod", git=FakeGit())


def test_a_rollback_pin_skips_the_steps_and_says_it_is_pinned(tmp_path: Path) -> None:
    cfg = pinned(tmp_path)
    assert rollback_skip(cfg) == "rollback"
    assert pin_warning(cfg) == (
        f"slipway: pinned: stack prod runs {OLD_SHA[:12]} by a pin (slipway:sha) while the checkout"
        f" is at {SHA[:12]}, which is not being deployed. To deploy the checkout again:"
        " pulumi config rm slipway:sha --stack prod")
    assert rollback_skip(pinned(tmp_path / "run", "run")) is None
    head = parse(raw_config("prod"), tmp_path / "head", stack="prod")
    assert rollback_skip(head) is None and pin_warning(head) is None


# ------------------------------------------------------------------------------ the plan

def plan(**extra: object) -> MigrationPlan:
    return MigrationPlan(environment="prod", sha=SHA, image=f"r/app:prod-{SHA}@sha256:{'a' * 64}",
                         steps=(("python", "manage.py", "migrate"),), timeout_seconds=900,
                         network="host", secret_names=("DATABASE_URL",), **extra)  # type: ignore[arg-type]


def backup_plan() -> cmd.BackupPlan:
    return cmd.BackupPlan(stack="prod", directory="/srv/slipway/backups", keep=7, client_dir=None,
                          host="203.0.113.10", port=22, user="deploy", host_key="ssh-ed25519 AAAA")


def test_a_plan_without_backup_or_skip_is_the_plan_it_was_before_they_existed() -> None:
    # An existing stack that uses neither keeps its migration command as it is (no re-run).
    assert set(json.loads(plan().to_json())) == {"environment", "sha", "image", "steps",
                                                  "timeout_seconds", "network", "secret_names"}
    with_backup = plan(backup=backup_plan(), skip=None)
    assert MigrationPlan.from_json(with_backup.to_json()) == with_backup
    assert "sshPrivateKey" not in with_backup.to_json() and "password" not in with_backup.to_json()


def test_the_runner_reads_the_key_only_from_a_json_stdin() -> None:
    assert read_stdin("DATABASE_URL='postgres://a'\n") == ("DATABASE_URL='postgres://a'\n", None)
    env, key = read_stdin(json.dumps({"env": "A='b'\n", "sshPrivateKey": "-----BEGIN KEY"}))
    assert env == "A='b'\n" and key is not None and key.reveal() == "-----BEGIN KEY"
    assert "BEGIN" not in repr(key)


# ------------------------------------------------------------------------------ names, client

def test_names_sort_by_time_and_say_their_stack_and_sha() -> None:
    name = cmd.backup_name("prod", WHEN, SHA)
    assert name == f"prod-20261202T093005Z-{SHA[:12]}.dump"
    assert cmd.parse_backup_name(name) == cmd.BackupName("prod", "20261202T093005Z", SHA[:12])
    assert cmd.parse_backup_name("prod-latest.dump") is None
    assert cmd.parse_backup_name("../prod-20261202T093005Z-abcdefabcdef.dump") is None


def test_the_password_travels_in_the_environment_never_in_argv() -> None:
    env = cmd.connection_env("postgres://app:p%40ss%2Fw0rd@db.internal:25060/app_prod?sslmode=require")
    assert env == {"PGHOST": "db.internal", "PGPORT": "25060", "PGUSER": "app", "PGDATABASE": "app_prod",
                   "PGPASSWORD": "p@ss/w0rd", "PGCONNECT_TIMEOUT": "10", "PGSSLMODE": "require"}
    for argv in (cmd.dump_argv(None), cmd.server_version_argv(None), cmd.psql_script_argv(None)):
        assert not any("p@ss" in a or "postgres://" in a for a in argv)
    assert cmd.dump_argv("/usr/lib/postgresql/16/bin") == [
        "/usr/lib/postgresql/16/bin/pg_dump", "--format=custom", "--no-password"]
    with pytest.raises(ValueError, match="postgres://"):
        cmd.connection_env("mysql://x@y/z")


def test_versions() -> None:
    assert cmd.client_major("pg_dump (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)\n") == 15
    assert cmd.server_major("160004\n") == 16 and cmd.server_major("90624") == 9
    with pytest.raises(ValueError):
        cmd.client_major("command not found")


# ------------------------------------------------------------------------------ the server side

def sh(script: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["sh", "-c", script], input=stdin, capture_output=True, check=False)


def test_upload_then_finalize_keeps_the_newest_n_of_this_stack_only(tmp_path: Path) -> None:
    directory = str(tmp_path / "backups")
    other = f"uat-20200101T000000Z-{'b' * 12}.dump"
    os.makedirs(directory)
    Path(directory, other).write_bytes(b"x")
    names = [cmd.backup_name("prod", WHEN.replace(minute=m), SHA) for m in (1, 2, 3, 4)]
    for name in names:
        up = sh(cmd.upload_script(directory, name), b"PGDMP" + name.encode())
        assert up.returncode == 0 and int(up.stdout) == 5 + len(name)
        done = sh(cmd.finalize_script(directory, name, "prod", 2, 5 + len(name)))
        assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(directory)) == sorted([other, *names[2:]])
    assert done.stdout.decode().split() == [f"removed={names[1]}"]
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(Path(directory, names[3])).st_mode) == 0o600
    listing = restore.parse_listing(sh(cmd.list_script(directory)).stdout.decode())
    assert [b.name for b in listing] == [names[3], names[2], other]


def test_an_incomplete_upload_never_becomes_a_backup(tmp_path: Path) -> None:
    directory = str(tmp_path / "b")
    name = cmd.backup_name("prod", WHEN, SHA)
    assert sh(cmd.upload_script(directory, name), b"PGDMP-short").returncode == 0
    done = sh(cmd.finalize_script(directory, name, "prod", 7, 9999))
    assert done.returncode == 1 and b"holds 11 of 9999 bytes" in done.stderr
    assert os.listdir(directory) == []


def test_listing_a_directory_that_does_not_exist_is_empty(tmp_path: Path) -> None:
    done = sh(cmd.list_script(str(tmp_path / "none")))
    assert done.returncode == 0 and done.stdout == b""


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_rendered_server_scripts_pass_shellcheck() -> None:
    name = cmd.backup_name("prod", WHEN, SHA)
    for script in (cmd.upload_script("/srv/b", name), cmd.finalize_script("/srv/b", name, "prod", 7, 10),
                   cmd.discard_script("/srv/b", name), cmd.list_script("/srv/b"),
                   cmd.download_script("/srv/b", name)):
        checked = subprocess.run(["shellcheck", "--shell=sh", "-"], input=script, text=True,
                                 capture_output=True, check=False)
        assert checked.returncode == 0, checked.stdout


# ------------------------------------------------------------------------------ restore

def test_restore_refuses_another_stacks_backup_and_unknown_names() -> None:
    backups = restore.parse_listing(f"10 prod-20261202T093005Z-{SHA[:12]}.dump\n"
                                    f"12 uat-20261202T093005Z-{SHA[:12]}.dump\n")
    where = "/srv/b on deploy@h:22"
    assert restore.choose("prod", backups[0].name, backups, where) == backups[0]
    with pytest.raises(restore.Refused, match="is a backup of stack uat, not prod"):
        restore.choose("prod", f"uat-20261202T093005Z-{SHA[:12]}.dump", backups, where)
    with pytest.raises(restore.Refused, match="there is no backup"):
        restore.choose("prod", f"prod-20250101T000000Z-{SHA[:12]}.dump", backups, where)
    with pytest.raises(restore.Refused, match="not the name of a slipway backup"):
        restore.choose("prod", "../../etc/passwd", backups, where)
    assert "uat-" not in restore.render_listing("prod", backups, where)
    assert restore.render_listing("dev", backups, where).startswith("no backups of dev")


def test_the_archive_names_the_database_it_came_from() -> None:
    listing = (";\n; Archive created at 2026-12-02 09:30:05 UTC\n;     dbname: app_prod\n"
               ";     TOC Entries: 9\n")
    assert cmd.archive_database(listing) == "app_prod"
    assert cmd.archive_database("garbage") is None


# ------------------------------------------------------------------------------ the plan comment

def test_the_plan_comment_says_pinned_and_migrations_skipped() -> None:
    notice = pin_warning_text = (
        f"slipway: pinned: stack prod runs {OLD_SHA[:12]} by a pin (slipway:sha) while the checkout"
        f" is at {SHA[:12]}, which is not being deployed.")
    preview = {
        "config": {"slipway:environment": "prod", "slipway:sha": OLD_SHA},
        "steps": [{"op": "replace", "urn": "urn:pulumi:prod::slipway::slipway:index:Pipeline$"
                   "slipway:index:Migration$command:local:Command::app-migration-run",
                   "newState": {"inputs": {"environment": {"SLIPWAY_MIGRATION_PLAN": plan(
                       skip="rollback").to_json()}}}}],
        "diagnostics": [{"severity": "warning", "message": f"  {notice}\n"}],
    }
    body = render(read_plan(preview, stack="prod"))
    assert "**Migrations:** skipped (rollback): no step runs and no backup is taken" in body
    assert "**Pinned.** stack prod runs" in body and pin_warning_text.split("pinned: ")[1] in body
    unpinned = render(read_plan({**preview, "diagnostics": []}, stack="prod"))
    assert "Pinned" not in unpinned
