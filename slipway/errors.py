"""Config problems, collected so the user sees every one of them at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One bad config key: which key, what is wrong, and how to fix it."""

    key: str
    message: str
    fix: str

    def render(self) -> str:
        return f"{self.key}: {self.message}\n      fix: {self.fix}"


class ConfigError(Exception):
    """Raised before any resource is declared when the stack config is not usable."""

    def __init__(self, stack: str, problems: list[Problem]) -> None:
        self.stack = stack
        self.problems = problems
        count = len(problems)
        lines = "\n".join(f"  - {p.render()}" for p in problems)
        super().__init__(
            f"slipway: stack '{stack}' has {count} config problem{'s' if count != 1 else ''};"
            f" nothing was changed.\n{lines}"
        )

    def keys(self) -> list[str]:
        return [p.key for p in self.problems]
