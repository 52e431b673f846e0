#!/usr/bin/env bash
# Put versitygw, a real S3-compatible object server (an S3 gateway over a POSIX folder), into a
# cache outside the repository, and print the binary's path (the only stdout line).
#
#   scripts/s3/install-versitygw.sh
#
# It stands in for Huawei OBS (which speaks an S3-compatible API beside its own) in the tests and
# `make up`: the emulator reads registered image files from it, the provider stages files into it.
#
# Order of preference:
#   1. $VERSITYGW_BIN, when set (an executable you built or installed yourself);
#   2. the cached build $CACHE/versitygw-$V/bin/versitygw (CACHE: $VERSITYGW_CACHE, default
#      ${XDG_CACHE_HOME:-~/.cache}/ims-pulumi, where the Pulumi CLI build lives too);
#   3. a fresh `go install github.com/versity/versitygw/cmd/versitygw@$V` from the Go module proxy
#      (~5 min cold on 2 cores, ~60 MB binary; Go's module and build caches are shared with the
#      Pulumi CLI build of scripts/install-pulumi.sh).
# Concurrent runs are serialised with flock; the binary is moved into place last, so its presence
# marks a complete build.
#
# Environment: VERSITYGW_VERSION (default v1.8.0, the version verified against boto3 here),
# VERSITYGW_CACHE, VERSITYGW_BIN, GOMODCACHE, GOCACHE.
set -euo pipefail

V=${VERSITYGW_VERSION:-v1.8.0}
CACHE=${VERSITYGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ims-pulumi}
BUILD_BIN="$CACHE/versitygw-$V/bin"
BIN="$BUILD_BIN/versitygw"

log() { printf '[versitygw-install] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ -n "${VERSITYGW_BIN:-}" ]; then
    [ -x "$VERSITYGW_BIN" ] || die "VERSITYGW_BIN=$VERSITYGW_BIN is not an executable file"
    printf '%s\n' "$VERSITYGW_BIN"
    exit 0
fi

if [ -x "$BIN" ]; then
    printf '%s\n' "$BIN"
    exit 0
fi

command -v go >/dev/null || die "versitygw $V is not built yet and there is no Go toolchain to build it (need Go >= 1.24)"
command -v flock >/dev/null || die "flock not found (util-linux)"
mkdir -p "$BUILD_BIN"
exec 9>"$CACHE/versitygw-$V/install.lock"
log "taking the install lock $CACHE/versitygw-$V/install.lock ..."
flock -w 1800 9 || die "could not take the install lock within 30 min"
if [ -x "$BIN" ]; then  # another process built it while we waited
    printf '%s\n' "$BIN"
    exit 0
fi

export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE=${GOMODCACHE:-$CACHE/gomod} GOCACHE=${GOCACHE:-$CACHE/gobuild}
TMP_BIN="$CACHE/versitygw-$V/bin.tmp.$$"
rm -rf "$TMP_BIN"
mkdir -p "$TMP_BIN"
trap 'rm -rf "$TMP_BIN"; [ -n "${HB:-}" ] && kill "$HB" 2>/dev/null || true' EXIT
log "building versitygw $V from the Go module proxy into $BUILD_BIN (first run only: ~5 min) ..."
# Progress: go install is silent for minutes; print a heartbeat with the build cache size.
( while sleep 30; do log "... still building ($(du -sh "$GOCACHE" 2>/dev/null | cut -f1) of build cache so far)"; done ) &
HB=$!
start=$SECONDS
GOBIN="$TMP_BIN" go install -trimpath -ldflags "-s -w" "github.com/versity/versitygw/cmd/versitygw@$V"
mv "$TMP_BIN/versitygw" "$BIN"   # last: its presence marks a complete build
log "built $BIN in $((SECONDS - start)) s"
printf '%s\n' "$BIN"
