"""The pipeline's way to the database: direct, or through the server (database.access: ssh)."""

from __future__ import annotations

import json
from pathlib import Path

from slipway.delivery.remote import Server
from slipway.naming import default_tunnel_port
from slipway.tunnel import forward_argv
from tests.unit.harness import Run, run_program, unwrap
from tests.unit.stackfiles import SECRETS, project_dir, raw_config
from tests.unit.test_config import parse

PRIVATE = "private-projectmeats-db-do-user-1234567-0.k.db.ondigitalocean.com"


def program(stack: str, tmp: Path, **database: object) -> Run:
    raw = raw_config(stack)
    raw["slipway:database"] = json.dumps({**json.loads(raw["slipway:database"]), **database})
    return run_program(stack, raw, set(SECRETS), project_dir(tmp))


def test_committed_stacks_reach_the_database_through_the_droplet(tmp_path: Path) -> None:
    for stack in ("dev", "uat", "prod"):
        db = parse(raw_config(stack), tmp_path / stack, stack=stack).database
        assert db.access == "ssh" and db.admin_host == PRIVATE and db.app_host == PRIVATE
        assert db.pipeline_endpoint == ("127.0.0.1", default_tunnel_port(stack))
    assert len({default_tunnel_port(s) for s in ("dev", "uat", "prod")}) == 3
    assert all(20000 <= default_tunnel_port(s) < 30000 for s in ("dev", "uat", "prod", "x" * 50))


def test_the_provider_and_the_migration_go_through_the_tunnel_the_app_gets_the_vpc_host(
        tmp_path: Path) -> None:
    result = program("prod", tmp_path, tunnelPort=25432)
    provider = result.named("app-database-admin")
    assert (provider.inputs["host"], provider.inputs["port"]) == ("127.0.0.1", "25432")
    migration_env = unwrap(result.named("app-migration-run").raw["stdin"])
    assert "@127.0.0.1:25432/projectmeats_prod?sslmode=require" in migration_env
    github = [s for s in result.of_type("github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret")
              if s.inputs["secretName"] == "DATABASE_URL"]
    assert f"@{PRIVATE}:25060/projectmeats_prod" in unwrap(github[0].raw["value"])
    deploy_env = unwrap(result.named("app-backend-deploy").raw["stdin"])
    assert f"@{PRIVATE}:25060/projectmeats_prod" in deploy_env and "127.0.0.1:25432" not in deploy_env


def test_direct_access_connects_to_the_admin_endpoint(tmp_path: Path) -> None:
    result = program("dev", tmp_path, access="direct", adminHost="db.example.com", adminPort=25060)
    provider = result.named("app-database-admin")
    assert (provider.inputs["host"], provider.inputs["port"]) == ("db.example.com", "25060")
    assert "@db.example.com:25060/" in unwrap(result.named("app-migration-run").raw["stdin"])


def test_role_options_are_set_only_when_configured(tmp_path: Path) -> None:
    plain = program("dev", tmp_path / "plain").named("app-database-role").inputs
    assert not {"bypassRowLevelSecurity", "connectionLimit", "statementTimeout"} & set(plain)
    chosen = program("dev", tmp_path / "set", roleOptions={"bypassRls": True, "connectionLimit": 20,
                                                           "statementTimeoutMs": 30000})
    role = chosen.named("app-database-role").inputs
    assert (role["bypassRowLevelSecurity"], role["connectionLimit"], role["statementTimeout"]) == (
        True, 20, 30000)


def test_the_forward_pins_the_host_key_and_runs_no_command() -> None:
    server = Server(host="203.0.113.10", port=22, user="deploy", host_key="ssh-ed25519 AAAA")
    assert forward_argv(server, Path("/tmp/k/known_hosts"), 25432, PRIVATE, 25060) == [
        "ssh", "-N", "-p", "22", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", "UserKnownHostsFile=/tmp/k/known_hosts", "-o", "PasswordAuthentication=no",
        "-o", "ConnectTimeout=10", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=4", "-L", f"127.0.0.1:25432:{PRIVATE}:25060", "deploy@203.0.113.10"]
