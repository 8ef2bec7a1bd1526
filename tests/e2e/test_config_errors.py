"""Bad config through the real CLI and language host: one clear message, nothing created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.workspace import Workspace, sandbox_env

pytestmark = pytest.mark.e2e


def test_bad_config_fails_before_any_resource_with_every_problem_named(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, sandbox_env())
    ws.setup()
    ws.update_config(**{"sha": "latest", "server.hostKey": None,
                        "services.backend.env.DJANGO_SECRET_KEY": "oops"})
    done = ws.up()
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "has 3 config problems; nothing was changed" in output
    assert "slipway:sha: 'latest' is not a commit SHA" in output
    assert "slipway:server.hostKey: is missing" in output
    assert "slipway:services.backend.env.DJANGO_SECRET_KEY: looks like a secret" in output
    assert "Traceback" not in output
    assert ws.secret_key not in output
    resources = json.loads(ws.export())["deployment"].get("resources") or []
    assert [r["type"] for r in resources] in ([], ["pulumi:pulumi:Stack"])


def test_a_real_stack_refuses_the_local_sandbox_passphrase(tmp_path: Path) -> None:
    from slipway.state_settings import LOCAL_PASSPHRASE

    ws = Workspace(tmp_path, sandbox_env())
    ws.passphrase = ws.env["PULUMI_CONFIG_PASSPHRASE"] = LOCAL_PASSPHRASE
    ws.setup()
    done = ws.up()
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "PULUMI_CONFIG_PASSPHRASE is the local sandbox's public passphrase" in output
    assert "Traceback" not in output
    resources = json.loads(ws.export())["deployment"].get("resources") or []
    assert [r["type"] for r in resources] in ([], ["pulumi:pulumi:Stack"])
