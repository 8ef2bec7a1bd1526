"""The raw `slipway:*` values as Pulumi hands them over: strings, objects and lists as JSON.

Secrets are read here, apart from the plain sections, so their values never reach a model's
validation errors; a secret stored in plain text is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slipway.config.fields import ENV_VAR_PATTERN
from slipway.config.fixes import set_command
from slipway.config.models import NAMESPACE, SECRET_KEYS, SERVER_NAME_PATTERN
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
        return self._secret_map(
            "secrets", "SECRET_KEY", "app secrets must be encrypted",
            lambda name: None if re.match(ENV_VAR_PATTERN, name) else (
                "is not a valid environment variable name (A-Z, 0-9, _)",
                "rename it to the exact name the app reads, e.g. SECRET_KEY"),
            "NAME: secret value")

    def server_keys(self) -> dict[str, Secret]:
        """`slipway:sshPrivateKeys`: server name -> that server's deploy key (else sshPrivateKey)."""
        keys = self._secret_map(
            "sshPrivateKeys", "web2", "deploy keys must be encrypted",
            lambda name: None if re.match(SERVER_NAME_PATTERN, name) else (
                "is not a server name", "use the name of one of slipway:servers"),
            "server name: private key", example_file="~/.ssh/web2_deploy_ed25519")
        for name, key in list(keys.items()):
            if "PRIVATE KEY-----" not in key.reveal():
                entry = f"{NAMESPACE}:sshPrivateKeys.{name}"
                self.problems.append(Problem(
                    entry, "is not an SSH private key (no PRIVATE KEY block)",
                    set_command(self.stack, entry, "~/.ssh/web2_deploy_ed25519", secret=True)))
                del keys[name]
        return keys

    def _secret_map(self, name: str, example: str, why: str,
                    bad_name: Callable[[str], tuple[str, str] | None], shape: str,
                    example_file: str = "<file with the value>") -> dict[str, Secret]:
        """A structured secret `slipway:<name>`: entry name -> Secret, each problem named."""
        key = f"{NAMESPACE}:{name}"
        one = set_command(self.stack, f"{key}.{example}", example_file, secret=True)
        raw = self._raw.get(key)
        if raw is None:
            return {}
        if key not in self._secret_keys:
            self.problems.append(
                Problem(
                    key,
                    f"holds values in plain text; {why}",
                    "re-set each value with: "
                    + set_command(self.stack, key + ".NAME", example_file, secret=True),
                )
            )
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            self.problems.append(Problem(key, f"must be a mapping of {shape}", one))
            return {}
        out: dict[str, Secret] = {}
        for entry, item in value.items():
            wrong = bad_name(entry)
            if wrong:
                self.problems.append(Problem(f"{key}.{entry}", *wrong))
            elif not isinstance(item, str) or not item:
                self.problems.append(
                    Problem(
                        f"{key}.{entry}",
                        "must be a non-empty string",
                        set_command(self.stack, f"{key}.{entry}", example_file, secret=True),
                    )
                )
            else:
                out[entry] = Secret(item)
        return out
