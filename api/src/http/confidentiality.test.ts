// Secrets never leak, and every access is on the record. A distinctive value goes through
// every route (successes and failures); afterwards it must appear in no log line, audit record,
// change-feed event, listing, error response or metric, while the hash-chained audit log holds
// a verifiable record of each action.
import { randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../test/support/api.js';
import { createVault, orgId, putSecret, secretUrl } from '../../../test/support/api-helpers.js';
import { verifyChain } from '../services/audit/audit-service.js';

/** JSON of database rows, with byte columns shown as text so a stored plaintext would show. */
const dump = (rows: unknown[]) =>
  JSON.stringify(rows, (_k, v) =>
    v && typeof v === 'object' && v.type === 'Buffer' && Array.isArray(v.data)
      ? Buffer.from(v.data).toString('latin1')
      : v,
  );

describe('confidentiality and audit', () => {
  let api: TestApi;
  let org: string;
  let vaultId: string;
  let kmsVaultId: string;
  const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const kmsSecret = `s3cr3t-kms-${randomBytes(12).toString('hex')}`;
  const responses: Record<string, LightMyRequestResponse> = {};
  const errors: LightMyRequestResponse[] = [];

  beforeAll(async () => {
    api = await startTestApi();
    org = await orgId(api);
    const record = (name: string, res: LightMyRequestResponse) => {
      responses[name] = res;
      if (res.statusCode >= 400) errors.push(res);
      return res;
    };
    const create = await api.request({ method: 'POST', url: '/v1/vaults', payload: { name: 'leaks' } });
    vaultId = record('vault.create', create).json().id;
    kmsVaultId = (await createVault(api, { custody: 'kms' })).id;
    await api.request({ method: 'PATCH', url: `/v1/vaults/${vaultId}`, payload: { description: 'watched' } });

    const path = 'app/db/password';
    record('write.1', await putSecret(api, vaultId, path, { value: secret, metadata: { env: 'prod' } }));
    record('write.2', await putSecret(api, vaultId, path, { value: `${secret}-v2` }));
    record('read', await api.request({ method: 'GET', url: secretUrl(vaultId, path) }));
    record('read.v1', await api.request({ method: 'GET', url: secretUrl(vaultId, path, '?version=1') }));
    record('list', await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/secrets` }));
    record('versions', await api.request({ method: 'GET', url: `/v1/vaults/${vaultId}/versions/${path}` }));
    record('kms.write', await putSecret(api, kmsVaultId, 'svc/key', { value: kmsSecret }));
    record('kms.read', await api.request({ method: 'GET', url: secretUrl(kmsVaultId, 'svc/key') }));

    // Failures that carry the value in their request.
    record('cas', await putSecret(api, vaultId, path, { value: secret, cas: 1 }));
    record('type', await putSecret(api, vaultId, path, { type: 'nope', value: secret }));
    record('extra', await putSecret(api, vaultId, path, { value: secret, [secret]: 1 }));
    record('badpath', await putSecret(api, vaultId, 'bad//path', { value: secret }));
    record('toolarge', await putSecret(api, vaultId, path, { value: `${secret}${'x'.repeat(70_000)}` }));
    const putRaw = (contentType: string, payload: string) =>
      api.request({
        method: 'PUT',
        url: secretUrl(vaultId, path),
        headers: { 'content-type': contentType },
        payload,
      });
    record('json', await putRaw('application/json', `{"type":"password","value":"${secret}"`));
    record('ctype', await putRaw('text/plain', secret));
    record('limit', await putSecret(api, vaultId, 'app/once', { value: secret, max_access_count: 1 }));
    record('limit.read1', await api.request({ method: 'GET', url: secretUrl(vaultId, 'app/once') }));
    record('limit.read2', await api.request({ method: 'GET', url: secretUrl(vaultId, 'app/once') }));
    // A tampered ciphertext: the read fails with an integrity error.
    record('tamper.write', await putSecret(api, vaultId, 'app/tampered', { value: secret }));
    await api.db.pool.query(
      `UPDATE secret_versions SET ciphertext = set_byte(ciphertext, 20, get_byte(ciphertext, 20) # 1)
        WHERE secret_id = (SELECT id FROM secrets WHERE path = 'app/tampered')`,
    );
    record('tamper.read', await api.request({ method: 'GET', url: secretUrl(vaultId, 'app/tampered') }));
    record('delete', await api.request({ method: 'DELETE', url: secretUrl(vaultId, path) }));
    record(
      'destroy',
      await api.request({ method: 'DELETE', url: secretUrl(vaultId, 'app/once', '?destroy=true') }),
    );
    record('read.deleted', await api.request({ method: 'GET', url: secretUrl(vaultId, path) }));
    record('purge', await api.request({ method: 'DELETE', url: `/v1/vaults/${kmsVaultId}?purge=true` }));
    record('metrics', await api.request({ method: 'GET', url: '/metrics', token: null }));
  });
  afterAll(async () => {
    await api?.close();
  });

  it('the scenario ran as intended', () => {
    const statuses = Object.fromEntries(Object.entries(responses).map(([k, r]) => [k, r.statusCode]));
    expect(statuses).toEqual({
      'vault.create': 201,
      'write.1': 200,
      'write.2': 200,
      read: 200,
      'read.v1': 200,
      list: 200,
      versions: 200,
      'kms.write': 200,
      'kms.read': 200,
      cas: 409,
      type: 400,
      extra: 400,
      badpath: 400,
      toolarge: 413,
      json: 400,
      ctype: 415,
      limit: 200,
      'limit.read1': 200,
      'limit.read2': 410,
      'tamper.write': 200,
      'tamper.read': 500,
      delete: 204,
      destroy: 204,
      'read.deleted': 404,
      purge: 204,
      metrics: 200,
    });
    expect(responses['read.v1']?.json().value).toBe(secret);
    expect(responses['kms.read']?.json().value).toBe(kmsSecret);
  });

  describe('the value appears nowhere but in a read', () => {
    it('not in any log line', () => {
      const logs = JSON.stringify(api.logs);
      expect(api.logs.length).toBeGreaterThan(20);
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain(kmsSecret);
      expect(logs).not.toContain(secret.slice(7)); // the random part alone
    });

    it('not in the audit log or the change feed', async () => {
      const audit = await api.db.pool.query('SELECT * FROM audit_events');
      expect(audit.rowCount).toBeGreaterThan(10);
      expect(dump(audit.rows)).not.toContain(secret.slice(7));
      expect(dump(audit.rows)).not.toContain(kmsSecret.slice(11));
      const events = await api.db.pool.query('SELECT * FROM vault_events');
      expect(events.rowCount).toBeGreaterThan(3);
      expect(dump(events.rows)).not.toContain(secret.slice(7));
      expect(dump(events.rows)).not.toContain(kmsSecret.slice(11));
    });

    it('not in plaintext anywhere in the database', async () => {
      const tables = [
        'secret_versions',
        'secrets',
        'vaults',
        'vault_keks',
        'jobs',
        'users',
        'api_keys',
        'orgs',
      ];
      for (const t of tables) {
        const { rows } = await api.db.pool.query(`SELECT * FROM ${t}`);
        expect({ t, leaked: dump(rows).includes(secret.slice(7)) }).toEqual({ t, leaked: false });
      }
    });

    it('not in listings, version histories, error responses or metrics', () => {
      for (const name of ['list', 'versions', 'metrics', 'write.1', 'write.2', 'kms.write']) {
        expect({ name, leaked: responses[name]?.body.includes(secret.slice(7)) }).toEqual({
          name,
          leaked: false,
        });
      }
      expect(errors.length).toBe(10);
      for (const res of errors) {
        expect(res.json()).toHaveProperty('error.code');
        expect(res.body).not.toContain(secret.slice(7));
      }
    });

    it('credentials are not logged or audited either', async () => {
      const token = await api.adminToken();
      const logs = JSON.stringify(api.logs);
      const audit = dump((await api.db.pool.query('SELECT * FROM audit_events')).rows);
      for (const credential of [api.adminKey, api.adminKey.slice(20), token, token.split('.')[2] as string]) {
        expect(logs).not.toContain(credential);
        expect(audit).not.toContain(credential);
      }
    });
  });

  describe('audit trail', () => {
    const auditOf = async (action: string, vault: string) =>
      (
        await api.db.pool.query(
          `SELECT actor, action, vault_id, path, version, decision, request_id, details
             FROM audit_events WHERE action = $1 AND vault_id = $2 ORDER BY seq`,
          [action, vault],
        )
      ).rows;

    it('records each action with who, where, which version and the request id', async () => {
      const { rows } = await api.db.pool.query<{ id: string }>(`SELECT id FROM users WHERE role = 'admin'`);
      const actor = `user:${rows[0]?.id}`;
      const rid = (name: string) => responses[name]?.headers['x-request-id'];
      const base = { actor, decision: 'allow', vault_id: vaultId };

      expect(await auditOf('vault.create', vaultId)).toEqual([
        {
          ...base,
          action: 'vault.create',
          path: null,
          version: null,
          request_id: rid('vault.create'),
          details: expect.any(Object),
        },
      ]);
      expect(await auditOf('secret.write', vaultId)).toEqual(
        expect.arrayContaining([
          {
            ...base,
            action: 'secret.write',
            path: 'app/db/password',
            version: 1,
            request_id: rid('write.1'),
            details: {},
          },
          {
            ...base,
            action: 'secret.write',
            path: 'app/db/password',
            version: 2,
            request_id: rid('write.2'),
            details: {},
          },
        ]),
      );
      expect(await auditOf('secret.read', vaultId)).toEqual(
        expect.arrayContaining([
          {
            ...base,
            action: 'secret.read',
            path: 'app/db/password',
            version: 2,
            request_id: rid('read'),
            details: {},
          },
          {
            ...base,
            action: 'secret.read',
            path: 'app/db/password',
            version: 1,
            request_id: rid('read.v1'),
            details: {},
          },
        ]),
      );
      expect(await auditOf('secret.delete', vaultId)).toEqual([
        {
          ...base,
          action: 'secret.delete',
          path: 'app/db/password',
          version: null,
          request_id: rid('delete'),
          details: {},
        },
      ]);
      expect(await auditOf('secret.destroy', vaultId)).toEqual([
        {
          ...base,
          action: 'secret.destroy',
          path: 'app/once',
          version: null,
          request_id: rid('destroy'),
          details: { versions_destroyed: 1 },
        },
      ]);
      expect(await auditOf('vault.update', vaultId)).toHaveLength(1);
      expect(await auditOf('vault.purge', kmsVaultId)).toEqual([
        {
          ...base,
          vault_id: kmsVaultId,
          action: 'vault.purge',
          path: null,
          version: null,
          request_id: rid('purge'),
          details: { keks_destroyed: 1 },
        },
      ]);
    });

    it('failed writes leave no record (the record commits with the change or not at all)', async () => {
      const failed = ['cas', 'type', 'extra', 'badpath', 'toolarge', 'json', 'ctype'];
      const ids = failed.map((n) => responses[n]?.headers['x-request-id']);
      const { rows } = await api.db.pool.query(
        'SELECT action, request_id FROM audit_events WHERE request_id = ANY($1)',
        [ids],
      );
      expect(rows).toEqual([]);
    });

    it('the org chain verifies over every record', async () => {
      const { rows } = await api.db.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM audit_events WHERE org_id = $1',
        [org],
      );
      const verdict = await verifyChain(api.db.pool, org);
      expect(verdict).toEqual({ ok: true, checked: rows[0]?.n });
      expect(verdict.checked).toBeGreaterThan(15);
    });
  });
});
