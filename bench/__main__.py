"""`make bench`: slipway against the sandbox, each figure beside its baseline, printed, never asserted.

1. A no-op `up` (as the CI deploy runs it) beside an empty program's `up` with the same four
   providers configured; it must run no command on any server and push no byte.
2. A new-SHA release of the local stack (backend and frontend), phase by phase from the engine's
   events, beside the same release done by a plain shell script (bench/baseline_release.sh: the
   same builds, pushes, migration and deploys, one after another), phase by phase from its marks.
3. A rollback to a retained release (until both services serve it, seen through their proxies)
   beside the plain script's deploy step alone.
4. Failed requests under load (20 clients and a 10 Hz prober) during a slipway release and during
   the script's; a many-step migration; a release rolled over three test hosts.

Each of the three ratios is that of two medians of SAMPLES runs, every time printed (one run on a
shared 2-core machine is noise as much as figure), each run started SETTLE_SECONDS after the one
before ended: the no-op runs alternate with the empty program's, the release runs with the
script's; the rollbacks are set against the deploy steps of the script's release runs. A run that
failed is marked, and its ratio is no figure. The phase tables are those of the median runs.
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import yaml

from bench.streamed import Streamed, run_streamed
from bench.timeline import Phase, ReleaseShape, events_of, quiet_phases, release_phases
from slipway.commands.migration import MigrationPlan
from slipway.naming import MIGRATION_PLAN_ENV
from slipway.rollback_key import ENV_VAR as ROLLBACK_KEY_ENV
from tests.e2e.traffic import Traffic
from tests.e2e.workspace import (
    REPO,
    Workspace,
    changes,
    engine_errors,
    free_port,
    host_server,
    http_get,
    run,
    sandbox_env,
)

# How the CI deploy runs `pulumi up` (.github/workflows/release.yml; a unit test holds them together).
DEPLOY_FLAGS = ("--yes", "--skip-preview")
TARGET = {"release": 1.5, "no-op": 1.5, "rollback": 1.0}
SAMPLES = 5  # runs of each side of a ratio, alternating
# Before each timed run, of either side: what the run before left going ends first (the script's
# app boots after its deploy step has returned; a release's predecessor starts its drain).
SETTLE_SECONDS = 3.0


def settle() -> None:
    time.sleep(SETTLE_SECONDS)


def line(label: str, value: str) -> None:
    print(f"{label:<52} {value}", flush=True)


def ratio(what: str, ours: Sequence[float], theirs: Sequence[float], against: str,
          failed: bool = False) -> None:
    """The ratio of the two medians (the upper middle run, as median_run), beside every run."""
    mine, base = statistics.median_high(ours), statistics.median_high(theirs)
    r = mine / base
    verdict = ("a run FAILED: no figure" if failed
               else "within" if r <= TARGET[what] else "OVER")
    line(f"  runs: slipway / {against}", " ".join(f"{t:.2f}" for t in ours) + " s / "
         + " ".join(f"{t:.2f}" for t in theirs) + " s")
    line(f"RATIO {what}", f"{r:5.2f}  ({mine:.2f} s / {base:.2f} s {against}, medians of"
                          f" {len(ours)} / {len(theirs)}; target <= {TARGET[what]:.1f}: {verdict})")


def median_run(runs: Sequence[tuple[float, list[Phase]]]) -> tuple[float, list[Phase]]:
    """The run whose time is the median (the upper one of an even number)."""
    return sorted(runs, key=lambda run: run[0])[len(runs) // 2]


def deploy(ws: Workspace) -> Streamed:
    """One `pulumi up` as the CI deploy runs it, with its engine events (`--json`)."""
    done = run_streamed(ws.pulumi_argv("up", *DEPLOY_FLAGS, "--json"), ws.env)
    ws.last_events = [e.body for e in events_of(done.lines)]
    if done.returncode != 0:
        print("FAILED:", engine_errors(subprocess.CompletedProcess([], 1, done.stdout, done.stderr)),
              done.stderr[-2000:])
    return done


def print_phases(title: str, ours: Sequence[Phase], ours_total: float, theirs: Sequence[Phase],
                 theirs_total: float, heads: tuple[str, str] = ("slipway phase", "plain script step")
                 ) -> None:
    left = max([len(heads[0]), *(len(p.name) for p in ours)])
    right = max([len(heads[1]), *(len(p.name) for p in theirs)])

    def cells(phases: Sequence[Phase], i: int, width: int) -> str:
        if i >= len(phases):
            return f"{'':<{width + 14}}"
        return f"{phases[i].name:<{width}} {phases[i].start:6.2f} {phases[i].seconds:6.2f}"

    print(f"\n{title}", flush=True)
    print(f"  {heads[0]:<{left}} {'at':>6} {'took':>6}   {heads[1]:<{right}} {'at':>6} {'took':>6}")
    for i in range(max(len(ours), len(theirs))):
        print(f"  {cells(ours, i, left)}   {cells(theirs, i, right)}".rstrip())
    print(f"  {'total':<{left}} {'':>6} {ours_total:6.2f}   "
          + (f"{'total':<{right}} {'':>6} {theirs_total:6.2f}" if theirs else ""), flush=True)


def script_phases(stderr: str, started: float) -> list[Phase]:
    """The baseline's steps from its `bench-phase <step> <epoch>` marks."""
    marks = []
    for text in stderr.splitlines():
        if text.startswith("bench-phase "):
            name, _, epoch = text[len("bench-phase "):].rpartition(" ")
            marks.append((name, float(epoch) - started))
    return [Phase(name, at, marks[i + 1][1]) for i, (name, at) in enumerate(marks[:-1])]


