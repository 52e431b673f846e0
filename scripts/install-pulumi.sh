#!/usr/bin/env bash
# Put a working Pulumi CLI (pulumi, pulumi-language-python, pulumi-language-python-exec,
# pulumi-resource-pulumi-python) into $1 (default .venv/bin), and Pulumi's YAML language host
# (pulumi-language-yaml, for `runtime: yaml` programs on the `ims` plugin; scripts/install-yaml-host.sh).
#
# Order of preference:
#   1. a `pulumi` on PATH (outside $1) whose version is >= PULUMI_MIN_VERSION (and which has
#      the python language host beside it);
#   2. a build cached outside the repository ($PULUMI_BUILD_CACHE, default ~/.cache/ims-pulumi);
#   3. a fresh build of $PULUMI_VERSION from the Go module proxy (10-20 minutes on 2 cores).
# The CLI is built from the release modules pkg/v3 and sdk/v3 (with the one replace directive
# pkg/go.mod needs, for atotto/clipboard). The Python language host is our own small Go program
# (tools/langhost): upstream's module, github.com/pulumi/pulumi/sdk/python/cmd/
# pulumi-language-python/v3, has no tags and the module proxy refuses every version of it.
#
# Layout: the four files are REAL files in $1 (hard links to the build or ambient CLI when the
# file system allows, else copies), never symlinks. The engine looks for its bundled plugins
# (the language host, our dynamic-provider launcher) beside the symlink-resolved `pulumi`
# binary and, unless PULUMI_IGNORE_AMBIENT_PLUGINS is set, also on $PATH; when both exist and
# differ it warns "using pulumi-resource-pulumi-python from $PATH at ... expected ...". With
# real files, `beside pulumi` is $1 itself, so $1 on PATH or not, with or without the
# environment of .venv/bin/activate, the engine finds the same files and never warns. Nothing
# depends on PULUMI_HOME, and each virtualenv has its own launcher (checkouts do not share it).
set -euo pipefail

DEST=${1:-.venv/bin}
V=${PULUMI_VERSION:-v3.274.1}
MIN=${PULUMI_MIN_VERSION:-3.270.0}
CACHE=${PULUMI_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ims-pulumi}
BUILD_BIN="$CACHE/pulumi-$V/bin"
HERE=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)

log() { printf '[pulumi-cli] %s\n' "$*" >&2; }

