"""The plan comment for several servers: each deploy's server and service from its name, and each
server's SHA before and after (a real preview of it is read in tests/e2e/test_rollout.py)."""

from __future__ import annotations

import json
from typing import Any

from slipway.delivery.plan_render import render
from slipway.delivery.preview import read_plan

OLD, NEW = "a" * 40, "b" * 40
DEPLOY = "urn:pulumi:dev::slipway::slipway:index:Pipeline$slipway:index:Service$command:remote:Command::"


def step(op: str, name: str) -> dict[str, Any]:
    return {"op": op, "urn": DEPLOY + name, "newState": {"inputs": {}}, "oldState": {}}


def preview() -> dict[str, Any]:
    servers = [{"name": n, "host": f"{n}.example.com", "hostKey": "ssh-ed25519 AAAA"}
               for n in ("web1", "web-2", "web3")]
    root = {"op": "same", "urn": "urn:pulumi:dev::slipway::pulumi:pulumi:Stack::slipway-dev",
            "oldState": {"outputs": {"deployedSha": OLD, "servers": {
                "web1": {"backend": OLD}, "web-2": {"backend": OLD}, "gone": {"backend": OLD}}}},
            "newState": {"outputs": {}}}
    config = {"slipway:environment": "dev", "slipway:sha": NEW, "slipway:servers": json.dumps(servers)}
    return {"config": config,
            "steps": [root,
                      {"op": "update", "newState": {"inputs": {}}, "oldState": {},
                       "urn": "urn:pulumi:dev::slipway::slipway:index:Pipeline$command:local:Command::"
                              "app-migration-run"},
                      step("update", "app-web1-backend-deploy"), step("update", "app-web-2-backend-deploy"),
                      step("create", "app-web3-backend-deploy"), step("delete", "app-gone-backend-deploy")]}


def test_each_deploy_is_named_by_its_server_and_service() -> None:
    plan = read_plan(preview(), stack="dev")
    assert [(c.server, c.service, c.op) for c in plan.services] == [
        ("web1", "backend", "update"), ("web-2", "backend", "update"), ("web3", "backend", "create"),
        ("gone", "backend", "delete")]


def test_the_servers_line_shows_each_servers_sha_before_and_after() -> None:
    body = render(read_plan(preview(), stack="dev"))
    old, new = f"`{OLD[:12]}`", f"`{NEW[:12]}`"
    assert (f"**Servers** (in rollout order): `web1` {old} → {new}; `web-2` {old} → {new};"
            f" `web3` new → {new}; `gone` removed (its containers and proxy stop).") in body
    assert "`dev-backend` on `web3` started (new)" in body


def test_one_server_has_no_servers_line() -> None:
    doc = preview()
    del doc["config"]["slipway:servers"]
    assert "**Servers**" not in render(read_plan(doc, stack="dev"))
