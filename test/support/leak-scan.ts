// Finds canary secret values where they must never be: log lines, Kubernetes Events, custom
// resources' status, synced Secrets' metadata, audit records, /metrics. A value can leave
// encoded, so each canary is also looked for as base64 (any alignment inside a longer value,
// standard and URL alphabets) and hex. The gatherers below read each place into named texts;
// `findCanaries` scans them and reports every hit with the canary itself masked, so the report
// can be printed without repeating the leak.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, type KubeConfig, Watch } from '@kubernetes/client-node';
import {
  GROUP,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  PLURAL_SYNCS,
  PLURAL_VAULTS,
  VERSION,
} from '../../operator/src/apis/v1alpha1/types.js';
import { createClient } from '../../sdk/src/index.js';

export type CanaryEncoding = 'plain' | 'base64' | 'base64url' | 'hex';

export interface CanaryHit {
  /** Where: a name given by the gatherer, e.g. `log /tmp/…/api.log`, `event ns/name`. */
  source: string;
  canary: string;
  encoding: CanaryEncoding;
  /** 1-based line within the source. */
  line: number;
  /** The text around the hit, every canary in it replaced by `<canary:encoding>`. */
  excerpt: string;
}

/** Shorter canaries would make the base64 fragments short enough to match by chance. */
const MIN_CANARY_LENGTH = 16;
const CONTEXT = 80;

/** A per-run canary: lowercase letters and digits only, so JSON, URL and shell quoting keep it as is. */
export function newCanary(): string {
  return `leak${randomBytes(12).toString('hex')}`;
}

interface Needle {
  canary: string;
  encoding: CanaryEncoding;
  text: string;
  /** Plain text and hex are compared case-insensitively; base64 is case-sensitive. */
  folded: boolean;
}

/**
 * The canary's base64 as it appears inside the encoding of a longer value: at each of the three
 * byte alignments, the 4-character groups that encode canary bytes only (the groups at either
 * end mix in the surrounding bytes, so they are left out).
 */
function base64Fragments(canary: string): string[] {
  const bytes = Buffer.from(canary);
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), bytes]);
    const firstGroup = shift === 0 ? 0 : 1;
    const groups = Math.floor(padded.length / 3);
    out.push(padded.toString('base64').slice(firstGroup * 4, groups * 4));
  }
  return out;
}

function needlesFor(canary: string): Needle[] {
  if (canary.length < MIN_CANARY_LENGTH) {
    throw new Error(`a canary needs at least ${MIN_CANARY_LENGTH} characters to be found reliably`);
  }
  const needles: Needle[] = [{ canary, encoding: 'plain', text: canary.toLowerCase(), folded: true }];
  for (const b64 of base64Fragments(canary)) {
    needles.push({ canary, encoding: 'base64', text: b64, folded: false });
    const url = b64.replaceAll('+', '-').replaceAll('/', '_');
    if (url !== b64) needles.push({ canary, encoding: 'base64url', text: url, folded: false });
  }
  needles.push({ canary, encoding: 'hex', text: Buffer.from(canary).toString('hex'), folded: true });
  return needles;
}

interface Match {
  needle: Needle;
  start: number;
  end: number;
}

function matchesIn(line: string, folded: string, needles: Needle[]): Match[] {
  const found: Match[] = [];
  for (const needle of needles) {
    const hay = needle.folded ? folded : line;
    for (let at = hay.indexOf(needle.text); at >= 0; at = hay.indexOf(needle.text, at + 1)) {
      found.push({ needle, start: at, end: at + needle.text.length });
    }
  }
  // Overlapping matches (a hex run that also spells base64, say) count once: the earliest, longest.
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: Match[] = [];
  for (const m of found) if (!kept.length || m.start >= (kept.at(-1) as Match).end) kept.push(m);
  return kept;
}

