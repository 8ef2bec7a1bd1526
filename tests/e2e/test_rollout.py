"""Several servers per environment: a rolling, health-gated release across real test hosts.

Each host (h1..h4) is a network namespace with its own sshd and host key, its own Docker engine
and its own loopback, so each has its own ports and containers, as separate machines do; their
apps share the sandbox's Postgres. Traffic is sent from inside each host, where its proxy listens.

One environment lives through the module in order: the first release on three hosts, a rollout
in batches of one under load, a release that fails on the second host, the `up` that converges
them, and a fourth host added while one is removed. A last test upgrades a single-server stack
of the release before several servers existed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway.delivery.plan_render import render
from slipway.delivery.preview import read_plan
from tests.e2e.traffic import HostTraffic
from tests.e2e.workspace import (
    REPO,
    Workspace,
    changes,
    engine_errors,
    host_server,
    release_checkout,
    run,
    sandbox_env,
    settled,
)

pytestmark = [pytest.mark.e2e, pytest.mark.needs_providers]

HOSTS = ("h1", "h2", "h3")
# The last commit before several servers: its stacks had one `slipway:server`.
SINGLE_SERVER_RELEASE = "7f24206"


def host_entry(sandbox: dict[str, str], host: str, name: str | None = None) -> dict[str, Any]:
    entry = host_server(sandbox, host, name)
    if entry is None:
        pytest.skip(f"the sandbox has no test host {host} (sandbox/up.sh, SLIPWAY_SANDBOX_HOSTS)")
    return entry


def docker_on(ws: Workspace, host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(["docker", "-H", ws.sandbox[f"SANDBOX_{host.upper()}_DOCKER_HOST"], *args])


def containers_on(ws: Workspace, host: str) -> dict[str, dict[str, Any]]:
    """Name -> inspect of every container of this environment on the host."""
    names = docker_on(ws, host, "ps", "--all", "--filter", f"label=slipway.env={ws.env_name}",
                      "--format", "{{.Names}}").stdout.split()
    if not names:
        return {}
    return {c["Name"].lstrip("/"): c for c in json.loads(docker_on(ws, host, "inspect", *names).stdout)}


def serving(ws: Workspace, host: str) -> str:
    """The X-App-Sha of the backend as the host's own proxy answers it ("" if it does not)."""
    done = run(["nsenter", f"--net=/run/netns/slipway-{host}", "curl", "-s", "-o", "/dev/null", "-D", "-",
                "--max-time", "5", ws.url])
    lines = done.stdout.splitlines()
    if not lines or " 200" not in lines[0]:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines
                 if line.lower().startswith("x-app-sha:")), "")


def live_port(ws: Workspace, host: str) -> int:
    live = settled(lambda: [c for c in containers_on(ws, host).values()
                            if c["State"]["Running"] and c["Config"]["Labels"].get("slipway.role") == "app"],
                   lambda running: len(running) <= 1)
    assert len(live) == 1, [c["Name"] for c in live]
    return int(live[0]["Config"]["Labels"]["slipway.port"])


def deploy_order(ws: Workspace) -> list[str]:
    """The servers whose backend deploy the last `up` ran, in the order the engine finished them."""
    done = []
    for event in ws.last_events:
        metadata = (event.get("resOutputsEvent") or {}).get("metadata") or {}
        name = str(metadata.get("urn", "")).rsplit("::", 1)[-1]
        if name.endswith("-backend-deploy") and metadata.get("op") not in (None, "same"):
            done.append(name.removeprefix("app-").removesuffix("-backend-deploy"))
    return done


@contextmanager
def load_on(ws: Workspace, hosts: tuple[str, ...]) -> Iterator[dict[str, HostTraffic]]:
    """20 clients and a 10 Hz prober on each host's proxy, from inside that host."""
    with ExitStack() as stack:
        yield {h: stack.enter_context(HostTraffic(h, ws.url)) for h in hosts}


