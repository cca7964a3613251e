// Bad values stop the render with a message that names the value and what it should be:
// shape errors from values.schema.json, cross-field errors from templates/_validate.tpl.
import { describe, expect, it } from 'vitest';
import { renderChartText } from '../support/chart-render.js';

const rejected: Array<{ why: string; values: Record<string, unknown>; message: RegExp; bare?: boolean }> = [
  {
    why: 'no external database (the chart never runs the embedded one)',
    bare: true,
    values: { kms: { local: { existingSecret: 'k' } }, signing: { existingSecret: 's' } },
    message: /database\.existingSecret is required: create a Secret holding your PostgreSQL URL/,
  },
  {
    why: 'a database URL given inline',
    values: { database: { url: 'postgres://u:p@db/oneclaw' } },
    message: /at '\/database': additional properties 'url' not allowed/,
  },
  {
    why: 'an unknown backend',
    values: { kms: { backend: 'azurekv' } },
    message: /at '\/kms\/backend': value must be one of 'local', 'gcpkms', 'awskms', 'transit', 'pkcs11'/,
  },
  {
    why: 'a key URI of another backend',
    values: { kms: { backend: 'transit', key: 'local://prod', transit: { address: 'https://v:8200' } } },
    message: /kms\.key must be a transit:\/\/ key URI because kms\.backend is transit/,
  },
  {
    why: 'not a key URI at all',
    values: { kms: { key: 'arn:aws:kms:eu-west-1:1:key/x' } },
    message: /at '\/kms\/key': .* does not match pattern/,
  },
  {
    why: 'transit without a token Secret',
    values: {
      kms: { backend: 'transit', key: 'transit://transit/k', transit: { address: 'https://v:8200' } },
    },
    message: /kms\.transit\.tokenSecret\.name is required with kms\.backend=transit/,
  },
  {
    why: 'transit without an address',
    values: {
      kms: { backend: 'transit', key: 'transit://transit/k', transit: { tokenSecret: { name: 't' } } },
    },
    message: /kms\.transit\.address is required with kms\.backend=transit/,
  },
  {
    why: 'a previous transit key without the transit settings it needs to unwrap',
    values: { kms: { previousKeys: ['transit://transit/old'] } },
    message: /kms\.transit\.address is required with a transit:\/\/ key in kms\.previousKeys or signing\.key/,
  },
  {
    why: 'a pkcs11 signing key without a PIN Secret',
    values: { signing: { key: 'pkcs11://t/jwt?module=/m.so' } },
    message:
      /kms\.pkcs11\.pinSecret\.name is required with a pkcs11:\/\/ key in kms\.previousKeys or signing\.key/,
  },
  {
    why: 'pkcs11 without a PIN Secret',
    values: { kms: { backend: 'pkcs11', key: 'pkcs11://t/k?module=/m.so' } },
    message: /kms\.pkcs11\.pinSecret\.name is required with kms\.backend=pkcs11/,
  },
  {
    why: 'the local backend without its master key Secret',
    values: { kms: { local: { existingSecret: '' } } },
    message: /kms\.local\.existingSecret is required with kms\.backend=local/,
  },
  {
    why: 'a local signing key without its PEM Secret',
    values: { signing: { existingSecret: '' } },
    message: /signing\.existingSecret is required when signing\.key is local:\/\//,
  },
  {
    why: 'a KMS-held signing key in a backend that is not configured',
    values: { signing: { key: 'transit://transit/jwt' } },
    message: /kms\.transit\.address is required with a transit:\/\/ key in kms\.previousKeys or signing\.key/,
  },
  {
    why: 'zero API replicas',
    values: { api: { replicas: 0 } },
    message: /at '\/api\/replicas': minimum: got 0, want 1/,
  },
  {
    why: 'two operators without leader election',
    values: { operator: { replicas: 2, leaderElection: false } },
    message: /operator\.leaderElection must be true when operator\.replicas > 1/,
  },
  {
    why: 'token validation turned off (the operator could not authenticate)',
    values: { api: { k8sAuth: { mode: 'off' } } },
    message: /at '\/api\/k8sAuth\/mode': value must be one of 'tokenreview', 'jwks'/,
  },
  {
    why: 'JWKS mode without an issuer',
    values: { api: { k8sAuth: { mode: 'jwks' } } },
    message: /api\.k8sAuth\.issuer is required with api\.k8sAuth\.mode=jwks/,
  },
  {
    why: 'a watch namespace that is not a namespace name',
    values: { operator: { watchNamespace: 'Team_A' } },
    message: /at '\/operator\/watchNamespace': 'Team_A' does not match pattern/,
  },
  {
    why: 'a credential in extraEnv as a value',
    values: { api: { extraEnv: [{ name: 'ONECLAW_TRANSIT_TOKEN', value: 'hvs.123' }] } },
    message:
      /api\.extraEnv\[0\] \(ONECLAW_TRANSIT_TOKEN\) looks like a credential: set it with valueFrom\.secretKeyRef/,
  },
  {
    why: 'a writable root filesystem',
    values: { containerSecurityContext: { readOnlyRootFilesystem: false } },
    message: /at '\/containerSecurityContext\/readOnlyRootFilesystem': value must be true/,
  },
  {
    why: 'running as root',
    values: { podSecurityContext: { runAsNonRoot: false } },
    message: /at '\/podSecurityContext\/runAsNonRoot': value must be true/,
  },
  {
    why: 'a Linux capability added back',
    values: { containerSecurityContext: { capabilities: { add: ['NET_ADMIN'] } } },
    message: /at '\/containerSecurityContext\/capabilities': additional properties 'add' not allowed/,
  },
  {
    // null deletes the default in Helm's merge; without fsGroup the 0400 Secret files are unreadable.
    why: 'no fsGroup',
    values: { podSecurityContext: { fsGroup: null } },
    message: /at '\/podSecurityContext': missing property 'fsGroup'/,
  },
  {
    why: 'fsGroup 0 (root)',
    values: { podSecurityContext: { fsGroup: 0 } },
    message: /at '\/podSecurityContext\/fsGroup': minimum: got 0, want 1/,
  },
  {
    why: 'a misspelt top-level key',
    values: { databse: { existingSecret: 'db' } },
    message: /additional properties 'databse' not allowed/,
  },
  {
    why: 'a projected token shorter than the apiserver allows',
    values: { operator: { tokenExpirationSeconds: 60 } },
    message: /at '\/operator\/tokenExpirationSeconds': minimum: got 60, want 600/,
  },
  {
    why: 'an image digest that is not one',
    values: { image: { digest: 'latest' } },
    message: /at '\/image\/digest': 'latest' does not match pattern/,
  },
];

describe('chart: rejected values', () => {
  it.each(rejected)('refuses $why', async ({ values, message, bare }) => {
    await expect(renderChartText({ values, ...(bare ? { bare } : {}) })).rejects.toThrow(message);
  });

  it('renders the same values once they are fixed (the rejections above are not collateral)', async () => {
    await expect(
      renderChartText({
        values: {
          kms: {
            backend: 'transit',
            key: 'transit://transit/k',
            transit: { address: 'https://v:8200', tokenSecret: { name: 't' } },
          },
        },
      }),
    ).resolves.toContain('kind: Deployment');
  });
});
