"""Never lose data, end to end: a backup before every migration, kept on the server with
retention; `slipway restore` after a migration that destroyed data; rollbacks that run no
step; a backup that cannot be written blocks everything; first-release steps run once.

One environment lives through the module in order, against the real engine, providers,
Postgres, registry and sshd.
"""

from __future__ import annotations

import json
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.workspace import Workspace, http_get, run, sandbox_env

pytestmark = [pytest.mark.e2e, pytest.mark.needs_providers]

TENANT_HOST = "demo.localhost"  # the example app's first tenant (create_super_tenant)
STEPS = [
    ["python3", "manage.py", "migrate_schemas", "--shared", "--fake-initial"],
    ["python3", "manage.py", "create_super_tenant", "--no-input"],
    ["python3", "manage.py", "migrate_schemas", "--tenant"],
]


def django(code: str) -> list[str]:
    """A step that runs `code` in the release image with Django set up (manage.py shell -c)."""
    return ["python3", "manage.py", "shell", "-c", code]


# Seeds the new database: one more `seed-N` item in the demo tenant each time it runs.
SEED = django(
    "from django_tenants.utils import schema_context\n"
    "from inventory.models import Item\n"
    "with schema_context('demo'):\n"
    "    n = Item.objects.filter(sku__startswith='seed-').count() + 1\n"
    "    Item.objects.create(sku=f'seed-{n}', name='first-release seed', quantity=n)\n")
# A data-destroying migration step: the column and what it held are gone.
DROP_NAME = django(
    "from django.db import connection\n"
    "connection.cursor().execute('ALTER TABLE demo.inventory_item DROP COLUMN name')\n")
FAIL = ["python3", "-c", "raise SystemExit('a later step fails')"]
# Writes a marker row: proof of whether a step ran.
MARKER = django(
    "from django_tenants.utils import schema_context\n"
    "from inventory.models import Item\n"
    "with schema_context('demo'):\n"
    "    Item.objects.create(sku='marker', name='a step ran')\n")


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    workspace = Workspace(tmp_path_factory.mktemp("recovery"), sandbox_env())
    workspace.setup()
    workspace.update_config(
        backup={"enabled": True, "keep": 2},
        # A process per step: some steps here are not manage.py commands (FAIL).
        **{"migration.steps": STEPS, "migration.firstReleaseSteps": [SEED], "migration.runner": "processes",
           "services.backend.env.ALLOWED_HOSTS": "127.0.0.1,localhost,.localhost"})
    yield workspace
    workspace.destroy()


