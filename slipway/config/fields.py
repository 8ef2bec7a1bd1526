"""Value types of the stack config, each with the message a person needs when it is wrong.

Every type validates with one plain function that raises `invalid(...)`, so a bad value yields
exactly one problem whose text is ours (not pydantic's) and whose fix names an example value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

# The error type the translator recognises; its context carries our message and fix.
SLIPWAY_ERROR = "slipway"


def invalid(
    message: str, *, example: str | None = None, fix: str | None = None, at: tuple[str, ...] = ()
) -> PydanticCustomError:
    """A problem with this value. `example` makes the fix a `pulumi config set` of it; `fix`
    replaces that with other advice; `at` points below the validated value (model rules)."""
    return PydanticCustomError(
        SLIPWAY_ERROR, "{message}", {"message": message, "example": example, "fix": fix, "at": at}
    )


def shown(value: Any, limit: int = 40) -> str:
    """A short JSON rendering of a bad value for a message."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(pattern: re.Pattern[str] | None, hint: str, example: str) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        if value is None or value == "":
            raise invalid("is missing", example=example)
        if not isinstance(value, str):
            raise invalid(f"must be a string, got {shown(value)}", example=example)
        if "\x00" in value:  # no path, command line or header can hold one
            raise invalid(f"contains a NUL character: {shown(value)}", example=example)
        if pattern is not None and not pattern.match(value):
            raise invalid(f"{value!r} is not valid{': ' + hint if hint else ''}", example=example)
        return value

    return validate


def check_text(pattern: str | None = None, hint: str = "", example: str = "<value>") -> Callable[[Any], str]:
    return _text(re.compile(pattern) if pattern else None, hint, example)


def text(pattern: str | None = None, hint: str = "", example: str = "<value>") -> PlainValidator:
    """A non-empty string, optionally matching `pattern` (`hint` says what is expected)."""
    return PlainValidator(check_text(pattern, hint, example))


def _int(low: int, high: int, example: str) -> Callable[[Any], int]:
    def validate(value: Any) -> int:
        if value is None:
            raise invalid("is missing", example=example)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(f"must be a whole number, got {shown(value)}", example=example)
        if not low <= value <= high:
            raise invalid(f"must be between {low} and {high}, got {value}", example=example)
        return int(value)

    return validate


def integer(low: int, high: int, example: str) -> PlainValidator:
    """A whole number in [low, high]; "22" (as `pulumi config set` may store it) counts."""
    return PlainValidator(_int(low, high, example))


def _flag(example: str) -> Callable[[Any], bool]:
    def validate(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return bool(value == "true")
        raise invalid(f"must be true or false, got {shown(value)}", example=example)

    return validate


def flag(example: str = "true") -> PlainValidator:
    return PlainValidator(_flag(example))


def _text_list(item: Callable[[Any], str], example: str) -> Callable[[Any], tuple[str, ...]]:
    def validate(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise invalid(
                f"must be a list, got {shown(value)}", fix=f"write it as a YAML list, e.g. {example}"
            )
        out = []
        for index, entry in enumerate(value):
            try:
                out.append(item(entry))
            except PydanticCustomError as error:
                raise invalid(
                    f"item {index}: {error.context['message'] if error.context else error}",
                    fix=f"write it as a YAML list of strings, e.g. {example}",
                ) from None
        return tuple(out)

    return validate


def text_list(example: str, pattern: str | None = None, hint: str = "") -> PlainValidator:
    """A list of non-empty strings (each matching `pattern`, if given)."""
    return PlainValidator(_text_list(check_text(pattern, hint, example), example))


def _ids(fix: str) -> Callable[[Any], tuple[int, ...]]:
    def validate(value: Any) -> tuple[int, ...]:
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        ):
            raise invalid(f"must be a list of numeric GitHub ids, got {shown(value)}", fix=fix)
        return tuple(value)

    return validate


def id_list(fix: str) -> PlainValidator:
    return PlainValidator(_ids(fix))


def _plain_map(name_pattern: re.Pattern[str], name_hint: str) -> Callable[[Any], dict[str, str]]:
    def validate(value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise invalid(
                f"must be a mapping of NAME: value, got {shown(value)}",
                fix="write it as a YAML mapping, e.g. {DJANGO_SETTINGS_MODULE: app.settings}",
            )
        out: dict[str, str] = {}
        for name, item in value.items():
            if not name_pattern.match(str(name)):
                raise invalid(
                    f"{name!r} is not valid: {name_hint}",
                    at=(str(name),),
                    fix="use the exact name the app reads (A-Z, 0-9, _)",
                )
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise invalid(
                    f"must be a plain string, got {shown(item)}", at=(str(name),), example="<value>"
                )
            if "\x00" in str(item):
                raise invalid("contains a NUL character", at=(str(name),), example="<value>")
            if "\n" in str(item):
                raise invalid(
                    "contains a newline, which an env file cannot hold",
                    at=(str(name),),
                    fix="put it on one line",
                )
            out[str(name)] = str(item)
        return out

    return validate


ENV_VAR_PATTERN = r"^[A-Z_][A-Z0-9_]*$"


def env_map() -> PlainValidator:
    """NAME: value pairs for env vars or GitHub variables (numbers become strings)."""
    return PlainValidator(
        _plain_map(re.compile(ENV_VAR_PATTERN), "an environment variable name (A-Z, 0-9, _)")
    )


def arg_map() -> PlainValidator:
    """Docker build args: any NAME: value pairs."""
    return PlainValidator(_plain_map(re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$"), "a build argument name"))


def plain(check: Callable[[Any], Any]) -> PlainValidator:
    """A value checked by `check` alone."""
    return PlainValidator(check)
