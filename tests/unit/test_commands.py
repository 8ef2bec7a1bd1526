"""The rendered docker invocations and scripts, tested without Pulumi."""

from __future__ import annotations

import dataclasses
import io
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slipway.commands import docker
from slipway.commands.agent import agent_path, install_command, render_agent
from slipway.commands.deploy import (
    LABEL_SHA,
    DeployPlan,
    deploy_command,
    deploy_id,
    proxy_config_command,
    remove_command,
    stage_command,
    switch_back_command,
)
from slipway.commands.envfile import parse_env_file, render_env_file
from slipway.commands.migration import (
    DJANGO_STEPS,
    FAILED_MARK,
    STEP_MARK,
    STEPS_SCRIPT,
    MigrationPlan,
    steps_args,
)
from slipway.config import DEFAULT_MIGRATION_STEPS
from slipway.naming import MIGRATION_PLAN_ENV
from slipway.runners import django_steps, migrate
from slipway.runners.migrate import mask, secret_values

SHA = "3f6c1c1e9a7b4d2e8f0a1b2c3d4e5f60718293a4"
DIGEST = "sha256:" + "ab" * 32
IMAGE = f"registry.digitalocean.com/projectmeats/projectmeats-backend:dev-{SHA}@{DIGEST}"
PROXY_IMAGE = f"docker.io/library/nginx:1.27-alpine@sha256:{'cd' * 32}"


def plan(**changes: object) -> DeployPlan:
    base = dict(
        environment="dev", service="backend", sha=SHA, image=IMAGE, migrated_image=IMAGE,
        migrates=True, port=8000, health_path="/api/v1/ready/", health_timeout_seconds=60,
        deploy_dir="/srv/slipway", command=("gunicorn", "app.wsgi", "--bind", "127.0.0.1:{port}"),
        env={"DJANGO_SETTINGS_MODULE": "app.settings.dev"}, volumes=("/srv/media:/app/media",),
        command_timeout_seconds=600, agent=agent_path("/srv/slipway"), where="deploy@203.0.113.10:22",
        internal_ports=(18000, 28000), proxy_image=PROXY_IMAGE, drain_seconds=10, stop_timeout_seconds=30,
        keep_releases=3, operation="deploy", actor="github:octocat",
    )
    base.update(changes)
    return DeployPlan(**base)  # type: ignore[arg-type]


def test_env_file_round_trips_hostile_values() -> None:
    values = {"A": "it's $HOME `id` \"q\"", "B": "a b\tc", "DATABASE_URL": "postgres://u:p@h/d"}
    text = render_env_file(values)
    assert parse_env_file(text) == values
    # What a POSIX shell reads back from the file is exactly the value, unexpanded.
    out = subprocess.run(["sh", "-c", 'set -a; . /dev/stdin; printf %s "$A"'], input=text,
                         capture_output=True, text=True, check=True).stdout
    assert out == values["A"]


def test_env_file_rejects_bad_names() -> None:
    with pytest.raises(ValueError, match="not a valid environment variable name"):
        render_env_file({"BAD-NAME": "x"})


def test_run_mounts_the_env_file_and_never_passes_secrets_as_flags() -> None:
    args = docker.run(name="dev-backend", image=IMAGE, command=["gunicorn", "app.wsgi"],
                      env_file="/srv/x.env", env={"DJANGO_SETTINGS_MODULE": "s"},
                      labels={"slipway.sha": SHA}, detach=True)
    assert args[:4] == ["docker", "run", "--name", "dev-backend"]
    assert "--volume" in args and "/srv/x.env:/run/slipway/app.env:ro" in args
    assert args[args.index("--entrypoint") + 1] == "/bin/sh"
    assert args[args.index(IMAGE) + 1] == "-c"
    assert args[-2:] == ["gunicorn", "app.wsgi"]
    assert "--env-file" not in args