# --------------------------------------------------------------------------- the no-op
@contextmanager
def empty_program(sandbox: dict[str, str], tmp: Path) -> Iterator[Callable[[], Streamed | None]]:
    """The floor: a program with the same four providers configured and nothing else, up once;
    yields its measured `up` (same flags, no policy pack: it has nothing to check)."""
    project = tmp / "empty"
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        (project / name).write_text((REPO / "bench" / "empty_program" / name).read_text())
    (project / "Pulumi.yaml").write_text((project / "Pulumi.yaml").read_text().replace(
        "../../.venv", str(REPO / ".venv")))
    env = Workspace(tmp / "empty-state", sandbox, project=project).env
    stack = ["--stack", "bench-empty", "--non-interactive", "--cwd", str(project)]
    run(["pulumi", "stack", "init", *stack], env=env)
    values = {"registry": sandbox["SANDBOX_REGISTRY"].split("/", 1)[0], "pgHost": "127.0.0.1",
              "pgPort": "5432", "pgUser": "slipway_admin",
              "githubOwner": sandbox.get("SANDBOX_GITHUB_OWNER", "slipway-bot"),
              "githubUrl": sandbox["SANDBOX_GITHUB_URL"]}
    for key, value in values.items():
        run(["pulumi", "config", "set", f"empty:{key}", value, *stack], env=env)
    with open(sandbox["SANDBOX_PG_ADMIN_PASSWORD_FILE"]) as pw:
        run(["pulumi", "config", "set", "--secret", "empty:pgPassword", *stack], env=env,
            input=pw.read().strip())
    run(["pulumi", "config", "set", "--secret", "empty:githubToken", *stack], env=env,
        input=sandbox["SANDBOX_GITHUB_TOKEN"])
    up = ["pulumi", "up", "--yes", "--skip-preview", "--json", *stack]
    first = run(up, env=env)
    if first.returncode != 0:
        print("empty program: first up FAILED:", first.stdout[-1500:], first.stderr[-1500:])

    def measured() -> Streamed | None:
        if first.returncode != 0:
            return None
        done = run_streamed(up, env)
        return done if done.returncode == 0 else None
    try:
        yield measured
    finally:
        run(["pulumi", "destroy", "--yes", "--skip-preview", *stack], env=env)


