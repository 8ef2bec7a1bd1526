# shellcheck shell=bash
# The built-in `local` stack's environment (make demo, make bench, tests): scripts/env.sh plus a
# file state backend under the cache and a passphrase that is public by design. Never for a real
# stack: the program and the slipway commands refuse this passphrase for any stack but `local`.
#   . "$(git rev-parse --show-toplevel)/scripts/local-env.sh"

# shellcheck source=scripts/env.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/env.sh"
if [[ -z "${PULUMI_BACKEND_URL:-}" ]]; then
    mkdir -p "${SLIPWAY_CACHE}/state"
    # metadata=skip: no `.attrs` sidecar files, which the file backend rewrites in place (a run
    # killed at that moment leaves the stack unreadable: "failed to load checkpoint: EOF"); the
    # state files themselves are written to a temporary file and renamed.
    export PULUMI_BACKEND_URL="file://${SLIPWAY_CACHE}/state?metadata=skip"
fi
if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
    export PULUMI_CONFIG_PASSPHRASE=slipway-local-sandbox
fi
