"""Typos and wrong shapes: one clear problem each (key, what is wrong, the fix), never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slipway.config import StackConfig, parse_stack_config
from slipway.errors import ConfigError
from tests.unit.stackfiles import SECRETS, FakeGit, project_dir, raw_config

Raw = dict[str, str]


def change(path: str, value: Any = None, *, rename: str | None = None) -> Callable[[Raw], None]:
    """Edit `slipway:<top>.<a>.<b>`: set it to `value`, or rename its last part."""
    top, *inner = path.split(".")

    def apply(raw: Raw) -> None:
        key = f"slipway:{top}"
        if not inner:
            if rename:
                raw[f"slipway:{rename}"] = raw.pop(key)
            else:
                raw[key] = value if isinstance(value, str) else json.dumps(value)
            return
        obj = json.loads(raw[key])
        target = obj
        for part in inner[:-1]:
            target = target[part]
        if rename:
            target[rename] = target.pop(inner[-1])
        else:
            target[inner[-1]] = value
        raw[key] = json.dumps(obj)

    return apply


# (id, change, the key named, the start of the message, a piece of the fix)
TYPOS_AND_SHAPES: list[tuple[str, Callable[[Raw], None], str, str, str]] = [
    (
        "typo-healthTimeoutSecond",
        change("services.backend.healthTimeoutSecond", 5),
        "slipway:services.backend.healthTimeoutSecond",
        "is not a known key; did you mean healthTimeoutSeconds?",
        "rename healthTimeoutSecond to healthTimeoutSeconds",
    ),
    (
        "typo-deploydir",
        change("server.deployDir", rename="deploydir"),
        "slipway:server.deploydir",
        "is not a known key; did you mean deployDir?",
        "deployDir",
    ),
    (
        "typo-top-migrations",
        change("migration", rename="migrations"),
        "slipway:migrations",
        "is not a known key; did you mean migration?",
        "rename migrations to migration",
    ),
    (
        "typo-top-secret-key",
        change("registryPassword", rename="registryPasword"),
        "slipway:registryPasword",
        "is not a known key; did you mean registryPassword?",
        "registryPassword",
    ),
    (
        "typo-healthpath-case",
        change("services.frontend.healthPath", rename="healthpath"),
        "slipway:services.frontend.healthpath",
        "is not a known key; did you mean healthPath?",
        "healthPath",
    ),
    (
        "typo-secretenv",
        change("services.backend.secretEnv", rename="secretsEnv"),
        "slipway:services.backend.secretsEnv",
        "is not a known key; did you mean secretEnv?",
        "secretEnv",
    ),
    (
        "typo-adminport",
        change("database.adminPort", rename="admin_port"),
        "slipway:database.admin_port",
        "is not a known key; did you mean adminPort?",
        "adminPort",
    ),
    (
        "typo-timeout-minutes",
        change("migration.timeoutMinutes", rename="timeout"),
        "slipway:migration.timeout",
        "is not a known key; did you mean timeoutMinutes?",
        "rename timeout to timeoutMinutes",
    ),
    (
        "typo-reviewer-team",
        change("github.reviewers.team", [1]),
        "slipway:github.reviewers.team",
        "is not a known key; did you mean teams?",
        "teams",
    ),
    (
        "typo-branch-policy",
        change("github.branchPolicy", rename="branchPolicies"),
        "slipway:github.branchPolicies",
        "is not a known key; did you mean branchPolicy?",
        "branchPolicy",
    ),
    (
        "unknown-nonsense",
        change("server.color", "blue"),
        "slipway:server.color",
        "is not a known key",
        "remove it from Pulumi.dev.yaml (known here:",
    ),
    (
        "secret-in-section",
        change("registry.password", "hunter2"),
        "slipway:registry.password",
        "is a secret and cannot sit in plain text here; it belongs in slipway:registryPassword",
        "pulumi config set --secret slipway:registryPassword",
    ),
    (
        "reviewers-list",
        change("github.reviewers", [123]),
        "slipway:github.reviewers",
        "must be a mapping (key: value), got [123]",
        "as a YAML mapping",
    ),
    (
        "branch-policy-string",
        change("github.branchPolicy", "protected"),
        "slipway:github.branchPolicy",
        'must be a mapping (key: value), got "protected"',
        "as a YAML mapping",
    ),
    (
        "server-list",
        change("server", ["a", "b"]),
        "slipway:server",
        "must be a mapping (key: value)",
        "as a YAML mapping",
    ),
    (
        "services-list",
        change("services", ["backend"]),
        "slipway:services",
        "must be a mapping (key: value)",
        "as a YAML mapping",
    ),
    (
        "service-string",
        change("services.backend", "backend"),
        "slipway:services.backend",
        "must be a mapping (key: value)",
        "as a YAML mapping",
    ),
    (
        "command-string",
        change("services.backend.command", "gunicorn app.wsgi"),
        "slipway:services.backend.command",
        'must be a list, got "gunicorn app.wsgi"',
        "YAML list",
    ),
    (
        "secret-env-string",
        change("services.backend.secretEnv", "SECRET_KEY"),
        "slipway:services.backend.secretEnv",
        "must be a list",
        "[SECRET_KEY]",
    ),
    (
        "env-list",
        change("services.backend.env", ["A=1"]),
        "slipway:services.backend.env",
        "must be a mapping of NAME: value",
        "YAML mapping",
    ),
    (
        "host-number",
        change("server.host", 5),
        "slipway:server.host",
        "must be a string, got 5",
        "pulumi config set --path 'slipway:server.host'",
    ),
    (
        "port-string",
        change("server.port", "twenty-two"),
        "slipway:server.port",
        'must be a whole number, got "twenty-two"',
        "--path 'slipway:server.port' 22",
    ),
    (
        "port-bool",
        change("services.backend.port", True),
        "slipway:services.backend.port",
        "must be a whole number, got true",
        "8000",
    ),
    (
        "protected-branches-string",
        change("github.branchPolicy", {"protectedBranches": "yes"}),
        "slipway:github.branchPolicy.protectedBranches",
        'must be true or false, got "yes"',
        "true",
    ),
    (
        "rollback-key-string",
        change("rollbackKey", "yes"),
        "slipway:rollbackKey",
        'must be true or false, got "yes"',
        "true",
    ),
    (
        "steps-map",
        change("migration.steps", {"a": 1}),
        "slipway:migration.steps",
        "must be a non-empty list of commands",
        "list each step",
    ),
    (
        "step-number",
        change("migration.steps", [["python", 3]]),
        "slipway:migration.steps[0]",
        "must be a non-empty list of strings",
        "[python, manage.py, migrate, --noinput]",
    ),
    (
        "env-value-map",
        change("services.backend.env.ALLOWED_HOSTS", {"a": 1}),
        "slipway:services.backend.env.ALLOWED_HOSTS",
        "must be a plain string",
        "pulumi config set",
    ),
    (
        "volumes-number",
        change("services.backend.volumes", 7),
        "slipway:services.backend.volumes",
        "must be a list, got 7",
        "/srv/media:/app/media",
    ),
    (
        "service-name",
        change("services.Back_End", {"context": "x"}),
        "slipway:services.Back_End",
        "'Back_End' is not a valid service name",
        "rename the service",
    ),
    (
        "environment-number",
        change("environment", 7),
        "slipway:environment",
        "'7' is not valid",
        "pulumi config set slipway:environment dev",
    ),
    (
        "context-nul",  # found by the property below: it crashed resolving the path
        change("services.frontend.context", "front\x00end"),
        "slipway:services.frontend.context",
        "contains a NUL character",
        "../backend",
    ),
    (
        "env-value-nul",
        change("services.backend.env.ALLOWED_HOSTS", "a\x00b"),
        "slipway:services.backend.env.ALLOWED_HOSTS",
        "contains a NUL character",
        "",
    ),
    (
        "step-nul",
        change("migration.steps", [["python", "manage.py\x00"]]),
        "slipway:migration.steps[0]",
        "contains a NUL character",
        "manage.py",
    ),
]


def parse(raw: Raw, tmp: Path) -> StackConfig:
    return parse_stack_config(raw, set(SECRETS), stack="dev", project_dir=project_dir(tmp), git=FakeGit())


@pytest.mark.parametrize(
    ("edit", "key", "message", "fix"), [c[1:] for c in TYPOS_AND_SHAPES], ids=[c[0] for c in TYPOS_AND_SHAPES]
)
def test_typo_or_wrong_shape_is_one_clear_problem(
    edit: Callable[[Raw], None], key: str, message: str, fix: str, tmp_path: Path
) -> None:
    raw = raw_config("dev")
    edit(raw)
    with pytest.raises(ConfigError) as caught:
        parse(raw, tmp_path)
    named = [p for p in caught.value.problems if p.key == key]
    assert len(named) == 1, [p.render() for p in caught.value.problems]
    assert named[0].message.startswith(message), named[0].message
    assert fix in named[0].fix, named[0].fix
    assert "Traceback" not in str(caught.value) and "pydantic" not in str(caught.value).lower()


def test_the_typo_table_is_large_enough() -> None:
    assert len(TYPOS_AND_SHAPES) >= 20


def test_a_typo_no_longer_keeps_the_default_silently(tmp_path: Path) -> None:
    raw = raw_config("dev")
    change("services.backend.healthTimeoutSecond", 5)(raw)
    with pytest.raises(ConfigError):
        parse(raw, tmp_path)


# ------------------------------------------------------------------ property: never a traceback

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 70000)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "/", "x:y", "ssh-ed25519 AAAA", "3f6c1c1e9a7b"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    return out


BASE = raw_config("dev")
EVERY_KEY = [
    p
    for key, text in BASE.items()
    if key not in SECRETS
    for p in _paths(
        json.loads(text) if text.startswith(("{", "[")) else text, (key.removeprefix("slipway:"),)
    )
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(EVERY_KEY), value=JSON)
def test_any_json_value_at_any_key_is_a_config_error_or_a_model(
    where: tuple[str, ...], value: Any, tmp_path: Path
) -> None:
    raw = dict(BASE)
    top, *inner = where
    if inner:
        obj = json.loads(raw[f"slipway:{top}"])
        target = obj
        for part in inner[:-1]:
            target = target[part]
        target[inner[-1]] = value
        raw[f"slipway:{top}"] = json.dumps(obj)
    else:
        raw[f"slipway:{top}"] = value if isinstance(value, str) else json.dumps(value)
    try:
        cfg = parse(raw, tmp_path)
    except ConfigError as error:
        assert error.problems and all(p.key.startswith("slipway:") and p.fix for p in error.problems)
    else:
        assert isinstance(cfg, StackConfig)
