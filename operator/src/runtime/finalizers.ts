// Finalizers guard external state only (STYLE habit 4); in-cluster children get owner references.
//
// Adding or removing one is a JSON Patch whose first operation is a `test`: of the current
// finalizer list when there is one (so edits to other fields do not conflict), else of the
// resourceVersion (JSON Patch cannot test that a member is absent). If anyone changed the list
// since `obj` was read, the apiserver rejects the whole patch and FinalizerConflictError is
// thrown; a reconciler just lets it propagate and is retried with a fresh read. Nobody else's
// finalizer is ever dropped, and ours is never added twice.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { KubeApiError, kubeRequest, statusCodeOf } from './kube-request.js';

export type JsonPatchOp =
  | { op: 'test' | 'add' | 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** The object changed under us; retry from a fresh read. */
export class FinalizerConflictError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FinalizerConflictError';
  }
}

export function hasFinalizer(obj: KubernetesObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

/** The JSON Patch that sets obj's finalizers to `next`, guarded as described above. */
export function finalizersPatch(obj: KubernetesObject, next: string[]): JsonPatchOp[] {
  const current = obj.metadata?.finalizers;
  if (current) {
    return [
      { op: 'test', path: '/metadata/finalizers', value: current },
      { op: 'replace', path: '/metadata/finalizers', value: next },
    ];
  }
  const rv = obj.metadata?.resourceVersion;
  if (!rv) throw new Error('finalizersPatch needs an object read from the API (it has no resourceVersion)');
  return [
    { op: 'test', path: '/metadata/resourceVersion', value: rv },
    { op: 'add', path: '/metadata/finalizers', value: next },
  ];
}

async function applyPatch<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  objectPath: string,
  ops: JsonPatchOp[],
  signal: AbortSignal | undefined,
): Promise<T> {
  try {
    return await kubeRequest<T>(kubeConfig, {
      method: 'PATCH',
      path: objectPath,
      contentType: 'application/json-patch+json',
      body: ops,
      timeoutMs: 30_000,
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    // A failed `test` is 422 (Invalid) on current apiservers; 409 on a resourceVersion clash.
    const code = statusCodeOf(err);
    if (code === 409 || code === 422) {
      throw new FinalizerConflictError(`finalizers of ${objectPath} changed concurrently; retry`, {
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * Adds `finalizer` to the object at `objectPath` (its own URL, e.g. from
 * `namespacedPath('oneclaw.dev/v1alpha1', 'secretsyncs', ns, name)`), given the object as last
 * read. Returns the updated object, or `obj` unchanged when it already had the finalizer.
 * Throws FinalizerConflictError on a concurrent change, KubeApiError otherwise (404: gone).
 * `signal` cancels the write (a reconcile's, see ReconcileContext).
 */
export async function addFinalizer<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  objectPath: string,
  obj: T,
  finalizer: string,
  signal?: AbortSignal,
): Promise<T> {
  if (hasFinalizer(obj, finalizer)) return obj;
  return applyPatch<T>(
    kubeConfig,
    objectPath,
    finalizersPatch(obj, [...(obj.metadata?.finalizers ?? []), finalizer]),
    signal,
  );
}

/**
 * Removes `finalizer` (every occurrence). Returns the updated object — which may be the last
 * state before the apiserver deleted it — or `obj` when it did not have the finalizer.
 * An object already gone (404) counts as done and returns `obj`.
 */
export async function removeFinalizer<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  objectPath: string,
  obj: T,
  finalizer: string,
  signal?: AbortSignal,
): Promise<T> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  const next = (obj.metadata?.finalizers ?? []).filter((f) => f !== finalizer);
  try {
    return await applyPatch<T>(kubeConfig, objectPath, finalizersPatch(obj, next), signal);
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 404) return obj;
    throw err;
  }
}
