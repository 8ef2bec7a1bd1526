"""The server agent: one POSIX sh program that slipway installs on each server, so that every
remote command is a short, readable call (`sh <agent> deploy ...`) instead of a whole script.

The agent's file name carries a hash of its text, so a new slipway version installs a new file
beside the old one (old deploys' `delete` commands still find theirs) and an unchanged one is
never written twice. Its steps are the health-gated switch: the previous container is kept until
the new one answers its health path, and is started again if it never does.
"""

from __future__ import annotations

import hashlib
import shlex

AGENT_DIR = ".slipway"  # under the server's deployDir

# Placeholders in a deploy's `docker run` argv that only the server can fill in.
ENV_FILE_PLACEHOLDER = "@ENVFILE@"  # the env file written from stdin (its name is its hash)
PREVIOUS_SHA_PLACEHOLDER = "@PREVIOUS_SHA@"  # becomes the label slipway.previous-sha=<sha>
LABEL_PREVIOUS_SHA = "slipway.previous-sha"

_AGENT = r"""#!/bin/sh
# slipway server agent (installed by slipway; do not edit: the file name is its content hash).
#   sh agent.sh deploy SERVICE NAME IMAGE SHA HEALTH_URL HEALTH_SECONDS DIR DEPLOY_ID WHERE \
#       -- DOCKER_RUN_ARGV...
#   sh agent.sh remove NAME DEPLOY_ID DIR
# deploy reads the env file on stdin and prints one JSON line; its messages go to stderr.
set -eu
umask 077
where=""
log() { printf 'slipway%s: %s\n' "${where:+ [$where]}" "$*" >&2; }
exists() { docker container inspect "$1" >/dev/null 2>&1; }
label() { docker container inspect --format "{{index .Config.Labels \"$2\"}}" "$1"; }
running() { [ "$(docker container inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
mounts() { docker container inspect --format '{{range .Mounts}}{{println .Source}}{{end}}' "$1"; }
answers() { curl -fsS -o /dev/null --max-time 3 "$1" 2>/dev/null; }

# wait_healthy NAME URL SECONDS: 0 once NAME answers URL; 1 if it stops or the time runs out.
wait_healthy() {
  deadline=$(( $(date +%s) + $3 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if answers "$2"; then return 0; fi
    running "$1" || return 1
    sleep 0.2 2>/dev/null || sleep 1
  done
  return 1
}

report() {
  printf '{"service":"%s","sha":"%s","previous_sha":"%s","image":"%s"}\n' "$service" "$sha" "$1" "$image"
}

deploy() {
  service=$1 name=$2 image=$3 sha=$4 url=$5 wait=$6 dir=$7 id=$8 where=$9
  shift 9
  if [ "${1:-}" = -- ]; then shift; fi
  previous="$name-previous" failed="$name-failed"
  command -v curl >/dev/null || { log "curl is required on the server for health checks"; exit 1; }
  mkdir -p "$dir"
  chmod 700 "$dir"
  if exists "$previous"; then
    log "an earlier deploy was interrupted; putting the previous container back first"
    if exists "$name"; then docker rm --force "$name" >/dev/null; fi
    docker rename "$previous" "$name"
    docker start "$name" >/dev/null || true
  fi
  tmp=$(mktemp "$dir/.incoming.XXXXXX")
  cat > "$tmp"
  envfile="$dir/$(sha256sum "$tmp" | cut -c1-16).env"
  mv "$tmp" "$envfile"
  chmod 600 "$envfile"
  # The same release with the same config and env is already serving: leave it be.
  if exists "$name" && running "$name" && [ "$(label "$name" slipway.deploy)" = "$id" ] \
      && mounts "$name" | grep -qxF "$envfile" && answers "$url"; then
    log "$sha already runs as $name with this config; nothing to do"
    report "$(label "$name" "@LABEL_PREVIOUS_SHA@")"
    exit 0
  fi
  log "pulling $image"
  timeout 600 docker pull --quiet "$image" >/dev/null
  previous_sha=""
  if exists "$name"; then
    previous_sha=$(label "$name" slipway.sha)
    docker rename "$name" "$previous"
    log "stopping the running release ${previous_sha:-unknown}"
    docker stop --time 20 "$previous" >/dev/null
  fi
  if exists "$failed"; then docker rm --force "$failed" >/dev/null; fi
  # The run argv, with what only this server knows filled in.
  for arg do
    shift
    case $arg in
      @ENV_FILE_PLACEHOLDER@*) set -- "$@" "$envfile${arg#@ENV_FILE_PLACEHOLDER@}" ;;
      @PREVIOUS_SHA_PLACEHOLDER@) set -- "$@" "@LABEL_PREVIOUS_SHA@=$previous_sha" ;;
      *) set -- "$@" "$arg" ;;
    esac
  done
  log "starting $sha"
  if "$@" >/dev/null && wait_healthy "$name" "$url" "$wait"; then
    if exists "$previous"; then docker rm --force "$previous" >/dev/null; fi
    for f in "$dir"/*.env; do [ "$f" = "$envfile" ] || rm -f "$f"; done
    log "$sha is healthy at $url"
    report "$previous_sha"
    exit 0
  fi
  log "FAILED: $service $sha did not answer $url within ${wait}s; the app's last log lines:"
  docker logs --tail 40 "$name" 2>&1 | sed 's/^/  | /' >&2 || true
  if exists "$name"; then
    docker stop --time 5 "$name" >/dev/null 2>&1 || true
    docker rename "$name" "$failed" >/dev/null 2>&1 || docker rm --force "$name" >/dev/null
  fi
  if exists "$previous"; then
    docker rename "$previous" "$name"
    docker start "$name" >/dev/null
    if wait_healthy "$name" "$url" "$wait"; then
      log "the previous release ${previous_sha:-unknown} is running again"
    else
      log "the previous release ${previous_sha:-unknown} was started again but is not healthy"
    fi
  fi
  exit 1
}

# remove NAME DEPLOY_ID DIR: on `pulumi destroy`, only the container this deploy started.
remove() {
  if [ "$(label "$1" slipway.deploy 2>/dev/null || true)" = "$2" ]; then
    docker rm --force "$1" >/dev/null
    rm -rf "$3"
  fi
}

case "${1:-}" in
  deploy) shift; deploy "$@" ;;
  remove) shift; remove "$@" ;;
  *) log "usage: agent.sh deploy|remove ..."; exit 2 ;;
esac
"""


