#!/usr/bin/env bash
# Start/stop a local S3-compatible object server (versitygw, POSIX backend) standing in for Huawei OBS.
#
#   scripts/s3/serve.sh run    STATE_DIR [PORT]  # foreground; URL is the first stdout line; Ctrl-C stops
#   scripts/s3/serve.sh start  STATE_DIR [PORT]  # background; prints the URL once it answers
#   scripts/s3/serve.sh stop   STATE_DIR         # stops what `start` started (idempotent)
#   scripts/s3/serve.sh status STATE_DIR         # prints the URL and exits 0 if running, else exits 1
#
# Listens on 127.0.0.1 only. PORT 0 (default) picks a free loopback port. Buckets are the
# directories of STATE_DIR/data (objects are files below them); `start` also writes STATE_DIR/url,
# STATE_DIR/versitygw.pid and STATE_DIR/logs/. Buckets named in S3_BUCKETS (space-separated) are
# made as directories before the server starts, so `make up` finds its staging bucket.
# Installs versitygw first when needed (scripts/s3/install-versitygw.sh, cached outside the repo).
#
# Credentials (one root user, SigV4): S3_ACCESS_KEY / S3_SECRET_KEY, default the emulator's public
# demo AK/SK (ims_emulator/__init__.py DEMO_AK / DEMO_SK; OBS takes the account's AK/SK, so the
# demo stack signs IMS and OBS requests with the same pair). They reach versitygw through its
# environment (ROOT_ACCESS_KEY / ROOT_SECRET_KEY), never its command line. Region: S3_REGION
# (default us-east-1, the region SigV4 requests must be signed for).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The demo pair of ims_emulator/__init__.py (public, for local use only); tests/obs pins the equality.
DEFAULT_ACCESS_KEY="IMSDEMOACCESSKEY0001"
DEFAULT_SECRET_KEY="ims-demo-secret-key-do-not-use-in-production"

usage() { sed -n '2,20p' "$0" >&2; exit 2; }
log() { printf '[s3-serve] %s\n' "$*" >&2; }

cmd="${1:-}"
state="${2:-}"
port="${3:-0}"
[[ -n "$cmd" && -n "$state" ]] || usage
[[ "$port" =~ ^[0-9]+$ ]] || { log "PORT must be a number, not '$port'"; exit 2; }
mkdir -p "$state"
state="$(cd "$state" && pwd)"
pidfile="$state/versitygw.pid"
urlfile="$state/url"

running_pid() {
  local pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q versitygw && echo "$pid"
}

free_port() {  # a port the kernel just handed out on 127.0.0.1 (free unless someone takes it first)
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

xattrs_work() {  # the POSIX backend keeps object metadata in user xattrs when the file system has them
  python3 - "$1" <<'PY'
import os, sys, tempfile
with tempfile.NamedTemporaryFile(dir=sys.argv[1]) as f:
    try:
        os.setxattr(f.name, "user.ims-s3-probe", b"1")
    except OSError:
        sys.exit(1)
PY
}

# The versitygw command line (without credentials) for PORT; exported: the credentials and region.
prepare() {
  local p=$1 b
  bin="$(bash "$here/install-versitygw.sh")"
  mkdir -p "$state/data" "$state/logs"
  for b in ${S3_BUCKETS:-}; do mkdir -p "$state/data/$b"; done
  export ROOT_ACCESS_KEY="${S3_ACCESS_KEY:-$DEFAULT_ACCESS_KEY}"
  export ROOT_SECRET_KEY="${S3_SECRET_KEY:-$DEFAULT_SECRET_KEY}"
  export VGW_REGION="${S3_REGION:-us-east-1}"
  args=(--port "127.0.0.1:$p" --quiet)
  backend=(posix)
  if ! xattrs_work "$state/data"; then
    mkdir -p "$state/meta"
    backend+=(--sidecar "$state/meta")  # no user xattrs here (e.g. some tmpfs): metadata beside the data
  fi
  backend+=("$state/data")
}

wait_ready() {  # wait_ready PID URL: until the server answers HTTP (any status), or it died / 30 s passed
  local pid=$1 url=$2
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || return 1
    if python3 -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass  # 403 for an anonymous request: it answers
except OSError:
    sys.exit(1)' "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

case "$cmd" in
  run)
    [[ "$port" != 0 ]] || port="$(free_port)"
    prepare "$port"
    echo "http://127.0.0.1:$port"
    exec "$bin" "${args[@]}" "${backend[@]}"
    ;;
  start)
    if pid="$(running_pid)"; then
      log "already running (pid $pid)"
      cat "$urlfile"
      exit 0
    fi
    [[ "$port" != 0 ]] || port="$(free_port)"
    prepare "$port"
    rm -f "$urlfile"
    url="http://127.0.0.1:$port"
    setsid "$bin" "${args[@]}" "${backend[@]}" </dev/null >>"$state/logs/versitygw.out" 2>>"$state/logs/versitygw.err" &
    pid=$!
    echo "$pid" >"$pidfile"
    if ! wait_ready "$pid" "$url"; then
      log "versitygw did not come up on $url:"
      tail -n 20 "$state/logs/versitygw.err" >&2 || true
      kill -TERM "$pid" 2>/dev/null || true
      rm -f "$pidfile"
      exit 1
    fi
    echo "$url" >"$urlfile"
    cat "$urlfile"
    ;;
  stop)
    if pid="$(running_pid)"; then
      kill -TERM "$pid"
      for _ in $(seq 1 50); do  # up to ~10 s
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      if kill -0 "$pid" 2>/dev/null; then
        log "versitygw $pid still alive; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    rm -f "$pidfile" "$urlfile"
    log "stopped"
    ;;
  status)
    if running_pid >/dev/null && [[ -s "$urlfile" ]]; then
      cat "$urlfile"
      exit 0
    fi
    exit 1
    ;;
  *) usage ;;
esac
