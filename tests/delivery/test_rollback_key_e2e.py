"""The rollback key end to end (`slipway:rollbackKey`): the real CLI and providers, the
sandbox's sshd, Docker, nginx and GitHub double.

One environment lives through the module in order: turning the key on for a deployed stack
installs it behind its gate and publishes it to the GitHub environment, changing nothing else;
the key runs nothing but the gate's switch-back; `slipway rollback` given the published key (as
the rollback workflow is) switches both services back through it with zero failed requests; a
key that is not the stack's falls back to the deploy key; a rollback its checks refuse changes
nothing though its connections opened; `pulumi destroy` takes the key out of `authorized_keys`.
"""

from __future__ import annotations

import json
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.commands.agent import agent_path
from slipway.rollback_key import ENV_VAR, derive
from slipway.secret import Secret
from tests.delivery.processes import ProcessWatch
from tests.delivery.registry_fakes import delete_tag
from tests.delivery.test_delivery_e2e import (
    PYTHON,
    assert_up,
    module_workspace,
    outputs,
    secret_values,
)
from tests.e2e.traffic import Traffic
from tests.e2e.workspace import REPO, Workspace

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    for workspace in module_workspace(tmp_path_factory, "rollback-key"):
        workspace.update_config(**{"services.backend.standbySeconds": 600,
                                   "services.frontend.standbySeconds": 600})
        yield workspace


def authorized_keys(ws: Workspace) -> list[str]:
    home = Path(pwd.getpwnam(ws.sandbox["SANDBOX_SSH_USER"]).pw_dir)
    path = home / ".ssh" / "authorized_keys"
    return path.read_text().splitlines() if path.exists() else []


def deploy_dir(ws: Workspace) -> Path:
    return Path(str(ws.base_config()["slipway:server"]["deployDir"]))


def audit_log(ws: Workspace) -> str:
    path = deploy_dir(ws) / ".slipway" / "audit.log"
    return path.read_text() if path.exists() else ""


def published_key(ws: Workspace) -> str:
    """SLIPWAY_ROLLBACK_KEY as the GitHub environment holds it."""
    key = ws.github_secret(ENV_VAR)
    assert key is not None
    return key


def with_key(ws: Workspace, key: str, *command: str) -> subprocess.CompletedProcess[str]:
    """ssh to the sandbox's server with `key` only (no agent), asking it to run `command`."""
    key_file = ws.root / "rollback-key"
    key_file.write_text(key)
    key_file.chmod(0o600)
    sb = ws.sandbox
    return subprocess.run(
        ["ssh", "-i", str(key_file), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
         "-p", sb["SANDBOX_SSH_PORT"], "-o", f"UserKnownHostsFile={sb['SANDBOX_SSH_KNOWN_HOSTS']}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
         f"{sb['SANDBOX_SSH_USER']}@{sb['SANDBOX_SSH_HOST']}", *command],
        capture_output=True, text=True, check=False, timeout=120)


def rollback_with(ws: Workspace, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "slipway.delivery.rollback", "--stack", ws.env_name, "--cwd", str(REPO),
         "--config-file", str(ws.config_file), "--yes", *args],
        capture_output=True, text=True, check=False, env={**ws.env, ENV_VAR: key}, cwd=REPO,
        timeout=1800)


def changed(ws: Workspace) -> dict[str, str]:
    """Resource name -> what the last `up` did to it, for every resource it did not leave alone."""
    found = {}
    for event in ws.last_events:
        metadata = (event.get("resOutputsEvent") or {}).get("metadata") or {}
        if metadata.get("op") not in (None, "same"):
            found[str(metadata["urn"]).rsplit("::", 1)[1]] = str(metadata["op"])
    return found


def our_lines(ws: Workspace) -> list[str]:
    return [line for line in authorized_keys(ws)
            if line.split()[-1].startswith(f"slipway-rollback-{ws.env_name}-")]


def test_1_turning_the_key_on_for_a_deployed_stack_adds_it_and_changes_nothing_else(ws: Workspace) -> None:
    assert_up(ws.up())
    assert not our_lines(ws)
    ws.update_config(rollbackKey=True)
    assert_up(ws.up())
    assert changed(ws) == {"app-server-rollback-key": "create", f"app-github-secret-{ENV_VAR}": "create"}
    ours = our_lines(ws)
    assert len(ours) == 1
    assert ours[0].startswith('restrict,command="sh ') and f"rollback-gate-{ws.env_name}.sh\" " in ours[0]
    key = published_key(ws)
    assert key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    # The published key is the installed one, and the stack's own: derived from its deploy key.
    deploy_key = Path(ws.sandbox["SANDBOX_SSH_KEY_FILE"]).read_text()
    derived = derive(ws.env_name, ws.env_name, [Secret(deploy_key)])
    assert derived.private.reveal() == key
    assert ours[0].split('" ', 1)[1].split()[:2] == derived.public.split()[:2]
    # A second `up` changes nothing: the key and its secret are the same on every run.
    assert_up(ws.up())
    assert changed(ws) == {}
    assert published_key(ws) == key and our_lines(ws) == ours


