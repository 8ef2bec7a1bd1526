"""Runs the migration steps in order, from wherever `pulumi up` runs.

Invoked by the Migration component's local command as `python -m slipway.runners.migrate`.
The plan (no secrets) comes in SLIPWAY_MIGRATION_PLAN; the env text with the database URL and
the app's secrets comes on stdin and goes on to each step container's stdin: it never touches
a command line, a `-e` flag or the disk. Output is streamed with every secret value masked.
The exit status is non-zero at the first failing step, or when the time limit is reached (the
step's container is then killed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from slipway.commands import docker
from slipway.commands.envfile import parse_env_file
from slipway.commands.migration import MigrationPlan, describe, step_args
from slipway.naming import MIGRATION_PLAN_ENV

MASK = "********"
MIGRATED_PREFIX = "migrated-image="


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


def run_step(plan: MigrationPlan, index: int, env_text: str, deadline: float,
             secrets: list[str]) -> int:
    name = plan.container(index)
    # A container left behind by an interrupted run must not race this one.
    _quiet(docker.remove_force(name))
    print(f"slipway: step {index + 1}/{len(plan.steps)}: {describe(plan.steps[index])}",
          flush=True)
    proc = subprocess.Popen(step_args(plan, index), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(env_text)
    proc.stdin.close()

    def pump(stream: Iterable[str]) -> None:
        for line in stream:
            print(mask(line.rstrip("\n"), secrets), flush=True)

    reader = threading.Thread(target=pump, args=(proc.stdout,), daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _quiet(docker.kill(name))
        proc.kill()
        proc.wait()
        reader.join(timeout=5)
        print(f"slipway: step {index + 1} exceeded the migration time limit of "
              f"{plan.timeout_seconds // 60} minutes; its container was killed",
              file=sys.stderr, flush=True)
        return 124
    reader.join()
    return code


def main() -> int:
    plan = MigrationPlan.from_json(os.environ[MIGRATION_PLAN_ENV])
    env_text = sys.stdin.read()
    secrets = secret_values(parse_env_file(env_text), plan.secret_names)
    deadline = time.monotonic() + plan.timeout_seconds
    for index, step in enumerate(plan.steps):
        code = run_step(plan, index, env_text, deadline, secrets)
        if code != 0:
            print(f"slipway: migration step {index + 1}/{len(plan.steps)} failed (exit {code}):"
                  f" {describe(step)}; nothing was deployed", file=sys.stderr, flush=True)
            return 1
    print(f"slipway: {len(plan.steps)} migration steps done for {plan.sha}", flush=True)
    # The last line is what the deploy consumes: the image the database is now migrated for.
    print(f"{MIGRATED_PREFIX}{plan.image}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
