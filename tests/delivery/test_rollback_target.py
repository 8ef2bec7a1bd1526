from __future__ import annotations

import pytest

from slipway.delivery.rollback_target import Refusal, choose_target, expand_prefix, image_refs

A, B, C = "a" * 40, "b" * 40, "c" * 40


def test_default_is_replaced_sha() -> None:
    target = choose_target(None, {"deployedSha": B, "replacedSha": A, "releaseMode": "build"}, [])
    assert (target.sha, target.source) == (A, "the stack's replacedSha output")


def test_history_when_replaced_sha_is_empty() -> None:
    target = choose_target(None, {"deployedSha": B, "replacedSha": ""}, [B, A])
    assert (target.sha, target.source) == (A, "the stack's update history")


def test_refusals() -> None:
    with pytest.raises(Refusal, match="no previous release is known"):
        choose_target(None, {"deployedSha": B, "replacedSha": ""}, [B])
    with pytest.raises(Refusal, match="no deployed release"):
        choose_target(None, {}, [])
    with pytest.raises(Refusal, match="already runs a pinned release"):
        choose_target(None, {"deployedSha": A, "replacedSha": B, "releaseMode": "reuse"}, [])
    with pytest.raises(Refusal, match="already runs"):
        choose_target(B[:12], {"deployedSha": B}, [])
    with pytest.raises(Refusal, match="not a commit SHA"):
        choose_target("latest", {"deployedSha": B}, [])
    with pytest.raises(Refusal, match="not a commit SHA"):
        choose_target("abc", {"deployedSha": B}, [])


def test_explicit_target_even_after_a_rollback() -> None:
    outputs = {"deployedSha": A, "replacedSha": B, "releaseMode": "reuse"}
    assert choose_target(C.upper(), outputs, []).sha == C


def test_expand_prefix_from_registry_tags() -> None:
    tags = [f"prod-{A}", f"prod-{B}", "prod-latest", f"dev-{C}", f"prod-{'a' * 12}{'0' * 28}"]
    assert expand_prefix("b" * 12, "prod", tags) == B
    with pytest.raises(Refusal, match="ambiguous"):
        expand_prefix("a" * 12, "prod", tags)
    with pytest.raises(Refusal, match="no image tagged prod-cccccccccccc"):
        expand_prefix("c" * 12, "prod", tags)


def test_image_refs_follow_the_config() -> None:
    config = {"slipway:environment": "prod",
              "slipway:registry": {"server": "registry.digitalocean.com/team", "username": "ci"},
              "slipway:services": {"backend": {"repository": "app-backend"},
                                   "frontend": {"repository": "app-frontend"}}}
    refs = image_refs(config, A)
    assert {k: str(v) for k, v in refs.items()} == {
        "backend": f"registry.digitalocean.com/team/app-backend:prod-{A}",
        "frontend": f"registry.digitalocean.com/team/app-frontend:prod-{A}"}
    with pytest.raises(Refusal, match="lacks"):
        image_refs({"slipway:environment": "prod"}, A)
