# shellcheck shell=bash
# Shared by toolchain/build.sh, toolchain/bin-dir.sh and scripts/env.sh.
# Source it; it defines functions and variables only and is safe under
# `set -euo pipefail`. Nothing here builds or downloads anything.

SLIPWAY_TOOLCHAIN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Cache root: everything built or downloaded lives under here, outside the checkout.
slipway_cache_root() {
    printf '%s\n' "${SLIPWAY_CACHE:-${HOME}/.cache/slipway}"
}

# The key of the current toolchain inputs: a hash of pins.env and every file
# under modules/ (paths relative to toolchain/, so it is the same in every
# checkout). It needs no Go and builds nothing.
slipway_toolchain_key() {
    (
        cd "${SLIPWAY_TOOLCHAIN_DIR}"
        find pins.env modules -type f ! -name '*~' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum \
            | sha256sum | cut -c1-16
    )
}

slipway_toolchain_home() {
    printf '%s/toolchain/%s\n' "$(slipway_cache_root)" "$(slipway_toolchain_key)"
}

slipway_toolchain_bin_dir() {
    printf '%s/bin\n' "$(slipway_toolchain_home)"
}

# Load pins.env into the current shell.
slipway_load_pins() {
    # shellcheck disable=SC1091
    . "${SLIPWAY_TOOLCHAIN_DIR}/pins.env"
}
