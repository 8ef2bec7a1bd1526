"""Typed helpers around pulumi.Output (the SDK's own `secret` signature defeats mypy)."""

from __future__ import annotations

from typing import Any

import pulumi


def secret(value: object) -> pulumi.Output[Any]:
    """`value` (plain or Output) as an Output marked secret."""
    return pulumi.Output.secret(value)
