"""The pack through pulumi-policy's own analyzer servicer, fed protobuf requests shaped like the
engine's (secret envelopes, unknown sentinels, dependencies), without the CLI.

This is what proves the secret check really fires: pulumi-policy alone hands validations the
secret's plain value, indistinguishable from plain text; policy.values makes it a SecretStr.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, StackValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policy import pack, rules
from policy.values import SECRET_SIG, SIG_KEY, install_secret_marking, mark_secrets, plain
from slipway.naming import MIGRATION_PLAN_ENV

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SHA = "0123456789abcdef0123456789abcdef01234567"
PINNED = f"registry.example.com/app:prod-{SHA}@sha256:{'ab' * 32}"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(props)
    return s


@pytest.fixture(scope="module")
def servicer() -> Iterator[_PolicyAnalyzerServicer]:
    install_secret_marking()
    yield _PolicyAnalyzerServicer(pack.PACK_NAME, "0.1.0", pack.policies(), EnforcementLevel.MANDATORY)


def analyze(servicer: _PolicyAnalyzerServicer, resource_type: str, name: str,
            props: dict[str, Any]) -> list[tuple[str, str]]:
    urn = f"urn:pulumi:prod::p::{resource_type}::{name}"
    request = analyzer_pb2.AnalyzeRequest(type=resource_type, name=name, urn=urn, properties=struct(props))
    response = servicer.Analyze(request, None)
    # The SDK puts the policy's description before the message: keep the message.
    return [(d.policyName, d.message.rsplit("\n", 1)[-1]) for d in response.diagnostics]


def deploy(**props: Any) -> dict[str, Any]:
    base = {
        "connection": secret({"host": "203.0.113.10", "user": "deploy", "port": 22,
                              "privateKey": secret(KEY)}),
        "create": f"timeout 600 sh -c 'docker pull --quiet {PINNED}'",
        "stdin": secret("SECRET_KEY='django-secret-value-1'\n"),
    }
    return base | props


def test_pack_has_every_rule_mandatory() -> None:
    policies = pack.policies()
    assert [p.name for p in policies] == list(pack.POLICY_NAMES)
    assert all(p.enforcement_level == EnforcementLevel.MANDATORY for p in policies)
    stack_policies = {p.name for p in policies if isinstance(p, StackValidationPolicy)}
    assert stack_policies == {pack.DEPLOY_AFTER_MIGRATION, pack.KNOWN_SECRETS_IN_COMMANDS}


def test_secret_envelopes_become_secret_strings() -> None:
    marked = mark_secrets({"a": secret("x"), "b": "y", "c": secret({"d": "e", "f": secret("g")}),
                           "u": secret(UNKNOWN)})
    values = plain(marked)
    assert type(values["a"]).__name__ == "SecretStr" and values["a"] == "x"
    assert type(values["b"]) is str
    assert type(values["c"]["d"]).__name__ == "InheritedSecretStr"
    assert type(values["c"]["f"]).__name__ == "SecretStr"
    assert repr(values["u"]) == "Unknown(secret=True)"


def test_compliant_deploy_passes(servicer: _PolicyAnalyzerServicer) -> None:
    assert analyze(servicer, rules.REMOTE_COMMAND, "app-backend-deploy", deploy()) == []


def test_plain_stdin_fires_through_the_sdk(servicer: _PolicyAnalyzerServicer) -> None:
    out = analyze(servicer, rules.REMOTE_COMMAND, "app-backend-deploy",
                  deploy(stdin="SECRET_KEY='django-secret-value-1'\n"))
    assert out == [(pack.COMMAND_SECRET_INPUTS, rules._plain_text("app-backend-deploy.stdin"))]


def test_plain_private_key_fires_through_the_sdk(servicer: _PolicyAnalyzerServicer) -> None:
    # Only if the provider did not mark it (the pinned command provider does; see test_preview).
    out = analyze(servicer, rules.REMOTE_COMMAND, "d",
                  deploy(connection={"host": "h", "user": "u", "privateKey": KEY}))
    assert out == [(pack.COMMAND_SECRET_INPUTS, rules._plain_text("d.connection.privateKey"))]


def test_without_secret_marking_the_sdk_hides_secretness() -> None:
    """The reason policy.values exists: the unpatched SDK deserializer drops the envelope."""
    from pulumi_policy.deserialize import deserialize_properties as unpatched

    values = unpatched({"stdin": secret("s3cret-value")})
    assert values == {"stdin": "s3cret-value"} and type(values["stdin"]) is str


def test_unknowns_do_not_abort_the_other_checks(servicer: _PolicyAnalyzerServicer) -> None:
    # stdin unknown in preview; the plain-text password URL in `create` must still be reported.
    out = analyze(servicer, rules.REMOTE_COMMAND, "d",
                  deploy(stdin=UNKNOWN, create="psql postgres://app:hunter2@db/app"))
    assert [name for name, _ in out] == [pack.COMMAND_LINE_SECRETS]
    assert not any("can't run policy" in message for _, message in out)


def test_mutable_migration_image_fires_through_the_sdk(servicer: _PolicyAnalyzerServicer) -> None:
    plan = '{"image": "registry.example.com/app:prod-latest", "sha": "x", "steps": []}'
    out = analyze(servicer, rules.LOCAL_COMMAND, "app-migration-run",
                  {"create": "python3 -m slipway.runners.migrate",
                   "environment": {MIGRATION_PLAN_ENV: plan}, "stdin": secret("DATABASE_URL=x\n")})
    assert [name for name, _ in out] == [pack.IMAGES_PINNED]


def test_prod_reviewers_use_the_stack_name(servicer: _PolicyAnalyzerServicer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    props = {"repository": "app", "environment": "backend", "reviewers": []}
    monkeypatch.setenv("PULUMI_STACK", "prod")
    out = analyze(servicer, rules.GITHUB_ENVIRONMENT, "env", props)
    assert [name for name, _ in out] == [pack.PROD_REVIEWERS]
    monkeypatch.setenv("PULUMI_STACK", "dev")
    monkeypatch.setenv("PULUMI_CONFIG", '{"slipway:environment": "prod"}')
    out = analyze(servicer, rules.GITHUB_ENVIRONMENT, "env", props)
    assert [name for name, _ in out] == [pack.PROD_REVIEWERS]
    monkeypatch.setenv("PULUMI_CONFIG", '{"slipway:environment": "dev"}')
    assert analyze(servicer, rules.GITHUB_ENVIRONMENT, "env", props) == []
    assert os.environ["PULUMI_STACK"] == "dev"


def stack_resource(resource_type: str, name: str, props: dict[str, Any], deps: list[str] | None = None,
                   prop_deps: dict[str, list[str]] | None = None) -> analyzer_pb2.AnalyzerResource:
    resource = analyzer_pb2.AnalyzerResource(
        type=resource_type, name=name, urn=f"urn:pulumi:prod::p::{resource_type}::{name}",
        properties=struct(props), dependencies=deps or [])
    for key, urns in (prop_deps or {}).items():
        resource.propertyDependencies[key].urns.extend(urns)
    return resource


def analyze_stack(servicer: _PolicyAnalyzerServicer,
                  resources: list[analyzer_pb2.AnalyzerResource]) -> list[tuple[str, str, str]]:
    response = servicer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), None)
    return [(d.policyName, d.urn, d.message) for d in response.diagnostics]


MIGRATION_URN = f"urn:pulumi:prod::p::{rules.LOCAL_COMMAND}::app-migration-run"


def test_stack_rules_through_the_sdk(servicer: _PolicyAnalyzerServicer) -> None:
    migration = stack_resource(rules.LOCAL_COMMAND, "app-migration-run",
                               {"create": "python3 -m slipway.runners.migrate",
                                "environment": {MIGRATION_PLAN_ENV: UNKNOWN},
                                "stdin": secret("A='b'\n")})
    good = stack_resource(rules.REMOTE_COMMAND, "app-backend-deploy", deploy(create=UNKNOWN),
                          prop_deps={"create": [MIGRATION_URN]})
    assert analyze_stack(servicer, [migration, good]) == []

    bad = stack_resource(rules.REMOTE_COMMAND, "app-frontend-deploy",
                         deploy(create="echo django-secret-value-1 | true"), deps=[])
    out = analyze_stack(servicer, [migration, good, bad])
    assert sorted((name, urn.rsplit("::", 1)[1]) for name, urn, _ in out) == [
        (pack.DEPLOY_AFTER_MIGRATION, "app-frontend-deploy"),
        (pack.KNOWN_SECRETS_IN_COMMANDS, "app-frontend-deploy"),
    ]
