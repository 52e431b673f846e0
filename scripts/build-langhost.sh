#!/usr/bin/env bash
# Build the project's Python language host (tools/langhost) into OUTDIR/pulumi-language-python.
#
# Usage: scripts/build-langhost.sh OUTDIR
#
# Quick and idempotent: nothing is rebuilt when the binary is newer than main.go, go.mod and
# go.sum. Go caches default to ${PULUMI_BUILD_CACHE:-$HOME/.cache/ims-pulumi}/{gomod,gobuild}
# (shared with the Pulumi CLI build) unless GOMODCACHE / GOCACHE are already set.
set -euo pipefail

log() { printf '[build-langhost] %s\n' "$*" >&2; }

if [ $# -ne 1 ] || [ -z "$1" ]; then
    log "usage: $0 OUTDIR"
    exit 2
fi

HERE=$(cd "$(dirname "$0")" && pwd)
SRC="$HERE/../tools/langhost"
SRC=$(cd "$SRC" && pwd)
mkdir -p "$1"
OUTDIR=$(cd "$1" && pwd)
BIN="$OUTDIR/pulumi-language-python"

up_to_date() {
    [ -x "$BIN" ] || return 1
    local f
    for f in main.go go.mod go.sum; do
        [ "$BIN" -nt "$SRC/$f" ] || return 1
    done
}

if up_to_date; then
    log "$BIN is up to date"
    exit 0
fi

command -v go >/dev/null || { log "go not found on PATH (need Go >= 1.26)"; exit 1; }

CACHE=${PULUMI_BUILD_CACHE:-$HOME/.cache/ims-pulumi}
export GOMODCACHE=${GOMODCACHE:-$CACHE/gomod}
export GOCACHE=${GOCACHE:-$CACHE/gobuild}
export GOFLAGS=${GOFLAGS:--mod=mod} GOTOOLCHAIN=${GOTOOLCHAIN:-local} CGO_ENABLED=${CGO_ENABLED:-0}

log "building $BIN from $SRC (GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE)"
TMP="$BIN.tmp.$$"
trap 'rm -f "$TMP"' EXIT
(cd "$SRC" && go build -trimpath -ldflags "-s -w" -o "$TMP" .)
mv -f "$TMP" "$BIN"
trap - EXIT
log "built $BIN"