def test_migration_steps_read_env_from_stdin_in_order() -> None:
    mplan = MigrationPlan(environment="dev", sha=SHA, image=IMAGE, steps=DEFAULT_MIGRATION_STEPS,
                          timeout_seconds=900, network="host")
    args = steps_args(mplan)
    # One container for every step, each step one shlex-quoted argument after the script.
    assert args[:12] == ["docker", "run", "--name", "slipway-migrate-dev", "--network", "host",
                         "--interactive", "--rm", "--label", "slipway.env=dev", "--label",
                         "slipway.role=migration"]
    assert args[-(len(mplan.steps) + 4):] == ["/bin/sh", "-c", STEPS_SCRIPT, "slipway-steps",
                                              *(shlex.join(step) for step in DEFAULT_MIGRATION_STEPS)]
    assert "/run/slipway/app.env:ro" not in " ".join(args)
    assert MigrationPlan.from_json(mplan.to_json()) == mplan


def test_the_steps_script_runs_each_step_exactly_and_stops_at_the_first_failure(tmp_path: Path) -> None:
    steps = [shlex.join(["printf", "%s|", "a b", "$HOME", "it's"]), shlex.join(["sh", "-c", "exit 7"]),
             shlex.join(["touch", str(tmp_path / "never")])]
    done = subprocess.run(["sh", "-c", STEPS_SCRIPT, "slipway-steps", *steps], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 7
    assert done.stdout.splitlines() == ["@@slipway-step@@ 1/3", "a b|$HOME|it's|@@slipway-step@@ 2/3",
                                        "@@slipway-step-failed@@ 2 7"]
    assert not (tmp_path / "never").exists()
    if shutil.which("shellcheck"):
        checked = subprocess.run(["shellcheck", "--shell=sh", "-"], input=STEPS_SCRIPT, text=True,
                                 capture_output=True, check=False)
        assert checked.returncode == 0, checked.stdout


def test_the_django_runner_passes_each_step_after_manage_py_as_json() -> None:
    processes = MigrationPlan(environment="dev", sha=SHA, image=IMAGE, steps=DEFAULT_MIGRATION_STEPS,
                              timeout_seconds=900, network="host")
    django = dataclasses.replace(processes, runner="django")
    args = steps_args(django)
    assert args[-(len(django.steps) + 4):] == [
        "python", "-c", DJANGO_STEPS, "manage.py", '["migrate_schemas", "--shared", "--fake-initial"]',
        '["create_super_tenant", "--no-input"]', '["migrate_schemas", "--tenant"]']
    assert steps_args(processes)[:-(len(processes.steps) + 4)] == args[:-(len(django.steps) + 4)]
    # A stack that does not ask for it keeps the plan it had (its migration is not run again).
    assert "runner" not in json.loads(processes.to_json())
    assert MigrationPlan.from_json(django.to_json()) == django
    assert (django_steps.STEP_MARK, django_steps.FAILED_MARK) == (STEP_MARK, FAILED_MARK)


# A stand-in for Django in a project folder: enough of `django` for the runner (setup, the command
# runner manage.py calls, database connections), and a manage.py as `startproject` writes it.
FAKE_DJANGO = {
    "django/__init__.py": """
import os
setups = []
def setup():  # as Django's: the first call sets up, later ones find it done
    if not setups:
        setups.append(os.getpid())
""",
    "django/core/__init__.py": "",
    "django/db.py": """
class _Connections:
    closed = 0
    def close_all(self):
        _Connections.closed += 1
connections = _Connections()
""",
    "django/core/management/__init__.py": """
import os, sys, threading, django
from django.db import connections
state = []
def execute_from_command_line(argv=None):
    run(argv)
def custom_runner(argv):  # a project's own runner, not through execute_from_command_line
    run(argv)
def run(argv):
    django.setup()
    if len(argv) < 2:
        print("usage: manage.py <command>")
        return
    name, args = argv[1], argv[2:]
    # What a step sees: a setup it inherited (not its own), what earlier steps left in memory,
    # how many times the connections were closed.
    print(name, args, django.setups[0] != os.getpid(), list(state), connections.closed, flush=True)
    state.append(name)
    if name == "fail":
        sys.exit(int(args[0]))
    if name == "crash":
        raise RuntimeError("boom")
    if name == "fail-saying":
        sys.exit(" ".join(args))
    if name == "killed":
        os.kill(os.getpid(), 9)
""",
    "settings_module.py": "",
    "manage.py": """
import os, sys
def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings_module")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
if __name__ == "__main__":
    main()
""",
}


def run_django_steps(tmp_path: Path, *steps: list[str], threads: bool = False,
                     manage_py: str | None = None) -> subprocess.CompletedProcess[str]:
    for name, text in {**FAKE_DJANGO, **({"manage.py": manage_py} if manage_py else {})}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    if threads:  # a setup that leaves a thread running (an error reporter's, say)
        manage = tmp_path / "manage.py"
        manage.write_text("import threading, time\nthreading.Thread(target=time.sleep, args=(2,),"
                          " daemon=True).start()\n" + manage.read_text())
    plan = MigrationPlan(environment="dev", sha=SHA, image=IMAGE, runner="django", timeout_seconds=60,
                         network="host", steps=tuple(("python3", "manage.py", *s) for s in steps))
    command = [sys.executable, *steps_args(plan)[-(len(steps) + 3):]]  # this Python for the image's
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)


