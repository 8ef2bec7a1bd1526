"""Several servers: the config (`slipway:servers`, `slipway:rollout`, a service's `servers`) and
the graph it makes under Pulumi mocks (batches, names, aliases). The rollout itself is proven
against real test hosts in tests/e2e/test_rollout.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slipway.config import parse_stack_config
from slipway.config.models import RolloutConfig
from slipway.errors import ConfigError
from tests.unit.harness import Run, run_program, unwrap
from tests.unit.stackfiles import SECRETS, FakeGit, project_dir, raw_config

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB5yco1IY5DX2adr9i4CS9oNLLB0o/+MnluypwL2OqeI"


def fleet(*names: str) -> str:
    return json.dumps([{"name": n, "host": f"{n}.example.com", "hostKey": KEY} for n in names])


def raw_with(**overrides: object) -> dict[str, str]:
    raw = {k: v for k, v in raw_config("dev").items() if k != "slipway:server"}
    raw["slipway:servers"] = fleet("web1", "web2", "web3")
    for key, value in overrides.items():
        full = f"slipway:{key}"
        if value is None:
            raw.pop(full, None)
        else:
            raw[full] = value if isinstance(value, str) else json.dumps(value)
    return raw


def service_on(service: str, servers: list[str]) -> dict[str, str]:
    """The fleet config with `services.<service>.servers` set."""
    raw = raw_with()
    services = json.loads(raw["slipway:services"])
    services[service]["servers"] = servers
    raw["slipway:services"] = json.dumps(services)
    return raw


def problems(raw: dict[str, str], tmp_path: Path, secret_keys: set[str] | None = None) -> list[str]:
    """Every problem the config has, as `key: message` (the error text must hold no secret)."""
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, set(SECRETS) if secret_keys is None else secret_keys, stack="dev",
                           project_dir=project_dir(tmp_path), git=FakeGit())
    assert "d2ViMi1vd24ta2V5" not in str(caught.value)  # WEB2_KEY's body
    return [f"{p.key}: {p.message}" for p in caught.value.problems]


def graph(raw: dict[str, str], tmp_path: Path) -> Run:
    return run_program("dev", raw, set(SECRETS), project_dir(tmp_path))


def deps(result: Run, name: str) -> set[str]:
    by_urn = {r.urn: r.name for r in result.registrations}
    return {by_urn.get(u, u) for u in result.named(name).dependencies}


@pytest.mark.parametrize(("size", "servers", "expected"), [
    ("1", 3, [[0], [1], [2]]),
    ("2", 3, [[0, 1], [2]]),
    ("50%", 3, [[0, 1], [2]]),
    ("34%", 3, [[0, 1], [2]]),
    ("100%", 4, [[0, 1, 2, 3]]),
    ("10", 2, [[0, 1]]),
])
def test_batches(size: str, servers: int, expected: list[list[int]]) -> None:
    names = tuple(f"s{i}" for i in range(servers))
    rollout = RolloutConfig.model_validate({"batchSize": size})
    assert rollout.batches(names) == tuple(tuple(f"s{i}" for i in b) for b in expected)


def test_each_server_waits_for_the_whole_batch_before_it(tmp_path: Path) -> None:
    result = graph(raw_with(rollout={"batchSize": 1, "pauseSeconds": 30}), tmp_path)
    # The first batch waits for the migration only; each later one for the deploys before it.
    assert not any("-deploy" in d for d in deps(result, "app-web1-backend"))
    # (A component's dependents wait for each of its children.)
    first = {"app-web1-backend-deploy", "app-web1-frontend-deploy"}
    assert first <= deps(result, "app-web2-backend") and first <= deps(result, "app-web2-agent")
    assert {"app-web2-backend-deploy", "app-web2-frontend-deploy"} <= deps(result, "app-web3-backend")
    assert "app-web1-backend-deploy" not in deps(result, "app-web3-backend")
    # Batches after the first pause before they switch.
    assert "--pause" not in result.named("app-web1-backend-deploy").inputs["create"]
    assert "--pause 30" in result.named("app-web2-backend-deploy").inputs["create"]
    # Each server's deploy goes to that server, with its pinned key.
    conn = unwrap(result.named("app-web3-backend-deploy").inputs["connection"])
    assert conn["host"] == "web3.example.com" and conn["hostKey"] == KEY


def test_a_batch_switches_together(tmp_path: Path) -> None:
    result = graph(raw_with(rollout={"batchSize": "50%"}), tmp_path)  # 2 of 3, rounded up
    assert "app-web1-backend-deploy" not in deps(result, "app-web2-backend")
    assert {"app-web1-backend-deploy", "app-web2-backend-deploy"} <= deps(result, "app-web3-backend")


def test_a_service_runs_only_on_the_servers_it_names(tmp_path: Path) -> None:
    result = graph(service_on("frontend", ["web2"]), tmp_path)
    fronts = sorted(r.name for r in result.registrations if r.name.endswith("-frontend-deploy"))
    assert fronts == ["app-web2-frontend-deploy"]


def test_the_first_named_server_aliases_the_single_servers_names(tmp_path: Path) -> None:
    result = graph(raw_with(), tmp_path)
    assert result.named("app-web1-backend").aliases == ["app-backend"]
    assert result.named("app-web1-agent").aliases == ["app-server"]
    assert result.named("app-web2-backend").aliases == []


def test_one_server_keeps_its_names(tmp_path: Path) -> None:
    result = run_program("dev", raw_config("dev"), set(SECRETS), project_dir(tmp_path))
    names = {r.name for r in result.registrations}
    assert {"app-server", "app-backend", "app-backend-deploy", "app-frontend-deploy"} <= names
    assert not any(n.startswith("app-server-") and n != "app-server-install" for n in names)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"server": json.loads(raw_config("dev")["slipway:server"])},
     "slipway:server: is set together with slipway:servers"),
    ({"servers": None}, "slipway:server: is missing"),
    ({"servers": []}, "slipway:servers: is empty"),
    ({"servers": fleet("web1", "web1")}, "slipway:servers[1].name: 'web1' is used by an earlier server"),
    ({"servers": [{"name": "Web 1", "host": "a", "hostKey": KEY}]}, "slipway:servers[0].name"),
    ({"servers": [{"name": "server", "host": "a", "hostKey": KEY}]},
     "slipway:servers[0].name: 'server' is the name slipway gives the one server of slipway:server"),
    ({"servers": [{"name": "a", "host": "web.example.com", "hostKey": KEY, "deployDir": "/srv/a"},
                  {"name": "b", "host": "WEB.example.com", "hostKey": KEY, "deployDir": "/srv/b"}]},
     "slipway:servers[1].host: WEB.example.com:22 is already server 'a'"),
    ({"servers": [{"name": "web1", "host": "a"}]}, "slipway:servers[0].hostKey"),
    ({"rollout": {"batchSize": "0"}}, "slipway:rollout.batchSize"),
    ({"rollout": {"batchSize": "150%"}}, "slipway:rollout.batchSize"),
])
def test_bad_server_config_is_named(overrides: dict[str, object], expected: str, tmp_path: Path) -> None:
    found = problems(raw_with(**overrides), tmp_path)
    assert any(p.startswith(expected) for p in found), found


def test_a_service_naming_an_unknown_server_is_refused(tmp_path: Path) -> None:
    found = problems(service_on("backend", ["web9"]), tmp_path)
    assert "slipway:services.backend.servers: names 'web9', which is not a server (web1, web2, web3)" in found


WEB2_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nd2ViMi1vd24ta2V5\n-----END OPENSSH PRIVATE KEY-----\n"


def test_a_server_may_have_its_own_deploy_key(tmp_path: Path) -> None:
    raw = {**raw_with(), "slipway:sshPrivateKeys": json.dumps({"web2": WEB2_KEY})}
    result = run_program("dev", raw, {*SECRETS, "slipway:sshPrivateKeys"}, project_dir(tmp_path))
    keys = {n: unwrap(result.named(f"app-{n}-backend-deploy").inputs["connection"])["privateKey"]
            for n in ("web1", "web2", "web3")}
    assert keys["web2"] == WEB2_KEY
    assert keys["web1"] == keys["web3"] == SECRETS["slipway:sshPrivateKey"]
    # Still a secret on the wire.
    assert "connection" in result.named("app-web2-backend-deploy").secret_fields()


@pytest.mark.parametrize(("keys", "secret", "expected"), [
    ({"web9": WEB2_KEY}, True,
     "slipway:sshPrivateKeys.web9: is the key of a server that slipway:servers does not list"),
    ({"web2": "not a key"}, True, "slipway:sshPrivateKeys.web2: is not an SSH private key"),
    ({"web2": WEB2_KEY}, False, "slipway:sshPrivateKeys: holds values in plain text"),
])
def test_bad_server_keys_are_named(keys: dict[str, str], secret: bool, expected: str, tmp_path: Path) -> None:
    raw = {**raw_with(), "slipway:sshPrivateKeys": json.dumps(keys)}
    found = problems(raw, tmp_path, {*SECRETS, "slipway:sshPrivateKeys"} if secret else set(SECRETS))
    assert any(p.startswith(expected) for p in found), found
