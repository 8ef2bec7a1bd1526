#!/usr/bin/env python3
"""GitHub API TEST DOUBLE for the slipway sandbox.  This is NOT GitHub.

It serves, over plain HTTP on loopback, exactly the REST endpoints that
slipway needs to exercise for real:

* the Pulumi github provider (pulumi-github 6.15.0, i.e.
  terraform-provider-github v6.13.0 with go-github v88) pointed at
  ``base_url = http://127.0.0.1:8765/``.  A base URL that is not github.com
  makes the provider treat the host as GitHub Enterprise Server, so REST calls
  arrive under ``/api/v3/``;
* slipway's own PR-comment code (issue comments).

Every REST route is served both under ``/api/v3/`` (GHES style) and at the
root (api.github.com style).  ``/_double/...`` is this double's own
inspection API for tests; it is not part of GitHub's API.

Environment secrets are handled like GitHub does: every environment has its
own real 32-byte NaCl (libsodium crypto_box) key pair, clients read the public
key and PUT values sealed to it (``crypto_box_seal``).  The double holds the
private key, decrypts every secret it receives and keeps the PLAINTEXT in its
state file so tests can check each value (``GET /_double/state``).  The state
file is therefore mode 0600 and must never leave the sandbox.

Requests are logged (time, client, method, path, status) to
``<state-dir>/requests.log``; bodies are never logged.

See ``sandbox/github_double/README.md`` for the endpoint list and behaviour.
Needs Python 3.10+ and PyNaCl.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import json
import os
import re
import secrets as pysecrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

DOUBLE_NAME = "slipway GitHub API test double (not GitHub)"
STATE_VERSION = 1
MAX_SECRET_BYTES = 48 * 1024
MAX_VARIABLE_BYTES = 48 * 1024
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DOCS = "https://docs.github.com/rest"

Json = dict[str, Any]
# A handler answers (status, body) or (status, body, extra headers); body None means no body.
Result = tuple[int, Any] | tuple[int, Any, dict[str, str]]
HandlerFn = TypeVar("HandlerFn", bound=Callable[..., Result])


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[Json] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def unprocessable(message: str) -> ApiError:
    return ApiError(422, message)


def present(record: Any) -> Json:
    """The record, or 404 if it does not exist."""
    if record is None:
        raise not_found()
    return cast(Json, record)


# --------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------


class State:
    """All data of the double, persisted as one JSON file (mode 0600)."""

    def __init__(self, path: str, login: str, auto_create_repos: bool) -> None:
        self.path = path
        self.login = login
        self.auto_create_repos = auto_create_repos
        self.lock = threading.RLock()
        self.changed = False
        self.data = self._load()

    # -- persistence -------------------------------------------------------

    def _empty(self) -> Json:
        return {
            "version": STATE_VERSION,
            "next_id": 1,
            "users": {},
            "orgs": {},
            "teams": {},
            "repos": {},
        }

    def _load(self) -> Json:
        if os.path.exists(self.path):
            data = self._read()
            if data.get("version") != STATE_VERSION:
                raise SystemExit(f"{self.path}: unsupported state version {data.get('version')!r}")
        else:
            data = self._empty()
        self.data = data
        self._ensure_user(self.login)
        self.save()
        return data

    def _read(self) -> Json:
        with open(self.path, encoding="utf-8") as f:
            return cast(Json, json.load(f))

    def table(self, name: str) -> dict[str, Json]:
        """One of users, orgs, teams, repos: lower-cased key -> record."""
        return cast(dict[str, Json], self.data[name])

    def save(self) -> None:
        tmp = f"{self.path}.tmp.{os.getpid()}.{threading.get_ident()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, self.path)

    def reset(self) -> None:
        self.data = self._empty()
        self._ensure_user(self.login)
        self.save()

    def new_id(self) -> int:
        i = int(self.data["next_id"])
        self.data["next_id"] = i + 1
        self.changed = True
        return i

    def transaction(self, fn: Callable[[], Result]) -> Result:
        """Run one request's handler: save if it changed anything, undo if it failed."""
        self.changed = False
        try:
            result = fn()
        except BaseException:
            if self.changed:
                self.data = self._read()
            raise
        if self.changed:
            self.save()
        return result

    # -- users, orgs, teams ------------------------------------------------

    def _ensure_user(self, login: str) -> Json:
        key = login.lower()
        users = self.table("users")
        if key not in users:
            users[key] = {"login": login, "id": self.new_id(), "created_at": now()}
        return users[key]

    def user_by_login(self, login: str) -> Json:
        # Any login exists (auto-created on first lookup) unless it is an org.
        if login.lower() in self.table("orgs"):
            raise not_found()
        return self._ensure_user(login)

    def user_by_id(self, uid: int) -> Json | None:
        for u in self.table("users").values():
            if u["id"] == uid:
                return u
        return None

    def org(self, login: str) -> Json | None:
        return self.table("orgs").get(login.lower())

    def add_org(self, login: str) -> Json:
        key = login.lower()
        if key in self.table("users"):
            raise unprocessable(f"{login} is already a user")
        orgs = self.table("orgs")
        if key not in orgs:
            orgs[key] = {"login": login, "id": self.new_id(), "created_at": now()}
        return orgs[key]

    def add_team(self, org: str, slug: str, name: str) -> Json:
        o = self.org(org)
        if o is None:
            raise unprocessable(f"organization {org} does not exist (POST /_double/orgs first)")
        key = f"{org.lower()}/{slug.lower()}"
        teams = self.table("teams")
        if key not in teams:
            teams[key] = {"org": o["login"], "slug": slug, "name": name or slug, "id": self.new_id()}
        return teams[key]

    def team_by_id(self, tid: int) -> Json | None:
        for t in self.table("teams").values():
            if t["id"] == tid:
                return t
        return None

    # -- repositories ------------------------------------------------------

    def repo(self, owner: str, name: str, create: bool | None = None) -> Json:
        key = f"{owner.lower()}/{name.lower()}"
        repos = self.table("repos")
        if key in repos:
            return repos[key]
        if create is None:
            create = self.auto_create_repos
        if not create:
            raise not_found()
        repos[key] = {
            "id": self.new_id(),
            "owner": owner,
            "name": name,
            "created_at": now(),
            "default_branch": "main",
            "private": True,
            "environments": {},
            "comments": {},
        }
        return repos[key]

    def repo_by_id(self, rid: int) -> Json:
        for r in self.table("repos").values():
            if r["id"] == rid:
                return r
        raise not_found()

    @staticmethod
    def env(repo: Json, name: str) -> Json:
        env = repo["environments"].get(name.lower())
        if env is None:
            raise not_found()
        return cast(Json, env)