def render_agent() -> str:
    """The agent's text, with the placeholders it fills in spelled out."""
    return (_AGENT.replace("@ENV_FILE_PLACEHOLDER@", ENV_FILE_PLACEHOLDER)
            .replace("@PREVIOUS_SHA_PLACEHOLDER@", PREVIOUS_SHA_PLACEHOLDER)
            .replace("@LABEL_PREVIOUS_SHA@", LABEL_PREVIOUS_SHA))


def agent_path(deploy_dir: str, agent: str | None = None) -> str:
    """Where this version of the agent lives on the server."""
    digest = hashlib.sha256((agent or render_agent()).encode()).hexdigest()[:12]
    return f"{deploy_dir.rstrip('/')}/{AGENT_DIR}/agent-{digest}.sh"


def install_command(deploy_dir: str) -> str:
    """Writes the agent (from stdin) to its path, atomically; a no-op when it is already there."""
    path = agent_path(deploy_dir)
    folder = path.rsplit("/", 1)[0]
    script = ('set -eu; umask 022; mkdir -p "$1"; if [ ! -s "$2" ]; then t=$(mktemp "$1/.agent.XXXXXX");'
              ' cat > "$t"; chmod 755 "$t"; mv -f "$t" "$2"; else cat >/dev/null; fi')
    return shlex.join(["sh", "-c", script, "slipway-install", folder, path])