def test_the_django_runner_sets_up_once_and_runs_each_step_in_a_fork_of_that_setup(tmp_path: Path) -> None:
    done = run_django_steps(tmp_path, ["migrate", "--shared"], ["seed", "a b"], ["migrate"])
    assert done.returncode == 0, done.stderr
    # Set up once (by manage.py), in the runner; each step inherits that setup and nothing of
    # the steps before it; the connections were closed once, before the first fork.
    assert done.stdout.splitlines() == [
        "@@slipway-step@@ 1/3", "migrate ['--shared'] True [] 1",
        "@@slipway-step@@ 2/3", "seed ['a b'] True [] 1",
        "@@slipway-step@@ 3/3", "migrate [] True [] 1"]


def test_the_django_runner_stops_at_the_first_failing_step_with_its_exit_code(tmp_path: Path) -> None:
    done = run_django_steps(tmp_path, ["migrate"], ["fail", "3"], ["never"])
    assert done.returncode == 3
    assert done.stdout.splitlines()[-2:] == ["fail ['3'] True [] 1", "@@slipway-step-failed@@ 2 3"]
    assert "never" not in done.stdout
    crashed = run_django_steps(tmp_path, ["crash"], ["never"])
    assert crashed.returncode == 1 and "RuntimeError: boom" in crashed.stderr
    assert crashed.stdout.splitlines()[-1] == "@@slipway-step-failed@@ 1 1"


def test_a_step_that_exits_with_a_message_or_is_killed_fails_as_a_process_would(tmp_path: Path) -> None:
    said = run_django_steps(tmp_path, ["fail-saying", "the", "schema", "is", "locked"])
    assert said.returncode == 1 and "the schema is locked" in said.stderr
    assert said.stdout.splitlines()[-1] == "@@slipway-step-failed@@ 1 1"
    killed = run_django_steps(tmp_path, ["killed"], ["never"])
    assert killed.returncode == 137  # 128 + SIGKILL, as a shell says it
    assert killed.stdout.splitlines()[-1] == "@@slipway-step-failed@@ 1 137"


def test_a_manage_py_that_ends_with_sys_exit_still_runs_every_step(tmp_path: Path) -> None:
    manage = FAKE_DJANGO["manage.py"].replace("    main()", "    sys.exit(main())")
    done = run_django_steps(tmp_path, ["migrate"], ["seed"], manage_py=manage)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["@@slipway-step@@ 1/2", "migrate [] True [] 1",
                                        "@@slipway-step@@ 2/2", "seed [] True [] 1"]


