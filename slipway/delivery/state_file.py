"""A stack's outputs read from its state file, where the backend is a plain directory.

`pulumi stack output` costs a CLI start: about 0.2 s of wall time and 0.27 s of CPU on a 2-core
runner, spent on `slipway rollback`'s critical path beside its SSH handshake. With a file backend
(`PULUMI_BACKEND_URL=file:///...`) the outputs are in one JSON file the engine replaces whole on
every checkpoint. They are read from it here only in the plain case, where its path and format
are certain: the backend named by `PULUMI_BACKEND_URL` alone (no `backend:` in Pulumi.yaml), an
absolute path (no `~`), a project-scoped layout (`.pulumi/meta.yaml` version 1), a plain stack
name, one uncompressed `<stack>.json` (no `.json.gz` or `.json.zst` beside it) of deployment
version 3 naming this project and stack, one `pulumi:pulumi:Stack` resource, and outputs that are
plain values or secrets (shown as `[secret]`, as the CLI shows them). Anything else is None:
ask `pulumi stack output`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import yaml

from slipway.delivery.stack_file import project_settings

SIG_KEY = "4dabf18193072939515e22adb298388d"  # marks a special value in Pulumi's state
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - the secret marker, no secret
_PLAIN_STACK = re.compile(r"[A-Za-z0-9._-]+")
_COMPRESSED = (".gz", ".zst")  # PULUMI_SELF_MANAGED_STATE_GZIP, PULUMI_DIY_BACKEND_ZSTD
# gocloud fileblob's URL options: none of them moves where the state is.
_KNOWN_QUERY = frozenset({"metadata", "create_dir", "no_tmp_dir", "dir_file_mode", "base_url",
                          "secret_key_path"})


class _Unsure(Exception):
    """The state file cannot be read as certainly as the CLI reads it."""


def backend_root(environ: Mapping[str, str]) -> Path | None:
    """The directory of a `file://` PULUMI_BACKEND_URL; None for any other backend or doubt."""
    url = environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        return None
    location, _, query = url.removeprefix("file://").partition("?")
    if any(name not in _KNOWN_QUERY for name, _ in parse_qsl(query, keep_blank_values=True)):
        return None
    path = unquote(location)
    # `~` is the CLI's home directory as Go finds it (the passwd entry or $HOME): not certain here.
    return Path(path) if path.startswith("/") else None


def _project_name(directory: Path) -> str:
    settings = project_settings(directory)
    if settings is None or "backend" in settings:
        raise _Unsure  # a project that names its backend: which one wins is Pulumi's to say
    name = settings.get("name")
    if not isinstance(name, str) or not _PLAIN_STACK.fullmatch(name):
        raise _Unsure
    return name


def _plain(value: Any) -> Any:
    """An output as `pulumi stack output --json` prints it: secrets as "[secret]"."""
    if isinstance(value, dict):
        if SIG_KEY in value:
            if value[SIG_KEY] == SECRET_SIG:
                return "[secret]"
            raise _Unsure  # an asset, an archive, a resource reference
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _stack_outputs(deployment: Any, project: str, stack: str) -> dict[str, Any]:
    if not isinstance(deployment, dict) or deployment.get("version") != 3:
        raise _Unsure
    checkpoint = deployment.get("checkpoint")
    if not isinstance(checkpoint, dict) or checkpoint.get("stack") != f"organization/{project}/{stack}":
        raise _Unsure
    latest = checkpoint.get("latest")
    if not isinstance(latest, dict):
        raise _Unsure
    roots = [r for r in latest.get("resources") or [] if isinstance(r, dict)
             and r.get("type") == "pulumi:pulumi:Stack"]
    if len(roots) != 1:
        raise _Unsure
    outputs = roots[0].get("outputs") or {}
    if not isinstance(outputs, dict):
        raise _Unsure
    return {str(key): _plain(value) for key, value in outputs.items()}


def outputs_as_pulumi_reads_them(stack: str, cwd: Path | None,
                                 environ: Mapping[str, str]) -> dict[str, Any] | None:
    """`pulumi stack output --json --stack STACK [--cwd CWD]`, read from the state file; None
    when that file cannot be read as certainly as the CLI reads it."""
    root = backend_root(environ)
    if root is None or not _PLAIN_STACK.fullmatch(stack):
        return None
    try:
        project = _project_name(cwd if cwd is not None else Path.cwd())
        meta = yaml.safe_load((root / ".pulumi" / "meta.yaml").read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("version") != 1:
            raise _Unsure
        path = root / ".pulumi" / "stacks" / project / f"{stack}.json"
        if any(path.with_name(f"{stack}.json{suffix}").exists() for suffix in _COMPRESSED):
            raise _Unsure
        return _stack_outputs(json.loads(path.read_bytes()), project, stack)
    except (_Unsure, OSError, UnicodeDecodeError, ValueError, yaml.YAMLError):
        return None
