// Vault owners through the SDK against a real API: created with one, found by its uid, recorded
// once on a vault that had none, and refused when it would change.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../test/support/api.js';
import { createClient, type OneclawClient } from './client.js';
import { OneclawError } from './errors.js';
import type { VaultOwner } from './types.js';

const owner = (name: string): VaultOwner => ({
  kind: 'OneclawVault',
  api_version: 'oneclaw.dev/v1alpha1',
  namespace: 'payments',
  name,
  uid: randomUUID(),
});

describe('SDK vault owners', () => {
  let api: TestApi;
  let admin: OneclawClient;

  beforeAll(async () => {
    api = await startTestApi({}, { listen: true });
    admin = createClient({ baseUrl: api.server.url as string, credentials: { apiKey: api.adminKey } });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('creates with an owner and finds the vault by its uid', async () => {
    const o = owner('prod-db');
    const v = await admin.vaults.create({ name: `owned-${randomUUID().slice(0, 8)}`, owner: o });
    expect(v.owner).toEqual(o);
    expect(await admin.vaults.list({ owner_uid: o.uid })).toEqual([v]);
    expect(await admin.vaults.list({ owner_uid: randomUUID() })).toEqual([]);
    expect((await admin.vaults.list()).map((x) => x.id)).toContain(v.id);
  });

  it('records an owner once on a vault that has none, and refuses to change it', async () => {
    const v = await admin.vaults.create({ name: `plain-${randomUUID().slice(0, 8)}` });
    expect(v.owner).toBeNull();
    const o = owner('legacy');
    expect((await admin.vaults.setOwner(v.id, o)).owner).toEqual(o);
    const err = await admin.vaults.setOwner(v.id, owner('other')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OneclawError);
    expect((err as OneclawError).status).toBe(409);
    expect((await admin.vaults.get(v.id)).owner).toEqual(o);
  });
});
