"""Which services on which servers a rollback switches back, and with which deploy key."""

from __future__ import annotations

import json

from slipway.delivery.servers import DEFAULT_DEPLOY_DIR, deploy_key
from slipway.delivery.switch_back import placements
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
