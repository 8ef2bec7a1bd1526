"""One sticky comment per key on a pull request: found by a hidden HTML marker, updated in place.

The marker (`<!-- slipway-plan:prod -->`) is the comment's first line. The oldest comment that
starts with it is updated (PATCH); a new one is posted only when there is none. Should a race
ever have left two, the newer ones are deleted, so the pull request ends with exactly one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from slipway.delivery.github import Comment

_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def marker(kind: str, key: str) -> str:
    """`marker("slipway-plan", "prod")` -> `<!-- slipway-plan:prod -->`."""
    if not _KEY.match(kind) or not _KEY.match(key):
        raise ValueError(f"marker parts must be short lower-case names, got {kind!r}, {key!r}")
    return f"<!-- {kind}:{key} -->"


def find(comments: Sequence[Comment], mark: str) -> tuple[Comment | None, list[Comment]]:
    """The comment to keep (oldest with the marker first) and any duplicates after it."""
    ours = sorted((c for c in comments if c.body.lstrip().startswith(mark)), key=lambda c: c.id)
    return (ours[0] if ours else None), ours[1:]


class CommentApi(Protocol):
    def comments(self, repo: str, number: int) -> list[Comment]: ...
    def create_comment(self, repo: str, number: int, body: str) -> Comment: ...
    def update_comment(self, repo: str, comment_id: int, body: str) -> Comment: ...
    def delete_comment(self, repo: str, comment_id: int) -> None: ...


@dataclass(frozen=True)
class Outcome:
    action: Literal["created", "updated", "unchanged"]
    comment_id: int
    removed_duplicates: int


def upsert(api: CommentApi, repo: str, number: int, mark: str, body: str) -> Outcome:
    """Make the PR carry exactly one comment starting with `mark`, whose text is `body`."""
    if not body.startswith(mark):
        body = f"{mark}\n{body}"
    keep, extras = find(api.comments(repo, number), mark)
    for extra in extras:
        api.delete_comment(repo, extra.id)
    if keep is None:
        made = api.create_comment(repo, number, body)
        return Outcome("created", made.id, len(extras))
    if keep.body == body:
        return Outcome("unchanged", keep.id, len(extras))
    api.update_comment(repo, keep.id, body)
    return Outcome("updated", keep.id, len(extras))