version_ge() {  # version_ge A B: A >= B (plain dotted versions, leading v ignored)
    [ "$(printf '%s\n%s\n' "${1#v}" "${2#v}" | sort -V | head -n1)" = "${2#v}" ]
}

place() {  # place SRC DST [copy]: DST becomes a real file with SRC's content (hard link, else copy); atomic
    local src=$1 dst=$2 how=${3:-link}
    if [ ! -L "$dst" ] && [ -f "$dst" ] && { [ "$src" -ef "$dst" ] || cmp -s "$src" "$dst"; }; then
        return 0
    fi
    rm -f "$dst.tmp.$$"
    if [ "$how" = copy ] || ! ln "$src" "$dst.tmp.$$" 2>/dev/null; then
        cp "$src" "$dst.tmp.$$"
    fi
    chmod 0755 "$dst.tmp.$$"
    mv -f "$dst.tmp.$$" "$dst"   # a rename: a running `pulumi` never sees a missing or half-written file
}

install_all() {  # install_all SRC_DIR: the CLI files of SRC_DIR, and our provider launcher, into DEST
    local src=$1 f
    for f in pulumi pulumi-language-python pulumi-language-python-exec; do
        place "$src/$f" "$DEST/$f"
    done
    # Our provider launcher (more threads, readable errors), beside `pulumi` like the rest.
    # A copy: a hard link would tie the virtualenv to this working tree's file.
    place "$HERE/pulumi-resource-pulumi-python" "$DEST/pulumi-resource-pulumi-python" copy
}

find_ambient() {  # the first `pulumi` on PATH that is not DEST's own
    local IFS=: dir
    for dir in $PATH; do
        if [ -z "$dir" ] || [ ! -f "$dir/pulumi" ] || [ ! -x "$dir/pulumi" ]; then continue; fi
        if [ "$(cd "$dir" 2>/dev/null && pwd -P)" = "$(cd "$DEST" && pwd -P)" ]; then continue; fi
        printf '%s\n' "$dir/pulumi"
        return 0
    done
    return 1
}

# 1. An ambient pulumi that is new enough.
if amb=$(find_ambient); then
    amb_dir=$(dirname "$(readlink -f "$amb")")
    if cur=$("$amb" version 2>/dev/null) && version_ge "$cur" "$MIN" \
       && [ -x "$amb_dir/pulumi-language-python" ] && [ -f "$amb_dir/pulumi-language-python-exec" ]; then
        log "using ambient pulumi $cur from $amb_dir"
        install_all "$amb_dir"
        "$HERE/install-yaml-host.sh" "$DEST" "$amb_dir"
        exit 0
    fi
fi

# 2./3. The cached build, or build it now.
if ! { [ -x "$BUILD_BIN/pulumi" ] && [ "$("$BUILD_BIN/pulumi" version 2>/dev/null)" = "$V" ]; }; then
    command -v go >/dev/null || { log "no Pulumi CLI found and no Go toolchain to build one (need Go >= 1.25)"; exit 1; }
    log "building Pulumi $V from the Go module proxy into $CACHE (first run only: ~10-20 min, ~5 GB of Go caches)"
    WORK="$CACHE/pulumi-$V/src"
    mkdir -p "$WORK" "$BUILD_BIN"
    cd "$WORK"
    export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
    export GOMODCACHE=${GOMODCACHE:-$CACHE/gomod} GOCACHE=${GOCACHE:-$CACHE/gobuild}
    [ -f go.mod ] || go mod init local/pulumi-build >/dev/null 2>&1
    go mod edit -replace github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e
    log "resolving modules (go get) ..."
    go get -tool "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$V"
    go get "github.com/pulumi/pulumi/sdk/v3@$V"
    go mod tidy
    LDF="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$V"
    # Progress: go build is silent for minutes; print a heartbeat with the build cache size.
    ( while sleep 30; do log "... still compiling ($(du -sh "$GOCACHE" 2>/dev/null | cut -f1) of build cache so far)"; done ) &
    HB=$!
    trap 'kill $HB 2>/dev/null || true' EXIT
    log "compiling pulumi ..."
    go build -trimpath -tags osusergo,grpcnotrace -ldflags "$LDF" -o "$BUILD_BIN/pulumi.tmp" \
        github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    mv "$BUILD_BIN/pulumi.tmp" "$BUILD_BIN/pulumi"   # last: its presence marks a complete build
    kill $HB 2>/dev/null || true
    log "built $("$BUILD_BIN/pulumi" version)"
fi
# The program executor script of the language host ships in the sdk/v3 module.
if [ ! -f "$BUILD_BIN/pulumi-language-python-exec" ]; then
    SDK_DIR=${GOMODCACHE:-$CACHE/gomod}/github.com/pulumi/pulumi/sdk/v3@$V
    [ -d "$SDK_DIR" ] || SDK_DIR=$(cd "$CACHE/pulumi-$V/src" && GOMODCACHE=${GOMODCACHE:-$CACHE/gomod} GOFLAGS=-mod=mod \
        go mod download -json "github.com/pulumi/pulumi/sdk/v3@$V" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
    install -m 0755 "$SDK_DIR/python/cmd/pulumi-language-python-exec" "$BUILD_BIN/pulumi-language-python-exec"
fi
# Our language host: rebuilt only when its sources change (seconds once Go's caches are warm).
GOMODCACHE=${GOMODCACHE:-$CACHE/gomod} GOCACHE=${GOCACHE:-$CACHE/gobuild} \
    "$HERE/build-langhost.sh" "$BUILD_BIN"
# Virtualenvs made by earlier versions of this script link to the launcher in the build directory.
cmp -s "$HERE/pulumi-resource-pulumi-python" "$BUILD_BIN/pulumi-resource-pulumi-python" 2>/dev/null \
    || install -m 0755 "$HERE/pulumi-resource-pulumi-python" "$BUILD_BIN/pulumi-resource-pulumi-python"
install_all "$BUILD_BIN"
# The YAML language host: its own cached build (~2.5 min the first time), a hard link here.
"$HERE/install-yaml-host.sh" "$DEST"
log "pulumi $("$DEST/pulumi" version) ready in $DEST"
