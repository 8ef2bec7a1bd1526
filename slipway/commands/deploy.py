"""The shell script that switches a server to a new release, rendered from a plan.

The script runs on the server over SSH (`sh -c`), reads the env file from stdin, and keeps the
previous container until the new one answers its health path: if it never does, the previous
container is started again and the script fails. Every docker call is rendered by
`slipway.commands.docker`; this module only strings them together with POSIX sh.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from slipway.commands import docker

LABEL_ENV = "slipway.env"
LABEL_SERVICE = "slipway.service"
LABEL_SHA = "slipway.sha"
LABEL_IMAGE = "slipway.image"
LABEL_DEPLOY = "slipway.deploy"
# OCI's own label for "which commit is this", read by most tooling.
LABEL_REVISION = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class DeployPlan:
    """Everything the server needs to run one release of one service (no secrets)."""

    environment: str
    service: str
    sha: str
    image: str  # repository:tag@sha256:... (pinned by digest)
    migrated_image: str  # what the migration ran against
    migrates: bool  # this service's image is the one migrated: the two must be the same
    port: int
    health_path: str
    health_timeout_seconds: int
    deploy_dir: str
    command: tuple[str, ...]
    env: Mapping[str, str]
    volumes: tuple[str, ...]
    command_timeout_seconds: int

    @property
    def container(self) -> str:
        return f"{self.environment}-{self.service}"

    @property
    def directory(self) -> str:
        return f"{self.deploy_dir.rstrip('/')}/{self.environment}/{self.service}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.health_path}"


def _q(args: Sequence[str]) -> str:
    return shlex.join(args)


def deploy_id(plan: DeployPlan) -> str:
    """Identifies this exact deploy; `delete` only removes the container it started."""
    material = repr((plan.sha, plan.image, plan.command, sorted(plan.env.items()), plan.volumes,
                     plan.port, plan.health_path))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def labels(plan: DeployPlan) -> dict[str, str]:
    return {
        LABEL_ENV: plan.environment,
        LABEL_SERVICE: plan.service,
        LABEL_SHA: plan.sha,
        LABEL_REVISION: plan.sha,
        LABEL_IMAGE: plan.image,
        LABEL_DEPLOY: deploy_id(plan),
    }


def render_deploy_script(plan: DeployPlan) -> str:
    """POSIX sh that deploys `plan`; reads the env file on stdin; prints one JSON line."""
    if "@sha256:" not in plan.image:
        raise ValueError(f"refusing to deploy {plan.image!r}: not pinned by digest")
    if plan.migrates and plan.migrated_image != plan.image:
        raise ValueError(
            f"refusing to deploy {plan.image!r}: the migration ran against {plan.migrated_image!r}"
        )
    name, previous, failed = plan.container, f"{plan.container}-previous", f"{plan.container}-failed"
    q = shlex.quote
    run_new = docker.run(
        name=name, image=plan.image, command=plan.command, env_file='"$envfile"',
        env={**plan.env, "APP_SHA": plan.sha}, labels=labels(plan), volumes=plan.volumes,
        detach=True, restart="unless-stopped",
    )
    # envfile is a shell variable: quote every argument except that one.
    run_line = " ".join(
        a if a.startswith('"$envfile"') else q(a) for a in run_new
    )
    health = _q(["curl", "-fsS", "-o", "/dev/null", "--max-time", "3", plan.health_url])
    return f"""set -eu
umask 077
log() {{ printf 'slipway: %s\\n' "$*" >&2; }}
exists() {{ docker container inspect "$1" >/dev/null 2>&1; }}
command -v curl >/dev/null || {{ log "curl is required on the server for health checks"; exit 1; }}
dir={q(plan.directory)}
mkdir -p "$dir"
chmod 700 "$dir"
if exists {q(previous)}; then
  log "an earlier deploy was interrupted; putting the previous container back first"
  if exists {q(name)}; then {_q(docker.remove_force(name))} >/dev/null; fi
  {_q(docker.rename(previous, name))}
  {_q(docker.start(name))} >/dev/null || true
fi
tmp=$(mktemp "$dir/.incoming.XXXXXX")
cat > "$tmp"
envfile="$dir/$(sha256sum "$tmp" | cut -c1-16).env"
mv "$tmp" "$envfile"
chmod 600 "$envfile"
log "pulling {plan.image}"
timeout 600 {_q(docker.pull(plan.image))} >/dev/null
previous_sha=""
if exists {q(name)}; then
  previous_sha=$({_q(docker.label_of(name, LABEL_SHA))})
  {_q(docker.rename(name, previous))}
  log "stopping the running release ${{previous_sha:-unknown}}"
  {_q(docker.stop(previous))} >/dev/null
fi
if exists {q(failed)}; then {_q(docker.remove_force(failed))} >/dev/null; fi
log "starting {plan.sha}"
# 0 once the container answers its health path; 1 if it stops or the time runs out.
wait_healthy() {{
  deadline=$(( $(date +%s) + {plan.health_timeout_seconds} ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if {health} 2>/dev/null; then return 0; fi
    if [ "$(docker container inspect --format '{{{{.State.Running}}}}' {q(name)})" != true ]; then
      return 1
    fi
    sleep 1
  done
  return 1
}}
healthy=0
if {run_line} >/dev/null && wait_healthy; then healthy=1; fi
if [ "$healthy" = 1 ]; then
  if exists {q(previous)}; then {_q(docker.remove_force(previous))} >/dev/null; fi
  for f in "$dir"/*.env; do [ "$f" = "$envfile" ] || rm -f "$f"; done
  log "{plan.sha} is healthy at {plan.health_url}"
  printf '{{"service":"%s","sha":"%s","previous_sha":"%s","image":"%s"}}\\n' \\
    {q(plan.service)} {q(plan.sha)} "$previous_sha" {q(plan.image)}
  exit 0
fi
log "{plan.sha} did not answer {plan.health_url} within {plan.health_timeout_seconds}s; last log lines:"
{_q(docker.logs_tail(name))} >&2 2>&1 || true
if exists {q(name)}; then
  docker stop --time 5 {q(name)} >/dev/null 2>&1 || true
  {_q(docker.rename(name, failed))} >/dev/null 2>&1 || {_q(docker.remove_force(name))} >/dev/null
fi
if exists {q(previous)}; then
  {_q(docker.rename(previous, name))}
  {_q(docker.start(name))} >/dev/null
  if wait_healthy; then
    log "the previous release ${{previous_sha:-unknown}} is running again"
  else
    log "the previous release ${{previous_sha:-unknown}} was started again but is not healthy"
  fi
fi
exit 1
"""


def render_remove_script(plan: DeployPlan) -> str:
    """Runs on `pulumi destroy`: removes the container only if it is the one this deploy made."""
    name = plan.container
    inspect = _q(docker.label_of(name, LABEL_DEPLOY))
    return f"""set -eu
if [ "$({inspect} 2>/dev/null || true)" = {shlex.quote(deploy_id(plan))} ]; then
  {_q(docker.remove_force(name))} >/dev/null
  rm -rf {shlex.quote(plan.directory)}
fi
"""


def wrap_with_timeout(script: str, seconds: int) -> str:
    """The remote command line: the script under a hard time limit on the server itself."""
    return _q(["timeout", "--kill-after=15", str(seconds), "sh", "-c", script])
