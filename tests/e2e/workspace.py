"""An end-to-end workspace: a git checkout of the example app, a stack config file for it, and
the real `pulumi` CLI from the toolchain, run against the sandbox's real services."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests import sandbox_access

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_APP = REPO / "examples" / "tenants_app"


def toolchain_env() -> dict[str, str]:
    """The environment scripts/env.sh sets up (toolchain first on PATH, no plugin downloads)."""
    out = subprocess.run(["bash", "-c", f"source {REPO}/scripts/env.sh && env -0"],
                         capture_output=True, check=True).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def sandbox_env() -> dict[str, str]:
    """The running sandbox's SANDBOX_* settings (end-to-end tests need it running)."""
    env = sandbox_access.sandbox_env()
    assert env is not None, "the sandbox is not running (make sandbox)"
    return env


def host_server(sandbox: dict[str, str], host: str, name: str | None = None) -> dict[str, Any] | None:
    """A `slipway:servers` entry for the sandbox's test host (h1..h4), or None if it has none."""
    key = f"SANDBOX_{host.upper()}_"
    if key + "SSH_PORT" not in sandbox:
        return None
    return {"name": name or host, "host": "127.0.0.1", "port": int(sandbox[key + "SSH_PORT"]),
            "user": sandbox["SANDBOX_SSH_USER"], "hostKey": sandbox[key + "HOST_PUBLIC_KEY"],
            "deployDir": sandbox[key + "DEPLOY_DIR"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 3.0
             ) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body); status 0 when no whole response came: refused, reset, timed out,
    or cut short mid-body (IncompleteRead, an HTTPException and no OSError)."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback only)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        try:
            return err.code, dict(err.headers), err.read()
        except (OSError, http.client.HTTPException):
            return 0, {}, b""
    except (OSError, http.client.HTTPException):
        return 0, {}, b""


T = TypeVar("T")


def settled(read: Callable[[], T], done: Callable[[T], bool], seconds: float = 60) -> T:
    """`read()` again until `done` holds of it, or `seconds` have passed; its last value. (A
    replaced release drains, then stops, in the background after a deploy.)"""
    deadline = time.monotonic() + seconds
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value


def json_documents(text: str) -> list[dict[str, Any]]:
    """`pulumi up --json` prints the plan, then one JSON document per engine event."""
    decoder, index = json.JSONDecoder(), 0
    docs: list[dict[str, Any]] = []
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return docs
        try:
            doc, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            return docs
        if isinstance(doc, dict):
            docs.append(doc)


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)


