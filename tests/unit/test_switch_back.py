"""Which services on which servers a rollback switches back, and with which deploy key."""

from __future__ import annotations

import json

import pytest

from slipway.delivery import switch_back as switch_back_module
from slipway.delivery.servers import DEFAULT_DEPLOY_DIR, StackServer, deploy_key
from slipway.delivery.switch_back import DeployKeys, Outcome, once, placements, switch_back
from slipway.secret import Secret

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def test_one_server_runs_every_service() -> None:
    config = {"slipway:server": {"host": "203.0.113.10", "user": "deploy", "hostKey": KEY},
              "slipway:services": {"backend": {}, "frontend": {}}}
    placed = [(p.server.where, p.deploy_dir, service) for p, service in placements(config)]
    assert placed == [("deploy@203.0.113.10:22", DEFAULT_DEPLOY_DIR, "backend"),
                      ("deploy@203.0.113.10:22", DEFAULT_DEPLOY_DIR, "frontend")]


def test_several_servers_run_the_services_placed_on_them() -> None:
    servers = [{"name": "web1", "host": "203.0.113.11", "hostKey": KEY},
               {"name": "web2", "host": "203.0.113.12", "port": 2222, "hostKey": KEY,
                "deployDir": "/opt/slipway"}]
    config = {"slipway:servers": json.dumps(servers),  # as `pulumi config --json` gives it
              "slipway:services": {"backend": {}, "frontend": {"servers": ["web2"]}}}
    placed = [(p.name, p.deploy_dir, service) for p, service in placements(config)]
    assert placed == [("web1", DEFAULT_DEPLOY_DIR, "backend"), ("web2", "/opt/slipway", "backend"),
                      ("web2", "/opt/slipway", "frontend")]


def test_a_stack_without_servers_switches_nothing() -> None:
    assert placements({"slipway:services": {"backend": {}}}) == []


def test_a_server_uses_its_own_key_else_the_stacks() -> None:
    config = {"slipway:servers": [{"name": "web1", "host": "h1", "hostKey": KEY},
                                  {"name": "web2", "host": "h2", "hostKey": KEY}],
              "slipway:services": {"backend": {}}}
    web1, web2 = (p for p, _ in placements(config))
    secrets = {"slipway:sshPrivateKey": Secret("stack key"),
               "slipway:sshPrivateKeys": Secret(json.dumps({"web2": "web2 key"}))}
    assert deploy_key(secrets, web1) == Secret("stack key")
    assert deploy_key(secrets, web2) == Secret("web2 key")
    assert deploy_key({}, web1) is None



class KeyThatAnswers:
    """Stands in for RollbackKeyConnections: each service answers with a given code."""

    def __init__(self, codes: dict[str, int]) -> None:
        self.codes = codes

    def switch(self, server: StackServer, service: str, sha: str) -> Outcome:
        return Outcome("deploy@h:22", service, self.codes[service], f"{service} via the key", "rollback key")


def test_the_deploy_key_takes_over_only_where_the_rollback_key_could_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    codes = {"ok": 0, "failed": 1, "gone": 3, "no-conn": -1, "ssh": 255, "no-agent": 10, "refused": 11,
             "late": -2}
    config = {"slipway:environment": "dev", "slipway:services": {name: {} for name in codes},
              "slipway:server": {"host": "h", "user": "deploy", "hostKey": KEY}}
    with_deploy_key: list[str] = []
    reads: list[int] = []

    def by_deploy_key(server: StackServer, service: str, secrets: DeployKeys, *_: object) -> Outcome:
        secrets()
        with_deploy_key.append(service)
        return Outcome("deploy@h:22", service, 0, "via the deploy key")

    def read() -> dict[str, Secret]:
        reads.append(1)
        return {}

    monkeypatch.setattr(switch_back_module, "switch_one", by_deploy_key)
    outcomes = switch_back(config, once(read), "a" * 40, "me", KeyThatAnswers(codes))  # type: ignore[arg-type]
    got = {o.service: (o.code, o.via) for o in outcomes}
    # The agent's own answers (switched, failed its gate, nothing retained) and a timeout stand.
    assert got["ok"] == (0, "rollback key") and got["failed"] == (1, "rollback key")
    assert got["gone"] == (3, "rollback key") and got["late"] == (-2, "rollback key")
    assert sorted(with_deploy_key) == ["no-agent", "no-conn", "refused", "ssh"]
    assert all(got[s] == (0, "deploy key") for s in with_deploy_key)
    assert "(the rollback key could not: ssh via the key)" in next(
        o.message for o in outcomes if o.service == "ssh")
    assert reads == [1]  # the deploy keys were decrypted once, for all four
