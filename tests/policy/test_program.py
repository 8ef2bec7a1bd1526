"""slipway's own program complies with the policy pack: its dev/uat/prod stacks, run under the
Pulumi mocks of tests/unit, give the rules nothing to report; prod without reviewers does.

The resources are the wire form the program registers (secrets still wrapped), turned into
rule inputs the way the pack does it (policy.values), with their recorded dependencies.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy import pack, rules
from policy.values import mark_secrets, plain
from tests.unit.harness import Run, run_program
from tests.unit.stackfiles import SECRETS, project_dir, raw_config


def run(stack: str, tmp_path: Path, **overrides: str) -> Run:
    return run_program(stack, {**raw_config(stack), **overrides}, set(SECRETS), project_dir(tmp_path))


def violations(result: Run, stack: str) -> list[tuple[str, str]]:
    resources = [
        rules.StackResource(urn=r.urn, resource_type=r.typ, name=r.name, props=plain(mark_secrets(r.raw)),
                            dependencies=set(r.dependencies))
        for r in result.registrations
    ]
    out: list[tuple[str, str]] = []
    for r in resources:
        for check in (rules.check_images, rules.check_command_secret_inputs, rules.check_command_lines):
            out += [(r.name, m) for m in check(r.resource_type, r.name, r.props)]
        out += [(r.name, m) for m in rules.check_prod_reviewers(r.resource_type, r.name, r.props,
                                                                 stack=stack, environment=stack)]
    by_urn = {r.urn: r.name for r in resources}
    for stack_check in (rules.check_deploys_depend_on_migration, rules.check_known_secrets_in_commands):
        out += [(by_urn[urn], m) for urn, m in stack_check(resources)]
    return out


@pytest.mark.parametrize("stack", ["dev", "uat", "prod"])
def test_slipway_stacks_comply(stack: str, tmp_path: Path) -> None:
    result = run(stack, tmp_path)
    names = {r.name for r in result.registrations}
    assert {"app-migration-run", "app-backend-deploy", "app-frontend-deploy"} <= names
    assert violations(result, stack) == []


def test_prod_without_reviewers_is_refused(tmp_path: Path) -> None:
    github = json.loads(raw_config("prod")["slipway:github"])
    github.pop("reviewers")
    result = run("prod", tmp_path, **{"slipway:github": json.dumps(github)})
    found = violations(result, "prod")
    assert [name for name, _ in found] == ["app-github-environment"]
    assert "has no reviewers" in found[0][1]


def test_pack_policies_cover_every_rule() -> None:
    assert len(pack.POLICY_NAMES) == len(set(pack.POLICY_NAMES)) == 6
