"""`make bench`: wall-clock figures of slipway against the sandbox, printed, never asserted.

- `pulumi preview`, a no-op `pulumi up`, and a new-SHA deploy (build, migrate, deploy);
- the same new-SHA deploy done by a plain shell script (scripts/baseline_deploy.sh);
- a many-step migration (eleven Django commands): one container per step, as before, against
  one container for all of them, as the runner does now;
- failed requests under load (20 clients and a 10 Hz prober) during a slipway release and during
  the baseline's, and how long slipway's switch took (from the engine's event timestamps);
- a release rolled over three test hosts in batches of one, and each host's switch.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slipway.commands.migration import MigrationPlan
from slipway.naming import MIGRATION_PLAN_ENV
from tests.e2e.traffic import Traffic
from tests.e2e.workspace import Workspace, engine_errors, free_port, host_server, sandbox_env

REPO = Path(__file__).resolve().parents[1]


def timed(label: str, fn: object) -> float:
    start = time.monotonic()
    done = fn()  # type: ignore[operator]
    seconds = time.monotonic() - start
    ok = getattr(done, "returncode", 0) == 0
    print(f"{label:<44} {seconds:7.2f} s{'' if ok else '  (FAILED)'}", flush=True)
    if not ok:
        errors = engine_errors(done) if isinstance(done, subprocess.CompletedProcess) else ""
        print(errors or getattr(done, "stdout", "")[-2000:], getattr(done, "stderr", "")[-2000:])
    return seconds


def resource_seconds(events: list[dict[str, object]], name: str) -> float | None:
    """How long the last `up` spent on the named resource, from the engine's own timestamps."""
    start = end = None
    for event in events:
        for kind in ("resourcePreEvent", "resOutputsEvent"):
            body = event.get(kind)
            if not isinstance(body, dict):
                continue
            metadata = body.get("metadata") or {}
            if str(metadata.get("urn", "")).endswith(f"::{name}") and isinstance(event.get("timestamp"), int):
                if kind == "resourcePreEvent":
                    start = float(event["timestamp"])  # type: ignore[arg-type]
                else:
                    end = float(event["timestamp"])  # type: ignore[arg-type]
    return end - start if start is not None and end is not None else None


MANY_STEPS: tuple[tuple[str, ...], ...] = (
    ("python3", "manage.py", "migrate_schemas", "--shared", "--fake-initial"),
    ("python3", "manage.py", "create_super_tenant", "--no-input"),
    ("python3", "manage.py", "migrate_schemas", "--tenant"),
    *((("python3", "manage.py", "check", "--database", "default"),) * 4),
    *((("python3", "manage.py", "showmigrations", "--list"),) * 4),
)


def many_step_migration(ws: Workspace) -> None:
    """The migration runner on eleven steps: each step its own container (the runner given one
    step at a time, as it ran before) against all steps in one container."""
    image = ws.outputs()["images"]["backend"]
    url = ws.pulumi_bare("stack", "output", "databaseUrl", "--show-secrets", "--stack",
                         ws.env_name).stdout.strip()
    env_text = (f"DATABASE_URL={shlex.quote(url)}\nSECRET_KEY={shlex.quote(ws.secret_key)}\n"
                "DJANGO_SETTINGS_MODULE=config.settings.local\nPUBLIC_DOMAIN=localhost\n")

    def runner(steps: tuple[tuple[str, ...], ...]) -> subprocess.CompletedProcess[str]:
        plan = MigrationPlan(environment=ws.env_name, sha=ws.shas[-1], image=image, steps=steps,
                             timeout_seconds=900, network="host", secret_names=("DATABASE_URL",))
        return subprocess.run([sys.executable, "-m", "slipway.runners.migrate"], cwd=REPO,
                              input=env_text, capture_output=True, text=True, check=False,
                              env={**os.environ, MIGRATION_PLAN_ENV: plan.to_json()})

    def one_per_step() -> subprocess.CompletedProcess[str]:
        for step in MANY_STEPS:
            done = runner((step,))
            if done.returncode != 0:
                return done
        return done

    old = timed(f"migration, {len(MANY_STEPS)} steps, a container per step", one_per_step)
    new = timed(f"migration, {len(MANY_STEPS)} steps, one container", lambda: runner(MANY_STEPS))
    print(f"{'  one container / a container per step':<44} {new / old:7.2f}", flush=True)