def test_a_manage_py_that_fails_after_setting_up_runs_no_step(tmp_path: Path) -> None:
    manage = FAKE_DJANGO["manage.py"].replace("    main()", "    main()\n    sys.exit(3)")
    done = run_django_steps(tmp_path, ["migrate"], manage_py=manage)
    assert done.returncode == 3
    assert "manage.py failed while Django was set up (exit 3)" in done.stderr
    assert "@@slipway-step@@" not in done.stdout


def test_a_manage_py_that_fails_before_setting_up_fails_its_first_step_in_its_own_words(
        tmp_path: Path) -> None:
    manage = FAKE_DJANGO["manage.py"].replace("def main():", "def main():\n    sys.exit('no settings')")
    done = run_django_steps(tmp_path, ["migrate"], ["never"], manage_py=manage)
    assert done.returncode == 1 and "no settings" in done.stderr
    assert done.stdout.splitlines()[-2:] == ["@@slipway-step@@ 1/2", "@@slipway-step-failed@@ 1 1"]


def test_a_manage_py_of_its_own_kind_gets_a_process_per_step(tmp_path: Path) -> None:
    manage = FAKE_DJANGO["manage.py"].replace(
        "    from django.core.management import execute_from_command_line\n"
        "    execute_from_command_line(sys.argv)",
        "    from django.core.management import custom_runner\n    custom_runner(sys.argv)")
    done = run_django_steps(tmp_path, ["migrate"], ["seed"], manage_py=manage)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # Its setup ran it without a command (as `python manage.py` alone would); then each step ran
    # as `python manage.py <step>` (its own setup, nothing inherited).
    assert lines[:2] == ["usage: manage.py <command>", "slipway: manage.py does not run Django's"
                         " execute_from_command_line: each step runs as a process of its own"]
    assert lines[2:] == ["@@slipway-step@@ 1/2", "migrate [] False [] 0",
                         "@@slipway-step@@ 2/2", "seed [] False [] 0"]
    # The same when it ends in sys.exit(0), or exits 2 without a command (as argparse does).
    ending = manage + "    sys.exit(0)\n"
    needs_a_command = manage.replace("def main():", "def main():\n    if len(sys.argv) < 2:\n"
                                     "        sys.exit(2)")
    for variant in (ending, needs_a_command):
        done = run_django_steps(tmp_path, ["migrate"], manage_py=variant)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "migrate [] False [] 0"


def test_a_fresh_process_killed_by_a_signal_fails_as_a_shell_says_it(tmp_path: Path) -> None:
    done = run_django_steps(tmp_path, ["killed"], ["never"], threads=True)  # a process per step
    assert done.returncode == 137
    assert done.stdout.splitlines()[-1] == "@@slipway-step-failed@@ 1 137"


