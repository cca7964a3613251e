// The values matrix the chart checks render: every KMS backend, HA on and off, a ServiceMonitor,
// a namespaced operator, offline (JWKS) token validation. Each case is rendered on top of
// minimalValues() (an external database, a local master key and signing key from Secrets).

export interface ChartCase {
  name: string;
  values: Record<string, unknown>;
  /** Namespaces besides the release's that the rendered objects live in. */
  extraNamespaces?: (suffix: string) => string[];
}

export const HA = { api: { replicas: 3 }, operator: { replicas: 2, leaderElection: true } };
export const SINGLE = { api: { replicas: 1 }, operator: { replicas: 1, leaderElection: true } };

export const cases: ChartCase[] = [
  { name: 'defaults (local KMS, two API replicas)', values: {} },
  { name: 'local KMS, HA', values: HA },
  { name: 'local KMS, single replicas', values: SINGLE },
  {
    name: 'gcpkms with a key file from a Secret',
    values: {
      kms: {
        backend: 'gcpkms',
        key: 'gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k',
        gcpkms: { endpoint: 'cloudkms.googleapis.com:443', credentialsSecret: { name: 'gcp-sa' } },
      },
      signing: { key: 'gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/jwt' },
    },
  },
  {
    name: 'gcpkms with workload identity',
    values: {
      kms: { backend: 'gcpkms', key: 'gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k' },
      api: {
        serviceAccount: {
          annotations: { 'iam.gke.io/gcp-service-account': 'oneclaw@p.iam.gserviceaccount.com' },
        },
      },
    },
  },
  {
    name: 'awskms with access keys from a Secret',
    values: {
      kms: {
        backend: 'awskms',
        key: 'awskms://alias/oneclaw?region=eu-west-1',
        awskms: { credentialsSecret: { name: 'aws-keys' } },
      },
    },
  },
  {
    name: 'awskms with IRSA, HA',
    values: {
      ...HA,
      kms: { backend: 'awskms', key: 'awskms://alias/oneclaw?region=eu-west-1' },
      signing: { key: 'awskms://alias/oneclaw-jwt?region=eu-west-1' },
    },
  },
  {
    name: 'transit with a token and CA from Secrets',
    values: {
      kms: {
        backend: 'transit',
        key: 'transit://transit/oneclaw',
        transit: {
          address: 'https://vault.vault.svc:8200',
          namespace: 'team-a',
          tokenSecret: { name: 'vault-token' },
          caSecret: { name: 'vault-ca' },
        },
      },
      signing: { key: 'transit://transit/oneclaw-jwt' },
    },
  },
  {
    name: 'pkcs11 with a PIN from a Secret and the module mounted',
    values: {
      kms: {
        backend: 'pkcs11',
        key: 'pkcs11://oneclaw/root?module=/opt/hsm/lib/libvendor.so',
        pkcs11: {
          pinSecret: { name: 'hsm-pin' },
          volumes: [{ name: 'hsm', hostPath: { path: '/opt/hsm', type: 'Directory' } }],
          volumeMounts: [{ name: 'hsm', mountPath: '/opt/hsm', readOnly: true }],
        },
      },
      signing: { key: 'pkcs11://oneclaw/jwt?module=/opt/hsm/lib/libvendor.so' },
    },
  },
  {
    // kms migrate from the local key to transit: both backends' settings stay rendered until the
    // old key leaves kms.previousKeys.
    name: 'moving from local to transit (the old key in previousKeys)',
    values: {
      kms: {
        backend: 'transit',
        key: 'transit://transit/oneclaw',
        previousKeys: ['local://prod'],
        transit: {
          address: 'https://vault.vault.svc:8200',
          namespace: 'team-a',
          tokenSecret: { name: 'vault-token' },
          caSecret: { name: 'vault-ca' },
        },
      },
    },
  },
  {
    name: 'ServiceMonitor on, admin key from a Secret',
    values: {
      serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
      api: { bootstrapAdminKeySecret: { name: 'oneclaw-admin' } },
    },
  },
  {
    name: 'operator serving one namespace',
    values: { operator: { watchNamespace: '__WATCH__' } },
    extraNamespaces: (suffix) => [`apps-${suffix}`],
  },
  {
    name: 'JWKS token validation',
    values: {
      api: {
        k8sAuth: {
          mode: 'jwks',
          issuer: 'https://kubernetes.default.svc.cluster.local',
          caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
        },
      },
    },
  },
];

/** Replaces the __WATCH__ placeholder with the case's own namespace (for unique dry-runs). */
export function valuesFor(c: ChartCase, suffix: string): Record<string, unknown> {
  const watch = c.extraNamespaces?.(suffix)[0] ?? 'apps';
  return JSON.parse(JSON.stringify(c.values).replaceAll('__WATCH__', watch));
}
