"""The raw `slipway:*` values as Pulumi hands them over: strings, objects and lists as JSON.

Secrets are read here, apart from the plain sections, so their values never reach a model's
validation errors; a secret stored in plain text is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slipway.config.fields import ENV_VAR_PATTERN
from slipway.config.fixes import set_command
from slipway.config.models import NAMESPACE, SECRET_KEYS
from slipway.errors import Problem
from slipway.secret import Secret

_SECRET_FILES = {
    "registryPassword": "registry-token.txt",
    "sshPrivateKey": "~/.ssh/deploy_ed25519",
    "databaseAdminPassword": "db-admin-password.txt",
    "githubToken": "github-token.txt",
}


@dataclass
class RawConfig:
    """Decoded plain values (by key without the namespace), read secrets, and their problems."""

    stack: str
    plain: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _raw: Mapping[str, str] = field(default_factory=dict, repr=False)
    _secret_keys: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def read(cls, raw: Mapping[str, str], secret_keys: set[str], stack: str) -> RawConfig:
        self = cls(stack=stack, _raw=raw, _secret_keys=secret_keys)
        prefix = f"{NAMESPACE}:"
        for full, value in raw.items():
            name = full.removeprefix(prefix)
            if not full.startswith(prefix) or name in SECRET_KEYS:
                continue
            self.plain[name] = self._decode(full, value)
        return self

    def _decode(self, key: str, value: str) -> Any:
        stripped = value.strip()
        if stripped.startswith(("{", "[")):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError as exc:
                self.problems.append(
                    Problem(
                        key,
                        f"is not valid structured config ({exc.msg})",
                        f"check the YAML under {key} in Pulumi.{self.stack}.yaml",
                    )
                )
                return None
        return value

    def secret(self, name: str, *, required: bool = True) -> Secret | None:
        """`slipway:<name>` as a Secret; missing (if required) or plain text is a problem."""
        key = f"{NAMESPACE}:{name}"
        fix = set_command(self.stack, key, _SECRET_FILES[name], secret=True)
        value = self._raw.get(key)
        if value is None or value == "":
            if required:
                self.problems.append(Problem(key, "is missing", fix))
            return None
        if key not in self._secret_keys:
            self.problems.append(
                Problem(key, "is stored in plain text; it is a secret and must be encrypted", fix)
            )
            return None
        return Secret(value)

    def app_secrets(self) -> dict[str, Secret]:
        """`slipway:secrets`: NAME -> value, exactly as the app reads them."""
        key = f"{NAMESPACE}:secrets"
        one = set_command(self.stack, key + ".SECRET_KEY", "<file with the value>", secret=True)
        raw = self._raw.get(key)
        if raw is None:
            return {}
        if key not in self._secret_keys:
            self.problems.append(
                Problem(
                    key,
                    "holds values in plain text; app secrets must be encrypted",
                    "re-set each value with: "
                    + set_command(self.stack, key + ".NAME", "<file with the value>", secret=True),
                )
            )
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            self.problems.append(Problem(key, "must be a mapping of NAME: secret value", one))
            return {}
        out: dict[str, Secret] = {}
        for name, item in value.items():
            if not re.match(ENV_VAR_PATTERN, name):
                self.problems.append(
                    Problem(
                        f"{key}.{name}",
                        "is not a valid environment variable name (A-Z, 0-9, _)",
                        "rename it to the exact name the app reads, e.g. SECRET_KEY",
                    )
                )
            elif not isinstance(item, str) or not item:
                self.problems.append(
                    Problem(
                        f"{key}.{name}",
                        "must be a non-empty string",
                        set_command(self.stack, f"{key}.{name}", "<file with the value>", secret=True),
                    )
                )
            else:
                out[name] = Secret(item)
        return out
