// Vault CRUD over the API: create, validation, conflicts, list, get, patch and soft delete.
// Crypto-shredding (purge) and kms custody are in vaults-purge.test.ts.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { testApiForSuite } from '../../../../../test/support/api.js';
import {
  type ApiVault,
  createVault,
  expectError,
  secretUrl,
  vaultName,
  writeSecret,
} from '../../../../../test/support/api-helpers.js';

const VAULT_FIELDS = [
  'cmek_enabled',
  'cmek_fingerprint',
  'created_at',
  'custody',
  'description',
  'id',
  'kek_version',
  'kms_backend',
  'kms_key',
  'kms_key_id',
  'name',
  'owner',
  'updated_at',
];
const NAME_RULE =
  'name must be 1-63 lowercase letters, digits or dashes, starting and ending with a letter or digit';

describe('vaults', () => {
  const api = testApiForSuite();

  const post = (payload: object) => api().request({ method: 'POST', url: '/v1/vaults', payload });
  const get = (id: string) => api().request({ method: 'GET', url: `/v1/vaults/${id}` });
  const patch = (id: string, payload: object) =>
    api().request({ method: 'PATCH', url: `/v1/vaults/${id}`, payload });

  describe('create', () => {
    it('answers 201 with the vault, and stores it with a KMS-wrapped KEK version 1', async () => {
      const name = vaultName('create');
      const before = Date.now();
      const res = await post({ name, description: 'payments team' });
      expect(res.statusCode).toBe(201);
      const v = res.json() as ApiVault;
      expect(Object.keys(v).sort()).toEqual(VAULT_FIELDS);
      expect(v).toMatchObject({
        name,
        description: 'payments team',
        kms_key: 'local://main',
        kms_backend: 'local',
        custody: 'wrapped',
        kek_version: 1,
        cmek_enabled: false,
        owner: null,
      });
      expect(v.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(v.kms_key_id).toMatch(/^[0-9a-f]{64}$/);
      expect(Date.parse(v.created_at)).toBeGreaterThanOrEqual(before - 1000);
      expect(v.updated_at).toBe(v.created_at);

      const keks = await api().db.pool.query(
        'SELECT version, wrapped_kek, kms_backend, kms_key_id, destroyed_at FROM vault_keks WHERE vault_id = $1',
        [v.id],
      );
      expect(keks.rows).toHaveLength(1);
      expect(keks.rows[0]).toMatchObject({ version: 1, kms_backend: 'local', kms_key_id: v.kms_key_id });
      expect(keks.rows[0].destroyed_at).toBeNull();
      expect(Buffer.isBuffer(keks.rows[0].wrapped_kek)).toBe(true);
      // What the client got never includes the wrapped key.
      expect(res.body).not.toContain(keks.rows[0].wrapped_kek.toString('base64'));
      expect(res.body).not.toContain(keks.rows[0].wrapped_kek.toString('hex'));
    });

    it('creates a vault in kms custody when asked', async () => {
      const v = await createVault(api(), { custody: 'kms' });
      expect(v.custody).toBe('kms');
      const row = await api().db.pool.query('SELECT custody FROM vaults WHERE id = $1', [v.id]);
      expect(row.rows).toEqual([{ custody: 'kms' }]);
    });

    it('answers 409 to a duplicate name and creates nothing', async () => {
      const name = vaultName('dup');
      await createVault(api(), { name });
      expectError(await post({ name }), 409, 'conflict', `a vault named ${name} already exists`);
      const n = await api().db.pool.query('SELECT count(*)::int AS n FROM vaults WHERE name = $1', [name]);
      expect(n.rows).toEqual([{ n: 1 }]);
    });

    it('answers 409 to all but one of concurrent creates with the same name', async () => {
      const name = vaultName('race');
      const results = await Promise.all(Array.from({ length: 8 }, () => post({ name })));
      expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
      const n = await api().db.pool.query('SELECT count(*)::int AS n FROM vaults WHERE name = $1', [name]);
      expect(n.rows).toEqual([{ n: 1 }]);
    });

    it.each(['Payments', 'pay_ments', '-payments', 'payments-', 'pay ments', 'pay.ments', 'päyments'])(
      'answers 400 to the invalid name %j',
      async (name) => {
        expectError(await post({ name }), 400, 'invalid_request', NAME_RULE);
      },
    );

    it('answers 400 to names that are empty or longer than 63 characters', async () => {
      expectError(await post({ name: '' }), 400, 'invalid_request', /body\/name/);
      expectError(await post({ name: 'a'.repeat(64) }), 400, 'invalid_request', /body\/name/);
      expect((await post({ name: `a${'b'.repeat(61)}c` })).statusCode).toBe(201);
    });

    it('answers 400 to an unknown field, a missing name or an unknown custody', async () => {
      expectError(
        await post({ name: vaultName(), colour: 'blue' }),
        400,
        'invalid_request',
        'body must NOT have additional properties',
      );
      expectError(await post({ description: 'no name' }), 400, 'invalid_request', /name/);
      expectError(await post({ name: vaultName(), custody: 'hsm' }), 400, 'invalid_request', /custody/);
    });

    it('answers 400 to a kms_key the server is not configured with', async () => {
      for (const kmsKey of ['gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k', 'local://other']) {
        expectError(
          await post({ name: vaultName(), kms_key: kmsKey }),
          400,
          'invalid_request',
          `kms_key ${JSON.stringify(kmsKey)} is not configured on this server; KMS keys come from server configuration only`,
        );
      }
      expect((await post({ name: vaultName(), kms_key: 'local://main' })).statusCode).toBe(201);
    });

    it('records vault.create in the audit log', async () => {
      const res = await post({ name: vaultName() });
      const v = res.json() as ApiVault;
      const audit = await api().db.pool.query(
        'SELECT actor, action, decision, request_id, details FROM audit_events WHERE vault_id = $1',
        [v.id],
      );
      expect(audit.rows).toEqual([
        {
          actor: expect.stringMatching(/^user:/),
          action: 'vault.create',
          decision: 'allow',
          request_id: res.headers['x-request-id'],
          details: { custody: 'wrapped', kms_backend: 'local', kek_version: 1 },
        },
      ]);
    });
  });

  describe('list and get', () => {
    it('lists live vaults by name, with the same fields as get', async () => {
      const b = await createVault(api(), { name: vaultName('list-b') });
      const a = await createVault(api(), { name: vaultName('list-a') });
      const res = await api().request({ method: 'GET', url: '/v1/vaults' });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { vaults: ApiVault[] };
      expect(Object.keys(body)).toEqual(['vaults']);
      const names = body.vaults.map((v) => v.name);
      expect(names).toEqual([...names].sort());
      expect(body.vaults).toContainEqual(a);
      expect(body.vaults).toContainEqual(b);
      for (const v of body.vaults) expect(Object.keys(v).sort()).toEqual(VAULT_FIELDS);
    });

    it('gets a vault by id', async () => {
      const v = await createVault(api(), { description: 'get me' });
      const res = await get(v.id);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(v);
    });

    it('answers 404 to an unknown id and 400 to an id that is not a UUID', async () => {
      expectError(await get(randomUUID()), 404, 'not_found', 'vault not found');
      expectError(
        await get('not-a-uuid'),
        400,
        'invalid_request',
        'params/vault_id must match format "uuid"',
      );
      expectError(
        await api().request({ method: 'GET', url: secretUrl('12345', 'a/b') }),
        400,
        'invalid_request',
        'params/vault_id must match format "uuid"',
      );
    });
  });

  describe('patch', () => {
    it('renames and describes a vault, and audits it', async () => {
      const v = await createVault(api());
      const name = vaultName('renamed');
      const res = await patch(v.id, { name, description: 'new words' });
      expect(res.statusCode).toBe(200);
      const after = res.json() as ApiVault;
      expect(after).toMatchObject({ ...v, name, description: 'new words', updated_at: after.updated_at });
      expect(Date.parse(after.updated_at)).toBeGreaterThanOrEqual(Date.parse(v.updated_at));
      expect((await get(v.id)).json()).toEqual(after);
      // Only the fields given change.
      const again = (await patch(v.id, { description: 'only this' })).json() as ApiVault;
      expect(again).toMatchObject({ name, description: 'only this' });
      const audit = await api().db.pool.query(
        `SELECT count(*)::int AS n FROM audit_events WHERE vault_id = $1 AND action = 'vault.update'`,
        [v.id],
      );
      expect(audit.rows).toEqual([{ n: 2 }]);
    });

    it('answers 409 when renaming onto another vault, 400 to bad input and 404 to an unknown id', async () => {
      const taken = await createVault(api());
      const v = await createVault(api());
      expectError(
        await patch(v.id, { name: taken.name }),
        409,
        'conflict',
        `a vault named ${taken.name} already exists`,
      );
      expectError(await patch(v.id, { name: 'Bad Name' }), 400, 'invalid_request', NAME_RULE);
      expectError(await patch(v.id, {}), 400, 'invalid_request', /fewer than 1 properties/);
      expectError(
        await patch(v.id, { custody: 'kms' }),
        400,
        'invalid_request',
        'body must NOT have additional properties',
      );
      expectError(await patch(randomUUID(), { description: 'x' }), 404, 'not_found', 'vault not found');
      expect((await get(v.id)).json()).toEqual(v);
    });
  });

  describe('soft delete', () => {
    it('hides the vault and its secrets (404) but keeps its keys and data', async () => {
      const v = await createVault(api());
      await writeSecret(api(), v.id, 'app/key', 'kept-after-soft-delete');
      const del = await api().request({ method: 'DELETE', url: `/v1/vaults/${v.id}` });
      expect(del.statusCode).toBe(204);
      expect(del.body).toBe('');

      expectError(await get(v.id), 404, 'not_found', 'vault not found');
      expectError(await patch(v.id, { description: 'x' }), 404, 'not_found', 'vault not found');
      expectError(
        await api().request({ method: 'GET', url: secretUrl(v.id, 'app/key') }),
        404,
        'not_found',
        'vault not found',
      );
      expectError(
        await api().request({
          method: 'PUT',
          url: secretUrl(v.id, 'app/key'),
          payload: { type: 'note', value: 'x' },
        }),
        404,
        'not_found',
        'vault not found',
      );
      const list = (await api().request({ method: 'GET', url: '/v1/vaults' })).json() as {
        vaults: ApiVault[];
      };
      expect(list.vaults.map((x) => x.id)).not.toContain(v.id);
      expectError(await api().request({ method: 'DELETE', url: `/v1/vaults/${v.id}` }), 404, 'not_found');

      const keks = await api().db.pool.query('SELECT wrapped_kek FROM vault_keks WHERE vault_id = $1', [
        v.id,
      ]);
      expect(keks.rows[0].wrapped_kek).not.toBeNull();
      const versions = await api().db.pool.query(
        'SELECT ciphertext FROM secret_versions WHERE vault_id = $1',
        [v.id],
      );
      expect(versions.rows[0].ciphertext).not.toBeNull();
      const audit = await api().db.pool.query(
        `SELECT action FROM audit_events WHERE vault_id = $1 AND action LIKE 'vault.%' ORDER BY seq`,
        [v.id],
      );
      expect(audit.rows.map((r) => r.action)).toEqual(['vault.create', 'vault.delete']);
    });

    it('frees the name for a new vault', async () => {
      const v = await createVault(api());
      expect((await api().request({ method: 'DELETE', url: `/v1/vaults/${v.id}` })).statusCode).toBe(204);
      const again = await createVault(api(), { name: v.name });
      expect(again.id).not.toBe(v.id);
    });

    it('answers 400 to an unknown query parameter', async () => {
      const v = await createVault(api());
      expectError(
        await api().request({ method: 'DELETE', url: `/v1/vaults/${v.id}?force=true` }),
        400,
        'invalid_request',
        'querystring must NOT have additional properties',
      );
      expect((await get(v.id)).statusCode).toBe(200);
    });
  });
});
