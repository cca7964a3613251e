// Reconcile keys and the functions that map a watched object to the keys it enqueues.
import type { KubernetesObject } from '@kubernetes/client-node';

export interface ObjectKey {
  namespace: string;
  name: string;
}

export const keyOf = (k: ObjectKey): string => `${k.namespace}/${k.name}`;

/** Inverse of keyOf; a key without a slash is a cluster-scoped name (namespace ''). */
export const parseKey = (s: string): ObjectKey => {
  const i = s.indexOf('/');
  return i < 0 ? { namespace: '', name: s } : { namespace: s.slice(0, i), name: s.slice(i + 1) };
};

/** Keys of the object itself, for a watch on the primary kind. */
export const ownKey = (obj: KubernetesObject): ObjectKey[] => [
  { namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' },
];

/** Keys of the owners of `kind` (and optionally `apiVersion`) named in the object's ownerReferences. */
export const ownerKeys =
  (kind: string, apiVersion?: string) =>
  (obj: KubernetesObject): ObjectKey[] =>
    (obj.metadata?.ownerReferences ?? [])
      .filter((r) => r.kind === kind && (apiVersion === undefined || r.apiVersion === apiVersion))
      .map((r) => ({ namespace: obj.metadata?.namespace ?? '', name: r.name }));

const json = (v: unknown) => JSON.stringify(v ?? null);

/**
 * Update filter: true when the spec (generation), labels, annotations, finalizers, owner
 * references or deletion timestamp changed — false for status-only writes. Objects without a
 * generation (Secrets, ConfigMaps) always pass.
 */
export function generationChanged(oldObj: KubernetesObject, newObj: KubernetesObject): boolean {
  const o = oldObj.metadata ?? {};
  const n = newObj.metadata ?? {};
  if (o.generation === undefined || n.generation === undefined || o.generation !== n.generation) return true;
  return (
    json(o.labels) !== json(n.labels) ||
    json(o.annotations) !== json(n.annotations) ||
    json(o.finalizers) !== json(n.finalizers) ||
    json(o.ownerReferences) !== json(n.ownerReferences) ||
    json(o.deletionTimestamp) !== json(n.deletionTimestamp)
  );
}
