#!/usr/bin/env bash
# Append to VENV/bin/activate the environment that keeps the Pulumi CLI offline and quiet and,
# when you have not chosen a backend yourself, points it at the checkout's local state backend,
# so that `. .venv/bin/activate` is all a user needs before running `pulumi` by hand.
#
# The block only fills in DEFAULTS; it never replaces a setting of yours:
#   - PULUMI_SKIP_UPDATE_CHECK, PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION,
#     PULUMI_IGNORE_AMBIENT_PLUGINS: `true` unless already set;
#   - the backend: only if none is chosen (no PULUMI_BACKEND_URL, no PULUMI_ACCESS_TOKEN and no
#     `pulumi login` recorded in the credentials.json the CLI reads: in $PULUMI_CREDENTIALS_PATH,
#     else $PULUMI_HOME, else ~/.pulumi) does it set
#     PULUMI_BACKEND_URL=file://ROOT/.state/backend, PULUMI_HOME=ROOT/.state/pulumi-home (unless
#     PULUMI_HOME is set), PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS=true and, unless
#     PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE is set, the demo passphrase.
#     With a backend of yours no demo passphrase is ever set (it would encrypt your secrets).
# Each value it sets is remembered (_IMS_DEFAULT_<NAME>), so that `deactivate`, or activating
# this or another checkout's venv later, removes exactly those and nothing the user set.
# Idempotent: a block written by an earlier version of this script is replaced.
set -euo pipefail
VENV=$1 ROOT=$2
ACT="$VENV/bin/activate"
BEGIN="# >>> ims-image-metadata environment >>>"
END="# <<< ims-image-metadata environment <<<"
ROOT_Q=$(printf '%q' "$ROOT")

block() {
cat <<'EOT'
# Defaults for running `pulumi` by hand (scripts/venv-activate-env.sh): set only where you have
# not set anything; `deactivate` removes exactly what this block set.
_ims_is_default() {  # NAME: holds the value an activation of an ims checkout gave it
    eval "[ -n \"\${$1+x}\" ] && [ -n \"\${_IMS_DEFAULT_$1+x}\" ] && [ \"\${$1}\" = \"\${_IMS_DEFAULT_$1}\" ]"
}
_ims_set_default() {  # NAME VALUE
    export "$1=$2" "_IMS_DEFAULT_$1=$2"
}
_ims_forget_defaults() {
    for _ims_v in PULUMI_SKIP_UPDATE_CHECK PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION PULUMI_IGNORE_AMBIENT_PLUGINS \
            PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS PULUMI_HOME PULUMI_BACKEND_URL PULUMI_CONFIG_PASSPHRASE; do
        if _ims_is_default "$_ims_v"; then unset "$_ims_v"; fi
        unset "_IMS_DEFAULT_$_ims_v"
    done
    unset _ims_v
}
_ims_logged_in() {  # a `pulumi login` is recorded where the CLI will look for it
    _ims_creds="${PULUMI_CREDENTIALS_PATH:-${PULUMI_HOME:-$HOME/.pulumi}}/credentials.json"
    [ -f "$_ims_creds" ] && grep -Eq '"current"[[:space:]]*:[[:space:]]*"[^"]' "$_ims_creds"
}
_ims_forget_defaults   # those of an earlier activation (of this or another checkout)
EOT
printf '_ims_root=%s\n' "$ROOT_Q"
cat <<'EOT'
for _ims_v in PULUMI_SKIP_UPDATE_CHECK PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION PULUMI_IGNORE_AMBIENT_PLUGINS; do
    eval "[ -n \"\${$_ims_v:-}\" ]" || _ims_set_default "$_ims_v" true
done
if [ -z "${PULUMI_BACKEND_URL:-}" ] && [ -z "${PULUMI_ACCESS_TOKEN:-}" ] && ! _ims_logged_in; then
    # No backend of yours: this checkout's local state, with the demo passphrase (README).
    [ -n "${PULUMI_HOME:-}" ] || _ims_set_default PULUMI_HOME "$_ims_root/.state/pulumi-home"
    _ims_set_default PULUMI_BACKEND_URL "file://$_ims_root/.state/backend"
    [ -n "${PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS:-}" ] \
        || _ims_set_default PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS true
    if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
        _ims_set_default PULUMI_CONFIG_PASSPHRASE ims-demo-passphrase
    fi
    mkdir -p "$_ims_root/.state/backend" "${PULUMI_HOME}"
fi
unset _ims_v _ims_root _ims_creds
# `deactivate` (and the next activation, which starts with `deactivate nondestructive`) also
# removes these defaults.
if _ims_body=$(typeset -f deactivate 2>/dev/null) && [ -n "$_ims_body" ]; then
    case $_ims_body in
        *_ims_forget_defaults*) : ;;   # already wrapped
        *) eval "_ims_venv_$_ims_body" ;;
    esac
    deactivate() {
        _ims_forget_defaults
        _ims_venv_deactivate "$@"
        if [ "${1:-}" != "nondestructive" ]; then
            unset -f _ims_venv_deactivate _ims_is_default _ims_set_default _ims_forget_defaults _ims_logged_in
        fi
    }
fi
unset _ims_body
EOT
}

tmp="$ACT.tmp.$$"
# Everything but an earlier block, then the current block.
awk -v b="$BEGIN" -v e="$END" '$0 == b {skip = 1; next} $0 == e {skip = 0; next} !skip' "$ACT" > "$tmp"
{ echo "$BEGIN"; block; echo "$END"; } >> "$tmp"
chmod --reference="$ACT" "$tmp" 2>/dev/null || true
mv -f "$tmp" "$ACT"
