"""Traffic during a release: concurrent clients plus a 10 Hz prober, counting every failed request.

Loopback only; every loop is bounded (it stops when told, and after `max_seconds` at the latest).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

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
            try:
                status, headers, _ = http_get(self.url, timeout=5.0)
            except Exception:  # whatever it was, that request failed; keep sending
                status, headers = 0, {}
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


@dataclass
class HostTraffic:
    """The same traffic, sent from inside a test host (its own loopback, which nothing outside
    reaches): `python -m tests.e2e.traffic` runs in the host's network namespace until told to
    stop, then reports. Same attributes as Traffic once the block ends."""

    host: str
    url: str
    clients: int = 20
    requests: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    shas: list[str] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> HostTraffic:
        self._proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/slipway-{self.host}", sys.executable, "-m", "tests.e2e.traffic",
             self.url, str(self.clients)],
            cwd=Path(__file__).resolve().parents[2], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        assert self._proc.stdout is not None
        assert self._proc.stdout.readline().strip() == "started"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        out, _ = self._proc.communicate("stop\n", timeout=120)
        report = json.loads(out.strip().splitlines()[-1])
        self.requests, self.failures = report["requests"], report["failures"]
        self.errors, self.shas = report["errors"], report["shas"]

    def summary(self) -> str:
        return (f"{self.host}: {self.failures} failed of {self.requests} requests;"
                f" first errors: {self.errors[:5]}")


def main(argv: list[str]) -> None:
    """Inside a test host: traffic to URL with N clients until a line (or EOF) on stdin."""
    url, clients = argv[0], int(argv[1])
    with Traffic(url, clients=clients) as traffic:
        print("started", flush=True)
        sys.stdin.readline()
    print(json.dumps({"requests": traffic.requests, "failures": traffic.failures,
                      "errors": traffic.errors, "shas": traffic.shas}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