/** Every place a canary occurs in the sources, in any of its encodings. */
export function findCanaries(canaries: string[], sources: Record<string, string>): CanaryHit[] {
  const needles = canaries.flatMap(needlesFor);
  const hits: CanaryHit[] = [];
  for (const [source, text] of Object.entries(sources)) {
    const foldedText = text.toLowerCase();
    if (!needles.some((n) => (n.folded ? foldedText : text).includes(n.text))) continue;
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      const matches = matchesIn(line, line.toLowerCase(), needles);
      if (!matches.length) return;
      // Mask every match on the line, then cut each excerpt out of the masked line.
      let masked = '';
      let from = 0;
      const at: Array<[number, number]> = [];
      for (const m of matches) {
        masked += line.slice(from, m.start);
        const marker = `<canary:${m.needle.encoding}>`;
        at.push([masked.length, masked.length + marker.length]);
        masked += marker;
        from = m.end;
      }
      masked += line.slice(from);
      matches.forEach((m, k) => {
        const [start, end] = at[k] as [number, number];
        const excerpt =
          (start > CONTEXT ? '…' : '') +
          masked.slice(Math.max(0, start - CONTEXT), end + CONTEXT) +
          (end + CONTEXT < masked.length ? '…' : '');
        hits.push({ source, canary: m.needle.canary, encoding: m.needle.encoding, line: i + 1, excerpt });
      });
    });
  }
  return hits;
}

/** The hits as lines to print, at most `max` of them. */
export function formatHits(hits: CanaryHit[], max = 50): string {
  const lines = hits.slice(0, max).map((h) => `${h.source}:${h.line} [${h.encoding}] ${h.excerpt}`);
  if (hits.length > max) lines.push(`… and ${hits.length - max} more`);
  return lines.join('\n');
}

// --- gathering the places to scan ----------------------------------------------------------

/** Whole log files, as `log <path>`. A missing file throws: a scan must not pass by reading nothing. */
export function logFileSources(paths: string[]): Record<string, string> {
  return Object.fromEntries(paths.map((p) => [`log ${p}`, readFileSync(p, 'utf8')]));
}

/** Every Event (message, reason, annotations, all of it), in the namespaces given or in all. */
export async function kubeEventSources(
  kc: KubeConfig,
  namespaces?: string[],
): Promise<Record<string, string>> {
  const core = kc.makeApiClient(CoreV1Api);
  const lists = namespaces
    ? await Promise.all(namespaces.map((namespace) => core.listNamespacedEvent({ namespace })))
    : [await core.listEventForAllNamespaces()];
  const out: Record<string, string> = {};
  for (const e of lists.flatMap((l) => l.items)) {
    out[`event ${e.metadata?.namespace}/${e.metadata?.name}`] = JSON.stringify(e);
  }
  return out;
}

type Listed = { items: Array<{ metadata?: { namespace?: string; name?: string } }> };

/** Every OneclawVault and SecretSync in the cluster, whole (metadata, spec and status). */
export async function oneclawResourceSources(kc: KubeConfig): Promise<Record<string, string>> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const out: Record<string, string> = {};
  for (const [kind, plural] of [
    ['OneclawVault', PLURAL_VAULTS],
    ['SecretSync', PLURAL_SYNCS],
  ] as const) {
    const list = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as Listed;
    for (const o of list.items) {
      out[`${kind} ${o.metadata?.namespace}/${o.metadata?.name}`] = JSON.stringify(o);
    }
  }
  return out;
}

/**
 * The Secrets the operator wrote, without their data (which holds the values by design): labels,
 * annotations, owner references, managed fields and type.
 */
export async function syncedSecretMetadataSources(kc: KubeConfig): Promise<Record<string, string>> {
  const core = kc.makeApiClient(CoreV1Api);
  const list = await core.listSecretForAllNamespaces({
    labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
  });
  return Object.fromEntries(
    list.items.map((s) => [
      `secret ${s.metadata?.namespace}/${s.metadata?.name} (metadata)`,
      JSON.stringify({ metadata: s.metadata, type: s.type }),
    ]),
  );
}

/** Every audit record of the admin's org, all pages, one source per record (`audit <seq> <action>`). */
export async function auditSources(apiUrl: string, adminApiKey: string): Promise<Record<string, string>> {
  const admin = createClient({ baseUrl: apiUrl, credentials: { apiKey: adminApiKey } });
  const out: Record<string, string> = {};
  let after: string | undefined;
  for (;;) {
    const page = await admin.audit.list({ limit: 1000, ...(after ? { after } : {}) });
    for (const e of page.events) out[`audit ${e.seq} ${e.action}`] = JSON.stringify(e);
    if (page.events.length === 0 || page.next_cursor === after) return out;
    after = page.next_cursor;
  }
}

/** `<base>/metrics` of each named process, as `metrics <name>`. */
export async function metricsSources(bases: Record<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, base] of Object.entries(bases)) {
    const res = await fetch(`${base.replace(/\/+$/, '')}/metrics`);
    if (!res.ok) throw new Error(`${name} /metrics answered HTTP ${res.status}`);
    out[`metrics ${name}`] = await res.text();
  }
  return out;
}

interface Watched {
  kind: string;
  /** A cluster-wide list path, e.g. `/api/v1/events`. */
  path: string;
  labelSelector?: string;
  /** What of an object is scanned (default: all of it). */
  view?: (obj: KubeObject) => unknown;
}

type KubeObject = { metadata?: { namespace?: string; name?: string; resourceVersion?: string } } & Record<
  string,
  unknown
>;

/** What a run showed of the Kubernetes objects where a value could leak, every version of each. */
const leakWatches = (): Watched[] => [
  { kind: 'OneclawVault', path: `/apis/${GROUP}/${VERSION}/${PLURAL_VAULTS}` },
  { kind: 'SecretSync', path: `/apis/${GROUP}/${VERSION}/${PLURAL_SYNCS}` },
  { kind: 'Event', path: '/api/v1/events' },
  // The operator stamps the rollout targets' pod templates.
  ...(['Deployment', 'StatefulSet', 'DaemonSet'] as const).map((kind) => ({
    kind,
    path: `/apis/apps/v1/${kind.toLowerCase()}s`,
    view: (w: KubeObject) => ({
      metadata: w.metadata,
      template: (w.spec as { template?: { metadata?: unknown } } | undefined)?.template?.metadata,
    }),
  })),
  {
    kind: 'Secret',
    path: '/api/v1/secrets',
    labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
    view: (s) => ({ metadata: s.metadata, type: s.type }),
  },
];

export interface ObjectHistory {
  /** Each version seen, as `<kind> <ns>/<name> @<resourceVersion>`. */
  sources(): Record<string, string>;
  stop(): void;
}

/**
 * Watches objects for as long as a run lasts and keeps every version it sees, so a status or an
 * Event that held a value only for a moment, or whose object is deleted before the run ends, is
 * still scanned. A watch the server ends is resumed from the last version seen (relisted when
 * that version has expired).
 */
export async function recordObjectHistory(kc: KubeConfig, watched = leakWatches()): Promise<ObjectHistory> {
  const watch = new Watch(kc);
  const seen: Record<string, string> = {};
  const controllers = new Map<Watched, AbortController>();
  let stopped = false;
  const start = async (w: Watched, resourceVersion?: string): Promise<void> => {
    let last = resourceVersion;
    const controller = await watch.watch(
      w.path,
      { labelSelector: w.labelSelector, resourceVersion: last, allowWatchBookmarks: true },
      (phase, obj: KubeObject) => {
        if (phase === 'ERROR') {
          last = undefined; // 410 Gone: the version expired; relist
          return;
        }
        last = obj.metadata?.resourceVersion ?? last;
        if (phase === 'BOOKMARK') return;
        const m = obj.metadata ?? {};
        seen[`${w.kind} ${m.namespace}/${m.name} @${m.resourceVersion}`] = JSON.stringify(
          w.view ? w.view(obj) : obj,
        );
      },
      () => {
        if (!stopped) setTimeout(() => void start(w, last), 250);
      },
    );
    controllers.set(w, controller);
  };
  await Promise.all(watched.map((w) => start(w)));
  return {
    sources: () => ({ ...seen }),
    stop() {
      stopped = true;
      for (const c of controllers.values()) c.abort();
    },
  };
}
