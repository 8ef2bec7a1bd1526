"""The local sandbox's state backend and public passphrase never serve a real stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from slipway.state_settings import LOCAL_PASSPHRASE, state_problems, unsafe_program_settings

REPO = Path(__file__).resolve().parents[2]


def test_local_stack_may_use_the_sandbox_defaults(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE}
    assert state_problems("local", env) == []


def test_real_stack_without_backend_or_passphrase_names_both(tmp_path: Path) -> None:
    problems = state_problems("prod", {"HOME": str(tmp_path)})
    assert len(problems) == 2
    assert problems[0].startswith("no state backend for stack 'prod': set PULUMI_BACKEND_URL")
    assert problems[1].startswith("no passphrase for stack 'prod': set PULUMI_CONFIG_PASSPHRASE")


def test_real_stack_refuses_the_public_passphrase_and_the_sandbox_state(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE,
           "PULUMI_BACKEND_URL": f"file://{tmp_path}/.cache/slipway/state"}
    problems = state_problems("uat", env)
    assert any("local sandbox's public passphrase" in p for p in problems)
    assert any("is the local sandbox's state folder" in p for p in problems)
    assert unsafe_program_settings("uat", env) and not unsafe_program_settings("local", env)
    # As scripts/local-env.sh sets it (with its query) it is the same folder.
    skip = {**env, "PULUMI_BACKEND_URL": f"file://{tmp_path}/.cache/slipway/state?metadata=skip"}
    assert any("is the local sandbox's state folder" in p for p in state_problems("uat", skip))


def test_real_stack_with_its_own_settings_passes(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PULUMI_BACKEND_URL": "s3://bucket/slipway",
           "PULUMI_CONFIG_PASSPHRASE_FILE": "/run/secrets/passphrase"}
    assert state_problems("prod", env) == []
    cloud = {"HOME": str(tmp_path), "PULUMI_BACKEND_URL": "https://api.pulumi.com"}
    assert state_problems("prod", cloud) == []


def test_a_pulumi_login_counts_as_a_backend(tmp_path: Path) -> None:
    home = tmp_path / ".pulumi"
    home.mkdir()
    (home / "credentials.json").write_text('{"current": "s3://bucket/state"}')
    env = {"HOME": str(tmp_path), "PULUMI_CONFIG_PASSPHRASE": "real-one"}
    assert state_problems("prod", env) == []


def test_env_sh_no_longer_defaults_them_and_rollback_says_what_to_set(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(HOME=str(tmp_path), SLIPWAY_CACHE=str(tmp_path / "cache"))
    done = subprocess.run(
        ["bash", "-c", f"source {REPO}/scripts/env.sh && exec {sys.executable} -m slipway.delivery.rollback"
         " --stack prod --yes"], capture_output=True, text=True, env=env, cwd=REPO, check=False)
    assert done.returncode == 3, done.stderr
    assert "refused before running anything" in done.stderr
    assert "set PULUMI_BACKEND_URL" in done.stderr and "set PULUMI_CONFIG_PASSPHRASE" in done.stderr
    local = subprocess.run(["bash", "-c", f"source {REPO}/scripts/local-env.sh && env"],
                           capture_output=True, text=True, env=env, check=True).stdout
    assert f"PULUMI_CONFIG_PASSPHRASE={LOCAL_PASSPHRASE}" in local
