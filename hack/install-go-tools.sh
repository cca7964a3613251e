#!/usr/bin/env bash
# Builds helm from the Go module proxy into $ONECLAW_CACHE/helm-<version>/bin. Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_helm() {
  log "building helm v$HELM_VERSION"
  GOBIN="$ONECLAW_CACHE/helm-$HELM_VERSION/bin" CGO_ENABLED=0 \
    go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
}

once "$ONECLAW_CACHE/helm-$HELM_VERSION/.done" build_helm
echo "HELM_BIN=$ONECLAW_CACHE/helm-$HELM_VERSION/bin/helm"
