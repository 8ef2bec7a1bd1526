"""Env files that a POSIX shell can source (`set -a; . FILE`) without interpreting values."""

from __future__ import annotations

import re
from collections.abc import Mapping

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote_value(value: str) -> str:
    """Single-quote a value so `.` assigns it literally: no expansion, no word splitting."""
    if "\x00" in value:
        raise ValueError("env values cannot contain NUL bytes")
    return "'" + value.replace("'", "'\\''") + "'"


def render_env_file(values: Mapping[str, str]) -> str:
    """One `NAME='value'` line per entry, in a stable order."""
    lines = []
    for name in sorted(values):
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
        lines.append(f"{name}={quote_value(values[name])}")
    return "\n".join(lines) + "\n"


def parse_env_file(text: str) -> dict[str, str]:
    """Read back what render_env_file wrote (used to mask secrets in output)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, quoted = line.partition("=")
        if not sep or not _NAME.match(name):
            continue
        if quoted.startswith("'") and quoted.endswith("'"):
            quoted = quoted[1:-1].replace("'\\''", "'")
        out[name] = quoted
    return out
