// Agents: non-human principals (CI jobs, services outside the cluster) that authenticate with
// an `ocv_` API key. The key is shown once, at creation or rotation, and stored as a salted
// scrypt hash. Disabling, expiring, deleting or rotating takes effect at once, also for access
// tokens already issued (auth-service checks the agent and key on every request).
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  AGENT_NAME,
  AGENT_NAME_RULE,
  type Agent,
  type AgentCreateInput,
  type AgentUpdateInput,
  type AgentWithKey,
} from '../../../../contract/src/agents.js';
import type { Queryable } from '../../db/pool.js';
import type { Principal } from '../auth/auth-service.js';
import type { AuthInvalidation, Stale } from '../auth/invalidation.js';
import { revokeApiKeys } from '../auth/key-store.js';
import {
  auditKeyedChange,
  createWithKey,
  type KeyedPrincipals,
  rotateKey,
  updateAction,
} from '../auth/keyed-principal.js';
import { badRequest, notFound } from '../errors.js';
import { deletePoliciesOfPrincipal } from '../policies/policy-store.js';
import * as store from './agent-store.js';

export interface AgentService {
  create(p: Principal, input: AgentCreateInput, requestId?: string): Promise<AgentWithKey>;
  list(p: Principal): Promise<Agent[]>;
  get(p: Principal, id: string): Promise<Agent>;
  update(p: Principal, id: string, patch: AgentUpdateInput, requestId?: string): Promise<Agent>;
  remove(p: Principal, id: string, requestId?: string): Promise<void>;
  /** Revokes every key of the agent and issues a new one. */
  rotateKey(p: Principal, id: string, requestId?: string): Promise<AgentWithKey>;
}

const toApi = (r: store.AgentRow): Agent => ({
  id: r.id,
  name: r.name,
  description: r.description,
  disabled: r.disabled_at !== null,
  expires_at: r.expires_at ? r.expires_at.toISOString() : null,
  created_by: r.created_by,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
});

function parseDate(value: string | null | undefined): Date | null {
  if (!value) return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw badRequest('expires_at: not a date-time');
  return d;
}

export function createAgentService(deps: { pool: pg.Pool; invalidation: AuthInvalidation }): AgentService {
  const { pool, invalidation } = deps;
  const stale = (id: string): Stale[] => [{ principal: id }];

  const load = async (
    db: Queryable,
    p: Principal,
    id: string,
    forUpdate = false,
  ): Promise<store.AgentRow> => {
    const row = await store.getAgent(db, p.orgId, id, { forUpdate });
    if (!row) throw notFound('agent');
    return row;
  };

  const keyed: KeyedPrincipals<store.AgentRow> = {
    kind: 'agent',
    pool,
    invalidation,
    lock: (tx, p, id) => load(tx, p, id, true),
  };

  return {
    async create(p, input, requestId) {
      if (!AGENT_NAME.test(input.name)) {
        throw badRequest(AGENT_NAME_RULE);
      }
      const expiresAt = parseDate(input.expires_at);
      // Creating an agent that is already expired is a mistake; PATCH may expire one at once.
      if (expiresAt && expiresAt.getTime() <= Date.now())
        throw badRequest('expires_at: must be in the future');
      const insert = (tx: Queryable) =>
        store.insertAgent(tx, {
          id: randomUUID(),
          org_id: p.orgId,
          name: input.name,
          description: input.description ?? '',
          created_by: p.subject,
          expires_at: expiresAt,
        });
      const { row, apiKey } = await createWithKey(keyed, p, input.name, insert, requestId);
      return { agent: toApi(row), api_key: apiKey };
    },

    async list(p) {
      return (await store.listAgents(pool, p.orgId)).map(toApi);
    },

    async get(p, id) {
      return toApi(await load(pool, p, id));
    },

    async update(p, id, patch, requestId) {
      const expiresAt = patch.expires_at === undefined ? undefined : parseDate(patch.expires_at);
      const row = await invalidation.change(pool, stale(id), async (tx) => {
        await load(tx, p, id, true);
        const updated = await store.updateAgent(tx, p.orgId, id, {
          description: patch.description,
          disabled: patch.disabled,
          expires_at: expiresAt,
        });
        await auditKeyedChange(tx, 'agent', p, updateAction(patch.disabled), id, requestId);
        return updated;
      });
      return toApi(row);
    },

    async remove(p, id, requestId) {
      await invalidation.change(pool, stale(id), async (tx, mark) => {
        await load(tx, p, id, true);
        await store.softDeleteAgent(tx, id);
        await revokeApiKeys(tx, id);
        // Its grants go with it, and so do the cached copies of those vaults' grants.
        const removed = await deletePoliciesOfPrincipal(tx, p.orgId, 'agent', id);
        for (const { vault_id } of removed) mark({ vault: vault_id });
        await auditKeyedChange(tx, 'agent', p, 'delete', id, requestId, { grants_removed: removed.length });
      });
    },

    async rotateKey(p, id, requestId) {
      const { row, apiKey } = await rotateKey(keyed, p, id, requestId);
      return { agent: toApi(row), api_key: apiKey };
    },
  };
}
