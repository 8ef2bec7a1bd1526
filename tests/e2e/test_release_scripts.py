"""What the Migration and Service components execute, run for real against the sandbox.

These drive slipway's own migration runner and deploy script exactly as the command provider
does (plan in the environment, secrets on stdin; the script over SSH with a pinned host key),
against the real Docker engine, registry, Postgres and sshd. They need no provider plugin, so
they prove ordering, failure, rollback, recovery and secret handling even where the Go module
proxy refuses the providers' modules.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shlex
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from slipway.commands.agent import agent_path, install_command, render_agent
from slipway.commands.deploy import (
    DeployPlan,
    deploy_command,
    proxy_config_command,
    stage_command,
    switch_back_command,
)
from slipway.commands.envfile import render_env_file
from slipway.commands.migration import MigrationPlan
from slipway.commands.proxy import ProxySite, render_nginx_conf
from slipway.config import DEFAULT_MIGRATION_STEPS
from tests.e2e.traffic import Traffic
from tests.e2e.workspace import EXAMPLE_APP, REPO, free_port, http_get, run, sandbox_env, settled

pytestmark = pytest.mark.e2e


@dataclass
class Release:
    sha: str
    image: str  # pinned by digest


@dataclass
class Env:
    sandbox: dict[str, str]
    name: str
    database_url: str
    secret_key: str
    port: int  # where the proxy listens
    internal_ports: tuple[int, int]  # where releases listen, alternately
    releases: dict[str, Release]

    @property
    def container(self) -> str:
        return f"{self.name}-backend"

    @property
    def directory(self) -> str:
        return f"{self.deploy_dir}/{self.name}/backend"

    def env_text(self) -> str:
        return render_env_file({"DATABASE_URL": self.database_url, "SECRET_KEY": self.secret_key,
                                "DJANGO_SETTINGS_MODULE": "config.settings.local"})

    def ssh(self, command: str, stdin: str = "", known_hosts: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        return run(self.ssh_argv(command, known_hosts), input=stdin)

    def ssh_argv(self, command: str, known_hosts: str | None = None) -> list[str]:
        sb = self.sandbox
        return ["ssh", "-i", sb["SANDBOX_SSH_KEY_FILE"], "-p", sb["SANDBOX_SSH_PORT"],
                "-o", f"UserKnownHostsFile={known_hosts or sb['SANDBOX_SSH_KNOWN_HOSTS']}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                "-o", "PasswordAuthentication=no",
                f"{sb['SANDBOX_SSH_USER']}@{sb['SANDBOX_SSH_HOST']}", command]

    @property
    def deploy_dir(self) -> str:
        return f"/home/{self.sandbox['SANDBOX_SSH_USER']}/slipway-e2e"

    @property
    def where(self) -> str:
        sb = self.sandbox
        return f"{sb['SANDBOX_SSH_USER']}@{sb['SANDBOX_SSH_HOST']}:{sb['SANDBOX_SSH_PORT']}"

    def plan(self, release: str, health_timeout: int = 60, operation: str = "deploy",
             extra_env: dict[str, str] | None = None, standby: int = 0) -> DeployPlan:
        r = self.releases[release]
        return DeployPlan(
            environment=self.name, service="backend", sha=r.sha, image=r.image,
            migrated_image=r.image, migrates=True, port=self.port, internal_ports=self.internal_ports,
            health_path="/api/v1/ready/", health_timeout_seconds=health_timeout,
            deploy_dir=self.deploy_dir, agent=agent_path(self.deploy_dir), where=self.where,
            command=("gunicorn", "--config", "/app/gunicorn.conf.py", "config.wsgi"),
            env={"DJANGO_SETTINGS_MODULE": "config.settings.local", "BIND_HOST": "127.0.0.1",
                 **(extra_env or {})},
            volumes=(), command_timeout_seconds=300, proxy_image=self.sandbox["SANDBOX_PROXY_IMAGE"],
            drain_seconds=1, stop_timeout_seconds=10, keep_releases=2, operation=operation,
            actor="e2e@test", standby_seconds=standby,
        )

    def deploy(self, release: str, health_timeout: int = 60, operation: str = "deploy",
               extra_env: dict[str, str] | None = None, standby: int = 0
               ) -> subprocess.CompletedProcess[str]:
        """What the ServerAgent and Service components run: install the agent, write the proxy's
        config, then the deploy."""
        installed = self.ssh(install_command(self.deploy_dir), stdin=render_agent())
        assert installed.returncode == 0, installed.stderr
        plan = self.plan(release, health_timeout, operation, extra_env, standby)
        site = ProxySite(environment=self.name, service="backend", listen_host="127.0.0.1", port=self.port,
                         client_max_body_size="10m", read_timeout_seconds=30)
        configured = self.ssh(proxy_config_command(plan), stdin=render_nginx_conf(site))
        assert configured.returncode == 0, configured.stderr
        return self.ssh(deploy_command(plan), stdin=self.env_text())

    def stage(self, release: str, extra_env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
        """What the Service's stage runs while the migration runs (the agent is installed)."""
        return self.ssh(stage_command(self.plan(release, extra_env=extra_env)), stdin=self.env_text())

    def switch_back(self, sha: str) -> subprocess.CompletedProcess[str]:
        """What `slipway rollback` runs on each server before its `pulumi up`."""
        return self.ssh(switch_back_command(self.deploy_dir, self.name, "backend", sha, self.where,
                                            "e2e@test"), stdin=render_agent())

    def standing_by(self) -> str:
        """The release standing by (drained, running, no traffic) after a deploy, or ""."""
        return self.ssh(f"cat {self.directory}/standby 2>/dev/null || true").stdout.strip()

    def live(self) -> dict[str, Any] | None:
        """The release that takes the traffic (named in the service's `active` file)."""
        active = self.ssh(f"cat {self.directory}/active").stdout.split()
        return self.inspect(active[0]) if active else None

    def app_containers(self) -> list[dict[str, Any]]:
        names = run(["docker", "ps", "--all", "--filter", f"label=slipway.env={self.name}",
                     "--filter", "label=slipway.role=app", "--format", "{{.Names}}"]).stdout.split()
        return [c for c in (self.inspect(n) for n in names) if c is not None]

    def audit(self) -> list[dict[str, Any]]:
        """This environment's entries of the server's audit log (other runs share the server)."""
        text = self.ssh(f"sh {agent_path(self.deploy_dir)} audit --root {self.deploy_dir}").stdout
        entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [e for e in entries if e["environment"] == self.name]

    def migrate(self, release: str, steps: tuple[tuple[str, ...], ...] = DEFAULT_MIGRATION_STEPS,
                timeout_seconds: int = 900, runner: str = "processes") -> subprocess.CompletedProcess[str]:
        r = self.releases[release]
        plan = MigrationPlan(environment=self.name, sha=r.sha, image=r.image, steps=steps,
                             timeout_seconds=timeout_seconds, network="host",
                             secret_names=("DATABASE_URL", "SECRET_KEY"), runner=runner)
        return run(["python3", "-m", "slipway.runners.migrate"], cwd=REPO, input=self.env_text(),
                   env={**os.environ, "SLIPWAY_MIGRATION_PLAN": plan.to_json()})

    def wait_stopped(self, name: str, seconds: float = 60) -> dict[str, Any] | None:
        """The container once it no longer runs (a retirement drains, then stops it), or as it is
        when `seconds` have passed."""
        return settled(lambda: self.inspect(name),
                       lambda found: found is None or not found["State"]["Running"], seconds)

    def inspect(self, name: str | None = None) -> dict[str, Any] | None:
        done = run(["docker", "inspect", name or self.container])
        return dict(json.loads(done.stdout)[0]) if done.returncode == 0 else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/ready/"

    def ready(self) -> tuple[int, dict[str, str], bytes]:
        return http_get(self.url)


