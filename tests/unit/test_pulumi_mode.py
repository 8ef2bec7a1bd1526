"""scripts/env.sh picks the standard Pulumi when the user has one, else the hermetic toolchain."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def sourced(tmp: Path, path_first: Path | None = None, **env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "SLIPWAY_"))}
    # A PATH with no pulumi of the machine's own, so each test decides whether there is one.
    base.update(HOME=str(tmp), SLIPWAY_CACHE=str(tmp / "cache"), PATH="/usr/bin:/bin", **env)
    if path_first is not None:
        base["PATH"] = f"{path_first}:{base['PATH']}"
    out = subprocess.run(["bash", "-c", f"source {REPO}/scripts/env.sh && env -0"], env=base,
                         capture_output=True, check=True).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


@pytest.fixture
def installed_pulumi(tmp_path: Path) -> Path:
    """A `pulumi` v3 on PATH, as a normal install provides."""
    bin_dir = tmp_path / "usr-bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text("#!/bin/sh\n[ \"$1\" = version ] && echo v3.260.0\n")
    fake.chmod(0o755)
    return bin_dir


def test_a_pulumi_on_path_is_used_the_standard_way(tmp_path: Path, installed_pulumi: Path) -> None:
    env = sourced(tmp_path, installed_pulumi)
    assert env["SLIPWAY_PULUMI_MODE"] == "standard"
    assert "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION" not in env  # Pulumi installs the plugins
    assert "PULUMI_HOME" not in env  # the user's own plugins and login stay in reach
    assert env["SLIPWAY_TOOLCHAIN_BIN"] not in env["PATH"].split(":")


def test_without_a_pulumi_the_hermetic_toolchain_is_chosen(tmp_path: Path) -> None:
    env = sourced(tmp_path)
    assert env["SLIPWAY_PULUMI_MODE"] == "hermetic"
    assert env["PATH"].split(":")[0] == env["SLIPWAY_TOOLCHAIN_BIN"]
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"


def test_hermetic_can_be_chosen_explicitly(tmp_path: Path, installed_pulumi: Path) -> None:
    env = sourced(tmp_path, installed_pulumi, SLIPWAY_PULUMI="hermetic")
    assert env["SLIPWAY_PULUMI_MODE"] == "hermetic"
    assert env["PATH"].split(":")[0] == env["SLIPWAY_TOOLCHAIN_BIN"]


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(["bash", "-c", f"set -e; source {REPO}/scripts/env.sh; echo sourced"],
                          env={**os.environ, "SLIPWAY_PULUMI": "cloud", "HOME": str(tmp_path)},
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "sourced" not in done.stdout
    assert "SLIPWAY_PULUMI=cloud is not one of standard, hermetic, auto" in done.stderr


def test_make_toolchain_builds_nothing_in_standard_mode(tmp_path: Path, installed_pulumi: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "SLIPWAY_"))}
    env.update(HOME=str(tmp_path), SLIPWAY_CACHE=str(tmp_path / "cache"),
               PATH=f"{installed_pulumi}:/usr/bin:/bin")
    done = subprocess.run(["bash", str(REPO / "toolchain" / "ensure.sh")], env=env, capture_output=True,
                          text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "standard mode: using" in done.stdout and not (tmp_path / "cache" / "toolchain").exists()
