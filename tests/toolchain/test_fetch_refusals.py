"""build.sh records a provider as "not served" only for the proxy's 403 refusal; any other download
failure fails the build with its error. Real `go mod download` against a loopback proxy."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs Go")

ANSWERS = {
    "refused.example/mod": (403, b"not found: This module version is not available.\n"),
    "broken.example/mod": (500, b"internal error\n"),
}


class Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        for module, (code, body) in ANSWERS.items():
            if self.path.startswith(f"/{module}/"):
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)
                return
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def proxy_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def fetch_or_skip(module: str, proxy: str, tmp: Path) -> tuple[int, str, Path]:
    unavailable = tmp / "unavailable"
    unavailable.mkdir(exist_ok=True)
    script = (f'. {REPO}/toolchain/fetch.sh; LOG={tmp}/build.log; UNAVAILABLE={unavailable}; SKIPPED=();'
              ' say() { printf "%s\\n" "$*"; }; fetch_or_skip provider "$1"')
    env = {**os.environ, "GOPROXY": proxy, "GOSUMDB": "off", "GOFLAGS": "-mod=mod",
           "GOMODCACHE": str(tmp / "mod"), "GOCACHE": str(tmp / "cache"), "GOTOOLCHAIN": "local"}
    done = subprocess.run(["bash", "-c", script, "fetch", f"{module}@v1.0.0"], capture_output=True,
                          text=True, env=env, cwd=tmp, check=False, timeout=120)
    return done.returncode, done.stdout + done.stderr, unavailable / "provider"


def test_the_proxy_refusal_is_recorded_and_skipped(proxy_url: str, tmp_path: Path) -> None:
    code, output, note = fetch_or_skip("refused.example/mod", proxy_url, tmp_path)
    assert code == 3, output
    assert "SKIPPED - the Go module proxy does not serve refused.example/mod@v1.0.0" in output
    assert "403 Forbidden" in note.read_text()


def test_any_other_failure_fails_with_its_error(proxy_url: str, tmp_path: Path) -> None:
    code, output, note = fetch_or_skip("broken.example/mod", proxy_url, tmp_path)
    assert code == 1, output
    assert "cannot download broken.example/mod@v1.0.0" in output and "500" in output
    assert not note.exists()
