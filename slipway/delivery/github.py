"""The few GitHub REST calls the plan comment needs: list, create and update issue comments.

Works against api.github.com, GitHub Enterprise (`https://host/api/v3`) and the sandbox's
GitHub test double. The token is a `Secret`: it goes into the Authorization header and nowhere
else; error messages carry the method, path, status and GitHub's own message only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from slipway.secret import Secret

DEFAULT_API_URL = "https://api.github.com"
PER_PAGE = 100
MAX_PAGES = 50  # 5,000 comments: far beyond any pull request we would comment on
TIMEOUT_SECONDS = 30.0


class GitHubError(Exception):
    """A GitHub API call failed."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"GitHub API {method} {path}: HTTP {status}{': ' + message if message else ''}")


@dataclass(frozen=True)
class Comment:
    id: int
    body: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The token must not follow a redirect to another host."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class GitHub:
    def __init__(self, api_url: str, token: Secret) -> None:
        parts = urllib.parse.urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"--api-url {api_url!r} is not an http(s) URL")
        self.api_url = api_url.rstrip("/")
        self._token = token

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"token {self._token.reveal()}",
            "User-Agent": "slipway-plan-comment",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 (http(s) checked in __init__)
            self.api_url + path, data=data, method=method, headers=headers)
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raise GitHubError(method, path.split("?")[0], err.code, _message(err.read())) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise GitHubError(method, path.split("?")[0], 0, f"cannot reach the API: {reason}") from None
        return json.loads(raw) if raw else None

    # -- issue (pull request) comments -----------------------------------------------------
    def comments(self, repo: str, number: int) -> list[Comment]:
        """Every comment of issue/PR `number`, oldest first (pages by number, not by Link,
        so the token only ever goes to `api_url`)."""
        found: list[Comment] = []
        for page in range(1, MAX_PAGES + 1):
            items = self._call("GET", f"/repos/{_repo(repo)}/issues/{number}/comments"
                                      f"?per_page={PER_PAGE}&page={page}")
            if not isinstance(items, list):
                raise GitHubError("GET", f"/repos/{repo}/issues/{number}/comments", 200,
                                  "expected a list of comments")
            found += [Comment(int(c["id"]), str(c.get("body") or "")) for c in items]
            if len(items) < PER_PAGE:
                break
        return found

    def create_comment(self, repo: str, number: int, body: str) -> Comment:
        made = self._call("POST", f"/repos/{_repo(repo)}/issues/{number}/comments", {"body": body})
        return Comment(int(made["id"]), str(made.get("body") or ""))

    def update_comment(self, repo: str, comment_id: int, body: str) -> Comment:
        done = self._call("PATCH", f"/repos/{_repo(repo)}/issues/comments/{comment_id}", {"body": body})
        return Comment(int(done["id"]), str(done.get("body") or ""))

    def delete_comment(self, repo: str, comment_id: int) -> None:
        self._call("DELETE", f"/repos/{_repo(repo)}/issues/comments/{comment_id}")


def _repo(repo: str) -> str:
    owner, sep, name = repo.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise ValueError(f"--repo {repo!r} is not owner/name")
    return f"{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}"


def _message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    return str(data.get("message", ""))[:200] if isinstance(data, dict) else ""
