# Shared helpers for hack/ scripts. Source it; do not run it.
# Everything built or downloaded lives under $ONECLAW_CACHE, keyed by version, so a second run is
# a no-op and a fresh clone of the repository still finds it.
set -euo pipefail

ONECLAW_CACHE="${ONECLAW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oneclaw}"
export ONECLAW_CACHE
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HACK_DIR/.." && pwd)"

# shellcheck source=versions.env
set -a; source "$HACK_DIR/versions.env"; set +a

# The Node.js setup installs when the machine's own is older (hack/install-node.sh). Every hack/
# script runs under it when it is there; the Makefile puts the same directory first on PATH.
NODE_HOME="$ONECLAW_CACHE/node-$NODE_VERSION"
if [[ -x "$NODE_HOME/bin/node" && ":$PATH:" != *":$NODE_HOME/bin:"* ]]; then
  export PATH="$NODE_HOME/bin:$PATH"
fi

log() { printf '[hack] %s\n' "$*" >&2; }
die() { printf '[hack] error: %s\n' "$*" >&2; exit 1; }

# Run a build step only once per cache key. The marker is written last, so an interrupted build
# is redone on the next run instead of leaving a half-built tool that looks finished.
once() {
  local marker="$1"; shift
  if [[ -f "$marker" ]]; then return 0; fi
  "$@"
  mkdir -p "$(dirname "$marker")"
  date -u +%FT%TZ >"$marker"
}

apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
