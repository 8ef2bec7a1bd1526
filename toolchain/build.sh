#!/usr/bin/env bash
# Build slipway's hermetic Pulumi toolchain from Go modules (issue 3).
#
#   toolchain/build.sh            build whatever is missing for the current pins
#   toolchain/build.sh --force    rebuild everything for the current pins
#
# Output:  ${SLIPWAY_CACHE:-$HOME/.cache/slipway}/toolchain/<key>/bin/
#          (<key> = hash of toolchain/pins.env + toolchain/modules/**; see lib.sh;
#          toolchain/bin-dir.sh prints it without building)
# Log:     .../toolchain/<key>/build.log
# Go caches: .../go/mod (GOMODCACHE) and .../go/build (GOCACHE)
#
# Each binary is built only if missing, so a second run is a no-op. Wrapper
# modules are copied to .../toolchain/<key>/work/<name>/ and built there;
# generated files (schema-embed.json, rewritten upstream modules) are made
# there from the Go module cache and never written into the checkout.
#
# A binary whose Go module the module proxy refuses to serve (its 403 "not available"
# answer, and only that) is recorded in .../toolchain/<key>/unavailable/<name> and skipped;
# the run still exits 0 for that. Any other failure (network, checksum, a typo in a pin)
# exits non-zero with its error.
set -euo pipefail

# shellcheck source=toolchain/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
slipway_load_pins
# shellcheck source=toolchain/fetch.sh
. "$(dirname "${BASH_SOURCE[0]}")/fetch.sh"

FORCE=0
case "${1:-}" in
    --force) FORCE=1 ;;
    "") ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

command -v go >/dev/null 2>&1 || { echo "toolchain: 'go' is not on PATH (Go >= 1.26 needed)" >&2; exit 1; }

CACHE_ROOT="$(slipway_cache_root)"
KEY="$(slipway_toolchain_key)"
TC_HOME="${CACHE_ROOT}/toolchain/${KEY}"
BIN="${TC_HOME}/bin"
WORK="${TC_HOME}/work"
UNAVAILABLE="${TC_HOME}/unavailable"
LOG="${TC_HOME}/build.log"
MODULES="${SLIPWAY_TOOLCHAIN_DIR}/modules"

mkdir -p "${BIN}" "${WORK}" "${UNAVAILABLE}" "${CACHE_ROOT}/go/mod" "${CACHE_ROOT}/go/build"

export GOMODCACHE="${CACHE_ROOT}/go/mod"
export GOCACHE="${CACHE_ROOT}/go/build"
export GOTOOLCHAIN=local
export GOFLAGS=""
export CGO_ENABLED=0
# The wrapper modules must resolve from the proxy (no VCS access here anyway).
export GOPROXY="${GOPROXY:-https://proxy.golang.org}"

START_ALL=$(date +%s)
printf '\n==== %s build.sh key=%s go=%s\n' "$(date -u +%FT%TZ)" "${KEY}" "$(go env GOVERSION)" >>"${LOG}"

# Progress goes to the original stdout (fd 3) even from inside $(...).
exec 3>&1
say() { printf '[toolchain] %s\n' "$*" | tee -a "${LOG}" >&3; }
# Run a command with its output going to the log only.
logged() { printf '+ %s\n' "$*" >>"${LOG}"; "$@" >>"${LOG}" 2>&1; }

FAILED=()
SKIPPED=()

# have NAME...: true if every named file is already in BIN (and not --force).
have() {
    [[ ${FORCE} == 0 ]] || return 1
    local n
    for n in "$@"; do [[ -x "${BIN}/${n}" ]] || return 1; done
}

# stage NAME: fresh copy of modules/NAME in WORK/NAME; prints its path.
stage() {
    local dst="${WORK}/$1"
    chmod -R u+w "${dst}" 2>/dev/null || true
    rm -rf "${dst}"
    mkdir -p "${dst}"
    cp -R "${MODULES}/$1/." "${dst}/"
    printf '%s\n' "${dst}"
}

# go_build DIR OUT PKG LDFLAGS [GOFLAG]: build PKG in module DIR into BIN/OUT
# atomically. Wrappers with a committed go.sum build with -mod=readonly.
go_build() {
    local dir=$1 out=$2 pkg=$3 ldflags=$4 modflag=${5:--mod=readonly}
    (
        cd "${dir}"
        logged go build "${modflag}" -trimpath -tags "${GO_BUILD_TAGS}" -ldflags "${ldflags}" -o "${BIN}/.${out}.tmp" "${pkg}"
    ) || { rm -f "${BIN}/.${out}.tmp"; return 1; }
    mv -f "${BIN}/.${out}.tmp" "${BIN}/${out}"
}

