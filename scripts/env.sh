# shellcheck shell=bash
# slipway environment: source this from every script and test
#   . "$(git rev-parse --show-toplevel)/scripts/env.sh"
# Safe under `set -euo pipefail`; defines only SLIPWAY_*/PULUMI_* variables and
# PATH, and never exits the calling shell.
#
# - PATH: the pinned toolchain's bin dir (toolchain/bin-dir.sh) goes first.
#   Only if that dir has no pulumi yet, and a pulumi of exactly the pinned
#   version plus every plugin binary is already on PATH, is PATH left as it
#   is. Build the toolchain with `make toolchain` (or toolchain/build.sh).
#   The repo's .venv/bin (if it exists) comes next, so Pulumi runs the program
#   with the venv's python.
# - Pulumi runs offline: no update check, no automatic plugin downloads.
# - PULUMI_HOME defaults to a folder under SLIPWAY_CACHE. State backend and passphrase are
#   never defaulted here (scripts/local-env.sh does that for the local stack and tests only).

export SLIPWAY_CACHE="${SLIPWAY_CACHE:-${HOME}/.cache/slipway}"
SLIPWAY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SLIPWAY_ROOT

# shellcheck source=toolchain/lib.sh
. "${SLIPWAY_ROOT}/toolchain/lib.sh"
SLIPWAY_TOOLCHAIN_BIN="$(slipway_toolchain_bin_dir)"
export SLIPWAY_TOOLCHAIN_BIN

_slipway_path_has_toolchain() {
    local pinned plugin
    pinned="$(sed -n 's/^PULUMI_VERSION=//p' "${SLIPWAY_ROOT}/toolchain/pins.env")"
    command -v pulumi >/dev/null 2>&1 || return 1
    [[ "$(pulumi version 2>/dev/null || true)" == "${pinned}" ]] || return 1
    for plugin in pulumi-language-python pulumi-language-python-exec \
        pulumi-resource-command pulumi-resource-docker \
        pulumi-resource-github pulumi-resource-postgresql; do
        command -v "${plugin}" >/dev/null 2>&1 || return 1
    done
}

case ":${PATH}:" in
    *":${SLIPWAY_TOOLCHAIN_BIN}:"*) ;;
    *)
        if [[ -x "${SLIPWAY_TOOLCHAIN_BIN}/pulumi" ]] || ! _slipway_path_has_toolchain; then
            export PATH="${SLIPWAY_TOOLCHAIN_BIN}:${PATH}"
        fi
        ;;
esac
unset -f _slipway_path_has_toolchain

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
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_HOME="${PULUMI_HOME:-${SLIPWAY_CACHE}/pulumi-home}"
# No state backend and no passphrase here: a real stack brings its own (PULUMI_BACKEND_URL,
# PULUMI_CONFIG_PASSPHRASE[_FILE]); the local stack's defaults are in scripts/local-env.sh.
# The policy pack's analyzer launcher (policy/README.md): `pulumi preview --policy-pack policy`.
case ":${PATH}:" in
    *":${SLIPWAY_ROOT}/policy/bin:"*) ;;
    *) export PATH="${PATH}:${SLIPWAY_ROOT}/policy/bin" ;;
esac
