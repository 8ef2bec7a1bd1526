"""The GitHub API test double: auth, NaCl secrets it decrypts, variables, environments,
branch policies, PR comments, request log, persistence."""

from __future__ import annotations

import base64
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from nacl.public import PrivateKey, PublicKey, SealedBox

from tests.sandbox.conftest import REPO, GitHubDouble, http

SERVER = REPO / "sandbox" / "github_double" / "server.py"


def seal(public_key_b64: str, value: str) -> str:
    box = SealedBox(PublicKey(base64.b64decode(public_key_b64)))
    return base64.b64encode(box.encrypt(value.encode())).decode()


@pytest.fixture
def repo(github: GitHubDouble, sandbox: dict[str, str]) -> tuple[str, str]:
    """A fresh repository of the authenticated user (repositories are created on first use)."""
    return sandbox["SANDBOX_GITHUB_OWNER"], f"sandbox-test-{secrets.token_hex(4)}"


@pytest.fixture
def env_path(github: GitHubDouble, repo: tuple[str, str]) -> str:
    owner, name = repo
    path = f"/repos/{owner}/{name}/environments/prod%20eu"
    assert github.call("PUT", path, {"wait_timer": 0, "reviewers": None, "can_admins_bypass": True,
                                     "deployment_branch_policy": None}).status == 200
    return path


# --- auth -----------------------------------------------------------------------------------


def test_requests_without_the_token_get_401(github: GitHubDouble) -> None:
    for token in ("", "wrong-token"):
        resp = github.call("GET", "/user", token=token)
        assert resp.status == 401
        assert resp.json()["message"] == "Bad credentials"
    assert github.call("GET", "/_double/state", token="", api=False).status == 401
    basic = http("GET", f"{github.base}/api/v3/user",
                 headers={"Authorization": f"Basic {base64.b64encode(github.token.encode()).decode()}"})
    assert basic.status == 401


def test_token_and_bearer_schemes_are_accepted(github: GitHubDouble, sandbox: dict[str, str]) -> None:
    resp = github.call("GET", "/user")
    assert resp.status == 200
    assert resp.json()["login"] == sandbox["SANDBOX_GITHUB_OWNER"]
    bearer = http("GET", f"{github.base}/api/v3/user", headers={"Authorization": f"Bearer {github.token}"})
    assert bearer.status == 200
    # api.github.com-style paths (no /api/v3) work too
    assert github.call("GET", "/user", api=False).status == 200


def test_health_needs_no_token(github: GitHubDouble, sandbox: dict[str, str]) -> None:
    resp = http("GET", f"{github.base}/_double/health")
    assert resp.status == 200
    assert resp.json()["state_dir"] == sandbox["SANDBOX_GITHUB_DOUBLE_DIR"]
    assert "not GitHub" in resp.json()["double"]


# --- repositories and environments ------------------------------------------------------------


def test_repository_is_created_on_first_use(github: GitHubDouble, repo: tuple[str, str]) -> None:
    owner, name = repo
    first = github.call("GET", f"/repos/{owner}/{name}").json()
    assert first["full_name"] == f"{owner}/{name}" and first["owner"]["login"] == owner
    assert github.call("GET", f"/repos/{owner}/{name}").json()["id"] == first["id"]
    assert github.call("GET", f"/repositories/{first['id']}").json()["full_name"] == f"{owner}/{name}"


def test_environment_with_reviewers_and_branch_policy(github: GitHubDouble, repo: tuple[str, str]) -> None:
    owner, name = repo
    alice = github.call("GET", "/users/alice").json()
    path = f"/repos/{owner}/{name}/environments/production"
    resp = github.call("PUT", path, {
        "wait_timer": 30, "can_admins_bypass": False, "prevent_self_review": True,
        "reviewers": [{"type": "User", "id": alice["id"]}],
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
    })
    assert resp.status == 200, resp.body
    env = github.call("GET", path).json()
    assert env["name"] == "production" and env["can_admins_bypass"] is False
    assert env["deployment_branch_policy"] == {"protected_branches": False, "custom_branch_policies": True}
    rules = {r["type"]: r for r in env["protection_rules"]}
    assert rules["wait_timer"]["wait_timer"] == 30
    assert rules["required_reviewers"]["prevent_self_review"] is True
    assert rules["required_reviewers"]["reviewers"][0]["reviewer"]["login"] == "alice"
    assert "branch_policy" in rules

    policies = f"{path}/deployment-branch-policies"
    created = github.call("POST", policies, {"name": "main", "type": "branch"})
    assert created.status == 200
    pid = created.json()["id"]
    assert github.call("PUT", f"{policies}/{pid}", {"name": "release/*"}).json()["name"] == "release/*"
    listed = github.call("GET", policies).json()
    assert listed["total_count"] == 1 and listed["branch_policies"][0]["name"] == "release/*"
    assert github.call("DELETE", f"{policies}/{pid}").status == 204

    listing = github.call("GET", f"/repos/{owner}/{name}/environments").json()
    assert [e["name"] for e in listing["environments"]] == ["production"]
    assert github.call("DELETE", path).status == 204
    assert github.call("GET", path).status == 404


