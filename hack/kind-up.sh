#!/usr/bin/env bash
# A kind cluster with oneclaw installed by its Helm chart, for the e2e suite's kind path:
#
#   hack/kind-up.sh          # create (or reuse) the cluster, build and load the image, install
#   KUBECONFIG=.scratch/kind/kubeconfig E2E_CLUSTER=kind npx vitest run test/e2e
#   hack/kind-up.sh down     # delete the cluster
#
# Needs kind and a container engine (Docker, or Podman with KIND_EXPERIMENTAL_PROVIDER=podman);
# kubectl and helm come from `make setup`'s cache. The chart is installed the way a user would:
# PostgreSQL in the cluster (a plain Deployment, for the test only), the database URL, the local
# KMS master key, the JWT signing key and a bootstrap admin key in Secrets the chart references.
#
# Settings (env): KIND_CLUSTER (oneclaw-e2e), E2E_NAMESPACE (oneclaw-system), E2E_RELEASE
# (oneclaw), IMAGE (oneclaw:e2e). State (kubeconfig, admin key) goes to .scratch/kind/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLUSTER="${KIND_CLUSTER:-oneclaw-e2e}"
NAMESPACE="${E2E_NAMESPACE:-oneclaw-system}"
RELEASE="${E2E_RELEASE:-oneclaw}"
IMAGE="${IMAGE:-oneclaw:e2e}"
STATE="$REPO_ROOT/.scratch/kind"
KUBECTL="$ONECLAW_CACHE/kube-$KUBE_VERSION/bin/kubectl"
HELM="$ONECLAW_CACHE/helm-$HELM_VERSION/bin/helm"
export KUBECONFIG="$STATE/kubeconfig"

engine() {
  if [[ "${KIND_EXPERIMENTAL_PROVIDER:-}" == podman ]]; then echo podman; return; fi
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo docker; return; fi
  if command -v podman >/dev/null && podman info >/dev/null 2>&1; then echo podman; return; fi
  echo ""
}

preflight() {
  command -v kind >/dev/null || die "kind is not installed: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (go install sigs.k8s.io/kind@latest)"
  [[ -n "$(engine)" ]] || die "no container engine is running: kind needs Docker or Podman (this path cannot run on machines without one; the default e2e path needs none)"
  [[ -x "$KUBECTL" && -x "$HELM" ]] || die "kubectl or helm missing from $ONECLAW_CACHE: run \`make setup\` first"
}

if [[ "${1:-up}" == down ]]; then
  command -v kind >/dev/null || die "kind is not installed"
  kind delete cluster --name "$CLUSTER"
  rm -rf "$STATE"
  exit 0
fi

preflight
mkdir -p "$STATE"
kubectl() { "$KUBECTL" "$@"; }

if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  log "creating kind cluster $CLUSTER (Kubernetes v$KUBE_VERSION)"
  [[ "$(engine)" == podman ]] && export KIND_EXPERIMENTAL_PROVIDER=podman
  kind create cluster --name "$CLUSTER" --image "kindest/node:v$KUBE_VERSION" --kubeconfig "$KUBECONFIG" --wait 120s \
    || kind create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG" --wait 120s
else
  kind export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG"
fi

log "building $IMAGE (make image) and loading it into the cluster"
make -C "$REPO_ROOT" image IMAGE="$IMAGE"
if [[ "$(engine)" == podman ]]; then
  podman save "$IMAGE" -o "$STATE/image.tar"
  kind load image-archive "$STATE/image.tar" --name "$CLUSTER"
  rm -f "$STATE/image.tar"
else
  kind load docker-image "$IMAGE" --name "$CLUSTER"
fi

kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -

# The Secrets the chart references (created once; a rerun keeps the keys, so data stays readable).
secret_once() {
  local name="$1"; shift
  kubectl -n "$NAMESPACE" get secret "$name" >/dev/null 2>&1 || kubectl -n "$NAMESPACE" create secret generic "$name" "$@"
}
rand() { openssl rand -base64 48 | tr -dc 'A-Za-z0-9' | head -c "$1"; }
secret_once oneclaw-postgres --from-literal=password="$(rand 32)"
PGPASSWORD="$(kubectl -n "$NAMESPACE" get secret oneclaw-postgres -o jsonpath='{.data.password}' | base64 -d)"
secret_once oneclaw-database --from-literal=url="postgres://oneclaw:${PGPASSWORD}@postgres.${NAMESPACE}.svc:5432/oneclaw"
secret_once oneclaw-master-key --from-literal=master-key="$(openssl rand -base64 32)"
if ! kubectl -n "$NAMESPACE" get secret oneclaw-signing-key >/dev/null 2>&1; then
  openssl genpkey -algorithm ed25519 -out "$STATE/signing-key.pem"
  kubectl -n "$NAMESPACE" create secret generic oneclaw-signing-key --from-file=signing-key.pem="$STATE/signing-key.pem"
  rm -f "$STATE/signing-key.pem"
fi
secret_once oneclaw-admin-key --from-literal=admin-key="ocu_$(rand 16)$(rand 43)"
kubectl -n "$NAMESPACE" get secret oneclaw-admin-key -o jsonpath='{.data.admin-key}' | base64 -d >"$STATE/admin-key"
chmod 600 "$STATE/admin-key"

log "PostgreSQL 15 for the test (use a managed or operator-run database in production)"
kubectl -n "$NAMESPACE" apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: postgres
spec:
  replicas: 1
  selector:
    matchLabels: {app: postgres}
  template:
    metadata:
      labels: {app: postgres}
    spec:
      containers:
        - name: postgres
          image: postgres:15
          env:
            - {name: POSTGRES_USER, value: oneclaw}
            - {name: POSTGRES_DB, value: oneclaw}
            - name: POSTGRES_PASSWORD
              valueFrom: {secretKeyRef: {name: oneclaw-postgres, key: password}}
          ports: [{containerPort: 5432}]
          readinessProbe:
            exec: {command: [pg_isready, -U, oneclaw]}
            periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: postgres
spec:
  selector: {app: postgres}
  ports: [{port: 5432, targetPort: 5432}]
EOF
kubectl -n "$NAMESPACE" rollout status deployment/postgres --timeout=180s

log "helm upgrade --install $RELEASE charts/oneclaw"
"$HELM" upgrade --install "$RELEASE" "$REPO_ROOT/charts/oneclaw" \
  --namespace "$NAMESPACE" \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
  --set database.existingSecret=oneclaw-database \
  --set kms.local.existingSecret=oneclaw-master-key \
  --set signing.existingSecret=oneclaw-signing-key \
  --set api.bootstrapAdminKeySecret.name=oneclaw-admin-key \
  --wait --timeout 5m

cat <<EOF

oneclaw is installed in kind cluster $CLUSTER (namespace $NAMESPACE). Run the e2e suite against it:

  KUBECONFIG=$KUBECONFIG E2E_CLUSTER=kind E2E_NAMESPACE=$NAMESPACE E2E_RELEASE=$RELEASE \\
    npx vitest run test/e2e

The suite ends with \`helm uninstall\`; run this script again before the next run.
Delete the cluster: hack/kind-up.sh down
EOF
