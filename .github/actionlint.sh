#!/usr/bin/env bash
# Lint the GitHub Actions workflows with actionlint, built from the Go module proxy.
#   .github/actionlint.sh [actionlint args...]     (default: every file in .github/workflows)
# The binary is cached under ${SLIPWAY_CACHE:-$HOME/.cache/slipway}/actionlint/<version>/, so
# only the first run builds it (needs `go` >= 1.25 and the proxy). When shellcheck is on PATH,
# actionlint also checks every `run:` script with it.
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12
ACTIONLINT_MODULE=github.com/rhysd/actionlint/cmd/actionlint

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SLIPWAY_CACHE:-${HOME}/.cache/slipway}/actionlint/${ACTIONLINT_VERSION}"
bin="${cache}/actionlint"

if [[ ! -x "${bin}" ]]; then
    command -v go >/dev/null 2>&1 || { echo "actionlint.sh: go is not on PATH; it builds actionlint" >&2; exit 2; }
    mkdir -p "${cache}"
    echo "actionlint.sh: building actionlint ${ACTIONLINT_VERSION} into ${cache}" >&2
    # A private GOBIN per version: a half-written binary is never taken for a finished one.
    tmp="$(mktemp -d "${cache}/.build.XXXXXX")"
    trap 'rm -rf "${tmp}"' EXIT
    GOBIN="${tmp}" GOFLAGS=-mod=mod go install "${ACTIONLINT_MODULE}@${ACTIONLINT_VERSION}"
    mv -f "${tmp}/actionlint" "${bin}"
    rm -rf "${tmp}"
    trap - EXIT
fi

cd "${root}"
if [[ $# -eq 0 ]]; then
    shopt -s nullglob
    set -- .github/workflows/*.yml .github/workflows/*.yaml
    [[ $# -gt 0 ]] || { echo "actionlint.sh: no workflow files in .github/workflows" >&2; exit 2; }
fi
exec "${bin}" -no-color "$@"
