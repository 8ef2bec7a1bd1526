"""Helpers for the example-app tests: docker, Postgres, HTTP, on loopback only.

Nothing here prints a password or a secret key: env files are written to a private temp
directory and command lines carrying secrets are never echoed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "examples" / "tenants_app"
BASE_IMAGE_BUILD = REPO / "sandbox" / "base-image" / "build.sh"
BASE_IMAGE = "slipway/python-django:bookworm"
PG_VERSION = os.environ.get("SLIPWAY_PG_VERSION", "15")
PG_HOST = "127.0.0.1"
PG_PORT = 5432

# The two loaders slipway puts in front of every container command
# (slipway/commands/docker.py): env from the mounted file, or env text on stdin.
ENV_FILE_IN_CONTAINER = "/run/slipway/app.env"
FILE_LOADER = f'set -a && . {ENV_FILE_IN_CONTAINER} && set +a && exec "$@"'
STDIN_LOADER = 'set -a && eval "$(cat)" && set +a && exec "$@" </dev/null'

SERVE = ["gunicorn", "--config", "/app/gunicorn.conf.py", "config.wsgi"]
STEPS = [
    ["python", "manage.py", "migrate_schemas", "--shared", "--fake-initial"],
    ["python", "manage.py", "create_super_tenant", "--no-input"],
    ["python", "manage.py", "migrate_schemas", "--tenant"],
]


class SandboxMissing(Exception):
    """Docker or Postgres is not there."""


def run(args: list[str], *, input: str | None = None, timeout: float = 300,
        check: bool = False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        # args may hold no secret (callers pass secrets through files or stdin only)
        raise AssertionError(
            f"{' '.join(args[:4])}... exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


# --- docker --------------------------------------------------------------------------


def docker_available() -> None:
    if shutil.which("docker") is None:
        raise SandboxMissing("docker CLI not installed")
    proc = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=30)
    if proc.returncode != 0:
        raise SandboxMissing("docker engine not reachable (start it with sandbox/up.sh)")


def ensure_base_image() -> None:
    proc = run(["bash", str(BASE_IMAGE_BUILD)], timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f"base image build failed:\n{proc.stderr[-4000:]}")


def build_app_image(tag: str, **build_args: str) -> None:
    args = ["docker", "build", "--network", "host", "--quiet", "--tag", tag]
    for key, value in build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    env = dict(os.environ, DOCKER_BUILDKIT="0")  # the classic builder, as in the sandbox
    proc = subprocess.run([*args, str(APP_DIR)], capture_output=True, text=True, timeout=600, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"docker build {tag} failed:\n{proc.stdout}\n{proc.stderr}")


def quote_env(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def render_env(values: dict[str, str]) -> str:
    return "".join(f"{k}={quote_env(v)}\n" for k, v in sorted(values.items()))


def write_env_file(directory: Path, values: dict[str, str]) -> Path:
    """An env file the image's own user (uid 10001) can read when mounted: 0644 inside a 0700
    folder of the test's. (slipway itself copies the env into the container; tests/e2e.)"""
    directory.chmod(0o700)
    path = directory / f"app-{secrets.token_hex(4)}.env"
    path.touch(mode=0o644)
    path.write_text(render_env(values))
    return path


