"""The plan comment: rendering (pure) on real `pulumi preview --json` documents, and the CLI
against the GitHub double.

fixtures/preview-*.json are real previews of one real stack, saved by test_delivery_e2e.py
(SLIPWAY_SAVE_PREVIEWS): `first` (empty stack), `release` (a new commit and a rotated
SECRET_KEY), `noop` (right after that release), `rollback` (slipway:sha pinned to the first
release), `failed` (pinned to a SHA whose tag was deleted); fixtures/meta.json has the stack and
its SHAs.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slipway.delivery.ordering import Ordering
from slipway.delivery.plan_comment import redact, secret_env_values
from slipway.delivery.plan_render import render
from slipway.delivery.preview import ReleasePlan, read_plan, urn_parts
from tests.sandbox_access import github_call

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
META = json.loads((FIXTURES / "meta.json").read_text())
STACK = META["stack"]
FIRST, SECOND, LATER = META["shas"]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"preview-{name}.json").read_text())
    return data


def plan(name: str, **kwargs: Any) -> ReleasePlan:
    return read_plan(fixture(name), stack=STACK, **kwargs)


def test_urn_parts() -> None:
    assert urn_parts("urn:pulumi:prod::slipway::slipway:index:Pipeline$slipway:index:Service$"
                     "command:remote:Command::app-backend-deploy") == (
        "command:remote:Command", "app-backend-deploy")
    assert urn_parts("urn:pulumi:prod::slipway::pulumi:pulumi:Stack::slipway-prod") == (
        "pulumi:pulumi:Stack", "slipway-prod")


def test_first_release() -> None:
    p = plan("first")
    assert (p.old_sha, p.new_sha, p.pinned, p.migration) == (None, FIRST, False, "create")
    body = render(p)
    assert f"first release of this stack → `{FIRST[:12]}` (built from the checkout)" in body
    assert "will run (the stack's first migration)" in body
    assert f"`{STACK}-backend` started (new)" in body
    assert "`SECRET_KEY`, `DATABASE_URL` added" in body or "`DATABASE_URL`, `SECRET_KEY` added" in body
    assert "`DJANGO_SETTINGS_MODULE` added" in body
    assert "slipway:index" not in body  # component resources change nothing themselves


def test_release_plan_reads_what_matters() -> None:
    p = plan("release")
    assert (p.old_sha, p.new_sha, p.pinned) == (FIRST, SECOND, False)
    assert p.environment == STACK and p.github_environment == f"{STACK}-backend"
    assert p.migrates
    assert [(s.container, s.op) for s in p.services] == [(f"{STACK}-backend", "update")]
    assert set(p.services[0].changed) >= {"create", "stdin"}
    assert [(s.name, s.op) for s in p.secrets] == [("SECRET_KEY", "update")]
    assert not p.failed and p.errors == ()


def test_release_comment_in_plain_words() -> None:
    body = render(plan("release"), Ordering("newer", "git ancestry"))
    assert body.startswith(f"<!-- slipway-plan:{STACK} -->\n")
    assert f"**Image:** `{FIRST[:12]}` → `{SECOND[:12]}` (built from the checkout)" in body
    assert "**Migrations:** will run, in the release's image" in body
    assert (f"`{STACK}-backend` replaced: new release or settings, its env file (env or secrets)"
            " changed") in body
    assert f"**GitHub secrets in `{STACK}-backend` (names only):** `SECRET_KEY` changed." in body
    assert "WARNING" not in body


def test_rollback_comment_warns_about_migrations() -> None:
    p = plan("rollback")
    assert (p.old_sha, p.new_sha, p.pinned) == (SECOND, FIRST, True)
    body = render(p, Ordering("older", "git ancestry"))
    assert "> [!WARNING]\n> **Rollback across migrations.**" in body
    assert (f"`{FIRST[:12]}` is older than the running `{SECOND[:12]}` (decided by git ancestry)"
            in body)
    assert "(pinned with `slipway:sha`, the existing image is deployed, nothing is built)" in body
    assert f"`{STACK}-backend` replaced" in body
    assert "delete: `docker:index/image:Image app-backend-image-build`" in body


def test_diverged_and_unknown_targets() -> None:
    p = plan("rollback")
    assert "does not contain the running" in render(p, Ordering("diverged", "git ancestry"))
    assert "could not be placed" in render(p, Ordering("unknown", "no record"))


def test_nothing_changes() -> None:
    p = plan("noop")
    assert (p.old_sha, p.new_sha) == (SECOND, SECOND)
    assert not p.changes_anything
    body = render(p)
    assert f"`{SECOND[:12]}`, unchanged" in body and "will not run" in body
    assert "Nothing changes: merging would leave this stack as it is." in body


def test_failed_preview_shows_the_engine_errors() -> None:
    p = plan("failed")
    assert p.failed and p.errors
    assert (p.new_sha, p.pinned) == (SECOND, True)
    body = render(p)
    assert "**The preview failed**" in body
    assert f"{STACK}-{SECOND}" in body  # the image that is not in the registry


def test_old_sha_from_outputs_when_the_preview_has_none() -> None:
    doc = fixture("release")
    root = next(s for s in doc["steps"] if s["urn"].endswith(f"pulumi:pulumi:Stack::slipway-{STACK}"))
    root.pop("oldState")
    assert read_plan(doc, stack=STACK).old_sha is None
    assert read_plan(doc, stack=STACK, old_sha=LATER).old_sha == LATER


def poison(value: Any, secret: str) -> Any:
    """Every string value replaced by one containing `secret` (keys kept)."""
    if isinstance(value, dict):
        return {k: poison(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [poison(v, secret) for v in value]
    if isinstance(value, str):
        return f"{value}-{secret}"
    return value


@pytest.mark.parametrize("name", ["release", "rollback", "first", "noop", "failed"])
def test_no_property_value_reaches_the_comment(name: str) -> None:
    """Even if a preview carried secrets in clear (the engine blinds them), the comment copies
    no property value: only names, operations, property keys, SHAs and image tags."""
    secret = "s3cr3t" + secrets.token_hex(8)
    doc = copy.deepcopy(fixture(name))
    for step in doc["steps"]:
        for side in ("oldState", "newState"):
            if side in step:
                state = step[side]
                state["outputs"] = poison(state.get("outputs", {}), secret)
                keep = {k: state["inputs"][k] for k in ("secretName", "variableName", "imageName",
                                                        "create") if k in state.get("inputs", {})}
                state["inputs"] = {**poison(state.get("inputs", {}), secret), **keep}
    doc["config"] = {k: v if k in ("slipway:environment", "slipway:github", "slipway:sha")
                     else f"{v}{secret}" for k, v in doc["config"].items()}
    doc["diagnostics"] = [d for d in doc.get("diagnostics", []) if d.get("severity") != "error"]
    body = render(read_plan(doc, stack=STACK), Ordering("older", "x"))
    assert secret not in body


def test_redact() -> None:
    token = "ghs_" + secrets.token_hex(10)
    env = {"GITHUB_TOKEN": token, "PULUMI_CONFIG_PASSPHRASE": "correct horse", "HOME": "/root",
           "SHORT_TOKEN": "abc"}
    assert set(secret_env_values(env)) == {token, "correct horse", "abc"}
    assert redact(f"a {token} b correct horse abc", secret_env_values(env)) == (
        "a [secret] b [secret] abc")


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slipway.delivery.plan_comment", *args],
                          capture_output=True, text=True, check=False, cwd=REPO, env=env)


def test_cli_dry_run_and_summary_file(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    done = cli("--stack", "prod", "--preview-json", str(FIXTURES / "preview-release.json"),
               "--dry-run", "--markdown-out", str(summary), env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<!-- slipway-plan:prod -->")
    assert not summary.read_text().startswith("<!--")  # the job summary has no marker
    assert "`SECRET_KEY` changed" in summary.read_text()


def test_cli_missing_preview_is_a_failed_plan(tmp_path: Path) -> None:
    done = cli("--stack", "dev", "--preview-json", str(tmp_path / "absent.json"), "--dry-run",
               "--preview-exit-code", "255", env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert "**The preview failed**" in done.stdout


def test_cli_posts_one_sticky_comment_per_stack(sandbox: dict[str, str], github_repo: str,
                                                tmp_path: Path) -> None:
    env = {**os.environ, "GITHUB_TOKEN": sandbox["SANDBOX_GITHUB_TOKEN"]}
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"deployedSha": SECOND, "replacedSha": FIRST}))
    base = ["--repo", github_repo, "--pr", "11", "--api-url", sandbox["SANDBOX_GITHUB_API_URL"],
            "--outputs-json", str(outputs)]
    runs = [("prod", "release"), ("prod", "rollback"), ("uat", "release"), ("prod", "rollback")]
    for stack, name in runs:
        done = cli("--stack", stack, "--preview-json", str(FIXTURES / f"preview-{name}.json"),
                   *base, env=env)
        assert done.returncode == 0, done.stderr
        assert sandbox["SANDBOX_GITHUB_TOKEN"] not in done.stdout + done.stderr
    bodies = [c["body"] for c in github_call(sandbox, "GET", f"/repos/{github_repo}/issues/11/comments")]
    assert len(bodies) == 2
    prod = next(b for b in bodies if b.startswith("<!-- slipway-plan:prod -->"))
    assert "Rollback across migrations" in prod and "(decided by the stack's replacedSha)" in prod
    assert any(b.startswith("<!-- slipway-plan:uat -->") for b in bodies)


def test_cli_never_takes_the_token_from_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_TOKEN"}
    done = cli("--stack", "prod", "--preview-json", str(FIXTURES / "preview-noop.json"),
               "--repo", "o/r", "--pr", "1", "--api-url", "http://127.0.0.1:9", env=env)
    assert done.returncode == 2 and "GITHUB_TOKEN is not set" in done.stderr


def test_real_preview_of_a_stand_in_stack() -> None:
    """A real `pulumi preview --json` (v3.259.0) of a provider-free program exporting slipway's
    outputs, after two releases, with `slipway:sha` pinned to the first: the old SHA comes from
    the Stack's previous outputs, the new one from the pin; the admin password (a secret
    config value, `adminpw-VERYSECRET-123`, exported as the secret `databaseUrl`) is blinded."""
    raw = (FIXTURES / "real-standin-rollback.json").read_text()
    assert "VERYSECRET" not in raw
    p = read_plan(json.loads(raw), stack="prod")
    assert (p.old_sha, p.new_sha, p.pinned) == ("2" * 40, "1" * 40, True)
    assert (p.environment, p.github_environment) == ("prod", "prod-backend")
    assert p.services == () and p.migration is None
    body = render(p, Ordering("older", "the stack's replacedSha"))
    assert "`222222222222` → `111111111111` (pinned with `slipway:sha`" in body
    assert "Rollback across migrations" in body
