"""The backup the migration runner takes first, and `slipway restore`'s restore, run for real:
the runner exactly as the Migration component starts it (plan in the environment, env text and
deploy key on stdin), against the sandbox's Postgres, sshd and Docker. No provider plugin needed.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from slipway.commands.backup import BackupPlan
from slipway.commands.envfile import render_env_file
from slipway.commands.migration import MigrationPlan
from slipway.delivery import restore
from slipway.secret import Secret
from tests.e2e.test_release_scripts import admin_psql, app_database, build_and_push
from tests.e2e.workspace import REPO, run, sandbox_env

pytestmark = pytest.mark.e2e

# A step that records that it ran (a table of its own).
MARKER_STEP = ("python3", "-c", "import os, psycopg; c = psycopg.connect(os.environ['DATABASE_URL']);"
               " c.execute('create table if not exists step_ran (at timestamptz default now())');"
               " c.execute('insert into step_ran default values'); c.commit()")


@dataclass
class Db:
    sandbox: dict[str, str]
    name: str
    url: str
    image: str
    sha: str

    @property
    def home(self) -> Path:
        return Path(f"/home/{self.sandbox['SANDBOX_SSH_USER']}")

    def psql(self, sql: str) -> str:
        return admin_psql(self.sandbox, sql, database=self.name)

    def backup_plan(self, directory: str, keep: int = 3, client_dir: str | None = None) -> BackupPlan:
        sb = self.sandbox
        return BackupPlan(stack=self.name, directory=directory, keep=keep, client_dir=client_dir,
                          host=sb["SANDBOX_SSH_HOST"], port=int(sb["SANDBOX_SSH_PORT"]),
                          user=sb["SANDBOX_SSH_USER"], host_key=sb["SANDBOX_SSH_HOST_PUBLIC_KEY"])

    def migrate(self, backup: BackupPlan | None, steps: tuple[tuple[str, ...], ...] = (MARKER_STEP,)
                ) -> subprocess.CompletedProcess[str]:
        plan = MigrationPlan(environment=self.name, sha=self.sha, image=self.image, steps=steps,
                             timeout_seconds=300, network="host", secret_names=("DATABASE_URL",),
                             backup=backup)
        env_text = render_env_file({"DATABASE_URL": self.url})
        key = Path(self.sandbox["SANDBOX_SSH_KEY_FILE"]).read_text()
        stdin = json.dumps({"env": env_text, "sshPrivateKey": key}) if backup else env_text
        return run(["python3", "-m", "slipway.runners.migrate"], cwd=REPO, input=stdin,
                   env={**os.environ, "SLIPWAY_MIGRATION_PLAN": plan.to_json()})

    def step_runs(self) -> int:
        exists = self.psql("select count(*) from pg_tables where tablename = 'step_ran'")
        return int(self.psql("select count(*) from step_ran")) if exists == "1" else 0


@pytest.fixture(scope="module")
def db() -> Iterator[Db]:
    sandbox = sandbox_env()
    name = "bk" + secrets.token_hex(3)
    sha = secrets.token_hex(20)
    image = build_and_push(sandbox, f"{name}/backend", f"{name}-{sha}", APP_SHA=sha)
    with app_database(sandbox, name) as url:
        yield Db(sandbox, name, url, image, sha)


def test_the_backup_is_taken_before_the_first_step_and_kept_on_the_server(db: Db) -> None:
    directory = db.home / f"backups-{db.name}"
    done = db.migrate(db.backup_plan(str(directory)))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    backup_line = next(i for i, line in enumerate(lines) if line.startswith("backup="))
    assert backup_line < next(i for i, line in enumerate(lines) if "step 1/1" in line)
    path = Path(lines[backup_line].removeprefix("backup="))
    assert path.parent == directory and path.name.startswith(f"{db.name}-")
    assert path.name.endswith(f"-{db.sha[:12]}.dump") and path.read_bytes().startswith(b"PGDMP")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid != 0  # the deploy user's
    assert db.step_runs() == 1
    password = db.url.split(":")[2].split("@")[0]
    assert password not in done.stdout + done.stderr
    assert "ssh-agent -a" not in run(["ps", "axww", "-o", "args"]).stdout


def test_a_backup_that_cannot_be_written_runs_no_step(db: Db) -> None:
    before = db.step_runs()
    done = db.migrate(db.backup_plan("/etc/slipway-cannot-write"))
    assert done.returncode == 1
    assert "backup FAILED: cannot write the backup to /etc/slipway-cannot-write" in done.stderr
    assert "No migration step ran" in done.stderr
    assert db.step_runs() == before


def test_no_client_no_migration(db: Db, tmp_path: Path) -> None:
    before = db.step_runs()
    done = db.migrate(db.backup_plan(str(db.home / "b2"), client_dir=str(tmp_path / "no-pg")))
    assert done.returncode == 1
    assert f"{tmp_path}/no-pg/pg_dump was not found: install postgresql-client" in done.stderr
    assert db.step_runs() == before


def test_a_database_that_cannot_be_reached_is_not_migrated(db: Db) -> None:
    before = db.step_runs()
    wrong = Db(db.sandbox, db.name, db.url.replace(":5432/", ":1/"), db.image, db.sha)
    done = wrong.migrate(db.backup_plan(str(db.home / "b3")))
    assert done.returncode == 1 and "cannot reach the database 127.0.0.1:1/" in done.stderr
    assert db.step_runs() == before


def test_retention_keeps_the_newest_n(db: Db) -> None:
    directory = db.home / f"retention-{db.name}"
    for _ in range(4):
        assert db.migrate(db.backup_plan(str(directory), keep=2)).returncode == 0
        run(["sleep", "1.1"])  # names are per second
    assert len(list(directory.glob(f"{db.name}-*.dump"))) == 2


def test_restore_puts_back_exactly_what_was_backed_up_in_one_transaction(db: Db) -> None:
    db.psql(f"set role {db.name}_app; create table notes (id int primary key, body text);"  # noqa: S608
            " insert into notes values (1, 'keep me'), (2, 'and me')")
    directory = db.home / f"restore-{db.name}"
    done = db.migrate(db.backup_plan(str(directory)))
    assert done.returncode == 0, done.stderr
    archive = Path(next(line for line in done.stdout.splitlines() if line.startswith("backup="))
                   .removeprefix("backup="))
    # What a bad migration does: data destroyed, a table of its own created.
    db.psql(f"set role {db.name}_app; alter table notes drop column body;"
            " create table from_failed_migration (x int)")
    settings = restore.Settings(directory=str(directory), client_dir=None, database=db.name)
    restore.restore_archive(archive, settings, Secret(db.url))
    assert db.psql("select body from notes order by id") == "keep me\nand me"
    assert db.psql("select count(*) from pg_tables where tablename = 'from_failed_migration'") == "0"
    # Another database's archive is refused, and changes nothing.
    other = restore.Settings(directory=str(directory), client_dir=None, database="somewhere_else")
    with pytest.raises(restore.Refused, match=f"dumped from database '{db.name}'"):
        restore.restore_archive(archive, other, Secret(db.url))
    # A restore that fails half-way is rolled back, the clearing included: here the archive's
    # `CREATE TABLE notes` meets a table of that name the app role does not own.
    db.psql(f"set role {db.name}_app; drop table notes; create table from_failed_migration (x int)")
    db.psql("create table public.notes (other int)")
    with pytest.raises(RuntimeError, match="rolled back"):
        restore.restore_archive(archive, settings, Secret(db.url))
    assert db.psql("select count(*) from pg_tables where tablename = 'from_failed_migration'") == "1"
    # A damaged archive is refused before anything is touched.
    broken = archive.with_name(archive.name + ".truncated")
    data = archive.read_bytes()
    broken.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(restore.Refused, match="not a readable pg_dump archive"):
        restore.restore_archive(broken, settings, Secret(db.url))
