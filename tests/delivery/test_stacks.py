from __future__ import annotations

import json
from pathlib import Path

import pytest

from slipway.delivery.stacks import affected_stacks, main, stack_for_branch


def test_branch_map() -> None:
    assert stack_for_branch("development") == "dev"
    assert stack_for_branch("uat") == "uat"
    assert stack_for_branch("refs/heads/main") == "prod"
    assert stack_for_branch("feature/x") is None


@pytest.mark.parametrize(("base", "changed", "expected"), [
    ("main", ["README.md"], ["prod"]),  # merging deploys prod even for docs
    ("development", ["Pulumi.uat.yaml"], ["dev", "uat"]),
    ("uat", ["components/service.py"], ["dev", "uat", "prod"]),
    ("feature", ["requirements.txt"], ["dev", "uat", "prod"]),
    ("feature", ["slipway/delivery/plan_comment.py", "tests/unit/x.py"], []),
    ("main", ["Pulumi.local.yaml", "examples/Pulumi.dev.yaml"], ["prod"]),
    ("development", ["slipway/config.py"], ["dev", "uat", "prod"]),
])
def test_affected_stacks(base: str, changed: list[str], expected: list[str]) -> None:
    assert affected_stacks(base, changed) == expected


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    changed = tmp_path / "changed.txt"
    changed.write_text("Pulumi.prod.yaml\n\n")
    assert main(["affected", "--base", "uat", "--changed-files", str(changed)]) == 0
    assert json.loads(capsys.readouterr().out) == ["uat", "prod"]
    assert main(["for-branch", "main"]) == 0
    assert capsys.readouterr().out.strip() == "prod"
    assert main(["for-branch", "topic"]) == 1
    assert "deploys no stack" in capsys.readouterr().err