def test_environment_validation_like_github(github: GitHubDouble, repo: tuple[str, str]) -> None:
    owner, name = repo
    path = f"/repos/{owner}/{name}/environments/uat"
    both = {"deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": True}}
    assert github.call("PUT", path, both).status == 422
    assert github.call("PUT", path, {"reviewers": [{"type": "User", "id": 987654321}]}).status == 422
    assert github.call("PUT", path, {}).status == 200  # no body: all defaults
    # Branch policies answer 404 unless custom_branch_policies is on (as GitHub does).
    assert github.call("GET", f"{path}/deployment-branch-policies").status == 404


# --- secrets ----------------------------------------------------------------------------------


def test_public_key_is_a_real_32_byte_nacl_key(github: GitHubDouble, env_path: str) -> None:
    key = github.call("GET", f"{env_path}/secrets/public-key").json()
    raw = base64.b64decode(key["key"], validate=True)
    assert len(raw) == 32
    PublicKey(raw)  # accepted by libsodium
    assert key["key_id"].isdigit()
    # Stable per environment, different between environments.
    assert github.call("GET", f"{env_path}/secrets/public-key").json() == key
    other = env_path.rsplit("/", 1)[0] + "/other"
    github.call("PUT", other, {})
    assert github.call("GET", f"{other}/secrets/public-key").json()["key"] != key["key"]


def test_sealed_secret_is_decrypted_into_state(github: GitHubDouble, repo: tuple[str, str],
                                               env_path: str) -> None:
    owner, name = repo
    repo_id = github.call("GET", f"/repos/{owner}/{name}").json()["id"]
    by_id = f"/repositories/{repo_id}/environments/prod%20eu/secrets"  # the path go-github uses
    key = github.call("GET", f"{by_id}/public-key").json()
    value = f"postgres://app:p@ss-{secrets.token_hex(8)}@127.0.0.1:5432/app?sslmode=disable"

    put = github.call("PUT", f"{by_id}/DATABASE_URL", {"encrypted_value": seal(key["key"], value),
                                                       "key_id": key["key_id"]})
    assert put.status == 201
    stored = github.state()["repos"][f"{owner}/{name}"]["environments"]["prod eu"]["secrets"]
    assert stored["DATABASE_URL"]["value"] == value

    meta = github.call("GET", f"{by_id}/DATABASE_URL").json()
    assert set(meta) == {"name", "created_at", "updated_at"}  # never the value

    again = github.call("PUT", f"{env_path}/secrets/database_url",  # by name, lower case
                        {"encrypted_value": seal(key["key"], value + "2"), "key_id": key["key_id"]})
    assert again.status == 204
    stored = github.state()["repos"][f"{owner}/{name}"]["environments"]["prod eu"]["secrets"]
    assert stored["DATABASE_URL"]["value"] == value + "2"
    listed = github.call("GET", by_id).json()
    assert listed["total_count"] == 1 and listed["secrets"][0]["name"] == "DATABASE_URL"

    assert github.call("DELETE", f"{by_id}/DATABASE_URL").status == 204
    assert github.call("GET", f"{by_id}/DATABASE_URL").status == 404


def test_bad_secrets_are_rejected(github: GitHubDouble, env_path: str) -> None:
    key = github.call("GET", f"{env_path}/secrets/public-key").json()
    stranger = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    cases: list[tuple[str, dict[str, Any]]] = [
        ("S1", {"encrypted_value": seal(stranger, "x"), "key_id": key["key_id"]}),  # other key
        ("S2", {"encrypted_value": seal(key["key"], "x"), "key_id": "1"}),  # wrong key id
        ("S3", {"encrypted_value": "not base64!", "key_id": key["key_id"]}),
        ("GITHUB_TOKEN", {"encrypted_value": seal(key["key"], "x"), "key_id": key["key_id"]}),
        ("S4", {"key_id": key["key_id"]}),
    ]
    for secret_name, body in cases:
        assert github.call("PUT", f"{env_path}/secrets/{secret_name}", body).status == 422, secret_name
    assert github.call("GET", f"{env_path}/secrets").json()["total_count"] == 0


# --- variables --------------------------------------------------------------------------------


def test_environment_variables(github: GitHubDouble, repo: tuple[str, str], env_path: str) -> None:
    owner, name = repo
    variables = f"{env_path}/variables"
    assert github.call("POST", variables, {"name": "app_url", "value": "http://one"}).status == 201
    assert github.call("POST", variables, {"name": "APP_URL", "value": "dup"}).status == 409
    assert github.call("GET", f"{variables}/APP_URL").json()["value"] == "http://one"
    patch = github.call("PATCH", f"{variables}/APP_URL", {"name": "APP_URL", "value": "http://two"})
    assert patch.status == 204
    listed = github.call("GET", variables).json()
    assert listed["total_count"] == 1 and listed["variables"][0]["value"] == "http://two"
    stored = github.state()["repos"][f"{owner}/{name}"]["environments"]["prod eu"]["variables"]
    assert stored["APP_URL"]["value"] == "http://two"
    assert github.call("DELETE", f"{variables}/APP_URL").status == 204
    assert github.call("GET", f"{variables}/APP_URL").status == 404


