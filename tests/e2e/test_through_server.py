# ruff: noqa: S608  (SQL built from the test's own generated identifiers)
"""The database the way production has it: PostgreSQL listens only inside the server (test host
h1, a network namespace with its own sshd and Docker engine), so the pipeline reaches it only
through an SSH forward via that server (`database.access: ssh`).

One environment lives through the module in order: refused tunnels, preview, the first release
(role and database created, migrated and deployed through the server), a killed run, and
`slipway tunnel -- pulumi destroy`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.workspace import Workspace, free_port, json_documents, run, sandbox_env

pytestmark = [pytest.mark.e2e, pytest.mark.needs_providers]


def h1(sandbox: dict[str, str], key: str) -> str:
    value = sandbox.get(f"SANDBOX_H1_{key}")
    if value is None:
        pytest.skip("the sandbox has no test host h1 (sandbox/up.sh with SLIPWAY_SANDBOX_HOSTS)")
    return value


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    sandbox = sandbox_env()
    workspace = Workspace(tmp_path_factory.mktemp("through"), sandbox)
    workspace.setup()
    admin_password = Path(sandbox["SANDBOX_DB_HOST_PG_ADMIN_PASSWORD_FILE"]).read_text().strip()
    workspace.set_secret("slipway:databaseAdminPassword", admin_password)
    port = sandbox["SANDBOX_DB_HOST_PG_PORT"]
    workspace.update_config(**{
        "server.port": int(h1(sandbox, "SSH_PORT")), "server.hostKey": h1(sandbox, "HOST_PUBLIC_KEY"),
        "server.deployDir": h1(sandbox, "DEPLOY_DIR"),
        # As the server sees the database (the only place it listens).
        "database.adminHost": "127.0.0.1", "database.adminPort": int(port),
        "database.appHost": "127.0.0.1", "database.appPort": int(port),
        "database.access": "ssh", "database.tunnelPort": free_port(),
        # (bypassRls needs an admin that is a superuser on PostgreSQL 15; the sandbox's is not.)
        "database.roleOptions": {"connectionLimit": 30, "statementTimeoutMs": 60000},
    })
    yield workspace
    tunnelled(workspace, "pulumi", "destroy", "--yes", "--skip-preview")
    workspace.destroy()


def failure(done: subprocess.CompletedProcess[str]) -> str:
    """The engine's error messages of a `pulumi up --json` (its stream is long)."""
    messages = [str((d.get("diagnosticEvent") or {}).get("message", "")) for d in json_documents(done.stdout)
                if (d.get("diagnosticEvent") or {}).get("severity") == "error"]
    return "\n".join(messages) + done.stderr[-2000:]


def in_h1(*args: str) -> subprocess.CompletedProcess[str]:
    return run(["nsenter", "--net=/run/netns/slipway-h1", *args])


def h1_psql(ws: Workspace, sql: str, database: str = "postgres") -> str:
    done = run(["runuser", "-u", "postgres", "--", "psql", "-h",
                ws.sandbox["SANDBOX_DB_HOST_PG_SOCKET_DIR"], "-p", ws.sandbox["SANDBOX_DB_HOST_PG_PORT"],
                "-d", database, "-Atc", sql])
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def h1_ready(ws: Workspace) -> tuple[str, str]:
    """(status line, X-App-Sha) of the backend, asked inside h1 (nothing outside can reach it)."""
    done = in_h1("curl", "-s", "-o", "/dev/null", "-D", "-", f"http://127.0.0.1:{ws.port}/api/v1/ready/")
    lines = done.stdout.splitlines()
    sha = next((line.split(":", 1)[1].strip() for line in lines
                if line.lower().startswith("x-app-sha:")), "")
    return (lines[0].strip() if lines else ""), sha


def tunnelled(ws: Workspace, *command: str) -> subprocess.CompletedProcess[str]:
    argv = list(command)
    if argv[0] == "pulumi":
        argv += ["--non-interactive", "--cwd", str(ws.project), "--stack", ws.env_name,
                 "--config-file", str(ws.config_file)]
    return run([str(ws.project / ".venv" / "bin" / "python"), "-m", "slipway.delivery.cli", "tunnel",
                "--stack", ws.env_name, "--config-file", str(ws.config_file), "--cwd", str(ws.project),
                "--", *argv], env=ws.env, cwd=ws.project)


def leftovers(ws: Workspace) -> list[str]:
    """ssh forwards or private agents of this stack still running, or their folders."""
    port = str(ws_config(ws)["slipway:database"]["tunnelPort"])  # type: ignore[index]
    ps = run(["ps", "axww", "-o", "args"]).stdout.splitlines()
    found = [line for line in ps if f"127.0.0.1:{port}:" in line or "slipway-tunnel-" in line]
    found += [str(p) for p in Path(tempfile.gettempdir()).glob("slipway-tunnel-*")]
    return found


