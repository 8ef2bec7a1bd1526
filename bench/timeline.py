"""Where an `up` spent its time, from the engine's own events.

`pulumi up --json` prints one JSON document per engine event as it happens. The events carry
whole-second timestamps only, so each is stamped with when it arrived (seconds since the command
started); the phases are the spans between the events of the resources that did the work.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    at: float  # seconds since the command started, when the event was printed
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return next((key for key in self.body if key.endswith("Event")), "")

    @property
    def resource(self) -> str:
        """The name of the resource the event is about ("" for none)."""
        payload = self.body.get(self.kind) or {}
        urn = str((payload.get("metadata") or {}).get("urn") or payload.get("urn") or "")
        return urn.rsplit("::", 1)[-1] if urn else ""

    @property
    def op(self) -> str:
        payload = self.body.get(self.kind) or {}
        return str((payload.get("metadata") or {}).get("op", ""))

    @property
    def message(self) -> str:
        return str((self.body.get("diagnosticEvent") or {}).get("message", ""))


def events_of(lines: Iterable[tuple[float, str]]) -> list[Event]:
    """Decodes the documents of a streamed `--json` output; each is stamped with the arrival of the
    line that completed it (the plan a preview pass prints spans many lines)."""
    decoder = json.JSONDecoder()
    events: list[Event] = []
    pending = ""
    for at, line in lines:
        pending += line
        while pending.strip():
            text = pending.lstrip()
            try:
                doc, end = decoder.raw_decode(text)
            except json.JSONDecodeError:
                break
            if isinstance(doc, dict):
                events.append(Event(at, doc))
            pending = text[end:]
    return events


@dataclass(frozen=True)
class Phase:
    name: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


# Steps that do a resource's work; the deletes of what a replacement replaced come at the end of
# the update and are the engine's clean-up.
WORK = ("create", "update", "replace", "create-replacement")
UNCHANGED = ("", "same", "read")


def span(events: Sequence[Event], resource: str) -> tuple[float, float] | None:
    """From the first step the engine began on `resource` to its last outputs (the clean-up of a
    replacement left out); None when the update left it as it was."""
    starts = [e.at for e in events if e.kind == "resourcePreEvent" and e.resource == resource
              and e.op in WORK]
    ends = [e.at for e in events if e.kind == "resOutputsEvent" and e.resource == resource
            and e.op in WORK]
    return (min(starts), max(ends)) if starts and ends else None


def said(events: Sequence[Event], resource: str, text: str) -> float | None:
    """When the provider first logged `text` about `resource`."""
    return next((e.at for e in events if e.kind == "diagnosticEvent" and e.resource == resource
                 and text in e.message), None)


def preview_done(events: Sequence[Event]) -> float | None:
    """When the preview pass of an `up` ended: it prints the plan (with its steps) before the
    update's first event. None for `--skip-preview`."""
    return next((e.at for e in events if "steps" in e.body and not e.kind), None)


def changes_began(events: Sequence[Event]) -> float | None:
    """When the update started its first change: the engine, the program and the plugins are up."""
    return next((e.at for e in events if e.kind == "resourcePreEvent" and e.op not in UNCHANGED),
                None)


def changes_ended(events: Sequence[Event]) -> float | None:
    """When the last change's outputs came back (the clean-up of replacements included)."""
    return max((e.at for e in events if e.kind == "resOutputsEvent" and e.op not in UNCHANGED),
               default=None)


def first(events: Sequence[Event], kind: str) -> float | None:
    return next((e.at for e in events if e.kind == kind), None)


def quiet_phases(events: Sequence[Event], total: float) -> list[Phase]:
    """An `up` that changes nothing: the engine's start (state, plugins found), the program and
    the engine's steps over its resources (interleaved), the finish (state written, plugins shut
    down)."""
    prelude = first(events, "preludeEvent")
    last = max((e.at for e in events if e.kind == "resOutputsEvent"), default=None)
    if prelude is None or last is None:
        return []
    return [Phase("engine start (state, plugins found)", 0.0, prelude),
            Phase("program and steps (providers started)", prelude, last),
            Phase("finish (state written, plugins shut down)", last, total)]


@dataclass(frozen=True)
class ReleaseShape:
    """What a release is made of, by resource name (slipway.naming's names of the stack)."""

    builds: Sequence[tuple[str, str]]  # (service, its image component's name)
    migration: str
    on_servers: Sequence[tuple[str, str]]  # (label, stage or deploy resource)
    github: Sequence[str]


def release_phases(events: Sequence[Event], total: float, shape: ReleaseShape) -> list[Phase]:
    """The phases of one new-SHA `up`, in the order they began; phases overlap where the engine
    ran them in parallel (two builds), and a phase the update did not need is left out."""
    phases: list[Phase] = []
    previewed = preview_done(events)
    if previewed is not None:
        phases.append(Phase("preview pass (engine, program, plugins, diff)", 0.0, previewed))
    began = changes_began(events)
    if began is not None:
        phases.append(Phase("engine, program and plugins start", previewed or 0.0, began))
    for service, image in shape.builds:
        built = span(events, f"{image}-build")
        if built is not None:
            pushing = said(events, f"{image}-build", "Pushing Image to the registry") or built[1]
            phases.append(Phase(f"build {service}", built[0], pushing))
            phases.append(Phase(f"push {service} <env>-<sha>", pushing, built[1]))
        tagged = [s for s in (span(events, f"{image}-latest-tag"), span(events, f"{image}-latest")) if s]
        if tagged:
            phases.append(Phase(f"push {service} <env>-latest", min(s[0] for s in tagged),
                                max(s[1] for s in tagged)))
    migrated = span(events, shape.migration)
    if migrated is not None:
        phases.append(Phase("migration (backup, steps)", *migrated))
    for label, resource in shape.on_servers:
        switched = span(events, resource)
        if switched is not None:
            phases.append(Phase(label, *switched))
    github = [s for s in (span(events, r) for r in shape.github) if s]
    if github:
        phases.append(Phase("GitHub environment", min(s[0] for s in github), max(s[1] for s in github)))
    ended = changes_ended(events)
    if ended is not None:
        phases.append(Phase("engine finish (state, clean-up)", ended, total))
    return sorted(phases, key=lambda p: p.start)
