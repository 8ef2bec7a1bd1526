"""`slipway audit`: the server's log, read and shown as a table."""

from __future__ import annotations

import json

from slipway.delivery.audit import parse_log, render_table
from slipway.delivery.servers import server_of, servers_of

SHA, OLD = "3f6c1c1e9a7b4d2e8f0a1b2c3d4e5f60718293a4", "9a8b7c6d5e4f30211234567890abcdef12345678"


def test_entries_become_a_table_and_a_torn_line_is_skipped() -> None:
    entry = {"time": "2026-12-02T06:00:00Z", "environment": "prod", "service": "backend",
             "operation": "rollback", "result": "rolled-back", "sha": OLD, "previous_sha": SHA,
             "actor": "github:octocat", "server": "deploy@203.0.113.10:22", "image": "r/app@sha256:x"}
    text = json.dumps(entry) + "\n{\"time\": \"2026-12-02T06:0"  # the last write was cut off
    entries = parse_log(text)
    assert entries == [entry]
    assert render_table(entries).splitlines() == [
        "time                  environment  service  operation  result       sha           "
        "previous_sha  actor",
        "2026-12-02T06:00:00Z  prod         backend  rollback   rolled-back  9a8b7c6d5e4f  "
        "3f6c1c1e9a7b  github:octocat",
    ]
    assert render_table([]) == "no deploys recorded yet"


def test_the_server_comes_from_the_stack_config() -> None:
    config = {"slipway:server": {"host": "203.0.113.10", "port": 2222, "user": "deploy",
                                 "hostKey": "ssh-ed25519 AAAA", "deployDir": "/srv/x"}}
    server, deploy_dir = server_of(config)
    assert server.where == "deploy@203.0.113.10:2222"
    assert (server.host_key, deploy_dir) == ("ssh-ed25519 AAAA", "/srv/x")


def test_several_servers_come_in_rollout_order_the_first_is_the_primary() -> None:
    config = {"slipway:servers": json.dumps([
        {"name": "web1", "host": "203.0.113.11", "hostKey": "ssh-ed25519 AAAA", "deployDir": "/srv/a"},
        {"name": "web2", "host": "web2", "port": 2222, "user": "ops", "hostKey": "ssh-ed25519 BBBB"}])}
    listed = servers_of(config)
    assert [(s.name, s.server.where, s.deploy_dir) for s in listed] == [
        ("web1", "deploy@203.0.113.11:22", "/srv/a"), ("web2", "ops@web2:2222", "/srv/slipway")]
    assert server_of(config) == (listed[0].server, "/srv/a")
