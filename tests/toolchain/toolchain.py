"""Helpers for the toolchain tests: pins, the bin dir, and plugin gRPC probes."""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLCHAIN = REPO / "toolchain"
PINS_FILE = TOOLCHAIN / "pins.env"
REQUIREMENTS = REPO / "requirements.txt"

# provider name -> prefix of its pins in toolchain/pins.env
PROVIDERS = {
    "command": "COMMAND",
    "docker": "DOCKER",
    "github": "GITHUB",
    "postgresql": "POSTGRESQL",
}


def read_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in PINS_FILE.read_text().splitlines():
        m = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(.*)", line.strip())
        if m:
            pins[m.group(1)] = m.group(2).strip().strip('"')
    return pins


def read_requirements() -> dict[str, str]:
    """`name==version` pins from requirements.txt (names lower-cased)."""
    reqs: dict[str, str] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)", line)
        if m:
            reqs[m.group(1).lower().replace("_", "-")] = m.group(2)
    return reqs


def bin_dir() -> Path:
    out = subprocess.run(
        ["bash", str(TOOLCHAIN / "bin-dir.sh")], check=True, capture_output=True, text=True
    ).stdout
    return Path(out.strip())


def unavailable_note(bin_path: Path, binary: str) -> str | None:
    """build.sh's record that the Go module proxy refused this binary's module."""
    note = bin_path.parent / "unavailable" / binary
    return note.read_text().strip() if note.is_file() else None


def venv_bin() -> Path:
    """The bin dir of the Python running the tests (the project venv)."""
    return Path(sys.executable).parent


def offline_env(bin_path: Path, home: Path, state: Path) -> dict[str, str]:
    """Environment for running the toolchain's pulumi: only the toolchain bin dir,
    the venv and the system dirs on PATH; private PULUMI_HOME and file backend."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(
        PATH=os.pathsep.join([str(bin_path), str(venv_bin()), "/usr/local/bin", "/usr/bin", "/bin"]),
        PULUMI_HOME=str(home),
        PULUMI_BACKEND_URL=f"file://{state}",
        PULUMI_CONFIG_PASSPHRASE="slipway-toolchain-test",
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PULUMI_SKIP_CONFIRMATIONS="true",
    )
    env.pop("VIRTUAL_ENV", None)
    return env


@contextmanager
def serving_plugin(binary: Path, *args: str, timeout: float = 60.0) -> Iterator[str]:
    """Start a Pulumi plugin binary; yield the 127.0.0.1:PORT it serves gRPC on."""
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.Popen(
            [str(binary), *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], timeout)
            first = proc.stdout.readline().decode().strip() if ready else ""
            if not first.isdigit():
                proc.kill()
                _, err = proc.communicate(timeout=10)
                raise AssertionError(
                    f"{binary.name} did not print its port (got {first!r}); stderr:\n{err.decode()[-2000:]}"
                )
            yield f"127.0.0.1:{first}"
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def provider_version(binary: Path) -> str:
    """The version the provider itself reports over gRPC (ResourceProvider.GetPluginInfo)."""
    import grpc  # type: ignore[import-untyped]
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import provider_pb2_grpc

    with serving_plugin(binary) as addr, grpc.insecure_channel(addr) as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=60)
        return str(info.version)


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def copy_project(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst
