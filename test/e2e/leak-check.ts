// The e2e run's leak scan: after the scenarios, the canary every written value carries must not
// appear in the API's or the operator's logs, their /metrics, the audit log, any Kubernetes Event,
// any version of a OneclawVault or SecretSync seen during the run, or the metadata of the Secrets
// the operator wrote (their data holds the values by design). Each kind of place must also have
// had something in it, so the scan cannot pass by reading nothing.
import type { KubeConfig } from '@kubernetes/client-node';
import {
  findCanaries,
  formatHits,
  kubeEventSources,
  type ObjectHistory,
  oneclawResourceSources,
  syncedSecretMetadataSources,
} from '../support/leak-scan.js';
import type { E2eEnvironment } from './environment.js';

export interface LeakCheck {
  env: E2eEnvironment;
  kc: KubeConfig;
  canary: string;
  history: ObjectHistory;
  /** The namespace the scenarios' resources live in. */
  namespace: string;
  /** How many secret values (each carrying the canary) the run wrote. */
  written: number;
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim()).length;
const count = (sources: Record<string, string>, prefix: string) =>
  Object.keys(sources).filter((k) => k.startsWith(prefix)).length;

/** Throws, naming every place, when the canary is anywhere it must not be or a place was empty; else says what it read. */
export async function assertNoLeaks(c: LeakCheck): Promise<string> {
  const started = Date.now();
  const processes = await c.env.leakSources();
  const history = c.history.sources();
  const now = {
    ...(await kubeEventSources(c.kc)),
    ...(await oneclawResourceSources(c.kc)),
    ...(await syncedSecretMetadataSources(c.kc)),
  };
  const sources = { ...processes.logs, ...processes.metrics, ...processes.audit, ...history, ...now };

  const empty: string[] = [...processes.problems];
  if (Object.keys(processes.logs).length < 2) empty.push('the logs of both the API and the operator');
  for (const [name, text] of Object.entries(processes.logs)) if (lines(text) < 5) empty.push(name);
  for (const name of ['metrics api', 'metrics operator']) {
    if (!processes.metrics[name]?.includes('# HELP')) empty.push(name);
  }
  if (c.written > 0) {
    const writes = Object.keys(processes.audit).filter((k) => k.endsWith(' secret.write')).length;
    if (writes < c.written) empty.push(`audit records of the ${c.written} writes (found ${writes})`);
    for (const kind of ['OneclawVault', 'SecretSync', 'Secret', 'Event']) {
      if (count(history, `${kind} ${c.namespace}/`) === 0) empty.push(`${kind}s in ${c.namespace}`);
    }
    const statuses = Object.entries(history).filter(
      ([k, v]) => /^(OneclawVault|SecretSync) /.test(k) && v.includes('"status":{'),
    );
    if (statuses.length === 0) empty.push('a status of a OneclawVault or SecretSync');
  }
  if (empty.length) {
    throw new Error(`leak scan: nothing to scan where there must be something:\n- ${empty.join('\n- ')}`);
  }

  const hits = findCanaries([c.canary], sources);
  if (hits.length) {
    throw new Error(
      `leak scan: a secret value appeared ${hits.length} time(s) outside a read:\n${formatHits(hits)}`,
    );
  }
  const bytes = Object.values(sources).reduce((n, t) => n + t.length, 0);
  const versions = (kind: string) => count(history, `${kind} `);
  return (
    `leak scan: 0 hits in ${Object.keys(sources).length} places, ${(bytes / 1024).toFixed(0)} KiB: ` +
    `${Object.values(processes.logs).reduce((n, t) => n + lines(t), 0)} log lines, ` +
    `${Object.keys(processes.audit).length} audit records, ${Object.keys(processes.metrics).length} /metrics, ` +
    ['Event', 'OneclawVault', 'SecretSync', 'Secret'].map((k) => `${versions(k)} ${k} versions`).join(', ') +
    ` (${Date.now() - started} ms)`
  );
}