def build_and_push(sandbox: dict[str, str], repo: str, tag: str, **build_args: str) -> str:
    ref = f"{sandbox['SANDBOX_REGISTRY']}/{repo}:{tag}"
    args = [a for k, v in build_args.items() for a in ("--build-arg", f"{k}={v}")]
    built = run(["docker", "build", "--network", "host", "-q", "-t", ref, *args, str(EXAMPLE_APP)])
    assert built.returncode == 0, built.stderr
    pushed = run(["docker", "push", ref])
    assert pushed.returncode == 0, pushed.stderr
    digest = run(["docker", "inspect", "--format", "{{index .RepoDigests 0}}", ref]).stdout.strip()
    return f"{ref}@{digest.rsplit('@', 1)[1]}"


def admin_psql(sandbox: dict[str, str], sql: str, database: str = "postgres") -> str:
    password = Path(sandbox["SANDBOX_PG_ADMIN_PASSWORD_FILE"]).read_text().strip()
    done = run(["psql", "-h", sandbox["SANDBOX_PG_HOST"], "-p", sandbox["SANDBOX_PG_PORT"], "-U",
                sandbox["SANDBOX_PG_ADMIN_USER"], "-d", database, "-v", "ON_ERROR_STOP=1",
                "-Atc", sql], env={**os.environ, "PGPASSWORD": password})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextmanager
