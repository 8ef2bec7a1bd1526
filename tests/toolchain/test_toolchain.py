"""The pinned Pulumi toolchain built by toolchain/build.sh (issue 3).

Skips as a whole only when the toolchain bin dir for the current pins does not
exist (run `make toolchain`). A provider binary that build.sh could not build
because the Go module proxy refuses its module is skipped with build.sh's
recorded reason; any other missing binary fails.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.toolchain.toolchain import (
    PROVIDERS,
    copy_project,
    offline_env,
    provider_version,
    read_pins,
    read_requirements,
    run,
    unavailable_note,
)
from tests.toolchain.toolchain import bin_dir as toolchain_bin_dir

SMOKE = Path(__file__).resolve().parent / "smoke"


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    path = toolchain_bin_dir()
    if not path.is_dir():
        pytest.skip(f"toolchain not built: {path} does not exist (run `make toolchain`)")
    return path


def provider_binary(bin_path: Path, name: str) -> Path:
    binary = bin_path / f"pulumi-resource-{name}"
    if not binary.exists():
        note = unavailable_note(bin_path, binary.name)
        if note is not None:
            pytest.skip(f"{binary.name} was not built: the Go module proxy does not serve its module.\n"
                        f"{note}")
        pytest.fail(f"{binary} is missing: run toolchain/build.sh")
    return binary


def test_pins_match_python_sdk_requirements() -> None:
    pins = read_pins()
    reqs = read_requirements()
    assert pins["PULUMI_VERSION"] == "v" + reqs["pulumi"]
    for name, prefix in PROVIDERS.items():
        assert pins[f"{prefix}_VERSION"] == reqs[f"pulumi-{name}"], name


def test_pulumi_version_is_pinned(bin_dir: Path, tmp_path: Path) -> None:
    env = offline_env(bin_dir, tmp_path / "home", tmp_path / "state")
    out = run([str(bin_dir / "pulumi"), "version"], cwd=tmp_path, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == read_pins()["PULUMI_VERSION"]
    assert out.stdout.strip() == "v" + read_requirements()["pulumi"]


def test_python_language_host_is_complete(bin_dir: Path) -> None:
    for name in ("pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        path = bin_dir / name
        assert path.is_file() and os.access(path, os.X_OK), f"{path} missing or not executable"


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_provider_reports_its_python_sdk_pin(bin_dir: Path, name: str) -> None:
    binary = provider_binary(bin_dir, name)
    assert provider_version(binary) == read_requirements()[f"pulumi-{name}"]


def _preview(project: Path, bin_path: Path, tmp_path: Path, extra_env: dict[str, str] | None = None) -> str:
    home, state = tmp_path / "pulumi-home", tmp_path / "state"
    state.mkdir()
    env = offline_env(bin_path, home, state)
    env.update(extra_env or {})
    pulumi = str(bin_path / "pulumi")
    init = run([pulumi, "stack", "init", "test", "--non-interactive"], cwd=project, env=env, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    out = run([pulumi, "preview", "--non-interactive", "--stack", "test"], cwd=project, env=env)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "download" not in text.lower(), text
    # Nothing was installed into PULUMI_HOME: every plugin came from PATH.
    plugins = home / "plugins"
    installed = sorted(p.name for p in plugins.iterdir()) if plugins.is_dir() else []
    assert not [p for p in installed if p.startswith(("resource-", "language-"))], installed
    return text


def test_python_program_preview(bin_dir: Path, tmp_path: Path) -> None:
    project = tmp_path / "hello"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: slipway-toolchain-hello\nruntime:\n  name: python\n")
    (project / "__main__.py").write_text('import pulumi\n\npulumi.export("greeting", "hello from slipway")\n')
    text = _preview(project, bin_dir, tmp_path)
    assert "greeting" in text and "hello from slipway" in text, text


def test_smoke_preview_loads_all_four_providers(
    bin_dir: Path, tmp_path: Path, unused_port: int, github_stub_port: int
) -> None:
    for name in sorted(PROVIDERS):
        provider_binary(bin_dir, name)
    project = copy_project(SMOKE, tmp_path / "smoke")
    ports = {"SMOKE_UNUSED_PORT": str(unused_port), "SMOKE_GITHUB_PORT": str(github_stub_port)}
    text = _preview(project, bin_dir, tmp_path, ports)
    # The engine says where each plugin came from: the toolchain bin dir, via PATH.
    for name in sorted(PROVIDERS):
        plugin = bin_dir / f"pulumi-resource-{name}"
        assert f"using {plugin.name} from $PATH at {plugin}" in text, text
    # Each resource appears with its provider package (e.g. "docker:index:Tag").
    for pattern in (r"command:\S*Command", r"docker:\S*Tag", r"github:\S*ActionsEnvironmentSecret",
                    r"postgresql:\S*Role"):
        assert re.search(pattern, text), (pattern, text)
