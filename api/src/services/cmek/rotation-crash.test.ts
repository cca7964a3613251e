// A CMEK rotation of 1,050 secrets whose server is killed with SIGKILL part-way: every version
// is left under exactly one of the two keys (batches are atomic), the job shows `interrupted`
// once its lease runs out, the restarted server resumes the same job when the client sends the
// same keys again, and at the end every secret opens with the new key and none with the old.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdVersionLock } from '../../../../test/support/db.js';
import { waitFor } from '../../../../test/support/proc.js';
import { type OneclawServer, serverCall } from '../../../../test/support/server-process.js';
import { type ServerSuite, serverSuite } from '../../../../test/support/server-suite.js';
import { cmekDecrypt, cmekEncrypt, cmekFingerprint } from './format.js';

const SECRETS = 1_050;
let suite: ServerSuite;
const servers: OneclawServer[] = [];

beforeAll(async () => {
  suite = await serverSuite('oneclaw-cmek-crash', {
    ONECLAW_JOB_LEASE_MS: '2000',
    ONECLAW_AUTH_RATE_LIMIT: '0',
    ONECLAW_LOG_LEVEL: 'info',
  });
});
afterAll(async () => {
  await suite?.close();
});

interface Rotation {
  id: string;
  status: string;
  processed: number;
  total_secrets: number;
}