# --- PR comments --------------------------------------------------------------------------------


def test_pr_comments_create_update_list(github: GitHubDouble, repo: tuple[str, str],
                                        sandbox: dict[str, str]) -> None:
    owner, name = repo
    issue = f"/repos/{owner}/{name}/issues/42/comments"
    first = github.call("POST", issue, {"body": "<!-- slipway --> deploying abc"})
    assert first.status == 201
    comment = first.json()
    assert comment["body"] == "<!-- slipway --> deploying abc"
    assert comment["user"]["login"] == sandbox["SANDBOX_GITHUB_OWNER"]
    github.call("POST", f"/repos/{owner}/{name}/issues/7/comments", {"body": "elsewhere"})

    edited = github.call("PATCH", f"/repos/{owner}/{name}/issues/comments/{comment['id']}",
                         {"body": "<!-- slipway --> deployed abc"})
    assert edited.status == 200 and edited.json()["body"] == "<!-- slipway --> deployed abc"

    listed = github.call("GET", issue).json()
    assert [(c["id"], c["body"]) for c in listed] == [(comment["id"], "<!-- slipway --> deployed abc")]
    assert len(github.call("GET", f"/repos/{owner}/{name}/issues/comments").json()) == 2
    single = github.call("GET", f"/repos/{owner}/{name}/issues/comments/{comment['id']}").json()
    assert single["issue_url"].endswith(f"/repos/{owner}/{name}/issues/42")
    assert github.call("POST", issue, {"body": ""}).status == 422
    comments = github.state()["repos"][f"{owner}/{name}"]["comments"]
    assert [c["issue_number"] for c in comments] == [42, 7]


def test_list_pagination_has_link_header(github: GitHubDouble, repo: tuple[str, str]) -> None:
    owner, name = repo
    issue = f"/repos/{owner}/{name}/issues/1/comments"
    for i in range(3):
        github.call("POST", issue, {"body": f"c{i}"})
    page1 = github.call("GET", f"{issue}?per_page=2")
    assert [c["body"] for c in page1.json()] == ["c0", "c1"]
    assert 'rel="next"' in page1.headers["Link"]
    page2 = github.call("GET", f"{issue}?per_page=2&page=2")
    assert [c["body"] for c in page2.json()] == ["c2"]


# --- logging --------------------------------------------------------------------------------


def test_request_log_has_no_secrets(github: GitHubDouble, sandbox: dict[str, str], env_path: str) -> None:
    key = github.call("GET", f"{env_path}/secrets/public-key").json()
    value = f"very-secret-{secrets.token_hex(8)}"
    sealed = seal(key["key"], value)
    assert github.call("PUT", f"{env_path}/secrets/LOGGED", {"encrypted_value": sealed,
                                                              "key_id": key["key_id"]}).status == 201
    assert github.call("GET", "/no/such/endpoint").status == 404
    log = (Path(sandbox["SANDBOX_GITHUB_DOUBLE_DIR"]) / "requests.log").read_text()
    assert f"PUT /api/v3{env_path}/secrets/LOGGED 201" in log
    assert "UNHANDLED GET /api/v3/no/such/endpoint" in log
    for leak in (value, sealed, github.token):
        assert leak not in log
    recent = github.call("GET", "/_double/requests", api=False).json()
    assert {"method": "PUT", "path": f"/api/v3{env_path}/secrets/LOGGED", "status": 201} in recent


# --- persistence (a private instance on a free port) ----------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_state_survives_a_restart(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("private-test-token\n")
    state = tmp_path / "state"
    port = free_port()

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, str(SERVER), "--port", str(port), "--state-dir", str(state),
                                 "--token-file", str(token_file)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                if http("GET", f"http://127.0.0.1:{port}/_double/health", timeout=1).status == 200:
                    return proc
            except OSError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError("private double did not start")

    client = GitHubDouble(f"http://127.0.0.1:{port}/", "private-test-token")
    proc = start()
    try:
        env = "/repos/acme/app/environments/prod"
        client.call("PUT", env, {})
        key = client.call("GET", f"{env}/secrets/public-key").json()
        client.call("PUT", f"{env}/secrets/TOKEN", {"encrypted_value": seal(key["key"], "kept"),
                                                      "key_id": key["key_id"]})
    finally:
        proc.terminate()
        proc.wait(10)
    assert (state / "state.json").stat().st_mode & 0o077 == 0
    proc = start()
    try:
        assert client.call("GET", f"{env}/secrets/public-key").json() == key
        kept = client.state()["repos"]["acme/app"]["environments"]["prod"]["secrets"]["TOKEN"]
        assert kept["value"] == "kept"
    finally:
        proc.terminate()
        proc.wait(10)
