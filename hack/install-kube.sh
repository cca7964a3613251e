#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and a matching kubectl from the Go module proxy into
# $ONECLAW_CACHE/kube-<version>/bin and $ONECLAW_CACHE/etcd-<version>/bin. Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_kube() {
  local dir="$ONECLAW_CACHE/kube-$KUBE_VERSION" v="$KUBE_VERSION"
  local staging="v0.${v#1.}" minor
  minor=$(echo "$v" | cut -d. -f2)
  log "building kube-apiserver, kube-controller-manager and kubectl v$v (several minutes on a cold cache)"
  rm -rf "$dir/src" && mkdir -p "$dir/src" && cd "$dir/src"
  go mod init local/kbin >/dev/null 2>&1
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@v$v" | sed -n 's/.*"GoMod": "\([^"]*\)".*/\1/p')
  [[ -f "$gomod" ]] || die "could not download k8s.io/kubernetes@v$v"
  # k8s.io/kubernetes replaces its staging modules with ./staging paths, which `go install` refuses;
  # pin each to the published module of the same release instead.
  for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*|\1|p' "$gomod"); do
    go mod edit -replace="$m=$m@$staging"
  done
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$v" "k8s.io/kubernetes/cmd/kube-controller-manager@v$v" \
    "k8s.io/kubernetes/cmd/kubectl@v$v"
  CGO_ENABLED=0 go build -trimpath -o "$dir/bin/" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=v$v -X k8s.io/component-base/version.gitMajor=1 \
    -X k8s.io/component-base/version.gitMinor=$minor" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
  rm -rf "$dir/src"
}

build_etcd() {
  local dir="$ONECLAW_CACHE/etcd-$ETCD_VERSION"
  log "building etcd v$ETCD_VERSION"
  rm -rf "$dir/src" && mkdir -p "$dir/src" && cd "$dir/src"
  go mod init local/etcdbin >/dev/null 2>&1
  go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir/bin/etcd" go.etcd.io/etcd/server/v3
  rm -rf "$dir/src"
}

once "$ONECLAW_CACHE/etcd-$ETCD_VERSION/.done" build_etcd
# The marker names what the build produced, so adding a binary rebuilds.
once "$ONECLAW_CACHE/kube-$KUBE_VERSION/.done-apiserver-kcm-kubectl" build_kube
echo "ETCD_BIN=$ONECLAW_CACHE/etcd-$ETCD_VERSION/bin/etcd"
echo "KUBE_BIN_DIR=$ONECLAW_CACHE/kube-$KUBE_VERSION/bin"
