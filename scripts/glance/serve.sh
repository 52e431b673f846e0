#!/usr/bin/env bash
# Start/stop a local OpenStack Glance 33.0.0 (no Keystone) for tests and `make`.
#
#   scripts/glance/serve.sh run    STATE_DIR [PORT]  # foreground; URL is the first stdout line; Ctrl-C stops
#   scripts/glance/serve.sh start  STATE_DIR [PORT]  # background; prints the URL once ready
#   scripts/glance/serve.sh stop   STATE_DIR         # stops what `start` started (idempotent)
#   scripts/glance/serve.sh status STATE_DIR         # prints the URL and exits 0 if running, else exits 1
#
# PORT 0 (default) picks a free loopback port. Installs Glance first when needed
# (scripts/glance/install.sh; cache dir from GLANCE_CACHE). STATE_DIR holds the
# config, the SQLite db, the image store and logs/; `start` also writes
# STATE_DIR/url and STATE_DIR/run_glance.pid. Extra run_glance.py options can be
# passed in GLANCE_RUN_ARGS (e.g. "--workers 1 --threads 4"). GLANCE_RUN_ARGS="--auth
# trusted-headers" starts the several-projects mode (identity from X-Project-Id/X-Roles headers
# that an authenticating proxy sets; 401 without them): see README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${GLANCE_LAUNCHER_PYTHON:-python3}"

usage() { sed -n '2,16p' "$0" >&2; exit 2; }
log() { printf '[glance-serve] %s\n' "$*" >&2; }

cmd="${1:-}"
state="${2:-}"
port="${3:-0}"
[[ -n "$cmd" && -n "$state" ]] || usage
mkdir -p "$state"
state="$(cd "$state" && pwd)"
pidfile="$state/run_glance.pid"
urlfile="$state/url"

running_pid() {
  local pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

case "$cmd" in
  run)
    venv="$(bash "$here/install.sh")"
    # shellcheck disable=SC2086
    exec "$python" "$here/run_glance.py" --venv "$venv" --state-dir "$state" --port "$port" ${GLANCE_RUN_ARGS:-}
    ;;
  start)
    if pid="$(running_pid)"; then
      log "already running (pid $pid)"
      cat "$urlfile"
      exit 0
    fi
    venv="$(bash "$here/install.sh")"
    mkdir -p "$state/logs"
    rm -f "$urlfile"
    # shellcheck disable=SC2086
    setsid "$python" "$here/run_glance.py" --venv "$venv" --state-dir "$state" --port "$port" \
      --url-file "$urlfile" --pid-file "$pidfile" ${GLANCE_RUN_ARGS:-} \
      </dev/null >"$state/logs/run_glance.out" 2>"$state/logs/run_glance.err" &
    launcher=$!
    for _ in $(seq 1 900); do # up to ~180 s
      if [[ -s "$urlfile" ]]; then
        cat "$urlfile"
        exit 0
      fi
      if ! kill -0 "$launcher" 2>/dev/null; then
        log "Glance failed to start:"
        cat "$state/logs/run_glance.err" >&2
        exit 1
      fi
      sleep 0.2
    done
    log "Glance not ready in time; stopping it"
    kill -TERM "$launcher" 2>/dev/null || true
    exit 1
    ;;
  stop)
    if pid="$(running_pid)"; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do # up to ~30 s
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      if kill -0 "$pid" 2>/dev/null; then
        log "launcher $pid still alive; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    # A gunicorn left behind by a killed launcher: stop its process group.
    if [[ -f "$state/gunicorn.pid" ]]; then
      gpid="$(cat "$state/gunicorn.pid")"
      if [[ -n "$gpid" ]] && kill -0 "$gpid" 2>/dev/null \
         && tr '\0' ' ' <"/proc/$gpid/cmdline" 2>/dev/null | grep -q 'gunicorn'; then
        kill -TERM -- "-$gpid" 2>/dev/null || true
        sleep 2
        kill -KILL -- "-$gpid" 2>/dev/null || true
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
