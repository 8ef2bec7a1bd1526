"""Runs a command and stamps every line of its output with when it arrived."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Streamed:
    seconds: float  # wall clock, start to exit
    lines: list[tuple[float, str]]  # (seconds since start, line) of stdout
    stderr: str
    returncode: int

    @property
    def stdout(self) -> str:
        return "".join(line for _, line in self.lines)


def run_streamed(argv: Sequence[str], env: Mapping[str, str]) -> Streamed:
    start = time.monotonic()
    proc = subprocess.Popen(list(argv), env=dict(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None and proc.stderr is not None
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(proc.stderr or ()), daemon=True)
    reader.start()
    lines = [(time.monotonic() - start, line) for line in proc.stdout]
    returncode = proc.wait()
    seconds = time.monotonic() - start
    reader.join()
    return Streamed(seconds, lines, "".join(errors), returncode)
