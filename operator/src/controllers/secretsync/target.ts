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
import { KubeApiError, kubeRequest, namespacedPath } from '../../runtime/kube-request.js';
import { sameSecretData } from '../../runtime/semantic.js';

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
  let current: V1Secret | undefined;
  try {
    current = await kubeRequest<V1Secret>(kubeConfig, { path: secretPath(ns, name), signal });
  } catch (err) {
    if (!(err instanceof KubeApiError && err.statusCode === 404)) throw err;
  }
  if (!current) {
    await kubeRequest(kubeConfig, { method: 'POST', path: secretPath(ns), body: desired, signal });
    return { changed: true, dataChanged: true, writtenBefore: false };
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
    await kubeRequest(kubeConfig, { method: 'POST', path: secretPath(ns), body: desired, signal });
    return { changed: true, dataChanged, writtenBefore };
  }
  const replacement = {
    ...desired,
    metadata: { ...desired.metadata, resourceVersion: current.metadata?.resourceVersion },
  };
  await kubeRequest(kubeConfig, {
    method: 'PUT',
    path: secretPath(ns, name),
    body: replacement,
    signal,
  });
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
