// What the operator wrote, counted by the apiserver itself: kube-apiserver's
// `apiserver_request_total{verb,resource,subresource}` scraped before and after a run, the write
// verbs summed by what they wrote. The bench's own writes (creating and deleting SecretSyncs,
// unrelated Secrets) fall outside the windows compared or under their own heading.
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeText } from '../operator/src/runtime/kube-request.js';

/** Request counts by `verb|resource|subresource`, summed over the other labels. */
export type ApiserverRequests = Map<string, number>;

export interface ApiserverWrites {
  /** Writes of Secrets (create, update, patch, delete). */
  secrets: number;
  /** Writes of SecretSync status (the status subresource). */
  sync_status: number;
  /** Writes of SecretSyncs themselves (creates by the bench, finalizers). */
  syncs: number;
  /** Writes of OneclawVaults and their status. */
  vaults: number;
  /** Events created or updated (core and events.k8s.io). */
  events: number;
  /** TokenRequests (serviceaccounts/token). */
  token_requests: number;
  /** TokenReviews (the API checking the service-account tokens it exchanges). */
  token_reviews: number;
  /** Lease renewals (leader election). */
  leases: number;
  /** Any other write. */
  other: number;
}

const WRITE_VERBS = new Set([
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'DELETECOLLECTION',
  'APPLY',
  'CREATE',
  'UPDATE',
]);

export async function apiserverRequests(kc: KubeConfig): Promise<ApiserverRequests> {
  const text = await kubeText(kc, { path: '/metrics', timeoutMs: 30_000 });
  const out: ApiserverRequests = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const m = /^apiserver_request_total\{(.*)\}\s+(\S+)$/.exec(line.trim());
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = l[2] as string;
    const key = `${labels.verb ?? ''}|${labels.resource ?? ''}|${labels.subresource ?? ''}`;
    out.set(key, (out.get(key) ?? 0) + Number(m[2]));
  }
  return out;
}

/** The writes the apiserver served between two scrapes, by what they wrote. */
export function writesBetween(before: ApiserverRequests, after: ApiserverRequests): ApiserverWrites {
  const w: ApiserverWrites = {
    secrets: 0,
    sync_status: 0,
    syncs: 0,
    vaults: 0,
    events: 0,
    token_requests: 0,
    token_reviews: 0,
    leases: 0,
    other: 0,
  };
  for (const [key, n] of after) {
    const [verb = '', resource = '', subresource = ''] = key.split('|');
    if (!WRITE_VERBS.has(verb)) continue;
    const d = n - (before.get(key) ?? 0);
    if (d <= 0) continue;
    if (resource === 'secrets') w.secrets += d;
    else if (resource === 'secretsyncs') {
      if (subresource === 'status') w.sync_status += d;
      else w.syncs += d;
    } else if (resource === 'oneclawvaults') w.vaults += d;
    else if (resource === 'events') w.events += d;
    else if (resource === 'serviceaccounts' && subresource === 'token') w.token_requests += d;
    else if (resource === 'tokenreviews') w.token_reviews += d;
    else if (resource === 'leases') w.leases += d;
    else w.other += d;
  }
  return w;
}

/** Writes that change what the operator manages: not Lease renewals, not TokenRequests. */
export const objectWrites = (w: ApiserverWrites) => w.secrets + w.sync_status + w.syncs + w.vaults + w.events;
