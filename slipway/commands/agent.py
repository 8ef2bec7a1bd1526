"""The server agent: one POSIX sh program that slipway installs on each server, so that every
remote command is a short, readable call (`sh <agent> deploy ...`) instead of a whole script.

The agent's file name carries a hash of its text, so a new slipway version installs a new file
beside the old one (old deploys' `delete` commands still find theirs) and an unchanged one is
never written twice. Its deploy is the blue/green switch: the new release starts beside the live
one on the other internal port, is health-checked there, the service's proxy is pointed at it
(graceful reload), the old one drains, stands by and stops in the background (the deploy is done
at the switch; the next one ends the standby, or waits for the drain). A release that never gets
healthy is removed; the live one never stopped serving. `switch-back` (the first step of
`slipway rollback`) sends the traffic back to the release the live one replaced.
"""

from __future__ import annotations

import hashlib
import shlex

AGENT_DIR = ".slipway"  # under the server's deployDir

# Placeholders in a deploy's `docker create` argv that only the server can fill in.
NAME_PLACEHOLDER = "@NAME@"  # <env>-<service>-<sha12>-<port>
PORT_PLACEHOLDER = "@PORT@"  # the internal port this release gets (PORT, `{port}` in the command)
ENV_HASH_PLACEHOLDER = "@ENV_HASH@"  # hash of the env file it was started with
PREVIOUS_SHA_PLACEHOLDER = "@PREVIOUS_SHA@"  # the SHA it replaces
LABEL_PREVIOUS_SHA = "slipway.previous-sha"  # informational: what it replaced when it was created
LABEL_ENV_HASH = "slipway.env-hash"
LABEL_ROLE = "slipway.role"

