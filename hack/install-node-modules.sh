#!/usr/bin/env bash
# Installs the npm dependencies pinned by package-lock.json, and skips the work when
# node_modules already matches the lockfile.
#
# `npm install` rather than `npm ci`: npm 11 omits other platforms' optional binaries
# (@biomejs/cli-*, @esbuild/*) from the lockfile when the registry it talks to does not list
# them, and `npm ci` then rejects the lockfile it just wrote. `npm install` with exact versions
# and a lockfile installs the same tree; .ci/run fails if it would have changed the lockfile.
# pkcs11js is the one native addon allowed to build (package.json "allowScripts").
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
stamp="node_modules/.oneclaw-lock.sha256"
want=$( (cat package-lock.json; node --version) | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi
log "npm install (lockfile changed or node_modules missing)"
npm install --no-audit --no-fund --loglevel=error
[[ -f node_modules/pkcs11js/build/Release/pkcs11.node ]] || die "pkcs11js native addon was not built"
echo "$want" >"$stamp"
