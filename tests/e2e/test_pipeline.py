"""The whole pipeline, end to end, against the real engine, providers and services.

One environment lives through the module in order: first release, no-op, new release, failed
migration, unhealthy release, rollback, secrets audit, bad config, an interrupted run.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.traffic import Traffic
from tests.e2e.workspace import Workspace, run, sandbox_env

pytestmark = [pytest.mark.e2e, pytest.mark.needs_providers]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    workspace = Workspace(tmp_path_factory.mktemp("e2e"), sandbox_env())
    workspace.setup()
    yield workspace
    workspace.destroy()


def migrations_applied(ws: Workspace, schema: str) -> int:
    return int(ws.psql(f"select count(*) from {schema}.django_migrations"))  # noqa: S608


def migration_runs(ws: Workspace) -> int:
    """How many times the last `up` ran the migration command (created or replaced it)."""
    return sum(op in ("create", "create-replacement", "update") for op in
               ws.operations("app-migration-run"))


def assert_up(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def unlabelled_containers() -> set[str]:
    """Every container on the build host's engine that is not one of slipway's releases or proxies."""
    listed = run(["docker", "ps", "--all", "--no-trunc", "--format", '{{.ID}} {{.Label "slipway.role"}}'])
    return {line.split()[0] for line in listed.stdout.splitlines() if len(line.split()) == 1}


def test_1_first_up_builds_migrates_deploys_and_publishes(ws: Workspace) -> None:
    sha = ws.shas[-1]
    done = ws.up()
    assert_up(done)
    assert migration_runs(ws) == 1

    # Both tags in the registry, at the same digest.
    assert ws.registry_tags() == sorted([f"{ws.env_name}-{sha}", f"{ws.env_name}-latest"])
    digest = ws.registry_digest(f"{ws.env_name}-{sha}")
    assert digest.startswith("sha256:")
    assert ws.registry_digest(f"{ws.env_name}-latest") == digest

    # Migrations applied in the public and the tenant schemas; one super tenant.
    assert migrations_applied(ws, "public") > 0
    tenant_schemas = ws.psql("select schema_name from tenants_client where schema_name <> 'public'")
    assert ws.psql("select count(*) from tenants_client where schema_name = 'public'") == "1"
    for schema in tenant_schemas.split():
        assert migrations_applied(ws, schema) > 0

    # The container runs the image by digest with its SHA label.
    container = ws.container()
    assert container is not None and container["State"]["Running"]
    assert container["Config"]["Image"].endswith(f":{ws.env_name}-{sha}@{digest}")
    assert container["Config"]["Labels"]["slipway.sha"] == sha
    assert container["Config"]["Labels"]["org.opencontainers.image.revision"] == sha
    # Real images run as their own user: the example backend is `app` (uid 10001), the frontend
    # `www-data`; neither is the deploy user.
    assert container["Config"]["User"] == "app"
    frontend = ws.container(service="frontend")
    assert frontend is not None and frontend["Config"]["User"] == "www-data"
    status, headers, _ = ws.frontend_ready()
    assert status == 200 and headers.get("X-App-Sha") == sha

    # The GitHub environment and its secrets, decrypted by the test double.
    repo = ws.github_state()["repos"][f"{ws.sandbox.get('SANDBOX_GITHUB_OWNER', 'slipway-bot')}/"
                                      f"{ws.github_repo}"]
    env = repo["environments"][ws.github_env]
    assert set(env["secrets"]) == {"DATABASE_URL", "SECRET_KEY"}
    values = {name: s.get("value") or s.get("plaintext") for name, s in env["secrets"].items()}
    assert values["SECRET_KEY"] == ws.secret_key
    assert values["DATABASE_URL"].startswith(f"postgres://{ws.db_role}:")
    assert values["DATABASE_URL"].endswith(f"/{ws.database}?sslmode=disable")
    assert "DJANGO_SETTINGS_MODULE" in env["variables"]

    # The app answers ready, and says which SHA runs.
    status, headers, body = ws.ready()
    assert status == 200, body
    assert headers.get("X-App-Sha") == sha

    outputs = ws.outputs()
    assert outputs["deployedSha"] == sha
    assert outputs["images"]["backend"] == f"{ws.registry}/projectmeats-backend:{ws.env_name}-{sha}@{digest}"
    assert outputs["githubEnvironment"] == ws.github_env


def test_2_up_again_changes_nothing(ws: Workspace) -> None:
    before = ws.container()
    assert before is not None
    done = ws.pulumi("preview", "--json")
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout).get("steps", [])
    changed = [s for s in steps if s.get("op") not in ("same", "read")]
    assert changed == [], [(s["op"], s["urn"]) for s in changed]
    up = ws.up()
    assert_up(up)
    assert migration_runs(ws) == 0
    after = ws.container()
    assert after is not None
    assert after["Id"] == before["Id"] and after["State"]["StartedAt"] == before["State"]["StartedAt"]


def test_3_new_sha_migrates_once_and_replaces_the_container(ws: Workspace) -> None:
    old_sha = ws.shas[-1]
    old_id = ws.container()["Id"]  # type: ignore[index]
    sha = ws.commit("second release")
    unlabelled_before = unlabelled_containers()
    # 20 clients and a 10 Hz prober on each service's port, throughout the release.
    with Traffic(ws.url) as backend, Traffic(ws.frontend_url) as frontend:
        done = ws.up()
    assert_up(done)
    # The build host keeps no container of the builds (the classic builder through the engine
    # API kept one per Dockerfile step) nor of the migration.
    assert unlabelled_containers() - unlabelled_before == set()
    assert backend.failures == 0, backend.summary()
    assert frontend.failures == 0, frontend.summary()
    assert backend.shas[0] == old_sha and backend.shas[-1] == sha
    assert frontend.shas[0] == old_sha and frontend.shas[-1] == sha
    assert migration_runs(ws) == 1
    container = ws.container()
    assert container is not None and container["Id"] != old_id
    assert container["Config"]["Labels"]["slipway.sha"] == sha
    assert f"{ws.env_name}-{old_sha}" in ws.registry_tags()
    assert ws.outputs()["replacedSha"] == old_sha
    assert ws.ready()[1].get("X-App-Sha") == sha


def test_4_failing_migration_blocks_the_deploy_and_the_old_release_keeps_serving(ws: Workspace) -> None:
    running_sha = ws.shas[-1]
    before = ws.container()
    ws.update_config(**{"services.backend.buildArgs": {"BREAK_MIGRATION": "1"}})
    ws.commit("a release whose migration fails")
    with Traffic(ws.url, clients=0) as probe:  # the 10 Hz prober alone
        done = ws.up()
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "migration step" in output and "failed" in output
    assert probe.failures == 0 and probe.shas == [running_sha], probe.summary()
    after = ws.container()
    assert after is not None and after["Id"] == before["Id"]  # type: ignore[index]
    assert after["Config"]["Labels"]["slipway.sha"] == running_sha

    ws.update_config(**{"services.backend.buildArgs": None})
    fixed = ws.commit("the fix")
    done = ws.up()
    assert_up(done)
    # The users' old failure: re-running migrations on a migrated database.
    assert not re.search(r'relation \\?"[^"\\]+\\?" already exists|DuplicateTable',
                         done.stdout + done.stderr)
    assert ws.container()["Config"]["Labels"]["slipway.sha"] == fixed  # type: ignore[index]


def test_5_unhealthy_release_is_removed_and_the_running_one_never_stops(ws: Workspace) -> None:
    running_sha = ws.shas[-1]
    ws.update_config(**{"services.backend.buildArgs": {"BREAK_HEALTH": "1"},
                        "services.backend.healthTimeoutSeconds": 10})
    ws.commit("a release that never gets healthy")
    with Traffic(ws.url) as traffic:
        done = ws.up()
    assert done.returncode != 0
    assert "did not answer" in done.stdout + done.stderr
    assert traffic.failures == 0 and set(traffic.shas) == {running_sha}, traffic.summary()
    container = ws.container()
    assert container is not None and container["State"]["Running"]
    assert container["Config"]["Labels"]["slipway.sha"] == running_sha
    status, headers, _ = ws.ready()
    assert status == 200 and headers.get("X-App-Sha") == running_sha

    ws.update_config(**{"services.backend.buildArgs": None,
                        "services.backend.healthTimeoutSeconds": 60})
    ws.commit("the health fix")
    assert_up(ws.up())


def test_6_rollback_by_pinning_the_previous_sha(ws: Workspace) -> None:
    outputs = ws.outputs()
    current, previous = outputs["deployedSha"], outputs["replacedSha"]
    assert previous and previous != current
    previous_digest = ws.registry_digest(f"{ws.env_name}-{previous}")
    tags_before = ws.registry_tags()
    applied_before = migrations_applied(ws, "public")
    ws.update_config(sha=previous)
    with Traffic(ws.url) as traffic:
        done = ws.up()
    assert_up(done)
    assert traffic.failures == 0, traffic.summary()
    assert traffic.shas[0] == current and traffic.shas[-1] == previous
    # The migration command runs, and runs no step: the schema stays as it is.
    assert migration_runs(ws) == 1
    assert "migrations: skipped (rollback)" in done.stdout
    assert "slipway: pinned: stack" in done.stdout
    assert ws.registry_tags() == tags_before  # nothing was built or pushed
    container = ws.container()
    assert container is not None
    assert container["Config"]["Image"].endswith(f"{ws.env_name}-{previous}@{previous_digest}")
    assert container["Config"]["Labels"]["slipway.sha"] == previous
    assert migrations_applied(ws, "public") == applied_before  # nothing ran backwards
    assert ws.ready()[1].get("X-App-Sha") == previous
    ws.update_config(sha=None)
    assert_up(ws.up())


def test_6b_slipway_audit_shows_every_deploy_rollback_and_failure(ws: Workspace) -> None:
    done = run([str(ws.project / ".venv" / "bin" / "python"), "-m", "slipway.delivery.audit", "--stack",
                ws.env_name, "--config-file", str(ws.config_file), "--cwd", str(ws.project), "--json"],
               env=ws.env, cwd=ws.project)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    results = {(e["service"], e["operation"], e["result"]) for e in entries}
    assert {("backend", "deploy", "deployed"), ("backend", "deploy", "failed"),
            ("backend", "rollback", "rolled-back"), ("frontend", "deploy", "deployed")} <= results
    assert all(e["server"].endswith(f":{ws.sandbox['SANDBOX_SSH_PORT']}") for e in entries)
    assert all(e["actor"] for e in entries)
    # Nothing of the run is left on this machine: no ssh-agent, no key file.
    assert "ssh-agent -a" not in run(["ps", "axww", "-o", "args"]).stdout


def test_7_secrets_never_leak(ws: Workspace) -> None:
    secrets = [ws.secret_key, Path(ws.sandbox["SANDBOX_PG_ADMIN_PASSWORD_FILE"]).read_text().strip(),
               ws.sandbox["SANDBOX_GITHUB_TOKEN"]]
    url = ws.github_state()["repos"][
        f"{ws.sandbox.get('SANDBOX_GITHUB_OWNER', 'slipway-bot')}/{ws.github_repo}"
    ]["environments"][ws.github_env]["secrets"]["DATABASE_URL"]
    db_password = (url.get("value") or url.get("plaintext")).split(":")[2].split("@")[0]
    secrets.append(db_password)
    key_body = Path(ws.sandbox["SANDBOX_SSH_KEY_FILE"]).read_text().splitlines()[1]
    secrets.append(key_body)

    ws.commit("a release for the secrets audit")
    seen_ps: list[str] = []
    log = ws.root / "up.log"
    proc = ws.up_in_background(log)
    while proc.poll() is None:
        seen_ps.append(run(["ps", "axww", "-o", "args"]).stdout)
        time.sleep(0.5)
    assert proc.returncode == 0, log.read_text()[-3000:]
    places = {
        "stack export": ws.export(),
        "CLI output": log.read_text(),
        "process list": "\n".join(seen_ps),
        "docker inspect": run(["docker", "inspect", ws.container()["Name"].lstrip("/"),  # type: ignore[index]
                               ws.container(service="frontend")["Name"].lstrip("/")]).stdout,  # type: ignore[index]
        "registry image config": run(["docker", "image", "inspect",
                                      ws.container()["Config"]["Image"]]).stdout,  # type: ignore[index]
        "stack outputs": json.dumps(ws.outputs()),
        "config file": ws.config_file.read_text(),
    }
    for where, text in places.items():
        for value in secrets:
            assert value not in text, f"a secret appears in the {where}"
    assert len(seen_ps) > 2


def test_8_bad_config_fails_clearly_and_changes_nothing(ws: Workspace) -> None:
    before = ws.export()
    container = ws.container()
    ws.update_config(sha="latest")
    done = ws.up()
    ws.update_config(sha=None)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "slipway:sha: 'latest' is not a commit SHA" in output
    assert "pulumi config set slipway:sha" in output
    assert "Traceback" not in output
    assert ws.export() == before
    assert ws.container()["Id"] == container["Id"]  # type: ignore[index]


def test_9_an_up_killed_during_the_migration_recovers(ws: Workspace) -> None:
    slow = [["python3", "-c", "import time; time.sleep(120)"],
            ["python3", "manage.py", "migrate_schemas", "--shared", "--fake-initial"]]
    runner = ws.base_config()["slipway:migration"]["runner"]
    ws.update_config(**{"migration.steps": slow, "migration.runner": "processes"})  # a non-Django step
    ws.commit("a release with a slow migration")
    proc = ws.up_in_background(ws.root / "killed.log")
    deadline = time.monotonic() + 300
    name = f"slipway-migrate-{ws.env_name}"  # one container runs every step
    while time.monotonic() < deadline:
        if run(["docker", "inspect", name]).returncode == 0:
            break
        assert proc.poll() is None, (ws.root / "killed.log").read_text()[-3000:]
        time.sleep(0.5)
    else:
        pytest.fail("the migration never started")
    ws.kill(proc)
    assert ws.ready()[0] == 200  # the running release is untouched

    ws.update_config(**{"migration.steps": None, "migration.runner": runner})
    # The documented recovery: release the killed run's lock, drop its pending create.
    cancel = ws.pulumi_bare("cancel", "--yes", "--stack", ws.env_name)
    assert cancel.returncode == 0, cancel.stderr
    recover = ws.pulumi("refresh", "--yes", "--clear-pending-creates", "--skip-preview")
    assert recover.returncode == 0, recover.stdout[-3000:] + recover.stderr[-3000:]
    done = ws.up()
    assert_up(done)
    assert run(["docker", "inspect", name]).returncode != 0  # the orphan step is gone
    assert ws.ready()[1].get("X-App-Sha") == ws.shas[-1]