def app_database(sandbox: dict[str, str], name: str) -> Iterator[str]:
    """A database `name` owned by its own role `<name>_app`, as the Database component makes
    them; yields the role's URL; dropped afterwards."""
    password = "pw-" + secrets.token_hex(12)
    admin_psql(sandbox, f"create role {name}_app login password '{password}'")
    admin_psql(sandbox, f"grant {name}_app to {sandbox['SANDBOX_PG_ADMIN_USER']}")
    admin_psql(sandbox, f"create database {name} owner {name}_app")
    try:
        yield f"postgres://{name}_app:{password}@127.0.0.1:5432/{name}?sslmode=disable"
    finally:
        admin_psql(sandbox, f"drop database if exists {name} with (force)")
        admin_psql(sandbox, f"drop role if exists {name}_app")


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    sandbox = sandbox_env()
    name = "rs" + secrets.token_hex(3)
    with app_database(sandbox, name) as url:
        yield from _env(sandbox, name, url)


def _env(sandbox: dict[str, str], name: str, url: str) -> Iterator[Env]:
    repo = f"{name}/backend"
    releases = {}
    for label, args in (("v1", {}), ("v2", {}), ("broken-migration", {"BREAK_MIGRATION": "1"}),
                        ("unhealthy", {"BREAK_HEALTH": "1"})):
        sha = secrets.token_hex(20)
        releases[label] = Release(sha, build_and_push(sandbox, repo, f"{name}-{sha}",
                                                      APP_SHA=sha, **args))
    e = Env(sandbox, name, url, "sk-" + secrets.token_urlsafe(24), free_port(), (free_port(), free_port()),
            releases)
    yield e
    for c in run(["docker", "ps", "--all", "--filter", f"label=slipway.env={name}", "--format",
                  "{{.Names}}"]).stdout.split():
        run(["docker", "rm", "-f", c])
    # Its images go from the build host too (by name: an identical build elsewhere keeps its tag).
    run(["docker", "rmi", *(release.image.split("@", 1)[0] for release in releases.values())])


