#!/usr/bin/env bash
# `make toolchain`: build the hermetic toolchain, unless scripts/env.sh chose the standard
# Pulumi on PATH (SLIPWAY_PULUMI=standard, or auto with a pulumi v3 CLI installed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
. "${here}/../scripts/env.sh"
if [[ "${SLIPWAY_PULUMI_MODE}" == standard ]]; then
    echo "[toolchain] standard mode: using $(command -v pulumi) ($(pulumi version)); Pulumi installs" \
         "the plugin versions the SDKs pin. SLIPWAY_PULUMI=hermetic builds the toolchain instead."
    exit 0
fi
exec bash "${here}/build.sh" "$@"
