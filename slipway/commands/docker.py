"""docker CLI invocations, as argument lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Where the env file is mounted in every container slipway starts.
ENV_FILE_IN_CONTAINER = "/run/slipway/app.env"

# Both loaders read the env, then exec the real command: secrets reach the process
# environment without ever being a `-e` flag (visible in `docker inspect`) or an argument.
_FILE_LOADER = f'set -a && . {ENV_FILE_IN_CONTAINER} && set +a && exec "$@"'
_STDIN_LOADER = 'set -a && eval "$(cat)" && set +a && exec "$@" </dev/null'


def with_env_loader(command: Sequence[str], *, from_stdin: bool = False) -> list[str]:
    """The container command that loads the env (mounted file or stdin), then runs `command`."""
    if not command:
        raise ValueError("a command is required to run behind the env loader")
    return ["/bin/sh", "-c", _STDIN_LOADER if from_stdin else _FILE_LOADER, "slipway", *command]


def label_args(labels: Mapping[str, str]) -> list[str]:
    return [arg for key in sorted(labels) for arg in ("--label", f"{key}={labels[key]}")]


def env_args(env: Mapping[str, str]) -> list[str]:
    return [arg for key in sorted(env) for arg in ("--env", f"{key}={env[key]}")]


def create(
    *,
    name: str,
    image: str,
    command: Sequence[str],
    network: str = "host",
    env: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    volumes: Sequence[str] = (),
    restart: str | None = None,
) -> list[str]:
    """`docker create` of a long-running container whose secrets are copied into it before it
    starts (at ENV_FILE_IN_CONTAINER, owned by the image's user): never a mount, flag or argument."""
    args = ["docker", "create", "--name", name, "--network", network]
    if restart:
        args += ["--restart", restart]
    args += label_args(labels or {})
    args += env_args(env or {})
    for volume in volumes:
        args += ["--volume", volume]
    args += ["--entrypoint", "/bin/sh", image]
    return args + with_env_loader(command)[1:]


def run(
    *,
    name: str,
    image: str,
    command: Sequence[str],
    env_file: str | None,
    network: str = "host",
    env: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    volumes: Sequence[str] = (),
    detach: bool = False,
    remove: bool = False,
    restart: str | None = None,
) -> list[str]:
    """`docker run` of `image` whose secrets come from `env_file` (a host path, mounted ro),
    or, when `env_file` is None, from the env text written to the client's stdin."""
    args = ["docker", "run", "--name", name, "--network", network]
    if env_file is None:
        args.append("--interactive")
    if detach:
        args.append("--detach")
    if remove:
        args.append("--rm")
    if restart:
        args += ["--restart", restart]
    args += label_args(labels or {})
    args += env_args(env or {})
    if env_file is not None:
        args += ["--volume", f"{env_file}:{ENV_FILE_IN_CONTAINER}:ro"]
    for volume in volumes:
        args += ["--volume", volume]
    args += ["--entrypoint", "/bin/sh", image]
    # --entrypoint replaced /bin/sh, so the loader starts at "-c".
    return args + with_env_loader(command, from_stdin=env_file is None)[1:]


def pull(image: str) -> list[str]:
    return ["docker", "pull", "--quiet", image]


def remove_force(name: str) -> list[str]:
    return ["docker", "rm", "--force", name]


def kill(name: str) -> list[str]:
    return ["docker", "kill", name]


def stop(name: str, seconds: int = 20) -> list[str]:
    return ["docker", "stop", "--time", str(seconds), name]


def start(name: str) -> list[str]:
    return ["docker", "start", name]


def rename(old: str, new: str) -> list[str]:
    return ["docker", "rename", old, new]


def exists(name: str) -> list[str]:
    return ["docker", "container", "inspect", "--format", "{{.Id}}", name]


def label_of(name: str, label: str) -> list[str]:
    return ["docker", "container", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}',
            name]


def logs_tail(name: str, lines: int = 60) -> list[str]:
    return ["docker", "logs", "--tail", str(lines), name]
