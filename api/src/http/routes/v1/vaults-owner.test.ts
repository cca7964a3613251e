// The Kubernetes object that owns a vault: recorded at creation by an admin, validated, unique
// per object uid (deleted vaults included), found by uid, and never changed once recorded —
// neither through PATCH, nor PUT /owner, nor a direct UPDATE of the row.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../../test/support/api.js';
import {
  type ApiVault,
  createUser,
  createVault,
  expectError,
  tokenFor,
  vaultName,
} from '../../../../../test/support/api-helpers.js';

type Owner = { kind: string; api_version: string; namespace: string; name: string; uid: string };
type OwnedVault = ApiVault & { owner: Owner | null };

const ownerOf = (over: Partial<Owner> = {}): Owner => ({
  kind: 'OneclawVault',
  api_version: 'oneclaw.dev/v1alpha1',
  namespace: 'payments',
  name: 'prod-db',
  uid: randomUUID(),
  ...over,
});

describe('vault owners', () => {
  let api: TestApi;
  let memberToken: string;

  beforeAll(async () => {
    api = await startTestApi();
    memberToken = await tokenFor(api, (await createUser(api, 'member')).apiKey);
  });
  afterAll(async () => {
    await api?.close();
  });

  const post = (payload: object, token?: string) =>
    api.request({ method: 'POST', url: '/v1/vaults', payload, ...(token ? { token } : {}) });
  const byOwner = (uid: string) => api.request({ method: 'GET', url: `/v1/vaults?owner_uid=${uid}` });
  const putOwner = (id: string, payload: object, token?: string) =>
    api.request({ method: 'PUT', url: `/v1/vaults/${id}/owner`, payload, ...(token ? { token } : {}) });
  const createOwned = async (owner: Owner): Promise<OwnedVault> => {
    const res = await post({ name: vaultName('owned'), owner });
    expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 201 });
    return res.json() as OwnedVault;
  };
  const countNamed = async (name: string) =>
    (await api.db.pool.query('SELECT count(*)::int AS n FROM vaults WHERE name = $1', [name])).rows[0].n;

  it('records the owner given at creation, returns it everywhere, audits it and finds the vault by uid', async () => {
    const owner = ownerOf();
    const res = await post({ name: vaultName('owned'), owner });
    expect(res.statusCode).toBe(201);
    const v = res.json() as OwnedVault;
    expect(v.owner).toEqual(owner);
    expect((await api.request({ method: 'GET', url: `/v1/vaults/${v.id}` })).json()).toEqual(v);

    const found = byOwner(owner.uid);
    expect((await found).statusCode).toBe(200);
    expect((await found).json()).toEqual({ vaults: [v] });
    expect((await byOwner(randomUUID())).json()).toEqual({ vaults: [] });
    const all = (await api.request({ method: 'GET', url: '/v1/vaults' })).json() as { vaults: OwnedVault[] };
    expect(all.vaults).toContainEqual(v);

    const audit = await api.db.pool.query(
      `SELECT details FROM audit_events WHERE vault_id = $1 AND action = 'vault.create'`,
      [v.id],
    );
    expect(audit.rows[0].details).toMatchObject({
      owner_kind: 'OneclawVault',
      owner_api_version: 'oneclaw.dev/v1alpha1',
      owner_namespace: 'payments',
      owner_name: 'prod-db',
      owner_uid: owner.uid,
    });
  });

  it('answers owner null for a vault made without one', async () => {
    const v = (await createVault(api)) as OwnedVault;
    expect(v.owner).toBeNull();
  });

  it.each([
    ['namespace', { namespace: 'Payments' }],
    ['namespace', { namespace: 'pay_ments' }],
    ['namespace', { namespace: '-payments' }],
    ['namespace', { namespace: '' }],
    ['namespace', { namespace: 'a'.repeat(64) }],
    ['name', { name: 'Prod-DB' }],
    ['name', { name: 'prod db' }],
    ['name', { name: '.prod' }],
    ['name', { name: 'prod..db' }],
    ['name', { name: 'a'.repeat(254) }],
    ['uid', { uid: 'not-a-uid' }],
    ['uid', { uid: randomUUID().toUpperCase() }],
    ['uid', { uid: `urn:uuid:${randomUUID()}` }],
    ['kind', { kind: 'oneclawVault' }],
    ['kind', { kind: 'Oneclaw Vault' }],
    ['api_version', { api_version: 'oneclaw.dev/v1alpha1/extra' }],
    ['api_version', { api_version: 'Oneclaw.dev/v1' }],
  ])('answers 400 to an owner with a bad %s (%j) and creates nothing', async (field, bad) => {
    const name = vaultName('bad-owner');
    expectError(
      await post({ name, owner: ownerOf(bad) }),
      400,
      'invalid_request',
      new RegExp(`^(owner ${field} must be a Kubernetes|body/owner/${field} must NOT have more than)`),
    );
    expect(await countNamed(name)).toBe(0);
  });

  it('answers 400 to an owner with a missing or an unknown field, and to a bad owner_uid query', async () => {
    const { uid: _uid, ...noUid } = ownerOf();
    expectError(await post({ name: vaultName(), owner: noUid }), 400, 'invalid_request', /uid/);
    expectError(
      await post({ name: vaultName(), owner: { ...ownerOf(), labels: {} } }),
      400,
      'invalid_request',
      'body/owner must NOT have additional properties',
    );
    expectError(
      await post({ name: vaultName(), owner: 'payments/prod-db' }),
      400,
      'invalid_request',
      /owner/,
    );
    expectError(await byOwner('nope'), 400, 'invalid_request', /^owner uid must be a Kubernetes uid/);
    expectError(
      await api.request({ method: 'GET', url: '/v1/vaults?owner=payments' }),
      400,
      'invalid_request',
      'querystring must NOT have additional properties',
    );
  });

  it('accepts Kubernetes names at their limits', async () => {
    const owner = ownerOf({
      namespace: 'a'.repeat(63),
      name: `${'b'.repeat(63)}.${'c'.repeat(63)}`,
      api_version: 'v1',
    });
    expect((await createOwned(owner)).owner).toEqual(owner);
  });

  it('lets only admins record an owner', async () => {
    const name = vaultName();
    expectError(await post({ name, owner: ownerOf() }, memberToken), 403, 'admin_required');
    const v = await createVault(api);
    expectError(await putOwner(v.id, ownerOf(), memberToken), 403, 'admin_required');
    expect(
      ((await api.request({ method: 'GET', url: `/v1/vaults/${v.id}` })).json() as OwnedVault).owner,
    ).toBeNull();
  });

  describe('one vault per object uid', () => {
    it('answers 409 to a second vault for the same uid, whatever its name', async () => {
      const owner = ownerOf();
      await createOwned(owner);
      const name = vaultName('second');
      expectError(
        await post({ name, owner: { ...owner, namespace: 'payments-prod', name: 'db' } }),
        409,
        'conflict',
        `OneclawVault payments-prod/db (uid ${owner.uid}) already owns a vault, possibly a deleted one`,
      );
      expect(await countNamed(name)).toBe(0);
    });

    it('answers 409 to all but one of concurrent creates for one uid', async () => {
      const owner = ownerOf();
      const results = await Promise.all(
        Array.from({ length: 6 }, () => post({ name: vaultName('race'), owner })),
      );
      expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409, 409]);
      expect(((await byOwner(owner.uid)).json() as { vaults: unknown[] }).vaults).toHaveLength(1);
    });

    it('keeps the uid taken after the vault is deleted, so it never names another vault', async () => {
      const owner = ownerOf();
      const v = await createOwned(owner);
      expect((await api.request({ method: 'DELETE', url: `/v1/vaults/${v.id}` })).statusCode).toBe(204);
      expect((await byOwner(owner.uid)).json()).toEqual({ vaults: [] });
      expectError(await post({ name: vaultName(), owner }), 409, 'conflict', /already owns a vault/);
    });
  });

  describe('immutability', () => {
    it('refuses an owner in PATCH', async () => {
      const v = await createOwned(ownerOf());
      expectError(
        await api.request({ method: 'PATCH', url: `/v1/vaults/${v.id}`, payload: { owner: ownerOf() } }),
        400,
        'invalid_request',
        'body must NOT have additional properties',
      );
      expect((await api.request({ method: 'GET', url: `/v1/vaults/${v.id}` })).json()).toEqual(v);
    });

    it('records an owner once on a vault that has none, and never changes it afterwards', async () => {
      const v = await createVault(api);
      const owner = ownerOf();
      const first = await putOwner(v.id, owner);
      expect(first.statusCode).toBe(200);
      expect((first.json() as OwnedVault).owner).toEqual(owner);
      // The same owner again is a no-op; any other is refused.
      expect((await putOwner(v.id, owner)).statusCode).toBe(200);
      expectError(
        await putOwner(v.id, ownerOf()),
        409,
        'conflict',
        `vault ${v.id} is already owned by OneclawVault payments/prod-db (uid ${owner.uid}); an owner never changes`,
      );
      expectError(await putOwner(v.id, { ...owner, namespace: 'elsewhere' }), 409, 'conflict');
      expect(
        ((await api.request({ method: 'GET', url: `/v1/vaults/${v.id}` })).json() as OwnedVault).owner,
      ).toEqual(owner);
      const audit = await api.db.pool.query(
        `SELECT count(*)::int AS n FROM audit_events WHERE vault_id = $1 AND action = 'vault.owner.record'`,
        [v.id],
      );
      expect(audit.rows).toEqual([{ n: 1 }]);
    });

    it('refuses to record a uid another vault already records, an owner created with the vault, and bad input', async () => {
      const owner = ownerOf();
      const owned = await createOwned(owner);
      const free = await createVault(api);
      expectError(await putOwner(free.id, owner), 409, 'conflict', /already owns a vault/);
      expectError(await putOwner(owned.id, ownerOf()), 409, 'conflict', /an owner never changes/);
      expectError(
        await putOwner(free.id, ownerOf({ uid: 'x' })),
        400,
        'invalid_request',
        /^owner uid must be a Kubernetes uid/,
      );
      expectError(await putOwner(randomUUID(), ownerOf()), 404, 'not_found', 'vault not found');
      expect(
        ((await api.request({ method: 'GET', url: `/v1/vaults/${free.id}` })).json() as OwnedVault).owner,
      ).toBeNull();
    });

    it('is enforced by the database, whatever code writes the row', async () => {
      const v = await createOwned(ownerOf());
      await expect(
        api.db.pool.query('UPDATE vaults SET owner_uid = $2 WHERE id = $1', [v.id, randomUUID()]),
      ).rejects.toThrow(/cannot change/);
      await expect(
        api.db.pool.query(
          `UPDATE vaults SET owner_kind = NULL, owner_api_version = NULL, owner_namespace = NULL,
                  owner_name = NULL, owner_uid = NULL WHERE id = $1`,
          [v.id],
        ),
      ).rejects.toThrow(/cannot change/);
      await expect(
        api.db.pool.query('UPDATE vaults SET owner_name = NULL WHERE id = $1', [v.id]),
      ).rejects.toThrow();
      // Other fields still change.
      expect(
        (await api.request({ method: 'PATCH', url: `/v1/vaults/${v.id}`, payload: { description: 'x' } }))
          .statusCode,
      ).toBe(200);
    });
  });
});