def test_a_setup_that_starts_threads_runs_each_step_as_a_fresh_process(tmp_path: Path) -> None:
    done = run_django_steps(tmp_path, ["migrate"], ["seed"], threads=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "slipway: Django's setup started threads: each step runs as a process of its own"
    # A process of its own: its own setup; nothing closed by the runner.
    assert lines[1:] == ["@@slipway-step@@ 1/2", "migrate [] False [] 0",
                         "@@slipway-step@@ 2/2", "seed [] False [] 0"]


def test_a_steps_container_that_ends_well_before_every_step_began_is_a_failed_migration(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # In place of the container: one that says it began step 1 of 2, then exits 0.
    monkeypatch.setattr(migrate, "steps_args", lambda plan: ["sh", "-c", "echo '@@slipway-step@@ 1/2'"])
    monkeypatch.setattr(migrate, "_quiet", lambda args: None)  # no leftover container to remove
    plan = MigrationPlan(environment="dev", sha=SHA, image=IMAGE, timeout_seconds=60, network="host",
                         steps=DEFAULT_MIGRATION_STEPS[:2])
    monkeypatch.setenv(MIGRATION_PLAN_ENV, plan.to_json())
    monkeypatch.setattr(sys, "stdin", io.StringIO("SECRET_KEY=x\n"))
    assert migrate.main() == 1
    out, err = capsys.readouterr()
    assert "slipway: migration ended (exit 0) before all of its 2 steps had run; nothing was deployed" in err
    assert migrate.MIGRATED_PREFIX not in out


def test_a_steps_container_that_ends_before_reading_its_env_is_a_failed_migration(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # It closes its stdin at once and exits 3: more env than a pipe holds cannot be written.
    monkeypatch.setattr(migrate, "steps_args", lambda plan: ["sh", "-c", "exec 0<&-; sleep 0.2; exit 3"])
    monkeypatch.setattr(migrate, "_quiet", lambda args: None)
    plan = MigrationPlan(environment="dev", sha=SHA, image=IMAGE, timeout_seconds=60, network="host",
                         steps=DEFAULT_MIGRATION_STEPS)
    monkeypatch.setenv(MIGRATION_PLAN_ENV, plan.to_json())
    monkeypatch.setattr(sys, "stdin", io.StringIO("SECRET_KEY=" + "x" * 200_000 + "\n"))
    assert migrate.main() == 1
    assert "migration failed before its first step (exit 3)" in capsys.readouterr().err


def test_migration_refuses_an_image_not_pinned_by_digest() -> None:
    mplan = MigrationPlan(environment="dev", sha=SHA, image="x/app:dev-latest",
                          steps=DEFAULT_MIGRATION_STEPS, timeout_seconds=900, network="host")
    with pytest.raises(ValueError, match="not pinned by digest"):
        steps_args(mplan)


def test_deploy_refuses_mutable_or_unmigrated_images() -> None:
    with pytest.raises(ValueError, match="not pinned by digest"):
        deploy_command(plan(image="x/app:dev-latest", migrated_image="x/app:dev-latest"))
    other = IMAGE.replace("ab" * 32, "cd" * 32)
    with pytest.raises(ValueError, match="the migration ran against"):
        deploy_command(plan(migrated_image=other))
    # A service that does not migrate only waits for the migration.
    assert "docker" in deploy_command(plan(migrated_image=other, migrates=False))


def test_deploy_is_one_short_call_to_the_agent() -> None:
    argv = shlex.split(deploy_command(plan()))
    agent = agent_path("/srv/slipway")
    split = argv.index("--")
    assert argv[:6] == ["timeout", "--kill-after=15", "600", "sh", agent, "deploy"]
    options = dict(zip(argv[6:split:2], argv[7:split:2], strict=True))
    assert options == {
        "--env": "dev", "--service": "backend", "--sha": SHA, "--image": IMAGE,
        "--health-path": "/api/v1/ready/",
        "--health-seconds": "60", "--dir": "/srv/slipway/dev/backend", "--root": "/srv/slipway",
        "--id": deploy_id(plan()), "--ports": "18000,28000", "--port": "8000", "--proxy-image": PROXY_IMAGE,
        "--drain-seconds": "10", "--stop-seconds": "30", "--standby-seconds": "0", "--keep": "3",
        "--operation": "deploy",
        "--where": "deploy@203.0.113.10:22", "--actor": "github:octocat",
    }
    create = argv[split + 1:]
    assert create[:4] == ["docker", "create", "--name", "@NAME@"]
    assert f"{LABEL_SHA}={SHA}" in create and f"org.opencontainers.image.revision={SHA}" in create
    assert "APP_SHA=" + SHA in create and "PORT=@PORT@" in create
    assert "slipway.previous-sha=@PREVIOUS_SHA@" in create and "slipway.env-hash=@ENV_HASH@" in create
    # The env file is copied into the container by the agent: never a mount, a flag or an argument.
    assert not any(a.endswith(":/run/slipway/app.env:ro") for a in create) and "--env-file" not in create
    assert create[-4:] == ["gunicorn", "app.wsgi", "--bind", "127.0.0.1:@PORT@"]
    # Short: no script on the command line, so a failure's message is the agent's own words.
    assert "\n" not in deploy_command(plan()) and len(deploy_command(plan())) < 2500


def test_a_rollout_pause_and_a_proxy_not_on_loopback_are_passed_to_the_agent() -> None:
    def options(**changes: Any) -> dict[str, str]:
        argv = shlex.split(deploy_command(dataclasses.replace(plan(), **changes)))
        split = argv.index("--")
        return dict(zip(argv[6:split:2], argv[7:split:2], strict=True))

    assert "--pause" not in options() and "--proxy-host" not in options()
    assert options(pause_seconds=30)["--pause"] == "30"
    assert options(proxy_listen="203.0.113.10")["--proxy-host"] == "203.0.113.10"
    assert "--proxy-host" not in options(proxy_listen="0.0.0.0")  # noqa: S104 (asked on loopback)
    assert options(proxy_listen="[::]")["--proxy-host"] == "[::1]"


def test_stage_is_the_deploys_first_half_and_never_pauses() -> None:
    paused = dataclasses.replace(plan(), pause_seconds=30, migrated_image="not-yet")
    staged = shlex.split(stage_command(paused))
    assert staged[staged.index(agent_path("/srv/slipway")) + 1] == "stage"
    assert "--pause" not in staged  # a rollout's pause is before the switch, not the pull
    # It needs no migration (the deploy does) but the same digest-pinned image.
    with pytest.raises(ValueError, match="not pinned by digest"):
        stage_command(dataclasses.replace(plan(), image="registry.example.com/app:dev-latest"))
    deployed = shlex.split(deploy_command(dataclasses.replace(paused, migrated_image=paused.image,
                                                              pause_seconds=0)))
    assert staged[staged.index("--"):] == deployed[deployed.index("--"):]
    # The agent's stage stops before anything starts: created, env inside, not started.
    agent = render_agent()
    deploy = agent[agent.index("deploy() {"):agent.index("proxy_config() {")]
    assert deploy.index('docker cp - "$name:/run"') < deploy.index("staged $name") \
        < deploy.index('docker start "$name"')


def test_remove_only_names_its_own_service_and_deploy() -> None:
    argv = shlex.split(remove_command(plan()))
    assert argv[4:] == [agent_path("/srv/slipway"), "remove", "--env", "dev", "--service", "backend",
                        "--dir", "/srv/slipway/dev/backend", "--id", deploy_id(plan())]
    assert deploy_id(plan()) != deploy_id(plan(sha="0" * 40))
    assert deploy_id(plan()) != deploy_id(plan(internal_ports=(18001, 28000)))


def test_proxy_config_is_written_by_the_agent() -> None:
    assert shlex.split(proxy_config_command(plan()))[4:] == [
        agent_path("/srv/slipway"), "proxy-config", "--dir", "/srv/slipway/dev/backend",
        "--container", "dev-backend-proxy"]


def test_agent_is_valid_sh_keeps_the_previous_release_until_healthy_and_passes_shellcheck() -> None:
    agent = render_agent()
    subprocess.run(["sh", "-n"], input=agent, text=True, check=True)
    assert "StrictHostKeyChecking" not in agent
    # The new release is health-checked on its own port before the proxy is pointed at it, and the
    # live one is retired (drained, then stopped) only after that; the next deploy waits for that
    # retirement before it takes the retired release's port.
    deploy = agent[agent.index("deploy() {"):agent.index("proxy_config() {")]
    assert deploy.index("wait_retired") < deploy.index("new_port=") \
        < deploy.index('wait_healthy "$name" "$url"') < deploy.index('point_proxy "$new_port"') \
        < deploy.index('retire_in_background "$live"')
    retire = agent[agent.index("retire() {"):agent.index("deploy() {")]
    assert retire.index('sleep "$drain"') < retire.index('docker stop --time "$stop_seconds" "$live"')
    if shutil.which("shellcheck"):
        checked = subprocess.run(["shellcheck", "--shell=sh", "-"], input=agent, text=True,
                                 capture_output=True, check=False)
        assert checked.returncode == 0, checked.stdout


def test_switch_back_installs_the_agent_then_is_one_short_call_with_the_servers_own_settings() -> None:
    install, call = switch_back_command("/srv/slipway/", "prod", "backend", SHA,
                                        "deploy@203.0.113.10:22", "github:octocat").split(" && ")
    assert install == install_command("/srv/slipway")
    assert shlex.split(call) == [
        "timeout", "--kill-after=15", "300", "sh", agent_path("/srv/slipway"), "switch-back",
        "--dir", "/srv/slipway/prod/backend", "--sha", SHA, "--where", "deploy@203.0.113.10:22",
        "--actor", "github:octocat"]


def test_agent_stands_a_replaced_release_by_after_its_drain_and_a_deploy_or_switch_back_ends_it() -> None:
    agent = render_agent()
    retire = agent[agent.index("retire() {"):agent.index("deploy() {")]
    # Drained first, then standing by (named in DIR/standby), then stopped.
    assert retire.index('sleep "$drain"') < retire.index('> "$dir/standby"') \
        < retire.index('sleep "$standby"') < retire.index('docker stop --time "$stop_seconds" "$live"')
    # Before its stop begins, it says so: a switch-back then waits for the stop, then starts it.
    assert retire.index('> "$dir/stopping"') < retire.index('docker stop --time "$stop_seconds" "$live"')
    waiting = agent[agent.index("wait_retired() {"):agent.index("retire_in_background() {")]
    # A standby has no request in it: it ends as soon as it begins; a drain is waited for.
    assert waiting.index('while kill -0 "$retiring_pid"') < waiting.index('[ -s "$dir/standby" ]') \
        < waiting.index('kill "$retiring_pid"') < waiting.index("docker stop") \
        < waiting.index('-ge "$deadline"')
    back = agent[agent.index("switch_back() {"):agent.index('case "${1:-}" in')]
    # The same gate and switch as a deploy; the live release is retired only after the switch.
    assert back.index('read -r env service root') < back.index("lock_service") \
        < back.index("retirement") < back.index('[ -s "$dir/stopping" ]') \
        < back.index('docker wait "$name"') < back.index("wait_healthy") \
        < back.index('point_proxy "$back_port"') < back.index('> "$dir/.active.tmp"') \
        < back.index('retire_in_background "$live"')
    assert back.count("exit 3") == 4  # every "nothing to switch back to here" is exit 3
    # Deploys, stages and switch-backs of a service take turns on a server.
    deploy = agent[agent.index("deploy() {"):agent.index("proxy_config() {")]
    assert deploy.index("lock_service") < deploy.index('[ -s "$dir/active" ]')
    assert "unlock_service' EXIT" in deploy and "trap unlock_service EXIT" in back


def test_agent_install_is_atomic_and_named_by_content(tmp_path: Path) -> None:
    line = install_command(str(tmp_path))
    for _ in range(2):  # the second install finds it there and only drains stdin
        subprocess.run(line, shell=True, input=render_agent(), text=True, check=True)  # noqa: S602
    installed = Path(agent_path(str(tmp_path)))
    assert installed.read_text() == render_agent()
    assert sorted(p.name for p in installed.parent.iterdir()) == [installed.name]
    assert agent_path("/x", "other text") != agent_path("/x")


def test_masking_hides_values_and_url_passwords() -> None:
    env = {"DATABASE_URL": "postgres://app:p%40ss-word@db:5432/app", "SECRET_KEY": "abc123456"}
    env["PUBLIC_DOMAIN"] = "localhost"
    secrets = secret_values(env, ["DATABASE_URL", "SECRET_KEY"])
    line = "connect postgres://app:p%40ss-word@db failed; key abc123456; pw p@ss-word; localhost"
    masked = mask(line, secrets)
    assert "abc123456" not in masked and "p%40ss-word" not in masked and "p@ss-word" not in masked
    assert masked.endswith("; localhost")  # plain settings stay readable