# --------------------------------------------------------------------------
# JSON representations (the subset of GitHub's fields that clients read)
# --------------------------------------------------------------------------


class Views:
    def __init__(self, state: State, base: str) -> None:
        self.s = state
        self.base = base.rstrip("/")  # e.g. http://127.0.0.1:8765/api/v3

    def user(self, u: Json) -> Json:
        return {
            "login": u["login"],
            "id": u["id"],
            "node_id": f"U_double{u['id']}",
            "type": "User",
            "site_admin": False,
            "name": u["login"],
            "url": f"{self.base}/users/{u['login']}",
            "html_url": f"http://github.invalid/{u['login']}",
            "avatar_url": "",
            "created_at": u["created_at"],
        }

    def org(self, o: Json) -> Json:
        return {
            "login": o["login"],
            "id": o["id"],
            "node_id": f"O_double{o['id']}",
            "type": "Organization",
            "url": f"{self.base}/orgs/{o['login']}",
            "html_url": f"http://github.invalid/{o['login']}",
            "description": "",
            "created_at": o["created_at"],
        }

    def owner(self, login: str) -> Json:
        o = self.s.org(login)
        if o is not None:
            v = self.org(o)
            return {k: v[k] for k in ("login", "id", "node_id", "type", "url", "html_url")}
        v = self.user(self.s.user_by_login(login))
        return {k: v[k] for k in ("login", "id", "node_id", "type", "url", "html_url")}

    def team(self, t: Json) -> Json:
        o = self.s.org(t["org"])
        return {
            "id": t["id"],
            "node_id": f"T_double{t['id']}",
            "name": t["name"],
            "slug": t["slug"],
            "description": "",
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "url": f"{self.base}/organizations/{present(o)['id']}/team/{t['id']}",
            "html_url": f"http://github.invalid/orgs/{t['org']}/teams/{t['slug']}",
            "members_count": 0,
            "repos_count": 0,
            "organization": self.org(present(o)),
        }

    def repo(self, r: Json) -> Json:
        full = f"{r['owner']}/{r['name']}"
        html = f"http://github.invalid/{full}"
        private = r.get("private", True)
        return {
            "id": r["id"],
            "node_id": f"R_double{r['id']}",
            "name": r["name"],
            "full_name": full,
            "owner": self.owner(r["owner"]),
            "private": private,
            "visibility": "private" if private else "public",
            "description": "",
            "fork": False,
            "url": f"{self.base}/repos/{full}",
            "html_url": html,
            "git_url": f"git://github.invalid/{full}.git",
            "ssh_url": f"git@github.invalid:{full}.git",
            "clone_url": f"{html}.git",
            "svn_url": html,
            "homepage": "",
            "language": None,
            "default_branch": r["default_branch"],
            "archived": False,
            "disabled": False,
            "is_template": False,
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": False,
            "has_discussions": False,
            "allow_forking": False,
            "allow_merge_commit": True,
            "allow_squash_merge": True,
            "allow_rebase_merge": True,
            "allow_auto_merge": False,
            "allow_update_branch": False,
            "delete_branch_on_merge": False,
            "topics": [],
            "created_at": r["created_at"],
            "updated_at": r["created_at"],
            "pushed_at": r["created_at"],
            "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
        }

    def environment(self, r: Json, e: Json) -> Json:
        full = f"{r['owner']}/{r['name']}"
        rules = []
        if e["wait_timer"]:
            rules.append({
                "id": e["id"] * 10 + 1,
                "node_id": f"GA_wait{e['id']}",
                "type": "wait_timer",
                "wait_timer": e["wait_timer"],
            })
        if e["reviewers"]:
            reviewers = []
            for rv in e["reviewers"]:
                if rv["type"] == "User":
                    user = self.user(present(self.s.user_by_id(rv["id"])))
                    reviewers.append({"type": "User", "reviewer": user})
                else:
                    team = self.team(present(self.s.team_by_id(rv["id"])))
                    reviewers.append({"type": "Team", "reviewer": team})
            rules.append({
                "id": e["id"] * 10 + 2,
                "node_id": f"GA_rev{e['id']}",
                "prevent_self_review": e["prevent_self_review"],
                "type": "required_reviewers",
                "reviewers": reviewers,
            })
        if e["deployment_branch_policy"] is not None:
            rules.append({"id": e["id"] * 10 + 3, "node_id": f"GA_bp{e['id']}", "type": "branch_policy"})
        return {
            "id": e["id"],
            "node_id": f"EN_double{e['id']}",
            "name": e["name"],
            "url": f"{self.base}/repos/{full}/environments/{quote(e['name'], safe='')}",
            "html_url": f"http://github.invalid/{full}/deployments?environment={quote(e['name'], safe='')}",
            "created_at": e["created_at"],
            "updated_at": e["updated_at"],
            "can_admins_bypass": e["can_admins_bypass"],
            "protection_rules": rules,
            "deployment_branch_policy": e["deployment_branch_policy"],
        }

    @staticmethod
    def branch_policy(p: Json) -> Json:
        return {"id": p["id"], "node_id": f"DBP_double{p['id']}", "name": p["name"], "type": p["type"]}

    @staticmethod
    def secret(sec: Json) -> Json:
        return {"name": sec["name"], "created_at": sec["created_at"], "updated_at": sec["updated_at"]}

    @staticmethod
    def variable(v: Json) -> Json:
        return {k: v[k] for k in ("name", "value", "created_at", "updated_at")}

    def comment(self, r: Json, c: Json) -> Json:
        full = f"{r['owner']}/{r['name']}"
        return {
            "id": c["id"],
            "node_id": f"IC_double{c['id']}",
            "url": f"{self.base}/repos/{full}/issues/comments/{c['id']}",
            "html_url": f"http://github.invalid/{full}/pull/{c['issue_number']}#issuecomment-{c['id']}",
            "issue_url": f"{self.base}/repos/{full}/issues/{c['issue_number']}",
            "body": c["body"],
            "user": self.user(self.s.user_by_login(c["user"])),
            "author_association": "OWNER",
            "created_at": c["created_at"],
            "updated_at": c["updated_at"],
        }


