// In-memory resource store of the GCP KMS emulator: key rings, crypto keys and their versions,
// with the lifecycle rules of the real service (resource names, ids, states, primary versions).
// Request and response objects are the plain objects @grpc/proto-loader produces and accepts
// (camelCase fields, enums as strings, int64 as numbers, bytes as Buffers).

import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { alreadyExists, failedPrecondition, invalidArgument, notFound, unimplemented } from './errors.js';

export type Purpose = 'ENCRYPT_DECRYPT' | 'ASYMMETRIC_SIGN';
export type Algorithm = 'GOOGLE_SYMMETRIC_ENCRYPTION' | 'EC_SIGN_ED25519' | 'EC_SIGN_P256_SHA256';
export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROY_SCHEDULED';

export interface Timestamp {
  seconds: number;
  nanos: number;
}
export type Duration = Timestamp;

export type Material =
  | { kind: 'aes'; key: Buffer }
  | { kind: 'ec'; privateKey: KeyObject; publicKey: KeyObject };

export interface VersionRec {
  id: number;
  name: string;
  algorithm: Algorithm;
  state: VersionState;
  createTime: Date;
  destroyTime?: Date;
  material: Material;
}

export interface CryptoKeyRec {
  name: string;
  purpose: Purpose;
  algorithm: Algorithm;
  createTime: Date;
  labels: Record<string, string>;
  rotationPeriod?: Duration;
  nextRotationTime?: Timestamp;
  destroyScheduledDuration: Duration;
  versions: Map<number, VersionRec>;
  nextVersionId: number;
  primaryId?: number;
}

interface KeyRingRec {
  name: string;
  createTime: Date;
}

// Request shapes: only the fields the emulator reads. Everything is optional on the wire.
interface VersionTemplateMsg {
  protectionLevel?: string;
  algorithm?: string;
}
interface CryptoKeyMsg {
  purpose?: string;
  versionTemplate?: VersionTemplateMsg | null;
  labels?: Record<string, string>;
  rotationPeriod?: Partial<Duration> | null;
  nextRotationTime?: Partial<Timestamp> | null;
  destroyScheduledDuration?: Partial<Duration> | null;
  importOnly?: boolean;
}
export interface NameRequest {
  name?: string;
}
export interface CreateKeyRingRequest {
  parent?: string;
  keyRingId?: string;
}
export interface CreateCryptoKeyRequest {
  parent?: string;
  cryptoKeyId?: string;
  cryptoKey?: CryptoKeyMsg | null;
  skipInitialVersionCreation?: boolean;
}
export interface CreateCryptoKeyVersionRequest {
  parent?: string;
  cryptoKeyVersion?: { algorithm?: string; protectionLevel?: string } | null;
}
export interface ListCryptoKeyVersionsRequest {
  parent?: string;
  filter?: string;
  orderBy?: string;
}
export interface UpdateCryptoKeyPrimaryVersionRequest {
  name?: string;
  cryptoKeyVersionId?: string;
}
export interface UpdateCryptoKeyVersionRequest {
  cryptoKeyVersion?: { name?: string; state?: string } | null;
  updateMask?: { paths?: string[] } | null;
}

const ID_RE = /^[a-zA-Z0-9_-]{1,63}$/;
const LOCATION_RE = /^projects\/[^/]+\/locations\/[^/]+$/;
const KEY_RING_RE = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+$/;
const CRYPTO_KEY_RE = /^(projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+)\/cryptoKeys\/[^/]+$/;
const VERSION_RE =
  /^(projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+)\/cryptoKeyVersions\/(\d+)$/;

const ALGORITHMS_BY_PURPOSE: Record<Purpose, readonly Algorithm[]> = {
  ENCRYPT_DECRYPT: ['GOOGLE_SYMMETRIC_ENCRYPTION'],
  ASYMMETRIC_SIGN: ['EC_SIGN_ED25519', 'EC_SIGN_P256_SHA256'],
};
const DAY_SECONDS = 24 * 3600;
const DEFAULT_DESTROY_SCHEDULED_DURATION: Duration = { seconds: 30 * DAY_SECONDS, nanos: 0 };

export const PROTECTION_LEVEL = 'SOFTWARE';

export function isVersionName(name: string): boolean {
  return VERSION_RE.test(name);
}

function requireName(name: string | undefined, re: RegExp, field: string, kind: string): string {
  if (!name) throw invalidArgument(`Field ${field} is required.`);
  if (!re.test(name)) throw invalidArgument(`Field ${field} is not a valid ${kind} resource name: ${name}`);
  return name;
}

