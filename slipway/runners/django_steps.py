"""The migration steps of `slipway:migration.runner: django`, inside the release image.

Passed to the image's Python as `python -c <this file's text> <manage.py> <step> ...`, each step
the JSON list of its arguments after `manage.py`. Django is set up once, as manage.py sets it up
(its settings module, its sys.path; with sys.argv as `[manage.py]`); then each step runs in a
process forked from that state, as `python manage.py <step>` would run it, without paying the
setup again (a few hundred ms a step for a Django project). A step starts from the same state as
the others, never from what an earlier step left behind in memory, no database connection
crosses a fork, and a step ends as a process would: its connections closed, its logs flushed.

If the setup started threads (an error reporter, a metrics exporter), forking could deadlock a
step on a lock one of them held, so each step then runs as a fresh process of its own instead;
so it does when manage.py does not set Django up through `execute_from_command_line`.
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


def system_exit_code(stop: SystemExit) -> int:
    """The exit code Python gives `raise SystemExit(code)`; a message goes to stderr."""
    if stop.code is None or isinstance(stop.code, int):
        return stop.code or 0
    print(stop.code, file=sys.stderr, flush=True)
    return 1


def threads_running() -> int:
    """Every thread of this process, those Python did not start included (a C extension's)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


class SetUpFailed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def set_up(manage: str) -> Callable[[list[str]], Any] | None:
    """Django set up as manage.py sets it up; its command runner for the steps, or None when
    manage.py set nothing up through it (a manage.py of its own kind: each step then runs as
    `python manage.py <step>` itself)."""
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
    except SystemExit as stop:  # `sys.exit(main())`: fine once it has set up
        code = system_exit_code(stop)
        if code != 0 and set_up_by_manage_py:
            raise SetUpFailed(code) from None
    finally:
        management.execute_from_command_line = run_command
    if not set_up_by_manage_py:
        return None
    # A connection opened while setting up must not be shared by the forks.
    importlib.import_module("django.db").connections.close_all()
    return run_command


def run_forked(run_command: Callable[[list[str]], Any], manage: str, step: list[str]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sys.argv = [manage, *step]
            run_command(sys.argv)
            code = 0
        except SystemExit as stop:
            code = system_exit_code(stop)
        except BaseException:
            traceback.print_exc()
        finally:
            # What the end of a process of its own does: its connections closed, its logs and
            # output written. Its exit does not fail a step that succeeded, nor pass one that failed.
            try:
                importlib.import_module("django.db").connections.close_all()
                importlib.import_module("logging").shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
            except BaseException:  # noqa: S110 - nothing is left to tell it to
                pass
            os._exit(code)
    return exit_code(os.waitpid(pid, 0)[1])


def run_fresh(python: str, manage: str, step: list[str]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    code = subprocess.call([python, manage, *step])
    return 128 - code if code < 0 else code  # killed by a signal: as a shell says it


def main() -> int:
    manage, steps = sys.argv[1], [json.loads(arg) for arg in sys.argv[2:]]
    python = sys.executable or "python3"
    # As `python manage.py` would have it: manage.py's folder first on sys.path.
    sys.path.insert(0, os.path.dirname(os.path.abspath(manage)))
    try:
        run_command = set_up(manage)
    except SetUpFailed as failed:
        print(f"slipway: {manage} failed while Django was set up (exit {failed.code})",
              file=sys.stderr, flush=True)
        return failed.code
    if run_command is None:
        print(f"slipway: {manage} does not run Django's execute_from_command_line: each step runs"
              " as a process of its own", flush=True)
    elif threads_running() > 1:
        print("slipway: Django's setup started threads: each step runs as a process of its own",
              flush=True)
        run_command = None
    for number, step in enumerate(steps, 1):
        print(f"{STEP_MARK} {number}/{len(steps)}", flush=True)
        code = (run_forked(run_command, manage, step) if run_command is not None
                else run_fresh(python, manage, step))
        if code != 0:
            print(f"{FAILED_MARK} {number} {code}", flush=True)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