def assert_up(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def backup_dir(ws: Workspace) -> Path:
    """The default: <deployDir>/backups on the server (this machine's sshd, as the deploy user)."""
    return Path(ws.base_config()["slipway:server"]["deployDir"]) / "backups"


def backups(ws: Workspace) -> list[str]:
    folder = backup_dir(ws)
    return sorted(p.name for p in folder.glob(f"{ws.env_name}-*.dump")) if folder.is_dir() else []


def items(ws: Workspace) -> tuple[int, list[dict[str, object]]]:
    """The demo tenant's items, as the running release serves them."""
    status, _, body = http_get(f"http://127.0.0.1:{ws.port}/api/v1/items/",
                               headers={"Host": TENANT_HOST})
    try:
        return status, list(json.loads(body)["items"])
    except (ValueError, KeyError):
        return status, []


def slipway(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return run([str(ws.project / ".venv" / "bin" / "python"), "-m", "slipway.delivery.cli", *args,
                "--stack", ws.env_name, "--config-file", str(ws.config_file), "--cwd",
                str(ws.project)], env=ws.env, cwd=ws.project)


def seeds(ws: Workspace) -> int:
    return int(ws.psql("select count(*) from demo.inventory_item where sku like 'seed-%'"))


def test_1_first_release_seeds_once_and_is_backed_up_first(ws: Workspace) -> None:
    done = ws.up()
    assert_up(done)
    assert seeds(ws) == 1  # the first-release step ran, after the migration steps
    status, rows = items(ws)
    assert status == 200 and [r["sku"] for r in rows] == ["seed-1"]
    # The backup was taken before the first step, on the server, 0600 in a 0700 directory.
    taken = backups(ws)
    assert len(taken) == 1 and taken[0].endswith(f"-{ws.shas[-1][:12]}.dump")
    path = backup_dir(ws) / taken[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup_dir(ws).stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"PGDMP")
    assert ws.outputs()["migrationBackup"] == str(path)
    assert "slipway: backup: " in done.stdout


def test_2_the_next_release_never_seeds_again_and_retention_keeps_n(ws: Workspace) -> None:
    first = backups(ws)
    ws.commit("second release")
    assert_up(ws.up())
    assert seeds(ws) == 1
    assert ws.operations("app-migration-first-release") == []
    ws.commit("third release")
    assert_up(ws.up())
    kept = backups(ws)
    assert len(kept) == 2 and first[0] not in kept  # keep: 2, the oldest is gone


def test_3_no_migration_no_backup(ws: Workspace) -> None:
    before = backups(ws)
    done = ws.up()
    assert_up(done)
    assert backups(ws) == before


def test_4_restore_after_a_migration_that_destroyed_data(ws: Workspace) -> None:
    running = ws.shas[-1]
    ws.update_config(**{"migration.steps": [*STEPS, DROP_NAME, FAIL]})
    ws.commit("a release whose migration drops a column, then fails")
    done = ws.up()
    assert done.returncode != 0
    assert "a later step fails" in done.stdout + done.stderr
    # The deploy was blocked: the running release stays, but its data is damaged.
    assert ws.ready()[1].get("X-App-Sha") == running
    assert ws.psql("select count(*) from information_schema.columns where table_schema = 'demo'"
                   " and table_name = 'inventory_item' and column_name = 'name'") == "0"
    assert items(ws)[0] == 500
    newest = backups(ws)[-1]
    assert newest.endswith(f"-{ws.shas[-1][:12]}.dump")

    listed = slipway(ws, "restore")
    assert listed.returncode == 0, listed.stderr
    assert newest in listed.stdout and listed.stdout.index(newest) < listed.stdout.index(backups(ws)[0])
    refused = slipway(ws, "restore", "--backup", newest)  # no terminal, no --yes: not confirmed
    assert refused.returncode == 3 and "not confirmed" in refused.stderr
    other = slipway(ws, "restore", "--backup", newest.replace(ws.env_name, "prod", 1), "--yes")
    assert other.returncode == 3 and f"not {ws.env_name}" in other.stderr

    done = slipway(ws, "restore", "--backup", newest, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    status, rows = items(ws)
    assert status == 200, rows
    assert [(r["sku"], r["name"]) for r in rows] == [("seed-1", "first-release seed")]
    assert ws.ready()[0] == 200 and ws.ready()[1].get("X-App-Sha") == running
    assert "ssh-agent -a" not in run(["ps", "axww", "-o", "args"]).stdout
    assert not list(Path(tempfile.gettempdir()).glob("slipway-restore-*"))


def test_5_a_rollback_runs_no_step(ws: Workspace) -> None:
    # The configured steps would drop a column and fail; a rollback must run none of them.
    target = ws.shas[1]
    before = backups(ws)
    ws.update_config(sha=target)
    preview = ws.pulumi("preview", "--diff")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "slipway: pinned: stack" in preview.stdout + preview.stderr
    assert f"while the checkout is at {ws.shas[-1][:12]}" in preview.stdout + preview.stderr
    done = ws.up()
    assert_up(done)
    assert "migrations: skipped (rollback)" in done.stdout
    assert ws.ready()[1].get("X-App-Sha") == target
    status, rows = items(ws)
    assert status == 200 and [(r["sku"], r["name"]) for r in rows] == [("seed-1", "first-release seed")]
    assert backups(ws) == before  # no migration, no backup
    assert ws.outputs()["migrations"] == "skipped (rollback)"
    ws.update_config(sha=None)


def test_6_a_backup_that_cannot_be_written_blocks_the_migration(ws: Workspace) -> None:
    running = ws.ready()[1].get("X-App-Sha")
    ws.update_config(**{"migration.steps": [*STEPS, MARKER], "backup.directory": "/etc/slipway-backups"})
    ws.commit("a release whose backup has nowhere to go")
    done = ws.up()
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "backup FAILED: cannot write the backup to /etc/slipway-backups" in text
    assert ws.psql("select count(*) from demo.inventory_item where sku = 'marker'") == "0"
    assert ws.ready()[1].get("X-App-Sha") == running
    # Fixed: the same release goes through, backed up first.
    ws.update_config(**{"backup.directory": None})
    count = len(backups(ws))
    assert_up(ws.up())
    assert ws.ready()[1].get("X-App-Sha") == ws.shas[-1]
    assert ws.psql("select count(*) from demo.inventory_item where sku = 'marker'") == "1"
    assert len(backups(ws)) == min(2, count + 1) and backups(ws)[-1].endswith(f"-{ws.shas[-1][:12]}.dump")
    assert seeds(ws) == 1


def test_7_the_deploy_key_and_the_database_password_stay_secret(ws: Workspace) -> None:
    key_body = Path(ws.sandbox["SANDBOX_SSH_KEY_FILE"]).read_text().splitlines()[1]
    url = run([*"pulumi stack output databaseUrl --show-secrets".split(), "--stack", ws.env_name,
               "--cwd", str(ws.project)], env=ws.env).stdout.strip()
    password = url.split(":")[2].split("@")[0]
    assert len(password) > 20
    # A release that migrates, so the backup runs (the key and the URL travel on its stdin).
    ws.update_config(**{"migration.steps": STEPS})  # the marker step would not run twice
    ws.commit("a release for the secrets check")
    log = ws.root / "recovery-up.log"
    proc = ws.up_in_background(log)
    assert proc.wait() == 0, log.read_text()[-3000:]
    assert "slipway: backup: " in log.read_text()
    # (`pulumi up --json` is not checked: its event stream carries the SDK's own debug logs of
    # each registration, secrets included; slipway never prints it.)
    for text in (ws.export(), log.read_text()):
        assert key_body not in text and password not in text
    # Nothing of the backups' SSH sessions is left behind: no agent, no key or known_hosts.
    assert "ssh-agent -a" not in run(["ps", "axww", "-o", "args"]).stdout
    assert not list(Path(tempfile.gettempdir()).glob("slipway-ssh-*"))
