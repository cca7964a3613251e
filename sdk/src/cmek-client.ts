// The client's `cmek` namespace: turning CMEK on and off, encrypted writes and reads that never
// send the key, and the two ways to rotate a vault's CMEK key:
//
// - server-assisted (`startRotation` + `waitForRotation`): both keys travel once, in request
//   headers, to a server job that re-encrypts every version in atomic batches, resumable after a
//   crash. Fast; the server holds the keys in memory for the job's life.
// - client-side (`rotateClientSide`): the keys never leave this process. The vault switches to
//   the new key, then each secret whose current version is under the old key is read, decrypted,
//   encrypted again and written as a new version (check-and-set). Older versions stay under the
//   old key: keep it to read history.
import type { Call, OneclawClient } from './client.js';
import { CmekError, cmekDecrypt, cmekEncrypt, cmekFingerprint, fromBase64, toBase64 } from './cmek.js';
import { OneclawError } from './errors.js';
import { endpoint, seg } from './operations.js';
import type {
  CmekRotation,
  Secret,
  SecretMeta,
  SecretPutInput,
  SecretWriteResult,
  Vault,
  VersionMeta,
} from './types.js';

/** A secret read through `cmek.getSecret`: the API's answer plus the decrypted bytes. */
export interface CmekSecret extends Secret {
  /** The value: decrypted when `cmek_encrypted`, else the UTF-8 bytes of the stored text. */
  plaintext: Uint8Array;
}

export interface RotationProgress {
  processed: number;
  total: number;
}

export interface ClientSideRotationResult {
  oldFingerprint: string;
  newFingerprint: string;
  /** Secrets in the vault when the rotation listed them. */
  total: number;
  /** Secrets re-encrypted under the new key (a new version each). */
  rotated: number;
  /** Secrets whose current version was not under the old key (plain, or already rotated). */
  skipped: number;
  /**
   * Secrets left under the old key, with the reason: expired or used up (410), an access
   * count that the rotation's own read would exhaust, or an error.
   */
  left: Array<{ path: string; code: string }>;
}

export interface CmekApi {
  /**
   * Turns CMEK on with the key of this fingerprint, or — with `previousFingerprint`, the active
   * one — switches the vault to a new key (what client-side rotation does first). Admins.
   */
  enable(vaultId: string, fingerprint: string, opts?: { previousFingerprint?: string }): Promise<Vault>;
  /** Turns CMEK off: new writes are server-encrypted only; CMEK versions stay CMEK. Admins. */
  disable(vaultId: string, fingerprint: string): Promise<Vault>;
  /**
   * Starts (or resumes, with the same keys) a server-side rotation; the vault's active key is the
   * new one at once. The keys go in headers and are never logged or put in an error.
   */
  startRotation(
    vaultId: string,
    keys: { oldKey: Uint8Array; newKey: Uint8Array },
    opts?: { signal?: AbortSignal },
  ): Promise<CmekRotation>;
  rotation(vaultId: string, jobId: string, opts?: { signal?: AbortSignal }): Promise<CmekRotation>;
  /** The vault's rotations, newest first (at most 50): finds an unfinished one's id. */
  rotations(vaultId: string, opts?: { signal?: AbortSignal }): Promise<CmekRotation[]>;
  /**
   * Polls until the job is no longer `running` and returns it (`succeeded`, `failed` with its
   * `error`, or `interrupted`: start it again with the same keys to resume).
   */
  waitForRotation(
    vaultId: string,
    jobId: string,
    opts?: { onProgress?: (job: CmekRotation) => void; intervalMs?: number; signal?: AbortSignal },
  ): Promise<CmekRotation>;
  /** Encrypts `plaintext` with `key` here and writes the blob, naming the key's fingerprint. */
  putSecret(
    vaultId: string,
    path: string,
    key: Uint8Array,
    plaintext: Uint8Array | string,
    input: Omit<SecretPutInput, 'value' | 'cmek_fingerprint'>,
  ): Promise<SecretWriteResult>;
  /**
   * Reads and decrypts with the key whose fingerprint the version names (pass every key that
   * may be needed, e.g. old and new around a rotation). A version without CMEK is returned as is.
   */
  getSecret(
    vaultId: string,
    path: string,
    keys: Uint8Array | Uint8Array[],
    opts?: { version?: number },
  ): Promise<CmekSecret>;
  /** Rotation with no server-side key presence; see the module comment for its limits. */
  rotateClientSide(
    vaultId: string,
    opts: {
      oldKey: Uint8Array;
      newKey: Uint8Array;
      onProgress?: (p: RotationProgress) => void;
      /** Secrets re-encrypted at once (default 4). */
      concurrency?: number;
      signal?: AbortSignal;
    },
  ): Promise<ClientSideRotationResult>;
}

