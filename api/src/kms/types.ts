// The KMS seam. A backend is one root key in one KMS: it wraps and unwraps small secrets
// (KEK material, or DEKs in `kms` custody) bound to associated data, and may sign.
// Everything else — blob headers, routing by key id, retries, metrics, caching — lives above it.

export const BACKENDS = ['local', 'transit', 'awskms', 'gcpkms', 'pkcs11'] as const;
export type BackendName = (typeof BACKENDS)[number];

/**
 * What a wrap protects, as named fields (org_id, vault_id, kek_version, …). Backends with a
 * native notion of context get the map (AWS encryption context); the others get `aad`, the
 * canonical length-prefixed encoding of the same fields.
 */
export type WrapContext = Readonly<Record<string, string>>;

export interface Wrapped {
  /** The backend's version of the key that wrapped (transit "3", GCP "cryptoKeyVersions/2", …). */
  keyVersion: string;
  ciphertext: Buffer;
}

export interface KmsBackend {
  readonly name: BackendName;
  /** Stable identity of the root key: resolved ARN, resource name, key fingerprint, … */
  readonly keyId: string;
  wrap(plaintext: Buffer, aad: Buffer, context: WrapContext): Promise<Wrapped>;
  unwrap(ciphertext: Buffer, keyVersion: string, aad: Buffer, context: WrapContext): Promise<Buffer>;
  /** Creates a new version of the root key and makes it current (tests and `kms rotate`). */
  rotate?(): Promise<void>;
  close(): Promise<void>;
}

export type JwsAlgorithm = 'EdDSA' | 'ES256';

export interface PublicJwk {
  kty: 'OKP' | 'EC';
  crv: 'Ed25519' | 'P-256';
  x: string;
  y?: string;
  kid: string;
  alg: JwsAlgorithm;
  use: 'sig';
}

/** The public JWK of an Ed25519 signing key; `x` is the raw public key in base64url. */
export const ed25519Jwk = (x: string, kid: string): PublicJwk => ({
  kty: 'OKP',
  crv: 'Ed25519',
  x,
  kid,
  alg: 'EdDSA',
  use: 'sig',
});

export interface KmsSigner {
  readonly alg: JwsAlgorithm;
  /** Releases the client or session behind the signer, if any. */
  close?(): Promise<void> | void;
  /** Key id for the JWS header: stable per signing key version. */
  readonly kid: string;
  /** Signs the JWS signing input; returns the JWS signature bytes (raw r||s for ES256). */
  sign(data: Buffer): Promise<Buffer>;
  publicJwk(): Promise<PublicJwk>;
}

/** Settings that come from operator configuration only, never from a request. */
export interface KmsSettings {
  /** Per-call timeout. */
  timeoutMs?: number;
  local?: { masterKeys?: Record<string, Buffer>; signingKeyPems?: Record<string, string> };
  transit?: { address: string; token: string; namespace?: string };
  awskms?: { endpoint?: string; credentials?: { accessKeyId: string; secretAccessKey: string } };
  gcpkms?: { apiEndpoint?: string; port?: number; insecure?: boolean };
  /** `module`: ONECLAW_PKCS11_MODULE, the module for pkcs11:// URIs without `?module=`. */
  pkcs11?: { pin?: string; module?: string };
}
