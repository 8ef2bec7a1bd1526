from __future__ import annotations

from typing import Any

from slipway.delivery.history import deployed_shas, previous_release, release_message, update_sha
from slipway.delivery.ordering import by_ancestry, by_history, decide

A, B, C = "a" * 40, "b" * 40, "c" * 40


def entry(start: str, *, message: str = "", pin: str | None = None, result: str = "succeeded",
          kind: str = "update") -> dict[str, Any]:
    config = {"slipway:sha": {"value": pin, "secret": False}} if pin else {}
    return {"kind": kind, "result": result, "startTime": start, "message": message, "config": config}


def test_release_message_round_trips() -> None:
    assert update_sha(entry("t", message=release_message("deploy", "prod", A))) == A


def test_deployed_shas_newest_first_from_pins_and_messages() -> None:
    history = [
        entry("2026-01-01T00:00:00Z", message=release_message("deploy", "prod", A)),
        entry("2026-01-02T00:00:00Z", message="a hand-run update"),
        entry("2026-01-03T00:00:00Z", message=release_message("deploy", "prod", B)),
        entry("2026-01-04T00:00:00Z", message=release_message("deploy", "prod", C), result="failed"),
        entry("2026-01-05T00:00:00Z", pin=A, message="rollback"),
        entry("2026-01-06T00:00:00Z", pin=A),
        entry("2026-01-07T00:00:00Z", message=release_message("deploy", "prod", C), kind="refresh"),
    ]
    assert deployed_shas(list(reversed(history))) == [A, B, A]
    assert previous_release(A, [A, B, A]) == B
    assert previous_release(A, [A]) is None


def test_a_secret_or_short_pin_is_not_taken() -> None:
    assert update_sha({"config": {"slipway:sha": {"value": "[secret]", "secret": True}}}) is None
    assert update_sha({"config": {"slipway:sha": {"value": "abc123", "secret": False}}}) is None


def test_ordering_by_git() -> None:
    # history: A <- B <- C on main; D diverged from A
    parents = {B: A, C: B, "d" * 40: A}

    def is_ancestor(x: str, y: str) -> bool | None:
        known = {A, *parents}
        if x not in known or y not in known:
            return None
        while True:
            if x == y:
                return True
            if y not in parents:
                return False
            y = parents[y]

    assert by_ancestry(A, C, is_ancestor).verdict == "older"  # type: ignore[union-attr]
    assert by_ancestry(C, A, is_ancestor).verdict == "newer"  # type: ignore[union-attr]
    assert by_ancestry("d" * 40, C, is_ancestor).verdict == "diverged"  # type: ignore[union-attr]
    assert by_ancestry(C, C, is_ancestor).verdict == "same"  # type: ignore[union-attr]
    assert by_ancestry("e" * 40, C, is_ancestor) is None
    # git does not know it: falls back to the stack's record
    found = decide("e" * 40, C, replaced="e" * 40, previous=[], is_ancestor=is_ancestor)
    assert (found.verdict, found.basis) == ("older", "the stack's replacedSha")


def test_ordering_by_history() -> None:
    assert by_history(A, B, replaced=A, previous=[]).verdict == "older"
    assert by_history(A, C, replaced=B, previous=[C, B, A]).verdict == "older"
    assert by_history(C, B, replaced=A, previous=[B, A]).verdict == "unknown"
    assert by_history(B, B, replaced=A, previous=[]).verdict == "same"
