"""A secret value that cannot leak by accident, and the one rule for names that hold secrets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# One home for "this name holds a secret": config refuses such names as plain env vars, the
# policy pack flags them in plain inputs, the plan comment redacts their values.
_SECRET_NAME = re.compile(
    r"PASSW(?:OR)?D|PASSPHRASE|SECRET|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_?KEY|AUTH|"
    r"DATABASE_URL|(?:^|_)DSN$|(?:^|_)KEY$"
)


def looks_secret(name: str) -> bool:
    """True for names such as SECRET_KEY, DB_PASSWORD, GITHUB_TOKEN or SENTRY_DSN."""
    upper = name.upper()
    return "PUBLIC" not in upper and bool(_SECRET_NAME.search(upper))


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
