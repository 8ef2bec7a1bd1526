"""The rollback key (slipway.rollback_key) and its gate on the server
(slipway.commands.rollback_gate): derived keys OpenSSH reads, the gate run by a real `sh` against
a stand-in agent, and the `authorized_keys` edits run against a temporary home."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from slipway.commands.agent import agent_path
from slipway.commands.rollback_gate import (
    AGENT_MISSING,
    GATE_REFUSED,
    authorized_line,
    gate_path,
    gate_request,
    install_key_command,
    line_comment,
    remove_key_command,
    render_gate,
    safe_word,
)
from slipway.delivery.rollback import take_rollback_key
from slipway.delivery.switch_back import once
from slipway.rollback_key import ENV_VAR, derive
from slipway.secret import Secret

SHA = "0123456789abcdef0123456789abcdef01234567"
DEPLOY = [Secret("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")]


def test_the_key_is_the_same_on_every_run_and_openssh_reads_it(tmp_path: Path) -> None:
    key = derive("prod", "prod", DEPLOY)
    assert key == derive("prod", "prod", DEPLOY)  # no state, no diff on a no-op `up`
    assert key.public.startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5") and key.public.endswith(
        " slipway-rollback-prod")
    assert "[secret]" in repr(key) and "OPENSSH" not in repr(key)
    if shutil.which("ssh-keygen"):
        path = tmp_path / "key"
        path.write_text(key.private.reveal())
        path.chmod(0o600)
        shown = subprocess.run(["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True,
                               check=True)
        assert shown.stdout.strip() == key.public


def test_another_stack_or_deploy_key_gives_another_key_and_order_does_not_matter() -> None:
    two = [Secret("key one"), Secret("key two")]
    assert derive("prod", "prod", two) == derive("prod", "prod", list(reversed(two)))
    others = {derive("prod", "prod", two).public.split()[1], derive("uat", "prod", two).public.split()[1],
              derive("prod", "prod", [Secret("key one")]).public.split()[1]}
    assert len(others) == 3


def test_the_authorized_keys_line_forces_the_gate_with_nothing_else_allowed() -> None:
    public = derive("dev", "dev", DEPLOY).public
    comment = line_comment("dev", "dev", "web1", "/srv/slipway/")
    assert comment == line_comment("dev", "dev", "web1", "/srv/slipway")
    assert len({comment, line_comment("dev2", "dev", "web1", "/srv/slipway"),
                line_comment("dev", "dev", "web2", "/srv/slipway"),
                line_comment("dev", "dev", "web1", "/srv/other")}) == 4
    assert comment.startswith("slipway-rollback-dev-")
    key_type, blob, _ = public.split()
    assert authorized_line("/srv/slipway/", "dev", public, comment) == (
        f'restrict,command="sh /srv/slipway/.slipway/rollback-gate-dev.sh" {key_type} {blob} {comment}')


def run_gate(deploy_dir: Path, request: str | None) -> subprocess.CompletedProcess[str]:
    gate = deploy_dir / "gate.sh"
    gate.write_text(render_gate(str(deploy_dir), "dev"))
    env = {"PATH": os.environ["PATH"], **({"SSH_ORIGINAL_COMMAND": request} if request is not None else {})}
    return subprocess.run(["sh", str(gate)], capture_output=True, text=True, env=env, check=False)


@pytest.fixture
def deploy_dir(tmp_path: Path) -> Path:
    """A deploy dir whose installed agent (this version's) only prints what it was asked."""
    agent = Path(agent_path(str(tmp_path)))
    agent.parent.mkdir(parents=True)
    agent.write_text('printf "%s|" "$@"\n')
    return tmp_path


def test_the_gate_runs_the_installed_agents_switch_back_of_its_own_environment(deploy_dir: Path) -> None:
    done = run_gate(deploy_dir, gate_request(str(deploy_dir), "backend", SHA, "deploy@h:22", "github:bob"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"switch-back|--dir|{deploy_dir}/dev/backend|--sha|{SHA}|"
                           "--where|deploy@h:22|--actor|rollback-key:github:bob|")


@pytest.mark.parametrize("request_text", [
    None, "", "id", "sh -c id", f"switch-back {'a' * 12} backend {SHA} w",
    f"switch-back {'a' * 12} backend {SHA} w a extra",
    f"deploy {'a' * 12} backend {SHA} w a",
    f"switch-back {'a' * 12} backend {SHA} w a;id",
    f"switch-back {'a' * 12} backend;id {SHA} w a",
    f"switch-back {'a' * 12} ../prod/backend {SHA} w a",
    f"switch-back {'a' * 12} -backend {SHA} w a",
    f"switch-back {'a' * 12} Backend {SHA} w a",
    f"switch-back {'a' * 12} backend $(id) w a",
    f"switch-back {'a' * 12} backend * w a",
    f"switch-back {'a' * 12} backend {SHA[:12]} w a",
    f"switch-back {'a' * 11} backend {SHA} w a",
    f"switch-back ../../x.sh backend {SHA} w a",
    f"switch-back {'a' * 12} backend {SHA} w`id` a",
    f"switch-back {'a' * 12} backend {SHA} w a|id",
])
def test_the_gate_refuses_anything_else(deploy_dir: Path, request_text: str | None) -> None:
    done = run_gate(deploy_dir, request_text)
    assert done.returncode == GATE_REFUSED, (done.stdout, done.stderr)
    assert done.stdout == "" and done.stderr.startswith("slipway rollback gate: refused: ")


def test_the_gate_says_when_that_agent_version_is_not_installed(deploy_dir: Path) -> None:
    done = run_gate(deploy_dir, f"switch-back {'0' * 12} backend {SHA} w a")
    assert done.returncode == AGENT_MISSING
    assert done.stderr.strip() == f"slipway rollback gate: agent {'0' * 12} is not installed here"


def test_the_gate_passes_shellcheck() -> None:
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed")
    checked = subprocess.run(["shellcheck", "--shell=sh", "-"], input=render_gate("/srv/slipway", "dev"),
                             text=True, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stdout


def test_the_request_names_this_versions_agent_and_words_the_gate_accepts() -> None:
    digest = agent_path("/srv/slipway").rsplit("agent-", 1)[1].removesuffix(".sh")
    assert gate_request("/srv/slipway", "backend", SHA, "web1 (deploy@[::1]:22)", "ann o'neil") == (
        f"switch-back {digest} backend {SHA} web1__deploy@_::1_:22_ ann_o_neil")
    assert safe_word("--x") == "x" and safe_word("") == "_"


def edit(home: Path, command: str, stdin: str = "") -> None:
    subprocess.run(["sh", "-c", command], input=stdin, text=True, check=True,
                   env={"PATH": os.environ["PATH"], "HOME": str(home)})


def install(home: Path, deploy_dir: Path, public: str, comment: str, environment: str = "dev") -> None:
    edit(home, install_key_command(str(deploy_dir), environment, public, comment),
         render_gate(str(deploy_dir), environment))


def test_installing_replaces_only_this_servers_line_and_removing_takes_it_out(tmp_path: Path) -> None:
    home, deploy_dir = tmp_path / "home", tmp_path / "srv"
    (home / ".ssh").mkdir(parents=True)
    keys = home / ".ssh" / "authorized_keys"
    keys.write_text("ssh-ed25519 AAAAdeploy deploy@ci\n"
                    'restrict,command="sh /x" ssh-ed25519 AAAAother slipway-rollback-prod-0123456789\n')
    old, new = derive("dev", "dev", [Secret("one")]).public, derive("dev", "dev", [Secret("two")]).public
    ours = line_comment("dev", "dev", "web1", str(deploy_dir))
    install(home, deploy_dir, old, ours)
    install(home, deploy_dir, new, ours)  # a new deploy key: the line is replaced, not added
    lines = keys.read_text().splitlines()
    assert lines == ["ssh-ed25519 AAAAdeploy deploy@ci",
                     'restrict,command="sh /x" ssh-ed25519 AAAAother slipway-rollback-prod-0123456789',
                     authorized_line(str(deploy_dir), "dev", new, ours)]
    assert keys.stat().st_mode & 0o777 == 0o600
    gate = Path(gate_path(str(deploy_dir), "dev"))
    assert gate.read_text() == render_gate(str(deploy_dir), "dev") and gate.stat().st_mode & 0o777 == 0o755
    # Another stack of the same environment name on this deploy user (its own deploy dir), and
    # this server's resource under a new name (created before the old one is deleted): each
    # removal takes its own line only, and the gate stays while a line runs it.
    theirs = line_comment("other", "dev", "web1", str(tmp_path / "other"))
    install(home, tmp_path / "other", new, theirs)
    renamed = line_comment("dev", "dev", "web-a", str(deploy_dir))
    install(home, deploy_dir, new, renamed)
    edit(home, remove_key_command(str(deploy_dir), "dev", ours))
    assert [line.split()[-1] for line in keys.read_text().splitlines()] == [
        "deploy@ci", "slipway-rollback-prod-0123456789", theirs, renamed]
    assert gate.exists()
    edit(home, remove_key_command(str(deploy_dir), "dev", renamed))
    assert not gate.exists() and Path(gate_path(str(tmp_path / "other"), "dev")).exists()
    assert [line.split()[-1] for line in keys.read_text().splitlines()] == [
        "deploy@ci", "slipway-rollback-prod-0123456789", theirs]
    assert not [p for p in (home / ".ssh").iterdir() if p.name.startswith(".slipway")]  # no lock, no temp


def test_the_edit_writes_through_a_symlink_and_takes_over_a_stale_lock(tmp_path: Path) -> None:
    home, deploy_dir = tmp_path / "home", tmp_path / "srv"
    (home / ".ssh").mkdir(parents=True)
    real = tmp_path / "managed_keys"
    real.write_text("ssh-ed25519 AAAAdeploy deploy@ci\n")
    (home / ".ssh" / "authorized_keys").symlink_to(real)
    lock = home / ".ssh" / ".slipway-keys.lock"
    lock.mkdir()
    os.utime(lock, (0, 0))  # left by an edit killed long ago
    comment = line_comment("dev", "dev", "web1", str(deploy_dir))
    install(home, deploy_dir, derive("dev", "dev", DEPLOY).public, comment)
    assert (home / ".ssh" / "authorized_keys").is_symlink()
    assert real.read_text().splitlines()[-1].endswith(comment) and not lock.exists()


def test_removing_where_there_is_no_authorized_keys_creates_none(tmp_path: Path) -> None:
    home = tmp_path / "home"
    edit(home, remove_key_command(str(tmp_path / "srv"), "dev", "slipway-rollback-dev-0123456789"))
    assert sorted(p.name for p in (home / ".ssh").iterdir()) == []


def test_an_edit_stopped_by_a_signal_lets_the_lock_go(tmp_path: Path) -> None:
    home, deploy_dir = tmp_path / "home", tmp_path / "srv"
    command = install_key_command(str(deploy_dir), "dev", derive("dev", "dev", DEPLOY).public, "c")
    # The gate comes on stdin: left open, the edit waits there, holding the lock. Then its SSH
    # session ends: a hangup for every process of it.
    edit_run = subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE, text=True,
                                env={"PATH": os.environ["PATH"], "HOME": str(home)}, start_new_session=True)
    lock = home / ".ssh" / ".slipway-keys.lock"
    assert edit_run.stdin is not None
    edit_run.stdin.write("#!/bin/sh\n")  # half a gate: the edit is copying it when the hangup comes
    edit_run.stdin.flush()
    for _ in range(1000):
        if [p for p in deploy_dir.rglob(".gate.*") if p.stat().st_size]:
            break
        time.sleep(0.01)
    assert lock.exists()
    os.killpg(edit_run.pid, signal.SIGHUP)
    assert edit_run.wait(timeout=10) != 0
    for _ in range(500):  # the edit's own shell cleans up as it goes
        if not lock.exists():
            break
        time.sleep(0.01)
    assert not lock.exists() and not [p for p in (home / ".ssh").iterdir() if p.name.startswith(".slipway")]
    assert not list(deploy_dir.rglob(".gate.*")) and not (home / ".ssh" / "authorized_keys").exists()
    install(home, deploy_dir, derive("dev", "dev", DEPLOY).public, "c")  # the next one goes ahead
    assert (home / ".ssh" / "authorized_keys").read_text().endswith(" c\n")


def test_the_edits_pass_shellcheck() -> None:
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed")
    for command in (install_key_command("/srv/s", "dev", "ssh-ed25519 AAAA x", "c"),
                    remove_key_command("/srv/s", "dev", "c")):
        script = shlex.split(command)[2]
        checked = subprocess.run(["shellcheck", "--shell=sh", "-"], input=script, text=True,
                                 capture_output=True, check=False)
        assert checked.returncode == 0, checked.stdout


def test_the_cli_takes_the_key_out_of_its_environment() -> None:
    environ = {ENV_VAR: "-----BEGIN OPENSSH PRIVATE KEY-----\n...", "PATH": "/bin"}
    key = take_rollback_key(environ)
    assert key is not None and key.reveal().startswith("-----BEGIN") and environ == {"PATH": "/bin"}
    assert take_rollback_key({ENV_VAR: " \n"}) is None and take_rollback_key({}) is None


def test_the_deploy_keys_are_read_once_whatever_the_number_of_callers() -> None:
    calls: list[int] = []

    def read() -> dict[str, Secret]:
        calls.append(1)
        raise OSError("no passphrase")

    cached = once(read)
    for _ in range(3):
        with pytest.raises(OSError, match="no passphrase"):
            cached()
    assert calls == [1]
