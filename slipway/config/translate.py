"""pydantic's validation errors, said as slipway problems: the key, what is wrong, the fix."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from slipway.config.fields import SLIPWAY_ERROR, shown
from slipway.config.fixes import closest, full_key, set_command
from slipway.errors import Problem

# Keys a user may write by habit that slipway refuses on purpose, with the reason.
_REFUSED_KEYS: dict[tuple[str, ...], tuple[str, str]] = {
    ("server", "password"): (
        "password logins are not supported; slipway uses SSH keys only",
        "remove slipway:server.password and set slipway:sshPrivateKey with --secret",
    ),
    ("server", "strictHostKeyChecking"): (
        "cannot be configured: the server's host key is always verified",
        "remove it and pin the key in slipway:server.hostKey",
    ),
}
# Secret values written inside a plain section: where they belong instead.
_SECRET_HOMES: dict[tuple[str, ...], str] = {
    ("registry", "password"): "registryPassword",
    ("server", "privateKey"): "sshPrivateKey",
    ("server", "sshPrivateKey"): "sshPrivateKey",
    ("database", "adminPassword"): "databaseAdminPassword",
    ("database", "password"): "databaseAdminPassword",
    ("github", "token"): "githubToken",
}
_SHAPE_ERRORS = {"model_type", "dict_type", "model_attributes_type", "mapping_type"}


def _path(loc: Sequence[int | str], root: type[BaseModel]) -> list[str]:
    """The location as the user wrote it: aliases (pydantic reports defaults by field name)."""
    parts: list[str] = []
    for index, part in enumerate(loc):
        if part == "[key]":
            continue
        if isinstance(part, int):
            parts.append(f"[{part}]")
            continue
        model = _model_at(root, loc[:index]) if index else root
        field = model.model_fields.get(part) if model else None
        parts.append(field.alias if field is not None and field.alias else part)
    return parts


def _unwrap(annotation: Any) -> Any:
    """The model or container type inside Annotated[...] / X | None."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


def _model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class whose fields `loc` (a pydantic error location) points into."""
    current: Any = root
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        current = _unwrap(field.annotation)
        if typing.get_origin(current) is dict:
            current = _unwrap(typing.get_args(current)[1])
            if parts:
                parts.pop(0)  # the mapping's own key, e.g. a service name
        elif typing.get_origin(current) in (tuple, list):
            current = _unwrap(typing.get_args(current)[0])
            if parts and isinstance(parts[0], int):
                parts.pop(0)  # the entry's index, e.g. the second server
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _known_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def problems_from(
    error: ValidationError, root: type[BaseModel], stack: str, extra_known: Sequence[str] = ()
) -> list[Problem]:
    """One problem per pydantic error, in the order pydantic found them."""
    return [_problem(detail, root, stack, extra_known) for detail in error.errors()]


def _problem(detail: ErrorDetails, root: type[BaseModel], stack: str, extra_known: Sequence[str]) -> Problem:
    path = _path(detail["loc"], root)
    kind = detail["type"]
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    if kind == SLIPWAY_ERROR:
        path += list(ctx.get("at") or ())
        key = full_key(path)
        fix = ctx.get("fix") or set_command(stack, key, ctx.get("example") or "<value>")
        return Problem(key, str(ctx["message"]), str(fix).replace("{key}", key))
    key = full_key(path)
    if kind == "extra_forbidden":
        # The key as written: a field's Python name (admin_port) is not a key users may write.
        path[-1] = str(detail["loc"][-1])
        return _unknown_key(path, root, stack, extra_known)
    if kind == "missing":
        if len(path) == 1:
            return Problem(key, "is missing", f"add a '{key}:' section to Pulumi.{stack}.yaml")
        return Problem(key, "is missing", set_command(stack, key, "<value>"))
    if kind in _SHAPE_ERRORS:
        return Problem(
            key,
            f"must be a mapping (key: value), got {shown(detail['input'])}",
            f"write {key} as a YAML mapping in Pulumi.{stack}.yaml",
        )
    return Problem(key, detail["msg"][:1].lower() + detail["msg"][1:], f"check {key} in Pulumi.{stack}.yaml")


def _unknown_key(path: list[str], root: type[BaseModel], stack: str, extra_known: Sequence[str]) -> Problem:
    key = full_key(path)
    where = tuple(path)
    if where in _REFUSED_KEYS:
        message, fix = _REFUSED_KEYS[where]
        return Problem(key, message, fix)
    if where in _SECRET_HOMES:
        home = f"slipway:{_SECRET_HOMES[where]}"
        return Problem(
            key,
            f"is a secret and cannot sit in plain text here; it belongs in {home}",
            f"remove it here, then {set_command(stack, home, '<file with the value>', secret=True)}",
        )
    parent = _model_at(root, [p for p in path[:-1] if not p.startswith("[")])
    known = _known_keys(parent) if parent else []
    if len(path) == 1:
        known += list(extra_known)
    meant = closest(path[-1], known)
    if meant:
        return Problem(
            key,
            f"is not a known key; did you mean {meant}?",
            f"rename {path[-1]} to {meant} in Pulumi.{stack}.yaml",
        )
    return Problem(
        key,
        "is not a known key",
        f"remove it from Pulumi.{stack}.yaml (known here: {', '.join(sorted(known))})",
    )