interface Deps {
  call<T>(c: Call): Promise<T>;
  /** The vault's path parameter, checked and encoded. */
  vault(id: string): { vault_id: string };
  /** The client this namespace belongs to (for secrets and vaults). */
  client(): OneclawClient;
}

const DEFAULT_POLL_MS = 500;
const DONE = new Set(['succeeded', 'failed', 'interrupted']);
/** Check-and-set conflicts a client-side rotation absorbs per secret before leaving it. */
const CAS_ATTEMPTS = 3;

export function createCmekApi(deps: Deps): CmekApi {
  const { call, vault } = deps;

  async function decryptWith(secret: Secret, keys: Map<string, Uint8Array>): Promise<CmekSecret> {
    if (!secret.cmek_encrypted) return { ...secret, plaintext: new TextEncoder().encode(secret.value) };
    const blob = fromBase64(secret.value);
    const named = secret.cmek_fingerprint ? keys.get(secret.cmek_fingerprint) : undefined;
    if (named) return { ...secret, plaintext: await cmekDecrypt(blob, named) };
    if (secret.cmek_fingerprint) {
      throw new CmekError(
        'cmek_no_matching_key',
        `version ${secret.version} of ${secret.path} is encrypted with the CMEK key ${secret.cmek_fingerprint.slice(0, 12)}…, which was not given`,
      );
    }
    // No fingerprint recorded: try each key.
    for (const key of keys.values()) {
      try {
        return { ...secret, plaintext: await cmekDecrypt(blob, key) };
      } catch (err) {
        if (!(err instanceof CmekError) || err.code !== 'cmek_decrypt_failed') throw err;
      }
    }
    throw new CmekError('cmek_decrypt_failed', `none of the given CMEK keys decrypts ${secret.path}`);
  }

  async function keyring(keys: Uint8Array | Uint8Array[]): Promise<Map<string, Uint8Array>> {
    const list = Array.isArray(keys) ? keys : [keys];
    const ring = new Map<string, Uint8Array>();
    for (const k of list) ring.set(await cmekFingerprint(k), k);
    return ring;
  }

  const api: CmekApi = {
    enable: async (vaultId, fingerprint, o) =>
      call({
        ...endpoint('cmek.enable', vault(vaultId)),
        body: {
          fingerprint,
          ...(o?.previousFingerprint ? { previous_fingerprint: o.previousFingerprint } : {}),
        },
      }),

    disable: async (vaultId, fingerprint) =>
      call({ ...endpoint('cmek.disable', vault(vaultId)), body: { fingerprint } }),

    async startRotation(vaultId, { oldKey, newKey }, o) {
      const newFingerprint = await cmekFingerprint(newKey);
      await cmekFingerprint(oldKey); // checks its size before anything is sent
      const oldB64 = toBase64(oldKey);
      const newB64 = toBase64(newKey);
      return call({
        ...endpoint('cmek.startRotation', vault(vaultId)),
        headers: { 'x-cmek-old-key': oldB64, 'x-cmek-new-key': newB64 },
        body: { new_fingerprint: newFingerprint },
        sensitive: [oldB64, newB64],
        signal: o?.signal,
      });
    },

    rotations: async (vaultId, o) =>
      (
        await call<{ rotations: CmekRotation[] }>({
          ...endpoint('cmek.rotations', vault(vaultId)),
          signal: o?.signal,
        })
      ).rotations,

    rotation: async (vaultId, jobId, o) =>
      call({
        ...endpoint('cmek.rotation', { ...vault(vaultId), job_id: seg(jobId, 'job id') }),
        signal: o?.signal,
      }),

    async waitForRotation(vaultId, jobId, o = {}) {
      const interval = o.intervalMs ?? DEFAULT_POLL_MS;
      for (;;) {
        const job = await api.rotation(vaultId, jobId, { ...(o.signal ? { signal: o.signal } : {}) });
        o.onProgress?.(job);
        if (DONE.has(job.status)) return job;
        await pause(interval, o.signal);
      }
    },

    async putSecret(vaultId, path, key, plaintext, input) {
      const fingerprint = await cmekFingerprint(key);
      const blob = await cmekEncrypt(plaintext, key);
      return deps
        .client()
        .secrets.put(vaultId, path, { ...input, value: toBase64(blob), cmek_fingerprint: fingerprint });
    },

    async getSecret(vaultId, path, keys, o) {
      const ring = await keyring(keys);
      const secret = await deps.client().secrets.get(vaultId, path, o);
      return decryptWith(secret, ring);
    },

    async rotateClientSide(vaultId, o) {
      const client = deps.client();
      const oldFingerprint = await cmekFingerprint(o.oldKey);
      const newFingerprint = await cmekFingerprint(o.newKey);
      const ring = await keyring([o.oldKey, o.newKey]);

      // 1. The new key becomes the active one (already done when a previous run was cut short).
      const vault = await client.vaults.get(vaultId);
      if (vault.cmek_fingerprint === oldFingerprint) {
        await api.enable(vaultId, newFingerprint, { previousFingerprint: oldFingerprint });
      } else if (vault.cmek_fingerprint !== newFingerprint) {
        throw new CmekError(
          'cmek_key_mismatch',
          vault.cmek_fingerprint
            ? "the vault's active CMEK key is neither the old nor the new key given"
            : 'CMEK is not enabled on this vault',
        );
      }

      // 2. Every secret whose current version is under the old key gets a new version.
      const all: SecretMeta[] = [];
      for await (const s of client.secrets.listAll(vaultId, { pageSize: 1000 })) all.push(s);
      const result: ClientSideRotationResult = {
        oldFingerprint,
        newFingerprint,
        total: all.length,
        rotated: 0,
        skipped: 0,
        left: [],
      };
      let processed = 0;
      o.onProgress?.({ processed, total: all.length });

      const rotateOne = async (meta: SecretMeta): Promise<'rotated' | 'skipped' | string> => {
        // The listing names the current version's key: skip what is plainly not ours.
        if (typeof meta.cmek_fingerprint !== 'undefined' && meta.cmek_fingerprint !== oldFingerprint) {
          return 'skipped';
        }
        for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
          // Reading consumes an access of a count-limited version: carry over what remains.
          const versions = await client.secrets.versions(vaultId, meta.path);
          const current = versions.reduce<VersionMeta | undefined>(
            (a, v) => (!a || v.version > a.version ? v : a),
            undefined,
          );
          if (!current || current.destroyed) return 'gone';
          if (current.cmek_fingerprint !== undefined && current.cmek_fingerprint !== oldFingerprint) {
            return 'skipped';
          }
          let remaining: number | null = null;
          if (current.max_access_count !== null) {
            remaining = current.max_access_count - current.access_count - 1;
            if (remaining < 1) return 'access_count_exhausted';
          }
          let secret: Secret;
          try {
            secret = await client.secrets.get(vaultId, meta.path, { version: current.version });
          } catch (err) {
            if (err instanceof OneclawError && err.status === 410) return 'gone';
            throw err;
          }
          if (!secret.cmek_encrypted || secret.cmek_fingerprint !== oldFingerprint) return 'skipped';
          const plain = await decryptWith(secret, ring);
          const blob = await cmekEncrypt(plain.plaintext, o.newKey);
          plain.plaintext.fill(0);
          try {
            await client.secrets.put(vaultId, meta.path, {
              type: secret.type as SecretPutInput['type'],
              value: toBase64(blob),
              metadata: secret.metadata,
              expires_at: secret.expires_at,
              ...(remaining === null ? {} : { max_access_count: remaining }),
              cas: secret.version,
              cmek_fingerprint: newFingerprint,
            });
            return 'rotated';
          } catch (err) {
            // Someone wrote in between: look again (their version may be under the new key).
            if (err instanceof OneclawError && err.status === 409 && err.code === 'conflict') continue;
            throw err;
          }
        }
        return 'conflict';
      };

      let next = 0;
      const worker = async () => {
        while (next < all.length) {
          if (o.signal?.aborted) throw new OneclawError(0, 'aborted', 'client-side CMEK rotation aborted');
          const meta = all[next++] as SecretMeta;
          let outcome: string;
          try {
            outcome = await rotateOne(meta);
          } catch (err) {
            // Another key, a denial, an unavailable server: stop; running again resumes.
            if (err instanceof OneclawError && err.status === 404) outcome = 'not_found';
            else throw err;
          }
          if (outcome === 'rotated') result.rotated++;
          else if (outcome === 'skipped' || outcome === 'not_found') result.skipped++;
          else result.left.push({ path: meta.path, code: outcome });
          o.onProgress?.({ processed: ++processed, total: all.length });
        }
      };
      const n = Math.max(1, Math.min(o.concurrency ?? 4, 32));
      await Promise.all(Array.from({ length: n }, worker));
      return result;
    },
  };
  return api;
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = () => {
      clearTimeout(timer);
      reject(new OneclawError(0, 'aborted', 'aborted by the caller'));
    };
    if (signal?.aborted) return abort();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', abort, { once: true });
  });
}
