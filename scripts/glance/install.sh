#!/usr/bin/env bash
# Install OpenStack Glance 33.0.0 + gunicorn into a cached virtual environment.
#
#   scripts/glance/install.sh [CACHE_DIR]
#
# CACHE_DIR defaults to ${GLANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ims-pulumi/glance-33.0.0}.
# The venv is CACHE_DIR/venv. Idempotent: nothing is done when the venv imports
# glance and its stamp matches the hash of requirements.txt (+ the Python
# version). Concurrent runs are serialised with flock. Progress goes to stderr;
# the only stdout line is the venv path.
#
# Environment: GLANCE_PYTHON (default python3, must be >= 3.11).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${1:-${GLANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ims-pulumi/glance-33.0.0}}"
python="${GLANCE_PYTHON:-python3}"
req="$here/requirements.txt"
venv="$cache/venv"
stamp="$venv/.ims-glance-stamp"

log() { printf '[glance-install] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v "$python" >/dev/null 2>&1 || die "$python not found"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$python is $("$python" -V 2>&1); Glance 33.0.0 needs Python >= 3.11"
"$python" -c 'import venv, ensurepip' 2>/dev/null \
  || die "$python lacks the venv/ensurepip modules (Debian: apt-get install python3-venv)"

want="$({ cat "$req"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

is_ready() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$venv/bin/python" -c 'import glance, gunicorn' >/dev/null 2>&1
}

mkdir -p "$cache"
if is_ready; then
  log "up to date: $venv"
  echo "$venv"
  exit 0
fi

exec 9>"$cache/install.lock"
log "taking the install lock $cache/install.lock ..."
flock -w 1800 9 || die "could not take $cache/install.lock within 30 min"
if is_ready; then # another process installed it while we waited
  log "up to date: $venv"
  echo "$venv"
  exit 0
fi

start=$SECONDS
log "installing Glance into $venv (about 40 s and 260 MB on first run) ..."
rm -rf "$venv"
"$python" -m venv "$venv"
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input \
      -r "$req" >"$cache/install.log" 2>&1; then
  tail -n 40 "$cache/install.log" >&2
  die "pip install failed; full log: $cache/install.log"
fi
PYTHONWARNINGS=ignore "$venv/bin/python" -c 'import glance, glance.common.wsgi_app, gunicorn' \
  || die "glance does not import after install"
echo "$want" >"$stamp"
log "installed in $((SECONDS - start)) s, $(du -sh "$venv" | cut -f1) at $venv"
echo "$venv"
