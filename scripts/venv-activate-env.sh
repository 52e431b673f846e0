#!/usr/bin/env bash
# Append to VENV/bin/activate the environment that keeps the Pulumi CLI offline and quiet
# and points it at the project's local state backend, so that `. .venv/bin/activate` is all
# a user needs before running `pulumi` by hand. Idempotent.
set -euo pipefail
VENV=$1 ROOT=$2
ACT="$VENV/bin/activate"
MARK="# >>> ims-image-metadata environment >>>"
grep -qF "$MARK" "$ACT" && exit 0
cat >> "$ACT" <<EOT
$MARK
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
export PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS=true
export PULUMI_HOME="\${PULUMI_HOME:-$ROOT/.state/pulumi-home}"
export PULUMI_BACKEND_URL="\${PULUMI_BACKEND_URL:-file://$ROOT/.state/backend}"
export PULUMI_CONFIG_PASSPHRASE="\${PULUMI_CONFIG_PASSPHRASE-ims-demo-passphrase}"
mkdir -p "$ROOT/.state/backend" "$ROOT/.state/pulumi-home"
# <<< ims-image-metadata environment <<<
EOT
