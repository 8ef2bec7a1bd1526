"""`make bench`'s phase breakdown, from engine events as `pulumi up --json` streams them."""

from __future__ import annotations

import json
from typing import Any

from bench.timeline import ReleaseShape, events_of, quiet_phases, release_phases

STACK = "urn:pulumi:dev::slipway::"


def step(kind: str, name: str, op: str) -> dict[str, Any]:
    return {kind: {"metadata": {"urn": f"{STACK}x::{name}", "op": op}}}


def say(name: str, message: str) -> dict[str, Any]:
    return {"diagnosticEvent": {"urn": f"{STACK}x::{name}", "message": message}}


def lines(*timed: tuple[float, dict[str, Any]]) -> list[tuple[float, str]]:
    return [(at, json.dumps(doc) + "\n") for at, doc in timed]


def test_a_document_that_spans_lines_is_stamped_when_its_last_line_arrives() -> None:
    plan = json.dumps({"steps": [{"op": "same"}]}, indent=2).splitlines(keepends=True)
    streamed = [(0.5, plan[0]), *((1.0, text) for text in plan[1:]), (1.2, '{"preludeEvent": {}}\n')]
    events = events_of(streamed)
    assert [(e.at, e.kind) for e in events] == [(1.0, ""), (1.2, "preludeEvent")]


SHAPE = ReleaseShape(builds=[("backend", "app-backend-image")], migration="app-migration-run",
                     on_servers=[("switch backend", "app-backend-deploy")],
                     github=["app-github-secret-SECRET_KEY"])


def release(preview: bool) -> list[tuple[float, str]]:
    timed: list[tuple[float, dict[str, Any]]] = [
        (0.9, {"preludeEvent": {}}),
        (1.0, step("resourcePreEvent", "app-github-secret-SECRET_KEY", "same")),
        (1.5, step("resourcePreEvent", "app-backend-image-build", "update")),
        (2.5, say("app-backend-image-build", "Pushing Image to the registry")),
        (2.7, step("resOutputsEvent", "app-backend-image-build", "update")),
        (2.8, step("resourcePreEvent", "app-backend-image-latest", "create-replacement")),
        (2.8, step("resourcePreEvent", "app-migration-run", "create-replacement")),
        (2.9, step("resOutputsEvent", "app-backend-image-latest", "create-replacement")),
        (4.0, step("resOutputsEvent", "app-migration-run", "create-replacement")),
        (4.1, step("resourcePreEvent", "app-backend-deploy", "update")),
        (5.0, step("resOutputsEvent", "app-backend-deploy", "update")),
        # The clean-up of the replaced migration belongs to the engine's finish, not the migration.
        (5.1, step("resourcePreEvent", "app-migration-run", "delete-replaced")),
        (5.2, step("resOutputsEvent", "app-migration-run", "delete-replaced")),
    ]
    if preview:
        timed = [(0.6, {"steps": []}), *((at + 1.0, doc) for at, doc in timed)]
    return lines(*timed)


def test_a_release_is_broken_into_its_phases_in_the_order_they_began() -> None:
    phases = release_phases(events_of(release(preview=False)), 5.6, SHAPE)
    assert [(p.name, p.start, round(p.seconds, 2)) for p in phases] == [
        ("engine, program and plugins start", 0.0, 1.5),
        ("build backend", 1.5, 1.0),
        ("push backend <env>-<sha>", 2.5, 0.2),
        ("push backend <env>-latest", 2.8, 0.1),
        ("migration (backup, steps)", 2.8, 1.2),
        ("switch backend", 4.1, 0.9),
        ("engine finish (state, clean-up)", 5.2, 0.4),
    ]  # GitHub is left out: the release did not change it


def test_a_preview_pass_is_its_own_phase() -> None:
    phases = release_phases(events_of(release(preview=True)), 6.6, SHAPE)
    assert [(p.name, p.start, p.end) for p in phases[:2]] == [
        ("preview pass (engine, program, plugins, diff)", 0.0, 0.6),
        ("engine, program and plugins start", 0.6, 2.5),
    ]


def test_a_no_op_is_start_program_and_finish() -> None:
    events = events_of(lines((0.7, {"preludeEvent": {}}),
                             (1.0, step("resourcePreEvent", "app", "same")),
                             (1.6, step("resOutputsEvent", "app", "same"))))
    assert [(p.start, p.end) for p in quiet_phases(events, 2.0)] == [(0.0, 0.7), (0.7, 1.6), (1.6, 2.0)]
    assert quiet_phases([], 2.0) == []
