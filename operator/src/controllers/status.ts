// Status writes shared by the reconcilers: a JSON merge patch through the status subresource,
// skipped when the result would mean the same as what is stored (key order, properties left
// undefined), so a converged object costs no write.
import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION } from '../apis/v1alpha1/types.js';
import { type Condition, setCondition } from '../runtime/conditions.js';
import { kubeRequest, namespacedPath } from '../runtime/kube-request.js';
import { semanticEqual } from '../runtime/semantic.js';

export interface StatusTarget {
  plural: string;
  namespace: string;
  name: string;
  generation: number | undefined;
  status: { conditions?: Condition[] } & Record<string, unknown>;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** A custom resource of ours, as the cache holds it. */
interface OwnObject {
  metadata: { namespace?: string; name?: string; generation?: number };
  status?: object;
}

/** writeStatus for an object of `plural` as last read: its place, generation and status. */
export function writeObjectStatus(
  kubeConfig: KubeConfig,
  plural: string,
  obj: OwnObject,
  fields: Record<string, unknown>,
  conditions: ConditionInput[],
  signal: AbortSignal,
): Promise<boolean> {
  const target: StatusTarget = {
    plural,
    namespace: obj.metadata.namespace as string,
    name: obj.metadata.name as string,
    generation: obj.metadata.generation,
    status: (obj.status ?? {}) as StatusTarget['status'],
  };
  return writeStatus(kubeConfig, target, fields, conditions, signal);
}

/**
 * Merges `fields` and the conditions into status; returns whether anything was written. The
 * write carries `signal`: a reconcile cancelled (leadership lost, shutdown) writes nothing more.
 */
export async function writeStatus(
  kubeConfig: KubeConfig,
  target: StatusTarget,
  fields: Record<string, unknown>,
  conditions: ConditionInput[],
  signal?: AbortSignal,
): Promise<boolean> {
  let next = target.status.conditions;
  for (const c of conditions) next = setCondition(next, { ...c, observedGeneration: target.generation });
  const status = { ...target.status, ...fields, observedGeneration: target.generation, conditions: next };
  if (semanticEqual(status, target.status)) return false;
  await kubeRequest(kubeConfig, {
    method: 'PATCH',
    path: `${namespacedPath(API_VERSION, target.plural, target.namespace, target.name)}/status`,
    contentType: 'application/merge-patch+json',
    body: { status: { ...fields, observedGeneration: target.generation, conditions: next } },
    ...(signal ? { signal } : {}),
  });
  return true;
}