# step NAME FUNC: run one binary's build with progress and timing.
step() {
    local name=$1 fn=$2 t0 rc
    t0=$(date +%s)
    say "${name}: building ..."
    set +e
    ( set -euo pipefail; "${fn}" )
    rc=$?
    set -e
    if [[ ${rc} == 0 ]]; then
        rm -f "${UNAVAILABLE}/${name}"
        say "${name}: done in $(( $(date +%s) - t0 ))s"
    elif [[ ${rc} == 3 ]]; then
        SKIPPED+=("${name}")
    else
        FAILED+=("${name}")
        say "${name}: FAILED after $(( $(date +%s) - t0 ))s (exit ${rc}); see ${LOG}"
    fi
}

# -------------------------------------------------------------------- pulumi
build_pulumi() {
    local dir
    dir="$(stage pulumi)"
    go_build "${dir}" pulumi "${PULUMI_PKG_MODULE}/cmd/pulumi" \
        "${GO_LDFLAGS_BASE} -X ${PULUMI_SDK_MODULE}/go/common/version.Version=${PULUMI_VERSION}"
}

# ---------------------------------------------------- python language host
build_langhost() {
    local dir
    dir="$(stage pulumi-language-python)"
    go_build "${dir}" pulumi-language-python "${PULUMI_SDK_MODULE}/python/cmd/pulumi-language-python" \
        "${GO_LDFLAGS_BASE} -X ${PULUMI_SDK_MODULE}/go/common/version.Version=${LANGHOST_SDK_VERSION}"
}

# The exec shim (a Python script) and the dynamic-provider launcher ship in
# the sdk/v3 module zip, not in the PyPI wheel.
build_langhost_exec() {
    local src f
    fetch "${PULUMI_SDK_MODULE}@${LANGHOST_EXEC_SDK_VERSION}" || { say "${FETCH_ERROR}"; return 1; }
    src="${FETCHED_DIR}"
    for f in cmd/pulumi-language-python-exec dist/pulumi-resource-pulumi-python; do
        install -m 0755 "${src}/python/${f}" "${BIN}/.$(basename "${f}").tmp"
        mv -f "${BIN}/.$(basename "${f}").tmp" "${BIN}/$(basename "${f}")"
    done
}

# ---------------------------------------------------------------- providers
provider_ldflags() { # MODULE VERSION
    printf '%s -X %s/pkg/version.Version=%s' "${GO_LDFLAGS_BASE}" "$1" "$2"
}