def no_op(ws: Workspace, sandbox: dict[str, str], tmp: Path) -> None:
    print("\nno-op `up` (nothing changed since the last release)", flush=True)
    preview = run_streamed(ws.pulumi_argv("preview"), ws.env)
    line("  slipway: pulumi preview (what the PR comment runs)", f"{preview.seconds:6.2f} s")
    ours: list[tuple[float, list[Phase]]] = []
    floors: list[tuple[float, list[Phase]]] = []
    changed: set[str] = set()
    failed = False
    with empty_program(sandbox, tmp) as floor_up:
        for _ in range(SAMPLES):
            settle()
            floor = floor_up()
            if floor is None:
                line("  empty program, same four providers: up", "FAILED")
                return
            floors.append((floor.seconds, quiet_phases(events_of(floor.lines), floor.seconds)))
            settle()
            done = deploy(ws)
            failed = failed or done.returncode != 0
            changed |= {f"{op} {name}" for name, op in changes(ws).items()}
            ours.append((done.seconds, quiet_phases(events_of(done.lines), done.seconds)))
    line("  changes (commands on servers, pushes)", ", ".join(sorted(changed)) or "none")
    (mine, mine_phases), (base, base_phases) = median_run(ours), median_run(floors)
    print_phases("  where the time goes (the median runs)", mine_phases, mine, base_phases, base,
                 ("slipway no-op up (as the CI deploy runs it)", "empty program, same providers"))
    ratio("no-op", [t for t, _ in ours], [t for t, _ in floors], "empty program", failed)


# --------------------------------------------------------------------------- the release
def buildkit_cli() -> str | None:
    """A docker CLI here that builds with BuildKit, as slipway's builds do (the engine API): one
    with buildx, or the engine's own 20.10 client, whose BuildKit is built in. None: the script
    builds with the classic builder, and the bench says so."""
    for cli in ("docker", "/usr/bin/docker"):
        try:
            if subprocess.run([cli, "buildx", "version"], capture_output=True, check=False).returncode == 0:
                return cli
            version = subprocess.run([cli, "version", "--format", "{{.Client.Version}}"],
                                     capture_output=True, text=True, check=False).stdout.strip()
        except OSError:  # no such CLI here
            continue
        if version[:2].isdigit() and int(version.split(".", 1)[0]) < 23:
            return cli
    return None


class Baseline:
    """The plain script, releasing the workspace's app on a port of its own."""

    def __init__(self, ws: Workspace, sandbox: dict[str, str], tmp: Path) -> None:
        self.ws, self.name, self.port = ws, f"{ws.env_name}-baseline", free_port()
        env_file = tmp / "baseline.env"
        url = ws.pulumi_bare("stack", "output", "databaseUrl", "--show-secrets", "--stack",
                             ws.env_name).stdout.strip()
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (f"DATABASE_URL={shlex.quote(url)}\nSECRET_KEY={shlex.quote(ws.secret_key)}\n"
                      "DJANGO_SETTINGS_MODULE=config.settings.local\n").encode())
        os.close(fd)
        user = sandbox["SANDBOX_SSH_USER"]
        # A plain script mounts the env file; for the image's own user (uid 10001) to read it,
        # it must be world-readable: one of the things slipway does not do.
        subprocess.run(
            ["ssh", "-i", sandbox["SANDBOX_SSH_KEY_FILE"], "-p", sandbox["SANDBOX_SSH_PORT"],
             "-o", f"UserKnownHostsFile={sandbox['SANDBOX_SSH_KNOWN_HOSTS']}",
             "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
             f"{user}@{sandbox['SANDBOX_SSH_HOST']}", f"umask 022 && cat > /home/{user}/baseline.env"],
            input=env_file.read_bytes(), check=True)
        self.env = {**os.environ, "APP_DIR": str(ws.app), "ENV_FILE": str(env_file),
                    "FRONTEND_DIR": str(ws.app / "frontend"), "FRONTEND_PORT": str(free_port()),
                    "SSH_HOST": sandbox["SANDBOX_SSH_HOST"], "SSH_PORT": sandbox["SANDBOX_SSH_PORT"],
                    "SSH_USER": user, "SSH_KEY": sandbox["SANDBOX_SSH_KEY_FILE"],
                    "KNOWN_HOSTS": sandbox["SANDBOX_SSH_KNOWN_HOSTS"], "NAME": self.name,
                    "PORT": str(self.port)}
        # The same builder as slipway's builds: BuildKit, where a CLI here can drive it.
        self.builder = buildkit_cli()
        if self.builder is not None:
            self.env.update(BUILD_CLI=self.builder, DOCKER_BUILDKIT="1")
        self.url = f"http://127.0.0.1:{self.port}/api/v1/ready/"

    failed = False  # whether any of its releases failed

    def release(self, label: str) -> tuple[float, list[Phase]]:
        sha = self.ws.commit(label)
        repo, frontend = (f"{self.ws.registry}/projectmeats-{s}" for s in ("backend", "frontend"))
        env = {**self.env, "IMAGE": f"{repo}:baseline-{sha}", "LATEST": f"{repo}:baseline-latest",
               "FRONTEND_IMAGE": f"{frontend}:baseline-{sha}",
               "FRONTEND_LATEST": f"{frontend}:baseline-latest"}
        started = time.time()
        done = subprocess.run(["bash", str(REPO / "bench" / "baseline_release.sh")], env=env,
                              capture_output=True, text=True, check=False)
        seconds = time.time() - started
        if done.returncode != 0:
            print("baseline FAILED:", done.stderr[-2000:])
            self.failed = True
        return seconds, script_phases(done.stderr, started)

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name, f"{self.name}-frontend"], capture_output=True,
                       check=False)


