"""The sticky plan comment against the sandbox's GitHub test double (real HTTP)."""

from __future__ import annotations

import pytest

from slipway.delivery.github import Comment, GitHub, GitHubError
from slipway.delivery.sticky import find, marker, upsert
from slipway.secret import Secret
from tests.sandbox_access import github_call


def client(sandbox: dict[str, str], api_v3: bool = False) -> GitHub:
    url = sandbox["SANDBOX_GITHUB_API_URL" if api_v3 else "SANDBOX_GITHUB_URL"]
    return GitHub(url, Secret(sandbox["SANDBOX_GITHUB_TOKEN"]))


def comments(sandbox: dict[str, str], repo: str, pr: int) -> list[str]:
    return [c["body"] for c in github_call(sandbox, "GET", f"/repos/{repo}/issues/{pr}/comments")]


def test_marker() -> None:
    assert marker("slipway-plan", "prod") == "<!-- slipway-plan:prod -->"
    with pytest.raises(ValueError):
        marker("slipway-plan", "prod -->")


def test_find_keeps_the_oldest_and_reports_duplicates() -> None:
    mark = marker("slipway-plan", "dev")
    found = [Comment(7, f"{mark}\nb"), Comment(3, "someone else"), Comment(5, f"{mark}\na"),
             Comment(9, f"quoting {mark}")]
    keep, extras = find(found, mark)
    assert keep == Comment(5, f"{mark}\na") and extras == [Comment(7, f"{mark}\nb")]


@pytest.mark.parametrize("api_v3", [False, True])
def test_post_twice_gives_one_comment_updated_in_place(sandbox: dict[str, str], github_repo: str,
                                                       api_v3: bool) -> None:
    gh = client(sandbox, api_v3)
    gh.create_comment(github_repo, 4, "a human's review comment")
    mark = marker("slipway-plan", "prod")
    first = upsert(gh, github_repo, 4, mark, f"{mark}\nplan one")
    assert first.action == "created"
    second = upsert(gh, github_repo, 4, mark, f"{mark}\nplan two")
    assert second.action == "updated" and second.comment_id == first.comment_id
    third = upsert(gh, github_repo, 4, mark, f"{mark}\nplan two")
    assert third.action == "unchanged"
    assert comments(sandbox, github_repo, 4) == ["a human's review comment", f"{mark}\nplan two"]


def test_one_comment_per_stack(sandbox: dict[str, str], github_repo: str) -> None:
    gh = client(sandbox)
    for stack in ("dev", "uat", "dev", "prod", "uat"):
        upsert(gh, github_repo, 2, marker("slipway-plan", stack), f"plan for {stack}")
    bodies = comments(sandbox, github_repo, 2)
    assert sorted(b.splitlines()[0] for b in bodies) == sorted(
        marker("slipway-plan", s) for s in ("dev", "prod", "uat"))


def test_duplicates_left_by_a_race_are_removed(sandbox: dict[str, str], github_repo: str) -> None:
    gh = client(sandbox)
    mark = marker("slipway-plan", "uat")
    gh.create_comment(github_repo, 3, f"{mark}\nold")
    gh.create_comment(github_repo, 3, f"{mark}\nolder race")
    done = upsert(gh, github_repo, 3, mark, f"{mark}\nnew")
    assert done.removed_duplicates == 1
    assert comments(sandbox, github_repo, 3) == [f"{mark}\nnew"]


def test_finds_its_comment_beyond_the_first_page(sandbox: dict[str, str], github_repo: str) -> None:
    gh = client(sandbox)
    mark = marker("slipway-plan", "dev")
    upsert(gh, github_repo, 5, mark, f"{mark}\nfirst")
    for i in range(105):
        gh.create_comment(github_repo, 5, f"chatter {i}")
    assert len(gh.comments(github_repo, 5)) == 106
    assert upsert(gh, github_repo, 5, mark, f"{mark}\nsecond").action == "updated"
    assert [b for b in comments_all(gh, github_repo, 5) if b.startswith(mark)] == [f"{mark}\nsecond"]


def comments_all(gh: GitHub, repo: str, pr: int) -> list[str]:
    return [c.body for c in gh.comments(repo, pr)]


def test_errors_name_the_call_never_the_token(sandbox: dict[str, str], github_repo: str) -> None:
    bad = GitHub(sandbox["SANDBOX_GITHUB_URL"], Secret("not-the-token-" + "x" * 20))
    with pytest.raises(GitHubError) as err:
        bad.comments(github_repo, 1)
    assert err.value.status == 401
    assert "not-the-token" not in str(err.value)
    good = client(sandbox)
    with pytest.raises(GitHubError) as err:
        good.update_comment(github_repo, 999999, "x")
    assert err.value.status == 404
    assert sandbox["SANDBOX_GITHUB_TOKEN"] not in str(err.value)
