"""The real provider code against the GitHub API test double.

tests/sandbox/provider_probe is a small Go test that links terraform-provider-github v6.13.0
(the upstream of pulumi-github 6.15.0, with the same go-github v88) and runs its Configure and
its resources' Create/Read/Update/Delete against the double: the environment (reviewers, branch
policy), deployment branch policy, environment secret (sealed by the provider, decrypted by the
double), environment variable and the data sources.  It proves the double speaks the provider's
wire format, not just ours.

Needs Go >= 1.26 (the toolchain build needs it too); it is skipped without `go`.  The first run
downloads the provider's modules into the toolchain's Go caches and compiles for a few minutes.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.sandbox.conftest import REPO

PROBE = REPO / "tests" / "sandbox" / "provider_probe"


def test_provider_resources_against_the_double(sandbox: dict[str, str]) -> None:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not on PATH")
    cache = Path(os.environ.get("SLIPWAY_CACHE", Path.home() / ".cache" / "slipway"))
    env = {
        **os.environ,
        "GOMODCACHE": os.environ.get("GOMODCACHE", str(cache / "go" / "mod")),
        "GOCACHE": os.environ.get("GOCACHE", str(cache / "go" / "build")),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=readonly",
        "GITHUB_DOUBLE_URL": sandbox["SANDBOX_GITHUB_URL"],
        "GITHUB_DOUBLE_TOKEN": sandbox["SANDBOX_GITHUB_TOKEN"],
        "PROBE_OWNER": sandbox["SANDBOX_GITHUB_OWNER"],
        "PROBE_REPO": f"provider-probe-{secrets.token_hex(4)}",
    }
    done = subprocess.run([go, "test", "-count=1", "-v", "."], cwd=PROBE, env=env, capture_output=True,
                          text=True, timeout=1800)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    for name in ("TestProviderAgainstDouble", "TestProviderOrgOwnerAndTeamReviewer", "TestProviderNewClient"):
        assert f"--- PASS: {name}" in out, out[-6000:]