def release_shape(ws: Workspace) -> ReleaseShape:
    github = sorted({str(((e.get("resourcePreEvent") or {}).get("metadata") or {}).get("urn", ""))
                     .rsplit("::", 1)[-1] for e in ws.last_events} - {""})
    services = ("backend", "frontend")
    return ReleaseShape(
        builds=[(svc, f"app-{svc}-image") for svc in services], migration="app-migration-run",
        on_servers=[step for svc in services for step in (
            (f"stage {svc} on the server (pull, create)", f"app-{svc}-stage"),
            (f"switch {svc} on the server (start, gate, switch)", f"app-{svc}-deploy"))],
        github=[name for name in github if name.startswith("app-github-")])


def new_sha(ws: Workspace, baseline: Baseline) -> tuple[list[float], list[str]]:
    """SAMPLES new-SHA releases of each, alternating; the baseline's deploy steps, and the SHAs
    slipway released, oldest first."""
    baseline.release("baseline: first release (serving before)")
    ours: list[tuple[float, list[Phase]]] = []
    theirs: list[tuple[float, list[Phase]]] = []
    released: list[str] = []
    failed = False
    for number in range(1, SAMPLES + 1):
        released.append(ws.commit(f"bench release {number}"))
        settle()
        done = deploy(ws)
        failed = failed or done.returncode != 0
        ours.append((done.seconds, release_phases(events_of(done.lines), done.seconds, release_shape(ws))))
        settle()
        theirs.append(baseline.release(f"baseline release {number}"))
    (mine, phases), (base, steps) = median_run(ours), median_run(theirs)
    print_phases("new-SHA release (no load), where the time goes (the median runs)", phases, mine,
                 steps, base)
    line("  builds: slipway", "BuildKit, through the engine API (pulumi-docker)")
    line("  builds: plain script", f"BuildKit (DOCKER_BUILDKIT=1 {baseline.builder} build)"
         if baseline.builder else "the classic builder (no docker CLI here drives BuildKit)")
    runner = yaml.safe_load(ws.config_file.read_text())["config"]["slipway:migration"].get(
        "runner", "processes")
    line("  migration steps: slipway", f"runner: {runner} ("
         + ("one Django setup, a fork of it per step)" if runner == "django"
            else "a process per step, one container)"))
    line("  migration steps: plain script", "a container per step")
    ratio("release", [t for t, _ in ours], [t for t, _ in theirs], "plain script",
          failed or baseline.failed)
    deploys = [next((p.seconds for p in run_steps if p.name.startswith("deploy")), total)
               for total, run_steps in theirs]
    return deploys, released


def under_load(ws: Workspace, baseline: Baseline) -> None:
    print("\nfailed requests during a release, 20 clients + a 10 Hz prober", flush=True)
    ws.commit("bench release under load")
    with Traffic(ws.url) as traffic:
        done = deploy(ws)
    line("  slipway release (switch)", f"{done.seconds:6.2f} s, {traffic.failures} failed of "
         f"{traffic.requests} (failing for {traffic.outage_seconds:.1f} s)")
    with Traffic(baseline.url) as base_traffic:
        seconds, _ = baseline.release("baseline release under load")
        time.sleep(5)  # the baseline has no health gate: count the boot gap too
    line("  plain script (stop, then run)", f"{seconds:6.2f} s, {base_traffic.failures} failed of "
         f"{base_traffic.requests} (failing for {base_traffic.outage_seconds:.1f} s)")


