"""The GitHub Actions workflows: actionlint-clean, and wired the way slipway deploys."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway.delivery.stacks import BRANCH_STACKS

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
ACTIONLINT = REPO / ".github" / "actionlint.sh"


def load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def actionlint(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("go") is None and not any(
        (Path(os.environ.get("SLIPWAY_CACHE", Path.home() / ".cache" / "slipway")) / "actionlint")
        .glob("*/actionlint")):
        pytest.skip("go is not on PATH to build actionlint")
    return subprocess.run(["bash", str(ACTIONLINT), *args], capture_output=True, text=True,
                          check=False, timeout=900)


def test_actionlint_reports_nothing() -> None:
    done = actionlint()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_actionlint_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    """The lint above is only worth something if actionlint really checks."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.no_such_thing }}\n")
    done = actionlint(str(bad))
    assert done.returncode != 0
    assert "no_such_thing" in done.stdout


def test_deploy_branches_match_the_branch_map() -> None:
    deploy = load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == list(BRANCH_STACKS)
    preview = load("preview.yml")
    assert preview["on"]["pull_request"]["branches"] == list(BRANCH_STACKS)
    job = deploy["jobs"]["deploy"]
    assert job["uses"] == "./.github/workflows/release.yml"
    stack_expr = job["with"]["stack"]
    env_expr = " ".join(job["with"]["environment"].split())
    for branch, stack in BRANCH_STACKS.items():
        if branch != "development":  # the expression's fallback
            assert f"github.ref_name == '{branch}' && '{stack}'" in stack_expr
            assert f"github.ref_name == '{branch}' && '{stack}-backend'" in env_expr
    assert stack_expr.endswith("|| 'dev' }}") and env_expr.endswith("|| 'dev-backend' }}")


def test_one_release_per_stack_at_a_time_never_cancelled() -> None:
    job = load("release.yml")["jobs"]["release"]
    assert job["concurrency"] == {"group": "slipway-release-${{ inputs.stack }}",
                                  "cancel-in-progress": False}
    assert job["environment"] == "${{ inputs.environment }}"
    # Deploys and rollbacks both go through it, so they share the group.
    assert load("rollback.yml")["jobs"]["rollback"]["uses"] == "./.github/workflows/release.yml"


def test_rollback_is_manual_with_a_sha_and_a_stack_choice() -> None:
    rollback = load("rollback.yml")
    inputs = rollback["on"]["workflow_dispatch"]["inputs"]
    assert inputs["stack"]["type"] == "choice"
    assert inputs["stack"]["options"] == ["dev", "uat", "prod"]
    assert inputs["sha"]["type"] == "string"
    assert set(rollback["on"]) == {"workflow_dispatch"}


def run_scripts() -> list[tuple[str, str]]:
    found = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in load(path.name)["jobs"].values():
            for step in job.get("steps", []):
                if "run" in step:
                    found.append((path.name, step["run"]))
    return found


def test_no_secret_or_untrusted_input_is_expanded_inside_a_script() -> None:
    """Secrets and inputs reach scripts as environment variables only: never `${{ }}` in a
    `run:` (that would put them into the script text, and the runner's process list)."""
    for name, script in run_scripts():
        assert "${{" not in script, (name, script)


def test_secrets_are_never_echoed() -> None:
    secret_vars = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY",
                   "GITHUB_TOKEN", "PULUMI_BACKEND_URL", "ROLLBACK_KEY", "rollback_key")
    for name, script in run_scripts():
        assert "set -x" not in script, name
        for line in script.splitlines():
            if line.strip().startswith(("echo", "printf")):
                expanded = [v for v in secret_vars if f"${v}" in line or f"${{{v}" in line]
                assert not expanded, (name, line)


def test_secrets_go_only_to_the_steps_that_use_them() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        data = load(path.name)
        assert "secrets." not in yaml.safe_dump(data.get("env", {})), path.name
        for job in data["jobs"].values():
            assert "secrets." not in yaml.safe_dump(job.get("env", {})), path.name
            for step in job.get("steps", []):
                if "secrets." in yaml.safe_dump(step.get("env", {})):
                    assert "run" in step, (path.name, step)  # never to a third-party action


def test_the_rollback_key_reaches_the_rollback_command_alone() -> None:
    step = next(s for s in load("release.yml")["jobs"]["release"]["steps"] if s.get("name") == "rollback")
    assert step["env"]["ROLLBACK_KEY"] == "${{ secrets.SLIPWAY_ROLLBACK_KEY }}"
    lines = [line.strip() for line in step["run"].splitlines()]
    # Out of the environment before anything runs (env.sh starts pulumi), then given to one command.
    assert lines[:2] == ["rollback_key=${ROLLBACK_KEY:-}", "unset ROLLBACK_KEY"]
    uses = [line for line in lines if "rollback_key" in line]
    assert uses[1:] == ['SLIPWAY_ROLLBACK_KEY="${rollback_key}" .venv/bin/python -m slipway.delivery.rollback'
                        ' "${args[@]}"']


def test_actions_are_pinned_by_commit() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in load(path.name)["jobs"].values():
            for step in job.get("steps", []):
                uses = step.get("uses")
                if uses and not uses.startswith("./"):
                    ref = uses.split("@", 1)[1]
                    assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), uses


@pytest.mark.parametrize("name", ["preview.yml", "release.yml"])
def test_hosted_runners_install_the_pinned_cli_with_pulumi_actions(name: str) -> None:
    """GitHub-hosted runners install the pinned CLI (install only) instead of compiling Pulumi;
    the hermetic Go build stays for self-hosted offline runners (SLIPWAY_HERMETIC=true)."""
    pins = dict(line.split("=", 1) for line in (REPO / "toolchain" / "pins.env").read_text().splitlines()
                if "=" in line and not line.startswith("#"))
    (job,) = [j for j in load(name)["jobs"].values() if any("pulumi/actions" in s.get("uses", "")
                                                             for s in j.get("steps", []))]
    assert "hermetic" in job["env"]["SLIPWAY_PULUMI"] and "SLIPWAY_HERMETIC" in job["env"]["SLIPWAY_PULUMI"]
    install = next(s for s in job["steps"] if "pulumi/actions" in s.get("uses", ""))
    action, _, ref = install["uses"].partition("@")
    assert action == "pulumi/actions" and len(ref) == 40  # pinned by commit
    assert install["with"] == {"pulumi-version": pins["PULUMI_VERSION"].removeprefix("v")}
    assert install["if"] == "env.SLIPWAY_PULUMI == 'standard'"
    hermetic = [s for s in job["steps"] if s.get("if") == "env.SLIPWAY_PULUMI == 'hermetic'"]
    assert {s.get("uses", "").partition("@")[0] for s in hermetic} == {"actions/setup-go", "actions/cache"}


def test_the_ci_deploy_runs_up_as_the_bench_measures_it() -> None:
    """`make bench` times the deploy with bench.DEPLOY_FLAGS: the workflow's `pulumi up` is that
    command (no preview pass: the PR's plan comment was the preview)."""
    from bench.__main__ import DEPLOY_FLAGS

    step = next(s for s in load("release.yml")["jobs"]["release"]["steps"] if s.get("name") == "pulumi up")
    options = step["run"].split("pulumi up", 1)[1].split("--message", 1)[0]
    command = " ".join(options.replace("\\", " ").split())
    for flag in DEPLOY_FLAGS:
        assert f" {flag}" in f" {command}", (flag, command)
