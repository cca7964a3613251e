// transit://<mount>/<key>: Vault / OpenBao Transit over its HTTP API. The KEK's binding
// context travels as transit `associated_data` (AES-GCM AAD), so a wrapped KEK presented
// under another vault's context fails inside Vault. The key must be aes256-gcm96.
import { IntegrityError, KmsConfigError, KmsUnavailableError } from '../../crypto/errors.js';
import { boundedFetch } from '../http.js';
import { ed25519Jwk, type KmsBackend, type KmsSettings, type KmsSigner } from '../types.js';
import type { KeyUri } from '../uri.js';

type TransitUri = Extract<KeyUri, { backend: 'transit' }>;

interface TransitClient {
  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
}

function transitClient(settings: KmsSettings): TransitClient {
  const t = settings.transit;
  if (!t?.address || !t.token)
    throw new KmsConfigError(
      'transit backend needs an address and a token (ONECLAW_TRANSIT_ADDR, ONECLAW_TRANSIT_TOKEN)',
    );
  const address = t.address.replace(/\/+$/, '');
  const timeoutMs = settings.timeoutMs ?? 5_000;
  return {
    async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
      const res = await boundedFetch(`${address}/v1/${path}`, {
        method,
        timeoutMs,
        headers: {
          'x-vault-token': t.token,
          'content-type': 'application/json',
          ...(t.namespace ? { 'x-vault-namespace': t.namespace } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      let parsed: { data?: unknown; errors?: string[] } = {};
      try {
        parsed = res.body ? (JSON.parse(res.body) as typeof parsed) : {};
      } catch {
        // a proxy's HTML error page: judged by status below
      }
      if (res.status >= 200 && res.status < 300) return parsed.data as T;
      const detail = (parsed.errors ?? []).join('; ').slice(0, 300) || `HTTP ${res.status}`;
      if (res.status === 400) throw new IntegrityError(`transit rejected the request: ${detail}`);
      if (res.status === 403 || res.status === 401)
        throw new KmsConfigError(`transit denied ${path}: ${detail}`);
      if (res.status === 404) throw new KmsConfigError(`transit has no ${path}: ${detail}`);
      throw new KmsUnavailableError(`transit ${path}: ${detail}`);
    },
  };
}

interface TransitKey {
  type: string;
  latest_version: number;
  supports_encryption: boolean;
  keys: Record<string, number | { public_key?: string }>;
}

export async function openTransitBackend(parsed: TransitUri, settings: KmsSettings): Promise<KmsBackend> {
  const client = transitClient(settings);
  const { mount, key } = parsed;
  const info = await client.call<TransitKey>('GET', `${mount}/keys/${key}`);
  if (info.type !== 'aes256-gcm96' || !info.supports_encryption) {
    throw new KmsConfigError(
      `transit key ${mount}/${key} is ${info.type}; oneclaw needs an aes256-gcm96 key`,
    );
  }
  const b64 = (b: Buffer) => b.toString('base64');
  return {
    name: 'transit',
    keyId: `${mount}/${key}`,
    async wrap(plaintext, aad) {
      const out = await client.call<{ ciphertext: string }>('POST', `${mount}/encrypt/${key}`, {
        plaintext: b64(plaintext),
        associated_data: b64(aad),
      });
      const m = /^vault:v(\d+):/.exec(out.ciphertext);
      if (!m) throw new KmsUnavailableError('transit returned a ciphertext in an unknown format');
      return { keyVersion: m[1] as string, ciphertext: Buffer.from(out.ciphertext, 'utf8') };
    },
    async unwrap(ciphertext, keyVersion, aad) {
      const text = ciphertext.toString('utf8');
      // The header's version must be the one inside Vault's own ciphertext string.
      if (!text.startsWith(`vault:v${keyVersion}:`) || !/^vault:v\d+:[A-Za-z0-9+/=]+$/.test(text)) {
        throw new IntegrityError('transit key blob: malformed ciphertext');
      }
      const out = await client.call<{ plaintext: string }>('POST', `${mount}/decrypt/${key}`, {
        ciphertext: text,
        associated_data: b64(aad),
      });
      return Buffer.from(out.plaintext, 'base64');
    },
    async rotate() {
      await client.call('POST', `${mount}/keys/${key}/rotate`, {});
    },
    async close() {},
  };
}

/** transit://<mount>/<key> of type ed25519 as the JWT signing key: signing happens in Vault. */
export async function openTransitSigner(parsed: TransitUri, settings: KmsSettings): Promise<KmsSigner> {
  const client = transitClient(settings);
  const { mount, key } = parsed;
  const info = await client.call<TransitKey>('GET', `${mount}/keys/${key}`);
  if (info.type !== 'ed25519')
    throw new KmsConfigError(`transit signing key ${mount}/${key} is ${info.type}; need ed25519`);
  const version = info.latest_version;
  const entry = info.keys[String(version)];
  const publicKey = typeof entry === 'object' ? entry.public_key : undefined;
  if (!publicKey)
    throw new KmsConfigError(`transit key ${mount}/${key} has no public key for version ${version}`);
  const kid = `transit:${mount}/${key}/v${version}`;
  const jwk = ed25519Jwk(Buffer.from(publicKey, 'base64').toString('base64url'), kid);
  return {
    alg: 'EdDSA',
    kid,
    async sign(data) {
      const out = await client.call<{ signature: string }>('POST', `${mount}/sign/${key}`, {
        input: data.toString('base64'),
        key_version: version,
      });
      const m = /^vault:v\d+:(.+)$/.exec(out.signature);
      if (!m) throw new KmsUnavailableError('transit returned a signature in an unknown format');
      return Buffer.from(m[1] as string, 'base64');
    },
    async publicJwk() {
      return jwk;
    },
  };
}