function requireId(id: string | undefined, field: string): string {
  if (!id) throw invalidArgument(`Field ${field} is required.`);
  if (!ID_RE.test(id)) {
    throw invalidArgument(
      `Field ${field} must match the regular expression [a-zA-Z0-9_-]{1,63}, got "${id}".`,
    );
  }
  return id;
}

function toTimestamp(d: Date): Timestamp {
  const ms = d.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** Proto3 leaves zero fields unset: fill them in, so stored values are complete. */
function normalize(d: Partial<Duration>): Duration {
  return { seconds: Number(d.seconds ?? 0), nanos: Number(d.nanos ?? 0) };
}

function durationMs(d: Duration): number {
  return d.seconds * 1000 + Math.floor(d.nanos / 1_000_000);
}

function destroyScheduledDuration(d: Partial<Duration> | null | undefined): Duration {
  if (!d) return DEFAULT_DESTROY_SCHEDULED_DURATION;
  const duration = normalize(d);
  if (durationMs(duration) < DAY_SECONDS * 1000 || durationMs(duration) > 120 * DAY_SECONDS * 1000) {
    throw invalidArgument(
      'Field crypto_key.destroy_scheduled_duration must be between 24 hours and 120 days.',
    );
  }
  return duration;
}

function newMaterial(algorithm: Algorithm): Material {
  switch (algorithm) {
    case 'GOOGLE_SYMMETRIC_ENCRYPTION':
      return { kind: 'aes', key: randomBytes(32) };
    case 'EC_SIGN_ED25519':
      return { kind: 'ec', ...generateKeyPairSync('ed25519') };
    case 'EC_SIGN_P256_SHA256':
      return { kind: 'ec', ...generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) };
  }
}

function checkProtectionLevel(level: string | undefined): void {
  if (level && level !== 'PROTECTION_LEVEL_UNSPECIFIED' && level !== PROTECTION_LEVEL) {
    throw unimplemented(`Protection level ${level}`);
  }
}

function versionMessage(v: VersionRec): Record<string, unknown> {
  return {
    name: v.name,
    state: v.state,
    protectionLevel: PROTECTION_LEVEL,
    algorithm: v.algorithm,
    createTime: toTimestamp(v.createTime),
    generateTime: toTimestamp(v.createTime),
    ...(v.destroyTime ? { destroyTime: toTimestamp(v.destroyTime) } : {}),
    // Only keys created with import_only have importable versions; the emulator has none.
    reimportEligible: false,
  };
}

function keyMessage(key: CryptoKeyRec): Record<string, unknown> {
  const primary = key.primaryId === undefined ? undefined : key.versions.get(key.primaryId);
  return {
    name: key.name,
    ...(primary ? { primary: versionMessage(primary) } : {}),
    purpose: key.purpose,
    createTime: toTimestamp(key.createTime),
    ...(key.rotationPeriod ? { rotationPeriod: key.rotationPeriod } : {}),
    ...(key.nextRotationTime ? { nextRotationTime: key.nextRotationTime } : {}),
    versionTemplate: { protectionLevel: PROTECTION_LEVEL, algorithm: key.algorithm },
    labels: key.labels,
    importOnly: false,
    destroyScheduledDuration: key.destroyScheduledDuration,
  };
}

export class KmsStore {
  private readonly keyRings = new Map<string, KeyRingRec>();
  private readonly keys = new Map<string, CryptoKeyRec>();

  createKeyRing(req: CreateKeyRingRequest): Record<string, unknown> {
    const parent = requireName(req.parent, LOCATION_RE, 'parent', 'location');
    const name = `${parent}/keyRings/${requireId(req.keyRingId, 'key_ring_id')}`;
    if (this.keyRings.has(name)) throw alreadyExists('KeyRing', name);
    const ring: KeyRingRec = { name, createTime: new Date() };
    this.keyRings.set(name, ring);
    return { name, createTime: toTimestamp(ring.createTime) };
  }

  getKeyRing(req: NameRequest): Record<string, unknown> {
    const name = requireName(req.name, KEY_RING_RE, 'name', 'KeyRing');
    const ring = this.keyRings.get(name);
    if (!ring) throw notFound('KeyRing', name);
    return { name, createTime: toTimestamp(ring.createTime) };
  }

