"""The policy pack enforced by the real Pulumi CLI: `pulumi preview --policy-pack policy`.

Runs the toolchain's pulumi (toolchain/bin-dir.sh) on tests/policy/fixtures/program, copied to
a temporary directory, with a private PULUMI_HOME and file backend, offline. The violating
program must fail the preview with each rule's message; the compliant one must pass; and a
mutable image that is unknown in preview must be stopped by `pulumi up` before the migration
runs. Skips when the toolchain is not built; a provider the Go module proxy refused is skipped
with build.sh's reason, any other missing binary fails (as tests/toolchain does).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.sandbox_access import github_call, sandbox_env
from tests.toolchain.toolchain import bin_dir as toolchain_bin_dir
from tests.toolchain.toolchain import offline_env, unavailable_note

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "policy"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "program"
PLUGIN_PATH_IN_FIXTURE = "../../../../policy/bin"

SHA = "0123456789abcdef0123456789abcdef01234567"
PINNED = f"registry.invalid/team/app:prod-{SHA}@sha256:{'ab' * 32}"
MUTABLE = "registry.invalid/team/app:prod-latest"
# Secret values the violating program leaks: no policy message may repeat them.
SECRET_VALUES = ("fixture-app-secret-value-0001", "fixture-db-password", "Zml4dHVyZS1ub3QtYS1yZWFsLWtleQ==")


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    path = toolchain_bin_dir()
    if not (path / "pulumi").is_file():
        pytest.skip(f"toolchain not built: {path}/pulumi does not exist (run `make toolchain`)")
    return path


def require_provider(bin_path: Path, name: str) -> None:
    binary = bin_path / f"pulumi-resource-{name}"
    if not binary.exists():
        note = unavailable_note(bin_path, binary.name)
        if note is not None:
            pytest.skip(f"{binary.name} was not built: the Go module proxy does not serve its "
                        f"module.\n{note}")
        pytest.fail(f"{binary} is missing: run toolchain/build.sh")


@dataclass
class Violation:
    level: str
    policy: str
    resource: str
    text: str  # the policy's description and the message, as printed


@dataclass
class Run:
    returncode: int
    text: str

    def violations(self) -> list[Violation]:
        """Each violation in the CLI's "Policies:" section."""
        entry = re.compile(r"^\s*- \[(\w+)\]\s+(\S+)\s+\(\S+: (.+)\)\s*$")
        found: list[Violation] = []
        open_entry = False
        for line in self.text.splitlines():
            m = entry.match(line)
            if m:
                found.append(Violation(m.group(1), m.group(2), m.group(3), ""))
                open_entry = True
            elif open_entry and line.startswith(" " * 10) and line.strip():
                found[-1].text = f"{found[-1].text} {line.strip()}".strip()
            else:
                open_entry = False
        return found


class Project:
    """The fixture program in a temporary directory with its own PULUMI_HOME and backend."""

    def __init__(self, bin_path: Path, tmp: Path) -> None:
        self.dir = tmp / "program"
        shutil.copytree(FIXTURE, self.dir, ignore=shutil.ignore_patterns("__pycache__"))
        pulumi_yaml = self.dir / "Pulumi.yaml"
        text = pulumi_yaml.read_text()
        assert PLUGIN_PATH_IN_FIXTURE in text
        pulumi_yaml.write_text(text.replace(PLUGIN_PATH_IN_FIXTURE, str(POLICY / "bin")))
        (tmp / "state").mkdir()
        self.env = offline_env(bin_path, tmp / "pulumi-home", tmp / "state")
        self.pulumi = str(bin_path / "pulumi")

    def run(self, *args: str, **env: str) -> Run:
        out = subprocess.run([self.pulumi, *args, "--non-interactive"], cwd=self.dir, env=self.env | env,
                             capture_output=True, text=True, timeout=600, check=False)
        return Run(out.returncode, out.stdout + out.stderr)

    def init(self, stack: str) -> None:
        out = self.run("stack", "init", stack)
        assert out.returncode == 0, out.text

    def preview(self, stack: str, **env: str) -> Run:
        return self.run("preview", "--stack", stack, "--policy-pack", str(POLICY), **env)


@pytest.fixture
def project(bin_dir: Path, tmp_path: Path) -> Project:
    require_provider(bin_dir, "command")
    return Project(bin_dir, tmp_path)


def fixture_env(mode: str, github: bool, port: int) -> dict[str, str]:
    env = {"POLICY_FIXTURE_MODE": mode, "POLICY_FIXTURE_GITHUB": "1" if github else "0",
           "POLICY_FIXTURE_UNUSED_PORT": str(port)}
    if github:
        env |= github_double_repo()
    return env


def github_double_repo() -> dict[str, str]:
    """A fresh repository in the sandbox's GitHub test double, for the provider's preview reads."""
    sandbox = sandbox_env()
    if sandbox is None:
        pytest.skip("the GitHub provider calls the API during preview: start the sandbox (make sandbox)")
    owner, name = sandbox["SANDBOX_GITHUB_OWNER"], "policy-" + secrets.token_hex(4)
    github_call(sandbox, "POST", "/_double/repos", {"owner": owner, "name": name})
    return {"POLICY_FIXTURE_GITHUB_URL": sandbox["SANDBOX_GITHUB_URL"],
            "POLICY_FIXTURE_GITHUB_TOKEN": sandbox["SANDBOX_GITHUB_TOKEN"],
            "POLICY_FIXTURE_GITHUB_OWNER": owner, "POLICY_FIXTURE_GITHUB_REPO": name}


