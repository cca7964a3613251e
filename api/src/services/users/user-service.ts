// Users: people, with `ocu_` API keys, each an org admin or a member. Members can do only what
// policies grant them. Disabling a user or rotating their key takes effect at once, also for
// access tokens already issued.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  USER_NAME,
  USER_NAME_RULE,
  type User,
  type UserCreateInput,
  type UserUpdateInput,
  type UserWithKey,
} from '../../../../contract/src/users.js';
import type { Queryable } from '../../db/pool.js';
import type { Principal } from '../auth/auth-service.js';
import type { AuthInvalidation } from '../auth/invalidation.js';
import {
  auditKeyedChange,
  createWithKey,
  type KeyedPrincipals,
  rotateKey,
  updateAction,
} from '../auth/keyed-principal.js';
import { badRequest, conflict, notFound } from '../errors.js';
import * as store from './user-store.js';

export interface UserService {
  create(p: Principal, input: UserCreateInput, requestId?: string): Promise<UserWithKey>;
  list(p: Principal): Promise<User[]>;
  update(p: Principal, id: string, patch: UserUpdateInput, requestId?: string): Promise<User>;
  /** Revokes every key of the user and issues a new one. */
  rotateKey(p: Principal, id: string, requestId?: string): Promise<UserWithKey>;
}

const toApi = (r: store.UserRow): User => ({
  id: r.id,
  name: r.name,
  role: r.role,
  disabled: r.disabled_at !== null,
  created_at: r.created_at.toISOString(),
});

export function createUserService(deps: { pool: pg.Pool; invalidation: AuthInvalidation }): UserService {
  const { pool, invalidation } = deps;

  const lock = async (tx: Queryable, p: Principal, id: string): Promise<store.UserRow> => {
    const row = await store.lockUser(tx, p.orgId, id);
    if (!row) throw notFound('user');
    return row;
  };
  const keyed: KeyedPrincipals<store.UserRow> = { kind: 'user', pool, invalidation, lock };

  return {
    async create(p, input, requestId) {
      if (!USER_NAME.test(input.name)) {
        throw badRequest(USER_NAME_RULE);
      }
      const insert = (tx: Queryable) =>
        store.insertUser(tx, { id: randomUUID(), org_id: p.orgId, name: input.name, role: input.role });
      const { row, apiKey } = await createWithKey(keyed, p, input.name, insert, requestId);
      return { user: toApi(row), api_key: apiKey };
    },

    async list(p) {
      return (await store.listUsers(pool, p.orgId)).map(toApi);
    },

    async update(p, id, patch, requestId) {
      // Nobody locks themselves out: an admin cannot disable or demote their own user.
      if (id === p.id && (patch.disabled === true || patch.role === 'member')) {
        throw conflict('you cannot disable or demote yourself; ask another admin');
      }
      const row = await invalidation.change(pool, [{ principal: id }], async (tx) => {
        await lock(tx, p, id);
        const updated = await store.updateUser(tx, id, patch);
        await auditKeyedChange(tx, 'user', p, updateAction(patch.disabled), id, requestId);
        return updated;
      });
      return toApi(row);
    },

    async rotateKey(p, id, requestId) {
      const { row, apiKey } = await rotateKey(keyed, p, id, requestId);
      return { user: toApi(row), api_key: apiKey };
    },
  };
}
