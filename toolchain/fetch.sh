# shellcheck shell=bash
# Module downloads for toolchain/build.sh: tell the proxy's refusal to serve a module (recorded,
# skipped, retried next run) from every other failure (which fails the build with its error).
# Sourced; the caller provides LOG, UNAVAILABLE, SKIPPED and say().

# fetch MODULE@VERSION: download it into the module cache and set FETCHED_DIR
# to its folder. If it cannot be had, sets FETCH_ERROR and returns 3.
# (Call it directly, not in $(...), so the variables reach the caller.)
FETCHED_DIR=""
FETCH_ERROR=""
fetch() {
    local out
    FETCHED_DIR=""
    FETCH_ERROR=""
    out="$(go mod download -json "$1" 2>>"${LOG}")" || true
    printf '%s\n' "${out}" >>"${LOG}"
    FETCHED_DIR="$(printf '%s\n' "${out}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
    if [[ -n "${FETCHED_DIR}" && -d "${FETCHED_DIR}" ]]; then
        return 0
    fi
    FETCH_ERROR="$(printf '%s\n' "${out}" | sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p')"
    FETCH_ERROR="${FETCH_ERROR:-go mod download $1 failed (see ${LOG})}"
    return 3
}

# mark_unavailable NAME MODULE@VERSION: record that the proxy refused it.
mark_unavailable() {
    {
        printf 'module: %s\n' "$2"
        printf 'command: go mod download -json %s\n' "$2"
        printf 'error: %s\n' "${FETCH_ERROR}"
        printf 'date: %s\n' "$(date -u +%FT%TZ)"
    } >"${UNAVAILABLE}/$1"
    SKIPPED+=("$1")
    say "$1: SKIPPED - the Go module proxy does not serve $2"
    say "    ${FETCH_ERROR}"
}

# refused TEXT: true if TEXT is the module proxy's refusal to serve a module (HTTP 403,
# "This module version is not available"), as opposed to any other failure.
refused() {
    case "$1" in
        *"403 Forbidden"*|*"This module version is not available"*) return 0 ;;
        *) return 1 ;;
    esac
}

# fetch_or_skip NAME MODULE@VERSION: fetch; record the proxy's refusal for NAME and return 3;
# any other failure (network, checksum, a pin that does not exist) fails the build with its error.
fetch_or_skip() {
    fetch "$2" && return 0
    if refused "${FETCH_ERROR}"; then
        mark_unavailable "$1" "$2"
        return 3
    fi
    say "$1: cannot download $2: ${FETCH_ERROR}"
    return 1
}