describe('CMEK rotation across a server crash', () => {
  it('resumes after kill -9 and leaves every secret under the new key only', async () => {
    let server = await suite.start('oneclaw-1');
    servers.push(server);
    const login = async (s: OneclawServer) => {
      const r = await serverCall<{ access_token: string }>(s, 'POST', '/v1/auth/token', {
        api_key: suite.adminKey,
      });
      expect(r.status).toBe(200);
      return { authorization: `Bearer ${r.body.access_token}` };
    };
    let auth = await login(server);
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const vault = await serverCall<{ id: string }>(server, 'POST', '/v1/vaults', { name: 'crash' }, auth);
    expect(vault.status).toBe(201);
    const v = vault.body.id;
    expect(
      (
        await serverCall(
          server,
          'POST',
          `/v1/vaults/${v}/cmek`,
          { fingerprint: cmekFingerprint(oldKey) },
          auth,
        )
      ).status,
    ).toBe(200);
    const plain = (i: number) => `secret-value-${i}-${'x'.repeat(i % 50)}`;
    for (let i = 0; i < SECRETS; i += 50) {
      const writes = Array.from({ length: Math.min(50, SECRETS - i) }, (_, j) =>
        serverCall(
          server,
          'PUT',
          `/v1/vaults/${v}/secrets/app/s${i + j}`,
          {
            type: 'password',
            value: cmekEncrypt(Buffer.from(plain(i + j)), oldKey).toString('base64'),
            cmek_fingerprint: cmekFingerprint(oldKey),
          },
          auth,
        ),
      );
      for (const w of await Promise.all(writes)) expect(w.status).toBe(200);
    }

    // A writer holding a row keeps the job from finishing before the kill, however fast it is.
    const holder = await holdVersionLock(suite.db.url, v, 'app/s1049');

    const keyHeaders = {
      ...auth,
      'x-cmek-old-key': oldKey.toString('base64'),
      'x-cmek-new-key': newKey.toString('base64'),
    };
    const body = { new_fingerprint: cmekFingerprint(newKey) };
    const started = await serverCall<Rotation>(
      server,
      'POST',
      `/v1/vaults/${v}/cmek-rotate`,
      body,
      keyHeaders,
    );
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ status: 'running', processed: 0, total_secrets: SECRETS });
    const jobId = started.body.id;
    const progress = () =>
      serverCall<Rotation>(server, 'GET', `/v1/vaults/${v}/cmek-rotate/${jobId}`, undefined, auth);
    const before = await waitFor(
      'a few batches',
      async () => {
        const p = await progress();
        return p.body.processed >= 200 ? p.body : undefined;
      },
      { intervalMs: 10, timeoutMs: 60_000 },
    );
    await server.proc.stop('SIGKILL');
    await holder.release();
    expect(before.processed).toBeLessThan(SECRETS);

    // Batches are atomic: each version is under exactly one key, and the committed progress
    // counts exactly the versions already moved.
    const { rows: split } = await suite.db.pool.query<{ fp: string; n: number }>(
      'SELECT cmek_fingerprint AS fp, count(*)::int AS n FROM secret_versions WHERE vault_id = $1 GROUP BY 1',
      [v],
    );
    const moved = split.find((r) => r.fp === cmekFingerprint(newKey))?.n ?? 0;
    expect(moved + (split.find((r) => r.fp === cmekFingerprint(oldKey))?.n ?? 0)).toBe(SECRETS);
    const { rows: job } = await suite.db.pool.query<{ processed: number }>(
      'SELECT processed FROM jobs WHERE id = $1',
      [jobId],
    );
    expect(job[0]?.processed).toBe(moved);
    expect(moved).toBeGreaterThanOrEqual(before.processed);
    expect(moved).toBeLessThan(SECRETS);

    server = await suite.start('oneclaw-2');
    servers.push(server);
    auth = await login(server);
    const interrupted = await waitFor(
      'the job to show interrupted',
      async () => {
        const p = await progress();
        return p.body.status === 'interrupted' ? p.body : undefined;
      },
      { intervalMs: 200, timeoutMs: 30_000 },
    );
    expect(interrupted.processed).toBe(moved);

    // The wrong old key cannot resume it; the same keys do, under the same job id.
    const wrong = await serverCall<{ error: { code: string } }>(
      server,
      'POST',
      `/v1/vaults/${v}/cmek-rotate`,
      body,
      {
        ...keyHeaders,
        authorization: auth.authorization,
        'x-cmek-old-key': randomBytes(32).toString('base64'),
      },
    );
    expect({ status: wrong.status, code: wrong.body.error.code }).toEqual({
      status: 409,
      code: 'cmek_key_mismatch',
    });
    const resumed = await serverCall<Rotation>(server, 'POST', `/v1/vaults/${v}/cmek-rotate`, body, {
      ...keyHeaders,
      authorization: auth.authorization,
    });
    expect(resumed.status).toBe(202);
    expect(resumed.body).toMatchObject({ id: jobId, status: 'running' });
    const done = await waitFor(
      'the resumed job to finish',
      async () => {
        const p = await progress();
        return p.body.status === 'running' ? undefined : p.body;
      },
      { intervalMs: 100, timeoutMs: 120_000 },
    );
    expect(done).toMatchObject({ status: 'succeeded', processed: SECRETS, total_secrets: SECRETS });

    for (let i = 0; i < SECRETS; i += 50) {
      const reads = await Promise.all(
        Array.from({ length: Math.min(50, SECRETS - i) }, (_, j) =>
          serverCall<{ value: string; cmek_fingerprint: string }>(
            server,
            'GET',
            `/v1/vaults/${v}/secrets/app/s${i + j}`,
            undefined,
            auth,
          ),
        ),
      );
      reads.forEach((r, j) => {
        expect(r.status).toBe(200);
        expect(r.body.cmek_fingerprint).toBe(cmekFingerprint(newKey));
        const blob = Buffer.from(r.body.value, 'base64');
        expect(cmekDecrypt(blob, newKey).toString()).toBe(plain(i + j));
        expect(() => cmekDecrypt(blob, oldKey)).toThrow();
      });
    }
    // Neither server logged a key, in any encoding.
    for (const s of servers) {
      const log = readFileSync(s.proc.logFile, 'utf8');
      for (const key of [oldKey, newKey]) {
        expect(log).not.toContain(key.toString('base64'));
        expect(log).not.toContain(key.toString('hex'));
      }
    }
  });
});
