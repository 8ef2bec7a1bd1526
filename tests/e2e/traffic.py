"""Traffic during a release: concurrent clients plus a 10 Hz prober, counting every failed request.

Loopback only; every loop is bounded (it stops when told, and after `max_seconds` at the latest).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tests.e2e.workspace import http_get


@dataclass
class Traffic:
    """`with Traffic(url) as t: ...` then t.failures, t.requests, t.shas (in the order seen)."""

    url: str
    clients: int = 20
    probe_hz: float = 10.0
    max_seconds: float = 600.0
    requests: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    shas: list[str] = field(default_factory=list)
    first_failure: float | None = None
    last_failure: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _record(self, status: int, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests += 1
            if status != 200:
                self.failures += 1
                now = time.monotonic()
                self.first_failure = self.first_failure or now
                self.last_failure = now
                if len(self.errors) < 20:
                    self.errors.append(f"{time.strftime('%H:%M:%S')} status {status}")
                return
            sha = headers.get("X-App-Sha", "")
            if not self.shas or self.shas[-1] != sha:
                self.shas.append(sha)

    def _loop(self, pause: float) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            status, headers, _ = http_get(self.url, timeout=5.0)
            self._record(status, headers)
            if pause:
                self._stop.wait(pause)

    def __enter__(self) -> Traffic:
        pauses = [0.0] * self.clients + [1.0 / self.probe_hz]
        self._threads = [threading.Thread(target=self._loop, args=(p,), daemon=True) for p in pauses]
        for thread in self._threads:
            thread.start()
        time.sleep(0.5)  # traffic flows before the release starts
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)  # and after it ends
        self._stop.set()
        for thread in self._threads:
            thread.join()

    @property
    def outage_seconds(self) -> float:
        """From the first failed request to the last one (0 when none failed)."""
        if self.first_failure is None or self.last_failure is None:
            return 0.0
        return self.last_failure - self.first_failure

    def summary(self) -> str:
        return f"{self.failures} failed of {self.requests} requests; first errors: {self.errors[:5]}"
