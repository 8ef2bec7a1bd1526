"""What a `pulumi preview --json` of a slipway stack will do, in slipway's own terms.

`read_plan` is pure: the preview document (and what is known about the running release) in,
a `ReleasePlan` out. It reads only names, operations, property *keys* and the few plain values
it needs (image tags, SHA labels, secret *names*); it never copies a property value that
could be secret, so nothing it returns can carry one. (`pulumi preview --json` blinds secrets
as `[secret]` anyway.)

Where the new SHA comes from, first found wins: the pinned `slipway:sha` in the preview's
config (a rollback), the tag `<env>-<sha>` of the image being built, the `slipway.sha` label
in a deploy script, the stack's `deployedSha` output as previewed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from slipway.naming import (
    DEPLOY_COMMAND_SUFFIX,
    MIGRATION_COMMAND_SUFFIX,
    MIGRATION_PLAN_ENV,
    PIN_NOTICE,
    STAGE_COMMAND_SUFFIX,
)

Op = Literal["create", "update", "replace", "delete", "same", "read", "other"]

STACK_TYPE = "pulumi:pulumi:Stack"
MIGRATION_TYPE = "command:local:Command"
DEPLOY_TYPE = "command:remote:Command"
SECRET_TYPE = "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret"  # noqa: S105 (a type)
VARIABLE_TYPE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
IMAGE_TYPE = "docker:index/image:Image"
MIGRATION_SUFFIX = MIGRATION_COMMAND_SUFFIX
DEPLOY_SUFFIX = DEPLOY_COMMAND_SUFFIX
# Pulumi's marker for a value that is not known until the update runs.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

_SHA = re.compile(r"^[0-9a-f]{40}$")
_LABEL_SHA = re.compile(r"slipway\.sha=([0-9a-f]{40})\b")
_OPS: dict[str, Op] = {
    "create": "create", "update": "update", "delete": "delete", "same": "same", "read": "read",
    "replace": "replace", "create-replacement": "replace", "delete-replaced": "replace",
    "discard-replaced": "replace", "replace-replaced": "replace",
}
_RANK: dict[Op, int] = {"replace": 5, "create": 4, "delete": 3, "update": 2, "other": 1,
                        "read": 0, "same": 0}


@dataclass(frozen=True)
class Step:
    """One resource's change: the strongest operation among its steps."""

    op: Op
    type: str
    name: str
    changed: tuple[str, ...]  # property keys that cause the change (never values)
    old: Mapping[str, Any] = field(repr=False)
    new: Mapping[str, Any] = field(repr=False)

    @property
    def custom(self) -> bool:
        """False for component resources (grouping only; they never change anything)."""
        state = self.new or self.old
        return bool(state.get("custom", True))

    def inputs(self) -> Mapping[str, Any]:
        return dict(self.new.get("inputs") or self.old.get("inputs") or {})


@dataclass(frozen=True)
class ServiceChange:
    service: str
    container: str
    op: Op
    changed: tuple[str, ...]
    server: str | None = None  # the named server (`slipway:servers`); None for the one server


@dataclass(frozen=True)
class ServerRelease:
    """Which SHA a named server runs now and will run after this update."""

    name: str
    old_sha: str | None  # None: a server new to the stack
    new_sha: str | None  # None: the server is removed from the stack


@dataclass(frozen=True)
class NamedChange:
    name: str
    op: Op


@dataclass(frozen=True)
class ReleasePlan:
    stack: str
    environment: str | None
    github_environment: str | None
    old_sha: str | None
    new_sha: str | None
    pinned: bool  # slipway:sha is set: a release of an existing image (a rollback)
    migration: Op | None  # None: no migration step in the preview
    services: tuple[ServiceChange, ...]
    secrets: tuple[NamedChange, ...]
    variables: tuple[NamedChange, ...]
    other: tuple[NamedChange, ...]  # any other resource that changes, by "<type> <name>"
    errors: tuple[str, ...]  # error diagnostics, as the engine printed them (secrets masked)
    failed: bool
    # The program's own notices (`slipway: pinned: ...`), as it logged them.
    pin_notice: str | None = None
    # Why no migration step runs although the migration command does ("rollback"), if so.
    migrations_skipped: str | None = None
    # Each named server's SHA before and after (`slipway:servers`; empty for the one server).
    servers: tuple[ServerRelease, ...] = ()

    @property
    def migrates(self) -> bool:
        return self.migration in ("create", "update", "replace")

    @property
    def changes_anything(self) -> bool:
        return bool(self.migrates or self.services or self.secrets or self.variables or self.other
                    or (self.new_sha and self.old_sha != self.new_sha))


def urn_parts(urn: str) -> tuple[str, str]:
    """`urn:pulumi:stack::project::a$b$type::name` -> (type, name)."""
    head, _, name = urn.rpartition("::")
    return head.rsplit("$", 1)[-1].rsplit("::", 1)[-1], name