  createCryptoKey(req: CreateCryptoKeyRequest): Record<string, unknown> {
    const parent = requireName(req.parent, KEY_RING_RE, 'parent', 'KeyRing');
    const name = `${parent}/cryptoKeys/${requireId(req.cryptoKeyId, 'crypto_key_id')}`;
    const body = req.cryptoKey;
    if (!body) throw invalidArgument('Field crypto_key is required.');
    if (!this.keyRings.has(parent)) throw notFound('KeyRing', parent);
    if (this.keys.has(name)) throw alreadyExists('CryptoKey', name);

    const purpose = body.purpose;
    if (!purpose || purpose === 'CRYPTO_KEY_PURPOSE_UNSPECIFIED') {
      throw invalidArgument('Field crypto_key.purpose is required.');
    }
    if (purpose !== 'ENCRYPT_DECRYPT' && purpose !== 'ASYMMETRIC_SIGN')
      throw unimplemented(`Purpose ${purpose}`);
    if (body.importOnly) throw unimplemented('Import-only keys');
    checkProtectionLevel(body.versionTemplate?.protectionLevel);

    const requested = body.versionTemplate?.algorithm;
    let algorithm: Algorithm;
    if (!requested || requested === 'CRYPTO_KEY_VERSION_ALGORITHM_UNSPECIFIED') {
      if (purpose !== 'ENCRYPT_DECRYPT') {
        throw invalidArgument(
          `Field crypto_key.version_template.algorithm is required for purpose ${purpose}.`,
        );
      }
      algorithm = 'GOOGLE_SYMMETRIC_ENCRYPTION';
    } else {
      const allowed = ALGORITHMS_BY_PURPOSE[purpose] as readonly string[];
      if (!allowed.includes(requested)) {
        const known = Object.values(ALGORITHMS_BY_PURPOSE).some((algs) =>
          (algs as readonly string[]).includes(requested),
        );
        if (known) {
          throw invalidArgument(
            `Algorithm ${requested} is not compatible with CryptoKey purpose ${purpose}.`,
          );
        }
        throw unimplemented(`Algorithm ${requested}`);
      }
      algorithm = requested as Algorithm;
    }
    if (body.rotationPeriod && purpose !== 'ENCRYPT_DECRYPT') {
      throw invalidArgument('Automatic rotation is only supported for keys with purpose ENCRYPT_DECRYPT.');
    }

    const key: CryptoKeyRec = {
      name,
      purpose,
      algorithm,
      createTime: new Date(),
      labels: { ...(body.labels ?? {}) },
      ...(body.rotationPeriod ? { rotationPeriod: normalize(body.rotationPeriod) } : {}),
      ...(body.nextRotationTime ? { nextRotationTime: normalize(body.nextRotationTime) } : {}),
      destroyScheduledDuration: destroyScheduledDuration(body.destroyScheduledDuration),
      versions: new Map(),
      nextVersionId: 1,
    };
    this.keys.set(name, key);
    if (!req.skipInitialVersionCreation) {
      const first = this.addVersion(key);
      if (purpose === 'ENCRYPT_DECRYPT') key.primaryId = first.id;
    }
    return keyMessage(key);
  }

  getCryptoKey(req: NameRequest): Record<string, unknown> {
    return keyMessage(this.requireKey(req.name, 'name'));
  }

  createCryptoKeyVersion(req: CreateCryptoKeyVersionRequest): Record<string, unknown> {
    const key = this.requireKey(req.parent, 'parent');
    const requested = req.cryptoKeyVersion?.algorithm;
    if (
      requested &&
      requested !== 'CRYPTO_KEY_VERSION_ALGORITHM_UNSPECIFIED' &&
      requested !== key.algorithm
    ) {
      throw invalidArgument(
        `CryptoKeyVersion algorithm must match the CryptoKey's algorithm ${key.algorithm}.`,
      );
    }
    checkProtectionLevel(req.cryptoKeyVersion?.protectionLevel);
    return versionMessage(this.addVersion(key));
  }

  getCryptoKeyVersion(req: NameRequest): Record<string, unknown> {
    const { version } = this.requireVersion(req.name, 'name');
    return versionMessage(version);
  }

  listCryptoKeyVersions(req: ListCryptoKeyVersionsRequest): Record<string, unknown> {
    const key = this.requireKey(req.parent, 'parent');
    if (req.filter) throw unimplemented('ListCryptoKeyVersions filter');
    if (req.orderBy) throw unimplemented('ListCryptoKeyVersions order_by');
    const versions = [...key.versions.values()].sort((a, b) => a.id - b.id);
    return {
      cryptoKeyVersions: versions.map((v) => versionMessage(v)),
      nextPageToken: '',
      totalSize: versions.length,
    };
  }

