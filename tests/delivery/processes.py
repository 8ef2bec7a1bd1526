"""Watch every process's command line while a command runs (no secret may be on one)."""

from __future__ import annotations

import subprocess
import threading


class ProcessWatch:
    """Samples every process's command line while a command runs."""

    def __init__(self) -> None:
        self.lines: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False)
            self.lines.update(ps.stdout.splitlines())
            self._stop.wait(0.05)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
