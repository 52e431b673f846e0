#!/usr/bin/env bash
# Build the peer of the benchmark (bench/peer): OpenTofu and terraform-provider-openstack (TPO),
# from the Go module proxy, into a cache outside the repository. Idempotent: a binary that is
# already built (its stamp names the same version and Go) is not rebuilt.
#
#   scripts/peer/build-peer.sh [tofu|tpo|all]     # default all; prints "NAME PATH" per binary on stdout
#
# Cache: ${PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ims-pulumi/peer}
#   tofu-$TOFU_VERSION/bin/tofu
#   tpo-$TPO_VERSION/bin/terraform-provider-openstack   (the directory a dev_overrides entry names)
# Versions (pinned): TOFU_VERSION=v1.10.10, TPO_VERSION=v3.4.0 (override in the environment).
# Go modules and compiled packages go to the project's Go caches (GOMODCACHE, GOCACHE; default
# ~/.cache/ims-pulumi/gomod and gobuild, shared with the Pulumi CLI build: both are safe to share).
#
# Why not `go install`: OpenTofu's go.mod has a `replace` (hcl/v2 -> opentofu/hcl/v2), which
# `go install module@version` refuses. Both modules are therefore downloaded with
# `go mod download -json`, copied to a writable directory and built there with `go build`
# (the same way for both, so one code path). Several minutes each on 2 cores.
set -euo pipefail

what=${1:-all}
TOFU_VERSION=${TOFU_VERSION:-v1.10.10}
TPO_VERSION=${TPO_VERSION:-v3.4.0}
BASE=${XDG_CACHE_HOME:-$HOME/.cache}/ims-pulumi
CACHE=${PEER_CACHE:-$BASE/peer}
export GOMODCACHE=${GOMODCACHE:-$BASE/gomod} GOCACHE=${GOCACHE:-$BASE/gobuild}
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 GOPROXY=${GOPROXY:-https://proxy.golang.org,direct}

log() { printf '[peer-build] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "go not found on PATH (Go >= 1.24 builds both)"
GOV=$(go env GOVERSION)

# build NAME MODULE VERSION PKG BINARY [LDFLAGS]: NAME's binary in $CACHE/NAME-VERSION/bin/BINARY
build() {
    local name=$1 module=$2 version=$3 pkg=$4 binary=$5 ldflags=${6:-}
    local dir="$CACHE/$name-$version" want
    local out="$dir/bin/$binary" stamp="$dir/bin/.stamp"
    want="$module@$version $GOV $ldflags"
    if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        log "$name $version: up to date ($out)"
        echo "$name $out"
        return 0
    fi
    mkdir -p "$dir"
    exec 9>"$dir/build.lock"
    flock -w 3600 9 || die "could not take $dir/build.lock"
    if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then  # built while we waited
        echo "$name $out"
        return 0
    fi
    log "$name $version: downloading $module@$version from the module proxy ..."
    local src
    src=$(cd "$dir" && go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -n "$src" && -d "$src" ]] || die "go mod download $module@$version gave no source directory"
    rm -rf "$dir/src"
    cp -R "$src" "$dir/src"
    chmod -R u+w "$dir/src"   # the module cache is read-only
    log "$name $version: compiling $pkg with $GOV (several minutes on 2 cores) ..."
    local start=$SECONDS
    ( while sleep 60; do log "... $name still compiling ($((SECONDS - start)) s)"; done ) &
    local beat=$!
    if ! (cd "$dir/src" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg") >"$dir/build.log" 2>&1; then
        kill "$beat" 2>/dev/null || true
        tail -n 30 "$dir/build.log" >&2
        die "$name build failed; log: $dir/build.log"
    fi
    kill "$beat" 2>/dev/null || true
    mv -f "$out.tmp" "$out"
    rm -rf "$dir/src"   # ~100 MB of sources; the stamp records what was built
    echo "$want" >"$stamp"
    log "$name $version: built in $((SECONDS - start)) s: $out"
    echo "$name $out"
}

case "$what" in
    tofu|tpo|all) ;;
    *) die "usage: $0 [tofu|tpo|all]" ;;
esac
if [[ "$what" != tpo ]]; then
    # version.dev=no: without it the binary reports "v1.10.10-dev"
    build tofu github.com/opentofu/opentofu "$TOFU_VERSION" ./cmd/tofu tofu \
        "-s -w -X github.com/opentofu/opentofu/version.dev=no"
fi
if [[ "$what" != tofu ]]; then
    build tpo github.com/terraform-provider-openstack/terraform-provider-openstack/v3 "$TPO_VERSION" . \
        terraform-provider-openstack "-s -w"
fi
