#!/usr/bin/env bash
# `npm run build`: compiles the API, operator, SDK and CLI (tsconfig.build.json) to dist/, with
# type declarations for the package's `oneclaw/sdk` export, plus what they read at run time (the
# SQL migrations). --if-stale does nothing while dist/ is current (npm pack runs it that way).
#
# The build goes to a new directory that replaces dist/ when complete, so a reader of dist/ (the
# launcher, a concurrent pack) never sees half a build; its stamp, taken when the compile starts,
# lists the sources it read (the include paths that exist), so an edit made during the build
# leaves dist/ stale.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source hack/dist-current.sh

if [[ "${1:-}" == "--if-stale" ]] && dist_current "$PWD"; then exit 0; fi

out=$(mktemp -d "$PWD/.dist-XXXXXX")
chmod 755 "$out"
trap 'rm -rf "$out" "$out.old"' EXIT
sources=$(node -e '
  const ts = require("typescript");
  const { config } = ts.readConfigFile("tsconfig.build.json", ts.sys.readFile);
  const paths = [...config.include, "tsconfig.json", "tsconfig.build.json", "package.json"];
  console.log(paths.filter((p) => require("node:fs").existsSync(p)).join(" "));
')
echo "$sources" >"$out/.build-stamp"
npx tsc -p tsconfig.build.json --outDir "$out"
mkdir -p "$out/api/src/db"
cp -R api/src/db/migrations "$out/api/src/db/migrations"
chmod +x "$out/cli/src/main.js"
if [[ -d dist ]]; then mv dist "$out.old"; fi
mv "$out" dist