def test_2_the_key_runs_nothing_but_the_gate(ws: Workspace) -> None:
    key = published_key(ws)
    sha = ws.shas[-1]
    digest = agent_path("/x").rsplit("agent-", 1)[1].removesuffix(".sh")
    for command in (["id"], ["cat", "/etc/passwd"], ["sh", "-c", "id"],
                    [f"switch-back {digest} backend {sha} w a; id"],
                    [f"switch-back {digest} ../../x {sha} w a"],
                    [f"switch-back {digest} backend $(id) w a"]):
        done = with_key(ws, key, *command)
        assert done.returncode == 11, (command, done.returncode, done.stdout, done.stderr)
        assert "uid=" not in done.stdout + done.stderr and "root:" not in done.stdout
        assert "slipway rollback gate: refused" in done.stderr
    # No forwarding either: sshd refuses to listen for the key (`restrict`).
    forward = with_key(ws, key, "-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:22")
    assert forward.returncode == 255 and "forwarding failed" in forward.stderr, forward.stderr
    # An agent version the server never had: the gate says so (the CLI then uses the deploy key).
    missing = with_key(ws, key, f"switch-back {'0' * 12} backend {sha} w a")
    assert missing.returncode == 10 and "is not installed here" in missing.stderr


def test_3_a_rollback_given_the_key_switches_back_through_it(ws: Workspace) -> None:
    ws.commit("second release")
    assert_up(ws.up())
    current, previous = ws.shas[-1], ws.shas[-2]
    key = published_key(ws)
    with ProcessWatch() as watch, Traffic(ws.url) as traffic:
        done = rollback_with(ws, key, "--to", previous)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "backend: switched back (rollback key); " in done.stdout
    assert "frontend: switched back (rollback key); " in done.stdout
    assert f"every server serves {previous} again" in done.stdout
    assert traffic.failures == 0, traffic.summary()
    assert traffic.shas[0] == current and traffic.shas[-1] == previous
    assert outputs(ws)["deployedSha"] == previous
    # The server's audit log says the key did it, and for whom.
    audit = [entry for entry in map(json.loads, audit_log(ws).splitlines())
             if entry["environment"] == ws.env_name and entry["operation"] == "rollback"][-2:]
    assert {(a["service"], a["operation"], a["result"], a["sha"]) for a in audit} == {
        ("backend", "rollback", "rolled-back", previous), ("frontend", "rollback", "rolled-back", previous)}
    assert all(a["actor"].startswith("rollback-key:") for a in audit)
    key_lines = [line for line in key.splitlines() if line and not line.startswith("-----")]
    output = done.stdout + done.stderr
    assert not [s for s in [*secret_values(ws), *key_lines] if s in output]
    assert not [line for line in watch.lines for s in [*secret_values(ws), *key_lines] if s in line]


def test_4_a_key_that_is_not_the_stacks_falls_back_to_the_deploy_key(ws: Workspace) -> None:
    current, target = ws.shas[-2], ws.shas[-1]  # back to the release test_3 left
    assert outputs(ws)["deployedSha"] == current
    stranger = derive("another-stack", "other", [Secret("not a deploy key")]).private.reveal()
    with Traffic(ws.url) as traffic:
        done = rollback_with(ws, stranger, "--to", target)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "backend: switched back; " in done.stdout and "frontend: switched back; " in done.stdout
    assert "(the rollback key could not: " in done.stdout
    assert traffic.failures == 0, traffic.summary()
    assert outputs(ws)["deployedSha"] == target


def test_5_a_refused_rollback_changes_nothing(ws: Workspace) -> None:
    serving, gone = ws.shas[-1], ws.shas[-2]  # the release test_4 replaced is retained, its tag goes
    host = ws.registry.split("/")[0]
    delete_tag(host, f"{ws.env_name}/projectmeats-backend", f"{ws.env_name}-{gone}")
    config_before, audit_before = ws.config_file.read_text(), audit_log(ws)
    with Traffic(ws.url) as traffic:
        done = rollback_with(ws, published_key(ws), "--to", gone)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "its image is no longer in the registry" in done.stderr and "Nothing was changed." in done.stderr
    assert "switched back" not in done.stdout
    assert traffic.failures == 0 and set(traffic.shas) == {serving}, traffic.summary()
    assert ws.config_file.read_text() == config_before and audit_log(ws) == audit_before
    assert outputs(ws)["deployedSha"] == serving


def test_6_destroy_takes_the_key_out(ws: Workspace) -> None:
    done = ws.pulumi("destroy", "--yes", "--skip-preview")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not our_lines(ws)
    assert not Path(deploy_dir(ws), ".slipway", f"rollback-gate-{ws.env_name}.sh").exists()
    # The sandbox's own deploy key is still there.
    assert [line for line in authorized_keys(ws) if line.endswith(" slipway-sandbox-deploy")]
