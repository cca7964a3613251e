// The grant cache never keeps what a revocation made stale: a load of a vault's grants that
// read the rows before a grant was deleted, and returned after the replica heard of the
// deletion, answers its own request but is not cached, so the next decision sees the deletion.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../test/support/api.js';
import { createPolicy, createUser, createVault, orgId } from '../../../../test/support/api-helpers.js';
import type { Principal } from '../auth/auth-service.js';
import { createAuthInvalidation } from '../auth/invalidation.js';
import { createPolicyService } from './policy-service.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
});

/** The real pool, whose query results are held until `open()` while the gate is shut. */
function gatedPool(pool: pg.Pool) {
  let gate: Promise<void> | undefined;
  let open = () => {};
  let held = () => {};
  const heldOnce = new Promise<void>((r) => {
    held = r;
  });
  const proxy = new Proxy(pool, {
    get(target, key) {
      if (key !== 'query') return Reflect.get(target, key, target);
      return async (...args: Parameters<pg.Pool['query']>) => {
        const result = await (target.query as (...a: unknown[]) => Promise<unknown>)(...args);
        if (gate) {
          held();
          await gate;
        }
        return result;
      };
    },
  });
  return {
    pool: proxy,
    shut() {
      gate = new Promise((r) => {
        open = () => {
          gate = undefined;
          r();
        };
      });
    },
    open: () => open(),
    held: heldOnce,
  };
}

describe('grant cache', () => {
  it('does not cache grants loaded across a revocation', async () => {
    const vaultId = (await createVault(api)).id;
    const { userId } = await createUser(api, 'member');
    const grant = await createPolicy(api, vaultId, {
      principal_type: 'user',
      principal_id: userId,
      secret_path_pattern: 'app/**',
      permissions: ['read'],
    });
    const gated = gatedPool(api.db.pool);
    const invalidation = createAuthInvalidation();
    const policies = createPolicyService({
      pool: gated.pool,
      vaults: {
        get: () => {
          throw new Error('decisions do not look vaults up');
        },
      },
      invalidation,
    });
    const p: Principal = {
      kind: 'user',
      id: userId,
      orgId: await orgId(api),
      role: 'member',
      subject: `user:${userId}`,
    };
    const env = { ip: '127.0.0.1', now: new Date() };

    gated.shut();
    const during = policies.decide(p, vaultId, 'app/db', 'read', env);
    await gated.held; // the grants were read, the grant still existed
    const removed = await api.request({
      method: 'DELETE',
      url: `/v1/vaults/${vaultId}/policies/${grant.id}`,
    });
    expect(removed.statusCode).toBe(204);
    // What this replica's LISTEN connection delivers for the deletion.
    invalidation.listener.onNotify(`v:${vaultId}`);
    gated.open();
    expect(await during).toEqual({ allow: true });

    expect(await policies.decide(p, vaultId, 'app/db', 'read', env)).toEqual({
      allow: false,
      reason: 'forbidden',
    });
  });
});
