// Which API vault belongs to a OneclawVault. A vault records the Kubernetes object it was created
// for (kind, apiVersion, namespace, name, uid), and the operator grants on, adopts or purges only
// the vault whose recorded uid is the object's own metadata.uid: a uid is never reused, while a
// name can be recreated in another namespace, derived twice, or taken by a vault an admin made.
// status.vaultId is only a hint, since anyone who may patch the status subresource can write it.
import { createHash } from 'node:crypto';
import type { OneclawClient, Vault, VaultOwner } from '../../../../sdk/src/index.js';
import { OneclawError } from '../../../../sdk/src/index.js';
import {
  API_VERSION,
  type Custody,
  KIND_VAULT,
  type OneclawVault,
  Reason,
} from '../../apis/v1alpha1/types.js';

/**
 * The API vault name of a OneclawVault: readable `<namespace>-<name>` (at most 50 characters)
 * and a digest of `<namespace>/<name>`. `/` appears in neither part, so `payments/prod-db` and
 * `payments-prod/db` get different digests where the readable parts are the same.
 */
export function vaultNameFor(namespace: string, name: string): string {
  const digest = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 12);
  const readable = `${namespace}-${name}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 50)
    .replace(/-+$/, '');
  return `${readable}-${digest}`;
}

export function ownerFor(v: OneclawVault): VaultOwner {
  const uid = v.metadata.uid;
  if (!uid) throw new Error(`OneclawVault ${v.metadata.namespace}/${v.metadata.name} has no uid`);
  return {
    kind: KIND_VAULT,
    api_version: API_VERSION,
    namespace: v.metadata.namespace as string,
    name: v.metadata.name as string,
    uid,
  };
}

const ownedBy = (vault: Vault, uid: string | undefined) => uid !== undefined && vault.owner?.uid === uid;

/** A vault by id; undefined when there is none (a hint may name anything, even no valid id). */
const vaultById = (api: OneclawClient, id: string) =>
  api.vaults.get(id).catch((err: unknown) => {
    if (
      err instanceof OneclawError &&
      (err.status === 404 || err.status === 400 || err.code === 'invalid_request')
    )
      return undefined;
    throw err;
  });

/**
 * The vault status.vaultId names, and the live vault this object owns, if any. The hint is
 * read first, by id, and kept only when that vault records this object's uid: a converged
 * object costs one read, not a list of the org's vaults. Otherwise the owned vault is found by
 * uid, the filter repeated here rather than trusted to the query, so a server that ignored
 * `owner_uid` could not hand over another vault.
 */
async function lookup(api: OneclawClient, v: OneclawVault): Promise<{ owned?: Vault; named?: Vault }> {
  const uid = ownerFor(v).uid;
  const hint = v.status?.vaultId;
  const named = hint ? await vaultById(api, hint) : undefined;
  if (named && ownedBy(named, uid)) return { owned: named };
  const owned = (await api.vaults.list({ owner_uid: uid })).find((x) => ownedBy(x, uid));
  return { ...(owned ? { owned } : {}), ...(named ? { named } : {}) };
}

/** The live vault this object owns, if any (see lookup). */
export async function findOwnedVault(api: OneclawClient, v: OneclawVault): Promise<Vault | undefined> {
  return (await lookup(api, v)).owned;
}

export type Resolution =
  | {
      ok: true;
      vault: Vault;
      created: boolean;
      /** status.vaultId named this other vault; the status is to be corrected. */
      replacedHint?: string;
    }
  | { ok: false; reason: Reason; message: string };

const describeOwner = (o: VaultOwner | null) =>
  o
    ? `${o.kind} ${o.namespace}/${o.name} (uid ${o.uid})`
    : 'no owner (made through the API or the CLI, or by an operator before vaults recorded owners)';

/**
 * The vault to act on: the one this object owns, found by its uid (which also recovers a vault
 * created just before a crash lost the status write), else a new one recording this object as
 * owner. Never a vault found by name or named only by status.vaultId.
 */
export async function resolveVault(
  api: OneclawClient,
  v: OneclawVault,
  input: { description: string; kmsKey?: string | undefined; custody?: Custody | undefined },
): Promise<Resolution> {
  const owner = ownerFor(v);
  const hint = v.status?.vaultId;
  const { owned, named } = await lookup(api, v);
  if (owned) {
    return {
      ok: true,
      vault: owned,
      created: false,
      ...(hint && hint !== owned.id ? { replacedHint: hint } : {}),
    };
  }
  if (hint) {
    // No vault of ours, but status names one: an old operator's vault waiting for its owner to be
    // recorded, or a forged id. Creating a new, empty vault here would silently move the
    // namespace's syncs off their data; refusing changes nothing until an admin decides.
    if (named) {
      return {
        ok: false,
        reason: Reason.VaultNotOwned,
        message:
          `status.vaultId names vault ${hint}, which records ${describeOwner(named.owner)}, not this OneclawVault ` +
          `(uid ${owner.uid}); nothing was granted on it or changed. status.vaultId may have been forged: ` +
          `before recording an owner, an admin makes the checks in docs/upgrading.md; or clear status.vaultId to get a new vault`,
      };
    }
  }
  const name = vaultNameFor(owner.namespace, owner.name);
  try {
    const vault = await api.vaults.create({
      name,
      description: input.description,
      owner,
      ...(input.kmsKey ? { kms_key: input.kmsKey } : {}),
      ...(input.custody ? { custody: input.custody } : {}),
    });
    return { ok: true, vault, created: true };
  } catch (err) {
    if (!(err instanceof OneclawError && err.status === 409)) throw err;
    // Another replica may have created ours a moment ago; anything else is not ours to take.
    const raced = await findOwnedVault(api, v);
    if (raced) return { ok: true, vault: raced, created: false };
    return {
      ok: false,
      reason: Reason.VaultConflict,
      message: `cannot create vault ${name}: ${err.message}; an existing vault is used only if it records this OneclawVault (uid ${owner.uid}) as its owner`,
    };
  }
}
