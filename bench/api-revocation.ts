// Revocation across replicas under load: a member principal (an agent with a read grant) reads
// through replica B in a loop while the load runs; its grant is deleted through replica A; the
// probe measures how long replica B keeps serving it.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { call } from './api-load-kit.js';

export interface RevocationResult {
  /** From sending the revoke to replica A until replica B's first refusal (401/403), ms. */
  sent_to_refused_ms: number | null;
  /** From replica A's answer to the revoke until replica B's first refusal, ms (negative: B refused first). */
  acked_to_refused_ms: number | null;
  /** The status of replica B's first refusal. */
  refusal_status: number | null;
  /** The member's successful reads through replica B before the revoke was sent. */
  reads_before: number;
  /** Reads sent to replica B after its first refusal that it still served (must be 0). */
  served_after_refusal: number;
  /** Other answers during the probe (status → count), e.g. 429 or 5xx. */
  other_statuses: Record<string, number>;
}

export interface Member {
  agentId: string;
  token: string;
}

const READERS = 2;
/**
 * Each reader sends at most one read per period: 2 readers stay under the default per-principal
 * limit (100 requests/s), so the member is refused for its grant, never throttled.
 */
const READ_PERIOD_MS = 25;
const REFUSAL_TIMEOUT_MS = 10_000;
const WATCH_AFTER_MS = 300;

/** An agent of the organization with a token exchanged at `url`, the member the probe reads as. */
export async function createMember(url: string, admin: Record<string, string>): Promise<Member> {
  const created = await call<{ agent: { id: string }; api_key: string }>('POST', `${url}/v1/agents`, admin, {
    name: `bench-member-${Date.now().toString(36)}`,
  });
  const t = await call<{ access_token: string }>(
    'POST',
    `${url}/v1/auth/agent-token`,
    {},
    {
      agent_id: created.agent.id,
      api_key: created.api_key,
    },
  );
  return { agentId: created.agent.id, token: t.access_token };
}

/**
 * Grants the member `read` on the vault through `a` and waits until `b` serves it the secret at
 * `path`, so the probe starts from a member replica B knows to be allowed. Returns the grant's id.
 */
export async function grantMember(
  a: string,
  b: string,
  admin: Record<string, string>,
  vaultId: string,
  path: string,
  member: Member,
): Promise<string> {
  const grant = await call<{ id: string }>('POST', `${a}/v1/vaults/${vaultId}/policies`, admin, {
    principal_type: 'agent',
    principal_id: member.agentId,
    secret_path_pattern: '**',
    permissions: ['read'],
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${b}${path}`, { headers: { authorization: `Bearer ${member.token}` } });
    await res.arrayBuffer();
    if (res.ok) return grant.id;
    if (Date.now() > deadline)
      throw new Error(`replica B never served the member after its grant: HTTP ${res.status}`);
    await sleep(50);
  }
}

/**
 * While `readers` loops read `path` through `b` as the member, waits `afterMs`, deletes the grant
 * through `a`, and measures until `b` refuses; then watches a little longer for a read served
 * after the refusal (a replica that flaps back is not revoked).
 */
export async function probeRevocation(opts: {
  a: string;
  b: string;
  admin: Record<string, string>;
  vaultId: string;
  grantId: string;
  path: string;
  member: Member;
  afterMs: number;
}): Promise<RevocationResult> {
  const reads: Array<{ sent: number; done: number; status: number }> = [];
  let running = true;
  const loops = Array.from({ length: READERS }, async () => {
    while (running) {
      const sent = performance.now();
      let status = 0;
      try {
        const res = await fetch(`${opts.b}${opts.path}`, {
          headers: { authorization: `Bearer ${opts.member.token}` },
          signal: AbortSignal.timeout(5_000),
        });
        await res.arrayBuffer();
        status = res.status;
      } catch {
        status = 0;
      }
      const done = performance.now();
      reads.push({ sent, done, status });
      if (done - sent < READ_PERIOD_MS) await sleep(READ_PERIOD_MS - (done - sent));
    }
  });
  const refused = (s: number) => s === 401 || s === 403;
  try {
    await sleep(opts.afterMs);
    const sentAt = performance.now();
    await call('DELETE', `${opts.a}/v1/vaults/${opts.vaultId}/policies/${opts.grantId}`, opts.admin);
    const ackedAt = performance.now();
    const deadline = ackedAt + REFUSAL_TIMEOUT_MS;
    while (!reads.some((r) => refused(r.status)) && performance.now() < deadline) await sleep(5);
    await sleep(WATCH_AFTER_MS);
    running = false;
    await Promise.all(loops);
    const first = reads.filter((r) => refused(r.status)).sort((x, y) => x.done - y.done)[0];
    const other: Record<string, number> = {};
    for (const r of reads)
      if (r.status !== 200 && !refused(r.status))
        other[String(r.status)] = (other[String(r.status)] ?? 0) + 1;
    return {
      sent_to_refused_ms: first ? Math.round(first.done - sentAt) : null,
      acked_to_refused_ms: first ? Math.round(first.done - ackedAt) : null,
      refusal_status: first?.status ?? null,
      reads_before: reads.filter((r) => r.status === 200 && r.done < sentAt).length,
      served_after_refusal: first ? reads.filter((r) => r.status === 200 && r.sent > first.done).length : 0,
      other_statuses: other,
    };
  } finally {
    running = false;
    await Promise.all(loops);
  }
}
