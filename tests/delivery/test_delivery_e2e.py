"""Plan comment and rollback end to end: the real CLI and providers, a real stack (the e2e
Workspace), the sandbox's registry and GitHub double.

One environment lives through the module in order: first release; a PR-style preview of a new
release that also rotates a secret, posted twice as one sticky comment with no secret in it;
the release; a rollback preview that changes nothing; the rollback; a rollback refused because
the tag is gone from the registry.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.processes import ProcessWatch
from tests.delivery.registry_fakes import delete_tag
from tests.e2e.traffic import Traffic
from tests.e2e.workspace import REPO, Workspace, run, sandbox_env

pytestmark = pytest.mark.e2e

PYTHON = str(REPO / ".venv" / "bin" / "python")
SERVICE_REPO = "projectmeats-backend"


def providers_missing() -> str | None:
    done = subprocess.run(["bash", str(REPO / "toolchain" / "bin-dir.sh")], capture_output=True,
                          text=True, check=False)
    bin_dir = Path(done.stdout.strip())
    missing = [p for p in ("pulumi", "pulumi-resource-command", "pulumi-resource-docker",
                           "pulumi-resource-github", "pulumi-resource-postgresql")
               if not (bin_dir / p).exists()]
    return f"toolchain not built: {', '.join(missing)} missing in {bin_dir}" if missing else None


def module_workspace(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Workspace]:
    """A workspace set up for one test module and destroyed after it (skipped without the
    provider plugins)."""
    reason = providers_missing()
    if reason:
        pytest.skip(reason)
    workspace = Workspace(tmp_path_factory.mktemp(name), sandbox_env())
    workspace.setup()
    yield workspace
    workspace.destroy()


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    yield from module_workspace(tmp_path_factory, "delivery")


def secret_values(ws: Workspace) -> list[str]:
    """Every secret the stack knows, in plain text, to search for where none may be."""
    found = [ws.secret_key, ws.sandbox["SANDBOX_GITHUB_TOKEN"], ws.passphrase,
             Path(ws.sandbox["SANDBOX_PG_ADMIN_PASSWORD_FILE"]).read_text().strip()]
    found += [line for line in Path(ws.sandbox["SANDBOX_SSH_KEY_FILE"]).read_text().splitlines()
              if line and not line.startswith("-----")]
    env = ws.github_state()["repos"][f"{ws.sandbox.get('SANDBOX_GITHUB_OWNER', 'slipway-bot')}/"
                                     f"{ws.github_repo}"]["environments"].get(ws.github_env, {})
    for item in env.get("secrets", {}).values():
        value = item.get("value") or item.get("plaintext") or ""
        found.append(value)
        if value.startswith("postgres://"):
            found.append(value.split(":")[2].split("@")[0])  # the app role's password
    return [v for v in found if len(v) >= 8]


def rollback(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "slipway.delivery.rollback", "--stack", ws.env_name, "--cwd", str(REPO),
         "--config-file", str(ws.config_file), *args],
        capture_output=True, text=True, check=False, env=ws.env, cwd=REPO, timeout=1800)


def plan_comment(ws: Workspace, preview: Path, pr: int, *extra: str) -> subprocess.CompletedProcess[str]:
    owner = ws.sandbox.get("SANDBOX_GITHUB_OWNER", "slipway-bot")
    return subprocess.run(
        [PYTHON, "-m", "slipway.delivery.plan_comment", "--stack", ws.env_name,
         "--preview-json", str(preview), "--repo", f"{owner}/{ws.github_repo}", "--pr", str(pr),
         "--api-url", ws.sandbox["SANDBOX_GITHUB_API_URL"], *extra],
        capture_output=True, text=True, check=False, cwd=REPO,
        env={**ws.env, "GITHUB_TOKEN": ws.sandbox["SANDBOX_GITHUB_TOKEN"]})


def stack(ws: Workspace, *args: str) -> str:
    """`pulumi stack ...` for the workspace's stack (these subcommands take no --config-file,
    which Workspace.pulumi adds)."""
    done = ws.pulumi_bare("stack", *args, "--stack", ws.env_name)
    assert done.returncode == 0, done.stderr
    return done.stdout


def outputs(ws: Workspace) -> dict[str, Any]:
    return dict(json.loads(stack(ws, "output", "--json")))


def preview_json(ws: Workspace, name: str, expect_failure: bool = False) -> Path:
    done = ws.pulumi("preview", "--json")
    assert (done.returncode != 0) == expect_failure, done.stdout[-3000:] + done.stderr[-3000:]
    path = ws.root / f"{name}.json"
    path.write_text(done.stdout)
    keep = os.environ.get("SLIPWAY_SAVE_PREVIEWS")  # to refresh tests/delivery/fixtures
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"{name}.json").write_text(done.stdout)
        (Path(keep) / "meta.json").write_text(json.dumps(
            {"stack": ws.env_name, "shas": ws.shas}, indent=2) + "\n")
    return path


def pr_comments(ws: Workspace, pr: int) -> list[dict[str, Any]]:
    repo = ws.github_state()["repos"][f"{ws.sandbox.get('SANDBOX_GITHUB_OWNER', 'slipway-bot')}/"
                                      f"{ws.github_repo}"]
    return [c for c in repo["comments"] if c["issue_number"] == pr]


def assert_up(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def test_1_first_release(ws: Workspace) -> None:
    done = plan_comment(ws, preview_json(ws, "preview-first"), 6, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"first release of this stack → `{ws.shas[-1][:12]}`" in done.stdout
    assert "`DATABASE_URL`" in done.stdout and "`SECRET_KEY`" in done.stdout
    assert_up(ws.up())
    assert outputs(ws)["deployedSha"] == ws.shas[-1]


def test_2_plan_comment_for_a_new_release_with_a_rotated_secret(ws: Workspace) -> None:
    old = ws.shas[-1]
    new = ws.commit("second release")
    ws.secret_key = "sk-" + secrets.token_urlsafe(24)
    ws.set_secret("slipway:secrets.SECRET_KEY", ws.secret_key, path=True)
    preview = preview_json(ws, "preview-release")
    outputs_file = ws.root / "outputs.json"
    outputs_file.write_text(json.dumps(outputs(ws)))

    with ProcessWatch() as watch:
        first = plan_comment(ws, preview, 7, "--outputs-json", str(outputs_file), "--git-dir", str(ws.app))
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    second = plan_comment(ws, preview, 7, "--outputs-json", str(outputs_file), "--git-dir", str(ws.app))
    assert second.returncode == 0, second.stderr
    comments = pr_comments(ws, 7)
    assert len(comments) == 1, comments
    body = comments[0]["body"]
    assert body.startswith(f"<!-- slipway-plan:{ws.env_name} -->")

    assert f"`{old[:12]}` → `{new[:12]}` (built from the checkout)" in body
    assert "**Migrations:** will run" in body
    assert f"`{ws.env_name}-backend` replaced" in body
    assert "`SECRET_KEY` changed" in body
    assert "Rollback across migrations" not in body

    leaked = [s for s in secret_values(ws) if s in body or s in preview.read_text()]
    assert leaked == [], "a secret reached the preview JSON or the comment"
    assert not [line for line in watch.lines for s in secret_values(ws) if s in line]


def test_3_release(ws: Workspace) -> None:
    assert_up(ws.up())
    after = outputs(ws)
    assert (after["deployedSha"], after["replacedSha"]) == (ws.shas[-1], ws.shas[-2])
    done = plan_comment(ws, preview_json(ws, "preview-noop"), 10, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"`{ws.shas[-1][:12]}`, unchanged" in done.stdout
    assert "Nothing changes: merging would leave this stack as it is." in done.stdout


def test_4_rollback_preview_changes_nothing(ws: Workspace) -> None:
    config_before = ws.config_file.read_text()
    done = rollback(ws, "--preview-only")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{ws.shas[-1]} -> {ws.shas[-2]}" in done.stdout
    assert ws.config_file.read_text() == config_before
    assert outputs(ws)["deployedSha"] == ws.shas[-1]


def test_5_plan_comment_warns_when_the_target_is_older(ws: Workspace) -> None:
    current, previous = ws.shas[-1], ws.shas[-2]
    ws.update_config(sha=previous)
    try:
        preview = preview_json(ws, "preview-rollback")
    finally:
        ws.update_config(sha=None)
    outputs_file = ws.root / "outputs.json"
    outputs_file.write_text(json.dumps(outputs(ws)))
    history = ws.root / "history.json"
    history.write_text(stack(ws, "history", "--json"))

    for pr, extra in ((8, ["--git-dir", str(ws.app)]), (9, [])):
        done = plan_comment(ws, preview, pr, "--outputs-json", str(outputs_file),
                            "--history-json", str(history), *extra)
        assert done.returncode == 0, done.stderr
        body = pr_comments(ws, pr)[0]["body"]
        assert f"`{current[:12]}` → `{previous[:12]}` (pinned with `slipway:sha`" in body
        assert "Rollback across migrations" in body
        basis = "git ancestry" if extra else "the stack's replacedSha"
        assert f"(decided by {basis})" in body
        assert not [s for s in secret_values(ws) if s in body]


def test_6_rollback(ws: Workspace) -> None:
    current, previous = ws.shas[-1], ws.shas[-2]
    tags_before = ws.registry_tags()
    retained = run(["docker", "ps", "--all", "--quiet", "--no-trunc", "--filter",
                    f"label=slipway.env={ws.env_name}", "--filter", "label=slipway.service=backend",
                    "--filter", f"label=slipway.sha={previous}"]).stdout.split()
    assert len(retained) == 1  # kept, stopped, since the release that replaced it
    retained_env = json.loads(run(["docker", "inspect", retained[0]]).stdout)[0]["Config"]["Labels"][
        "slipway.env-hash"]
    with ProcessWatch() as watch, Traffic(ws.url) as traffic:
        done = rollback(ws, "--yes")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert f"{current} -> {previous}" in done.stdout
    # Switched back on the server first (the kept release started), then recorded by `pulumi up`.
    assert ": switched back; " in done.stdout and f"every server serves {previous} again" in done.stdout
    assert "backend: switched back" in done.stdout and "frontend: switched back" in done.stdout
    assert traffic.failures == 0, traffic.summary()
    assert traffic.shas[0] == current and traffic.shas[-1] == previous
    after = outputs(ws)
    assert (after["deployedSha"], after["releaseMode"]) == (previous, "reuse")
    container = ws.container()
    assert container is not None and container["Config"]["Labels"]["slipway.sha"] == previous
    # The kept release predates the secret rotated in test_2: it served again at once, then the
    # `up` put the same SHA with today's secrets in its place (switched, zero failed requests).
    assert container["Id"] != retained[0]
    assert container["Config"]["Labels"]["slipway.env-hash"] != retained_env
    assert ws.ready()[1].get("X-App-Sha") == previous
    assert ws.registry_tags() == tags_before  # nothing was built or pushed
    history = json.loads(stack(ws, "history", "--json"))
    assert history[0]["message"] == f"slipway rollback {ws.env_name}: slipway-sha={previous}"
    output = done.stdout + done.stderr
    assert not [s for s in secret_values(ws) if s in output]
    assert not [line for line in watch.lines for s in secret_values(ws) if s in line]


def test_7_a_second_rollback_needs_an_explicit_target(ws: Workspace) -> None:
    done = rollback(ws, "--yes")
    assert done.returncode == 3
    assert "already runs a pinned release" in done.stderr


def test_8_refused_when_the_tag_is_gone_and_nothing_changes(ws: Workspace) -> None:
    gone = ws.shas[-1]  # the release we rolled back from
    host = ws.registry.split("/")[0]
    delete_tag(host, f"{ws.env_name}/{SERVICE_REPO}", f"{ws.env_name}-{gone}")
    config_before = ws.config_file.read_text()
    state_before = stack(ws, "export")
    done = rollback(ws, "--to", gone, "--yes")
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"{ws.registry}/{SERVICE_REPO}:{ws.env_name}-{gone}" in done.stderr
    assert "Nothing was changed." in done.stderr
    assert ws.config_file.read_text() == config_before
    assert stack(ws, "export") == state_before
    assert ws.container()["Config"]["Labels"]["slipway.sha"] == ws.shas[-2]  # type: ignore[index]


def test_9_a_failed_preview_is_posted_as_failed(ws: Workspace) -> None:
    """Pinning the SHA whose tag is gone: the preview itself fails (the image is looked up),
    and the comment says so, with the engine's error, and no secret."""
    gone = ws.shas[-1]
    current = ws.shas[-2]
    ws.commit("a later commit")  # so that `gone` is not HEAD (HEAD would be built, not looked up)
    ws.update_config(sha=gone)
    try:
        preview = preview_json(ws, "preview-failed", expect_failure=True)
    finally:
        ws.update_config(sha=current)  # the rollback's pin, as test_6 left it
    done = plan_comment(ws, preview, 12, "--preview-exit-code", "255")
    assert done.returncode == 0, done.stderr
    body = pr_comments(ws, 12)[0]["body"]
    assert "**The preview failed**" in body
    assert f"{ws.env_name}-{gone}" in body
    assert not [s for s in secret_values(ws) if s in body or s in preview.read_text()]
