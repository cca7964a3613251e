// The Secret a SecretSync writes: created, or converged when what it holds differs by meaning
// (its bytes, labels, annotations or type), and deleted when access is lost and the sync says so.
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import {
  API_VERSION,
  CONTENT_HASH_ANNOTATION,
  KIND_SYNC,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  Reason,
  type SecretSync,
  SYNC_LABEL,
} from '../../apis/v1alpha1/types.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { ObjectCache } from '../../runtime/informer-cache.js';
import { KubeApiError, type KubeRequest, kubeRequest, namespacedPath } from '../../runtime/kube-request.js';
import { sameSecretData } from '../../runtime/semantic.js';
import type { SecretWrites, Written } from './secret-writes.js';

/** Why a sync cannot be made as specified, as the sync's condition reason; retried on resync. */
export class SyncFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** Whether two string maps hold the same keys and values, whatever the key order. */
function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

const secretPath = (ns: string, name?: string) => namespacedPath('v1', 'secrets', ns, name);

/** Where applyTarget looks for the Secret before asking the apiserver. */
export interface TargetCache {
  secrets: ObjectCache<V1Secret>;
  writes: SecretWrites;
}

/**
 * Creates or converges the target Secret: whether it was written, whether its data differs
 * from what it held (or it did not exist), and whether it was already written from
 * `fingerprint` by an earlier reconcile.
 */
export const applyTarget = async (
  kubeConfig: KubeConfig,
  s: SecretSync,
  name: string,
  data: Map<string, string>,
  fingerprint: string,
  signal: AbortSignal,
  cache?: TargetCache,
): Promise<{ changed: boolean; dataChanged: boolean; writtenBefore: boolean }> => {
  const ns = s.metadata.namespace as string;
  const target = s.spec.target ?? {};
  const type = target.type ?? 'Opaque';
  const desired: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: ns,
      labels: {
        ...(target.labels ?? {}),
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
        [SYNC_LABEL]: s.metadata.name as string,
      },
      annotations: { ...(target.annotations ?? {}), [CONTENT_HASH_ANNOTATION]: fingerprint },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: KIND_SYNC,
          name: s.metadata.name as string,
          uid: s.metadata.uid as string,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    type,
    data: Object.fromEntries([...data].map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
  };
  const read = async () => {
    try {
      return await kubeRequest<V1Secret>(kubeConfig, { path: secretPath(ns, name), signal });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.statusCode === 404)) throw err;
      return undefined;
    }
  };
  /** One write of ours, told to the cache's write log so its watch event is known as ours. */
  const write = (before: string | undefined, req: KubeRequest) => {
    const send = () => kubeRequest<Written>(kubeConfig, { ...req, signal });
    return cache ? cache.writes.write(ns, name, before, send) : send();
  };
  const create = () => ({ method: 'POST' as const, path: secretPath(ns), body: desired });
  // The cache holds only Secrets labelled as synced: one of the same name without the label is
  // found by the create's 409, and read then.
  const cached = cache?.secrets.get(ns, name);
  let current = cache && !cache.writes.behind(ns, name, cached) ? cached : await read();
  if (!current) {
    try {
      await write(undefined, create());
      return { changed: true, dataChanged: true, writtenBefore: false };
    } catch (err) {
      if (!(err instanceof KubeApiError && err.statusCode === 409)) throw err;
      current = await read();
      if (!current) throw err;
    }
  }
  const ours = current.metadata?.ownerReferences?.some((r) => r.uid === s.metadata.uid && r.controller);
  if (!ours) {
    throw new SyncFailure(
      Reason.SecretConflict,
      `Secret ${name} exists and is not managed by this SecretSync`,
    );
  }
  const dataChanged = !sameSecretData(current.data ?? {}, desired.data ?? {});
  const writtenBefore = current.metadata?.annotations?.[CONTENT_HASH_ANNOTATION] === fingerprint;
  const same =
    current.type === type &&
    !dataChanged &&
    sameMap(current.metadata?.labels ?? {}, desired.metadata?.labels ?? {}) &&
    sameMap(current.metadata?.annotations ?? {}, desired.metadata?.annotations ?? {});
  if (same) return { changed: false, dataChanged, writtenBefore };
  if (current.type !== type) {
    // A Secret's type is immutable: replace the object.
    await kubeRequest(kubeConfig, { method: 'DELETE', path: secretPath(ns, name), signal });
    // Against the replaced object's version: a cache still holding it is behind.
    await write(current.metadata?.resourceVersion, create());
    return { changed: true, dataChanged, writtenBefore };
  }
  const before = current.metadata?.resourceVersion;
  const replacement = { ...desired, metadata: { ...desired.metadata, resourceVersion: before } };
  await write(before, { method: 'PUT', path: secretPath(ns, name), body: replacement });
  return { changed: true, dataChanged, writtenBefore };
};

export const removeTarget = async (
  kubeConfig: KubeConfig,
  events: EventRecorder,
  s: SecretSync,
  name: string,
  signal: AbortSignal,
) => {
  const ns = s.metadata.namespace as string;
  try {
    const current = await kubeRequest<V1Secret>(kubeConfig, { path: secretPath(ns, name), signal });
    if (current.metadata?.ownerReferences?.some((r) => r.uid === s.metadata.uid)) {
      await kubeRequest(kubeConfig, { method: 'DELETE', path: secretPath(ns, name), signal });
      await events.event(
        s,
        'Normal',
        'SecretDeleted',
        `deleted Secret ${name} (onAccessLoss Delete)`,
        signal,
      );
    }
  } catch (err) {
    if (!(err instanceof KubeApiError && err.statusCode === 404)) throw err;
  }
};