# resolve DIR GO_SUM...: complete the wrapper's go.mod/go.sum from the provider's
# own go.mod (it lists every indirect requirement) and the given upstream go.sum
# files, so modules the checksum database here does not answer for are still
# verified against upstream's recorded hashes. Only packages that are built are
# resolved (go build -mod=mod), not the test dependencies `go mod tidy` wants.
resolve() {
    local dir=$1
    shift
    if [[ $# -gt 0 ]]; then
        cat "$@" >>"${dir}/go.sum"
        LC_ALL=C sort -u -o "${dir}/go.sum" "${dir}/go.sum"
    fi
}

# schema_embed DIR PROVIDER_DIR CMD VERSION: write DIR/schema-embed.json.
schema_embed() {
    local dir=$1 pdir=$2 cmd=$3 version=$4
    mkdir -p "${dir}/internal/schemaembed"
    cp "${MODULES}/_shared/schemaembed/main.go.txt" "${dir}/internal/schemaembed/main.go"
    (cd "${dir}" && logged go run -mod=mod ./internal/schemaembed \
        "${pdir}/cmd/${cmd}/schema.json" "${dir}/schema-embed.json" "${version}")
}

# copy_upstream SRC DST MODULE_PATH: writable copy of a module-cache folder
# with its module line set to MODULE_PATH.
copy_upstream() {
    rm -rf "$2"
    cp -R "$1" "$2"
    chmod -R u+w "$2"
    sed -i "s#^module .*#module $3#" "$2/go.mod"
}

build_command() {
    local dir pdir
    fetch_or_skip pulumi-resource-command "${COMMAND_MODULE}@${COMMAND_PSEUDO}" || return $?
    pdir="${FETCHED_DIR}"
    dir="$(stage pulumi-resource-command)"
    resolve "${dir}" "${pdir}/go.sum"
    go_build "${dir}" pulumi-resource-command "${COMMAND_MODULE}/cmd/pulumi-resource-command" \
        "$(provider_ldflags "${COMMAND_MODULE}" "${COMMAND_VERSION}")" -mod=mod
}

build_github() {
    local dir pdir udir
    fetch_or_skip pulumi-resource-github "${GITHUB_MODULE}@${GITHUB_PSEUDO}" || return $?
    pdir="${FETCHED_DIR}"
    fetch_or_skip pulumi-resource-github "${GITHUB_UPSTREAM_MODULE}@${GITHUB_UPSTREAM_VERSION}" || return $?
    udir="${FETCHED_DIR}"
    dir="$(stage pulumi-resource-github)"
    resolve "${dir}" "${pdir}/go.sum" "${udir}/go.sum"
    schema_embed "${dir}" "${pdir}" pulumi-resource-github "${GITHUB_VERSION}"
    go_build "${dir}" pulumi-resource-github . "$(provider_ldflags "${GITHUB_MODULE}" "${GITHUB_VERSION}")" -mod=mod
}

build_postgresql() {
    local dir pdir udir
    fetch_or_skip pulumi-resource-postgresql "${POSTGRESQL_MODULE}@${POSTGRESQL_PSEUDO}" || return $?
    pdir="${FETCHED_DIR}"
    fetch_or_skip pulumi-resource-postgresql "${POSTGRESQL_UPSTREAM_MODULE}@${POSTGRESQL_UPSTREAM_PSEUDO}" || return $?
    udir="${FETCHED_DIR}"
    dir="$(stage pulumi-resource-postgresql)"
    copy_upstream "${udir}" "${dir}/upstream" "${POSTGRESQL_UPSTREAM_MODULE}"
    # The upstream's own main package imports itself by its old path; it is
    # not part of the build, but tidy scans it.
    rm -f "${dir}/upstream/main.go"
    resolve "${dir}" "${pdir}/go.sum" "${udir}/go.sum"
    schema_embed "${dir}" "${pdir}" pulumi-resource-postgresql "${POSTGRESQL_VERSION}"
    go_build "${dir}" pulumi-resource-postgresql . \
        "$(provider_ldflags "${POSTGRESQL_MODULE}" "${POSTGRESQL_VERSION}")" -mod=mod
}

build_docker() {
    local dir pdir udir
    fetch_or_skip pulumi-resource-docker "${DOCKER_MODULE}@${DOCKER_PSEUDO}" || return $?
    pdir="${FETCHED_DIR}"
    fetch_or_skip pulumi-resource-docker "${DOCKER_UPSTREAM_MODULE}@${DOCKER_UPSTREAM_PSEUDO}" || return $?
    udir="${FETCHED_DIR}"
    dir="$(stage pulumi-resource-docker)"
    # Keep the upstream's declared path (github.com/terraform-providers/...):
    # the shim must live under it to import internal/provider.
    copy_upstream "${udir}" "${dir}/upstream" "github.com/terraform-providers/terraform-provider-docker"
    mkdir -p "${dir}/upstream/shim"
    mv "${dir}/shim/shim.go.txt" "${dir}/upstream/shim/shim.go"
    rmdir "${dir}/shim"
    resolve "${dir}" "${pdir}/go.sum" "${udir}/go.sum"
    schema_embed "${dir}" "${pdir}" pulumi-resource-docker "${DOCKER_VERSION}"
    go_build "${dir}" pulumi-resource-docker . "$(provider_ldflags "${DOCKER_MODULE}" "${DOCKER_VERSION}")" -mod=mod
}

# ------------------------------------------------------------------- main
run() { # NAME FUNC FILES...
    local name=$1 fn=$2
    shift 2
    if have "$@"; then
        say "${name}: up to date"
    else
        step "${name}" "${fn}"
    fi
}

say "bin dir: ${BIN}"
run pulumi build_pulumi pulumi
run pulumi-language-python build_langhost pulumi-language-python
run pulumi-language-python-exec build_langhost_exec pulumi-language-python-exec pulumi-resource-pulumi-python
run pulumi-resource-command build_command pulumi-resource-command
run pulumi-resource-github build_github pulumi-resource-github
run pulumi-resource-postgresql build_postgresql pulumi-resource-postgresql
run pulumi-resource-docker build_docker pulumi-resource-docker

# Record what this bin dir was built from.
{
    printf 'key=%s\n' "${KEY}"
    printf 'go=%s\n' "$(go env GOVERSION)"
    sed -n 's/^\([A-Z_]*\(VERSION\|PSEUDO\|COMMIT\)\)=/\1=/p' "${SLIPWAY_TOOLCHAIN_DIR}/pins.env"
} >"${TC_HOME}/pins.txt"

say "finished in $(( $(date +%s) - START_ALL ))s; bin dir: ${BIN}"
if [[ ${#SKIPPED[@]} -gt 0 ]]; then
    say "not built (module not served by the proxy; details in ${UNAVAILABLE}/): ${SKIPPED[*]}"
fi
if [[ ${#FAILED[@]} -gt 0 ]]; then
    say "FAILED: ${FAILED[*]} (log: ${LOG})"
    exit 1
fi
