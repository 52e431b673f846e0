#!/usr/bin/env bash
# This checkout's own IMS emulator for `make up` / `make down` (never anybody else's).
#
#   scripts/emulator.sh start DIR PORT PYTHON  # make sure DIR's emulator runs; its URL on stdout
#   scripts/emulator.sh url   DIR              # its URL, exit 1 when it is not running
#   scripts/emulator.sh stop  DIR              # stop exactly the process `start` started (idempotent)
#
# EMU_ARGS (environment): further flags of the emulator, e.g. `--obs-endpoint URL --obs-credentials AK:SK`.
#
# DIR (the checkout's .emulator/) holds pid, port and url of the running emulator, its SQLite
# data (DIR/data) and its log (DIR/emulator.log). A process counts as this checkout's only if
# DIR/pid names it AND its command line is `... -m ims_emulator ... --data DIR/data` (so a recycled
# pid, or another checkout's emulator, never is), and it answers at DIR/url.
#
# `start` reuses this checkout's emulator when it runs; otherwise it starts one on PORT. When PORT
# is taken by another process (another checkout's emulator included) it says which one, leaves it
# alone and starts this checkout's emulator on a free port instead; the caller points
# ims:endpoint at the URL printed. Messages go to stderr, prefixed with [emulator].
set -euo pipefail

log() { printf '[emulator] %s\n' "$*" >&2; }
usage() { sed -n '4,6p' "$0" >&2; exit 2; }

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then usage; fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)
data="$dir/data"
pidfile="$dir/pid" portfile="$dir/port" urlfile="$dir/url" logfile="$dir/emulator.log"
START_TIMEOUT=${EMU_START_TIMEOUT:-30}

cmdline() { ps -ww -o args= -p "$1" 2>/dev/null || true; }

is_ours() {  # is_ours PID: PID is an emulator serving this checkout's data directory
    local args
    args=$(cmdline "$1")
    case "$args" in
        *" -m ims_emulator "*"--data $data"|*" -m ims_emulator "*"--data $data "*) return 0 ;;
    esac
    return 1
}

healthy() {  # healthy URL
    curl -fsS --noproxy '*' --max-time 3 "$1/_emulator/health" >/dev/null 2>&1
}

running_pid() {  # the pid of this checkout's running emulator, per DIR/pid
    local pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile" 2>/dev/null || true)
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    kill -0 "$pid" 2>/dev/null && is_ours "$pid" && printf '%s\n' "$pid"
}

forget() { rm -f "$pidfile" "$portfile" "$urlfile"; }

listener_pid() {  # listener_pid PORT: the pid listening on 127.0.0.1:PORT, if it can be found
    local port=$1 pid=""
    if command -v lsof >/dev/null 2>&1; then
        pid=$(lsof -nP -iTCP:"$port" -sTCP:LISTEN -t 2>/dev/null | head -n1 || true)
    fi
    if [ -z "$pid" ] && command -v ss >/dev/null 2>&1; then
        pid=$(ss -ltnpH "sport = :$port" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1 || true)
    fi
    printf '%s\n' "$pid"
}

describe_holder() {  # describe_holder PORT: who has the port, for the message
    local port=$1 pid args what cwd
    pid=$(listener_pid "$port")
    if [ -n "$pid" ]; then
        args=$(cmdline "$pid")
        what="pid $pid: $args"
        if cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) && [ -n "$cwd" ]; then what="$what (in $cwd)"; fi
    else
        args="" what="a process this user cannot see"
    fi
    # Ask it whether it is an emulator only if it may be one (never poke unrelated processes).
    case "$pid:$args" in
        ":" | *emulator*)
            if healthy "http://127.0.0.1:$port"; then
                what="$what; an IMS emulator answers there, but not this checkout's (its data is not $data)"
            fi ;;
    esac
    printf '%s\n' "$what"
}

launch() {  # launch PORT: start the emulator on PORT; 0 = started (pid, port, url written), 1 = failed
    local port=$1 pid url="" out="$dir/stdout" i
    rm -f "$out"
    mkdir -p "$data"
    touch "$logfile"
    log_mark=$(wc -c <"$logfile")
    # Its own session where possible, so that a Ctrl-C at the terminal of `make up` does not reach it.
    if command -v setsid >/dev/null 2>&1; then
        # shellcheck disable=SC2086  # EMU_ARGS: further flags, split on spaces
        setsid nohup "$PYTHON" -m ims_emulator --port "$port" --data "$data" ${EMU_ARGS:-} </dev/null >"$out" 2>>"$logfile" &
    else
        # shellcheck disable=SC2086
        nohup "$PYTHON" -m ims_emulator --port "$port" --data "$data" ${EMU_ARGS:-} </dev/null >"$out" 2>>"$logfile" &
    fi
    pid=$!
    # The emulator prints its URL as its first line once it listens.
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if [ "$(wc -l <"$out")" -ge 1 ]; then url=$(head -n1 "$out"); break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$url" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        return 1
    fi
    printf '%s\n' "$pid" >"$pidfile"
    printf '%s\n' "${url##*:}" >"$portfile"
    printf '%s\n' "$url" >"$urlfile"
}

new_log() { tail -c "+$((log_mark + 1))" "$logfile"; }  # what the last launch logged

case "$cmd" in
    start)
        port=${3:-}
        PYTHON=${4:-python3}
        [ -n "$port" ] || usage
        if pid=$(running_pid); then
            url=$(cat "$urlfile" 2>/dev/null || true)
            if [ -z "$url" ]; then  # started by an older `make up`, which wrote the pid only
                url=$(cmdline "$pid" | sed -n 's/.* --port \([0-9][0-9]*\).*/http:\/\/127.0.0.1:\1/p')
                if [ -n "$url" ]; then printf '%s\n' "$url" >"$urlfile"; printf '%s\n' "${url##*:}" >"$portfile"; fi
            fi
            if [ -n "$url" ] && healthy "$url"; then
                log "running at $url (pid $pid, this checkout's)"
                printf '%s\n' "$url"
                exit 0
            fi
            log "this checkout's emulator (pid $pid) does not answer at ${url:-an unknown URL};"
            log "see $logfile, and stop it with 'make emulator-stop'"
            exit 1
        fi
        if [ -f "$pidfile" ]; then
            log "$pidfile names pid $(cat "$pidfile"), which is not this checkout's emulator (any more): forgetting it"
            forget
        fi
        if launch "$port"; then
            :
        elif [ "$port" != 0 ] && new_log | grep -qi "address already in use"; then
            log "port $port is taken by another process, $(describe_holder "$port")."
            log "Leaving it alone: starting this checkout's own emulator on a free port instead"
            log "(ims:endpoint follows it; 'make up EMU_PORT=<port>' picks another port)."
            launch 0 || { log "could not start the emulator; see $logfile:"; new_log | tail -n 20 >&2; exit 1; }
        else
            log "could not start the emulator on port $port; see $logfile:"
            new_log | tail -n 20 >&2
            exit 1
        fi
        url=$(cat "$urlfile")
        log "started at $url (pid $(cat "$pidfile"); data in $data, log in $logfile)"
        printf '%s\n' "$url"
        ;;
    url)
        pid=$(running_pid) || exit 1
        cat "$urlfile"
        ;;
    stop)
        if pid=$(running_pid); then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
            forget
            log "stopped pid $pid"
        elif [ -f "$pidfile" ]; then
            log "$pidfile names pid $(cat "$pidfile"), which is not this checkout's emulator (any more): nothing to stop"
            forget
        fi
        ;;
    *) usage ;;
esac
