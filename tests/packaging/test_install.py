"""`pip install .` in a fresh venv gives a working `slipway` command (and so does `-e .`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, check=False)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tracked files, as a fresh clone has them (no .venv, no build leftovers)."""
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], capture_output=True, check=True).stdout
    dst = tmp_path_factory.mktemp("src") / "slipway"
    for name in filter(None, files.decode().split("\0")):
        if (REPO / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dst / name)
    return dst


@pytest.mark.parametrize("mode", ["regular", "editable"])
def test_fresh_venv_installs_the_project_and_its_command(mode: str, source: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = env_dir / "bin" / "pip"
    target = ["-e", str(source)] if mode == "editable" else [str(source)]
    installed = run(pip, "install", "--quiet", "--disable-pip-version-check", *target)
    assert installed.returncode == 0, installed.stderr[-3000:]

    slipway = env_dir / "bin" / "slipway"
    top = run(slipway, "--help", cwd=tmp_path)
    assert top.returncode == 0, top.stderr
    assert "usage: slipway <command>" in top.stdout and "rollback" in top.stdout
    rollback = run(slipway, "rollback", "--help", cwd=tmp_path)
    assert rollback.returncode == 0, rollback.stderr
    assert "--stack" in rollback.stdout and "--to" in rollback.stdout

    # The program's packages come along, importable from anywhere (not just the checkout).
    imports = run(env_dir / "bin" / "python", "-c",
                  "import slipway.config, components.pipeline, slipway.runners.migrate; print('ok')",
                  cwd=tmp_path)
    assert imports.returncode == 0 and imports.stdout.strip() == "ok", imports.stderr
    assert sys.version_info >= (3, 11)