@dataclass
class Docker:
    """Starts containers with a per-session label so that they can all be removed."""

    label: str

    def _base(self, name: str) -> list[str]:
        return ["docker", "run", "--name", name, "--network", "host", "--label", f"slipway.test={self.label}"]

    def step(self, image: str, env_file: Path, argv: list[str], *, timeout: float = 300
             ) -> subprocess.CompletedProcess[str]:
        """A migration step as slipway runs it: env from the mounted file."""
        name = f"slipway-extest-{secrets.token_hex(4)}"
        args = [*self._base(name), "--rm", "--volume", f"{env_file}:{ENV_FILE_IN_CONTAINER}:ro",
                "--entrypoint", "/bin/sh", image, "-c", FILE_LOADER, "slipway", *argv]
        return run(args, timeout=timeout)

    def step_stdin(self, image: str, env_text: str, argv: list[str], *, timeout: float = 300
                   ) -> subprocess.CompletedProcess[str]:
        """A migration step with the env text on stdin (slipway's migration runner)."""
        name = f"slipway-extest-{secrets.token_hex(4)}"
        args = [*self._base(name), "--rm", "--interactive", "--entrypoint", "/bin/sh", image,
                "-c", STDIN_LOADER, "slipway", *argv]
        return run(args, input=env_text, timeout=timeout)

    def serve(self, image: str, env_file: Path, argv: list[str] | None = SERVE) -> str:
        """Start the app detached; argv None runs the image's own CMD (env via --env-file)."""
        name = f"slipway-extest-{secrets.token_hex(4)}"
        if argv is None:
            args = [*self._base(name), "--detach", "--env-file", str(env_file), image]
        else:
            args = [*self._base(name), "--detach", "--volume", f"{env_file}:{ENV_FILE_IN_CONTAINER}:ro",
                    "--entrypoint", "/bin/sh", image, "-c", FILE_LOADER, "slipway", *argv]
        run(args, timeout=60, check=True)
        return name

    def logs(self, name: str) -> str:
        proc = run(["docker", "logs", name], timeout=30)
        return proc.stdout + proc.stderr

    def state(self, name: str) -> dict[str, Any]:
        proc = run(["docker", "inspect", "--format", "{{json .State}}", name], timeout=30, check=True)
        state: dict[str, Any] = json.loads(proc.stdout)
        return state

    def wait_exit(self, name: str, timeout: float = 30) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state(name)
            if not state["Running"]:
                return int(state["ExitCode"])
            time.sleep(0.25)
        return None

    def remove(self, name: str) -> None:
        run(["docker", "rm", "--force", "--volumes", name], timeout=60)

    def remove_all(self) -> None:
        proc = run(["docker", "ps", "--all", "--quiet", "--filter", f"label=slipway.test={self.label}"])
        ids = proc.stdout.split()
        if ids:
            run(["docker", "rm", "--force", "--volumes", *ids], timeout=120)


# --- Postgres ------------------------------------------------------------------------


def psql(sql: str, *, db: str = "postgres", timeout: float = 60) -> str:
    """Run SQL as the local superuser (SQL on stdin: nothing secret on a command line)."""
    proc = run(["su", "postgres", "-c", f"psql -X -q -v ON_ERROR_STOP=1 -At -d {db}"],
               input=sql, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"psql failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def postgres_available() -> None:
    if port_open(PG_HOST, PG_PORT):
        return
    if shutil.which("pg_ctlcluster") is None:
        raise SandboxMissing("PostgreSQL not installed (apt-get install -y postgresql)")
    run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", "start"], timeout=120)
    for _ in range(60):
        if port_open(PG_HOST, PG_PORT):
            return
        time.sleep(0.5)
    raise SandboxMissing(f"PostgreSQL {PG_VERSION} did not start on {PG_HOST}:{PG_PORT}")


@dataclass
class Database:
    name: str
    role: str
    password: str

    @property
    def url(self) -> str:
        return f"postgres://{self.role}:{self.password}@{PG_HOST}:{PG_PORT}/{self.name}"

    def query(self, sql: str) -> str:
        return psql(sql, db=self.name)


def create_database() -> Database:
    suffix = secrets.token_hex(5)
    db = Database(name=f"slipway_ex_{suffix}", role=f"slipway_ex_{suffix}",
                  password=secrets.token_urlsafe(18))
    psql(f"CREATE ROLE {db.role} LOGIN PASSWORD '{db.password}';\n")
    psql(f"CREATE DATABASE {db.name} OWNER {db.role};\n")
    return db


def drop_database(db: Database) -> None:
    psql(f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE);\nDROP ROLE IF EXISTS {db.role};\n")


def app_env(db: Database | None, **extra: str | None) -> dict[str, str]:
    """The app's environment for `db`; extra values override (None drops a key)."""
    env: dict[str, str | None] = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DJANGO_SETTINGS_MODULE": "config.settings.uat",
        "ALLOWED_HOSTS": "localhost,.localhost,127.0.0.1",
        "SUPERUSER_EMAIL": "admin@example.test",
        "SUPERUSER_PASSWORD": "a pass'word $with \"quotes\"",
    }
    if db is not None:
        env["DATABASE_URL"] = db.url
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


# --- HTTP ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


def get(port: int, path: str, host: str | None = None, timeout: float = 10) -> Response:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if host:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - loopback only
            return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()},
                            resp.read().decode())
    except urllib.error.HTTPError as err:
        return Response(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read().decode())


def wait_listening(port: int, docker: Docker, container: str, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open("127.0.0.1", port):
            return
        if not docker.state(container)["Running"]:
            raise AssertionError(f"container exited before listening:\n{docker.logs(container)[-3000:]}")
        time.sleep(0.25)
    raise AssertionError(f"nothing listening on 127.0.0.1:{port} after {timeout} s:\n"
                         f"{docker.logs(container)[-3000:]}")
