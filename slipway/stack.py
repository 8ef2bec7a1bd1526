"""Reads this stack's `slipway:*` config out of the Pulumi runtime, once."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi.runtime.config as runtime_config

from slipway.config import NAMESPACE, StackConfig, parse_stack_config
from slipway.gitinfo import GitReader, LocalGit


def raw_stack_config() -> tuple[dict[str, str], set[str]]:
    """Every `slipway:*` value and which were set as secrets, wherever the SDK holds them
    (the CLI passes them in the environment; mocks and the Automation API set them directly)."""
    prefix = f"{NAMESPACE}:"
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw = {k: str(v) for k, v in merged.items() if k.startswith(prefix)}
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys |= {k for k in raw if runtime_config.is_config_secret(k)}
    return raw, secret_keys & set(raw)


def load_stack_config(project_dir: Path, git: GitReader | None = None) -> StackConfig:
    raw, secret_keys = raw_stack_config()
    return parse_stack_config(raw, secret_keys, stack=pulumi.get_stack(),
                              project_dir=project_dir, git=git or LocalGit())
