#!/usr/bin/env bash
# Build the local base image slipway/python-django:bookworm without pulling anything:
#   debootstrap (Debian bookworm, minbase + python3, ca-certificates, curl)
#   + pip install --target of the pinned packages in requirements.txt
#   + tar | docker import.
#
# Idempotent and cached:
#   * cache key = sha256 of requirements.txt + this script. It is stored on the image
#     as the label `org.slipway.base-image.key` and as the extra tag
#     slipway/python-django:key-<key>. If the image already carries the key, the
#     script exits at once.
#   * the debootstrap root and the finished root filesystem are kept under
#     ${SLIPWAY_CACHE:-$HOME/.cache/slipway}/base-image/, so after Docker's data is
#     lost the image is re-imported in seconds without debootstrap or pip.
#
# Needs root (debootstrap, chroot), docker, python3 with pip; installs debootstrap via apt if missing.
# Environment:
#   SLIPWAY_CACHE            cache root (default $HOME/.cache/slipway)
#   SLIPWAY_DEBIAN_MIRROR    Debian mirror for debootstrap (default: the host's apt mirror,
#                            else http://deb.debian.org/debian)
#   SLIPWAY_BASE_IMAGE       image name (default slipway/python-django:bookworm)
#   SLIPWAY_BASE_FORCE=1     rebuild the root filesystem even if cached
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGE="${SLIPWAY_BASE_IMAGE:-slipway/python-django:bookworm}"
REPO="${IMAGE%:*}"
CACHE="${SLIPWAY_CACHE:-$HOME/.cache/slipway}/base-image"
REQS="$HERE/requirements.txt"
SUITE=bookworm
PYVER=3.11
INCLUDE=python3,ca-certificates,curl
LABEL=org.slipway.base-image.key

