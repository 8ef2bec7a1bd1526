"""Runs the `pulumi` CLI for one stack: outputs, history, config, preview and up.

Every call names the stack explicitly and passes `--config-file` to the commands that take it.
Nothing here puts a secret on a command line: config values set here are never secrets (a
SHA), and the one secret read (`registryPassword`) comes back on stdout into a `Secret`.
Errors quote pulumi's stderr, which the CLI itself keeps free of secret values.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.delivery.stack_file import set_plain_value, stack_file, values_as_pulumi_reads_them
from slipway.delivery.state_file import outputs_as_pulumi_reads_them
from slipway.secret import Secret


def structured(config: Mapping[str, Any], key: str) -> Any:
    """A structured config value (`slipway:servers` ...) as `config()` returns it, decoded; None
    when unset."""
    raw = config.get(key)
    return json.loads(raw) if isinstance(raw, str) else raw


def section(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A structured mapping (`slipway:server` ...) as `config()` returns it, or {}."""
    value = structured(config, key) or {}
    return dict(value) if isinstance(value, dict) else {}


class PulumiError(Exception):
    """A pulumi command failed; the message names the command (never its secrets)."""


@dataclass(frozen=True)
class PulumiCli:
    stack: str
    config_file: Path | None = None
    cwd: Path | None = None
    executable: str = "pulumi"
    env: Mapping[str, str] | None = field(default=None, repr=False)

    # -- plumbing --------------------------------------------------------------------------
    def _base(self, *args: str, config_file: bool) -> list[str]:
        argv = [self.executable, *args, "--stack", self.stack, "--non-interactive"]
        if self.cwd is not None:
            argv += ["--cwd", str(self.cwd)]
        if config_file and self.config_file is not None:
            argv += ["--config-file", str(self.config_file)]
        return argv

    def _environ(self) -> dict[str, str]:
        return dict(self.env) if self.env is not None else dict(os.environ)

    def capture(self, *args: str, config_file: bool = False,
                input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._base(*args, config_file=config_file), capture_output=True,
                              text=True, check=False, env=self._environ(), input=input_text)

    def _checked(self, what: str, *args: str, config_file: bool = False) -> str:
        done = self.capture(*args, config_file=config_file)
        if done.returncode != 0:
            raise PulumiError(f"`pulumi {what} --stack {self.stack}` failed:\n{done.stderr.strip()}")
        return done.stdout

    def stream(self, *args: str, config_file: bool = True) -> int:
        """Run with the terminal attached (pulumi masks secrets in what it prints)."""
        return subprocess.run(self._base(*args, config_file=config_file), check=False,
                              env=self._environ()).returncode

    # -- reading ---------------------------------------------------------------------------
    def outputs(self) -> dict[str, Any]:
        """The stack's outputs (secrets stay `[secret]`); {} for a stack never deployed."""
        out = self._checked("stack output --json", "stack", "output", "--json")
        data = json.loads(out or "{}")
        return dict(data) if isinstance(data, dict) else {}

    def outputs_from_file(self) -> dict[str, Any] | None:
        """`outputs()`, read from a file backend's state file where that is certain to be what
        the CLI reads (no CLI start); None otherwise (state_file.outputs_as_pulumi_reads_them)."""
        return outputs_as_pulumi_reads_them(self.stack, self.cwd, self._environ())

    def secret_output(self, name: str) -> Secret | None:
        """One stack output, secrets shown (into memory only), or None when the stack lacks it."""
        done = self.capture("stack", "output", name, "--show-secrets")
        value = done.stdout.rstrip("\n") if done.returncode == 0 else ""
        return Secret(value) if value else None

    def history(self) -> list[dict[str, Any]]:
        """`pulumi stack history --json`, newest first."""
        out = self._checked("stack history --json", "stack", "history", "--json")
        data = json.loads(out or "[]")
        return [dict(entry) for entry in data] if isinstance(data, list) else []

    def config(self) -> dict[str, Any]:
        """Every config value, structured values decoded; secrets are left out."""
        out = self._checked("config --json", "config", "--json", config_file=True)
        values: dict[str, Any] = {}
        for key, item in json.loads(out or "{}").items():
            if not isinstance(item, dict) or item.get("secret"):
                continue
            values[key] = item["objectValue"] if "objectValue" in item else item.get("value")
        return values

    def config_from_file(self, keys: tuple[str, ...]) -> dict[str, Any] | None:
        """`keys` of `config()`, read from the stack's file alone where that is certain to be
        what Pulumi reads (no CLI start); None otherwise (stack_file.values_as_pulumi_reads_them)."""
        return values_as_pulumi_reads_them(self.stack, self.config_file, self.cwd, keys)

    def secret_values(self) -> dict[str, Secret]:
        """Every secret config value at once (one decryption instead of one per `secret()`),
        read from stdout into memory, never printed; a structured one as its JSON text."""
        out = self._checked("config --json --show-secrets", "config", "--json", "--show-secrets",
                            config_file=True)
        values: dict[str, Secret] = {}
        for key, item in json.loads(out or "{}").items():
            if isinstance(item, dict) and item.get("secret"):
                value = item["objectValue"] if "objectValue" in item else item.get("value")
                values[key] = Secret(value if isinstance(value, str) else json.dumps(value))
        return values

    def plain_value(self, key: str) -> str | None:
        """A plain config value as Pulumi reads it (`pulumi config get`), or None when unset."""
        done = self.capture("config", "get", key, config_file=True)
        return done.stdout.rstrip("\n") if done.returncode == 0 else None

    def secret(self, key: str) -> Secret | None:
        """One secret config value (read from stdout, never printed), or None when unset."""
        value = self.plain_value(key)
        return Secret(value) if value else None

    # -- changing --------------------------------------------------------------------------
    def set_config(self, key: str, value: str) -> None:
        """Set a plain (non-secret) value, e.g. `slipway:sha`."""
        self._checked(f"config set {key}", "config", "set", key, value, config_file=True)

    def set_config_in_file(self, key: str, value: str) -> bool:
        """Set a plain value by editing the stack's config file itself, atomically (no CLI start,
        and a `pulumi config` reading the file meanwhile sees it whole); False, with nothing
        changed, when the file is not one that edit is sure of: then use `set_config`."""
        path = stack_file(self.stack, self.config_file, self.cwd)
        return path is not None and set_plain_value(path, key, value)

    def remove_config(self, key: str) -> None:
        self._checked(f"config rm {key}", "config", "rm", key, config_file=True)

    def preview(self, extra: Sequence[str] = ()) -> int:
        return self.stream("preview", "--diff", *extra)

    def up(self, message: str, extra: Sequence[str] = ()) -> int:
        return self.stream("up", "--yes", "--skip-preview", "--diff", "--message", message, *extra)
