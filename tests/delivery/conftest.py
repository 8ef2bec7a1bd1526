"""Fixtures for the delivery tests: the sandbox's real services (registry, GitHub double)."""

from __future__ import annotations

import secrets

import pytest

from tests.sandbox_access import github_call, sandbox_env


@pytest.fixture(scope="session")
def sandbox() -> dict[str, str]:
    env = sandbox_env()
    if env is None:
        pytest.skip("the sandbox is not running (make sandbox)")
    return env


@pytest.fixture
def github_repo(sandbox: dict[str, str]) -> str:
    """A fresh repository in the GitHub double: owner/name."""
    owner = sandbox.get("SANDBOX_GITHUB_OWNER", "slipway-bot")
    name = "plan-" + secrets.token_hex(4)
    github_call(sandbox, "POST", "/_double/repos", {"owner": owner, "name": name})
    return f"{owner}/{name}"
