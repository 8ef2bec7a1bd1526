"""`make bench`: wall-clock figures of slipway against the sandbox, printed, never asserted.

- `pulumi preview`, a no-op `pulumi up`, and a new-SHA deploy (build, migrate, deploy);
- the same new-SHA deploy done by a plain shell script (scripts/baseline_deploy.sh);
- failed health probes at 10 Hz during a slipway deploy and during the baseline deploy.
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

from tests.e2e.workspace import Prober, Workspace, sandbox_env

REPO = Path(__file__).resolve().parents[1]


def timed(label: str, fn: object) -> float:
    start = time.monotonic()
    done = fn()  # type: ignore[operator]
    seconds = time.monotonic() - start
    ok = getattr(done, "returncode", 0) == 0
    print(f"{label:<44} {seconds:7.2f} s{'' if ok else '  (FAILED)'}", flush=True)
    if not ok:
        print(getattr(done, "stdout", "")[-2000:], getattr(done, "stderr", "")[-2000:])
    return seconds


def main() -> int:
    sandbox = sandbox_env()
    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp:
        ws = Workspace(Path(tmp), sandbox)
        ws.setup()
        try:
            print("first deploy (not measured) ...", flush=True)
            first = ws.up()
            if first.returncode != 0:
                print(first.stdout[-3000:], first.stderr[-3000:])
                return 1
            timed("pulumi preview (nothing changed)", lambda: ws.pulumi("preview"))
            timed("pulumi up (no-op)", ws.up)
            ws.commit("bench release")
            with Prober(ws) as probe:
                timed("pulumi up (new SHA: build, migrate, deploy)", ws.up)
            print(f"{'failed probes at 10 Hz during slipway deploy':<44} {probe.failures:4d}"
                  f" of {probe.probes}")

            # The baseline: same steps, plain shell, against the same services.
            env_file = Path(tmp) / "baseline.env"
            url = ws.pulumi_bare("stack", "output", "databaseUrl", "--show-secrets", "--stack",
                                 ws.env_name).stdout.strip()
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, (f"DATABASE_URL={shlex.quote(url)}\nSECRET_KEY={shlex.quote(ws.secret_key)}\n"
                          f"DJANGO_SETTINGS_MODULE=config.settings.local\nPORT={ws.port}\n").encode())
            os.close(fd)
            remote_env = f"/home/{sandbox['SANDBOX_SSH_USER']}/baseline.env"
            subprocess.run(
                ["ssh", "-i", sandbox["SANDBOX_SSH_KEY_FILE"], "-p", sandbox["SANDBOX_SSH_PORT"],
                 "-o", f"UserKnownHostsFile={sandbox['SANDBOX_SSH_KNOWN_HOSTS']}",
                 "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                 f"{sandbox['SANDBOX_SSH_USER']}@{sandbox['SANDBOX_SSH_HOST']}",
                 f"umask 077 && cat > {remote_env}"], input=env_file.read_bytes(), check=True)
            ws.commit("baseline release")
            baseline = {
                **os.environ, "APP_DIR": str(ws.app),
                "IMAGE": f"{ws.registry}/projectmeats-backend:baseline-{ws.shas[-1]}",
                "ENV_FILE": str(env_file), "SSH_HOST": sandbox["SANDBOX_SSH_HOST"],
                "SSH_PORT": sandbox["SANDBOX_SSH_PORT"], "SSH_USER": sandbox["SANDBOX_SSH_USER"],
                "SSH_KEY": sandbox["SANDBOX_SSH_KEY_FILE"],
                "KNOWN_HOSTS": sandbox["SANDBOX_SSH_KNOWN_HOSTS"],
                "NAME": f"{ws.env_name}-backend", "PORT": str(ws.port),
            }
            with Prober(ws) as probe:
                timed("plain shell script (same steps, baseline)", lambda: subprocess.run(
                    ["bash", str(REPO / "scripts" / "baseline_deploy.sh")], env=baseline,
                    capture_output=True, text=True, check=False))
                time.sleep(5)  # the baseline has no health gate: count the boot gap too
            print(f"{'failed probes at 10 Hz during baseline':<44} {probe.failures:4d}"
                  f" of {probe.probes}")
        finally:
            subprocess.run(["docker", "rm", "-f", f"{ws.env_name}-backend"], capture_output=True,
                           check=False)
            ws.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
