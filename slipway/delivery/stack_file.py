"""A plain value set in a stack's config file (`Pulumi.<stack>.yaml`) by editing the file itself.

`pulumi config set` costs a CLI start, a secrets-manager setup and a rewrite of the whole file
in place (about 0.3 s); `slipway rollback` pins `slipway:sha` on its critical path, before any
server is switched back. Here the one line is edited, the result is checked by parsing it (every
other value unchanged, the key holding the new value), and the file is replaced atomically, so a
`pulumi config` reading it at the same moment sees the old file or the new one, never half of
one. Only the plain case is edited: a project file `Pulumi.yaml` (no other), the stack file
beside it or in a relative `stackConfigDir`, a passphrase or KMS salt already in it, no ESC
`environment:`, a regular file its runner owns and may write. Anything else is left to
`pulumi config set`, and the caller still checks, with `pulumi config get`, that Pulumi reads
the value before it relies on it.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

import yaml

_CONFIG_BLOCK = re.compile(r"^config:[ \t]*(?:#[^\r\n]*)?(?=\r?\n|\Z)", re.MULTILINE)
_OTHER_PROJECT_FILES = ("Pulumi.json", "Pulumi.yml")  # Pulumi prefers .json; .yml names the stack file .yml


def _load(text: str) -> Any:
    """The YAML document, or None for anything PyYAML cannot read as one (Pulumi may still)."""
    try:
        return yaml.safe_load(text) if text.strip() else {}
    except Exception:  # YAMLError, and ValueError for a date PyYAML cannot make
        return None


def project_settings(directory: Path) -> dict[str, Any] | None:
    """`<directory>/Pulumi.yaml` as a mapping, when it is the directory's one project file and
    PyYAML reads it as one; None otherwise (Pulumi's own reading decides)."""
    if any((directory / other).exists() for other in _OTHER_PROJECT_FILES):
        return None
    try:
        settings = _load((directory / "Pulumi.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return settings if isinstance(settings, dict) else None


def stack_file(stack: str, config_file: Path | None, cwd: Path | None) -> Path | None:
    """The config file `pulumi --stack STACK [--cwd CWD] [--config-file FILE]` reads; None when
    it is not simply `<project dir or stackConfigDir>/Pulumi.<stack>.yaml`, or is not there."""
    directory = cwd if cwd is not None else Path.cwd()
    if config_file is not None:
        # Pulumi changes into --cwd before it opens --config-file.
        path = config_file if config_file.is_absolute() else directory / config_file
        return path if path.is_file() else None
    if "/" in stack:  # org/project/stack: the file name is Pulumi's to derive
        return None
    settings = project_settings(directory)
    if settings is None or not isinstance(settings.get("config", {}), dict):
        return None  # `config: <dir>`: the old spelling of stackConfigDir
    config_dir = settings.get("stackConfigDir")
    if config_dir is not None:
        if not isinstance(config_dir, str) or Path(config_dir).is_absolute():
            return None
        directory = directory / config_dir
    path = directory / f"Pulumi.{stack}.yaml"
    return path if path.is_file() else None


def _key_lines(text: str, key: str) -> list[re.Match[str]]:
    """Every line that names `key` as a mapping key, quoted or not, at any indent."""
    return list(re.finditer(rf"^([ \t]*)[\"']?{re.escape(key)}[\"']?[ \t]*:[^\r\n]*", text, re.MULTILINE))


def with_value(text: str, key: str, value: str) -> str | None:
    """`text` with `config.<key>` set to the string `value`, every other line as it was; None
    when the file's layout is not one this can edit with certainty."""
    before = _load(text)
    if not isinstance(before, dict):
        return None
    # A secrets manager Pulumi would set up (and save into this file) while it is being edited,
    # or an ESC environment that may set values too: Pulumi's own `config set` then.
    has_salt = "encryptionsalt" in before or {"secretsprovider", "encryptedkey"} <= before.keys()
    if not has_salt or "environment" in before:
        return None
    config = before.get("config")
    if config is not None and not isinstance(config, dict):
        return None
    short = key.split(":", 1)[1] if ":" in key else key
    if config and short in config:  # `sha:` is the project's own `slipway:sha` to Pulumi
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
        newline = "\r\n" if "\r\n" in text else "\n"
        indent = _entry_indent(text, block.end())
        edited = f"{text[:block.end()]}{newline}{indent}{line}{text[block.end():]}"
    else:
        return None
    after = _load(edited)
    expected = {**before, "config": {**(config or {}), key: value}}
    return edited if after == expected else None


def _quoted(value: str) -> str:
    """A double-quoted YAML scalar (to YAML 1.2, as Pulumi reads it, a SHA such as
    `111...1e100` is a number)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _entry_indent(text: str, after: int) -> str:
    """The indent of the config block's first entry (two spaces when it has none yet)."""
    for row in text[after:].splitlines():
        if not row.strip() or row.lstrip().startswith("#"):
            continue
        indent = row[: len(row) - len(row.lstrip())]
        return indent if indent else "  "
    return "  "


def _replaceable(path: Path) -> bool:
    """A regular file (not a link), ours, that we may write: replacing it keeps what it was."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return (stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and info.st_uid == os.geteuid()
            and os.access(path, os.W_OK))


def set_plain_value(path: Path, key: str, value: str) -> bool:
    """Sets `config.<key>` in the file at `path`, atomically; False (and nothing written) when
    its layout is not a plain one or it cannot be replaced as it is."""
    if not _replaceable(path):
        return False
    try:
        with open(path, encoding="utf-8", newline="") as source:
            text = source.read()
        edited = with_value(text, key, value)
        if edited is None:
            return False
        mode = path.stat().st_mode & 0o7777
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                out.write(edited)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except (OSError, UnicodeDecodeError):
        return False
    return True



def values_as_pulumi_reads_them(stack: str, config_file: Path | None, cwd: Path | None,
                                keys: tuple[str, ...]) -> dict[str, Any] | None:
    """`keys` of the stack's config exactly as `pulumi config --json` would give them (structured
    values as objects, others as strings, secret ones left out), read from the file alone; None
    whenever that is not certain, and the caller asks Pulumi: a file that is not the plain case
    (see stack_file), an ESC `environment:`, project-level config of any namespace but `pulumi:`,
    a key written without its namespace, or a value that PyYAML (YAML 1.1) and Pulumi's yaml.v3
    (1.2) might read differently (`on`, `1e5`, `0777`, a date, a null)."""
    path = stack_file(stack, config_file, cwd)
    project = project_settings(cwd if cwd is not None else Path.cwd())
    if path is None or project is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
        if tree is not None and not _plain_tree(tree, set()):
            return None  # Pulumi refuses it, or might read it otherwise: let it say which
        document = _load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None
    project_config = project.get("config") or {}
    if not isinstance(project_config, dict) or any(not str(k).startswith("pulumi:") for k in project_config):
        return None
    if not isinstance(document, dict) or "environment" in document:
        return None
    config = document.get("config") or {}
    if not isinstance(config, dict) or any(str(k).count(":") != 1 for k in config):
        return None  # a key without its namespace, or the old `ns:config:key` spelling
    nodes = _entries(_entries(tree).get("config"))
    values: dict[str, Any] = {}
    for key in keys:
        if key not in config:
            continue
        if _holds_secure(config[key]):
            continue  # secret: `pulumi config --json` marks it so, and the caller leaves it out
        node = nodes.get(key)
        if node is None or not _read_alike(node):
            return None
        value = config[key]
        values[key] = str(value) if isinstance(value, int) else value
    return values


def _entries(node: yaml.Node | None) -> dict[str, yaml.Node]:
    """A mapping node's values by their (plain or quoted) key."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _plain_tree(node: yaml.Node, seen: set[int]) -> bool:
    """No alias (a node met twice), no duplicate key (Pulumi's yaml.v3 refuses the file), no
    collection tagged other than as a mapping or a list, only string mapping keys."""
    if id(node) in seen:
        return False
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        if node.tag != "tag:yaml.org,2002:map":
            return False
        keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)
                and k.tag == "tag:yaml.org,2002:str"]
        return (len(keys) == len(node.value) == len(set(keys))
                and all(_plain_tree(v, seen) for _, v in node.value))
    if isinstance(node, yaml.SequenceNode):
        return node.tag == "tag:yaml.org,2002:seq" and all(_plain_tree(v, seen) for v in node.value)
    return True


