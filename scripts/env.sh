# shellcheck shell=bash
# slipway environment: source this from every script and test
#   . "$(git rev-parse --show-toplevel)/scripts/env.sh"
# Safe under `set -euo pipefail`; defines only SLIPWAY_*/PULUMI_* variables,
# PIP_DISABLE_PIP_VERSION_CHECK and PATH, and never exits the calling shell.
#
# - Pulumi: standard (a pulumi on PATH) or hermetic (the pinned toolchain's bin
#   dir goes first on PATH; build it with `make toolchain`); see SLIPWAY_PULUMI
#   below. The repo's .venv/bin (if it exists) comes next, so Pulumi runs the
#   program with the venv's python.
# - Hermetic mode runs offline: no automatic plugin downloads.
# - In hermetic mode PULUMI_HOME defaults to a folder under SLIPWAY_CACHE.
# - State backend and passphrase are never defaulted here (scripts/local-env.sh
#   does that for the local stack and tests only).

export SLIPWAY_CACHE="${SLIPWAY_CACHE:-${HOME}/.cache/slipway}"
SLIPWAY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SLIPWAY_ROOT

# shellcheck source=toolchain/lib.sh
. "${SLIPWAY_ROOT}/toolchain/lib.sh"
SLIPWAY_TOOLCHAIN_BIN="$(slipway_toolchain_bin_dir)"
export SLIPWAY_TOOLCHAIN_BIN

# Which Pulumi: SLIPWAY_PULUMI=standard (the `pulumi` on PATH; Pulumi installs the plugin
# versions the SDKs pin, the normal way), hermetic (the toolchain built from Go modules by
# `make toolchain`, offline), or auto (the default): standard when a pulumi v3 CLI other than
# the toolchain's is on PATH, else hermetic. SLIPWAY_PULUMI_MODE says which was chosen.
_slipway_standard_pulumi() {
    local found
    found="$(command -v pulumi 2>/dev/null)" || return 1
    [[ "${found}" != "${SLIPWAY_TOOLCHAIN_BIN}/pulumi" ]] || return 1
    [[ "$(pulumi version 2>/dev/null || true)" == v3.* ]]
}
case "${SLIPWAY_PULUMI:-auto}" in
    standard|hermetic) SLIPWAY_PULUMI_MODE="${SLIPWAY_PULUMI}" ;;
    auto)
        if _slipway_standard_pulumi; then SLIPWAY_PULUMI_MODE=standard; else SLIPWAY_PULUMI_MODE=hermetic; fi ;;
    *)
        printf 'slipway: SLIPWAY_PULUMI=%s is not one of standard, hermetic, auto\n' "${SLIPWAY_PULUMI}" >&2
        return 1 ;;
esac
unset -f _slipway_standard_pulumi
export SLIPWAY_PULUMI_MODE

if [[ "${SLIPWAY_PULUMI_MODE}" == hermetic ]]; then
    case ":${PATH}:" in
        *":${SLIPWAY_TOOLCHAIN_BIN}:"*) ;;
        *) export PATH="${SLIPWAY_TOOLCHAIN_BIN}:${PATH}" ;;
    esac
fi

# The repo's venv goes right after the toolchain: the language host we can
# build (see toolchain/pins.env) runs the first `python3` on PATH and does not
# read the `virtualenv:` runtime option of Pulumi.yaml.
if [[ -x "${SLIPWAY_ROOT}/.venv/bin/python3" ]]; then
    case ":${PATH}:" in
        *":${SLIPWAY_ROOT}/.venv/bin:"*) ;;
        *":${SLIPWAY_TOOLCHAIN_BIN}:"*)
            PATH="${PATH/#${SLIPWAY_TOOLCHAIN_BIN}:/${SLIPWAY_TOOLCHAIN_BIN}:${SLIPWAY_ROOT}/.venv/bin:}"
            case ":${PATH}:" in
                *":${SLIPWAY_ROOT}/.venv/bin:"*) ;;
                *) PATH="${SLIPWAY_ROOT}/.venv/bin:${PATH}" ;;
            esac
            export PATH
            ;;
        *) export PATH="${SLIPWAY_ROOT}/.venv/bin:${PATH}" ;;
    esac
fi

export PULUMI_SKIP_UPDATE_CHECK=true
# The language host's `pip list` (before every preview and up) asks PyPI whether pip is current
# unless told not to: a network call per run, and a wait where the runner is offline.
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [[ "${SLIPWAY_PULUMI_MODE}" == hermetic ]]; then
    # Offline: every plugin is the toolchain's; PULUMI_HOME is ours, not the user's.
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
    export PULUMI_HOME="${PULUMI_HOME:-${SLIPWAY_CACHE}/pulumi-home}"
fi
# No state backend and no passphrase here: a real stack brings its own (PULUMI_BACKEND_URL,
# PULUMI_CONFIG_PASSPHRASE[_FILE]); the local stack's defaults are in scripts/local-env.sh.
# The policy pack's analyzer launcher (policy/README.md): `pulumi preview --policy-pack policy`.
case ":${PATH}:" in
    *":${SLIPWAY_ROOT}/policy/bin:"*) ;;
    *) export PATH="${PATH}:${SLIPWAY_ROOT}/policy/bin" ;;
esac