_AGENT = r"""#!/bin/sh
# slipway server agent (installed by slipway; do not edit: the file name is its content hash).
#   sh agent.sh deploy --env E --service S --sha SHA --image IMAGE --health-path P --health-seconds N
#       --dir D --id DEPLOY_ID --ports P1,P2 --port PORT --proxy-image IMAGE --drain-seconds N
#       --stop-seconds N --standby-seconds N --keep N --operation deploy|rollback --where WHERE
#       --actor WHO [--pause N] [--proxy-host ADDRESS] (where the proxy answers here; 127.0.0.1)
#       -- DOCKER_CREATE_ARGV...      (reads the env file on stdin, prints one JSON line)
#   sh agent.sh stage ...             (deploy's options: pulls and creates the new release, and
#                                      stops there; run while the migration runs)
#   sh agent.sh proxy-config --dir D --container NAME   (reads nginx.conf on stdin)
#   sh agent.sh remove --env E --service S --dir D --id DEPLOY_ID
#   sh agent.sh retire --env E --service S --dir D --container NAME --drain-seconds N --stop-seconds N
#       --standby-seconds N --keep N  (started by deploy, detached: drains, stands by, stops, prunes)
#   sh agent.sh switch-back --dir D [--sha SHA] --where WHERE --actor WHO
#                                     (back to the retained release of SHA, by default the one the
#                                      live release replaced, with the last deploy's settings;
#                                      exit 3 when this server has no such release to switch to)
#   sh agent.sh audit --root DEPLOY_DIR
# Messages go to stderr. Every release runs as <env>-<service>-<sha12>-<port>, on one of two
# internal ports; the service's proxy (<env>-<service>-proxy) listens on PORT and sends traffic
# to the live one, named in DIR/active.
set -eu
umask 077
where=""
log() { printf 'slipway%s: %s\n' "${where:+ [$where]}" "$*" >&2; }
exists() { docker container inspect "$1" >/dev/null 2>&1; }
label() { docker container inspect --format "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null; }
running() { [ "$(docker container inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
# inspect NAME...: what the agent reads of containers, one line each that exists, in one docker
# call for all of them (each call costs tens of ms): "/name|running|sha|image|deploy|envhash|proxy|pid|".
inspect() {
  docker container inspect --format '{{.Name}}|{{.State.Running}}|{{index .Config.Labels "slipway.sha"}}|'\
'{{index .Config.Labels "slipway.image"}}|{{index .Config.Labels "slipway.deploy"}}|'\
'{{index .Config.Labels "slipway.env-hash"}}|{{index .Config.Labels "slipway.proxy-image"}}|'\
'{{.State.Pid}}|' "$@" 2>/dev/null || true
}
# state NAME [INSPECTED]: NAME as `inspect` read it (INSPECTED, its output, else a call of its own).
# Sets st_exists (0/1), st_running (true/false), st_sha, st_image, st_deploy, st_envhash, st_proxy,
# st_pid (its first process's pid on this host; 0 when it does not run).
state() {
  st_exists=0 st_running=false st_sha="" st_image="" st_deploy="" st_envhash="" st_proxy="" st_pid=0
  if [ $# -ge 2 ]; then st_out=$2; else st_out=$(inspect "$1"); fi
  while IFS='|' read -r r_name r_running r_sha r_image r_deploy r_envhash r_proxy r_pid _; do
    if [ "$r_name" = "/$1" ]; then
      st_exists=1 st_running=$r_running st_sha=$r_sha st_image=$r_image st_deploy=$r_deploy
      st_envhash=$r_envhash st_proxy=$r_proxy st_pid=$r_pid
    fi
  done <<EOF_STATE
$st_out
EOF_STATE
}
# list_releases: this service's releases, one line each: "name|state|port|sha|image|deploy|envhash|".
list_releases() {
  docker ps --all --filter "label=slipway.env=$env" --filter "label=slipway.service=$service" \
    --filter label=slipway.role=app --format '{{.Names}}|{{.State}}|{{.Label "slipway.port"}}|'\
'{{.Label "slipway.sha"}}|{{.Label "slipway.image"}}|{{.Label "slipway.deploy"}}|'\
'{{.Label "slipway.env-hash"}}|'
}
# release_state NAME PORT [LISTING]: what `state NAME` sets, read from one listing of this service's
# releases (LISTING, list_releases' output, else a listing of its own);
# and $squatters, the other releases of it that run (or restart) on PORT. A release left running
# by a server's reboot during its standby, or started by hand, holds the port NAME is to listen
# on: it would answer NAME's health checks and take its traffic.
release_state() {
  st_exists=0 st_running=false st_sha="" st_image="" st_deploy="" st_envhash="" st_proxy="" squatters=""
  if [ $# -ge 3 ]; then st_out=$3
  else st_out=$(list_releases) || { log "docker could not list the releases of $service"; exit 1; }; fi
  while IFS='|' read -r r_name r_state r_port r_sha r_image r_deploy r_envhash _; do
    case $r_state in running|restarting|paused) r_running=true ;; *) r_running=false ;; esac
    if [ "$r_name" = "$1" ]; then
      st_exists=1 st_running=$r_running st_sha=$r_sha st_image=$r_image st_deploy=$r_deploy
      st_envhash=$r_envhash
    elif [ "$r_running" = true ] && [ "$r_port" = "$2" ]; then
      squatters="$squatters $r_name"
    fi
  done <<EOF_RELEASES
$st_out
EOF_RELEASES
}
# claim_port PORT: the port free for the release about to start there: the squatters stop (and
# stay, stopped, like any kept release); anything else listening there refuses the start. So does
# a running proxy that still sends its traffic to PORT (DIR/active disagrees with it: an
# interrupted deploy that could not be put right): what runs there serves, and is not stopped.
claim_port() {
  if [ -n "$squatters" ] && [ "$proxy_running" = true ] \
      && [ "$(cat "$dir/proxy/upstream.conf" 2>/dev/null)" = "$(upstream "$1")" ]; then
    log "FAILED: the proxy sends its traffic to port $1, where$squatters runs, not to the live" \
      "release named in $dir/active; nothing was stopped. Check $dir/proxy/upstream.conf"
    return 1
  fi
  for squatter in $squatters; do
    log "$squatter runs on port $1 but takes no traffic (left by a reboot, or started by hand): stopping it"
    docker stop --time "$stop_seconds" "$squatter" >/dev/null
  done
  # curl's exit 7: nothing accepts a connection there (any other outcome: something does).
  taken=0; curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$1$health_path" 2>/dev/null || taken=$?
  if [ "$taken" -ne 7 ]; then
    log "FAILED: something other than a release of $service listens on port $1; free the port" \
      "(or change internalPorts) and deploy again"
    return 1
  fi
}
answers() { curl -fsS -o /dev/null --max-time 3 "$1" 2>/dev/null; }
json() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
upstream() { printf 'server 127.0.0.1:%s max_fails=0;\n' "$1"; }  # slipway.commands.proxy.upstream_line
# routes_to PORT: a new request through the proxy is answered, successfully, by 127.0.0.1:PORT.
# The proxy names the upstream that answered only to a request that asks (slipway.commands.proxy).
routes_to() {
  curl -sS -o /dev/null -D - --max-time 3 -H 'X-Slipway-Probe: 1' "http://$proxy_host:$port$health_path" \
    2>/dev/null | awk -v want="127.0.0.1:$1" '
      { sub(/\r$/, "") }
      NR == 1 { ok = ($2 ~ /^[23]/) }
      tolower($1) == "x-slipway-upstream:" && $2 == want { hit = 1 }
      END { exit !(ok && hit) }'
}
# proxy_workers PID: sets proxy_master, the proxy's nginx master (the container's first process,
# PID as docker reports it, or its child under an init such as docker's --init), and old_workers,
# its workers that take new connections now; both empty when the process list here cannot say (no
# procps `ps`, /proc hidden, another pid namespace). One listing when nginx is the first process.
proxy_workers() {
  proxy_master="" old_workers=""
  command -v ps >/dev/null && [ "${1:-0}" -gt 0 ] 2>/dev/null || return 0
  found=$(ps -ww -o pid= -o ppid= -o args= -p "$1" --ppid "$1" 2>/dev/null | awk -v top="$1" '
    { title = $0; sub(/^ *[0-9]+ +[0-9]+ +/, "", title) }
    title ~ /^nginx: master process/ && master == "" { master = $1 }
    title == "nginx: worker process" { parent[$1] = $2 }
    END { if (master == "") exit
          line = master
          if (master == top) for (w in parent) if (parent[w] == master) line = line " " w
          print line }')
  proxy_master=${found%% *}
  if [ -z "$proxy_master" ]; then return 0; fi
  if [ "$proxy_master" = "$1" ]; then
    case $found in *" "*) old_workers="${found#* } " ;; esac
  else
    old_workers=$(accepting_workers "$proxy_master" | tr '\n' ' ')
  fi
}
# accepting_workers MASTER [PIDS]: the workers of the nginx MASTER that still take new connections
# (of PIDS, when given): a worker told to quit names itself "worker process is shutting down" as it
# closes its listening sockets. The title is matched whole: a cut one counts as shutting down.
accepting_workers() {
  [ -n "$1" ] || return 0
  ps -ww -o pid= -o args= --ppid "$1" 2>/dev/null | awk -v only=" ${2:-} " '
    { title = $0; sub(/^ *[0-9]+ +/, "", title) }
    title == "nginx: worker process" && (only == "  " || index(only, " " $1 " ")) { print $1 }'
}
# wait_workers_replaced MASTER PIDS DEADLINE: 0 once none of PIDS (the workers before a reload)
# takes new connections: from then on every new connection meets a worker of the new config.
wait_workers_replaced() {
  [ -n "$2" ] || return 0
  while [ -n "$(accepting_workers "$1" "$2")" ]; do
    [ "$(date +%s)" -lt "$3" ] || return 1
    sleep 0.01 2>/dev/null || sleep 1
  done
}
# wait_routed PORT DEADLINE COUNT: COUNT probes in a row routed to PORT. Once the old workers were
# seen to stop accepting, every new connection meets a new worker: one probe says it. Where they
# could not be watched, workers of an earlier reload can still accept a connection for a moment
# after the new ones answer, and one probe could meet a new worker while the next request meets
# an old one: three, then. A reload takes tens of milliseconds: polled at that grain.
wait_routed() {
  deadline=$2 routed=0
  while [ "$routed" -lt "$3" ]; do
    if routes_to "$1"; then routed=$(( routed + 1 )); continue; fi
    routed=0
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.02 2>/dev/null || sleep 1
  done
}

# wait_healthy NAME URL SECONDS: 0 once NAME answers URL; 1 if it stops or the time runs out.
# Polled every 30 ms (a refused connection costs a few); whether NAME still runs is asked of
# docker every tenth poll only (each docker call costs tens of milliseconds).
wait_healthy() {
  deadline=$(( $(date +%s) + $3 )) polls=0
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if answers "$2"; then return 0; fi
    polls=$(( polls + 1 ))
    if [ $(( polls % 10 )) -eq 0 ]; then running "$1" || return 1; fi
    sleep 0.03 2>/dev/null || sleep 1
  done
  return 1
}

# replace TEXT TOKEN VALUE: sets $replaced to TEXT with every TOKEN replaced by VALUE.
replace() {
  rest=$1 replaced=""
  while :; do
    case $rest in
      *"$2"*) replaced="$replaced${rest%%"$2"*}$3"; rest=${rest#*"$2"} ;;
      *) replaced="$replaced$rest"; return 0 ;;
    esac
  done
}

audit() {  # audit RESULT: one JSON line per deploy, rollback and failure, appended
  mkdir -p "$root/.slipway"
  printf '{"time":"%s","environment":"%s","service":"%s","operation":"%s","result":"%s",'"\
"'"sha":"%s","image":"%s","previous_sha":"%s","actor":"%s","server":"%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$env" "$service" "$operation" "$1" "$sha" "$(json "$image")" \
    "$previous_sha" "$(json "$actor")" "$(json "$where")" >> "$root/.slipway/audit.log"
  chmod 600 "$root/.slipway/audit.log"
}

report() {
  printf '{"service":"%s","sha":"%s","previous_sha":"%s","image":"%s","port":"%s"}\n' \
    "$service" "$sha" "$previous_sha" "$(json "$image")" "$port_live"
}

# The proxy: <env>-<service>-proxy, host network, its config folder mounted read-only.
proxy_create() {
  if exists "$proxy"; then docker rm --force "$proxy" >/dev/null; fi
  docker create --name "$proxy" --network host --restart unless-stopped \
    --label slipway.env="$env" --label slipway.service="$service" --label slipway.role=proxy \
    --label slipway.proxy-image="$proxy_image" \
    --volume "$dir/proxy:/etc/slipway-proxy:ro" "$proxy_image" \
    nginx -c /etc/slipway-proxy/nginx.conf -g 'daemon off;' >/dev/null
}
proxy_reload() {  # validate the config in the running proxy, then reload it gracefully
  docker exec "$proxy" nginx -t -q -c /etc/slipway-proxy/nginx.conf \
    && docker kill --signal HUP "$proxy" >/dev/null
}
# A switch changes upstream.conf alone, one line the agent writes (upstream): nothing in it for
# `nginx -t` to catch (nginx.conf was validated when proxy-config wrote it), and that check is a
# `docker exec`, the slowest step of a switch. Were the reload refused all the same, the workers
# of the old config would never go, no request would reach the new port, and the old upstream
# would be put back.
proxy_switch() { docker kill --signal HUP "$proxy" >/dev/null; }
# point_proxy PORT [INSPECTED]: send new requests to 127.0.0.1:PORT (in-flight ones finish where
# they are). INSPECTED: the proxy as `inspect` read it a moment ago, else it is read now.
point_proxy() {
  old_upstream=$(cat "$dir/proxy/upstream.conf" 2>/dev/null || true)
  upstream "$1" > "$dir/proxy/.upstream.tmp"
  mv -f "$dir/proxy/.upstream.tmp" "$dir/proxy/upstream.conf"
  if [ -n "${2:-}" ]; then state "$proxy" "$2"; else state "$proxy"; fi
  if [ "$st_running" = true ] && [ "$st_proxy" != "$proxy_image" ]; then
    log "the proxy image changed: restarting $proxy"
  elif [ "$st_running" = true ]; then
    # A reload is asynchronous: the switch is done when new requests reach PORT, not on the
    # signal: once the workers of the old config take no new connection, and probes reach PORT.
    proxy_workers "$st_pid"
    if [ -z "$old_workers" ]; then
      log "the proxy's nginx workers cannot be seen here (procps ps, /proc): probes alone confirm the switch"
    fi
    switch_deadline=$(( $(date +%s) + 15 ))
    if proxy_switch; then
      if ! wait_workers_replaced "$proxy_master" "$old_workers" "$switch_deadline"; then
        log "the proxy kept the workers of its old config for 15s (it did not reload: docker logs" \
          "$proxy); keeping the old upstream"
      elif wait_routed "$1" "$switch_deadline" "$([ -n "$old_workers" ] && echo 1 || echo 3)"; then
        return 0
      else
        log "the proxy did not send requests to port $1 within 15s; keeping the old upstream"
      fi
    else
      log "the proxy could not be told to reload; keeping the old upstream"
    fi
    printf '%s\n' "$old_upstream" > "$dir/proxy/upstream.conf"
    proxy_reload || true
    return 1
  fi
  # First release behind the proxy: a container of the earlier layout may hold the port. The
  # proxy is created first, so the port is free only for as long as it takes to start it.
  proxy_create
  if exists "$legacy" && running "$legacy"; then
    log "moving $legacy behind the proxy"
    docker stop --time 5 "$legacy" >/dev/null
  fi
  docker start "$proxy" >/dev/null
  deadline=$(( $(date +%s) + 15 ))
  until answers "http://$proxy_host:$port$health_path"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "the proxy does not answer on port $port:"
      docker logs --tail 20 "$proxy" >&2 2>&1 || true
      return 1
    fi
    sleep 0.1 2>/dev/null || sleep 1
  done
}

# image_user_ids NAME: "uid:gid" of the user the container NAME runs as (its image's USER),
# read from the container's own /etc/passwd and /etc/group.
image_user_ids() {
  spec=$(docker container inspect --format '{{.Config.User}}' "$1")
  user=${spec%%:*} group=""
  case $spec in *:*) group=${spec#*:} ;; esac
  [ -n "$user" ] || { echo 0:0; return 0; }
  passwd=$(docker cp "$1:/etc/passwd" - 2>/dev/null | tar -xOf - 2>/dev/null) || passwd=""
  case $user in
    *[!0-9]*) ids=$(printf '%s\n' "$passwd" | awk -F: -v u="$user" '$1 == u { print $3 ":" $4; exit }') ;;
    *) ids=$(printf '%s\n' "$passwd" | awk -F: -v u="$user" '$3 == u { print $3 ":" $4; exit }')
       ids=${ids:-$user:0} ;;
  esac
  [ -n "$ids" ] || return 1
  case $group in
    "") ;;
    *[!0-9]*) gid=$(docker cp "$1:/etc/group" - 2>/dev/null | tar -xOf - 2>/dev/null \
                | awk -F: -v g="$group" '$1 == g { print $3; exit }')
              [ -n "$gid" ] || return 1
              ids=${ids%:*}:$gid ;;
    *) ids=${ids%:*}:$group ;;
  esac
  echo "$ids"
}

# keep_only N: the N newest stopped releases of this service stay (a rollback to one is a start).
keep_only() {
  docker ps --all --filter "label=slipway.env=$env" --filter "label=slipway.service=$service" \
    --filter label=slipway.role=app --filter status=exited --format '{{.Names}}' \
    | tail -n "+$(( $1 + 1 ))" | while read -r old; do docker rm --force "$old" >/dev/null; done
}

# One deploy, stage or switch-back of a service at a time on a server (a rollback's switch-back runs
# outside the engine's stack lock). DIR/.lock holds its holder's pid; a dead holder's lock goes.
locked=""
lock_service() {  # lock_service SECONDS
  deadline=$(( $(date +%s) + $1 ))
  until mkdir "$dir/.lock" 2>/dev/null; do
    holder=$(cat "$dir/.lock/pid" 2>/dev/null || true)
    if { [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; } \
        || { [ -z "$holder" ] && [ -n "$(find "$dir/.lock" -maxdepth 0 -mmin +1 2>/dev/null)" ]; }; then
      rm -rf "$dir/.lock"; continue
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "another deploy or switch-back of $service runs here (pid ${holder:-?}; $dir/.lock)"; exit 1
    fi
    sleep 0.1 2>/dev/null || sleep 1
  done
  echo $$ > "$dir/.lock/pid"
  locked=1
}
unlock_service() { if [ -n "$locked" ]; then rm -rf "$dir/.lock"; fi; }

# The replaced release is retired in the background: the deploy is done once the new release takes
# the traffic, and the old one still gets its whole drain, then stands by (running, no traffic:
# a switch back to it is instant) for its standby seconds, then stops. DIR/retiring holds
# "<pid> <container>" while that runs, DIR/standby the container once its drain is over.
retirement() {  # sets $retiring_pid and $retiring_container ("" when none)
  retiring_pid="" retiring_container=""
  if [ -s "$dir/retiring" ]; then read -r retiring_pid retiring_container < "$dir/retiring" || true; fi
  # A retirement that died with a reboot, or was killed outright, is gone: its pid may be another
  # process's by now. Only this service's own `retire` is waited for or signalled.
  if [ -n "$retiring_pid" ] && ! retiring_runs "$retiring_pid"; then
    retired
    retiring_pid="" retiring_container=""
  fi
}
retiring_runs() {  # retiring_runs PID: PID is this service's retirement (where /proc can say)
  [ -r "/proc/$1/cmdline" ] || return 0
  case $(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null) in
    *" retire "*"--dir $dir "*) return 0 ;;
    *) return 1 ;;
  esac
}
retired() { rm -f "$dir/standby" "$dir/stopping" "$dir/retiring"; }  # its markers go
wait_retired() {  # wait_retired SECONDS: 0 once no retirement of this service runs
  retirement
  [ -n "$retiring_pid" ] || return 0
  deadline=$(( $(date +%s) + $1 ))
  while kill -0 "$retiring_pid" 2>/dev/null; do
    if [ -s "$dir/standby" ]; then
      # Drained and standing by: no request is in it, so the standby ends now.
      kill "$retiring_pid" 2>/dev/null || true
      log "ending the standby of $retiring_container"
      docker stop --time "$stop_seconds" "$retiring_container" >/dev/null 2>&1 || true
      keep_only "$keep"
      break
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "the retirement of the previous release (pid $retiring_pid) is still running"; return 1
    fi
    sleep 0.1 2>/dev/null || sleep 1
  done
  retired
}
# hasten_retirement: a retirement of this agent's standing by stops its release now, in the
# background: a stage starts nothing, and the deploy after it (wait_retired) finds that stop done,
# or waits for it. One still draining drains on; one of another agent version is left to the
# deploy, as before.
hasten_retirement() {
  retirement
  [ -n "$retiring_pid" ] && [ -s "$dir/standby" ] && [ ! -s "$dir/stopping" ] || return 0
  [ -r "/proc/$retiring_pid/cmdline" ] || return 0
  case $(tr '\0' ' ' < "/proc/$retiring_pid/cmdline" 2>/dev/null) in
    *"$0 retire "*) ;;
    *) return 0 ;;
  esac
  log "ending the standby of $retiring_container (it stops in the background)"
  kill -USR1 "$retiring_pid" 2>/dev/null || true
}
retire_in_background() {  # retire_in_background CONTAINER
  # Its own session and no open descriptors: the SSH session ends now, the retirement carries on.
  detach=""; if command -v setsid >/dev/null; then detach=setsid; fi
  $detach sh "$0" retire --env "$env" --service "$service" --dir "$dir" --container "$1" \
    --drain-seconds "$drain" --stop-seconds "$stop_seconds" --standby-seconds "$standby" \
    --keep "$keep" </dev/null >>"$dir/retire.log" 2>&1 &
  printf '%s %s\n' "$!" "$1" > "$dir/retiring"
}
retire() {
  while [ $# -gt 0 ]; do
    case $1 in
      --env) env=$2 ;; --service) service=$2 ;; --dir) dir=$2 ;; --container) live=$2 ;;
      --drain-seconds) drain=$2 ;; --stop-seconds) stop_seconds=$2 ;; --keep) keep=$2 ;;
      --standby-seconds) standby=$2 ;;
      *) log "retire: unknown option $1"; exit 2 ;;
    esac
    shift 2
  done
  legacy="$env-$service" sleeper=""
  # The next release's stage ends the standby early (hasten_retirement): the signal cuts the
  # standby's sleep short, never the drain (a trap waits for a command in the foreground).
  trap 'if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null || true; fi' USR1
  # Drain: requests already at the old release finish; it stands by, then stops (and is kept).
  if [ "$drain" -gt 0 ]; then sleep "$drain"; fi
  if [ -n "$live" ] && [ "${standby:-0}" -gt 0 ]; then
    printf '%s\n' "$live" > "$dir/standby"
    # Ended with TERM (a deploy or switch-back ends the standby), it takes its sleep along: an
    # orphaned sleep would idle out the rest of the standby. (The drain's is short, and its own.)
    trap 'if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null || true; fi; exit 143' TERM
    sleep "$standby" &
    sleeper=$!
    wait "$sleeper" || true
    trap - TERM
    sleeper=""
  fi
  # A switch-back that ends this retirement from now on waits for the stop to finish.
  if [ -n "$live" ]; then
    printf '%s\n' "$live" > "$dir/stopping"
    docker stop --time "$stop_seconds" "$live" >/dev/null || true
  fi
  # Containers of the earlier layout (one per service, on the service's port) are done now.
  for old in "$legacy" "$legacy-previous" "$legacy-failed"; do
    if exists "$old"; then docker rm --force "$old" >/dev/null; fi
  done
  keep_only "$keep"
  log "$(date -u +%Y-%m-%dT%H:%M:%SZ) retired ${live:-$legacy}"
  retired
}

deploy() {
  keep=3 drain=10 stop_seconds=30 standby=0 operation=deploy actor=unknown pause=0 proxy_host=127.0.0.1
  while [ $# -gt 0 ]; do
    case $1 in
      --env) env=$2 ;; --service) service=$2 ;; --sha) sha=$2 ;; --image) image=$2 ;;
      --health-path) health_path=$2 ;; --health-seconds) health_seconds=$2 ;; --dir) dir=$2 ;;
      --root) root=$2 ;; --id) id=$2 ;; --ports) ports=$2 ;; --port) port=$2 ;;
      --proxy-image) proxy_image=$2 ;; --drain-seconds) drain=$2 ;; --stop-seconds) stop_seconds=$2 ;;
      --keep) keep=$2 ;; --operation) operation=$2 ;; --where) where=$2 ;; --actor) actor=$2 ;;
      --pause) pause=$2 ;; --proxy-host) proxy_host=$2 ;; --standby-seconds) standby=$2 ;;
      --) shift; break ;;
      *) log "deploy: unknown option $1"; exit 2 ;;
    esac
    shift 2
  done
  proxy="$env-$service-proxy" legacy="$env-$service" previous_sha="" port_live=""
  command -v curl >/dev/null || { log "curl is required on the server for health checks"; exit 1; }
  mkdir -p "$dir/proxy"
  chmod 700 "$dir"
  [ -s "$dir/proxy/nginx.conf" ] || { log "no proxy config in $dir/proxy (run pulumi up again)"; exit 1; }
  lock_service 240
  tmp=$(mktemp -d "$dir/.incoming.XXXXXX")
  trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"; unlock_service' EXIT
  mkdir "$tmp/slipway"
  cat > "$tmp/slipway/app.env"
  envhash=$(sha256sum "$tmp/slipway/app.env" | cut -c1-16)

  # What serves now: the release named in DIR/active, else a container of the earlier layout.
  # DIR/active: "<container> <port> <the SHA it replaced>".
  live="" live_port="" live_replaced="" live_deploy="" live_envhash=""
  if [ -s "$dir/active" ]; then read -r live live_port live_replaced < "$dir/active" || true; fi
  inspected=$(inspect "$proxy" ${live:+"$live"})
  if [ -n "$live" ]; then
    state "$live" "$inspected"
    if [ "$st_running" = true ]; then live_sha=$st_sha live_deploy=$st_deploy live_envhash=$st_envhash
    else live="" live_port=""; fi
  fi
  state "$proxy" "$inspected"
  proxy_running=$st_running
  if [ -n "$live" ]; then
    previous_sha=$live_sha
    # A new config of the same commit replaces no commit: keep naming the one before.
    if [ "$previous_sha" = "$sha" ]; then previous_sha=$live_replaced; fi
  elif running "$legacy"; then
    previous_sha=$(label "$legacy" slipway.sha)
  fi
  # An interrupted deploy may have left the proxy pointing elsewhere: back to the live release.
  if [ -n "$live" ] && [ "$proxy_running" = true ] \
      && [ "$(cat "$dir/proxy/upstream.conf" 2>/dev/null)" != "$(upstream "$live_port")" ]; then
    log "an earlier deploy was interrupted; pointing the proxy back at $live"
    point_proxy "$live_port" || true
  fi
  # The same release with the same config and env already serves: leave it be.
  if [ -n "$live" ] && [ "$live_deploy" = "$id" ] \
      && [ "$live_envhash" = "$envhash" ] && [ "$proxy_running" = true ] \
      && answers "http://127.0.0.1:$live_port$health_path"; then
    previous_sha=$live_replaced port_live=$live_port
    log "$sha already serves as $live; nothing to do"
    report
    exit 0
  fi
  # A rollout's batches after the first wait before they switch (rollout.pauseSeconds).
  if [ "$pause" -gt 0 ]; then
    log "rollout: waiting ${pause}s before switching this server"
    sleep "$pause"
  fi
  # The port the new release gets may still be held by the release the last deploy replaced: a
  # stage, which starts nothing, has its standby end meanwhile; the deploy waits until it is free.
  if [ "$staging" = 1 ]; then hasten_retirement
  else wait_retired $(( drain + stop_seconds + 30 )) || exit 1; fi
  # The other internal port is the new release's.
  p1=${ports%,*} p2=${ports#*,}
  if [ "$live_port" = "$p1" ]; then new_port=$p2; else new_port=$p1; fi
  name="$env-$service-$(printf %.12s "$sha")-$new_port"
  url="http://127.0.0.1:$new_port$health_path"
  release_state "$name" "$new_port"
  if [ "$st_exists" = 1 ] && [ "$st_running" = false ] && [ "$st_deploy" = "$id" ] \
      && [ "$st_envhash" = "$envhash" ]; then
    log "$name was created earlier (staged, or kept from an earlier release): no pull"
  else
    if [ "$st_exists" = 1 ]; then docker rm --force "$name" >/dev/null; fi
    if ! docker image inspect "$image" >/dev/null 2>&1; then
      log "pulling $image"
      timeout 600 docker pull --quiet "$image" >/dev/null
    fi
    # The create argv, with what only this server knows filled in.
    for arg do
      shift
      replace "$arg" @NAME@ "$name"; replace "$replaced" @PORT@ "$new_port"
      replace "$replaced" @ENV_HASH@ "$envhash"; replace "$replaced" @PREVIOUS_SHA@ "$previous_sha"
      set -- "$@" "$replaced"
    done
    "$@" >/dev/null
    # The env file goes into the container itself, owned by the image's user (0400); when that
    # user cannot be resolved from the image's own passwd/group, readable by any user (0444).
    if owner=$(image_user_ids "$name"); then
      mode=400 dirmode=500
    else
      owner=0:0 mode=444 dirmode=555
    fi
    chmod "$dirmode" "$tmp/slipway"; chmod "$mode" "$tmp/slipway/app.env"
    tar -C "$tmp" --numeric-owner --owner="${owner%:*}" --group="${owner#*:}" -cf - slipway \
      | docker cp - "$name:/run"
  fi
  # The secrets are in the container now; none stay on the server's disk.
  chmod -R u+w "$tmp"
  rm -rf "$tmp/slipway"
  if [ "$staging" = 1 ]; then
    log "staged $name: created, not started (it starts after the migration)"
    exit 0
  fi
  if ! claim_port "$new_port"; then
    docker rm --force "$name" >/dev/null 2>&1 || true
    if [ -n "$live" ]; then log "$live (${previous_sha:-unknown}) kept serving"; fi
    audit failed
    exit 1
  fi
  log "starting $sha on port $new_port"
  if docker start "$name" >/dev/null && wait_healthy "$name" "$url" "$health_seconds"; then
    :
  else
    log "FAILED: $service $sha did not answer $url within ${health_seconds}s (it must listen on PORT," \
      "or {port} in its command); the app's last log lines:"
    docker logs --tail 40 "$name" 2>&1 | sed 's/^/  | /' >&2 || true
    docker rm --force "$name" >/dev/null 2>&1 || true
    if [ -n "$live" ]; then log "$live (${previous_sha:-unknown}) kept serving"; fi
    audit failed
    exit 1
  fi
  if ! point_proxy "$new_port"; then
    docker rm --force "$name" >/dev/null 2>&1 || true
    audit failed
    exit 1
  fi
  printf '%s %s %s\n' "$name" "$new_port" "$previous_sha" > "$dir/.active.tmp"
  mv -f "$dir/.active.tmp" "$dir/active"
  # What a switch-back needs of this deploy's settings (every value is free of spaces).
  printf '%s %s %s %s %s %s %s %s %s %s %s %s\n' "$env" "$service" "$root" "$port" "$ports" \
    "$health_path" "$health_seconds" "$drain" "$stop_seconds" "$standby" "$keep" "$proxy_host" \
    > "$dir/.settings.tmp"
  mv -f "$dir/.settings.tmp" "$dir/settings"
  port_live=$new_port
  log "$sha is healthy at $url and takes the traffic of port $port"
  audit "$([ "$operation" = rollback ] && echo rolled-back || echo deployed)"
  if [ -n "$live" ] || exists "$legacy"; then
    retire_in_background "$live"
    log "${live:-$legacy} drains for ${drain}s, then stops (in the background)"
  else
    keep_only "$keep"
  fi
  report
}

# proxy-config: write the service's nginx.conf (stdin); reload the running proxy if it accepts it.
proxy_config() {
  while [ $# -gt 0 ]; do
    case $1 in
      --dir) dir=$2 ;; --container) proxy=$2 ;;
      *) log "proxy-config: unknown option $1"; exit 2 ;;
    esac
    shift 2
  done
  mkdir -p "$dir/proxy"
  chmod 700 "$dir"
  cat > "$dir/proxy/.nginx.tmp"
  if [ -f "$dir/proxy/nginx.conf" ]; then cp "$dir/proxy/nginx.conf" "$dir/proxy/.nginx.old"; fi
  mv -f "$dir/proxy/.nginx.tmp" "$dir/proxy/nginx.conf"
  if running "$proxy" && ! proxy_reload; then
    log "the proxy refused its new config; the old one stays"
    if [ -f "$dir/proxy/.nginx.old" ]; then mv -f "$dir/proxy/.nginx.old" "$dir/proxy/nginx.conf"; fi
    exit 1
  fi
}

# remove: on `pulumi destroy` of the deploy that is live, the service's containers and proxy go.
# An older deploy's delete (after a replacement) finds another release live and removes nothing.
remove() {
  while [ $# -gt 0 ]; do
    case $1 in --env) env=$2 ;; --service) service=$2 ;; --dir) dir=$2 ;; --id) id=$2 ;;
      *) log "remove: unknown option $1"; exit 2 ;; esac
    shift 2
  done
  live=""
  if [ -s "$dir/active" ]; then read -r live _ < "$dir/active" || true; fi
  if [ -n "$live" ] && [ "$(label "$live" slipway.deploy)" != "$id" ]; then return 0; fi
  retirement
  if [ -n "$retiring_pid" ]; then kill "$retiring_pid" 2>/dev/null || true; fi
  # The releases first, the proxy last (it answers until nothing is behind it).
  docker ps --all --filter "label=slipway.env=$env" --filter "label=slipway.service=$service" \
    --filter label=slipway.role=app --format '{{.Names}}' \
    | while read -r c; do docker rm --force "$c" >/dev/null; done
  docker ps --all --filter "label=slipway.env=$env" --filter "label=slipway.service=$service" \
    --format '{{.Names}}' | while read -r c; do docker rm --force "$c" >/dev/null; done
  rm -rf "$dir"
}

# switch-back: the live release's traffic goes back to the retained release of SHA (by default
# the one it replaced): started if it stopped, at once if it still drains or stands by; the same
# health gate and switch as a deploy, with the settings the last deploy recorded. Exit 3: this
# server has no such release on the other port (a deploy of it is needed).
switch_back() {
  operation=rollback actor=unknown sha=""
  while [ $# -gt 0 ]; do
    case $1 in
      --dir) dir=$2 ;; --sha) sha=$2 ;; --where) where=$2 ;; --actor) actor=$2 ;;
      *) log "switch-back: unknown option $1"; exit 2 ;;
    esac
    shift 2
  done
  [ -s "$dir/settings" ] || { log "no deploy has recorded its settings in $dir"; exit 3; }
  read -r env service root port ports health_path health_seconds drain stop_seconds standby keep \
    proxy_host < "$dir/settings"
  lock_service 240
  trap unlock_service EXIT
  proxy="$env-$service-proxy" legacy="$env-$service" live="" live_port="" live_replaced=""
  if [ -s "$dir/active" ]; then read -r live live_port live_replaced < "$dir/active" || true; fi
  # A retirement running now may end (and stop its release) after the listing below: known here,
  # under the lock, since no new one starts while it is held.
  retiring_before=""; if [ -s "$dir/retiring" ]; then retiring_before=1; fi
  # The release on the other port is asked for its health meanwhile (one standing by answers at
  # once); the answer counts only if that release is found running there, nothing stopped since.
  p1=${ports%,*} p2=${ports#*,}
  if [ "$live_port" = "$p1" ]; then back_port=$p2; else back_port=$p1; fi
  url="http://127.0.0.1:$back_port$health_path"
  answers "$url" </dev/null >/dev/null 2>&1 &
  prechecked=$!
  # The releases are listed while the proxy and the live release are inspected: two docker calls
  # at once (the file is this service's alone while it holds the lock).
  list_releases > "$dir/.releases" &
  lister=$!
  proxy_inspected=$(inspect "$proxy" ${live:+"$live"})
  listed=0; wait "$lister" || listed=$?
  releases=$(cat "$dir/.releases" 2>/dev/null || true); rm -f "$dir/.releases"
  if [ "$listed" -ne 0 ]; then log "docker could not list the releases of $service"; exit 1; fi
  state "$proxy" "$proxy_inspected"
  proxy_running=$st_running proxy_image=$st_proxy
  if [ -n "$live" ]; then state "$live" "$proxy_inspected"; else st_running=false; fi
  if [ "$st_running" != true ] || [ "$proxy_running" != true ]; then
    log "no live release behind a running proxy in $dir"; exit 3
  fi
  current=$st_sha previous_sha=$live_replaced image=$st_image
  sha=${sha:-$live_replaced}
  if [ -z "$sha" ]; then log "$live replaced no earlier release"; exit 3; fi
  if [ "$current" = "$sha" ]; then
    port_live=$live_port
    log "$sha already serves as $live; nothing to do"
    report
    exit 0
  fi
  name="$env-$service-$(printf %.12s "$sha")-$back_port"
  release_state "$name" "$back_port" "$releases"
  if [ "$st_exists" != 1 ] || [ "$st_sha" != "$sha" ]; then
    log "no retained release of $sha on port $back_port"; exit 3
  fi
  # Its own retirement (drain or standby) ends here: it takes the traffic again. Any other one
  # holds the port it needs, so that one finishes first.
  retirement
  changed=""  # whether a container may have stopped since release_state read them
  # One that was there at the listing and is gone now ended in between, its stop included.
  if [ -n "$retiring_before" ] && [ -z "$retiring_pid" ]; then changed=1; fi
  if [ -n "$retiring_pid" ] && [ "$retiring_container" = "$name" ]; then
    # Killed, a retirement that had not written DIR/stopping never reaches its `docker stop`.
    kill "$retiring_pid" 2>/dev/null || true
    if [ -s "$dir/stopping" ]; then
      # Its stop had begun: let it finish (bounded by its stop timeout), then start it again.
      log "$name was stopping: waiting for that, then starting it"
      timeout $(( stop_seconds + 5 )) docker wait "$name" >/dev/null 2>&1 || true
      changed=1
    fi
    retired
  else
    wait_retired $(( drain + stop_seconds + 30 )) || exit 1
    if [ -n "$retiring_pid" ]; then changed=1; fi
  fi
  previous_sha=$current image=$st_image
  if [ -n "$changed" ]; then
    release_state "$name" "$back_port"
    proxy_inspected=""  # time has passed (a stop awaited): the proxy is read again before the switch
  fi
  healthy=""
  if [ "$st_running" = true ]; then
    log "$name is still running (draining or standing by): no start"
    if [ -z "$changed" ] && wait "$prechecked"; then healthy=1; fi
  else
    proxy_inspected=""  # a start takes seconds: the proxy is read again before the switch
    claim_port "$back_port" || { log "$live ($current) kept serving"; audit failed; exit 1; }
    log "starting the retained $name"
    docker start "$name" >/dev/null || { log "FAILED: $name did not start"; audit failed; exit 1; }
  fi
  if { [ -z "$healthy" ] && ! wait_healthy "$name" "$url" "$health_seconds"; } \
      || ! point_proxy "$back_port" "$proxy_inspected"; then
    log "FAILED: $service $sha did not take the traffic back; $live ($current) kept serving"
    docker stop --time "$stop_seconds" "$name" >/dev/null 2>&1 || true
    audit failed
    exit 1
  fi
  printf '%s %s %s\n' "$name" "$back_port" "$current" > "$dir/.active.tmp"
  mv -f "$dir/.active.tmp" "$dir/active"
  port_live=$back_port
  log "$sha takes the traffic of port $port again (switched back from $current)"
  audit rolled-back
  retire_in_background "$live"
  log "$live drains for ${drain}s, then stops (in the background)"
  report
}

case "${1:-}" in
  deploy) shift; staging=0; deploy "$@" ;;
  stage) shift; staging=1; deploy "$@" ;;
  proxy-config) shift; proxy_config "$@" ;;
  remove) shift; remove "$@" ;;
  retire) shift; retire "$@" ;;
  switch-back) shift; switch_back "$@" ;;
  audit) cat "${3:?usage: agent.sh audit --root DEPLOY_DIR}/.slipway/audit.log" 2>/dev/null || true ;;
  *) log "usage: agent.sh deploy|stage|proxy-config|remove|retire|switch-back|audit ..."; exit 2 ;;
esac
"""


def render_agent() -> str:
    """The agent's text."""
    return _AGENT


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