  updateCryptoKeyPrimaryVersion(req: UpdateCryptoKeyPrimaryVersionRequest): Record<string, unknown> {
    const key = this.requireKey(req.name, 'name');
    const id = req.cryptoKeyVersionId;
    if (!id) throw invalidArgument('Field crypto_key_version_id is required.');
    if (key.purpose !== 'ENCRYPT_DECRYPT') {
      throw failedPrecondition(
        `CryptoKey ${key.name} has purpose ${key.purpose}; only ENCRYPT_DECRYPT keys have a primary version.`,
      );
    }
    const version = /^\d+$/.test(id) ? key.versions.get(Number(id)) : undefined;
    if (!version) throw notFound('CryptoKeyVersion', `${key.name}/cryptoKeyVersions/${id}`);
    assertEnabled(version);
    key.primaryId = version.id;
    return keyMessage(key);
  }

  /** Only `state` (ENABLED <-> DISABLED) may be updated, as on the real service. */
  updateCryptoKeyVersion(req: UpdateCryptoKeyVersionRequest): Record<string, unknown> {
    const { version } = this.requireVersion(req.cryptoKeyVersion?.name, 'crypto_key_version.name');
    const paths = req.updateMask?.paths ?? [];
    if (paths.length === 0) throw invalidArgument('Field update_mask is required.');
    const unsupported = paths.filter((p) => p !== 'state');
    if (unsupported.length > 0)
      throw unimplemented(`Updating CryptoKeyVersion fields ${unsupported.join(', ')}`);
    const target = req.cryptoKeyVersion?.state;
    if (target !== 'ENABLED' && target !== 'DISABLED') {
      throw invalidArgument(
        `CryptoKeyVersion state can only be updated to ENABLED or DISABLED, got ${target}.`,
      );
    }
    if (version.state !== 'ENABLED' && version.state !== 'DISABLED') {
      throw failedPrecondition(
        `${version.name} is not enabled or disabled, current state is: ${version.state}.`,
      );
    }
    version.state = target;
    return versionMessage(version);
  }

  destroyCryptoKeyVersion(req: NameRequest): Record<string, unknown> {
    const { key, version } = this.requireVersion(req.name, 'name');
    if (version.state !== 'ENABLED' && version.state !== 'DISABLED') {
      throw failedPrecondition(
        `${version.name} is not enabled or disabled, current state is: ${version.state}.`,
      );
    }
    version.state = 'DESTROY_SCHEDULED';
    version.destroyTime = new Date(Date.now() + durationMs(key.destroyScheduledDuration));
    return versionMessage(version);
  }

  restoreCryptoKeyVersion(req: NameRequest): Record<string, unknown> {
    const { version } = this.requireVersion(req.name, 'name');
    if (version.state !== 'DESTROY_SCHEDULED') {
      throw failedPrecondition(
        `${version.name} is not scheduled for destruction, current state is: ${version.state}.`,
      );
    }
    // A restored version comes back DISABLED, as on the real service.
    version.state = 'DISABLED';
    delete version.destroyTime;
    return versionMessage(version);
  }

  requireKey(name: string | undefined, field: string): CryptoKeyRec {
    const checked = requireName(name, CRYPTO_KEY_RE, field, 'CryptoKey');
    const key = this.keys.get(checked);
    if (!key) throw notFound('CryptoKey', checked);
    return key;
  }

  requireVersion(name: string | undefined, field: string): { key: CryptoKeyRec; version: VersionRec } {
    const checked = requireName(name, VERSION_RE, field, 'CryptoKeyVersion');
    const [, keyName, id] = VERSION_RE.exec(checked) ?? [];
    const key = this.keys.get(keyName ?? '');
    if (!key) throw notFound('CryptoKey', keyName ?? checked);
    const version = key.versions.get(Number(id));
    if (!version) throw notFound('CryptoKeyVersion', checked);
    return { key, version };
  }

  private addVersion(key: CryptoKeyRec): VersionRec {
    const id = key.nextVersionId++;
    const version: VersionRec = {
      id,
      name: `${key.name}/cryptoKeyVersions/${id}`,
      algorithm: key.algorithm,
      state: 'ENABLED',
      createTime: new Date(),
      material: newMaterial(key.algorithm),
    };
    key.versions.set(id, version);
    return version;
  }
}

/** Crypto operations need an ENABLED version; the message matches the real service's. */
export function assertEnabled(version: VersionRec): void {
  if (version.state !== 'ENABLED') {
    throw failedPrecondition(`${version.name} is not enabled, current state is: ${version.state}.`);
  }
}
