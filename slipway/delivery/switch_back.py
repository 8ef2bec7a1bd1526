"""`slipway rollback`'s first step: every server switches its services back to the retained
release, outside the engine, over one SSH call each, all at once.

The release the live one replaced is still on each server: running for its drain and standby
(`standbySeconds`), then stopped and kept. Switching back to it needs no build, no pull and no
plan, so it is done before `pulumi up` records the rollback in the stack; that `up` then finds
each server already running it and changes nothing there. A server where the switch-back cannot
be done (its retained release is gone, or it fails its health gate and the live release keeps
serving) is left to that `up`, which deploys the release there the ordinary way.

With the stack's rollback key (`SLIPWAY_ROLLBACK_KEY`, slipway.rollback_key) each server gets one
shared SSH connection, opened as soon as the server is known, while the rollback's checks still
run (nothing runs through it before they pass); every service's switch-back then goes through
the key's gate on the server (slipway.commands.rollback_gate) without waiting for the stack's
deploy keys to be decrypted. Where the key cannot do it (not installed there, or that server has
no gate or agent of this version yet) the deploy key does, as without it.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from slipway.commands.agent import render_agent
from slipway.commands.deploy import switch_back_command
from slipway.commands.rollback_gate import AGENT_MISSING, GATE_REFUSED, gate_request
from slipway.delivery.pulumi_cli import structured
from slipway.delivery.remote import RemoteShell, Server, remote_shell, shared_connection
from slipway.delivery.servers import StackServer, deploy_key, servers_of
from slipway.rollback_key import ENV_VAR as ROLLBACK_KEY_ENV
from slipway.secret import Secret

SWITCHED, NOT_RETAINED = 0, 3  # the agent's exit codes; anything else failed
TIMED_OUT = -2  # no answer in time
# Through the rollback key, these mean the key could not do it: no connection (-1), ssh's own
# failure (255: refused, or the connection lost, after which the agent, serialised by its lock and
# a no-op for a release already live, may safely run again), no gate or agent of this version.
# The deploy key does it instead. Any other code is the agent's answer, final either way.
_KEY_COULD_NOT = (-1, 255, AGENT_MISSING, GATE_REFUSED)
DeployKeys = Callable[[], Mapping[str, Secret]]


@dataclass(frozen=True)
class Outcome:
    server: str  # user@host:port
    service: str
    code: int
    message: str  # the agent's last line on stderr
    via: str = "deploy key"  # or "rollback key"
    unsure: bool = False  # an earlier attempt lost its connection: it may have switched

    @property
    def may_have_switched(self) -> bool:
        """Switched, or no one can say that it did not (a connection lost, no answer in time)."""
        return self.code in (SWITCHED, 255, TIMED_OUT) or self.unsure

    @property
    def switched(self) -> bool:
        return self.code == SWITCHED


def placements(config: Mapping[str, Any]) -> list[tuple[StackServer, str]]:
    """(server, service) for every service on every server that runs it; [] for a stack
    without servers in its config."""
    if not structured(config, "slipway:servers") and not structured(config, "slipway:server"):
        return []
    services = structured(config, "slipway:services") or {}
    placed = []
    for server in servers_of(config):
        for name, spec in services.items():
            only = spec.get("servers") if isinstance(spec, Mapping) else None
            if server.name is None or not only or server.name in only:
                placed.append((server, str(name)))
    return placed


class RollbackKeyConnections:
    """One shared SSH connection per server, authenticated with the rollback key, each opened
    in the background as soon as `open` names its server (while the rollback's checks run);
    every switch-back through the key is a channel of it. All closed on exit."""

    def __init__(self, key: Secret, actor: str) -> None:
        self._key = key
        self._actor = actor
        self._lock = threading.Lock()
        self._opened: dict[Server, Future[RemoteShell]] = {}
        self._connecting = ThreadPoolExecutor(max_workers=8)
        self._stack = ExitStack()

    def __enter__(self) -> RollbackKeyConnections:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Every connection closed and its private ssh-agent stopped (at once, also on errors)."""
        self._connecting.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._stack.close()

    def open(self, servers: Iterable[Server]) -> None:
        for server in servers:
            with self._lock:
                if server not in self._opened:
                    self._opened[server] = self._connecting.submit(self._connect, server)

    def shell(self, server: Server) -> RemoteShell:
        """The server's connection (opened now if it was not yet); raises RemoteError."""
        self.open([server])
        return self._opened[server].result()

    def switch(self, server: StackServer, service: str, sha: str) -> Outcome:
        """One service on one server through the key's gate; never raises. Its code is the
        agent's, or the gate's, or ssh's 255, or -1 when there was no connection to run it on."""
        where = server.server.where
        try:
            shell = self.shell(server.server)
        except Exception as err:
            return Outcome(where, service, -1, f"{type(err).__name__}: {err}", "rollback key")
        request = gate_request(server.deploy_dir, service, sha, where, self._actor)
        try:
            done = subprocess.run(shell.argv(request), stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, env=shell.env, timeout=330, check=False)
        except subprocess.TimeoutExpired:
            return Outcome(where, service, TIMED_OUT, "no answer within 330 s", "rollback key")
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return Outcome(where, service, done.returncode, lines[-1] if lines else "", "rollback key")

    def _connect(self, server: Server) -> RemoteShell:
        # Through it go a gate request and the agent's messages, never a secret (QUICK_KEX).
        connection = shared_connection(server, self._key, f"the rollback key ({ROLLBACK_KEY_ENV})",
                                       quick_kex=True)
        shell = connection.__enter__()
        with self._lock:
            self._stack.push(connection.__exit__)
        return shell


def switch_one(server: StackServer, service: str, secrets: Mapping[str, Secret] | DeployKeys,
               environment: str, sha: str, actor: str) -> Outcome:
    """One service on one server with its deploy key (from the stack's secret values, or a
    function that reads them); never raises (whatever goes wrong is its outcome)."""
    where = server.server.where
    try:
        key = deploy_key(secrets() if callable(secrets) else secrets, server)
        if key is None:
            return Outcome(where, service, -1, "no deploy key in the stack's config")
        command = switch_back_command(server.deploy_dir, environment, service, sha, where, actor)
        with remote_shell(server.server, key) as shell:
            done = subprocess.run(shell.argv(command), input=render_agent(), capture_output=True,
                                  text=True, env=shell.env, timeout=330, check=False)
    except Exception as err:
        return Outcome(where, service, -1, f"{type(err).__name__}: {err}")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return Outcome(where, service, done.returncode, lines[-1] if lines else "")


def switch_back(config: Mapping[str, Any], secrets: Mapping[str, Secret] | DeployKeys, sha: str,
                actor: str, connections: RollbackKeyConnections | None = None) -> list[Outcome]:
    """Every (server, service) switched back to `sha` at the same time; their outcomes. With
    `connections`, through the rollback key first; the deploy keys only where it could not."""
    environment = str(config.get("slipway:environment"))
    placed = placements(config)
    if not placed:
        return []

    def one(server: StackServer, service: str) -> Outcome:
        if connections is not None:
            tried = connections.switch(server, service, sha)
            if tried.code not in _KEY_COULD_NOT:
                return tried
            fallback = switch_one(server, service, secrets, environment, sha, actor)
            return Outcome(fallback.server, service, fallback.code,
                           f"{fallback.message} (the rollback key could not: {tried.message})", fallback.via,
                           unsure=tried.code == 255)
        return switch_one(server, service, secrets, environment, sha, actor)

    with ThreadPoolExecutor(max_workers=len(placed)) as pool:
        return list(pool.map(lambda p: one(*p), placed))


def once(read: DeployKeys) -> DeployKeys:
    """`read`, called at most once whatever the number of threads asking (the deploy keys are
    decrypted only if some server needs them, and then once)."""
    lock = threading.Lock()
    kept: list[Future[Mapping[str, Secret]]] = []

    def cached() -> Mapping[str, Secret]:
        with lock:
            if not kept:
                kept.append(Future())
                try:
                    kept[0].set_result(read())
                except Exception as err:  # every caller gets the same failure
                    kept[0].set_exception(err)
        return kept[0].result()
    return cached
