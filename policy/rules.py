"""slipway's policy rules as pure functions over plain resource properties.

Each check takes what `policy.values.plain` makes of a resource's inputs (dicts, lists, str,
`SecretStr`, `Unknown`) and returns violation messages; `policy.pack` reports them through
pulumi-policy. Nothing here imports Pulumi, so the rules are tested on crafted inputs.

A value that is unknown during preview is not judged: the same policies run again on the
real value before `pulumi up` creates or updates the resource, and stop the update there.
(Not even its secretness is judged: the engine does not say whether a still-unknown output
is secret.)
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policy.values import InheritedSecretStr, SecretStr, Unknown, is_secret
from slipway.naming import DEPLOY_COMMAND_SUFFIX, MIGRATION_COMMAND_SUFFIX, MIGRATION_PLAN_ENV
from slipway.secret import looks_secret

LOCAL_COMMAND = "command:local:Command"
REMOTE_COMMAND = "command:remote:Command"
COMMAND_TYPES = frozenset({LOCAL_COMMAND, REMOTE_COMMAND})
COMMAND_SCRIPTS = ("create", "update", "delete")
GITHUB_ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
DOCKER_CONTAINER = "docker:index/container:Container"
DOCKER_REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
DOCKER_SERVICE = "docker:index/service:Service"
MIGRATION_SUFFIX = MIGRATION_COMMAND_SUFFIX
DEPLOY_SUFFIX = DEPLOY_COMMAND_SUFFIX

# --------------------------------------------------------------------------- images

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# An immutable tag names one build: it ends with a commit SHA (slipway: `<env>-<sha>`) or is
# a full semantic version. Anything else (`latest`, `prod-latest`, `main`, `1.2`) can move.
_SHA_TAG = re.compile(r"(?:^|[-_.])[0-9a-f]{12,64}$")
_SEMVER_TAG = re.compile(r"v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?")


def is_mutable_tag(tag: str) -> bool:
    return not (_SHA_TAG.search(tag) or _SEMVER_TAG.fullmatch(tag))


def image_problems(ref: str) -> list[str]:
    """Why `ref` is not an immutable, digest-pinned image reference (empty: it is one)."""
    ref = ref.strip()
    if _DIGEST.fullmatch(ref):  # a content-addressed image ID
        return []
    if ref.startswith("$") or "$(" in ref or "${" in ref:
        return ["is a shell expansion the policy cannot verify"]
    name, at, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    problems = []
    if tag is not None and is_mutable_tag(tag):
        problems.append(f"uses the mutable tag {tag!r}")
    if not at or not _DIGEST.fullmatch(digest):
        problems.append("is not pinned by digest (@sha256:...)")
    return problems


def _image_message(where: str, ref: str, problems: Sequence[str]) -> str:
    return (f"{where}: image {ref!r} {' and '.join(problems)}; deploy and migrate only "
            "`<repo>:<env>-<sha>@sha256:<digest>`")


# Flags of `docker run`/`docker create` that take no value (all others take one).
_DOCKER_RUN_BOOL_FLAGS = frozenset({
    "--detach", "--interactive", "--tty", "--rm", "--init", "--privileged", "--read-only",
    "--publish-all", "--no-healthcheck", "--oom-kill-disable", "--quiet", "--sig-proxy",
    "--disable-content-trust", "--help",
})
_DOCKER_SHORT_BOOL = frozenset("ditPq")
_DOCKER_PULL_VALUE_FLAGS = frozenset({"--platform"})


def _first_positional(args: Sequence[str], takes_value: Any) -> str | None:
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return args[i + 1] if i + 1 < len(args) else None
        if arg.startswith("-") and len(arg) > 1:
            if "=" not in arg and takes_value(arg):
                i += 1
            i += 1
            continue
        return arg
    return None


def _run_flag_takes_value(flag: str) -> bool:
    if flag.startswith("--"):
        return flag not in _DOCKER_RUN_BOOL_FLAGS
    return not set(flag[1:]) <= _DOCKER_SHORT_BOOL


def _docker_refs_in_tokens(tokens: Sequence[str]) -> Iterator[str]:
    for i, word in enumerate(tokens):
        if word != "docker" and not word.endswith("/docker"):
            continue
        rest = list(tokens[i + 1:])
        if rest[:1] in (["image"], ["container"]):
            rest = rest[1:]
        if not rest:
            continue
        sub, args = rest[0], rest[1:]
        ref = None
        if sub == "pull":
            ref = _first_positional(args, lambda f: f in _DOCKER_PULL_VALUE_FLAGS)
        elif sub in ("run", "create"):
            ref = _first_positional(args, _run_flag_takes_value)
        if ref is not None:
            yield ref


def _split(line: str) -> list[str] | None:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return None


def shell_texts(script: str, depth: int = 0) -> Iterator[str]:
    """`script` and, recursively, every script it runs with `sh -c`/`bash -c`."""
    yield script
    if depth >= 3:
        return
    tokens = _split(script.replace("\\\n", " ")) or []
    for i, word in enumerate(tokens):
        if (word.rsplit("/", 1)[-1] in ("sh", "bash", "dash") and i + 2 < len(tokens)
                and tokens[i + 1] == "-c"):
            yield from shell_texts(tokens[i + 2], depth + 1)


_PULL_FALLBACK = re.compile(r"docker\s+(?:image\s+)?pull\s+(?:-\S+\s+)*['\"]?([^\s'\";|&)]+)")


def docker_image_refs(script: str) -> list[str]:
    """Every image a shell script pulls, runs or creates with the docker CLI."""
    refs: list[str] = []
    for text in shell_texts(script):
        for line in text.replace("\\\n", " ").splitlines():
            if "docker" not in line:
                continue
            tokens = _split(line)
            if tokens is None:  # unbalanced quotes on this line: fall back to a plain search
                refs.extend(m.group(1) for m in _PULL_FALLBACK.finditer(line))
                continue
            refs.extend(_docker_refs_in_tokens(tokens))
    return list(dict.fromkeys(refs))


_AGENT_SCRIPT = re.compile(r"/agent-[0-9a-f]{12}\.sh$")


def agent_image_refs(script: str, option: str) -> list[str]:
    """Images a call to slipway's server agent is told to run by `option` (`--image`, `--proxy-image`)."""
    tokens = _split(script) or []
    refs: list[str] = []
    for index, token in enumerate(tokens):
        if not _AGENT_SCRIPT.search(token):
            continue
        options = tokens[index + 1:]
        options = options[: options.index("--")] if "--" in options else options
        refs += [options[i + 1] for i, opt in enumerate(options[:-1]) if opt == option]
    return refs