def serving_since(urls: Sequence[str], sha: str, start: float, stop: threading.Event) -> list[float]:
    """Polls every URL (20 ms apart) until all of them answer with `sha` (X-App-Sha); the seconds
    after `start` when they first all did, in a one-item list (empty if they never did)."""
    seen: list[float] = []
    while not stop.is_set():
        answers = []
        for url in urls:
            try:
                answers.append(http_get(url, timeout=1.0)[1].get("X-App-Sha"))
            except OSError:
                answers.append(None)
        if all(answer == sha for answer in answers):
            seen.append(time.monotonic() - start)
            return seen
        stop.wait(0.02)
    return seen


def roll_back(ws: Workspace, to: str, env: dict[str, str]) -> tuple[float | None, float, bool]:
    """One `slipway rollback --to` as an operator runs it: the seconds until both services answer
    with that SHA (seen from outside, through the proxies; None if they never did), until the
    command is done (the stack has recorded it with `pulumi up`), and whether it succeeded."""
    stop = threading.Event()
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as pool:
        watch = pool.submit(serving_since, [ws.url, ws.frontend_url], to, start, stop)
        done = run([sys.executable, "-m", "slipway.delivery.rollback", "--stack", ws.env_name, "--cwd",
                    str(ws.project), "--config-file", str(ws.config_file), "--to", to, "--yes"],
                   env=env)
        total = time.monotonic() - start
        stop.set()
        seen = watch.result()
    if done.returncode != 0 or not seen:
        print(done.stdout[-2000:], done.stderr[-2000:])
    return (seen[0] if seen else None), total, done.returncode == 0


def rollback(ws: Workspace, released: Sequence[str], script_deploys: Sequence[float]) -> None:
    """Rollbacks to the retained release, each to the one the running release replaced: the last
    release's predecessor, then back to the last (retained by the first rollback), and so on."""
    print("\nrollback to the retained release (the one the running release replaced)", flush=True)
    key = ws.github_secret(ROLLBACK_KEY_ENV)  # where the rollback workflow gets it
    line("  switched back with", "the rollback key (SLIPWAY_ROLLBACK_KEY, as the workflow)" if key
         else "the deploy keys (slipway:rollbackKey is off)")
    env = {**ws.env, ROLLBACK_KEY_ENV: key} if key else ws.env
    seen: list[float] = []
    totals: list[float] = []
    for number in range(SAMPLES):
        settle()
        serving, total, ok = roll_back(ws, released[-2] if number % 2 == 0 else released[-1], env)
        totals.append(total)
        if serving is None or not ok:
            line("  both services serve the retained release after", " ".join(
                [*(f"{t:.2f}" for t in seen), "never" if serving is None else f"{serving:.2f} (FAILED)"]))
            line("RATIO rollback", "a run FAILED: no figure")
            return
        seen.append(serving)
    line("  both services serve the retained release after", " ".join(f"{t:.2f}" for t in seen) + " s")
    line("  the stack has recorded it (the command is done)", " ".join(f"{t:.2f}" for t in totals) + " s")
    ratio("rollback", seen, script_deploys, "plain script's deploy step")


# --------------------------------------------------------------------------- the rest
MANY_STEPS: tuple[tuple[str, ...], ...] = (
    ("python3", "manage.py", "migrate_schemas", "--shared", "--fake-initial"),
    ("python3", "manage.py", "create_super_tenant", "--no-input"),
    ("python3", "manage.py", "migrate_schemas", "--tenant"),
    *((("python3", "manage.py", "check", "--database", "default"),) * 4),
    *((("python3", "manage.py", "showmigrations", "--list"),) * 4),
)


def timed(label: str, fn: Callable[[], subprocess.CompletedProcess[str]]) -> float:
    start = time.monotonic()
    done = fn()
    seconds = time.monotonic() - start
    line(label, f"{seconds:6.2f} s" + ("" if done.returncode == 0 else "  (FAILED)"))
    return seconds