@contextmanager
def port_taken(host: str, port: int) -> Iterator[None]:
    """Something else listens on the host's internal port: a release cannot start there."""
    blocker = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/slipway-{host}", sys.executable, "-c",
         "import socket, sys\n"
         f"s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         f"s.bind(('127.0.0.1', {port})); s.listen(); print('ready', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert blocker.stdout is not None and blocker.stdout.readline().strip() == "ready"
        yield
    finally:
        blocker.communicate("", timeout=30)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    sandbox = sandbox_env()
    workspace = Workspace(tmp_path_factory.mktemp("rollout"), sandbox)
    entries = [host_entry(sandbox, h) for h in HOSTS]
    workspace.setup()
    workspace.update_config(**{"server": None, "servers": entries, "services.frontend": None,
                               "rollout": {"batchSize": 1}})
    yield workspace
    workspace.destroy()


def test_1_the_first_release_reaches_every_server(ws: Workspace) -> None:
    done = ws.up()
    assert done.returncode == 0, engine_errors(done) + done.stderr[-3000:]
    sha = ws.shas[-1]
    assert {h: serving(ws, h) for h in HOSTS} == {h: sha for h in HOSTS}
    assert ws.outputs()["servers"] == {h: {"backend": sha} for h in HOSTS}
    # Each host runs its own containers: its release and its proxy, nothing of another host's.
    for host in HOSTS:
        roles = sorted(c["Config"]["Labels"]["slipway.role"] for c in containers_on(ws, host).values())
        assert roles == ["app", "proxy"], (host, roles)


def test_2_a_release_rolls_batch_by_batch_with_zero_failed_requests(ws: Workspace) -> None:
    old, new = ws.shas[-1], ws.commit("second release")
    with load_on(ws, HOSTS) as traffic:
        done = ws.up()
    assert done.returncode == 0, engine_errors(done) + done.stderr[-3000:]
    for host, seen in traffic.items():
        assert seen.failures == 0, seen.summary()
        assert seen.shas[0] == old and seen.shas[-1] == new, (host, seen.shas)
    # One migration, then one server after the other, in the configured order.
    assert sum(op in ("create", "create-replacement", "update")
               for op in ws.operations("app-migration-run")) == 1
    assert deploy_order(ws) == list(HOSTS)
    assert ws.outputs()["servers"] == {h: {"backend": new} for h in HOSTS}


def test_3_a_release_failing_on_the_second_server_stops_the_rollout_there(ws: Workspace) -> None:
    old = ws.shas[-1]
    h3_before = {n: c["Id"] for n, c in containers_on(ws, "h3").items()}
    backend = yaml.safe_load(ws.config_file.read_text())["config"]["slipway:services"]["backend"]
    ports = backend["internalPorts"]
    other = next(p for p in ports if p != live_port(ws, "h2"))
    new = ws.commit("third release")
    with port_taken("h2", other), load_on(ws, ("h1", "h2")) as traffic:
        done = ws.up()
    assert done.returncode != 0
    errors = engine_errors(done)
    assert "app-h2-backend-deploy" in errors, errors
    assert f"slipway [h2 (deploy@127.0.0.1:{ws.sandbox['SANDBOX_H2_SSH_PORT']})]: FAILED" in errors, errors
    # Refused before the new release starts: it would not get the port.
    assert "something other than a release of backend listens on port" in errors, errors
    assert serving(ws, "h1") == new  # the first batch switched
    assert serving(ws, "h2") == old  # the second kept its release, and never stopped serving
    assert traffic["h2"].failures == 0 and traffic["h1"].failures == 0, traffic["h2"].summary()
    # The third was not touched: the same containers, and nothing of the new release.
    assert {n: c["Id"] for n, c in containers_on(ws, "h3").items()} == h3_before
    assert serving(ws, "h3") == old


def test_4_the_next_up_converges_every_server(ws: Workspace) -> None:
    new = ws.shas[-1]
    done = ws.up()
    assert done.returncode == 0, engine_errors(done) + done.stderr[-3000:]
    assert {h: serving(ws, h) for h in HOSTS} == {h: new for h in HOSTS}
    assert ws.outputs()["servers"] == {h: {"backend": new} for h in HOSTS}
    assert "h1" not in deploy_order(ws)  # it already ran this release


def test_5_a_server_is_added_and_another_removed_in_one_up(ws: Workspace) -> None:
    sha = ws.shas[-1]
    ws.update_config(servers=[host_entry(ws.sandbox, h) for h in ("h1", "h3", "h4")])
    # The PR plan comment says it first, server by server.
    preview = ws.pulumi("preview", "--json")
    assert preview.returncode == 0, preview.stderr[-3000:]
    body = render(read_plan(json.loads(preview.stdout), stack=ws.env_name))
    short = f"`{sha[:12]}`"
    assert (f"**Servers** (in rollout order): `h1` {short}, unchanged; `h3` {short}, unchanged;"
            f" `h4` new → {short}; `h2` removed (its containers and proxy stop).") in body, body
    assert f"`{ws.env_name}-backend` on `h4` started (new)" in body, body
    with load_on(ws, ("h1", "h3")) as traffic:
        done = ws.up()
    assert done.returncode == 0, engine_errors(done) + done.stderr[-3000:]
    assert serving(ws, "h4") == sha
    assert containers_on(ws, "h2") == {}  # its releases and then its proxy are gone
    assert serving(ws, "h2") == ""
    assert all(t.failures == 0 for t in traffic.values()), [t.summary() for t in traffic.values()]
    assert ws.outputs()["servers"] == {h: {"backend": sha} for h in ("h1", "h3", "h4")}


def test_6_a_rollback_pin_rolls_back_every_server(ws: Workspace) -> None:
    hosts = ("h1", "h3", "h4")
    before = ws.shas[-2]  # the second release: h1 and h3 kept it, h4 never ran it
    ws.update_config(sha=before)
    with load_on(ws, hosts) as traffic:
        done = ws.up()
    assert done.returncode == 0, engine_errors(done) + done.stderr[-3000:]
    assert {h: serving(ws, h) for h in hosts} == {h: before for h in hosts}
    assert all(t.failures == 0 for t in traffic.values()), [t.summary() for t in traffic.values()]
    outputs = ws.outputs()
    assert outputs["servers"] == {h: {"backend": before} for h in hosts}
    assert outputs["migrations"] == "skipped (rollback)"
    assert deploy_order(ws) == list(hosts)


def test_a_single_server_stack_becomes_the_first_of_several_in_place(tmp_path: Path) -> None:
    sandbox = sandbox_env()
    ws = Workspace(tmp_path, sandbox, project=release_checkout(SINGLE_SERVER_RELEASE, tmp_path / "previous"))
    h1, h2 = host_entry(sandbox, "h1", "web1"), host_entry(sandbox, "h2", "web2")
    ws.setup()
    try:
        single = {k: v for k, v in h1.items() if k != "name"}
        # (That release knows no migration.runner: the steps run a process each, as then.)
        ws.update_config(**{"server": single, "services.frontend": None, "migration.runner": None})
        first = ws.up()
        assert first.returncode == 0, engine_errors(first) + first.stderr[-3000:]
        before = {n: c["Id"] for n, c in containers_on(ws, "h1").items()}
        sha = ws.shas[-1]

        ws.project = REPO
        ws.update_config(**{"server": None, "servers": [h1, h2]})
        with load_on(ws, ("h1",)) as traffic:
            upgraded = ws.up()
        assert upgraded.returncode == 0, engine_errors(upgraded) + upgraded.stderr[-3000:]
        assert traffic["h1"].failures == 0, traffic["h1"].summary()
        # h1 keeps its containers: nothing removed and created again; h2 joins.
        assert {n: c["Id"] for n, c in containers_on(ws, "h1").items()} == before
        assert serving(ws, "h1") == sha and serving(ws, "h2") == sha
        done = changes(ws)
        web1 = {n: op for n, op in done.items() if not n.startswith("app-web2-")}
        # The deploy's stage is new (the earlier release had none): created; it found the release
        # serving and did nothing.
        assert web1.pop("app-web1-backend-stage") == "create", web1
        # The first server's resources took their new names by alias: updated at most (the new
        # agent), never created, replaced or deleted; nothing was built or migrated again.
        assert set(web1.values()) <= {"update"}, web1
        assert not any(n.startswith(("app-backend-image", "app-migration", "app-database"))
                       for n in web1), web1
        assert ws.outputs()["servers"] == {"web1": {"backend": sha}, "web2": {"backend": sha}}
    finally:
        ws.project = REPO
        ws.destroy()
        shutil.rmtree(tmp_path / "previous", ignore_errors=True)