@dataclass
class Workspace:
    """One isolated environment: its own stack, app repo, registry path, database, port."""

    root: Path
    sandbox: dict[str, str]
    env_name: str = field(default_factory=lambda: "e2e" + secrets.token_hex(3))
    port: int = field(default_factory=free_port)
    frontend_port: int = field(default_factory=free_port)
    secret_key: str = field(default_factory=lambda: "sk-" + secrets.token_urlsafe(24))
    shas: list[str] = field(default_factory=list)
    # The slipway project the CLI runs (another release's copy in the upgrade test).
    project: Path = REPO

    def __post_init__(self) -> None:
        self.app = self.root / "app"
        self.state = self.root / "state"
        self.config_file = self.root / f"Pulumi.{self.env_name}.yaml"
        self.passphrase = "e2e-" + secrets.token_hex(8)
        self.state.mkdir(parents=True, exist_ok=True)
        self.env = {**toolchain_env(),
                    # As scripts/local-env.sh: no sidecar a killed run could leave empty.
                    "PULUMI_BACKEND_URL": f"file://{self.state}?metadata=skip",
                    "PULUMI_CONFIG_PASSPHRASE": self.passphrase}
        self.env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        self.registry = f"{self.sandbox['SANDBOX_REGISTRY']}/{self.env_name}"
        self.github_repo = f"app-{self.env_name}"
        self.github_env = f"{self.env_name}-backend"
        self.database = f"slipway_{self.env_name}"
        self.db_role = f"slipway_{self.env_name}_app"

    # -- the app checkout --------------------------------------------------------------
    def init_app(self) -> str:
        shutil.copytree(EXAMPLE_APP, self.app, ignore=shutil.ignore_patterns("__pycache__"))
        run(["git", "init", "-q", "-b", "main", str(self.app)])
        return self.commit("first release")

    def commit(self, message: str) -> str:
        marker = self.app / "RELEASE"
        marker.write_text(f"{message} {time.time()}\n")
        run(["git", "-C", str(self.app), "add", "-A"])
        done = run(["git", "-C", str(self.app), "-c", "user.name=e2e", "-c",
                    "user.email=e2e@example.invalid", "commit", "-q", "-m", message])
        assert done.returncode == 0, done.stderr
        sha = run(["git", "-C", str(self.app), "rev-parse", "HEAD"]).stdout.strip()
        self.shas.append(sha)
        return sha

    # -- the stack config ----------------------------------------------------------------
    def base_config(self) -> dict[str, Any]:
        local: dict[str, Any] = yaml.safe_load((REPO / "Pulumi.local.yaml").read_text())["config"]
        local["slipway:environment"] = self.env_name
        local["slipway:appUrl"] = f"http://127.0.0.1:{self.port}/api/v1/ready/"
        local["slipway:registry"] = {"server": self.registry}
        server = local["slipway:server"]
        server.update(host=self.sandbox["SANDBOX_SSH_HOST"], port=int(self.sandbox["SANDBOX_SSH_PORT"]),
                      user=self.sandbox["SANDBOX_SSH_USER"],
                      hostKey=self.sandbox["SANDBOX_SSH_HOST_PUBLIC_KEY"])
        local["slipway:database"].update(name=self.database, role=self.db_role)
        backend = local["slipway:services"]["backend"]
        backend["context"] = str(self.app)
        backend["port"] = self.port
        backend["internalPorts"] = [free_port(), free_port()]
        frontend = local["slipway:services"]["frontend"]
        frontend["context"] = str(self.app / "frontend")
        frontend["port"] = self.frontend_port
        frontend["internalPorts"] = [free_port(), free_port()]
        # The suites watch a replaced release drain, then stop; the standby has tests of its own,
        # and so has the rollback key (tests/delivery/test_rollback_key_e2e.py).
        for spec in local["slipway:services"].values():
            spec.pop("standbySeconds", None)
        local.pop("slipway:rollbackKey", None)
        local["slipway:proxy"]["image"] = self.sandbox["SANDBOX_PROXY_IMAGE"]
        local["slipway:github"].update(owner=self.sandbox.get("SANDBOX_GITHUB_OWNER", "slipway-bot"),
                                       repository=self.github_repo, environment=self.github_env,
                                       baseUrl=self.sandbox["SANDBOX_GITHUB_URL"])
        return local

    def write_config(self, config: dict[str, Any]) -> None:
        """Write the plain values; secrets are added with `pulumi config set --secret`."""
        existing: dict[str, Any] = {}
        if self.config_file.exists():
            existing = yaml.safe_load(self.config_file.read_text()) or {}
        plain = {"config": config}
        if "encryptionsalt" in existing:
            plain["encryptionsalt"] = existing["encryptionsalt"]
        secret_cfg = {k: v for k, v in (existing.get("config") or {}).items()
                      if (isinstance(v, dict) and "secure" in v) or k == "slipway:secrets"}
        plain["config"] = {**config, **secret_cfg}
        self.config_file.write_text(yaml.safe_dump(plain, sort_keys=False))

    def set_secret(self, key: str, value: str, path: bool = False) -> None:
        """Value on stdin: never on a command line."""
        args = ["config", "set", "--secret", *(["--path"] if path else []), key]
        done = self.pulumi(*args, input=value)
        assert done.returncode == 0, done.stderr

    def setup(self) -> None:
        self.init_app()
        # `stack init` writes Pulumi.<stack>.yaml next to Pulumi.yaml: do it in a scratch copy
        # of the project file so the checkout stays clean (the backend keeps the salt).
        scratch = self.root / "init"
        scratch.mkdir()
        shutil.copy(REPO / "Pulumi.yaml", scratch)
        done = run(["pulumi", "stack", "init", self.env_name, "--non-interactive",
                    "--cwd", str(scratch)], env=self.env)
        assert done.returncode == 0, done.stderr
        self.write_config(self.base_config())
        with open(self.sandbox["SANDBOX_SSH_KEY_FILE"]) as key:
            self.set_secret("slipway:sshPrivateKey", key.read())
        with open(self.sandbox["SANDBOX_PG_ADMIN_PASSWORD_FILE"]) as pw:
            self.set_secret("slipway:databaseAdminPassword", pw.read().strip())
        self.set_secret("slipway:githubToken", self.sandbox["SANDBOX_GITHUB_TOKEN"])
        self.set_secret("slipway:secrets.SECRET_KEY", self.secret_key, path=True)
        self.github_post("/_double/repos", {"owner": self.sandbox.get("SANDBOX_GITHUB_OWNER",
                                                                      "slipway-bot"),
                                           "name": self.github_repo})

    def update_config(self, **changes: Any) -> None:
        """Apply `key.path=value` changes to the plain config (None deletes)."""
        current = yaml.safe_load(self.config_file.read_text())["config"]
        for dotted, value in changes.items():
            top, *path = dotted.split(".")
            key = f"slipway:{top}"
            if not path:
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
                continue
            target = current[key]
            for part in path[:-1]:
                target = target.setdefault(part, {})
            if value is None:
                target.pop(path[-1], None)
            else:
                target[path[-1]] = value
        self.write_config(current)

    # -- pulumi --------------------------------------------------------------------------
    def pulumi_bare(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run(["pulumi", *args, "--non-interactive", "--cwd", str(self.project)], env=self.env,
                   input=input)

    def pulumi_argv(self, *args: str) -> list[str]:
        """A pulumi command line for this workspace's stack and config file."""
        return ["pulumi", *args, "--non-interactive", "--cwd", str(self.project), "--stack",
                self.env_name, "--config-file", str(self.config_file)]

    def pulumi(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run(self.pulumi_argv(*args), env=self.env, input=input)

    def up(self) -> subprocess.CompletedProcess[str]:
        """`pulumi up --json`: the engine's events of the update are kept for `operations()`."""
        done = self.pulumi("up", "--yes", "--json", "--policy-pack", "policy")
        self.last_events = json_documents(done.stdout)
        return done

    def operations(self, resource_name: str) -> list[str]:
        """What the last `up` did to the named resource (create, replace, update, ...)."""
        ops = []
        for event in self.last_events:
            metadata = (event.get("resOutputsEvent") or {}).get("metadata") or {}
            if metadata.get("urn", "").endswith(f"::{resource_name}"):
                ops.append(str(metadata.get("op", "")))
        return [op for op in ops if op != "same"]

    def up_in_background(self, log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            return subprocess.Popen(
                ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive", "--cwd", str(self.project),
                 "--stack", self.env_name, "--config-file", str(self.config_file)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def outputs(self) -> dict[str, Any]:
        done = self.pulumi_bare("stack", "output", "--json", "--stack", self.env_name)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def export(self) -> str:
        done = self.pulumi_bare("stack", "export", "--stack", self.env_name)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def destroy(self) -> None:
        self.pulumi("destroy", "--yes", "--skip-preview")
        self.pulumi_bare("stack", "rm", "--yes", "--force", self.env_name)
        # Its builds go from the build host's image store too: the docker provider lists every
        # local image after each build, so leftovers of earlier tests slow every later build.
        # By name, not ID: an identical build of another workspace shares the ID and keeps its tag.
        built = run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                     "--filter", f"reference={self.registry}/*"])
        if built.stdout.split():
            run(["docker", "image", "rm", *sorted(set(built.stdout.split()))])

    # -- the real services ---------------------------------------------------------------
    def registry_tags(self, service: str = "projectmeats-backend") -> list[str]:
        status, _, body = http_get(f"https://{self.registry.split('/')[0]}/v2/"
                                   f"{self.env_name}/{service}/tags/list")
        return sorted(json.loads(body).get("tags") or []) if status == 200 else []

    def registry_digest(self, tag: str, service: str = "projectmeats-backend") -> str:
        accept = ", ".join([
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.index.v1+json"])
        _, headers, _ = http_get(f"https://{self.registry.split('/')[0]}/v2/{self.env_name}/"
                                 f"{service}/manifests/{tag}", headers={"Accept": accept})
        return headers.get("Docker-Content-Digest", "")

    def container(self, name: str | None = None, service: str = "backend") -> dict[str, Any] | None:
        """The named container, else the service's live release (the one taking its traffic)."""
        if name is None:
            # The release a deploy replaced drains, then stops, in the background: wait for that.
            running = settled(lambda: run(
                ["docker", "ps", "--filter", f"label=slipway.env={self.env_name}", "--filter",
                 f"label=slipway.service={service}", "--filter", "label=slipway.role=app",
                 "--format", "{{.Names}}"]).stdout.split(), lambda names: len(names) <= 1)
            if len(running) != 1:
                return None
            name = running[0]
        done = run(["docker", "inspect", name])
        return json.loads(done.stdout)[0] if done.returncode == 0 else None

    def gone(self, name: str, seconds: float = 60) -> bool:
        """True once the named container no longer exists (a replaced release is retired in the
        background, after its drain); False if it is still there after `seconds`."""
        return settled(lambda: self.container(name), lambda found: found is None, seconds) is None

    @property
    def url(self) -> str:
        """The backend through its proxy, on the service's port."""
        return f"http://127.0.0.1:{self.port}/api/v1/ready/"

    @property
    def frontend_url(self) -> str:
        return f"http://127.0.0.1:{self.frontend_port}/healthz"

    def ready(self) -> tuple[int, dict[str, str], bytes]:
        return http_get(self.url)

    def frontend_ready(self) -> tuple[int, dict[str, str], bytes]:
        return http_get(self.frontend_url)

    def psql(self, sql: str) -> str:
        """Query the app database as the local superuser (the admin role does not own the
        app's tables)."""
        done = run(["runuser", "-u", "postgres", "--", "psql", "-d", self.database, "-Atc", sql])
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def github_state(self) -> dict[str, Any]:
        status, _, body = http_get(
            self.sandbox["SANDBOX_GITHUB_URL"] + "_double/state",
            headers={"Authorization": f"token {self.sandbox['SANDBOX_GITHUB_TOKEN']}"})
        assert status == 200, body
        return dict(json.loads(body))

    def github_secret(self, name: str) -> str | None:
        """An environment secret of the stack's GitHub environment, as the double keeps it
        (readable), which is what a workflow run in that environment is given."""
        owner = self.sandbox.get("SANDBOX_GITHUB_OWNER", "slipway-bot")
        repo = self.github_state()["repos"][f"{owner}/{self.github_repo}"]
        env = repo["environments"].get(self.github_env, {})
        item = env.get("secrets", {}).get(name) or {}
        value = item.get("value") or item.get("plaintext")
        return str(value) if value else None

    def github_post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(  # noqa: S310 (loopback only)
            self.sandbox["SANDBOX_GITHUB_URL"].rstrip("/") + path, data=json.dumps(body).encode(),
            method="POST", headers={"Authorization": f"token {self.sandbox['SANDBOX_GITHUB_TOKEN']}",
                                    "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=5).read()  # noqa: S310
        except urllib.error.HTTPError as err:
            if err.code not in (409, 422):
                raise


def changes(ws: Workspace) -> dict[str, str]:
    """Resource name -> what the last `up` did to it, for every resource it did not leave alone."""
    out = {}
    for event in ws.last_events:
        metadata = (event.get("resOutputsEvent") or {}).get("metadata") or {}
        op, urn = str(metadata.get("op", "")), str(metadata.get("urn", ""))
        if op and op != "same" and "pulumi:pulumi:Stack" not in urn:
            out[urn.rsplit("::", 1)[-1]] = op
    return out


def release_checkout(commit: str, into: Path) -> Path:
    """An earlier slipway release's files (to deploy a stack with it, then upgrade it with this
    one); the test skips when this clone lacks the commit (a shallow clone)."""
    has = run(["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"])
    if has.returncode != 0:
        pytest.skip(f"this clone lacks the earlier release {commit} (a shallow clone)")
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / ".venv").symlink_to(REPO / ".venv")  # its policy pack's launcher looks for ../.venv
    return into


def engine_errors(done: subprocess.CompletedProcess[str]) -> str:
    """The engine's errors of a `pulumi up --json`, each after the name of the resource it is about."""
    events = [d.get("diagnosticEvent") or {} for d in json_documents(done.stdout)]
    return "\n".join(f"{str(e.get('urn', '')).rsplit('::', 1)[-1]}: {e.get('message', '')}"
                     for e in events if e.get("severity") == "error")
