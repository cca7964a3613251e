// A read's audit record is durable before its response: the statement that reads the value also
// inserts the record, and no response leaves before that statement has committed. Inserts into the audit log are held back
// by a table lock: no read may answer meanwhile. Once they go through, the server is killed
// with SIGKILL right after the last 200, and every answered read's record is in the database
// and in the chain the restarted server verifies.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OneclawServer, serverCall } from '../../../../test/support/server-process.js';
import { type ServerSuite, serverSuite } from '../../../../test/support/server-suite.js';

const READS = 24;
let suite: ServerSuite;

beforeAll(async () => {
  suite = await serverSuite('oneclaw-audit-durable', { ONECLAW_AUTH_RATE_LIMIT: '0' });
});
afterAll(async () => {
  await suite?.close();
});

async function start(name: string): Promise<{ server: OneclawServer; auth: Record<string, string> }> {
  const server = await suite.start(name);
  const login = await serverCall<{ access_token: string }>(server, 'POST', '/v1/auth/token', {
    api_key: suite.adminKey,
  });
  expect(login.status).toBe(200);
  return { server, auth: { authorization: `Bearer ${login.body.access_token}` } };
}

describe('audit durability of reads', () => {
  it('answers no read before its record commits, and keeps every answered read across kill -9', async () => {
    const { server, auth } = await start('oneclaw-1');
    const vault = await serverCall<{ id: string }>(server, 'POST', '/v1/vaults', { name: 'durable' }, auth);
    expect(vault.status).toBe(201);
    const base = `/v1/vaults/${vault.body.id}/secrets/app/db`;
    expect(
      (await serverCall(server, 'PUT', base, { type: 'password', value: 'canary-durable' }, auth)).status,
    ).toBe(200);

    const holder = new pg.Client({ connectionString: suite.db.url });
    await holder.connect();
    await holder.query('BEGIN');
    // SHARE conflicts with the ROW EXCLUSIVE an INSERT takes: audit records wait, reads do not.
    await holder.query('LOCK TABLE audit_events IN SHARE MODE');
    const ids = Array.from({ length: READS }, (_, i) => `durable-read-${i}`);
    let answered = 0;
    const reads = ids.map((id) =>
      serverCall<{ value: string }>(server, 'GET', base, undefined, { ...auth, 'x-request-id': id }).then(
        (r) => {
          answered++;
          return r;
        },
      ),
    );
    await sleep(1_500);
    expect(answered).toBe(0);
    await holder.query('ROLLBACK');
    await holder.end();
    const results = await Promise.all(reads);
    await server.proc.stop('SIGKILL');
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body.value).toBe('canary-durable');
    }

    const check = new pg.Client({ connectionString: suite.db.url });
    await check.connect();
    try {
      const { rows } = await check.query<{ request_id: string }>(
        `SELECT request_id FROM audit_events WHERE action = 'secret.read' AND request_id = ANY($1)`,
        [ids],
      );
      expect(rows.map((r) => r.request_id).sort()).toEqual([...ids].sort());
    } finally {
      await check.end();
    }

    const again = await start('oneclaw-2');
    const verdict = await serverCall<{ ok: boolean; checked: number }>(
      again.server,
      'GET',
      '/v1/audit/verify',
      undefined,
      again.auth,
    );
    expect(verdict.body.ok).toBe(true);
    const listed = await serverCall<{ events: Array<{ request_id: string | null }> }>(
      again.server,
      'GET',
      `/v1/audit?vault_id=${vault.body.id}&limit=1000`,
      undefined,
      again.auth,
    );
    const inChain = new Set(listed.body.events.map((r) => r.request_id));
    for (const id of ids) expect(inChain.has(id)).toBe(true);
  });
});
