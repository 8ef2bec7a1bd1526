"""Typed helpers around pulumi.Output (the SDK's own `secret` signature defeats mypy)."""

from __future__ import annotations

from typing import Any

import pulumi


def secret(value: object) -> pulumi.Output[Any]:
    """`value` (plain or Output) as an Output marked secret."""
    return pulumi.Output.secret(value)


def last_value(stdout: str, prefix: str) -> str | None:
    """The value of a command's last `<prefix><value>` line (runners report results that way)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None