def test_migration_runs_the_steps_in_order_masks_secrets_and_is_idempotent(env: Env) -> None:
    first = env.migrate("v1")
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    positions = [out.index(f"step {i}/3") for i in (1, 2, 3)]
    assert positions == sorted(positions)
    assert out.strip().splitlines()[-1] == f"migrated-image={env.releases['v1'].image}"
    password = env.database_url.split(":")[2].split("@")[0]
    for value in (password, env.secret_key):
        assert value not in first.stdout + first.stderr
    assert int(admin_psql(env.sandbox, "select count(*) from django_migrations", env.name)) > 0
    again = env.migrate("v1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already exists" not in again.stdout + again.stderr


def test_a_migration_container_left_by_an_interrupted_run_goes_before_the_steps_run(env: Env) -> None:
    """Two migrations of one environment never run at once: the engine refuses a second container
    of the same name, the leftover is removed, and the steps run from the start."""
    name = MigrationPlan(environment=env.name, sha="x", image="x", steps=(("true",),),
                         timeout_seconds=60, network="host").container
    left = run(["docker", "run", "--detach", "--name", name, "--entrypoint", "sleep",
                env.releases["v1"].image, "300"])
    assert left.returncode == 0, left.stderr
    leftover = left.stdout.strip()
    try:
        done = env.migrate("v1")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"docker refused to start {name}" in done.stdout
        positions = [done.stdout.index(f"step {i}/3") for i in (1, 2, 3)]
        assert positions == sorted(positions) and positions[0] > done.stdout.index("refused")
        assert run(["docker", "inspect", leftover]).returncode != 0  # removed, not left running
        again = env.migrate("v1")  # nothing left over now: no refusal
        assert again.returncode == 0 and "refused" not in again.stdout, again.stdout + again.stderr
    finally:
        run(["docker", "rm", "--force", leftover])


def schema_of(sandbox: dict[str, str], database: str) -> tuple[str, str, str]:
    """What a migration leaves: the migrations applied, the tenants, the schemas."""
    return (admin_psql(sandbox, "select string_agg(app || '.' || name, ',' order by app, name)"
                                " from django_migrations", database),
            admin_psql(sandbox, "select string_agg(schema_name, ',' order by schema_name)"
                                " from tenants_client", database),
            admin_psql(sandbox, "select string_agg(nspname, ',' order by nspname) from pg_namespace"
                                " where nspname not like 'pg_%' and nspname <> 'information_schema'",
                       database))


def test_the_django_runner_leaves_what_a_process_per_step_leaves_and_is_idempotent(env: Env) -> None:
    steps = tuple(("python3", *step[1:]) for step in DEFAULT_MIGRATION_STEPS)
    with app_database(env.sandbox, env.name + "pp") as processes_url, \
            app_database(env.sandbox, env.name + "dj") as django_url:
        by_processes = dataclasses.replace(env, database_url=processes_url)
        assert by_processes.migrate("v1", steps=steps).returncode == 0
        fresh = dataclasses.replace(env, database_url=django_url)
        first = fresh.migrate("v1", steps=steps, runner="django")
        assert first.returncode == 0, first.stdout + first.stderr
        positions = [first.stdout.index(f"step {i}/3") for i in (1, 2, 3)]
        assert positions == sorted(positions)
        assert "each step runs as a process of its own" not in first.stdout  # forks, one setup
        for value in (django_url.split(":")[2].split("@")[0], env.secret_key):
            assert value not in first.stdout + first.stderr
        # The same database as a process per step makes: migrations, tenants, schemas.
        expected = schema_of(env.sandbox, env.name + "pp")
        assert expected[0] and schema_of(env.sandbox, env.name + "dj") == expected
        again = fresh.migrate("v1", steps=steps, runner="django")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already exists" not in again.stdout + again.stderr
        assert schema_of(env.sandbox, env.name + "dj") == expected
        broken = fresh.migrate("broken-migration", steps=steps, runner="django")
        assert broken.returncode == 1
        assert "migration step 1/3 failed" in broken.stderr and "step 2/3" not in broken.stdout


def test_a_failing_step_stops_the_migration_with_its_output(env: Env) -> None:
    done = env.migrate("broken-migration")
    assert done.returncode == 1
    assert "migration step 1/3 failed" in done.stderr
    assert "step 2/3" not in done.stdout  # it stopped there
    assert "Traceback" in done.stdout or "Error" in done.stdout  # the step's own output
    assert "migrated-image=" not in done.stdout


def test_the_time_limit_kills_the_step(env: Env) -> None:
    slow = (("python3", "-c", "import time; time.sleep(120)"),)
    started = time.monotonic()
    done = env.migrate("v1", steps=slow, timeout_seconds=5)
    assert done.returncode == 1
    assert "exceeded the migration time limit" in done.stderr
    assert time.monotonic() - started < 60
    assert run(["docker", "inspect", f"slipway-migrate-{env.name}"]).returncode != 0


def test_deploy_runs_the_release_by_digest_as_the_images_own_user(env: Env) -> None:
    done = env.deploy("v1")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["sha"] == env.releases["v1"].sha and report["previous_sha"] == ""
    live = env.live()
    assert live is not None
    assert live["Config"]["Image"] == env.releases["v1"].image
    assert live["Config"]["Labels"]["slipway.sha"] == env.releases["v1"].sha
    # A non-root image (USER app, uid 10001; the deploy user is another uid) reads its env file,
    # which lives inside the container only, owned by that user and unreadable to any other.
    assert live["Config"]["User"] == "app"
    owner = run(["docker", "exec", live["Name"].lstrip("/"), "stat", "-c", "%U %a", "/run/slipway/app.env"])
    assert owner.stdout.split() == ["app", "400"], owner.stdout + owner.stderr
    status, headers, _ = env.ready()  # through the proxy, on the service's port
    assert status == 200 and headers.get("X-App-Sha") == env.releases["v1"].sha
    assert str(report["port"]) in {str(p) for p in env.internal_ports}


def test_secrets_stay_out_of_docker_inspect_and_off_the_servers_disk(env: Env) -> None:
    inspected = run(["docker", "inspect", *(c["Name"].lstrip("/") for c in env.app_containers())]).stdout
    password = env.database_url.split(":")[2].split("@")[0]
    assert env.secret_key not in inspected and password not in inspected
    # No file the deploy user can read on the server holds a secret; the service's folder is 0700.
    files = env.ssh(f"find {env.deploy_dir} -type f -exec cat {{}} +")
    assert files.returncode == 0 and "agent" in files.stdout
    assert env.secret_key not in files.stdout and password not in files.stdout
    assert env.ssh(f"stat -c '%a' {env.directory}").stdout.strip() == "700"


def test_deploying_the_running_release_again_changes_nothing(env: Env) -> None:
    before = env.live()
    assert before is not None
    done = env.deploy("v1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "already serves" in done.stderr
    after = env.live()
    assert after is not None and after["Id"] == before["Id"]
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]


def test_an_unhealthy_release_is_removed_and_the_live_one_never_stops_serving(env: Env) -> None:
    before = env.live()
    assert before is not None
    with Traffic(env.url) as traffic:
        done = env.deploy("unhealthy", health_timeout=8)
    assert done.returncode != 0
    # What failed, on which server, with the app's own last log lines; not the agent's text.
    sha = env.releases["unhealthy"].sha
    assert f"slipway [{env.where}]: FAILED: backend {sha} did not answer" in done.stderr
    assert "\n  | " in done.stderr and "wait_healthy" not in done.stderr and "kept serving" in done.stderr
    assert traffic.failures == 0, traffic.summary()
    assert traffic.shas == [env.releases["v1"].sha]
    after = env.live()
    assert after is not None and after["Id"] == before["Id"] and after["State"]["Running"]
    assert not any(c["Config"]["Labels"]["slipway.sha"] == sha for c in env.app_containers())


def test_a_new_release_switches_under_load_with_zero_failed_requests(env: Env) -> None:
    assert env.migrate("v2").returncode == 0
    with Traffic(env.url) as traffic:
        done = env.deploy("v2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert traffic.failures == 0, traffic.summary()
    assert traffic.requests > 100
    # The switch watched the proxy's old workers go (not the probes alone).
    assert "cannot be seen here" not in done.stderr
    # Answered by the old release, then the new one (both, briefly, while the proxy reloads).
    assert traffic.shas[0] == env.releases["v1"].sha and traffic.shas[-1] == env.releases["v2"].sha
    assert set(traffic.shas) == {env.releases["v1"].sha, env.releases["v2"].sha}
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["previous_sha"] == env.releases["v1"].sha
    # The deploy was done at the switch: the old release still drains, in the background ...
    v1 = env.releases["v1"].sha
    old = [c for c in env.app_containers() if c["Config"]["Labels"]["slipway.sha"] == v1]
    assert len(old) == 1 and old[0]["State"]["Running"]
    assert "drains for 1s, then stops (in the background)" in done.stderr
    # ... then stops, and is kept (a rollback to it starts without a pull).
    kept = env.wait_stopped(old[0]["Name"].lstrip("/"))
    assert kept is not None and not kept["State"]["Running"]


def test_a_rollback_starts_the_kept_release_with_zero_failed_requests(env: Env) -> None:
    with Traffic(env.url) as traffic:
        done = env.deploy("v1", operation="rollback")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "was created earlier (staged, or kept" in done.stderr and "pulling" not in done.stderr
    assert traffic.failures == 0, traffic.summary()
    assert traffic.shas[0] == env.releases["v2"].sha and traffic.shas[-1] == env.releases["v1"].sha


def test_only_the_newest_releases_are_kept(env: Env) -> None:
    for release in ("v2", "v1", "v2"):
        assert env.deploy(release).returncode == 0
    stopped = [c for c in env.app_containers() if not c["State"]["Running"]]
    assert len(stopped) <= 2  # keepReleases in the plan


def test_every_deploy_rollback_and_failure_is_in_the_servers_audit_log(env: Env) -> None:
    entries = env.audit()
    results = [(e["operation"], e["result"], e["sha"]) for e in entries]
    v1, v2, bad = (env.releases[k].sha for k in ("v1", "v2", "unhealthy"))
    assert ("deploy", "deployed", v1) in results and ("deploy", "failed", bad) in results
    assert ("deploy", "deployed", v2) in results and ("rollback", "rolled-back", v1) in results
    rollback = next(e for e in entries if e["result"] == "rolled-back")
    assert rollback["previous_sha"] == v2 and rollback["actor"] == "e2e@test"
    assert rollback["server"] == env.where and rollback["image"] == env.releases["v1"].image
    assert all(e["time"].endswith("Z") for e in entries)


def test_an_interrupted_switch_is_put_right_by_the_next_deploy(env: Env) -> None:
    live = env.live()
    assert live is not None
    # What a deploy killed after pointing the proxy, before recording the new release, leaves.
    other = next(p for p in env.internal_ports if str(p) != live["Config"]["Labels"]["slipway.port"])
    env.ssh(f"printf 'server 127.0.0.1:{other} max_fails=0;\\n' > {env.directory}/proxy/upstream.conf")
    done = env.deploy("v2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "interrupted" in done.stderr
    # The deploy returns only once the proxy routes to the live release again (a reload is
    # asynchronous): the very next request is served.
    assert env.ready()[1].get("X-App-Sha") == env.releases["v2"].sha, done.stderr + str(env.app_containers())


def test_the_proxy_names_the_release_that_answered_only_to_a_probe(env: Env) -> None:
    live = env.live()
    assert live is not None
    probed = http_get(env.url, headers={"X-Slipway-Probe": "1"})
    assert probed[1].get("X-Slipway-Upstream") == f"127.0.0.1:{live['Config']['Labels']['slipway.port']}"
    assert "X-Slipway-Upstream" not in env.ready()[1]


def test_a_new_config_of_the_running_commit_still_names_the_commit_before(env: Env) -> None:
    first = env.deploy("v1")
    assert first.returncode == 0, first.stderr
    before = json.loads(first.stdout.strip().splitlines()[-1])["previous_sha"]
    assert before == env.releases["v2"].sha
    done = env.deploy("v1", extra_env={"WEB_CONCURRENCY": "1"})  # same commit, new config
    assert done.returncode == 0 and "already serves" not in done.stderr, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["previous_sha"] == before


def test_a_staged_release_is_created_not_started_and_the_deploy_only_starts_it(env: Env) -> None:
    serving = env.live()
    assert serving is not None
    live_sha = serving["Config"]["Labels"]["slipway.sha"]
    target = "v1" if live_sha == env.releases["v2"].sha else "v2"
    sha = env.releases[target].sha
    staged = env.stage(target, extra_env={"STAGED": "yes"})  # a new config: a new container
    assert staged.returncode == 0, staged.stderr
    assert "staged" in staged.stderr and "starting" not in staged.stderr
    created = [c for c in env.app_containers() if "STAGED=yes" in c["Config"]["Env"]]
    assert len(created) == 1 and not created[0]["State"]["Running"]
    assert created[0]["Config"]["Labels"]["slipway.sha"] == sha
    # Nothing switched: the live release still serves.
    still = env.live()
    assert still is not None and still["Id"] == serving["Id"]
    assert env.ready()[1].get("X-App-Sha") == live_sha
    done = env.deploy(target, extra_env={"STAGED": "yes"})
    assert done.returncode == 0, done.stderr
    assert "was created earlier (staged" in done.stderr and "pulling" not in done.stderr
    live = env.live()
    assert live is not None and live["Id"] == created[0]["Id"] and live["State"]["Running"]
    assert env.ready()[1].get("X-App-Sha") == sha


def the_other(env: Env) -> tuple[dict[str, Any], str]:
    """The live release, and the release (v1 or v2) that is not it."""
    serving = env.live()
    assert serving is not None
    return serving, "v1" if serving["Config"]["Labels"]["slipway.sha"] == env.releases["v2"].sha else "v2"


def test_a_switch_back_to_the_release_standing_by_is_a_switch_without_a_start(env: Env) -> None:
    before, other = the_other(env)
    back = before["Config"]["Labels"]["slipway.sha"]
    assert env.deploy(other, standby=600).returncode == 0
    # Drained, it stands by: still running, taking no traffic.
    name = before["Name"].lstrip("/")
    assert settled(env.standing_by, lambda found: found == name) == name
    assert env.ready()[1].get("X-App-Sha") == env.releases[other].sha
    with Traffic(env.url) as traffic:
        done = env.switch_back(back)
    assert done.returncode == 0, done.stderr
    assert "still running (draining or standing by): no start" in done.stderr
    assert traffic.failures == 0, traffic.summary()
    assert traffic.shas[-1] == back
    live = env.live()
    # The very container, never stopped in between.
    assert live is not None and live["Id"] == before["Id"]
    assert live["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert json.loads(done.stdout.strip().splitlines()[-1])["previous_sha"] == env.releases[other].sha
    last = env.audit()[-1]
    assert (last["operation"], last["result"], last["sha"]) == ("rollback", "rolled-back", back)
    assert last["previous_sha"] == env.releases[other].sha and last["actor"] == "e2e@test"
    # The release it switched from drains and stands by in its turn.
    assert settled(env.standing_by, lambda found: found != "").startswith(
        f"{env.name}-backend-{env.releases[other].sha[:12]}-")


def test_the_next_deploy_ends_a_standby_at_once(env: Env) -> None:
    waiting = env.standing_by()
    standing = env.inspect(waiting)
    assert standing is not None and standing["State"]["Running"]
    _, other = the_other(env)  # the release standing by: the deploy stops it, then starts it
    done = env.deploy(other)
    assert done.returncode == 0, done.stderr
    assert f"ending the standby of {waiting}" in done.stderr
    assert f"{waiting} was created earlier" in done.stderr
    live = env.live()
    assert live is not None and live["Id"] == standing["Id"]
    assert live["State"]["StartedAt"] != standing["State"]["StartedAt"]
    assert env.ready()[1].get("X-App-Sha") == env.releases[other].sha
    assert env.standing_by() == ""


def test_a_switch_back_to_a_stopped_release_starts_it_and_to_none_exits_3(env: Env) -> None:
    before, other = the_other(env)
    back = before["Config"]["Labels"]["slipway.sha"]
    assert env.deploy(other).returncode == 0  # no standby: drained, then stopped
    assert env.wait_stopped(before["Name"].lstrip("/")) is not None
    with Traffic(env.url) as traffic:
        done = env.switch_back(back)
    assert done.returncode == 0, done.stderr
    assert "starting the retained" in done.stderr
    assert traffic.failures == 0, traffic.summary()
    assert traffic.shas[-1] == back == env.ready()[1].get("X-App-Sha")
    live = env.live()
    assert live is not None and live["Id"] == before["Id"]
    # A release this server never ran: nothing changes, and the caller deploys it instead.
    never = secrets.token_hex(20)
    missing = env.switch_back(never)
    assert missing.returncode == 3, missing.stderr
    assert f"no retained release of {never}" in missing.stderr
    assert env.ready()[1].get("X-App-Sha") == back


def test_a_switch_back_waits_for_a_deploy_holding_the_service_and_takes_a_dead_ones_lock(env: Env) -> None:
    serving, _ = the_other(env)
    live_sha = serving["Config"]["Labels"]["slipway.sha"]
    lock = f"{env.directory}/.lock"
    # A deploy of the service is running (a live process holds the lock) ...
    holding = f"mkdir {lock} && echo $$ > {lock}/pid && sleep 4 && rm -rf {lock}"
    holder = subprocess.Popen(env.ssh_argv(holding))
    try:
        assert settled(lambda: env.ssh(f"cat {lock}/pid 2>/dev/null").stdout.strip(), bool)
        waiting = subprocess.Popen(env.ssh_argv(switch_back_command(
            env.deploy_dir, env.name, "backend", live_sha, env.where, "e2e@test")),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        waiting.stdin.write(render_agent())  # type: ignore[union-attr]
        waiting.stdin.close()  # type: ignore[union-attr]
        # ... so the switch-back waits for it, and is done only after it.
        assert holder.wait(30) == 0
        assert waiting.wait(60) == 0
        err = waiting.stderr.read()  # type: ignore[union-attr]
        assert "already serves" in err
    finally:
        holder.kill()
    # A lock whose holder died (a deploy killed outright) is taken over.
    env.ssh(f"mkdir -p {lock} && echo 999999 > {lock}/pid")
    done = env.switch_back(live_sha)
    assert done.returncode == 0, done.stderr
    assert env.ssh(f"test -e {lock} && echo held || echo free").stdout.strip() == "free"


def test_a_release_left_running_on_the_new_port_is_stopped_before_the_new_one_starts(env: Env) -> None:
    # A server rebooted while the replaced release stood by: docker starts it again (it is
    # `unless-stopped`) on the port the next release gets, where it would answer that release's
    # health checks and take its traffic.
    serving, _ = the_other(env)
    live_port = serving["Config"]["Labels"]["slipway.port"]
    kept = [c for c in env.app_containers() if not c["State"]["Running"]
            and c["Config"]["Labels"]["slipway.port"] != live_port]
    assert kept, env.app_containers()
    squatter = kept[0]["Name"].lstrip("/")
    assert run(["docker", "start", squatter]).returncode == 0
    # Another release's container on that port (a new config: a new container, not the squatter).
    target = next(k for k in ("v1", "v2")
                  if env.releases[k].sha != kept[0]["Config"]["Labels"]["slipway.sha"])
    done = env.deploy(target, extra_env={"AFTER_REBOOT": "yes"})
    assert done.returncode == 0, done.stderr
    assert f"{squatter} runs on port" in done.stderr and "stopping it" in done.stderr
    assert env.ready()[1].get("X-App-Sha") == env.releases[target].sha
    live = env.live()
    assert live is not None and "AFTER_REBOOT=yes" in live["Config"]["Env"] and live["State"]["Running"]
    left = env.inspect(squatter)
    assert left is not None and not left["State"]["Running"]  # stopped, and kept


def test_a_release_the_proxy_still_sends_traffic_to_is_never_stopped(env: Env) -> None:
    # The live release's `active` record and the running proxy disagree, and the proxy cannot be
    # put right (the live release, paused, answers no probe): the release the proxy routes to may
    # be serving, so the deploy stops nothing.
    serving, _ = the_other(env)
    live_port = serving["Config"]["Labels"]["slipway.port"]
    # The release the last deploy replaced drains, then stops: this one is started here, by hand.
    for c in env.app_containers():
        if c["Config"]["Labels"]["slipway.port"] != live_port and c["State"]["Running"]:
            assert env.wait_stopped(c["Name"].lstrip("/")) is not None
    other = next(c for c in env.app_containers() if c["Config"]["Labels"]["slipway.port"] != live_port)
    name = other["Name"].lstrip("/")
    proxy = f"{env.name}-backend-proxy"
    upstream = f"{env.directory}/proxy/upstream.conf"
    before = env.ssh(f"cat {upstream}").stdout
    port = other["Config"]["Labels"]["slipway.port"]
    try:
        assert run(["docker", "pause", serving["Name"].lstrip("/")]).returncode == 0
        if not other["State"]["Running"]:
            assert run(["docker", "start", name]).returncode == 0
        env.ssh(f"printf 'server 127.0.0.1:{port} max_fails=0;\\n' > {upstream}")
        target = next(k for k in ("v1", "v2")
                      if env.releases[k].sha != other["Config"]["Labels"]["slipway.sha"])
        done = env.deploy(target, extra_env={"DISAGREES": "yes"})
        assert done.returncode != 0
        assert f"did not send requests to port {live_port}" in done.stderr  # the point-back failed
        assert f"the proxy sends its traffic to port {port}, where {name} runs" in done.stderr
        still = env.inspect(name)
        assert still is not None and still["State"]["Running"]  # not stopped
    finally:
        run(["docker", "unpause", serving["Name"].lstrip("/")])
        env.ssh(f"printf '%s' {shlex.quote(before)} > {upstream}")
        run(["docker", "kill", "--signal", "HUP", proxy])
        run(["docker", "stop", name])
    assert settled(lambda: env.ready()[1].get("X-App-Sha"),
                   lambda sha: sha == serving["Config"]["Labels"]["slipway.sha"])


def test_a_port_held_by_something_else_refuses_the_start(env: Env) -> None:
    serving, _ = the_other(env)
    live_sha = serving["Config"]["Labels"]["slipway.sha"]
    free = next(p for p in env.internal_ports if str(p) != serving["Config"]["Labels"]["slipway.port"])
    # The release that had the port drains, then stops; then it is free.
    for c in env.app_containers():
        if c["Config"]["Labels"]["slipway.port"] == str(free) and c["State"]["Running"]:
            assert env.wait_stopped(c["Name"].lstrip("/")) is not None
    # Not a slipway release: a process of the server's own on that port (404 for the health path).
    holder = env.ssh_argv(f"exec python3 -m http.server --bind 127.0.0.1 {free}")
    squatting = subprocess.Popen(holder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        probe = (f"curl -sS -D - -o /dev/null http://127.0.0.1:{free}/"
                 " | grep -qi '^server: SimpleHTTP' && echo up")
        assert settled(lambda: env.ssh(probe).stdout.strip(), lambda out: out == "up") == "up"
        done = env.deploy("v1", extra_env={"HELD": str(free)})
        assert done.returncode != 0, done.stderr
        assert f"something other than a release of backend listens on port {free}" in done.stderr
        assert "kept serving" in done.stderr
        assert env.ready()[1].get("X-App-Sha") == live_sha
        assert not any("HELD=" + str(free) in " ".join(c["Config"]["Env"]) for c in env.app_containers())
    finally:
        squatting.kill()
        env.ssh(f"pkill -f 'http.server --bind 127.0.0.1 {free}' || true")


def test_a_wrong_host_key_is_refused(env: Env, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts"
    key = tmp_path / "key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    public = key.with_suffix(".pub").read_text().split()[:2]
    other.write_text(f"[{env.sandbox['SANDBOX_SSH_HOST']}]:{env.sandbox['SANDBOX_SSH_PORT']} "
                     f"{' '.join(public)}\n")
    done = env.ssh("true", known_hosts=str(other))
    assert done.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in done.stderr or "verification failed" in done.stderr


def test_no_secret_in_the_process_list_during_migration_and_deploy(env: Env) -> None:
    import threading

    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(run(["ps", "axww", "-o", "args"]).stdout)
            stop.wait(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert env.migrate("v2").returncode == 0
        assert env.deploy("v2").returncode == 0
    finally:
        stop.set()
        watcher.join()
    password = env.database_url.split(":")[2].split("@")[0]
    text = "\n".join(seen)
    assert "slipway.runners.migrate" in text or "docker" in text  # the watcher saw the run
    assert env.secret_key not in text and password not in text