def rollout_on_three_hosts(sandbox: dict[str, str], tmp: Path) -> None:
    """A new-SHA release rolled over three test hosts in batches of one (each switch health-gated
    through its own proxy), with each host's switch from the engine's event timestamps."""
    hosts = ("h1", "h2", "h3")
    servers = [host_server(sandbox, h) for h in hosts]
    if None in servers:
        print("rollout on three hosts: skipped (the sandbox has no test hosts h1-h3)")
        return
    ws = Workspace(tmp / "rollout", sandbox)
    ws.setup()
    try:
        ws.update_config(**{"server": None, "servers": servers, "services.frontend": None,
                            "rollout": {"batchSize": 1}})
        first = ws.up()
        if first.returncode != 0:
            print("rollout on three hosts: first up FAILED:", engine_errors(first), first.stderr[-2000:])
            return
        ws.commit("bench rollout")
        timed("pulumi up (new SHA, 3 hosts, batches of 1)", ws.up)
        for host in hosts:
            seconds = resource_seconds(ws.last_events, f"app-{host}-backend-deploy")
            print(f"{f'  of which the switch on {host}':<44} "
                  + (f"{seconds:7.2f} s" if seconds is not None else "      ?"))
    finally:
        ws.destroy()


def main() -> int:
    sandbox = sandbox_env()
    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp:
        ws = Workspace(Path(tmp), sandbox)
        ws.setup()
        baseline_name = f"{ws.env_name}-baseline"
        try:
            print("first deploy (not measured) ...", flush=True)
            first = ws.up()
            if first.returncode != 0:
                print("first deploy FAILED:", engine_errors(first), first.stderr[-3000:])
                return 1
            many_step_migration(ws)
            timed("pulumi preview (nothing changed)", lambda: ws.pulumi("preview"))
            timed("pulumi up (no-op)", ws.up)
            ws.commit("bench release")
            with Traffic(ws.url) as traffic:
                timed("pulumi up (new SHA: build, migrate, deploy)", ws.up)
            switch = resource_seconds(ws.last_events, "app-backend-deploy")
            print(f"{'  of which the backend switch (engine events)':<44} "
                  + (f"{switch:7.2f} s" if switch is not None else "      ?"))
            print(f"{'failed requests, 20 clients + 10 Hz, slipway':<44} {traffic.failures:4d}"
                  f" of {traffic.requests} (failing for {traffic.outage_seconds:.1f} s)")

            # The baseline: same steps, plain shell (stop, then run), on a port of its own.
            baseline_port = free_port()
            env_file = Path(tmp) / "baseline.env"
            url = ws.pulumi_bare("stack", "output", "databaseUrl", "--show-secrets", "--stack",
                                 ws.env_name).stdout.strip()
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, (f"DATABASE_URL={shlex.quote(url)}\nSECRET_KEY={shlex.quote(ws.secret_key)}\n"
                          "DJANGO_SETTINGS_MODULE=config.settings.local\n").encode())
            os.close(fd)
            remote_env = f"/home/{sandbox['SANDBOX_SSH_USER']}/baseline.env"
            # A plain script mounts the env file; for the image's own user (uid 10001) to read it,
            # it must be world-readable: one of the things slipway does not do.
            subprocess.run(
                ["ssh", "-i", sandbox["SANDBOX_SSH_KEY_FILE"], "-p", sandbox["SANDBOX_SSH_PORT"],
                 "-o", f"UserKnownHostsFile={sandbox['SANDBOX_SSH_KNOWN_HOSTS']}",
                 "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                 f"{sandbox['SANDBOX_SSH_USER']}@{sandbox['SANDBOX_SSH_HOST']}",
                 f"umask 022 && cat > {remote_env}"], input=env_file.read_bytes(), check=True)
            baseline = {
                **os.environ, "APP_DIR": str(ws.app),
                "ENV_FILE": str(env_file), "SSH_HOST": sandbox["SANDBOX_SSH_HOST"],
                "SSH_PORT": sandbox["SANDBOX_SSH_PORT"], "SSH_USER": sandbox["SANDBOX_SSH_USER"],
                "SSH_KEY": sandbox["SANDBOX_SSH_KEY_FILE"],
                "KNOWN_HOSTS": sandbox["SANDBOX_SSH_KNOWN_HOSTS"],
                "NAME": baseline_name, "PORT": str(baseline_port),
            }

            def baseline_release(label: str) -> float:
                ws.commit(label)
                env = {**baseline, "IMAGE": f"{ws.registry}/projectmeats-backend:baseline-{ws.shas[-1]}"}
                return timed(f"plain shell script: {label}", lambda: subprocess.run(
                    ["bash", str(REPO / "scripts" / "baseline_deploy.sh")], env=env,
                    capture_output=True, text=True, check=False))

            baseline_release("baseline first release (serving before)")
            time.sleep(5)
            base_url = f"http://127.0.0.1:{baseline_port}/api/v1/ready/"
            with Traffic(base_url) as base_traffic:
                baseline_release("baseline release (same steps)")
                time.sleep(5)  # the baseline has no health gate: count the boot gap too
            print(f"{'failed requests, 20 clients + 10 Hz, baseline':<44} {base_traffic.failures:4d}"
                  f" of {base_traffic.requests} (failing for {base_traffic.outage_seconds:.1f} s)")
        finally:
            subprocess.run(["docker", "rm", "-f", baseline_name], capture_output=True, check=False)
            ws.destroy()
        rollout_on_three_hosts(sandbox, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
