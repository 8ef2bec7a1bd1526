#!/usr/bin/env bash
# sandbox/up.sh - install (if missing) and start (or reuse) the local stand-ins
# that slipway deploys to, all on loopback:
#
#   dockerd            --bridge=none, no iptables; unix socket only
#   registry           127.0.0.1:5000   (docker-registry, delete enabled)
#   PostgreSQL 15      127.0.0.1:5432   (admin role slipway_admin, CREATEDB CREATEROLE)
#   sshd               127.0.0.1:2222   (the "remote server"; key-only, user deploy)
#   GitHub API double  127.0.0.1:8765   (sandbox/github_double; a TEST DOUBLE, not GitHub)
#   proxy image        slipway/nginx:bookworm, Debian's nginx (sandbox/proxy-image/build.sh)
#
# and writes $STATE/sandbox.env (mode 0600) describing them.  Idempotent: a
# second run only checks health and reuses what is running.
#
# State dir: ${SLIPWAY_SANDBOX_DIR:-${SLIPWAY_CACHE:-$HOME/.cache/slipway}/sandbox}
# Python for the double: $SLIPWAY_PYTHON, else <repo>/.venv/bin/python, else python3.
# Stop with sandbox/down.sh.
set -euo pipefail
umask 022

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${SLIPWAY_SANDBOX_DIR:-${SLIPWAY_CACHE:-$HOME/.cache/slipway}/sandbox}
LOGS=$STATE/logs
RUN=$STATE/run

LOOPBACK=127.0.0.1
REGISTRY_PORT=5000
PG_VERSION=15
PG_CLUSTER=main
PG_PORT=5432
PG_ADMIN=slipway_admin
SSH_PORT=2222
DEPLOY_USER=deploy
GH_PORT=8765
GH_LOGIN=slipway-bot
PYNACL_PIN=pynacl==1.5.0  # as in requirements-dev.txt

T0=$(date +%s.%N)

say() { printf 'sandbox: %s\n' "$*"; }

# die SERVICE LOGFILE MESSAGE...: name the failed service and where to look.
die() {
  local service=$1 log=$2
  shift 2
  printf 'sandbox: ERROR: %s failed: %s\n' "$service" "$*" >&2
  if [ -n "$log" ]; then
    printf 'sandbox:   log: %s\n' "$log" >&2
    if [ -s "$log" ]; then
      printf 'sandbox:   last lines of the log:\n' >&2
      tail -n 15 "$log" | sed 's/^/    | /' >&2
    fi
  fi
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "up.sh" "" "must run as root (it installs packages, adds a user and runs sshd)"

mkdir -p "$STATE" "$LOGS" "$RUN"
chmod 700 "$STATE"

# One up.sh at a time (tests and people may race).
exec 9>"$RUN/up.lock"
flock -w 600 9 || die "up.sh" "" "another up.sh holds $RUN/up.lock"

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

APT_UPDATED=
# apt_ensure PKG...: install the packages that are missing.  Services are kept
# from auto-starting (they would listen on all interfaces) by a policy-rc.d.
apt_ensure() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (apt; log $LOGS/apt.log)"
  local own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# slipway sandbox: no service auto-start during apt-get install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  local rc=0
  {
    if [ -z "$APT_UPDATED" ]; then
      apt-get -o DPkg::Lock::Timeout=600 update -q && APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
  } >>"$LOGS/apt.log" 2>&1 || rc=$?
  [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
  [ $rc -eq 0 ] || die "apt-get install ${missing[*]}" "$LOGS/apt.log" "exit code $rc"
}

# pid_alive NAME PATTERN: true if $RUN/NAME.pid names a live process whose
# command line contains PATTERN (guards against recycled pids).
pid_alive() {
  local f=$RUN/$1.pid pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2"
}

stop_pid() {  # stop_pid NAME: TERM, then KILL after 10 s
  local f=$RUN/$1.pid pid i
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

# start_bg NAME LOG CMD...: start a daemon in its own session, record its pid.
start_bg() {
  local name=$1 log=$2
  shift 2
  printf '\n==== %s starting %s\n' "$(date -u +%FT%TZ)" "$name" >>"$log"
  # 9>&-: the daemon must not inherit (and so hold forever) the up.lock descriptor.
  (cd "$STATE" && exec setsid "$@" >>"$log" 2>&1 </dev/null 9>&-) &
  echo $! >"$RUN/$name.pid"
}

# listeners PORT: "address pid" for every TCP listener on PORT.
listeners() {
  ss -ltnpH "sport = :$1" 2>/dev/null | awk '{
    addr=$4; sub(/:[0-9]+$/, "", addr); pid="-"
    if (match($0, /pid=[0-9]+/)) pid=substr($0, RSTART+4, RLENGTH-4)
    print addr, pid }'
}

# only_loopback PORT: every listener on PORT is bound to a loopback address.
only_loopback() {
  local addr pid
  while read -r addr pid; do
    case $addr in
      127.*|'[::1]'|'[::ffff:127.'*) ;;
      *) return 1 ;;
    esac
  done < <(listeners "$1")
}

port_busy() { [ -n "$(listeners "$1")" ]; }