def _migration_plan_image(plan: object) -> tuple[str | None, str | None]:
    """(image, problem) from the migration plan JSON."""
    if not isinstance(plan, str):
        return None, None if isinstance(plan, Unknown) else "is not a JSON string"
    try:
        data = json.loads(plan)
    except ValueError:
        return None, "is not valid JSON"
    image = data.get("image") if isinstance(data, dict) else None
    if not isinstance(image, str) or not image:
        return None, "has no `image`"
    return image, None


def check_images(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    """Rule 1: containers and migrations use immutable, digest-pinned images only."""
    found: list[tuple[str, object]] = []  # (where, ref)
    messages: list[str] = []
    if resource_type in COMMAND_TYPES:
        env = props.get("environment")
        if isinstance(env, Mapping) and MIGRATION_PLAN_ENV in env:
            where = f"{name}.environment.{MIGRATION_PLAN_ENV}"
            image, problem = _migration_plan_image(env[MIGRATION_PLAN_ENV])
            if problem:
                messages.append(f"{where} {problem}: the migration's image cannot be verified")
            if image is not None:
                found.append((f"{where} (migration)", image))
        for key in COMMAND_SCRIPTS:
            script = props.get(key)
            if isinstance(script, str):
                found += [(f"{name}.{key} (docker)", ref) for ref in docker_image_refs(script)]
                found += [(f"{name}.{key} (agent)", ref) for ref in agent_image_refs(script, "--image")]
                # The proxy is a third-party image: its tag may move, its digest may not.
                messages += [
                    f"{name}.{key} (agent): proxy image {ref!r} is not pinned by digest (@sha256:...)"
                    for ref in agent_image_refs(script, "--proxy-image") if "@sha256:" not in ref]
    elif resource_type == DOCKER_CONTAINER:
        found.append((f"{name}.image", props.get("image")))
    elif resource_type == DOCKER_REMOTE_IMAGE:
        found.append((f"{name}.name", props.get("name")))
    elif resource_type == DOCKER_SERVICE:
        spec = (props.get("taskSpec") or {}).get("containerSpec") or {}
        if isinstance(spec, Mapping):
            found.append((f"{name}.taskSpec.containerSpec.image", spec.get("image")))
    for where, ref in found:
        if isinstance(ref, str):
            problems = image_problems(ref)
            if problems:
                messages.append(_image_message(where, ref, problems))
    return messages


# ------------------------------------------------------------------ deploy after migration


@dataclass
class StackResource:
    """What the stack rule needs of one resource (from pulumi-policy's PolicyResource)."""

    urn: str
    resource_type: str
    name: str
    props: Mapping[str, Any]
    dependencies: set[str] = field(default_factory=set)
    property_dependencies: dict[str, set[str]] = field(default_factory=dict)

    def depends_on(self) -> set[str]:
        urns = set(self.dependencies)
        for deps in self.property_dependencies.values():
            urns |= deps
        return urns


def is_migration(resource: StackResource) -> bool:
    if resource.resource_type not in COMMAND_TYPES:
        return False
    env = resource.props.get("environment")
    return resource.name.endswith(MIGRATION_SUFFIX) or (
        isinstance(env, Mapping) and MIGRATION_PLAN_ENV in env)


def is_deploy(resource: StackResource) -> bool:
    return resource.resource_type == REMOTE_COMMAND and resource.name.endswith(DEPLOY_SUFFIX)


def check_deploys_depend_on_migration(resources: Sequence[StackResource]) -> list[tuple[str, str]]:
    """Rule 2: every `*-deploy` remote command depends on the migration (urn, message)."""
    migrations = {r.urn: r.name for r in resources if is_migration(r)}
    out = []
    for r in resources:
        if not is_deploy(r):
            continue
        if not migrations:
            out.append((r.urn, f"{r.name} deploys, but the stack has no migration command "
                                f"(`*{MIGRATION_SUFFIX}`) for it to wait for"))
        elif not migrations.keys() & r.depends_on():
            names = ", ".join(sorted(migrations.values()))
            out.append((r.urn, f"{r.name} does not depend on the migration ({names}): it could "
                                "start before the database is migrated; pass the migration's "
                                "output to the deploy (or depends_on it)"))
    return out


# ------------------------------------------------------------------- prod reviewers


def is_prod_name(name: object) -> bool:
    return isinstance(name, str) and name.lower().startswith("prod")


def check_prod_reviewers(resource_type: str, name: str, props: Mapping[str, Any], *,
                         stack: str | None = None, environment: str | None = None) -> list[str]:
    """Rule 3: a prod GitHub environment has at least one reviewer (user or team)."""
    if resource_type != GITHUB_ENVIRONMENT:
        return []
    env_name = props.get("environment")
    why = (f"the GitHub environment {env_name!r}" if is_prod_name(env_name)
           else f"stack {stack!r}" if is_prod_name(stack)
           else f"environment {environment!r}" if is_prod_name(environment) else None)
    if why is None:
        return []
    reviewers = props.get("reviewers")
    if isinstance(reviewers, Unknown):
        return []
    for entry in reviewers or []:
        if isinstance(entry, Unknown):
            return []
        if isinstance(entry, Mapping):
            for key in ("users", "teams"):
                ids = entry.get(key)
                if isinstance(ids, Unknown) or (isinstance(ids, list) and ids):
                    return []
    return [f"{name} is a production environment ({why}) but has no reviewers: set "
            "slipway:github.reviewers.users or .teams so a person approves every prod deploy"]


# ----------------------------------------------------------------------- secrets

_PRIVATE_KEY_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_URL_PASSWORD = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@'\"]+:[^\s/@'\"]+@")
_TOKEN = re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}")
_SECRET_FIELDS = ("stdin",)
_CONNECTION_SECRET_FIELDS = ("privateKey", "password", "privateKeyPassword")


