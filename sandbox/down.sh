#!/usr/bin/env bash
# sandbox/down.sh [--purge] - stop what sandbox/up.sh started.
#
# Stops the GitHub API double, sshd and the registry (by the pids up.sh
# recorded), the PostgreSQL 15 cluster and dockerd - these two only if up.sh
# started them (both are shared system services; one that was already running
# is left alone).  Data is kept unless --purge, which also deletes the state dir
# (keys, registry storage, the double's state, the admin password) and the
# deploy user's authorized_keys.  Images in dockerd and databases in the
# cluster are never touched.
set -euo pipefail

PURGE=
for arg in "$@"; do
  case $arg in
    --purge) PURGE=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
  esac
done

STATE=${SLIPWAY_SANDBOX_DIR:-${SLIPWAY_CACHE:-$HOME/.cache/slipway}/sandbox}
RUN=$STATE/run
PG_VERSION=15
PG_CLUSTER=main
DEPLOY_USER=deploy

say() { printf 'sandbox: %s\n' "$*"; }

if [ ! -d "$RUN" ]; then
  say "nothing to stop (no $RUN)"
else
  exec 9>"$RUN/up.lock"
  flock -w 120 9 || { say "ERROR: up.sh is running (lock $RUN/up.lock)"; exit 1; }

  # stop NAME PATTERN SECONDS: stop the recorded pid if its command line matches.
  stop() {
    local name=$1 pattern=$2 secs=$3 f=$RUN/$1.pid pid i
    if [ ! -s "$f" ]; then
      say "$name: not started by up.sh"
      return 0
    fi
    pid=$(cat "$f")
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"; then
      kill "$pid" 2>/dev/null || true
      for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
        say "$name: killed (pid $pid did not stop within ${secs} s)"
      else
        say "$name: stopped (pid $pid)"
      fi
    else
      say "$name: already gone (pid $pid)"
    fi
    rm -f "$f" "$RUN/$name.sig"
  }

  # The test hosts: their bridges, sshd, dockerd, containerd (in that order), their
  # Postgres cluster, then the network namespace itself.
  for pidfile in "$RUN"/h[1-9]-*.pid; do
    [ -e "$pidfile" ] || continue
    name=$(basename "$pidfile" .pid)
    case $name in *-containerd|*-dockerd) continue ;; esac
    stop "$name" "" 10
  done
  for pidfile in "$RUN"/h[1-9]-dockerd.pid "$RUN"/h[1-9]-containerd.pid; do
    [ -e "$pidfile" ] || continue
    stop "$(basename "$pidfile" .pid)" "" 60
  done
  for started in "$RUN"/h[1-9]-postgres.started; do
    [ -e "$started" ] || continue
    cluster=$(basename "$started" -postgres.started)
    pg_ctlcluster --skip-systemctl-redirect $PG_VERSION "$cluster" stop 2>/dev/null &&
      say "postgres: cluster $PG_VERSION/$cluster stopped"
    rm -f "$started"
  done
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^slipway-h[1-9]$/ {print $1}'); do
    ip netns del "$ns" && say "test host ${ns#slipway-}: network namespace removed"
  done

  stop github-double github_double/server.py 10
  stop sshd "$STATE/ssh/sshd_config" 10
  stop registry "$STATE/registry/config.yml" 10

  if [ -f "$RUN/postgres.started" ]; then
    if pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PG_CLUSTER stop 2>/dev/null; then
      say "postgres: cluster $PG_VERSION/$PG_CLUSTER stopped"
    else
      say "postgres: cluster $PG_VERSION/$PG_CLUSTER was not running"
    fi
    rm -f "$RUN/postgres.started"
  else
    say "postgres: left running (not started by up.sh)"
  fi

  if [ -s "$RUN/dockerd.pid" ]; then
    stop dockerd dockerd 60
  else
    say "dockerd: left running (not started by up.sh)"
  fi
fi

if [ -n "$PURGE" ]; then
  home=$(getent passwd "$DEPLOY_USER" | cut -d: -f6 || true)
  if [ -n "$home" ] && [ -f "$home/.ssh/authorized_keys" ]; then
    rm -f "$home/.ssh/authorized_keys"
  fi
  rm -rf "$STATE"
  say "purged $STATE"
fi
