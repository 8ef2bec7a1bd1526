"""The migration steps of `slipway:migration.runner: django`, inside the release image.

Passed to the image's Python as `python -c <this file's text> <manage.py> <step> ...`, each step
the JSON list of its arguments after `manage.py`. Django is set up once, as manage.py sets it up
(its settings module, its sys.path); then each step runs in a process forked from that state,
as `python manage.py <step>` would run it, without paying the setup again (a few hundred ms a
step for a Django project). A step starts from the same state as the others, never from what an
earlier step left behind in memory, and no database connection crosses a fork.

If the setup started threads (an error reporter, a metrics exporter), forking could deadlock a
step on a lock one of them held, so each step then runs as a fresh process of its own instead.
Prints the runner's marks (slipway.commands.migration) and stops at the first failing step with
its exit code. Runs on the image's own Python: standard library only, Python 3.8 and later.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

STEP_MARK = "@@slipway-step@@"  # slipway.commands.migration.STEP_MARK
FAILED_MARK = "@@slipway-step-failed@@"  # slipway.commands.migration.FAILED_MARK


def exit_code(status: int) -> int:
    """A waitpid status as a shell reports it: the exit code, or 128 + the signal."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else 1


def set_up(manage: str) -> Callable[[list[str]], Any]:
    """Django set up as manage.py sets it up; returns its command runner for the steps."""
    django: Any = importlib.import_module("django")
    management: Any = importlib.import_module("django.core.management")
    run_command: Callable[[list[str]], Any] = management.execute_from_command_line
    set_up_by_manage_py: list[bool] = []

    def set_up_only(argv: Any = None) -> None:
        django.setup()
        set_up_by_manage_py.append(True)

    # manage.py sets DJANGO_SETTINGS_MODULE and sys.path, then calls this: set up, run nothing.
    management.execute_from_command_line = set_up_only
    try:
        sys.argv = [manage]
        runpy.run_path(manage, run_name="__main__")
    finally:
        management.execute_from_command_line = run_command
    if not set_up_by_manage_py:  # a manage.py of its own kind, that calls no command runner
        django.setup()
    # A connection opened while setting up must not be shared by the forks.
    importlib.import_module("django.db").connections.close_all()
    return run_command


def run_forked(run_command: Callable[[list[str]], Any], manage: str, step: list[str]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            sys.argv = [manage, *step]
            run_command(sys.argv)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return exit_code(os.waitpid(pid, 0)[1])


def run_fresh(python: str, manage: str, step: list[str]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    return subprocess.call([python, manage, *step])


def main() -> int:
    manage, steps = sys.argv[1], [json.loads(arg) for arg in sys.argv[2:]]
    python = sys.executable or "python3"
    # As `python manage.py` would have it: manage.py's folder first on sys.path.
    sys.path.insert(0, os.path.dirname(os.path.abspath(manage)))
    run_command = set_up(manage)
    forking = threading.active_count() == 1
    if not forking:
        print("slipway: Django's setup started threads: each step runs as a process of its own",
              flush=True)
    for number, step in enumerate(steps, 1):
        print(f"{STEP_MARK} {number}/{len(steps)}", flush=True)
        code = run_forked(run_command, manage, step) if forking else run_fresh(python, manage, step)
        if code != 0:
            print(f"{FAILED_MARK} {number} {code}", flush=True)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
