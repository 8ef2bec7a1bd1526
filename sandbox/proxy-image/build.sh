#!/usr/bin/env bash
# Build the sandbox's stand-in for the official nginx image, from Debian's own package, without
# pulling anything: debootstrap (bookworm, minbase + nginx-light) | docker import, then push it
# to the sandbox registry so that stacks pin it by digest as they pin the official image.
#
#   sandbox/proxy-image/build.sh      -> SANDBOX_PROXY_IMAGE=<ref@sha256:...> in $STATE/sandbox.env
#
# Cached like the base image: the debootstrap root under ${SLIPWAY_CACHE}/proxy-image/, the image
# keyed by this script's hash (label org.slipway.proxy-image.key). Needs root, docker, the
# sandbox registry (sandbox/up.sh) and its sandbox.env.
set -euo pipefail

CACHE_ROOT="${SLIPWAY_CACHE:-$HOME/.cache/slipway}"
CACHE="$CACHE_ROOT/proxy-image"
STATE="${SLIPWAY_SANDBOX_DIR:-$CACHE_ROOT/sandbox}"
SUITE=bookworm
INCLUDE=nginx-light,ca-certificates
LABEL=org.slipway.proxy-image.key
LOCAL=slipway/nginx:bookworm

log() { printf '[proxy-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -r "$STATE/sandbox.env" ]] || die "no $STATE/sandbox.env: run sandbox/up.sh first"
# shellcheck disable=SC1091
. "$STATE/sandbox.env"
REMOTE="$SANDBOX_REGISTRY/slipway/nginx:bookworm"
KEY="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"

image_key() { docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }

publish() {
  docker tag "$LOCAL" "$REMOTE"
  docker push --quiet "$REMOTE" >/dev/null || die "docker push $REMOTE failed"
  local digest
  digest="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$REMOTE" \
    | grep -F "$SANDBOX_REGISTRY/slipway/nginx@" | head -n 1 | cut -d@ -f2)"
  [[ "$digest" == sha256:* ]] || die "no registry digest for $REMOTE"
  # Into sandbox.env (up.sh rewrites it; `make sandbox` runs this right after).
  local line
  line="SANDBOX_PROXY_IMAGE='$REMOTE@$digest'"
  grep -v '^SANDBOX_PROXY_IMAGE=' "$STATE/sandbox.env" >"$STATE/.sandbox.env.tmp" || true
  printf '%s\n' "$line" >>"$STATE/.sandbox.env.tmp"
  chmod 600 "$STATE/.sandbox.env.tmp"
  mv -f "$STATE/.sandbox.env.tmp" "$STATE/sandbox.env"
  log "$REMOTE@$digest (SANDBOX_PROXY_IMAGE in $STATE/sandbox.env)"
}

if [[ "$(image_key "$LOCAL")" == "$KEY" ]]; then
  log "$LOCAL is up to date (key $KEY)"
  publish
  exit 0
fi
[[ $(id -u) == 0 ]] || die "must run as root (debootstrap)"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

ROOT="$CACHE/root-$SUITE-$(printf %s "$INCLUDE" | sha256sum | cut -c1-12)"
if [[ ! -f "$ROOT/.slipway-complete" ]]; then
  command -v debootstrap >/dev/null || {
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } >/dev/null \
      || die "apt-get install debootstrap failed"; }
  MIRROR="${SLIPWAY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  log "debootstrap $SUITE ($INCLUDE) from $MIRROR"
  rm -rf "$ROOT.tmp" "$ROOT"
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOT.tmp" "$MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1 || { tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
  rm -rf "$ROOT.tmp"/var/cache/apt/archives/*.deb "$ROOT.tmp"/var/lib/apt/lists/* \
    "$ROOT.tmp"/etc/nginx/sites-enabled/*
  touch "$ROOT.tmp/.slipway-complete"
  mv "$ROOT.tmp" "$ROOT"
fi
for old in "$CACHE"/root-*; do [[ "$old" == "$ROOT" ]] || rm -rf "$old"; done

log "docker import -> $LOCAL"
tar -C "$ROOT" --exclude=./.slipway-complete --numeric-owner -c . | docker import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "LABEL $LABEL=$KEY" \
  --change 'CMD ["nginx", "-g", "daemon off;"]' \
  --message "slipway sandbox proxy (Debian nginx-light), key $KEY" - "$LOCAL" >/dev/null
[[ "$(image_key "$LOCAL")" == "$KEY" ]] || die "imported image lacks label $LABEL=$KEY"
publish
