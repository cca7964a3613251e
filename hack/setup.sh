#!/usr/bin/env bash
# Installs everything the tests and `make dev` need, idempotently. A second run only checks
# markers (a few seconds). Builds land in $ONECLAW_CACHE, outside the repository.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start=$(date +%s)
bash "$HACK_DIR/install-system-packages.sh"
bash "$HACK_DIR/install-node.sh"
bash "$HACK_DIR/install-node-modules.sh"
bash "$HACK_DIR/install-python-tools.sh" >/dev/null
bash "$HACK_DIR/install-go-tools.sh" >/dev/null
bash "$HACK_DIR/install-kube.sh" >/dev/null
log "setup done in $(( $(date +%s) - start ))s (cache: $ONECLAW_CACHE)"