# --------------------------------------------------------------------------
# HTTP handling
# --------------------------------------------------------------------------

ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Result]]] = []


def route(method: str, pattern: str) -> Callable[[HandlerFn], HandlerFn]:
    """Register a handler; {name} matches one path segment (percent-decoded)."""
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$")

    def deco(fn: HandlerFn) -> HandlerFn:
        ROUTES.append((method, regex, fn))
        return fn

    return deco


def body_json(req: Handler) -> Json:
    if req.body in (b"", None):
        return {}
    try:
        data = json.loads(req.body)
    except ValueError:
        raise ApiError(400, "Problems parsing JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Problems parsing JSON")
    return data


def paginate(req: Handler, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """GitHub-style page/per_page with a Link header; returns (slice, headers)."""
    try:
        per_page = max(1, min(100, int(req.query.get("per_page", ["30"])[0])))
        page = max(1, int(req.query.get("page", ["1"])[0]))
    except ValueError:
        raise unprocessable("Invalid pagination parameters") from None
    start = (page - 1) * per_page
    chunk = items[start:start + per_page]
    last = max(1, -(-len(items) // per_page))
    links = []
    base = f"{req.external_base}{req.api_path}"

    def link(p: int, rel: str) -> str:
        return f'<{base}?per_page={per_page}&page={p}>; rel="{rel}"'

    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    headers = {"Link": ", ".join(links)} if links else {}
    return chunk, headers


def check_name(name: str, what: str) -> str:
    if not NAME_RE.match(name) or name.upper().startswith("GITHUB_"):
        raise unprocessable(
            f"{what} names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or "
            f"underscores (_), must not start with a number or with GITHUB_"
        )
    return name.upper()  # GitHub stores secret and variable names upper-cased


# -- meta / users / orgs / teams ----------------------------------------------


@route("GET", "/")
def api_root(req: Handler) -> Result:
    return 200, {"current_user_url": f"{req.external_base}/user", "double": DOUBLE_NAME}


@route("GET", "/meta")
def meta(req: Handler) -> Result:
    return 200, {"verifiable_password_authentication": False, "installed_version": "3.99.0-slipway-double"}


@route("GET", "/rate_limit")
def rate_limit(req: Handler) -> Result:
    reset = int(time.time()) + 3600
    core = {"limit": 5000, "used": 0, "remaining": 5000, "reset": reset}
    return 200, {"resources": {"core": core, "graphql": core, "search": core}, "rate": core}


@route("GET", "/user")
def get_auth_user(req: Handler) -> Result:
    return 200, req.views.user(req.state.user_by_login(req.state.login))


@route("GET", "/user/{uid}")
def get_user_by_id(req: Handler, uid: str) -> Result:
    u = req.state.user_by_id(int(uid)) if uid.isdigit() else None
    if u is None:
        raise not_found()
    return 200, req.views.user(u)


@route("GET", "/users/{login}")
def get_user(req: Handler, login: str) -> Result:
    org = req.state.org(login)
    if org is not None:
        return 200, req.views.org(org)
    return 200, req.views.user(req.state.user_by_login(login))


@route("GET", "/users/{login}/keys")
@route("GET", "/users/{login}/gpg_keys")
def get_user_keys(req: Handler, login: str) -> Result:
    req.state.user_by_login(login)
    return 200, []


@route("GET", "/orgs/{org}")
def get_org(req: Handler, org: str) -> Result:
    o = req.state.org(org)
    if o is None:
        raise not_found()
    return 200, req.views.org(o)


def find_team(req: Handler, org: str, slug: str) -> Json:
    return present(req.state.table("teams").get(f"{org.lower()}/{slug.lower()}"))


@route("GET", "/orgs/{org}/teams/{slug}")
def get_team(req: Handler, org: str, slug: str) -> Result:
    return 200, req.views.team(find_team(req, org, slug))


@route("GET", "/organizations/{org_id}/team/{team_id}")
def get_team_by_id(req: Handler, org_id: str, team_id: str) -> Result:
    t = present(req.state.team_by_id(int(team_id)) if team_id.isdigit() else None)
    if str(present(req.state.org(t["org"]))["id"]) != org_id:
        raise not_found()
    return 200, req.views.team(t)


@route("GET", "/orgs/{org}/teams/{slug}/members")
@route("GET", "/orgs/{org}/teams/{slug}/repos")
def get_team_lists(req: Handler, org: str, slug: str) -> Result:
    find_team(req, org, slug)
    return 200, []


# -- repositories ---------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}")
def get_repo(req: Handler, owner: str, repo: str) -> Result:
    return 200, req.views.repo(req.state.repo(owner, repo))


@route("GET", "/repositories/{rid}")
def get_repo_by_id(req: Handler, rid: str) -> Result:
    if not rid.isdigit():
        raise not_found()
    return 200, req.views.repo(req.state.repo_by_id(int(rid)))


# -- environments -----------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}/environments")
def list_envs(req: Handler, owner: str, repo: str) -> Result:
    r = req.state.repo(owner, repo)
    envs = [req.views.environment(r, e) for e in sorted(r["environments"].values(), key=lambda e: e["id"])]
    chunk, headers = paginate(req, envs)
    return 200, {"total_count": len(envs), "environments": chunk}, headers


@route("GET", "/repos/{owner}/{repo}/environments/{env}")
def get_env(req: Handler, owner: str, repo: str, env: str) -> Result:
    r = req.state.repo(owner, repo)
    return 200, req.views.environment(r, req.state.env(r, env))


@route("PUT", "/repos/{owner}/{repo}/environments/{env}")
def put_env(req: Handler, owner: str, repo: str, env: str) -> Result:
    r = req.state.repo(owner, repo)
    b = body_json(req)
    if not env or len(env) > 255:
        raise unprocessable("Environment name is invalid")

    wait_timer = b.get("wait_timer") or 0
    if not isinstance(wait_timer, int) or not 0 <= wait_timer <= 43200:
        raise unprocessable("wait_timer must be an integer between 0 and 43200")

    reviewers = []
    for rv in b.get("reviewers") or []:
        if not isinstance(rv, dict):
            raise unprocessable("reviewers must be a list of {type, id} objects")
        rtype, rid = rv.get("type"), rv.get("id")
        if rtype == "User":
            ok = isinstance(rid, int) and req.state.user_by_id(rid) is not None
        elif rtype == "Team":
            ok = isinstance(rid, int) and req.state.team_by_id(rid) is not None
        else:
            raise unprocessable(f"Reviewer type must be User or Team, got {rtype!r}")
        if not ok:
            raise unprocessable(f"Validation Failed: {rtype} reviewer with id {rid!r} does not exist")
        reviewers.append({"type": rtype, "id": rid})
    if len(reviewers) > 6:
        raise unprocessable("A maximum of 6 reviewers can be set for an environment")

    policy = b.get("deployment_branch_policy")
    if policy is not None:
        if not isinstance(policy, dict):
            raise unprocessable("deployment_branch_policy must be an object or null")
        pb, cb = policy.get("protected_branches"), policy.get("custom_branch_policies")
        if not isinstance(pb, bool) or not isinstance(cb, bool) or pb == cb:
            raise unprocessable(
                "deployment_branch_policy: exactly one of protected_branches and "
                "custom_branch_policies must be true"
            )
        policy = {"protected_branches": pb, "custom_branch_policies": cb}

    can_bypass = b.get("can_admins_bypass")
    prevent_self = b.get("prevent_self_review")

    key = env.lower()
    e = r["environments"].get(key)
    ts = now()
    if e is None:
        priv = PrivateKey.generate()
        e = {
            "id": req.state.new_id(),
            "name": env,
            "created_at": ts,
            "public_key": {
                "key_id": str(pysecrets.randbelow(9 * 10**17) + 10**17),
                "key": base64.b64encode(bytes(priv.public_key)).decode(),
                "private_key": base64.b64encode(bytes(priv)).decode(),
            },
            "secrets": {},
            "variables": {},
            "branch_policies": {},
        }
        r["environments"][key] = e
    e.update({
        "updated_at": ts,
        "wait_timer": wait_timer,
        "reviewers": reviewers,
        "can_admins_bypass": True if can_bypass is None else bool(can_bypass),
        "prevent_self_review": bool(prevent_self),
        "deployment_branch_policy": policy,
    })
    if not (policy and policy["custom_branch_policies"]):
        e["branch_policies"] = {}  # GitHub drops custom policies with the setting
    req.state.changed = True
    return 200, req.views.environment(r, e)


@route("DELETE", "/repos/{owner}/{repo}/environments/{env}")
def delete_env(req: Handler, owner: str, repo: str, env: str) -> Result:
    r = req.state.repo(owner, repo)
    req.state.env(r, env)
    del r["environments"][env.lower()]
    req.state.changed = True
    return 204, None


# -- deployment branch policies ---------------------------------------------------


def custom_policy_env(req: Handler, owner: str, repo: str, env: str) -> Json:
    e = req.state.env(req.state.repo(owner, repo), env)
    p = e["deployment_branch_policy"]
    if not (p and p["custom_branch_policies"]):
        raise not_found()  # GitHub answers 404 unless custom_branch_policies is true
    return e


def find_policy(e: Json, pid: str) -> Json:
    return present(e["branch_policies"].get(pid))


@route("GET", "/repos/{owner}/{repo}/environments/{env}/deployment-branch-policies")
def list_policies(req: Handler, owner: str, repo: str, env: str) -> Result:
    e = custom_policy_env(req, owner, repo, env)
    items = [Views.branch_policy(p) for p in sorted(e["branch_policies"].values(), key=lambda p: p["id"])]
    chunk, headers = paginate(req, items)
    return 200, {"total_count": len(items), "branch_policies": chunk}, headers


@route("POST", "/repos/{owner}/{repo}/environments/{env}/deployment-branch-policies")
def create_policy(req: Handler, owner: str, repo: str, env: str) -> Result:
    e = custom_policy_env(req, owner, repo, env)
    b = body_json(req)
    name, ptype = b.get("name"), b.get("type") or "branch"
    if not isinstance(name, str) or not name:
        raise unprocessable("name is required")
    if ptype not in ("branch", "tag"):
        raise unprocessable("type must be branch or tag")
    for p in e["branch_policies"].values():
        if p["name"] == name and p["type"] == ptype:
            raise unprocessable(f"Validation Failed: {ptype} policy {name!r} already exists")
    pid = req.state.new_id()
    p = {"id": pid, "name": name, "type": ptype}
    e["branch_policies"][str(pid)] = p
    req.state.changed = True
    return 200, Views.branch_policy(p)


@route("GET", "/repos/{owner}/{repo}/environments/{env}/deployment-branch-policies/{pid}")
def get_policy(req: Handler, owner: str, repo: str, env: str, pid: str) -> Result:
    return 200, Views.branch_policy(find_policy(custom_policy_env(req, owner, repo, env), pid))


@route("PUT", "/repos/{owner}/{repo}/environments/{env}/deployment-branch-policies/{pid}")
def update_policy(req: Handler, owner: str, repo: str, env: str, pid: str) -> Result:
    p = find_policy(custom_policy_env(req, owner, repo, env), pid)
    name = body_json(req).get("name")
    if not isinstance(name, str) or not name:
        raise unprocessable("name is required")
    p["name"] = name
    req.state.changed = True
    return 200, Views.branch_policy(p)


@route("DELETE", "/repos/{owner}/{repo}/environments/{env}/deployment-branch-policies/{pid}")
def delete_policy(req: Handler, owner: str, repo: str, env: str, pid: str) -> Result:
    e = custom_policy_env(req, owner, repo, env)
    find_policy(e, pid)
    del e["branch_policies"][pid]
    req.state.changed = True
    return 204, None


# -- environment secrets (by repository id, as go-github calls them, and by name) --


def secret_env(req: Handler, ident: dict[str, str]) -> Json:
    if "rid" in ident:
        if not ident["rid"].isdigit():
            raise not_found()
        r = req.state.repo_by_id(int(ident["rid"]))
    else:
        r = req.state.repo(ident["owner"], ident["repo"])
    return req.state.env(r, ident["env"])


def _split(kw: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    ident = {k: kw.pop(k) for k in ("rid", "owner", "repo", "env") if k in kw}
    return ident, kw


@route("GET", "/repositories/{rid}/environments/{env}/secrets/public-key")
@route("GET", "/repos/{owner}/{repo}/environments/{env}/secrets/public-key")
def get_env_public_key(req: Handler, **kw: str) -> Result:
    ident, _ = _split(kw)
    pk = secret_env(req, ident)["public_key"]
    return 200, {"key_id": pk["key_id"], "key": pk["key"]}


@route("GET", "/repositories/{rid}/environments/{env}/secrets")
@route("GET", "/repos/{owner}/{repo}/environments/{env}/secrets")
def list_env_secrets(req: Handler, **kw: str) -> Result:
    ident, _ = _split(kw)
    e = secret_env(req, ident)
    items = [Views.secret(s) for _, s in sorted(e["secrets"].items())]
    chunk, headers = paginate(req, items)
    return 200, {"total_count": len(items), "secrets": chunk}, headers


@route("GET", "/repositories/{rid}/environments/{env}/secrets/{name}")
@route("GET", "/repos/{owner}/{repo}/environments/{env}/secrets/{name}")
def get_env_secret(req: Handler, **kw: str) -> Result:
    ident, rest = _split(kw)
    sec = secret_env(req, ident)["secrets"].get(rest["name"].upper())
    if sec is None:
        raise not_found()
    return 200, Views.secret(sec)


@route("PUT", "/repositories/{rid}/environments/{env}/secrets/{name}")
@route("PUT", "/repos/{owner}/{repo}/environments/{env}/secrets/{name}")
def put_env_secret(req: Handler, **kw: str) -> Result:
    ident, rest = _split(kw)
    e = secret_env(req, ident)
    name = check_name(rest["name"], "Secret")
    b = body_json(req)
    enc, key_id = b.get("encrypted_value"), b.get("key_id")
    if not isinstance(enc, str) or not isinstance(key_id, str) or not enc or not key_id:
        raise unprocessable("Invalid request. encrypted_value and key_id are required")
    pk = e["public_key"]
    if key_id != pk["key_id"]:
        raise unprocessable(f"Bad request - key_id {key_id!r} is not the environment's current key")
    try:
        sealed = base64.b64decode(enc, validate=True)
        box = SealedBox(PrivateKey(base64.b64decode(pk["private_key"])))
        plain = box.decrypt(sealed)
    except (ValueError, CryptoError):
        raise unprocessable(
            "encrypted_value is not a value sealed (crypto_box_seal) to this environment's public key"
        ) from None
    if len(plain) > MAX_SECRET_BYTES:
        raise unprocessable("Secret value is larger than 48 KB")
    ts = now()
    old = e["secrets"].get(name)
    sec = {"name": name, "created_at": old["created_at"] if old else ts, "updated_at": ts, "key_id": key_id}
    try:
        sec["value"] = plain.decode("utf-8")
    except UnicodeDecodeError:
        sec["value"] = None
        sec["value_base64"] = base64.b64encode(plain).decode()
    e["secrets"][name] = sec
    req.state.changed = True
    return (204, None) if old else (201, None)


@route("DELETE", "/repositories/{rid}/environments/{env}/secrets/{name}")
@route("DELETE", "/repos/{owner}/{repo}/environments/{env}/secrets/{name}")
def delete_env_secret(req: Handler, **kw: str) -> Result:
    ident, rest = _split(kw)
    e = secret_env(req, ident)
    if e["secrets"].pop(rest["name"].upper(), None) is None:
        raise not_found()
    req.state.changed = True
    return 204, None


# -- environment variables ----------------------------------------------------------


def var_env(req: Handler, owner: str, repo: str, env: str) -> Json:
    return req.state.env(req.state.repo(owner, repo), env)


def check_value(value: Any) -> str:
    if not isinstance(value, str):
        raise unprocessable("value is required and must be a string")
    if len(value.encode()) > MAX_VARIABLE_BYTES:
        raise unprocessable("Variable value is larger than 48 KB")
    return value


@route("GET", "/repos/{owner}/{repo}/environments/{env}/variables")
def list_env_vars(req: Handler, owner: str, repo: str, env: str) -> Result:
    e = var_env(req, owner, repo, env)
    items = [Views.variable(v) for _, v in sorted(e["variables"].items())]
    chunk, headers = paginate(req, items)
    return 200, {"total_count": len(items), "variables": chunk}, headers


@route("POST", "/repos/{owner}/{repo}/environments/{env}/variables")
def create_env_var(req: Handler, owner: str, repo: str, env: str) -> Result:
    e = var_env(req, owner, repo, env)
    b = body_json(req)
    if not isinstance(b.get("name"), str):
        raise unprocessable("name is required")
    name = check_name(b["name"], "Variable")
    value = check_value(b.get("value"))
    if name in e["variables"]:
        raise ApiError(409, "Already exists - Variable already exists")
    ts = now()
    e["variables"][name] = {"name": name, "value": value, "created_at": ts, "updated_at": ts}
    req.state.changed = True
    return 201, {}


@route("GET", "/repos/{owner}/{repo}/environments/{env}/variables/{name}")
def get_env_var(req: Handler, owner: str, repo: str, env: str, name: str) -> Result:
    v = var_env(req, owner, repo, env)["variables"].get(name.upper())
    if v is None:
        raise not_found()
    return 200, Views.variable(v)


@route("PATCH", "/repos/{owner}/{repo}/environments/{env}/variables/{name}")
def update_env_var(req: Handler, owner: str, repo: str, env: str, name: str) -> Result:
    e = var_env(req, owner, repo, env)
    v = e["variables"].get(name.upper())
    if v is None:
        raise not_found()
    b = body_json(req)
    new_name = check_name(b["name"], "Variable") if isinstance(b.get("name"), str) else v["name"]
    if "value" in b:
        v["value"] = check_value(b["value"])
    if new_name != v["name"]:
        if new_name in e["variables"]:
            raise ApiError(409, "Already exists - Variable already exists")
        del e["variables"][v["name"]]
        v["name"] = new_name
        e["variables"][new_name] = v
    v["updated_at"] = now()
    req.state.changed = True
    return 204, None


@route("DELETE", "/repos/{owner}/{repo}/environments/{env}/variables/{name}")
def delete_env_var(req: Handler, owner: str, repo: str, env: str, name: str) -> Result:
    e = var_env(req, owner, repo, env)
    if e["variables"].pop(name.upper(), None) is None:
        raise not_found()
    req.state.changed = True
    return 204, None


# -- issue (pull request) comments ----------------------------------------------------


def comment_body(req: Handler) -> str:
    body = body_json(req).get("body")
    if not isinstance(body, str) or not body:
        raise unprocessable("Validation Failed: body is required")
    if len(body) > 65536:
        raise unprocessable("Validation Failed: body is too long (maximum is 65536 characters)")
    return body


@route("GET", "/repos/{owner}/{repo}/issues/comments")
def list_repo_comments(req: Handler, owner: str, repo: str) -> Result:
    r = req.state.repo(owner, repo)
    items = [req.views.comment(r, c) for c in sorted(r["comments"].values(), key=lambda c: c["id"])]
    chunk, headers = paginate(req, items)
    return 200, chunk, headers


@route("GET", "/repos/{owner}/{repo}/issues/{number}/comments")
def list_issue_comments(req: Handler, owner: str, repo: str, number: str) -> Result:
    if not number.isdigit():
        raise not_found()
    r = req.state.repo(owner, repo)
    items = [req.views.comment(r, c) for c in sorted(r["comments"].values(), key=lambda c: c["id"])
             if c["issue_number"] == int(number)]
    chunk, headers = paginate(req, items)
    return 200, chunk, headers


@route("POST", "/repos/{owner}/{repo}/issues/{number}/comments")
def create_issue_comment(req: Handler, owner: str, repo: str, number: str) -> Result:
    if not number.isdigit():
        raise not_found()
    r = req.state.repo(owner, repo)
    body = comment_body(req)
    ts = now()
    cid = req.state.new_id()
    c = {"id": cid, "issue_number": int(number), "body": body, "user": req.state.login,
         "created_at": ts, "updated_at": ts}
    r["comments"][str(cid)] = c
    req.state.changed = True
    location = f"{req.external_base}/repos/{owner}/{repo}/issues/comments/{cid}"
    return 201, req.views.comment(r, c), {"Location": location}


def find_comment(req: Handler, owner: str, repo: str, cid: str) -> tuple[Json, Json]:
    r = req.state.repo(owner, repo)
    c = r["comments"].get(cid)
    if c is None:
        raise not_found()
    return r, c


@route("GET", "/repos/{owner}/{repo}/issues/comments/{cid}")
def get_issue_comment(req: Handler, owner: str, repo: str, cid: str) -> Result:
    r, c = find_comment(req, owner, repo, cid)
    return 200, req.views.comment(r, c)


@route("PATCH", "/repos/{owner}/{repo}/issues/comments/{cid}")
def update_issue_comment(req: Handler, owner: str, repo: str, cid: str) -> Result:
    r, c = find_comment(req, owner, repo, cid)
    c["body"] = comment_body(req)
    c["updated_at"] = now()
    req.state.changed = True
    return 200, req.views.comment(r, c)


@route("DELETE", "/repos/{owner}/{repo}/issues/comments/{cid}")
def delete_issue_comment(req: Handler, owner: str, repo: str, cid: str) -> Result:
    r, _ = find_comment(req, owner, repo, cid)
    del r["comments"][cid]
    req.state.changed = True
    return 204, None


# -- the double's own inspection API (not GitHub) -----------------------------------


def state_view(state: State) -> Json:
    """Everything tests may want to check, with decrypted secrets; no private keys."""
    repos = {}
    for r in state.data["repos"].values():
        envs = {}
        for e in r["environments"].values():
            envs[e["name"]] = {
                "id": e["id"],
                "wait_timer": e["wait_timer"],
                "reviewers": e["reviewers"],
                "can_admins_bypass": e["can_admins_bypass"],
                "prevent_self_review": e["prevent_self_review"],
                "deployment_branch_policy": e["deployment_branch_policy"],
                "branch_policies": [Views.branch_policy(p) for p in e["branch_policies"].values()],
                "public_key": {"key_id": e["public_key"]["key_id"], "key": e["public_key"]["key"]},
                "secrets": {n: {k: v for k, v in s.items()} for n, s in e["secrets"].items()},
                "variables": {n: dict(v) for n, v in e["variables"].items()},
            }
        repos[f"{r['owner']}/{r['name']}"] = {
            "id": r["id"],
            "environments": envs,
            "comments": [dict(c) for c in sorted(r["comments"].values(), key=lambda c: c["id"])],
        }
    return {
        "double": DOUBLE_NAME,
        "login": state.login,
        "users": list(state.data["users"].values()),
        "orgs": list(state.data["orgs"].values()),
        "teams": list(state.data["teams"].values()),
        "repos": repos,
    }


DOUBLE_ROUTES: list[tuple[str, str, Callable[..., Result]]] = []


def double_route(method: str, path: str) -> Callable[[HandlerFn], HandlerFn]:
    def deco(fn: HandlerFn) -> HandlerFn:
        DOUBLE_ROUTES.append((method, path, fn))
        return fn

    return deco


@double_route("GET", "/_double/state")
def d_state(req: Handler) -> Result:
    return 200, state_view(req.state)


@double_route("GET", "/_double/requests")
def d_requests(req: Handler) -> Result:
    return 200, list(req.srv.recent)


@double_route("POST", "/_double/reset")
def d_reset(req: Handler) -> Result:
    req.state.reset()
    req.srv.recent.clear()
    return 200, {"reset": True}


@double_route("POST", "/_double/orgs")
def d_orgs(req: Handler) -> Result:
    login = body_json(req).get("login")
    if not isinstance(login, str) or not login:
        raise unprocessable("login is required")
    req.state.changed = True
    return 201, req.views.org(req.state.add_org(login))


@double_route("POST", "/_double/teams")
def d_teams(req: Handler) -> Result:
    b = body_json(req)
    if not all(isinstance(b.get(k), str) and b.get(k) for k in ("org", "slug")):
        raise unprocessable("org and slug are required")
    req.state.changed = True
    return 201, req.views.team(req.state.add_team(b["org"], b["slug"], b.get("name", "")))


@double_route("POST", "/_double/repos")
def d_repos(req: Handler) -> Result:
    b = body_json(req)
    if not all(isinstance(b.get(k), str) and b.get(k) for k in ("owner", "name")):
        raise unprocessable("owner and name are required")
    req.state.changed = True
    return 201, req.views.repo(req.state.repo(b["owner"], b["name"], create=True))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "slipway-github-double/1"

    # Set per request by _dispatch, read by the route handlers.
    body: bytes
    query: dict[str, list[str]]
    state: State
    views: Views
    external_base: str  # http://host:port[/api/v3]
    api_path: str  # the path below external_base

    @property
    def srv(self) -> DoubleServer:
        return cast(DoubleServer, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's stderr log: DoubleServer writes its own request log."""

    def _dispatch(self) -> None:
        srv = self.srv
        status = 500
        try:
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            raw_path = split.path
            self.query = parse_qs(split.query)
            self.state = srv.state
            host = self.headers.get("Host") or "{}:{}".format(*srv.server_address[:2])

            if raw_path == "/_double/health":
                status = 200
                self._send(200, {"ok": True, "double": DOUBLE_NAME, "state_dir": srv.state_dir,
                                 "pid": os.getpid()})
                return
            if not self._authorized():
                status = 401
                self._send(401, {"message": "Bad credentials", "documentation_url": DOCS})
                return

            call = self._find_route(raw_path, host)
            if call is None:
                if not raw_path.startswith("/_double/"):
                    srv.note_unhandled(self.command, raw_path)
                raise not_found()
            with srv.state.lock:
                result = srv.state.transaction(call)
            status = result[0]
            self._send(*result)
        except ApiError as err:
            status = err.status
            payload: Json = {"message": err.message, "documentation_url": DOCS}
            if err.errors:
                payload["errors"] = err.errors
            self._send(err.status, payload)
        except Exception as err:  # reported to the client and the log
            status = 500
            srv.log_line(f"ERROR {type(err).__name__}: {err}")
            self._send(500, {"message": f"test double internal error: {type(err).__name__}",
                             "documentation_url": DOCS})
        finally:
            srv.log_request_line(self.client_address[0], self.command, self.path, status)

    def _find_route(self, raw_path: str, host: str) -> Callable[[], Result] | None:
        if raw_path.startswith("/_double/"):
            self.external_base = f"http://{host}"
            self.api_path = raw_path
            self.views = Views(self.state, self.external_base + "/api/v3")
            for method, path, fn in DOUBLE_ROUTES:
                if method == self.command and path == raw_path.rstrip("/"):
                    return partial(fn, self)
            return None

        is_ghes = raw_path == "/api/v3" or raw_path.startswith("/api/v3/")
        prefix = "/api/v3" if is_ghes else ""
        self.api_path = raw_path[len(prefix):] or "/"
        self.external_base = f"http://{host}{prefix}"
        self.views = Views(self.state, self.external_base)
        for method, regex, fn in ROUTES:
            m = regex.match(self.api_path)
            if m and method == self.command:
                return partial(fn, self, **{k: unquote(v) for k, v in m.groupdict().items()})
        return None

    def _authorized(self) -> bool:
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not token:
            return False
        return hmac.compare_digest(token.strip().encode(), self.srv.token.encode())

    def _send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None or status == 204 else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        self.send_header("X-Slipway-Test-Double", "github")
        self.send_header("X-RateLimit-Limit", "5000")
        self.send_header("X-RateLimit-Remaining", "4999")
        self.send_header("X-RateLimit-Reset", str(int(time.time()) + 3600))
        self.send_header("X-RateLimit-Used", "1")
        self.send_header("X-RateLimit-Resource", "core")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class DoubleServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], state: State, token: str, state_dir: str) -> None:
        super().__init__(addr, Handler)
        self.state = state
        self.token = token
        self.state_dir = state_dir
        self.recent: deque[Json] = deque(maxlen=2000)
        self.log_lock = threading.Lock()
        self.log_path = os.path.join(state_dir, "requests.log")

    def log_line(self, line: str) -> None:
        with self.log_lock:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(f"{now()} {line}\n")

    def log_request_line(self, client: str, method: str, path: str, status: int) -> None:
        path_only = urlsplit(path).path  # never log query strings or bodies
        self.recent.append({"method": method, "path": path_only, "status": status})
        self.log_line(f"{client} {method} {path_only} {status}")

    def note_unhandled(self, method: str, path: str) -> None:
        self.log_line(f"UNHANDLED {method} {path} (endpoint not implemented by the double)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=DOUBLE_NAME)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--state-dir", required=True, help="where state.json and requests.log live")
    p.add_argument("--token-file", required=True, help="file holding the only accepted token")
    p.add_argument("--login", default="slipway-bot", help="login of the authenticated user (GET /user)")
    p.add_argument("--no-auto-create-repos", action="store_true",
                   help="404 for repositories not seeded via POST /_double/repos")
    args = p.parse_args(argv)

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        p.error("the test double only binds to loopback")
    with open(args.token_file, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        p.error(f"{args.token_file} is empty")

    os.makedirs(args.state_dir, mode=0o700, exist_ok=True)
    state = State(os.path.join(args.state_dir, "state.json"), args.login, not args.no_auto_create_repos)
    srv = DoubleServer((args.host, args.port), state, token, args.state_dir)
    srv.log_line(f"START {DOUBLE_NAME} on http://{args.host}:{args.port}/ pid {os.getpid()}")
    print(f"{DOUBLE_NAME} listening on http://{args.host}:{args.port}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
