#!/usr/bin/env bash
# Put Pulumi's YAML language host (pulumi-language-yaml) into OUTDIR (default .venv/bin), so that
# `runtime: yaml` programs run with the CLI of scripts/install-pulumi.sh (which calls this script).
#
# Usage: scripts/install-yaml-host.sh [OUTDIR] [AMBIENT_DIR]
#
# Order of preference:
#   1. AMBIENT_DIR/pulumi-language-yaml, when install-pulumi.sh uses an ambient CLI that has one;
#   2. a build cached outside the repository ($PULUMI_BUILD_CACHE, default ~/.cache/ims-pulumi,
#      in pulumi-yaml-$PULUMI_YAML_VERSION/bin);
#   3. a fresh build of github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml@$PULUMI_YAML_VERSION
#      from the Go module proxy (~2.5 min cold on 2 cores, seconds when the caches are warm).
# Idempotent: with the cached build present nothing is compiled. Like the CLI's other files, the
# binary in OUTDIR is a real file (a hard link to the build when the file system allows, else a
# copy), never a symlink: the engine looks for language hosts beside the symlink-resolved `pulumi`.
set -euo pipefail

DEST=${1:-.venv/bin}
AMBIENT=${2:-}
YV=${PULUMI_YAML_VERSION:-v1.25.0}
CACHE=${PULUMI_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ims-pulumi}
YAML_BIN="$CACHE/pulumi-yaml-$YV/bin"
MODULE=github.com/pulumi/pulumi-yaml

mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)

log() { printf '[pulumi-yaml] %s\n' "$*" >&2; }

place() {  # place SRC DST: DST becomes a real file with SRC's content (hard link, else copy); atomic
    local src=$1 dst=$2
    if [ ! -L "$dst" ] && [ -f "$dst" ] && { [ "$src" -ef "$dst" ] || cmp -s "$src" "$dst"; }; then
        return 0
    fi
    rm -f "$dst.tmp.$$"
    ln "$src" "$dst.tmp.$$" 2>/dev/null || cp "$src" "$dst.tmp.$$"
    chmod 0755 "$dst.tmp.$$"
    mv -f "$dst.tmp.$$" "$dst"   # a rename: a running `pulumi` never sees a missing or half-written file
}

# 1. Beside an ambient CLI.
if [ -n "$AMBIENT" ] && [ -x "$AMBIENT/pulumi-language-yaml" ]; then
    log "using ambient pulumi-language-yaml from $AMBIENT"
    place "$AMBIENT/pulumi-language-yaml" "$DEST/pulumi-language-yaml"
    exit 0
fi

# 2./3. The cached build, or build it now. The binary's presence marks a complete build (it is
# renamed into place last), and the directory name carries the version.
if [ ! -x "$YAML_BIN/pulumi-language-yaml" ]; then
    command -v go >/dev/null || { log "no pulumi-language-yaml found and no Go toolchain to build one (need Go >= 1.24)"; exit 1; }
    log "building pulumi-language-yaml $YV from the Go module proxy into $CACHE (first run only: ~2.5 min cold)"
    mkdir -p "$YAML_BIN"
    export GOMODCACHE=${GOMODCACHE:-$CACHE/gomod} GOCACHE=${GOCACHE:-$CACHE/gobuild}
    export GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$YAML_BIN/.tmp.$$"
    unset GOFLAGS   # `go install pkg@version` builds outside any main module; -mod=mod is refused there
    # Progress: go install is silent for minutes; print a heartbeat with the build cache size.
    ( while sleep 30; do log "... still compiling ($(du -sh "$GOCACHE" 2>/dev/null | cut -f1) of build cache so far)"; done ) &
    HB=$!
    trap 'kill $HB 2>/dev/null || true; rm -rf "$GOBIN"' EXIT
    go install -trimpath -tags osusergo,grpcnotrace \
        -ldflags "-s -w -X $MODULE/pkg/version.Version=$YV" "$MODULE/cmd/pulumi-language-yaml@$YV"
    mv -f "$GOBIN/pulumi-language-yaml" "$YAML_BIN/pulumi-language-yaml"
    kill $HB 2>/dev/null || true
    log "built $YAML_BIN/pulumi-language-yaml"
fi
place "$YAML_BIN/pulumi-language-yaml" "$DEST/pulumi-language-yaml"
log "pulumi-language-yaml $YV ready in $DEST"
