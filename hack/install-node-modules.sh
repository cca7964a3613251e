#!/usr/bin/env bash
# Installs the npm dependencies pinned by package-lock.json, and skips the work when
# node_modules already matches the lockfile.
#
# `npm install` rather than `npm ci`: npm 11 omits other platforms' optional binaries
# (@biomejs/cli-*, @esbuild/*) from the lockfile when the registry it talks to does not list
# them, and `npm ci` then rejects the lockfile it just wrote. `npm install` with exact versions
# and a lockfile installs the same tree; .ci/run fails if it would have changed the lockfile.
# pkcs11js is the one native addon allowed to build (package.json "allowScripts"). The stamp
# covers the lockfile and the Node version; npm install keeps an addon built by another Node, so
# after a Node change it is built again here (it uses Node-API, which newer Nodes load anyway,
# but a build against the running Node's headers is the one that is tested).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
stamp="node_modules/.oneclaw-lock.sha256"
built_with="node_modules/.oneclaw-node-version"
want=$( (cat package-lock.json; node --version) | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi
# node-gyp builds against the running Node's headers: ours ship in its include/.
if [[ "$(command -v node)" == "$NODE_HOME/bin/node" ]]; then export npm_config_nodedir="$NODE_HOME"; fi
fresh=false
[[ -d node_modules/pkcs11js ]] || fresh=true
log "npm install under Node $(node --version) (lockfile or Node changed, or node_modules missing)"
npm install --no-audit --no-fund --loglevel=error
if ! $fresh && [[ "$(cat "$built_with" 2>/dev/null)" != "$(node --version)" ]]; then
  log "building pkcs11js again for Node $(node --version)"
  npm rebuild pkcs11js --loglevel=error
fi
node -e 'require("pkcs11js")' 2>/dev/null || die "the pkcs11js native addon does not load under Node $(node --version)"
node --version >"$built_with"
echo "$want" >"$stamp"
