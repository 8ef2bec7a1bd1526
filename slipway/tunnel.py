"""The pipeline's way to a database that accepts only the server: an SSH local forward through
the server, held open for as long as the program (or `slipway tunnel`) runs.

`ssh -N -L 127.0.0.1:<port>:<db host>:<db port>` against the server's pinned host key, with the
deploy key held by a private `ssh-agent` (never on disk, never on a command line) only until
the forward is up: then the agent stops and its folder is removed, and the one `ssh` left dies
with the process that opened it (PR_SET_PDEATHSIG), so a killed run leaves no tunnel behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from slipway.delivery.remote import Server
from slipway.secret import Secret

# Set by `slipway tunnel` for the command it runs: the program then uses that tunnel.
TUNNEL_OPEN_ENV = "SLIPWAY_TUNNEL_OPEN"


class TunnelError(Exception):
    """The forward could not be opened; says which server, which port and why."""


def dying_with_parent(argv: list[str]) -> list[str]:
    """`argv` run so that it gets SIGTERM when the process that started it dies (util-linux
    setpriv sets PR_SET_PDEATHSIG, then execs it). No preexec_fn: the program forks from a
    process with gRPC threads, where running Python between fork and exec is unsafe."""
    return ["setpriv", "--pdeathsig", "TERM", "--", *argv]


def _reason(stderr: bytes) -> str:
    """ssh's own last words (without log lines a forked runtime may have added)."""
    lines = [line for line in stderr.decode(errors="replace").splitlines()
             if line.strip() and not re.match(r"^[EIW]\d{4} \d", line)]
    return lines[-1].strip() if lines else ""


def forward_argv(server: Server, known_hosts: Path, local_port: int, host: str, port: int) -> list[str]:
    """The forward: no command, no shell, the host key pinned, failure if the port is taken."""
    return ["ssh", "-N", "-p", str(server.port), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "PasswordAuthentication=no", "-o", "ConnectTimeout=10",
            "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=4", "-L", f"127.0.0.1:{local_port}:{host}:{port}",
            f"{server.user}@{server.host}"]


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Tunnel:
    server: Server
    local_port: int
    target: str
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    _workdir: Path | None = field(default=None, repr=False)

    def close(self) -> None:
        for proc in reversed(self._processes):
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.poll() is None:
                proc.kill()
        self._processes.clear()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


def open_tunnel(server: Server, private_key: Secret, host: str, port: int, local_port: int,
                timeout: float = 20, popen: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen
                ) -> Tunnel:
    """Open the forward and wait until its local end accepts connections."""
    where = f"through {server.where} to {host}:{port}"
    if _accepts(local_port):
        raise TunnelError(f"cannot open the database tunnel {where}: 127.0.0.1:{local_port} is already"
                          " in use on this machine (set slipway:database.tunnelPort to a free port)")
    workdir = Path(tempfile.mkdtemp(prefix="slipway-tunnel-"))
    tunnel = Tunnel(server, local_port, f"{host}:{port}", _workdir=workdir)
    try:
        known_hosts = workdir / "known_hosts"
        name = server.host if server.port == 22 else f"[{server.host}]:{server.port}"
        known_hosts.write_text(f"{name} {server.host_key}\n")
        sock = workdir / "agent.sock"
        agent = popen(dying_with_parent(["ssh-agent", "-D", "-a", str(sock)]),
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tunnel._processes.append(agent)
        deadline = time.monotonic() + 5
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        added = subprocess.run(["ssh-add", "-q", "-"], input=private_key.reveal().rstrip("\n").encode()
                               + b"\n", capture_output=True, env=env, check=False)
        if added.returncode != 0:
            raise TunnelError(f"cannot open the database tunnel {where}: the deploy key"
                              " (slipway:sshPrivateKey) was not accepted by ssh-add")
        forward = popen(dying_with_parent(forward_argv(server, known_hosts, local_port, host, port)),
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                        env=env)
        tunnel._processes.append(forward)
        deadline = time.monotonic() + timeout
        while not _accepts(local_port):
            if forward.poll() is not None:
                assert forward.stderr is not None
                reason = _reason(forward.stderr.read()) or f"ssh exited {forward.returncode}"
                raise TunnelError(f"cannot open the database tunnel {where} (local port {local_port}):"
                                  f" {reason}")
            if time.monotonic() > deadline:
                raise TunnelError(f"cannot open the database tunnel {where} (local port {local_port}):"
                                  f" no forward within {int(timeout)} s")
            time.sleep(0.1)
        # Authenticated and forwarding: neither the agent (the key) nor the known_hosts file is
        # needed any more, so nothing of the tunnel stays on disk or in an agent, even if this
        # process is killed before it can clean up.
        agent.terminate()
        agent.wait(timeout=5)
        tunnel._processes.remove(agent)
        shutil.rmtree(workdir, ignore_errors=True)
        tunnel._workdir = None
        return tunnel
    except BaseException:
        tunnel.close()
        raise


@contextmanager
def tunnel_open(server: Server, private_key: Secret, host: str, port: int, local_port: int
                ) -> Iterator[Tunnel]:
    tunnel = open_tunnel(server, private_key, host, port, local_port)
    try:
        yield tunnel
    finally:
        tunnel.close()
