#!/usr/bin/env bash
# Node.js $NODE_VERSION (versions.env) in $ONECLAW_CACHE/node-$NODE_VERSION, unless the machine's
# own node is already that major or newer. The official binaries come from the npm registry as
# the package node-linux-<arch>, through npm's cache (a warm cache needs no network); its
# include/ holds the headers node-gyp builds the PKCS#11 addon against (nodejs.org, where
# node-gyp would otherwise fetch them, need not be reachable).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -f "$NODE_HOME/.installed" ]]; then exit 0; fi
system_major=$(PATH="${PATH//"$NODE_HOME/bin:"/}" node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((system_major >= ${NODE_VERSION%%.*})); then exit 0; fi

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) die "no Node.js build for $(uname -m); install Node.js ${NODE_VERSION%%.*} yourself" ;;
esac
command -v npm >/dev/null || die "npm is needed to fetch Node.js $NODE_VERSION; install any Node.js with npm first"
log "installing Node.js $NODE_VERSION into $NODE_HOME (the machine has $(node --version 2>/dev/null || echo none))"
mkdir -p "$ONECLAW_CACHE"
work=$(mktemp -d "$ONECLAW_CACHE/.node-XXXXXX")
trap 'rm -rf "$work"' EXIT
tarball=$(cd "$work" && npm pack --prefer-offline --silent "node-linux-$arch@$NODE_VERSION")
tar -xzf "$work/$tarball" -C "$work"
[[ "$("$work/package/bin/node" --version)" == "v$NODE_VERSION" ]] || die "the node-linux-$arch package does not hold Node.js $NODE_VERSION"
[[ -f "$work/package/include/node/node_version.h" ]] || die "the node-linux-$arch package has no headers"
rm -rf "$NODE_HOME"
mv "$work/package" "$NODE_HOME"
date -u +%FT%TZ >"$NODE_HOME/.installed"