who_listens() {  # who_listens PORT: "addr (pid N: command)" for the error message
  local addr pid
  while read -r addr pid; do
    printf '%s:%s (pid %s: %s) ' "$addr" "$1" "$pid" "$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | cut -c1-80)"
  done < <(listeners "$1")
}

wait_for() {  # wait_for SECONDS CMD...: poll CMD until it succeeds
  local deadline=$(( $(date +%s) + $1 ))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

file_sha() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }

# write_if_changed FILE MODE: replace FILE with stdin if different; true if changed.
write_if_changed() {
  local f=$1 mode=$2 tmp
  tmp=$(mktemp "$f.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [ -f "$f" ] && cmp -s "$tmp" "$f"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$f"
  return 0
}

gen_secret() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

report() { say "$(printf '%-14s %s' "$1" "$2")"; }

command -v ss >/dev/null || apt_ensure iproute2
command -v curl >/dev/null || apt_ensure curl

# ---------------------------------------------------------------------------
# dockerd
# ---------------------------------------------------------------------------

docker_ok() { timeout 20 docker info >/dev/null 2>&1; }

if ! command -v docker >/dev/null || ! command -v dockerd >/dev/null; then
  apt_ensure docker.io
fi
if docker_ok; then
  if pid_alive dockerd dockerd; then
    report dockerd "reused (started by up.sh, pid $(cat "$RUN/dockerd.pid"))"
  else
    report dockerd "reused (already running, not started by up.sh)"
  fi
elif pgrep -x dockerd >/dev/null; then
  die dockerd "$LOGS/dockerd.log" "a dockerd process (pid $(pgrep -x dockerd | tr '\n' ' ')) is running but 'docker info' does not answer"
else
  start_bg dockerd "$LOGS/dockerd.log" dockerd --bridge=none --iptables=false --ip6tables=false
  wait_for 60 docker_ok || die dockerd "$LOGS/dockerd.log" "'docker info' did not answer within 60 s"
  report dockerd "started (pid $(cat "$RUN/dockerd.pid"), --bridge=none --iptables=false --ip6tables=false)"
fi
# The network rule: no default bridge (docker0 would sit in 172.17.0.0/16).
if docker network inspect bridge >/dev/null 2>&1; then
  die dockerd "$LOGS/dockerd.log" "the running dockerd has its default bridge network; it must run with --bridge=none --iptables=false --ip6tables=false (loopback-only rule). Stop it and run up.sh again."
fi

# ---------------------------------------------------------------------------
# registry (docker-registry) on 127.0.0.1:5000
# ---------------------------------------------------------------------------

apt_ensure docker-registry
mkdir -p "$STATE/registry/data" "$STATE/registry/tls"
# TLS like a real registry (DigitalOcean's is HTTPS): the pulumi docker provider reads digests
# over HTTPS only. A sandbox CA signs a certificate for 127.0.0.1; dockerd, Go programs, curl
# and Python trust it through /etc/docker/certs.d and the system trust store.
REG_TLS=$STATE/registry/tls
if [ ! -s "$REG_TLS/ca.crt" ] || [ ! -s "$REG_TLS/registry.crt" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=slipway sandbox CA" \
    -keyout "$REG_TLS/ca.key" -out "$REG_TLS/ca.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$LOOPBACK" \
    -keyout "$REG_TLS/registry.key" -out "$REG_TLS/registry.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:%s,DNS:localhost\n' "$LOOPBACK" >"$REG_TLS/san.ext"
  openssl x509 -req -in "$REG_TLS/registry.csr" -CA "$REG_TLS/ca.crt" -CAkey "$REG_TLS/ca.key" \
    -CAcreateserial -days 3650 -extfile "$REG_TLS/san.ext" -out "$REG_TLS/registry.crt" >/dev/null 2>&1
  chmod 600 "$REG_TLS/ca.key" "$REG_TLS/registry.key"
fi
mkdir -p "/etc/docker/certs.d/$LOOPBACK:$REGISTRY_PORT"
cp "$REG_TLS/ca.crt" "/etc/docker/certs.d/$LOOPBACK:$REGISTRY_PORT/ca.crt"
if ! cmp -s "$REG_TLS/ca.crt" /usr/local/share/ca-certificates/slipway-sandbox-ca.crt; then
  apt_ensure ca-certificates
  cp "$REG_TLS/ca.crt" /usr/local/share/ca-certificates/slipway-sandbox-ca.crt
  update-ca-certificates >/dev/null 2>&1
fi
REG_CONF=$STATE/registry/config.yml
write_if_changed "$REG_CONF" 644 <<EOF || true
# slipway sandbox registry (written by sandbox/up.sh)
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $STATE/registry/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $LOOPBACK:$REGISTRY_PORT
  tls:
    certificate: $REG_TLS/registry.crt
    key: $REG_TLS/registry.key
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
registry_ok() { curl -fsS --max-time 3 --cacert "$REG_TLS/ca.crt" "https://$LOOPBACK:$REGISTRY_PORT/v2/" >/dev/null; }
REG_SIG=$(file_sha "$REG_CONF")
if pid_alive registry "$REG_CONF" && registry_ok && [ "$(cat "$RUN/registry.sig" 2>/dev/null)" = "$REG_SIG" ]; then
  report registry "reused (pid $(cat "$RUN/registry.pid"))"
else
  pid_alive registry "$REG_CONF" && stop_pid registry
  if port_busy $REGISTRY_PORT; then
    if registry_ok && only_loopback $REGISTRY_PORT; then
      report registry "reused (already on $LOOPBACK:$REGISTRY_PORT, not started by up.sh; storage not ours)"
    else
      die registry "$LOGS/registry.log" "port $REGISTRY_PORT is taken by: $(who_listens $REGISTRY_PORT)"
    fi
  else
    start_bg registry "$LOGS/registry.log" docker-registry serve "$REG_CONF"
    echo "$REG_SIG" >"$RUN/registry.sig"
    wait_for 30 registry_ok || die registry "$LOGS/registry.log" "https://$LOOPBACK:$REGISTRY_PORT/v2/ did not answer within 30 s"
    report registry "started (pid $(cat "$RUN/registry.pid")) storage $STATE/registry/data"
  fi
fi

# ---------------------------------------------------------------------------
# PostgreSQL 15 on 127.0.0.1:5432
# ---------------------------------------------------------------------------

apt_ensure postgresql-$PG_VERSION postgresql-client-$PG_VERSION
PG_LOG=/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log
PG_CONF_DIR=/etc/postgresql/$PG_VERSION/$PG_CLUSTER
if ! pg_lsclusters -h | awk -v v=$PG_VERSION -v c=$PG_CLUSTER '$1==v && $2==c {f=1} END {exit !f}'; then
  pg_createcluster $PG_VERSION $PG_CLUSTER >>"$LOGS/postgres-setup.log" 2>&1 ||
    die postgres "$LOGS/postgres-setup.log" "pg_createcluster $PG_VERSION $PG_CLUSTER"
fi
mkdir -p "$PG_CONF_DIR/conf.d"
write_if_changed "$PG_CONF_DIR/conf.d/50-slipway-sandbox.conf" 644 <<EOF || true
# slipway sandbox (sandbox/up.sh): loopback only
listen_addresses = '$LOOPBACK'
port = $PG_PORT
EOF
pg_online() { pg_lsclusters -h | awk -v v=$PG_VERSION -v c=$PG_CLUSTER '$1==v && $2==c && $4 ~ /^online/ {f=1} END {exit !f}'; }
pg_ready() { pg_isready -q -h $LOOPBACK -p $PG_PORT; }
if pg_online; then
  if ! only_loopback $PG_PORT; then
    say "postgres listens beyond loopback; restarting it with listen_addresses='$LOOPBACK'"
    pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PG_CLUSTER restart 9>&- ||
      die postgres "$PG_LOG" "pg_ctlcluster restart"
  fi
  if [ -f "$RUN/postgres.started" ]; then
    report postgres "reused (cluster $PG_VERSION/$PG_CLUSTER, started by up.sh)"
  else
    report postgres "reused (cluster $PG_VERSION/$PG_CLUSTER already running, not started by up.sh)"
  fi
else
  port_busy $PG_PORT && die postgres "$PG_LOG" "port $PG_PORT is taken by: $(who_listens $PG_PORT)"
  pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PG_CLUSTER start >>"$LOGS/postgres-setup.log" 2>&1 9>&- ||
    die postgres "$PG_LOG" "pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PG_CLUSTER start (see also $LOGS/postgres-setup.log)"
  touch "$RUN/postgres.started"
  report postgres "started (cluster $PG_VERSION/$PG_CLUSTER)"
fi
wait_for 30 pg_ready || die postgres "$PG_LOG" "not ready on $LOOPBACK:$PG_PORT within 30 s"

mkdir -p "$STATE/postgres"
chmod 700 "$STATE/postgres"
PG_PW_FILE=$STATE/postgres/admin_password
if [ ! -s "$PG_PW_FILE" ]; then
  (umask 077 && gen_secret 24 >"$PG_PW_FILE")
fi
chmod 600 "$PG_PW_FILE"
pg_admin_login() {
  PGPASSWORD=$(cat "$PG_PW_FILE") PGCONNECT_TIMEOUT=5 psql -X -q -w -h $LOOPBACK -p $PG_PORT -U $PG_ADMIN -d postgres \
    -tAc "select rolcreatedb and rolcreaterole from pg_roles where rolname = current_user" 2>>"$LOGS/postgres-setup.log" | grep -qx t
}
if pg_admin_login; then
  report pg-admin "reused (role $PG_ADMIN)"
else
  # The password travels on stdin, never on a command line.
  (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres) >>"$LOGS/postgres-setup.log" 2>&1 <<SQL ||
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ADMIN') THEN
    CREATE ROLE $PG_ADMIN LOGIN CREATEDB CREATEROLE PASSWORD '$(cat "$PG_PW_FILE")';
  ELSE
    ALTER ROLE $PG_ADMIN LOGIN CREATEDB CREATEROLE PASSWORD '$(cat "$PG_PW_FILE")';
  END IF;
END
\$\$;
SQL
    die postgres "$LOGS/postgres-setup.log" "could not create role $PG_ADMIN"
  if ! pg_admin_login; then
    # No password rule for 127.0.0.1 in pg_hba.conf: add one in front and reload.
    HBA=$PG_CONF_DIR/pg_hba.conf
    if ! grep -q '^# slipway sandbox' "$HBA"; then
      sed -i "1i # slipway sandbox (sandbox/up.sh): password logins over TCP on loopback\nhost all all $LOOPBACK/32 scram-sha-256" "$HBA"
    fi
    pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PG_CLUSTER reload >>"$LOGS/postgres-setup.log" 2>&1 9>&- || true
    sleep 1
    pg_admin_login || die postgres "$LOGS/postgres-setup.log" "TCP password login as $PG_ADMIN to $LOOPBACK:$PG_PORT fails (check $HBA)"
  fi
  report pg-admin "created/updated role $PG_ADMIN (CREATEDB CREATEROLE), password in $PG_PW_FILE"
fi

# ---------------------------------------------------------------------------
# sshd on 127.0.0.1:2222 as the "remote server"
# ---------------------------------------------------------------------------

apt_ensure openssh-server openssh-client
SSH_DIR=$STATE/ssh
mkdir -p "$SSH_DIR"
chmod 700 "$SSH_DIR"
HOST_KEY=$SSH_DIR/ssh_host_ed25519_key
CLIENT_KEY=$SSH_DIR/client_ed25519_key
KNOWN_HOSTS=$SSH_DIR/known_hosts
SSHD_CONF=$SSH_DIR/sshd_config
[ -s "$HOST_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C "slipway-sandbox-host" -f "$HOST_KEY"
[ -s "$CLIENT_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C "slipway-sandbox-deploy" -f "$CLIENT_KEY"
chmod 600 "$HOST_KEY" "$CLIENT_KEY"
HOST_PUB=$(cut -d' ' -f1,2 "$HOST_KEY.pub")
printf '[%s]:%s %s\n' "$LOOPBACK" "$SSH_PORT" "$HOST_PUB" | write_if_changed "$KNOWN_HOSTS" 644 || true

# The deploy user: may run docker against the same dockerd.
getent group docker >/dev/null || groupadd --system docker
if ! getent passwd "$DEPLOY_USER" >/dev/null; then
  useradd --create-home --shell /bin/bash --groups docker "$DEPLOY_USER"
  report deploy-user "created ($DEPLOY_USER, group docker)"
fi
id -nG "$DEPLOY_USER" | tr ' ' '\n' | grep -qx docker || usermod -aG docker "$DEPLOY_USER"
# '!' (locked) makes sshd refuse even key logins without PAM; '*' = no password, not locked.
case $(getent shadow "$DEPLOY_USER" | cut -d: -f2) in
  '!'*|'') usermod -p '*' "$DEPLOY_USER" ;;
esac
DEPLOY_HOME=$(getent passwd "$DEPLOY_USER" | cut -d: -f6)
install -d -m 700 -o "$DEPLOY_USER" -g "$DEPLOY_USER" "$DEPLOY_HOME/.ssh"
cut -d' ' -f1,2 "$CLIENT_KEY.pub" | sed 's/$/ slipway-sandbox-deploy/' | write_if_changed "$DEPLOY_HOME/.ssh/authorized_keys" 600 || true
chown "$DEPLOY_USER:$DEPLOY_USER" "$DEPLOY_HOME/.ssh/authorized_keys"

write_if_changed "$SSHD_CONF" 644 <<EOF || true
# slipway sandbox sshd (written by sandbox/up.sh): the stand-in remote server.
Port $SSH_PORT
ListenAddress $LOOPBACK
AddressFamily inet
HostKey $HOST_KEY
PidFile none
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
AuthenticationMethods publickey
PermitRootLogin prohibit-password
AllowUsers $DEPLOY_USER
UsePAM no
StrictModes yes
X11Forwarding no
PrintMotd no
MaxStartups 100:30:200
MaxSessions 50
LogLevel VERBOSE
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
mkdir -p /run/sshd
chmod 755 /run/sshd
/usr/sbin/sshd -t -f "$SSHD_CONF" >>"$LOGS/sshd.log" 2>&1 || die sshd "$LOGS/sshd.log" "sshd -t rejects $SSHD_CONF"

SSH_OPTS=(-F /dev/null -p "$SSH_PORT" -i "$CLIENT_KEY" -o IdentitiesOnly=yes -o BatchMode=yes
  -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$KNOWN_HOSTS" -o ConnectTimeout=5)
ssh_ok() { ssh "${SSH_OPTS[@]}" "$DEPLOY_USER@$LOOPBACK" true; }
SSHD_SIG=$(file_sha "$SSHD_CONF" "$HOST_KEY.pub")
if pid_alive sshd "$SSHD_CONF" && [ "$(cat "$RUN/sshd.sig" 2>/dev/null)" = "$SSHD_SIG" ] && ssh_ok 2>/dev/null; then
  report sshd "reused (pid $(cat "$RUN/sshd.pid"))"
else
  pid_alive sshd "$SSHD_CONF" && stop_pid sshd
  port_busy $SSH_PORT && die sshd "$LOGS/sshd.log" "port $SSH_PORT is taken by: $(who_listens $SSH_PORT)"
  start_bg sshd "$LOGS/sshd.log" /usr/sbin/sshd -D -e -f "$SSHD_CONF"
  echo "$SSHD_SIG" >"$RUN/sshd.sig"
  wait_for 20 port_busy $SSH_PORT || die sshd "$LOGS/sshd.log" "not listening on $LOOPBACK:$SSH_PORT within 20 s"
  report sshd "started (pid $(cat "$RUN/sshd.pid"))"
fi
SSH_ERR=$LOGS/ssh-check.log
ssh "${SSH_OPTS[@]}" "$DEPLOY_USER@$LOOPBACK" docker ps >/dev/null 2>"$SSH_ERR" ||
  die sshd "$SSH_ERR" "'ssh -p $SSH_PORT $DEPLOY_USER@$LOOPBACK docker ps' with the pinned host key fails (sshd log: $LOGS/sshd.log)"

# ---------------------------------------------------------------------------
# Test hosts: separate machines, each a network namespace with only its own loopback
# (../shared/SANDBOX.md), its own containerd + dockerd, its own sshd and host key. The
# pipeline reaches a host's sshd at 127.0.0.1:<2300+N> through a socat bridge over a Unix
# socket; the host reaches the sandbox registry at its own 127.0.0.1:5000 the same way.
# The database host also runs a PostgreSQL cluster that listens only inside it (127.0.0.1:5433
# there; nothing listens on that port outside), as a managed database that accepts only the
# droplet does.
# ---------------------------------------------------------------------------

apt_ensure socat iproute2 util-linux
# Four hosts: a three-server rollout, plus one to add to it.
HOSTS=${SLIPWAY_SANDBOX_HOSTS:-h1 h2 h3 h4}
DB_HOST=${SLIPWAY_SANDBOX_DB_HOST:-h1}
HOST_PG_PORT=5433
HOSTS_DIR=$STATE/hosts
mkdir -p "$HOSTS_DIR"
chmod 755 "$HOSTS_DIR"

# in_host HOST CMD...: run CMD in the host's network namespace (nsenter, not `ip netns exec`,
# which remounts /sys and makes dockerd die).
in_host() { local h=$1; shift; nsenter --net="/run/netns/slipway-$h" "$@"; }

# bridge_into HOST NAME PORT: the root namespace's 127.0.0.1:PORT at the host's own
# 127.0.0.1:PORT, through a Unix socket (no routable address anywhere).
bridge_into() {
  local h=$1 name=$2 port=$3 d=$HOSTS_DIR/$1
  if ! pid_alive "$h-$name-out" "$d/sock/$name.sock"; then
    rm -f "$d/sock/$name.sock"
    start_bg "$h-$name-out" "$LOGS/$h-bridges.log" socat \
      "UNIX-LISTEN:$d/sock/$name.sock,fork,mode=600" "TCP:$LOOPBACK:$port"
    wait_for 10 test -S "$d/sock/$name.sock" || die "$h $name bridge" "$LOGS/$h-bridges.log" "no socket"
  fi
  if ! pid_alive "$h-$name-in" "UNIX-CONNECT:$d/sock/$name.sock"; then
    start_bg "$h-$name-in" "$LOGS/$h-bridges.log" nsenter --net="/run/netns/slipway-$h" socat \
      "TCP-LISTEN:$port,bind=$LOOPBACK,fork,reuseaddr" "UNIX-CONNECT:$d/sock/$name.sock"
  fi
}

host_up() {
  local h=$1 n=${1#h} d=$HOSTS_DIR/$1
  local ssh_port=$((2300 + n)) ns=slipway-$1
  mkdir -p "$d/containerd" "$d/docker" "$d/ssh" "$d/sock"
  chmod 755 "$d" "$d/sock"
  if ! ip netns list | grep -qw "$ns"; then
    ip netns add "$ns"
  fi
  in_host "$h" ip link set lo up

  # containerd, then dockerd, both inside the namespace (with the system containerd,
  # `--network host` containers would land in the root namespace).
  : >"$d/containerd/config.toml"
  if ! pid_alive "$h-containerd" "$d/containerd/containerd.sock"; then
    rm -f "$d/containerd/containerd.sock"
    start_bg "$h-containerd" "$LOGS/$h-containerd.log" nsenter --net="/run/netns/$ns" containerd \
      --config "$d/containerd/config.toml" --address "$d/containerd/containerd.sock" \
      --root "$d/containerd/root" --state "$d/containerd/state"
    wait_for 30 test -S "$d/containerd/containerd.sock" || die "$h containerd" "$LOGS/$h-containerd.log" "no socket within 30 s"
  fi
  # The deploy user reaches the socket: it lives outside the (root-only) state dir.
  local rundir=/run/slipway-sandbox/$h
  install -d -m 755 /run/slipway-sandbox "$rundir"
  local docker_sock=$rundir/docker.sock
  if ! pid_alive "$h-dockerd" "$docker_sock"; then
    rm -f "$docker_sock"
    start_bg "$h-dockerd" "$LOGS/$h-dockerd.log" nsenter --net="/run/netns/$ns" dockerd \
      --host "unix://$docker_sock" --containerd "$d/containerd/containerd.sock" --group docker \
      --data-root "$d/docker/data" --exec-root "$rundir/exec" --pidfile "$rundir/dockerd.pid" \
      --bridge=none --iptables=false --ip6tables=false
    wait_for 60 timeout 10 docker -H "unix://$docker_sock" info >/dev/null 2>&1 ||
      die "$h dockerd" "$LOGS/$h-dockerd.log" "'docker info' did not answer within 60 s"
  fi
  docker -H "unix://$docker_sock" network inspect bridge >/dev/null 2>&1 &&
    die "$h dockerd" "$LOGS/$h-dockerd.log" "has a default bridge network (it must run with --bridge=none)"

  # The registry, at the host's own 127.0.0.1:5000; the sandbox's Postgres at its own
  # 127.0.0.1:5432 (the apps of several servers share one database, as a fleet does; the
  # database host's own cluster, below, is another port).
  bridge_into "$h" registry "$REGISTRY_PORT"
  bridge_into "$h" pg "$PG_PORT"

  # sshd on the host's 127.0.0.1:22, its own host key; the deploy user's docker is the host's.
  [ -s "$d/ssh/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C "slipway-sandbox-$h" -f "$d/ssh/host_key"
  chmod 600 "$d/ssh/host_key"
  write_if_changed "$d/ssh/sshd_config" 644 <<CONF || true
# slipway sandbox test host $h (written by sandbox/up.sh)
Port 22
ListenAddress $LOOPBACK
AddressFamily inet
HostKey $d/ssh/host_key
PidFile none
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthenticationMethods publickey
AllowUsers $DEPLOY_USER
UsePAM no
X11Forwarding no
AllowTcpForwarding local
PrintMotd no
MaxStartups 100:30:200
MaxSessions 50
SetEnv DOCKER_HOST=unix://$docker_sock SLIPWAY_TEST_HOST=$h
CONF
  local sig
  sig=$(file_sha "$d/ssh/sshd_config" "$d/ssh/host_key.pub")
  if ! pid_alive "$h-sshd" "$d/ssh/sshd_config" || [ "$(cat "$RUN/$h-sshd.sig" 2>/dev/null)" != "$sig" ]; then
    pid_alive "$h-sshd" "$d/ssh/sshd_config" && stop_pid "$h-sshd"
    start_bg "$h-sshd" "$LOGS/$h-sshd.log" nsenter --net="/run/netns/$ns" /usr/sbin/sshd -D -e -f "$d/ssh/sshd_config"
    echo "$sig" >"$RUN/$h-sshd.sig"
  fi
  if ! pid_alive "$h-ssh-in" "$d/sock/ssh.sock"; then
    rm -f "$d/sock/ssh.sock"
    start_bg "$h-ssh-in" "$LOGS/$h-bridges.log" nsenter --net="/run/netns/$ns" socat \
      "UNIX-LISTEN:$d/sock/ssh.sock,fork,mode=600" "TCP:$LOOPBACK:22"
    wait_for 10 test -S "$d/sock/ssh.sock" || die "$h ssh bridge" "$LOGS/$h-bridges.log" "no socket"
  fi
  if ! pid_alive "$h-ssh-out" "TCP-LISTEN:$ssh_port"; then
    port_busy "$ssh_port" && die "$h ssh bridge" "" "port $ssh_port is taken by: $(who_listens "$ssh_port")"
    start_bg "$h-ssh-out" "$LOGS/$h-bridges.log" socat \
      "TCP-LISTEN:$ssh_port,bind=$LOOPBACK,fork,reuseaddr" "UNIX-CONNECT:$d/sock/ssh.sock"
    wait_for 10 port_busy "$ssh_port" || die "$h ssh bridge" "$LOGS/$h-bridges.log" "not listening on $ssh_port"
  fi
  local pub known
  pub=$(cut -d' ' -f1,2 "$d/ssh/host_key.pub")
  known=$d/ssh/known_hosts
  printf '[%s]:%s %s\n' "$LOOPBACK" "$ssh_port" "$pub" | write_if_changed "$known" 644 || true
  local check=(ssh -F /dev/null -p "$ssh_port" -i "$CLIENT_KEY" -o IdentitiesOnly=yes -o BatchMode=yes
    -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$known" -o ConnectTimeout=5 "$DEPLOY_USER@$LOOPBACK")
  wait_for 20 "${check[@]}" true 2>/dev/null || die "$h sshd" "$LOGS/$h-sshd.log" "ssh to $h on $LOOPBACK:$ssh_port fails"
  [ "$("${check[@]}" 'echo $SLIPWAY_TEST_HOST' 2>/dev/null)" = "$h" ] ||
    die "$h sshd" "$LOGS/$h-sshd.log" "port $ssh_port does not reach test host $h"
  "${check[@]}" docker ps >/dev/null 2>>"$LOGS/$h-sshd.log" || die "$h docker" "$LOGS/$h-sshd.log" "the deploy user cannot use $h's docker"
  install -d -m 755 -o "$DEPLOY_USER" -g "$DEPLOY_USER" "$DEPLOY_HOME/hosts" "$DEPLOY_HOME/hosts/$h"
  HOST_ENV+="SANDBOX_${h^^}_SSH_PORT=$(q "$ssh_port")
SANDBOX_${h^^}_HOST_PUBLIC_KEY=$(q "$pub")
SANDBOX_${h^^}_KNOWN_HOSTS=$(q "$known")
SANDBOX_${h^^}_DOCKER_HOST=$(q "unix://$docker_sock")
SANDBOX_${h^^}_DEPLOY_DIR=$(q "$DEPLOY_HOME/hosts/$h/slipway")
"
  report "host $h" "ready (netns $ns; ssh $LOOPBACK:$ssh_port; docker unix://$docker_sock)"
}

# host_postgres HOST: a cluster that listens only inside HOST, with its own admin role.
host_postgres() {
  local h=$1 cluster=$1 d=$HOSTS_DIR/$1
  local sockdir=/run/slipway-sandbox/$1/pg pw_file=$d/pg_admin_password
  install -d -m 2775 -o postgres -g postgres "$sockdir"
  if ! pg_lsclusters -h | awk -v v=$PG_VERSION -v c="$cluster" '$1==v && $2==c {f=1} END {exit !f}'; then
    pg_createcluster $PG_VERSION "$cluster" --port $HOST_PG_PORT >>"$LOGS/$h-postgres.log" 2>&1 ||
      die "$h postgres" "$LOGS/$h-postgres.log" "pg_createcluster $PG_VERSION $cluster"
  fi
  local conf=/etc/postgresql/$PG_VERSION/$cluster
  mkdir -p "$conf/conf.d"
  write_if_changed "$conf/conf.d/50-slipway-sandbox.conf" 644 <<CONF || true
# slipway sandbox (sandbox/up.sh): inside test host $h only
listen_addresses = '$LOOPBACK'
port = $HOST_PG_PORT
unix_socket_directories = '$sockdir'
CONF
  if ! grep -q '^# slipway sandbox' "$conf/pg_hba.conf"; then
    sed -i "1i # slipway sandbox (sandbox/up.sh): password logins over TCP on loopback\nhost all all $LOOPBACK/32 scram-sha-256" "$conf/pg_hba.conf"
  fi
  if ! pg_lsclusters -h | awk -v v=$PG_VERSION -v c="$cluster" '$1==v && $2==c && $4 ~ /^online/ {f=1} END {exit !f}'; then
    in_host "$h" pg_ctlcluster --skip-systemctl-redirect $PG_VERSION "$cluster" start >>"$LOGS/$h-postgres.log" 2>&1 9>&- ||
      die "$h postgres" "/var/log/postgresql/postgresql-$PG_VERSION-$cluster.log" "pg_ctlcluster start in $h"
    touch "$RUN/$h-postgres.started"
  fi
  wait_for 30 in_host "$h" pg_isready -q -h $LOOPBACK -p $HOST_PG_PORT ||
    die "$h postgres" "/var/log/postgresql/postgresql-$PG_VERSION-$cluster.log" "not ready inside $h"
  if pg_isready -q -h $LOOPBACK -p $HOST_PG_PORT 2>/dev/null; then
    die "$h postgres" "" "$LOOPBACK:$HOST_PG_PORT answers outside $h: it must listen only inside it"
  fi
  [ -s "$pw_file" ] || (umask 077 && gen_secret 24 >"$pw_file")
  chmod 600 "$pw_file"
  (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p $HOST_PG_PORT -d postgres) >>"$LOGS/$h-postgres.log" 2>&1 <<SQL ||
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ADMIN') THEN
    CREATE ROLE $PG_ADMIN LOGIN CREATEDB CREATEROLE PASSWORD '$(cat "$pw_file")';
  ELSE
    ALTER ROLE $PG_ADMIN LOGIN CREATEDB CREATEROLE PASSWORD '$(cat "$pw_file")';
  END IF;
END
\$\$;
SQL
    die "$h postgres" "$LOGS/$h-postgres.log" "could not create role $PG_ADMIN in $h"
  HOST_ENV+="SANDBOX_DB_HOST=$(q "$h")
SANDBOX_DB_HOST_PG_PORT=$(q "$HOST_PG_PORT")
SANDBOX_DB_HOST_PG_ADMIN_PASSWORD_FILE=$(q "$pw_file")
SANDBOX_DB_HOST_PG_SOCKET_DIR=$(q "$sockdir")
"
  report "postgres $h" "cluster $PG_VERSION/$cluster, only inside $h on $LOOPBACK:$HOST_PG_PORT"
}

q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
HOST_ENV=""
for h in $HOSTS; do
  case $h in h[1-9]) ;; *) die "test hosts" "" "host names are h1..h9, not $h" ;; esac
  host_up "$h"
done
case " $HOSTS " in *" $DB_HOST "*) host_postgres "$DB_HOST" ;; esac
HOST_ENV+="SANDBOX_HOSTS=$(q "$HOSTS")
"

# ---------------------------------------------------------------------------
# GitHub API test double on 127.0.0.1:8765
# ---------------------------------------------------------------------------

if [ -n "${SLIPWAY_PYTHON:-}" ]; then
  PY=$SLIPWAY_PYTHON
elif [ -x "$REPO_ROOT/.venv/bin/python" ]; then
  PY=$REPO_ROOT/.venv/bin/python
else
  PY=$(command -v python3 || true)
fi
[ -n "$PY" ] && [ -x "$(command -v "$PY")" ] || die github-double "" "no Python found (set SLIPWAY_PYTHON)"
if ! "$PY" -c 'import nacl.public' 2>/dev/null; then
  say "installing $PYNACL_PIN into $PY (log $LOGS/pip.log)"
  "$PY" -m pip install -q "$PYNACL_PIN" >>"$LOGS/pip.log" 2>&1 ||
    die github-double "$LOGS/pip.log" "pip install $PYNACL_PIN into $PY"
fi
GH_DIR=$STATE/github
GH_STATE_DIR=$GH_DIR/double
GH_TOKEN_FILE=$GH_DIR/token
mkdir -p "$GH_STATE_DIR"
chmod 700 "$GH_DIR" "$GH_STATE_DIR"
if [ ! -s "$GH_TOKEN_FILE" ]; then
  (umask 077 && printf 'ghd_%s\n' "$(gen_secret 20)" >"$GH_TOKEN_FILE")
fi
chmod 600 "$GH_TOKEN_FILE"
GH_TOKEN=$(cat "$GH_TOKEN_FILE")
GH_SERVER=$REPO_ROOT/sandbox/github_double/server.py
GH_URL=http://$LOOPBACK:$GH_PORT/
gh_ok() {
  curl -fsS --max-time 3 "${GH_URL}_double/health" | grep -qF "\"state_dir\": \"$GH_STATE_DIR\"" &&
    curl -fsS --max-time 3 -o /dev/null -H "Authorization: token $GH_TOKEN" "${GH_URL}api/v3/user"
}
GH_SIG=$(printf '%s\n%s\n%s\n' "$PY" "$(file_sha "$GH_SERVER")" "$(file_sha "$GH_TOKEN_FILE")" | sha256sum | cut -d' ' -f1)
if pid_alive github-double "$GH_SERVER" && [ "$(cat "$RUN/github-double.sig" 2>/dev/null)" = "$GH_SIG" ] && gh_ok; then
  report github-double "reused (pid $(cat "$RUN/github-double.pid"))"
else
  pid_alive github-double "github_double/server.py" && stop_pid github-double
  port_busy $GH_PORT && die github-double "$LOGS/github-double.log" "port $GH_PORT is taken by: $(who_listens $GH_PORT)"
  start_bg github-double "$LOGS/github-double.log" "$PY" "$GH_SERVER" --host $LOOPBACK --port $GH_PORT \
    --state-dir "$GH_STATE_DIR" --token-file "$GH_TOKEN_FILE" --login "$GH_LOGIN"
  echo "$GH_SIG" >"$RUN/github-double.sig"
  wait_for 20 gh_ok || die github-double "$LOGS/github-double.log" "${GH_URL} did not answer within 20 s"
  report github-double "started (pid $(cat "$RUN/github-double.pid"), $PY)"
fi

# ---------------------------------------------------------------------------
# Every port we serve must be loopback-only.
# ---------------------------------------------------------------------------

for port in $REGISTRY_PORT $PG_PORT $SSH_PORT $GH_PORT $(for h in $HOSTS; do echo $((2300 + ${h#h})); done); do
  only_loopback "$port" || die "loopback check" "" "port $port has a non-loopback listener: $(who_listens "$port")"
done

# ---------------------------------------------------------------------------
# sandbox.env
# ---------------------------------------------------------------------------

write_if_changed "$STATE/sandbox.env" 600 <<EOF || true
# slipway sandbox, written by sandbox/up.sh - source it:  . '$STATE/sandbox.env'
# Everything listens on 127.0.0.1 only.  Contains a token: keep it mode 0600.
SANDBOX_STATE_DIR=$(q "$STATE")
SANDBOX_DOCKER_HOST=$(q "unix:///var/run/docker.sock")
SANDBOX_REGISTRY=$(q "$LOOPBACK:$REGISTRY_PORT")
SANDBOX_REGISTRY_URL=$(q "https://$LOOPBACK:$REGISTRY_PORT")
SANDBOX_REGISTRY_CA=$(q "$REG_TLS/ca.crt")
SANDBOX_PG_HOST=$(q "$LOOPBACK")
SANDBOX_PG_PORT=$(q "$PG_PORT")
SANDBOX_PG_ADMIN_USER=$(q "$PG_ADMIN")
SANDBOX_PG_ADMIN_PASSWORD_FILE=$(q "$PG_PW_FILE")
SANDBOX_SSH_HOST=$(q "$LOOPBACK")
SANDBOX_SSH_PORT=$(q "$SSH_PORT")
SANDBOX_SSH_USER=$(q "$DEPLOY_USER")
SANDBOX_SSH_KEY_FILE=$(q "$CLIENT_KEY")
SANDBOX_SSH_HOST_PUBLIC_KEY=$(q "$HOST_PUB")
SANDBOX_SSH_KNOWN_HOSTS=$(q "$KNOWN_HOSTS")
SANDBOX_GITHUB_URL=$(q "$GH_URL")
SANDBOX_GITHUB_API_URL=$(q "${GH_URL}api/v3/")
SANDBOX_GITHUB_TOKEN=$(q "$GH_TOKEN")
SANDBOX_GITHUB_OWNER=$(q "$GH_LOGIN")
SANDBOX_GITHUB_DOUBLE_DIR=$(q "$GH_STATE_DIR")
$HOST_ENV
EOF
chmod 600 "$STATE/sandbox.env"

# The proxy's stand-in image (Debian's nginx), pushed to the registry and pinned by digest in
# sandbox.env as SANDBOX_PROXY_IMAGE (cached: seconds once built).
SLIPWAY_SANDBOX_DIR="$STATE" bash "$REPO_ROOT/sandbox/proxy-image/build.sh" \
  || die "proxy-image" "" "sandbox/proxy-image/build.sh failed (see its messages above)"

say "ready in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s; env: $STATE/sandbox.env"
