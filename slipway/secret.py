"""A secret value that cannot leak through repr, str or f-strings by accident."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    """Holds a secret string; only `reveal()` gives the value back."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "[secret]"

    def __repr__(self) -> str:
        return "Secret([secret])"

    def __format__(self, spec: str) -> str:
        return "[secret]"