def secret_looking_name(name: str) -> bool:
    return looks_secret(name)


def secret_patterns(text: str) -> list[str]:
    """What in `text` is plainly a secret (by its shape)."""
    found = []
    if _PRIVATE_KEY_BLOCK.search(text):
        found.append("a private key block")
    if _URL_PASSWORD.search(text):
        found.append("a URL with a password (scheme://user:password@)")
    if _TOKEN.search(text):
        found.append("a GitHub token")
    return found


def _plain_text_value(value: object) -> bool:
    """A value that is there, known, and not secret."""
    if value is None or isinstance(value, Unknown) or is_secret(value):
        return False
    return value not in ("", {}, [])


def _plain_text(where: str) -> str:
    return (f"{where} carries a secret but is plain text: wrap it in pulumi.Output.secret(...) "
            "(or take it from a secret config value) so state and logs mask it")


def check_command_secret_inputs(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    """Rule 4a: the inputs that carry secrets into a command are secret."""
    if resource_type not in COMMAND_TYPES:
        return []
    out = []
    for key in _SECRET_FIELDS:
        if _plain_text_value(props.get(key)):
            out.append(_plain_text(f"{name}.{key}"))
    connections = [("connection", props.get("connection"))]
    conn = connections[0][1]
    if isinstance(conn, Mapping) and isinstance(conn.get("proxy"), Mapping):
        connections.append(("connection.proxy", conn["proxy"]))
    for prefix, connection in connections:
        if not isinstance(connection, Mapping):
            continue
        for key in _CONNECTION_SECRET_FIELDS:
            if _plain_text_value(connection.get(key)):
                out.append(_plain_text(f"{name}.{prefix}.{key}"))
    env = props.get("environment")
    if isinstance(env, Mapping):
        for var in sorted(env):
            value = env[var]
            if not _plain_text_value(value):
                continue
            if secret_looking_name(var):
                out.append(_plain_text(f"{name}.environment.{var}"))
            elif isinstance(value, str) and secret_patterns(value):
                shapes = ", ".join(secret_patterns(value))
                out.append(_plain_text(f"{name}.environment.{var} (it holds {shapes})"))
    return out


def secret_values(value: Any, key: str | None = None) -> Iterator[str]:
    """Every known secret string inside `value` (what a command could leak), including the
    values of secret-looking `NAME=value` lines of a secret `stdin` env file (slipway's env
    files also carry the service's plain settings, which its deploy line rightly passes with
    `--env`). Strings that are secret only because an object around them is (a provider-secret
    `connection`'s host and user) count only under a secret-looking key."""
    if isinstance(value, InheritedSecretStr):
        if key is not None and secret_looking_name(key):
            yield str(value)
    elif isinstance(value, SecretStr):
        yield str(value)
        if key == "stdin":
            for line in value.splitlines():
                var, sep, rest = line.partition("=")
                if sep and var.strip().isidentifier() and secret_looking_name(var.strip()):
                    rest = rest.strip()
                    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "'\"":
                        rest = rest[1:-1].replace("'\\''", "'")
                    yield rest
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from secret_values(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from secret_values(v, key)


def worth_matching(secret: str) -> bool:
    """Long and specific enough that finding it in a command is not a coincidence."""
    s = secret.strip()
    return len(s) >= 8 and not s.isdigit() and s.lower() not in ("true", "false")


def _leaks(where: str, text: str, secrets: Iterable[str]) -> list[str]:
    if isinstance(text, SecretStr):
        return [f"{where} is itself a secret: a secret value was interpolated into the command "
                "line, where `ps`, shell traces and logs show it; pass it on stdin or in a secret "
                "environment value instead"]
    out = [f"{where} contains {shape} in plain text; pass secrets on stdin or in a secret "
           "environment value, never on the command line" for shape in secret_patterns(text)]
    if any(s in text for s in secrets if worth_matching(s)):
        out.append(f"{where} contains the value of a secret in plain text; pass it on stdin or "
                   "in a secret environment value, never on the command line")
    return out


def check_command_lines(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    """Rule 4b: no secret in a command's create/update/delete strings."""
    if resource_type not in COMMAND_TYPES:
        return []
    own = sorted(set(secret_values(props)))
    out = []
    for key in COMMAND_SCRIPTS:
        text = props.get(key)
        if isinstance(text, str):
            out += _leaks(f"{name}.{key}", text, own)
    return out


def check_known_secrets_in_commands(resources: Sequence[StackResource]) -> list[tuple[str, str]]:
    """Rule 4c: no secret held anywhere in the stack (GitHub secrets, provider credentials,
    passwords, env files) appears in plain text in a command line or plain environment value."""
    known = {s for r in resources for s in secret_values(r.props) if worth_matching(s)}
    out: list[tuple[str, str]] = []
    if not known:
        return out
    for r in resources:
        if r.resource_type not in COMMAND_TYPES:
            continue
        texts = [(f"{r.name}.{k}", r.props.get(k)) for k in COMMAND_SCRIPTS]
        env = r.props.get("environment")
        if isinstance(env, Mapping):
            texts += [(f"{r.name}.environment.{k}", v) for k, v in sorted(env.items())]
        for where, text in texts:
            if (isinstance(text, str) and not isinstance(text, SecretStr)
                    and any(s in text for s in known)):
                out.append((r.urn, f"{where} contains the value of a secret of this stack in "
                                   "plain text; pass it on stdin or as a secret instead"))
    return out