# (policy, resource, start of the message) that the violating program must produce.
COMMAND_VIOLATIONS = [
    ("slipway-images-pinned", "app-migration-run",
     f"app-migration-run.environment.SLIPWAY_MIGRATION_PLAN (migration): image '{MUTABLE}' uses the mutable "
     "tag 'prod-latest' and is not pinned by digest"),
    ("slipway-images-pinned", "app-backend-deploy",
     f"app-backend-deploy.create (docker): image '{MUTABLE}' uses the mutable tag 'prod-latest' and is not "
     "pinned by digest"),
    ("slipway-deploy-after-migration", "app-backend-deploy",
     "app-backend-deploy does not depend on the migration (app-migration-run)"),
    ("slipway-command-secret-inputs", "app-migration-run",
     "app-migration-run.stdin carries a secret but is plain text"),
    ("slipway-command-secret-inputs", "app-backend-deploy",
     "app-backend-deploy.stdin carries a secret but is plain text"),
    ("slipway-command-line-secrets", "app-backend-deploy",
     "app-backend-deploy.create contains a URL with a password (scheme://user:password@) in plain text"),
    ("slipway-known-secrets-in-commands", "app-backend-deploy",
     "app-backend-deploy.create contains the value of a secret of this stack in plain text"),
]
GITHUB_VIOLATIONS = [
    ("slipway-prod-environment-reviewers", "app-github-environment",
     "app-github-environment is a production environment (the GitHub environment 'prod-backend') but has "
     "no reviewers"),
]


@pytest.mark.parametrize("github", [False, True], ids=["command", "command+github"])
def test_preview_fails_with_each_rules_message(project: Project, bin_dir: Path, unused_port: int,
                                               github: bool) -> None:
    if github:
        require_provider(bin_dir, "github")
    project.init("prod")
    out = project.preview("prod", **fixture_env("violating", github, unused_port))
    assert out.returncode != 0, out.text
    assert "slipway@v0.1.0" in out.text, out.text
    found = out.violations()
    expected = COMMAND_VIOLATIONS + (GITHUB_VIOLATIONS if github else [])
    for policy, resource, message in expected:
        assert any(v.level == "mandatory" and v.policy == policy and v.resource == resource
                   and message in v.text for v in found), (
            f"missing {policy} on {resource}: {message}\n--- output:\n{out.text}")
    # Nothing else is reported: the rest of the violating program is compliant.
    assert {(v.policy, v.resource) for v in found} == {(p, r) for p, r, _ in expected}, found
    policies_section = out.text[out.text.index("Policies:"):]
    for value in SECRET_VALUES:
        assert value not in policies_section, f"a policy message repeats the secret {value!r}"


@pytest.mark.parametrize("github", [False, True], ids=["command", "command+github"])
def test_preview_of_compliant_program_passes(project: Project, bin_dir: Path, unused_port: int,
                                             github: bool) -> None:
    if github:
        require_provider(bin_dir, "github")
    project.init("prod")
    out = project.preview("prod", **fixture_env("compliant", github, unused_port))
    assert out.returncode == 0, out.text
    assert re.search(r"✅ slipway@v0\.1\.0", out.text), out.text
    assert out.violations() == [], out.text
    assert "download" not in out.text.lower(), out.text


def test_up_stops_a_mutable_image_unknown_in_preview_before_the_migration_runs(
        project: Project, tmp_path: Path) -> None:
    project.init("late")
    marker = tmp_path / "migration-ran"
    env = {"POLICY_FIXTURE_MODE": "late", "POLICY_FIXTURE_MARKER": str(marker)}

    out = project.run("up", "--yes", "--stack", "late", "--policy-pack", str(POLICY),
                      POLICY_FIXTURE_IMAGE=MUTABLE, **env)
    assert out.returncode != 0, out.text
    assert [(v.policy, v.resource) for v in out.violations()] == [
        ("slipway-images-pinned", "app-migration-run")], out.text
    assert not marker.exists(), "the migration ran although its image is mutable"

    # The same program with a pinned image migrates: the policy is what stopped it.
    out = project.run("up", "--yes", "--stack", "late", "--policy-pack", str(POLICY),
                      POLICY_FIXTURE_IMAGE=PINNED, **env)
    assert out.returncode == 0, out.text
    assert marker.exists(), out.text


def test_language_host_cannot_run_python_packs_yet(project: Project, tmp_path: Path) -> None:
    """Why policy/PulumiPolicy.yaml says `runtime: slipway-python`: with `runtime: python` the
    v3.259.0 CLI runs the pack through the language host's RunPlugin, and the v3.79.0 host that
    the toolchain builds ignores the pack's path and starts the program's __main__.py instead.
    If this starts passing, the toolchain's host can run packs: switch to `runtime: python`."""
    pack = tmp_path / "python-runtime-pack"
    shutil.copytree(POLICY, pack / "policy", ignore=shutil.ignore_patterns("__pycache__"))
    yaml = pack / "policy" / "PulumiPolicy.yaml"
    yaml.write_text(yaml.read_text().replace("name: slipway-python", "name: python")
                    .replace("../.venv", str(REPO / ".venv")))
    project.init("prod")
    out = project.run("preview", "--stack", "prod", "--policy-pack", str(pack / "policy"),
                      POLICY_FIXTURE_MODE="compliant")
    assert out.returncode != 0 and "failed to start" in out.text, (
        "a `runtime: python` policy pack started: the toolchain's language host can run Python "
        "packs now; set `runtime: python` in policy/PulumiPolicy.yaml and drop policy/bin\n" + out.text)