def _op(raw: object) -> Op:
    return _OPS.get(str(raw), "other")


def merge_steps(raw_steps: Iterable[Mapping[str, Any]]) -> list[Step]:
    """One Step per URN, in first-seen order (a replacement may come as several steps)."""
    merged: dict[str, Step] = {}
    for raw in raw_steps:
        urn = str(raw.get("urn", ""))
        rtype, name = urn_parts(urn)
        op = _op(raw.get("op"))
        keys = tuple(dict.fromkeys(
            [str(k) for k in raw.get("replaceReasons") or []]
            + [str(k) for k in raw.get("diffReasons") or []]))
        step = Step(op=op, type=rtype, name=name, changed=keys,
                    old=dict(raw.get("oldState") or {}), new=dict(raw.get("newState") or {}))
        if urn in merged:
            prev = merged[urn]
            strongest = op if _RANK[op] > _RANK[prev.op] else prev.op
            step = Step(op=strongest, type=rtype, name=name,
                        changed=tuple(dict.fromkeys(prev.changed + keys)),
                        old=prev.old or step.old, new=step.new or prev.new)
        merged[urn] = step
    return list(merged.values())


def _known_str(value: object) -> str | None:
    return value if isinstance(value, str) and value and value != UNKNOWN else None


def _config_value(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    if isinstance(value, Mapping):  # some tools write {"value": ..., "secret": ...}
        value = None if value.get("secret") else value.get("value")
    text = _known_str(value)
    return None if text is None or text == "[secret]" else text.strip()


def _structured(config: Mapping[str, Any], key: str) -> Any:
    """A structured config value (a JSON string in the preview), or None if it is not one."""
    raw = config.get(key)
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return None
    return raw


def _github_environment(config: Mapping[str, Any]) -> str | None:
    """`environment` of the structured `slipway:github` value."""
    raw = _structured(config, "slipway:github")
    value = raw.get("environment") if isinstance(raw, Mapping) else None
    return value if isinstance(value, str) and value else None


def _server_names(config: Mapping[str, Any]) -> list[str]:
    """The names in the structured `slipway:servers` value."""
    raw = _structured(config, "slipway:servers")
    entries = raw if isinstance(raw, list) else []
    return [str(e["name"]) for e in entries if isinstance(e, Mapping) and isinstance(e.get("name"), str)]


def _server_and_service(deploy_name: str, pipeline: str | None, servers: Iterable[str]
                        ) -> tuple[str | None, str]:
    """`<pipeline>-<server>-<service>-deploy` (several servers) or `<pipeline>-<service>-deploy`."""
    base = deploy_name.removesuffix(DEPLOY_SUFFIX)
    if pipeline and base.startswith(pipeline + "-"):
        base = base[len(pipeline) + 1:]
    else:
        base = base.split("-", 1)[-1]
    server = next((n for n in sorted(servers, key=len, reverse=True) if base.startswith(n + "-")), None)
    return server, base[len(server) + 1:] if server else base


def _server_releases(old_outputs: Mapping[str, Any], names: list[str], changes: Iterable[ServiceChange],
                     new_sha: str | None) -> tuple[ServerRelease, ...]:
    """Per named server: the SHA it runs (the `servers` output) and the one it will run."""
    before = old_outputs.get("servers")
    before = before if isinstance(before, Mapping) else {}
    changing = {c.server for c in changes if c.server and c.op != "delete"}

    def running(name: str) -> str | None:
        shas = before.get(name)
        values = sorted({v for v in shas.values() if _known_str(v)}) if isinstance(shas, Mapping) else []
        return ", ".join(values) or None

    out = [ServerRelease(name, running(name), new_sha if name in changing else running(name) or new_sha)
           for name in names]
    out += [ServerRelease(name, running(name), None) for name in before if name not in names and names]
    return tuple(out)


def _sha_from_tag(image_name: str, environment: str | None) -> str | None:
    tag = image_name.rsplit(":", 1)[-1] if ":" in image_name.rsplit("/", 1)[-1] else ""
    prefix = f"{environment}-" if environment else ""
    sha = tag[len(prefix):] if prefix and tag.startswith(prefix) else tag.rsplit("-", 1)[-1]
    return sha if _SHA.match(sha) else None


def read_plan(preview: Mapping[str, Any], *, stack: str, old_sha: str | None = None,
              preview_failed: bool = False) -> ReleasePlan:
    """The release a preview describes. `old_sha`: the running release's SHA when known
    otherwise (e.g. `pulumi stack output deployedSha`); the preview's own record wins."""
    config: Mapping[str, Any] = preview.get("config") or {}
    steps = merge_steps(s for s in preview.get("steps") or [] if isinstance(s, Mapping))
    environment = _config_value(config, "slipway:environment")

    root = next((s for s in steps if s.type == STACK_TYPE), None)
    old_outputs: Mapping[str, Any] = (root.old.get("outputs") or {}) if root else {}
    new_outputs: Mapping[str, Any] = (root.new.get("outputs") or {}) if root else {}
    running = _known_str(old_outputs.get("deployedSha")) or old_sha
    environment = environment or _known_str(old_outputs.get("environment"))

    migration = next((s for s in steps
                      if s.type == MIGRATION_TYPE and s.name.endswith(MIGRATION_SUFFIX)), None)
    # The Pipeline component is named `app`, its migration command `app-migration-run`.
    pipeline = migration.name.removesuffix(MIGRATION_SUFFIX) if migration else None

    pin = _config_value(config, "slipway:sha")
    candidates: list[str | None] = [pin.lower() if pin and _SHA.match(pin.lower()) else None]
    candidates += [_sha_from_tag(str(s.inputs().get("imageName") or ""), environment)
                   for s in steps if s.type == IMAGE_TYPE and s.op != "delete"]
    deploys = [s for s in steps if s.type == DEPLOY_TYPE and s.name.endswith(DEPLOY_SUFFIX)]
    for step in deploys:
        script = _known_str((step.new.get("inputs") or {}).get("create"))
        found = _LABEL_SHA.findall(script or "")
        candidates.append(found[0] if found else None)
    candidates.append(_known_str(new_outputs.get("deployedSha")))
    new_sha = next((c for c in candidates if c), None)
    release_steps = [s for s in steps if s.type in (IMAGE_TYPE, DEPLOY_TYPE)
                     or (migration is not None and s is migration)]
    if new_sha is None and running and not any(s.op not in ("same", "read") for s in release_steps):
        # `pulumi preview --json` lists unchanged resources only with --show-sames: no image,
        # migration or deploy step means the running release stays.
        new_sha = running

    server_names = _server_names(config)
    # A removed server is known by the outputs only.
    ran_on = old_outputs.get("servers") if server_names else None
    known_servers = [*server_names, *(ran_on if isinstance(ran_on, Mapping) else ())]
    services = tuple(
        ServiceChange(service=svc, container=f"{environment}-{svc}" if environment else svc,
                      op=s.op, changed=s.changed, server=server)
        for s in deploys if s.op not in ("same", "read")
        for server, svc in [_server_and_service(s.name, pipeline, known_servers)])

    def named(rtype: str, key: str, marker: str) -> tuple[NamedChange, ...]:
        out = []
        for s in steps:
            if s.type != rtype or s.op in ("same", "read"):
                continue
            name = _known_str(s.inputs().get(key)) or s.name.rsplit(marker, 1)[-1]
            out.append(NamedChange(name=name, op=s.op))
        return tuple(out)

    # A deploy's stage (pull and create, during the migration) is the deploy's own first half.
    stages = [s for s in steps if s.type == DEPLOY_TYPE and s.name.endswith(STAGE_COMMAND_SUFFIX)]
    classified = {id(s) for s in [*deploys, *stages, *([migration] if migration else [])]}
    known = {STACK_TYPE, SECRET_TYPE, VARIABLE_TYPE}
    other = tuple(NamedChange(name=f"{s.type} {s.name}", op=s.op) for s in steps
                  if s.op not in ("same", "read") and s.type not in known and s.custom
                  and id(s) not in classified and not s.type.startswith("pulumi:providers:"))
    diagnostics = [d for d in preview.get("diagnostics") or [] if isinstance(d, Mapping)]
    errors = tuple(str(d.get("message", "")).strip() for d in diagnostics
                   if d.get("severity") == "error")
    pin_notice = next((m[m.index(PIN_NOTICE):] for d in diagnostics
                       if PIN_NOTICE in (m := str(d.get("message", "")).strip())), None)
    skipped = _skipped(migration, new_outputs)
    return ReleasePlan(
        stack=stack, environment=environment, github_environment=_github_environment(config),
        old_sha=running, new_sha=new_sha,
        pinned=candidates[0] is not None,
        migration=migration.op if migration else None,
        services=services,
        secrets=named(SECRET_TYPE, "secretName", "-secret-"),
        variables=named(VARIABLE_TYPE, "variableName", "-variable-"),
        other=other, errors=errors, failed=preview_failed or bool(errors),
        pin_notice=pin_notice, migrations_skipped=skipped,
        servers=_server_releases(old_outputs, server_names, services, new_sha),
    )


def _skipped(migration: Step | None, outputs: Mapping[str, Any]) -> str | None:
    """The migration plan's `skip` (e.g. "rollback"), else the stack's `migrations` output."""
    env = (migration.new.get("inputs") or {}).get("environment") if migration else None
    plan = env.get(MIGRATION_PLAN_ENV) if isinstance(env, Mapping) else None
    if isinstance(plan, str):
        try:
            skip = json.loads(plan).get("skip")
        except (ValueError, AttributeError):
            skip = None
        if isinstance(skip, str) and skip:
            return skip
    stated = _known_str(outputs.get("migrations"))
    if stated and stated.startswith("skipped (") and stated.endswith(")"):
        return stated[len("skipped ("):-1]
    return None
