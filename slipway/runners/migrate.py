"""Runs the migration steps in order, from wherever `pulumi up` runs.

Invoked by the Migration component's local command as `python -m slipway.runners.migrate`.
The plan (no secrets) comes in SLIPWAY_MIGRATION_PLAN; the env text with the database URL and
the app's secrets comes on stdin and goes on to each step container's stdin: it never touches
a command line, a `-e` flag or the disk. Output is streamed with every secret value masked.
The exit status is non-zero at the first failing step, or when the time limit is reached (the
step's container is then killed).

With a backup in the plan, stdin is a JSON document instead ({"env": <env text>,
"sshPrivateKey": <deploy key>}), and the backup (runners/backup.py) is taken before the first
step: if it fails, no step runs. A plan with `skip` set (a rollback) runs nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from slipway.commands import docker
from slipway.commands.backup import BACKUP_PREFIX
from slipway.commands.envfile import parse_env_file
from slipway.commands.migration import FAILED_MARK, STEP_MARK, MigrationPlan, describe, steps_args
from slipway.naming import DATABASE_URL_ENV, MIGRATION_PLAN_ENV
from slipway.runners.backup import BackupFailed, take_backup
from slipway.secret import Secret

MASK = "********"
MIGRATED_PREFIX = "migrated-image="
INCOMPLETE = -1  # run_steps: the container ended well, but not every step had begun


def secret_values(env: dict[str, str], names: Iterable[str]) -> list[str]:
    """The values of the secret `names` to hide, longest first, with passwords inside URLs."""
    values = {env[n] for n in names if n in env and len(env[n]) >= 4}
    for value in list(values):
        if "://" in value:
            password = urlsplit(value).password
            if password:
                values |= {password, unquote(password)}
    return sorted(values, key=len, reverse=True)


def mask(line: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        line = line.replace(value, MASK)
    return line


def _quiet(args: list[str]) -> None:
    subprocess.run(args, capture_output=True, check=False)


# `docker run` exits 125 when the engine itself refused the run: among other causes, a container
# of the same name exists.
ENGINE_REFUSED = 125


def run_steps(plan: MigrationPlan, env_text: str, deadline: float,
              secrets: list[str]) -> tuple[int, int]:
    """Every step in one container, output streamed and masked; (exit code, 1-based number of
    the step that failed or was running at the time limit; 0 if none; INCOMPLETE when the
    container exited 0 before every step had begun: that is no migration either).

    A container left by an interrupted run must not race this one. The container's name is the
    environment's, and the engine refuses a second container of one name, so none can: when the
    run is refused before any step began, that container (if any) is removed and the steps run
    again from the start. (Removing it first, every time, cost a docker call on the way to every
    release's first step.)"""
    code, step = _run_container(plan, env_text, deadline, secrets)
    if code == ENGINE_REFUSED and step == 0:
        print(f"slipway: docker refused to start {plan.container} (a container of that name, left"
              " by an earlier run that was interrupted?): removing any such container and running"
              " the steps again", flush=True)
        _quiet(docker.remove_force(plan.container))
        code, step = _run_container(plan, env_text, deadline, secrets)
    return code, step


def _run_container(plan: MigrationPlan, env_text: str, deadline: float,
                   secrets: list[str]) -> tuple[int, int]:
    name = plan.container
    proc = subprocess.Popen(steps_args(plan), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(env_text)
        proc.stdin.close()
    except BrokenPipeError:  # it ended before reading its env: its exit code says how
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    current, failed = [0], [0]

    def pump(stream: Iterable[str]) -> None:
        for raw in stream:
            line = raw.rstrip("\n")
            if line.startswith(STEP_MARK + " "):
                current[0] = int(line.split()[1].split("/")[0])
                index = current[0] - 1
                print(f"slipway: step {current[0]}/{len(plan.steps)}: {describe(plan.steps[index])}",
                      flush=True)
            elif line.startswith(FAILED_MARK + " "):
                failed[0] = int(line.split()[1])
            else:
                print(mask(line, secrets), flush=True)

    reader = threading.Thread(target=pump, args=(proc.stdout,), daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _quiet(docker.kill(name))
        proc.kill()
        proc.wait()
        reader.join(timeout=5)
        print(f"slipway: step {current[0]} exceeded the migration time limit of "
              f"{plan.timeout_seconds // 60} minutes; its container was killed",
              file=sys.stderr, flush=True)
        return 124, current[0]
    reader.join()
    if code == 0 and current[0] != len(plan.steps):
        return 1, INCOMPLETE
    return code, (failed[0] or current[0]) if code != 0 else 0


def read_stdin(text: str) -> tuple[str, Secret | None]:
    """(env text, deploy key): the key comes along only when a backup is to be taken."""
    if text.lstrip().startswith("{"):
        doc = json.loads(text)
        return str(doc["env"]), Secret(str(doc["sshPrivateKey"]))
    return text, None


def main() -> int:
    plan = MigrationPlan.from_json(os.environ[MIGRATION_PLAN_ENV])
    env_text, private_key = read_stdin(sys.stdin.read())
    env = parse_env_file(env_text)
    secrets = secret_values(env, plan.secret_names)
    deadline = time.monotonic() + plan.timeout_seconds
    if plan.skip:
        print(f"slipway: migrations: skipped ({plan.skip}); no step runs and no backup is taken",
              flush=True)
        print(f"{MIGRATED_PREFIX}{plan.image}", flush=True)
        return 0
    if plan.backup is not None:
        if private_key is None or DATABASE_URL_ENV not in env:
            print("slipway: backup: the runner got no deploy key or database URL; nothing was"
                  " migrated", file=sys.stderr, flush=True)
            return 1
        try:
            path = take_backup(plan.backup, sha=plan.sha, database_url=env[DATABASE_URL_ENV],
                               private_key=private_key, timeout=plan.timeout_seconds,
                               mask=lambda text: mask(text, secrets))
        except BackupFailed as err:
            print(f"slipway: backup FAILED: {mask(str(err), secrets)}. No migration step ran and"
                  " nothing was deployed.", file=sys.stderr, flush=True)
            return 1
        print(f"{BACKUP_PREFIX}{path}", flush=True)
    code, failed = run_steps(plan, env_text, deadline, secrets)
    if code != 0:
        if failed == INCOMPLETE:
            where = f"ended (exit 0) before all of its {len(plan.steps)} steps had run"
        elif failed:
            where = (f"step {failed}/{len(plan.steps)} failed (exit {code}):"
                     f" {describe(plan.steps[failed - 1])}")
        else:
            where = f"failed before its first step (exit {code})"
        print(f"slipway: migration {where}; nothing was deployed", file=sys.stderr, flush=True)
        return 1
    print(f"slipway: {len(plan.steps)} migration steps done for {plan.sha}", flush=True)
    # The last line is what the deploy consumes: the image the database is now migrated for.
    print(f"{MIGRATED_PREFIX}{plan.image}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