def many_step_migration(ws: Workspace) -> None:
    """The migration runner on eleven steps: each step its own container (the runner given one
    step at a time, as it ran before), all steps in one container (a process each: `runner:
    processes`), and in one container with one Django setup (a fork each: `runner: django`)."""
    print("\nmigration runner", flush=True)
    image = ws.outputs()["images"]["backend"]
    url = ws.pulumi_bare("stack", "output", "databaseUrl", "--show-secrets", "--stack",
                         ws.env_name).stdout.strip()
    env_text = (f"DATABASE_URL={shlex.quote(url)}\nSECRET_KEY={shlex.quote(ws.secret_key)}\n"
                "DJANGO_SETTINGS_MODULE=config.settings.local\nPUBLIC_DOMAIN=localhost\n")

    def runner(steps: tuple[tuple[str, ...], ...], kind: str = "processes"
               ) -> subprocess.CompletedProcess[str]:
        plan = MigrationPlan(environment=ws.env_name, sha=ws.shas[-1], image=image, steps=steps,
                             timeout_seconds=900, network="host", secret_names=("DATABASE_URL",),
                             runner=kind)
        return subprocess.run([sys.executable, "-m", "slipway.runners.migrate"], cwd=REPO,
                              input=env_text, capture_output=True, text=True, check=False,
                              env={**os.environ, MIGRATION_PLAN_ENV: plan.to_json()})

    def one_per_step() -> subprocess.CompletedProcess[str]:
        for step in MANY_STEPS:
            done = runner((step,))
            if done.returncode != 0:
                return done
        return done

    old = timed(f"  {len(MANY_STEPS)} steps, a container per step", one_per_step)
    new = timed(f"  {len(MANY_STEPS)} steps, one container", lambda: runner(MANY_STEPS))
    forked = timed(f"  {len(MANY_STEPS)} steps, one container, one Django setup",
                   lambda: runner(MANY_STEPS, "django"))
    line("  one container / a container per step", f"{new / old:5.2f}")
    line("  one Django setup / a container per step", f"{forked / old:5.2f}")


def rollout_on_three_hosts(sandbox: dict[str, str], tmp: Path) -> None:
    """A new-SHA release rolled over three test hosts in batches of one (each switch health-gated
    through its own proxy), each host's switch from the engine's events."""
    print("\nrollout over three test hosts, batches of one", flush=True)
    hosts = ("h1", "h2", "h3")
    servers = [host_server(sandbox, h) for h in hosts]
    if None in servers:
        print("  skipped (the sandbox has no test hosts h1-h3)")
        return
    ws = Workspace(tmp / "rollout", sandbox)
    ws.setup()
    try:
        ws.update_config(**{"server": None, "servers": servers, "services.frontend": None,
                            "rollout": {"batchSize": 1}})
        if deploy(ws).returncode != 0:
            return
        ws.commit("bench rollout")
        done = deploy(ws)
        shape = ReleaseShape(builds=[("backend", "app-backend-image")], migration="app-migration-run",
                             on_servers=[step for h in hosts for step in (
                                 (f"stage on {h}", f"app-{h}-backend-stage"),
                                 (f"switch on {h}", f"app-{h}-backend-deploy"))],
                             github=())
        phases = release_phases(events_of(done.lines), done.seconds, shape)
        print_phases("new-SHA release on three hosts", phases, done.seconds, (), 0.0)
    finally:
        ws.destroy()


def shipped_settings(ws: Workspace) -> None:
    """The standby and the rollback key of Pulumi.local.yaml, which the e2e workspace leaves out."""
    config = yaml.safe_load((REPO / "Pulumi.local.yaml").read_text())["config"]
    ws.update_config(**{f"services.{name}.standbySeconds": spec["standbySeconds"]
                        for name, spec in config["slipway:services"].items() if "standbySeconds" in spec},
                     rollbackKey=bool(config.get("slipway:rollbackKey", False)))


def main() -> int:
    sandbox = sandbox_env()
    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp_name:
        tmp = Path(tmp_name)
        # The local stack as shipped (a Django backend and an nginx-served frontend, as the users
        # run them); the baseline script releases the same two services.
        ws = Workspace(tmp / "stack", sandbox)
        ws.setup()
        shipped_settings(ws)
        baseline: Baseline | None = None
        try:
            print("first release (not measured) ...", flush=True)
            if deploy(ws).returncode != 0:
                return 1
            no_op(ws, sandbox, tmp)
            baseline = Baseline(ws, sandbox, tmp)
            script_deploys, released = new_sha(ws, baseline)
            rollback(ws, released, script_deploys)
            under_load(ws, baseline)
            many_step_migration(ws)
        finally:
            if baseline is not None:
                baseline.remove()
            ws.destroy()
        rollout_on_three_hosts(sandbox, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
