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
