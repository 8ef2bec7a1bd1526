"""The sandbox's real services: registry, sshd (the remote server), PostgreSQL, loopback only."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.sandbox.conftest import REPO, http, state_dir

PORTS = {"registry": 5000, "postgres": 5432, "sshd": 2222, "github-double": 8765}


def run(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 60,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, input=input)


# --- registry ---------------------------------------------------------------------------


def test_registry_answers_v2(sandbox: dict[str, str]) -> None:
    assert sandbox["SANDBOX_REGISTRY"] == "127.0.0.1:5000"
    resp = http("GET", f"https://{sandbox['SANDBOX_REGISTRY']}/v2/")
    assert resp.status == 200
    assert resp.headers.get("Docker-Distribution-Api-Version") == "registry/2.0"


def test_registry_push_list_and_delete(sandbox: dict[str, str], tmp_path: Path) -> None:
    registry = sandbox["SANDBOX_REGISTRY"]
    repo, tag = "slipway-sandbox-test/tiny", f"t{secrets.token_hex(4)}"
    image = f"{registry}/{repo}:{tag}"
    (tmp_path / "hello.txt").write_text("hello\n")
    with tarfile.open(tmp_path / "root.tar", "w") as tar:
        tar.add(tmp_path / "hello.txt", arcname="hello.txt")
    try:
        with open(tmp_path / "root.tar", "rb") as root:
            done = subprocess.run(["docker", "import", "-", image], stdin=root, capture_output=True,
                                  text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        done = run(["docker", "push", image], timeout=120)
        assert done.returncode == 0, done.stderr
        tags = http("GET", f"https://{registry}/v2/{repo}/tags/list").json()
        assert tag in tags["tags"]
        manifest = http("HEAD", f"https://{registry}/v2/{repo}/manifests/{tag}", headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        digest = manifest.headers["Docker-Content-Digest"]
        # storage.delete.enabled: true
        assert http("DELETE", f"https://{registry}/v2/{repo}/manifests/{digest}").status == 202
        assert http("GET", f"https://{registry}/v2/{repo}/manifests/{tag}").status == 404
    finally:
        run(["docker", "rmi", "--force", image], timeout=60)


# --- sshd: the remote server ----------------------------------------------------------


def ssh_args(sandbox: dict[str, str], known_hosts: str, *extra: str) -> list[str]:
    return ["ssh", "-F", "/dev/null", "-p", sandbox["SANDBOX_SSH_PORT"],
            "-i", sandbox["SANDBOX_SSH_KEY_FILE"], "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "ConnectTimeout=10", *extra]


def test_ssh_with_pinned_host_key_runs_docker(sandbox: dict[str, str], tmp_path: Path) -> None:
    # Pin exactly what sandbox.env publishes (what Pulumi's connection.hostKey gets).
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sandbox['SANDBOX_SSH_HOST']}]:{sandbox['SANDBOX_SSH_PORT']} "
                     f"{sandbox['SANDBOX_SSH_HOST_PUBLIC_KEY']}\n")
    target = f"{sandbox['SANDBOX_SSH_USER']}@{sandbox['SANDBOX_SSH_HOST']}"
    done = run([*ssh_args(sandbox, str(known)), target, "docker", "ps", "--format", "{{.ID}}"])
    assert done.returncode == 0, done.stderr
    done = run([*ssh_args(sandbox, sandbox["SANDBOX_SSH_KNOWN_HOSTS"]), target, "id", "-un"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == sandbox["SANDBOX_SSH_USER"]


def test_ssh_host_key_in_env_is_the_servers(sandbox: dict[str, str]) -> None:
    assert re.fullmatch(r"ssh-ed25519 [A-Za-z0-9+/=]+", sandbox["SANDBOX_SSH_HOST_PUBLIC_KEY"])
    done = run(["ssh-keyscan", "-p", sandbox["SANDBOX_SSH_PORT"], "-t", "ed25519",
                sandbox["SANDBOX_SSH_HOST"]])
    assert done.returncode == 0, done.stderr
    assert sandbox["SANDBOX_SSH_HOST_PUBLIC_KEY"] in done.stdout


def test_ssh_refuses_a_wrong_pinned_host_key(sandbox: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    assert run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)]).returncode == 0
    other_pub = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sandbox['SANDBOX_SSH_HOST']}]:{sandbox['SANDBOX_SSH_PORT']} {other_pub}\n")
    target = f"{sandbox['SANDBOX_SSH_USER']}@{sandbox['SANDBOX_SSH_HOST']}"
    done = run([*ssh_args(sandbox, str(known)), target, "true"])
    assert done.returncode == 255
    assert "Host key verification failed" in done.stderr


def test_ssh_refuses_an_unknown_host_key(sandbox: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    target = f"{sandbox['SANDBOX_SSH_USER']}@{sandbox['SANDBOX_SSH_HOST']}"
    done = run([*ssh_args(sandbox, str(empty)), target, "true"])
    assert done.returncode == 255
    assert "Host key verification failed" in done.stderr


def test_ssh_refuses_password_auth(sandbox: dict[str, str]) -> None:
    target = f"{sandbox['SANDBOX_SSH_USER']}@{sandbox['SANDBOX_SSH_HOST']}"
    done = run(["ssh", "-v", "-F", "/dev/null", "-p", sandbox["SANDBOX_SSH_PORT"],
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={sandbox['SANDBOX_SSH_KNOWN_HOSTS']}",
                "-o", "PubkeyAuthentication=no",
                "-o", "PreferredAuthentications=password,keyboard-interactive",
                target, "true"])
    assert done.returncode == 255
    assert "Permission denied (publickey)" in done.stderr
    offered = re.findall(r"Authentications that can continue: (\S+)", done.stderr)
    assert offered and all(methods == "publickey" for methods in offered), offered


def test_ssh_refuses_other_users(sandbox: dict[str, str]) -> None:
    done = run([*ssh_args(sandbox, sandbox["SANDBOX_SSH_KNOWN_HOSTS"]),
                f"root@{sandbox['SANDBOX_SSH_HOST']}", "true"])
    assert done.returncode == 255
    assert "Permission denied" in done.stderr


def test_ssh_files_are_private(sandbox: dict[str, str]) -> None:
    for path in (sandbox["SANDBOX_SSH_KEY_FILE"], sandbox["SANDBOX_PG_ADMIN_PASSWORD_FILE"],
                 str(state_dir() / "sandbox.env")):
        assert os.stat(path).st_mode & 0o077 == 0, path


# --- PostgreSQL -----------------------------------------------------------------------


def psql(sandbox: dict[str, str], sql: str, password: str | None = None,
         dbname: str = "postgres") -> subprocess.CompletedProcess[str]:
    if password is None:
        password = Path(sandbox["SANDBOX_PG_ADMIN_PASSWORD_FILE"]).read_text().strip()
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
    return run(["psql", "-X", "-w", "-v", "ON_ERROR_STOP=1", "-h", sandbox["SANDBOX_PG_HOST"],
                "-p", sandbox["SANDBOX_PG_PORT"], "-U", sandbox["SANDBOX_PG_ADMIN_USER"], "-d", dbname,
                "-Atc", sql], env=env)


def test_postgres_admin_logs_in_over_tcp(sandbox: dict[str, str]) -> None:
    assert (sandbox["SANDBOX_PG_HOST"], sandbox["SANDBOX_PG_PORT"]) == ("127.0.0.1", "5432")
    done = psql(sandbox, "select rolcreatedb, rolcreaterole, rolsuper from pg_roles "
                         "where rolname = current_user")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "t|t|f"


def test_postgres_refuses_a_wrong_password(sandbox: dict[str, str]) -> None:
    done = psql(sandbox, "select 1", password="not-the-password")
    assert done.returncode != 0
    assert "password authentication failed" in done.stderr


def test_postgres_admin_can_create_an_app_role_and_database(sandbox: dict[str, str]) -> None:
    """What the Pulumi postgresql provider does with the admin role."""
    suffix = secrets.token_hex(4)
    role, db = f"sandbox_test_role_{suffix}", f"sandbox_test_db_{suffix}"
    try:
        done = psql(sandbox, f"create role {role} login password 'x{suffix}'; grant {role} to current_user")
        assert done.returncode == 0, done.stderr
        done = psql(sandbox, f"create database {db} owner {role}")
        assert done.returncode == 0, done.stderr
        env = {**os.environ, "PGPASSWORD": f"x{suffix}"}
        done = run(["psql", "-X", "-w", "-h", sandbox["SANDBOX_PG_HOST"], "-p", sandbox["SANDBOX_PG_PORT"],
                    "-U", role, "-d", db, "-Atc", "select current_user"], env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == role
    finally:
        psql(sandbox, f"drop database if exists {db}")
        psql(sandbox, f"drop role if exists {role}")


# --- loopback only ----------------------------------------------------------------------


def listeners() -> list[tuple[str, int, str]]:
    """(local address, port, process column) for every listening TCP and UDP socket."""
    done = run(["ss", "-H", "-l", "-n", "-p", "-t", "-u"])
    assert done.returncode == 0, done.stderr
    out = []
    for line in done.stdout.splitlines():
        cols = line.split()
        addr, _, port = cols[4].rpartition(":")
        out.append((addr, int(port) if port.isdigit() else -1, " ".join(cols[6:])))
    return out


def is_loopback(addr: str) -> bool:
    addr = addr.strip("[]").split("%")[0]
    return addr.startswith("127.") or addr in ("::1", "::ffff:127.0.0.1")


def test_everything_we_opened_listens_on_loopback_only(sandbox: dict[str, str]) -> None:
    socks = listeners()
    for name, port in PORTS.items():
        mine = [addr for addr, p, _ in socks if p == port]
        assert mine, f"{name}: nothing listens on port {port}"
        assert all(is_loopback(a) for a in mine), f"{name}: port {port} bound to {mine}"
    # And every socket of every process up.sh started (a daemon may open more ports).
    pids = []
    for pidfile in (state_dir() / "run").glob("*.pid"):
        text = pidfile.read_text().strip()
        if text.isdigit() and Path(f"/proc/{text}").exists():
            pids.append(text)
    assert pids, "up.sh recorded no running pids"
    for addr, port, proc in socks:
        if any(f"pid={pid}," in proc for pid in pids):
            assert is_loopback(addr), f"{proc} listens on {addr}:{port}"


def test_dockerd_has_no_bridge(sandbox: dict[str, str]) -> None:
    done = run(["docker", "network", "inspect", "bridge"])
    assert done.returncode != 0, "dockerd runs with its default bridge network"


def test_second_up_reuses_everything(sandbox: dict[str, str]) -> None:
    """Idempotency: another up.sh restarts nothing (same pids) and says so."""
    before = {p.name: p.read_text() for p in (state_dir() / "run").glob("*.pid")}
    env = {**os.environ, "SLIPWAY_PYTHON": os.environ.get("SLIPWAY_PYTHON", sys.executable)}
    done = run(["bash", str(REPO / "sandbox" / "up.sh")], env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    after = {p.name: p.read_text() for p in (state_dir() / "run").glob("*.pid")}
    assert before == after
    assert not re.search(r"^sandbox: \S+ +(started|created)", done.stdout, re.M), done.stdout
    assert done.stdout.count("reused") >= 5, done.stdout


def test_registry_refuses_plain_http(sandbox: dict[str, str]) -> None:
    """TLS like a real registry: the docker provider reads digests over HTTPS only."""
    done = run(["curl", "-sS", "--max-time", "3", f"http://{sandbox['SANDBOX_REGISTRY']}/v2/"])
    assert "Client sent an HTTP request to an HTTPS server" in done.stdout + done.stderr