def _holds_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_holds_secure(v) for v in value.values())
    return isinstance(value, list) and any(_holds_secure(v) for v in value)


# YAML 1.2's core schema, which Pulumi's yaml.v3 follows: what a plain scalar other than a string is.
_CORE_NOT_A_STRING = re.compile(
    r"~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
_PLAIN_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]{0,17})")  # within int64 either way


def _read_alike(node: yaml.Node) -> bool:
    """Whether YAML 1.1 (PyYAML) and 1.2 read `node` alike: every scalar a string to both (quoted,
    or plain and neither a 1.1 nor a 1.2 non-string) or a plain decimal whole number."""
    if isinstance(node, yaml.MappingNode):
        return all(_read_alike(k) and _read_alike(v) for k, v in node.value)
    if isinstance(node, yaml.SequenceNode):
        return all(_read_alike(item) for item in node.value)
    if not isinstance(node, yaml.ScalarNode) or node.tag not in (
            "tag:yaml.org,2002:str", "tag:yaml.org,2002:int"):
        return False  # an explicit tag, or PyYAML's bool, float, null, timestamp
    if node.style:  # quoted, literal or folded: a string to both
        return bool(node.tag == "tag:yaml.org,2002:str")
    if node.tag == "tag:yaml.org,2002:int":
        return bool(_PLAIN_DECIMAL.fullmatch(node.value))
    return node.value != "" and not _CORE_NOT_A_STRING.fullmatch(node.value)
