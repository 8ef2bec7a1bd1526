"""Commands on a stack's server from an operator's machine: the pinned host key, the deploy key
held by a private ssh-agent (never written to disk, never on a command line), nothing left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from slipway.secret import Secret


class RemoteError(Exception):
    """The server could not be reached or the command failed; says which server and why."""


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    host_key: str  # "ssh-ed25519 AAAA..."

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def ssh_options(server: Server, known_hosts: Path) -> list[str]:
    """Key from the agent only, host key pinned, no prompts."""
    return ["ssh", "-p", str(server.port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "PasswordAuthentication=no",
            "-o", "ConnectTimeout=10"]


def ssh_argv(server: Server, known_hosts: Path, command: str, control: Path | None = None) -> list[str]:
    """The ssh call; through the shared connection at `control` when there is one."""
    shared = ["-o", "ControlMaster=no", "-o", f"ControlPath={control}"] if control else []
    return [*ssh_options(server, known_hosts), *shared, f"{server.user}@{server.host}", command]


# sntrup761x25519, first among OpenSSH 9.x's default key exchanges, costs the client about 80 ms of
# CPU per connection. A connection that carries no secret (the rollback key's: a gate request of
# SHA, service and actor, and the agent's messages) has nothing for a post-quantum exchange to
# keep from a recording, so these go first for it: ML-KEM's hybrid where ssh has it (post-quantum
# and fast), else X25519.
QUICK_KEX = ("mlkem768x25519-sha256", "curve25519-sha256", "curve25519-sha256@libssh.org")


def quick_kex_first(allowed: Sequence[str]) -> list[str]:
    """`allowed` (the key exchanges ssh's configuration offers, in its order) with the quick ones
    first; nothing added, nothing taken away."""
    return [kex for kex in QUICK_KEX if kex in allowed] + [kex for kex in allowed if kex not in QUICK_KEX]


def quick_kex_option(server: Server, known_hosts: Path, env: dict[str, str]) -> list[str]:
    """`-o KexAlgorithms=...`: what `ssh -G` says this connection would offer, reordered by
    quick_kex_first; [] (ssh's own order) when it cannot say."""
    try:
        shown = subprocess.run([*ssh_options(server, known_hosts), "-G", f"{server.user}@{server.host}"],
                               capture_output=True, text=True, env=env, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    for line in shown.stdout.splitlines():
        name, _, value = line.partition(" ")
        if name == "kexalgorithms" and value.strip():
            return ["-o", "KexAlgorithms=" + ",".join(quick_kex_first(value.strip().split(",")))]
    return []


@contextmanager
def remote_shell(server: Server, private_key: Secret,
                 key_name: str = "the deploy key (slipway:sshPrivateKey)",
                 lifetime: int | None = None) -> Iterator[RemoteShell]:
    """A private ssh-agent holding the key, and a known_hosts of the pinned key; both gone after."""
    workdir = Path(tempfile.mkdtemp(prefix="slipway-ssh-"))
    agent_pid = 0
    try:
        known_hosts = workdir / "known_hosts"
        host = server.host if server.port == 22 else f"[{server.host}]:{server.port}"
        known_hosts.write_text(f"{host} {server.host_key}\n")
        socket = workdir / "agent.sock"
        started = subprocess.run(["ssh-agent", "-a", str(socket), "-s"], capture_output=True, text=True,
                                 check=False)
        if started.returncode != 0:
            raise RemoteError(f"ssh-agent did not start: {started.stderr.strip()}")
        for part in started.stdout.replace(";", "\n").splitlines():
            if part.strip().startswith("SSH_AGENT_PID="):
                agent_pid = int(part.split("=", 1)[1])
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket)}
        # OpenSSH reads a key only with its final newline (config values lose it).
        # A lifetime bounds how long the agent holds the key even if it outlives this process.
        limit = ["-t", str(lifetime)] if lifetime else []
        added = subprocess.run(["ssh-add", "-q", *limit, "-"], input=private_key.reveal().rstrip("\n") + "\n",
                               capture_output=True,
                               text=True, env=env, check=False)
        if added.returncode != 0:
            raise RemoteError(f"{key_name} was not accepted by ssh-add")
        yield RemoteShell(server, known_hosts, env)
    finally:
        if agent_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(agent_pid, signal.SIGTERM)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def shared_connection(server: Server, private_key: Secret, key_name: str,
                      timeout: float = 30, quick_kex: bool = False) -> Iterator[RemoteShell]:
    """One SSH connection, authenticated once, that every call through the returned shell
    reuses (OpenSSH's ControlMaster, its socket in the private directory): a call then costs a
    new channel, not a handshake. `quick_kex`: for a connection that carries no secret (see
    QUICK_KEX). Raises RemoteError naming the server when it cannot connect."""
    # The key is needed only to authenticate the one connection: the agent drops it after 10 min.
    with remote_shell(server, private_key, key_name, lifetime=600) as shell:
        control = shell.known_hosts.parent / "control"
        log = shell.known_hosts.parent / "master.log"
        kex = quick_kex_option(server, shell.known_hosts, shell.env) if quick_kex else []
        master = [*ssh_options(server, shell.known_hosts), *kex, "-o", "ControlMaster=yes", "-o",
                  f"ControlPath={control}", "-o", "ControlPersist=120", "-f", "-N",
                  f"{server.user}@{server.host}"]
        # -f: ssh returns once authenticated and keeps the connection in the background; its
        # output goes to a file, since a pipe would stay open as long as the connection.
        with log.open("w") as err:
            started = subprocess.run(master, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=err, env=shell.env, timeout=timeout, check=False)
        if started.returncode != 0:
            raise RemoteError(f"{server.where}: could not connect (exit {started.returncode}):"
                              f" {log.read_text(errors='replace').strip()[-300:]}")
        try:
            yield RemoteShell(server, shell.known_hosts, shell.env, control)
        finally:
            # Best effort: a master that does not answer dies with its connection (ControlPersist).
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run([*ssh_options(server, shell.known_hosts), "-o", f"ControlPath={control}",
                                "-O", "exit", f"{server.user}@{server.host}"], capture_output=True,
                               env=shell.env, timeout=10, check=False)


@dataclass(frozen=True)
class RemoteShell:
    server: Server
    known_hosts: Path
    env: dict[str, str]
    control: Path | None = None  # a shared connection's socket (shared_connection)

    def argv(self, command: str) -> list[str]:
        """The ssh call for `command`, to be started with `env` (the private agent's socket)."""
        return ssh_argv(self.server, self.known_hosts, command, self.control)

    def run(self, command: str, timeout: float = 60) -> str:
        done = subprocess.run(self.argv(command), capture_output=True,
                              text=True, env=self.env, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RemoteError(f"{self.server.where}: `{command}` failed (exit {done.returncode}):"
                              f" {done.stderr.strip()[-500:]}")
        return done.stdout

