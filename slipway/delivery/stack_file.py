"""A plain value set in a stack's config file (`Pulumi.<stack>.yaml`) by editing the file itself.

`pulumi config set` costs a CLI start, a secrets-manager setup and a rewrite of the whole file
in place (about 0.3 s); `slipway rollback` pins `slipway:sha` on its critical path, before any
server is switched back. Here the one line is edited, the result is checked by parsing it (every
other value unchanged, the key holding the new value), and the file is replaced atomically, so a
`pulumi config` reading it at the same moment sees the old file or the new one, never half of
one. Whenever the file's layout is not the plain one this expects, nothing is written and the
caller falls back to `pulumi config set`.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

_CONFIG_BLOCK = re.compile(r"^config:[ \t]*(?:#.*)?$", re.MULTILINE)


def project_file(directory: Path) -> Path | None:
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        if (directory / name).is_file():
            return directory / name
    return None


def stack_file(stack: str, config_file: Path | None, cwd: Path | None) -> Path | None:
    """The config file `pulumi --stack STACK [--cwd CWD] [--config-file FILE]` reads; None when
    it is not simply `<project or stackConfigDir>/Pulumi.<stack>.yaml` or does not exist yet."""
    if config_file is not None:
        return config_file if config_file.is_file() else None
    if "/" in stack:  # org/project/stack: the file name is Pulumi's to derive
        return None
    directory = cwd if cwd is not None else Path.cwd()
    project = project_file(directory)
    if project is None:
        return None
    settings = yaml.safe_load(project.read_text())
    if isinstance(settings, dict) and settings.get("stackConfigDir"):
        directory = directory / str(settings["stackConfigDir"])
    path = directory / f"Pulumi.{stack}.yaml"
    return path if path.is_file() else None


def _key_lines(text: str, key: str) -> list[re.Match[str]]:
    """Every line that names `key` as a mapping key, quoted or not, at any indent."""
    return list(re.finditer(rf"^([ \t]*)[\"']?{re.escape(key)}[\"']?[ \t]*:.*$", text, re.MULTILINE))


def with_value(text: str, key: str, value: str) -> str | None:
    """`text` with `config.<key>` set to the string `value`, every other line as it was; None
    when the file's layout is not one this can edit with certainty."""
    try:
        before: Any = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError:
        return None
    if not isinstance(before, dict):
        return None
    config = before.get("config")
    if config is not None and not isinstance(config, dict):
        return None
    line = f"{key}: {_quoted(value)}"
    named = _key_lines(text, key)
    block = _CONFIG_BLOCK.search(text)
    if config and key in config:
        if len(named) != 1 or not named[0].group(0).lstrip().startswith(f"{key}:"):
            return None
        found = named[0]
        edited = f"{text[:found.start()]}{found.group(1)}{line}{text[found.end():]}"
    elif named:
        return None  # the key's name appears where this cannot tell what it means
    elif block is not None:
        edited = f"{text[:block.end()]}\n{_entry_indent(text, block.end())}{line}{text[block.end():]}"
    elif config is None and "config" not in before:
        separator = "\n" if text and not text.endswith("\n") else ""
        edited = f"{text}{separator}config:\n  {line}\n"
    else:
        return None
    try:
        after: Any = yaml.safe_load(edited)
    except yaml.YAMLError:
        return None
    expected = {**before, "config": {**(config or {}), key: value}}
    return edited if after == expected else None


def _quoted(value: str) -> str:
    """A double-quoted YAML scalar (a SHA of digits and one `e` would otherwise read as a number)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _entry_indent(text: str, after: int) -> str:
    """The indent of the config block's first entry (two spaces when it has none yet)."""
    for row in text[after:].splitlines():
        if not row.strip() or row.lstrip().startswith("#"):
            continue
        indent = row[: len(row) - len(row.lstrip())]
        return indent if indent else "  "
    return "  "


def set_plain_value(path: Path, key: str, value: str) -> bool:
    """Sets `config.<key>` in the file at `path`, atomically; False (and nothing written) when
    its layout is not a plain one or it cannot be written."""
    try:
        text = path.read_text()
        edited = with_value(text, key, value)
        if edited is None:
            return False
        mode = path.stat().st_mode & 0o7777
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(edited)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError:
        return False
    return True
