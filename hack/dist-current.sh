# Sourced by bin/oneclaw and hack/build.sh. `dist_current <repo root>` succeeds while dist/ holds a
# build of the sources as they are now: nothing under what the build compiled (its stamp lists
# it; an edit, an added or a removed file all count) is newer than the build's start.
dist_current() {
  local stamp="$1/dist/.build-stamp" sources newer
  [[ -f "$stamp" ]] || return 1
  read -r -a sources <"$stamp"
  newer=$(cd "$1" && find "${sources[@]}" -newer "$stamp" -print -quit 2>/dev/null) || return 1
  [[ -z "$newer" ]]
}