log() { printf '[base-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

KEY="$(cat "$REQS" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"

image_key() {
  docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true
}

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "docker engine not reachable (start dockerd first)"

# Fast path: nothing to do.
if [[ "${SLIPWAY_BASE_FORCE:-0}" != 1 && "$(image_key "$IMAGE")" == "$KEY" ]]; then
  log "$IMAGE is up to date (key $KEY)"
  exit 0
fi

[[ $(id -u) == 0 ]] || die "must run as root (debootstrap/chroot)"
mkdir -p "$CACHE"

# One build at a time per cache directory.
exec 9>"$CACHE/.lock"
flock 9
# Someone else may have finished the same build while we waited.
if [[ "${SLIPWAY_BASE_FORCE:-0}" != 1 && "$(image_key "$IMAGE")" == "$KEY" ]]; then
  log "$IMAGE is up to date (key $KEY)"
  exit 0
fi

START=$SECONDS

# --- 1. debootstrap root (keyed by its own parameters only) -------------------------
mirror_default() {
  local m=""
  if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
    m="$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [[ -z "$m" && -r /etc/apt/sources.list ]]; then
    m="$(awk '$1=="deb" && $2 !~ /^\[/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list)"
  fi
  echo "${m:-http://deb.debian.org/debian}"
}
MIRROR="${SLIPWAY_DEBIAN_MIRROR:-$(mirror_default)}"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
BOOT_KEY="$(printf '%s\n' minbase "$SUITE" "$INCLUDE" "$ARCH" | sha256sum | cut -c1-12)"
BOOT="$CACHE/debootstrap-$SUITE-$BOOT_KEY"

if [[ ! -f "$BOOT/.slipway-complete" ]]; then
  if ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null || die "debootstrap not found"
    log "installing debootstrap (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } >/dev/null \
      || die "apt-get install debootstrap failed"
  fi
  log "debootstrap $SUITE ($INCLUDE) from $MIRROR into $BOOT"
  rm -rf "$BOOT.tmp" "$BOOT"
  debootstrap --variant=minbase --arch="$ARCH" --include="$INCLUDE" "$SUITE" "$BOOT.tmp" "$MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1 || { tail -n 30 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
  # Trim apt caches and lists: the image never runs apt (no network inside builds).
  rm -rf "$BOOT.tmp"/var/cache/apt/archives/*.deb "$BOOT.tmp"/var/lib/apt/lists/*
  touch "$BOOT.tmp/.slipway-complete"
  mv "$BOOT.tmp" "$BOOT"
  log "debootstrap done in $((SECONDS - START)) s"
else
  log "reusing debootstrap root $BOOT"
fi

# --- 2. root filesystem with the Python packages (keyed by KEY) ---------------------
ROOT="$CACHE/rootfs-$KEY"
if [[ "${SLIPWAY_BASE_FORCE:-0}" == 1 ]]; then rm -rf "$ROOT"; fi
if [[ ! -f "$ROOT/.slipway-complete" ]]; then
  T=$SECONDS
  rm -rf "$ROOT.tmp" "$ROOT"
  # Hard links: fast, and safe because the steps below only add new files to the root.
  cp -al "$BOOT" "$ROOT.tmp"
  rm -f "$ROOT.tmp/.slipway-complete"
  SITE="$ROOT.tmp/usr/local/lib/python$PYVER/dist-packages"
  mkdir -p "$SITE"

  # Wheels only, chosen for the image's CPython 3.11 and glibc (bookworm: 2.36),
  # whatever Python the host runs; bytecode is compiled by the image's own python.
  PYARCH="$(uname -m)"
  PLAT=(--platform "manylinux2014_$PYARCH")
  for minor in $(seq 17 36); do PLAT+=(--platform "manylinux_2_${minor}_$PYARCH"); done
  PY="$(command -v python3)"
  log "pip install --target (requirements: $REQS)"
  "$PY" -m pip install --disable-pip-version-check --no-input --quiet --root-user-action=ignore \
    --target "$SITE" --no-compile --only-binary=:all: \
    --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" "${PLAT[@]}" \
    -r "$REQS" || die "pip install failed"

  # pip --target writes console scripts with the host interpreter's shebang; replace
  # them with wrappers for the image's /usr/bin/python3.
  rm -rf "$SITE/bin"
  mkdir -p "$ROOT.tmp/usr/local/bin"
  cat >"$ROOT.tmp/usr/local/bin/gunicorn" <<'EOF'
#!/usr/bin/python3
import sys
from gunicorn.app.wsgiapp import run
sys.exit(run())
EOF
  cat >"$ROOT.tmp/usr/local/bin/django-admin" <<'EOF'
#!/usr/bin/python3
import sys
from django.core.management import execute_from_command_line
sys.exit(execute_from_command_line())
EOF
  chmod 0755 "$ROOT.tmp/usr/local/bin/gunicorn" "$ROOT.tmp/usr/local/bin/django-admin"
  # `python manage.py ...` must work too (Debian ships only python3 without python-is-python3).
  ln -sf /usr/bin/python3 "$ROOT.tmp/usr/local/bin/python"

  # Compile bytecode with the image's interpreter and prove the packages import there.
  chroot "$ROOT.tmp" /usr/bin/env -i PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m compileall -q -j 0 "/usr/local/lib/python$PYVER/dist-packages" >/dev/null \
    || die "compileall in the image root failed"
  chroot "$ROOT.tmp" /usr/bin/env -i PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -c \
    'import django, django_tenants, psycopg, gunicorn; print("django", django.get_version(), "psycopg", psycopg.__version__, psycopg.pq.__impl__, "gunicorn", gunicorn.__version__)' \
    >&2 || die "import check in the image root failed"

  printf '%s\n' "$KEY" >"$ROOT.tmp/etc/slipway-base-image"
  touch "$ROOT.tmp/.slipway-complete"
  mv "$ROOT.tmp" "$ROOT"
  log "root filesystem ready in $((SECONDS - T)) s"
else
  log "reusing root filesystem $ROOT"
fi

# Drop root filesystems of older keys (the debootstrap root is kept).
for old in "$CACHE"/rootfs-*; do
  [[ -e "$old" && "$old" != "$ROOT" ]] && { log "removing stale $old"; rm -rf "$old"; }
done

# --- 3. docker import ----------------------------------------------------------------
T=$SECONDS
log "docker import -> $IMAGE"
tar -C "$ROOT" --exclude=./.slipway-complete --numeric-owner -c . | docker import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV PYTHONUNBUFFERED=1" \
  --change "ENV PYTHONDONTWRITEBYTECODE=1" \
  --change "ENV LANG=C.UTF-8" \
  --change "LABEL $LABEL=$KEY" \
  --change 'CMD ["/usr/bin/python3"]' \
  --message "slipway base image, key $KEY" \
  - "$IMAGE" >/dev/null
docker tag "$IMAGE" "$REPO:key-$KEY"
# Untag images of older keys (only the tags; layers go when nothing uses them).
for tag in $(docker image ls --format '{{.Tag}}' "$REPO"); do
  [[ "$tag" == key-* && "$tag" != "key-$KEY" ]] && { docker rmi "$REPO:$tag" >/dev/null 2>&1 || true; }
done
[[ "$(image_key "$IMAGE")" == "$KEY" ]] || die "imported image lacks label $LABEL=$KEY"
log "imported in $((SECONDS - T)) s; total $((SECONDS - START)) s; $IMAGE key $KEY"
