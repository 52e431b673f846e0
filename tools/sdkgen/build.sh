#!/usr/bin/env bash
# Generate the `ims` plugin's SDKs (Python, TypeScript, Go) into OUT (default: sdk/ of this checkout).
#
# Usage: tools/sdkgen/build.sh [OUT]        (`make sdk` runs it; the SDK tests run it into a temp dir)
#
#   1. the schema, from the tables: `python -m ims_pulumi.plugin.schema` with $PY (default .venv/bin/python);
#   2. the generator, tools/sdkgen (Pulumi's codegen library, github.com/pulumi/pulumi/pkg/v3, the release
#      of the CLI so the Go caches of `make setup` are warm), built into build/sdkgen/ when its sources
#      changed (~15 s the first time, the CLI build's caches being warm; nothing after);
#   3. `sdkgen -schema ... -out OUT`: OUT/python (package pulumi_ims), OUT/nodejs (@ims/pulumi), OUT/go.
# The SDKs are built on demand and git-ignored, never checked in: generated from the tables each time, they
# cannot go stale, and no one is tempted to edit them.
set -euo pipefail

log() { printf '[sdkgen] %s\n' "$*" >&2; }

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/sdk}
PY=${PY:-$ROOT/.venv/bin/python}
BIN_DIR=${SDKGEN_BIN_DIR:-$ROOT/build/sdkgen}
BIN="$BIN_DIR/sdkgen"
CACHE=${PULUMI_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ims-pulumi}

up_to_date() {
    [ -x "$BIN" ] || return 1
    local f
    for f in main.go go.mod go.sum; do
        [ "$BIN" -nt "$HERE/$f" ] || return 1
    done
}

if ! up_to_date; then
    command -v go >/dev/null || { log "go not found on PATH (need Go >= 1.26, as for \`make setup\`)"; exit 1; }
    export GOMODCACHE=${GOMODCACHE:-$CACHE/gomod} GOCACHE=${GOCACHE:-$CACHE/gobuild}
    export GOFLAGS=${GOFLAGS:--mod=mod} GOTOOLCHAIN=${GOTOOLCHAIN:-local} CGO_ENABLED=${CGO_ENABLED:-0}
    log "building $BIN (Pulumi's codegen; ~15 s the first time after make setup)"
    mkdir -p "$BIN_DIR"
    TMP="$BIN.tmp.$$"
    trap 'rm -f "$TMP"' EXIT
    # The flags of the CLI build (scripts/install-pulumi.sh): its compiled pkg/v3 packages are reused.
    (cd "$HERE" && go build -trimpath -tags osusergo,grpcnotrace -ldflags "-s -w" -o "$TMP" .)
    mv -f "$TMP" "$BIN"
    trap - EXIT
fi

mkdir -p "$OUT"
SCHEMA="$OUT/.schema.json.tmp.$$"
trap 'rm -f "$SCHEMA"' EXIT
"$PY" -m ims_pulumi.plugin.schema > "$SCHEMA"
"$BIN" -schema "$SCHEMA" -out "$OUT"
mv -f "$SCHEMA" "$OUT/schema.json"
trap - EXIT
log "SDKs in $OUT: python/ (pulumi_ims), nodejs/ (@ims/pulumi), go/ ($(sed -n 's/^module //p' "$OUT/go/go.mod"))"
