#!/usr/bin/env bash
# Print the toolchain bin dir for the current pins, without building anything:
#   ${SLIPWAY_CACHE:-$HOME/.cache/slipway}/toolchain/<key>/bin
# The directory exists only once toolchain/build.sh has run for these pins.
set -euo pipefail
# shellcheck source=toolchain/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
slipway_toolchain_bin_dir
