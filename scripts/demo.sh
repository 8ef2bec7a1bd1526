#!/usr/bin/env bash
# `make demo`: run the whole pipeline on the built-in local environment against the sandbox.
# The committed Pulumi.local.yaml holds the static config; what the sandbox generates on this
# machine (host key, deploy key, passwords, a SECRET_KEY) goes into a copy under the cache, so
# the checkout stays clean and nothing secret is ever written to it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/local-env.sh
# Fail before touching anything when a provider plugin is missing (toolchain/README.md).
missing=()
for plugin in command docker github postgresql; do
  command -v "pulumi-resource-$plugin" >/dev/null || missing+=("pulumi-resource-$plugin")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "slipway demo: the toolchain has no ${missing[*]}." >&2
  for plugin in "${missing[@]}"; do
    note="$SLIPWAY_TOOLCHAIN_BIN/../unavailable/$plugin"
    [ -f "$note" ] && sed -n 's/^/  /;1,3p' "$note" >&2
  done
  echo "Build them with 'make toolchain' once the Go module proxy serves their modules." >&2
  exit 1
fi
cache="${SLIPWAY_CACHE:-$HOME/.cache/slipway}"
state="${SLIPWAY_SANDBOX_DIR:-$cache/sandbox}"
set -a; source "$state/sandbox.env"; set +a

work="$cache/local"
mkdir -p "$work"
config="$work/Pulumi.local.yaml"
stack=(--stack local --config-file "$config" --non-interactive)

if ! pulumi stack select local --non-interactive >/dev/null 2>&1; then
  # `stack init` would write a salt into the committed Pulumi.local.yaml: init from a scratch
  # copy of the project file instead (the file backend keeps the secrets provider's state).
  scratch=$(mktemp -d)
  cp Pulumi.yaml "$scratch/"
  pulumi stack init local --non-interactive --cwd "$scratch" >/dev/null
  rm -rf "$scratch"
fi
# The committed config, refreshed into the copy on every run (its salt and secrets stay).
python3 scripts/refresh_local_config.py Pulumi.local.yaml "$config"
# The machine-specific values, refreshed on every run (the sandbox may have new keys).
pulumi config set "${stack[@]}" --path 'slipway:server.hostKey' "$SANDBOX_SSH_HOST_PUBLIC_KEY"
pulumi config set "${stack[@]}" --path 'slipway:server.port' "$SANDBOX_SSH_PORT"
pulumi config set "${stack[@]}" --path 'slipway:github.owner' "$SANDBOX_GITHUB_OWNER"
pulumi config set "${stack[@]}" --path 'slipway:proxy.image' "$SANDBOX_PROXY_IMAGE"
pulumi config set "${stack[@]}" --secret slipway:sshPrivateKey < "$SANDBOX_SSH_KEY_FILE"
pulumi config set "${stack[@]}" --secret slipway:databaseAdminPassword < "$SANDBOX_PG_ADMIN_PASSWORD_FILE"
printf '%s' "$SANDBOX_GITHUB_TOKEN" | pulumi config set "${stack[@]}" --secret slipway:githubToken
if ! pulumi config get "${stack[@]}" --path 'slipway:secrets.SECRET_KEY' >/dev/null 2>&1; then
  python3 -c 'import secrets; print(secrets.token_urlsafe(48), end="")' \
    | pulumi config set "${stack[@]}" --secret --path 'slipway:secrets.SECRET_KEY'
fi
# The GitHub test double needs the repository to exist, as GitHub would.
curl -fsS -o /dev/null -X POST -H @<(printf 'Authorization: token %s\n' "$SANDBOX_GITHUB_TOKEN") \
  -H 'Content-Type: application/json' \
  -d "{\"owner\":\"$SANDBOX_GITHUB_OWNER\",\"name\":\"projectmeats\"}" \
  "${SANDBOX_GITHUB_URL}_double/repos" || true

# One line per resource while it runs, then what happened in a few lines (not every diff).
pulumi up "${stack[@]}" --yes --policy-pack policy --suppress-outputs
echo
python3 -m slipway.delivery.summary --stack local