def ws_config(ws: Workspace) -> dict[str, object]:
    return dict(yaml.safe_load(ws.config_file.read_text())["config"])


def test_1_the_database_listens_only_inside_the_server(ws: Workspace) -> None:
    port = ws.sandbox["SANDBOX_DB_HOST_PG_PORT"]
    assert run(["pg_isready", "-h", "127.0.0.1", "-p", port]).returncode != 0
    assert in_h1("pg_isready", "-h", "127.0.0.1", "-p", port).returncode == 0


def test_2_a_wrong_host_key_or_a_closed_port_fails_before_any_resource(ws: Workspace) -> None:
    server = ws_config(ws)["slipway:server"]
    assert isinstance(server, dict)
    right_key, right_port = server["hostKey"], server["port"]
    ws.update_config(**{"server.hostKey": ws.sandbox["SANDBOX_SSH_HOST_PUBLIC_KEY"]})
    done = ws.pulumi("preview")
    text = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"cannot open the database tunnel through deploy@127.0.0.1:{right_port}" in text
    assert "Host key verification failed" in text and "Nothing was changed" in text
    closed = free_port()
    ws.update_config(**{"server.hostKey": right_key, "server.port": closed})
    done = ws.up()
    text = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"through deploy@127.0.0.1:{closed}" in text and "Connection refused" in text
    assert ws.operations("app-database-role") == [] and ws.operations("app-migration-run") == []
    ws.update_config(**{"server.port": right_port})
    assert leftovers(ws) == []


def test_3_preview_works_through_the_server(ws: Workspace) -> None:
    done = ws.pulumi("preview")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert leftovers(ws) == []


def test_4_up_creates_the_role_migrates_and_deploys_through_the_server(ws: Workspace) -> None:
    done = ws.up()
    assert done.returncode == 0, failure(done)
    # Role and database exist where only the server reaches them, with the configured options.
    role = h1_psql(ws, "select rolconnlimit, rolconfig from pg_roles where rolname ="
                       f" '{ws.db_role}'")
    assert role == "30|{statement_timeout=60000}"
    assert int(h1_psql(ws, "select count(*) from django_migrations", ws.database)) > 0
    status, sha = h1_ready(ws)
    assert "200" in status and sha == ws.shas[-1]
    # The app and its GitHub secret get the URL as the server reaches the database; the
    # migration got the tunnel's (same role, same password).
    env = ws.github_state()["repos"][f"{ws.sandbox.get('SANDBOX_GITHUB_OWNER', 'slipway-bot')}/"
                                     f"{ws.github_repo}"]["environments"][ws.github_env]
    secret = env["secrets"]["DATABASE_URL"]
    url = secret.get("value") or secret.get("plaintext")
    assert f"@127.0.0.1:{ws.sandbox['SANDBOX_DB_HOST_PG_PORT']}/{ws.database}" in url
    assert leftovers(ws) == []


def test_5_a_killed_run_leaves_no_tunnel_and_the_next_run_recovers(ws: Workspace) -> None:
    ws.commit("a release to interrupt")
    log = ws.root / "killed.log"
    proc = ws.up_in_background(log)
    port = str(ws_config(ws)["slipway:database"]["tunnelPort"])  # type: ignore[index]
    deadline = time.monotonic() + 120
    while not any(f"127.0.0.1:{port}:" in line
                  for line in run(["ps", "axww", "-o", "args"]).stdout.splitlines()):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while leftovers(ws) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftovers(ws) == []
    # The recovery the README gives for a killed run, the refresh through `slipway tunnel`.
    assert ws.pulumi_bare("cancel", "--yes", "--stack", ws.env_name).returncode == 0
    refreshed = tunnelled(ws, "pulumi", "refresh", "--yes", "--clear-pending-creates", "--skip-preview")
    assert refreshed.returncode == 0, refreshed.stdout[-3000:] + refreshed.stderr[-3000:]
    done = ws.up()
    assert done.returncode == 0, failure(done)
    assert h1_ready(ws)[1] == ws.shas[-1]
    assert leftovers(ws) == []


def test_6_slipway_tunnel_pulumi_destroy_removes_everything(ws: Workspace) -> None:
    done = tunnelled(ws, "pulumi", "destroy", "--yes", "--skip-preview")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "slipway tunnel: 127.0.0.1:" in done.stderr
    assert h1_psql(ws, f"select count(*) from pg_roles where rolname = '{ws.db_role}'") == "0"
    assert h1_psql(ws, f"select count(*) from pg_database where datname = '{ws.database}'") == "0"
    assert leftovers(ws) == []
