// Grants and the authorization decision. Deny by default: a request is allowed when one of its
// principal's grants in the vault is unexpired, names the permission, matches the path and
// satisfies its conditions (client address, time window). Org admins manage grants and are
// not bound by them.
//
// Decisions run on every request, so each vault's grants are cached (bounded, with a TTL as a
// backstop) and dropped in every replica as soon as a grant changes. Expiry and conditions are
// evaluated at decision time, so an expired grant stops working at once, also for tokens
// already issued.
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import { checkPathPattern, matchesPath, patternMayMatchUnder } from '../../../../common/src/path-glob.js';
import type {
  Permission as GrantPermission,
  Policy,
  PolicyCreateInput,
  PrincipalType,
} from '../../../../contract/src/policies.js';
import { agentExists } from '../agents/agent-store.js';
import { appendAudit } from '../audit/audit-service.js';
import type { Principal } from '../auth/auth-service.js';
import type { AuthInvalidation } from '../auth/invalidation.js';
import { badRequest, type DenyReason, forbidden, notFound } from '../errors.js';
import { recordEvent } from '../events/events-store.js';
import { userExists } from '../users/user-store.js';
import type { VaultService } from '../vaults/vault-service.js';
import { checkCidrs, checkTimeWindow, inTimeWindow, ipAllowed } from './match.js';
import type { PolicyRow } from './policy-store.js';
import * as store from './policy-store.js';

export type { Permission as GrantPermission } from '../../../../contract/src/policies.js';

/** Where and when a request is made: what conditions are evaluated against. */
export interface RequestEnv {
  ip: string;
  now: Date;
}

export type Decision = { allow: true } | { allow: false; reason: DenyReason };

export interface PolicyService {
  create(p: Principal, vaultId: string, input: PolicyCreateInput, requestId?: string): Promise<Policy>;
  list(p: Principal, vaultId: string): Promise<Policy[]>;
  remove(p: Principal, vaultId: string, policyId: string, requestId?: string): Promise<void>;
  /** May `p` use `permission` on `path` (any path: undefined and permission 'any') in the vault? */
  decide(
    p: Principal,
    vaultId: string,
    path: string | undefined,
    permission: GrantPermission | 'any',
    env: RequestEnv,
  ): Promise<Decision>;
  /**
   * The grant patterns (path globs, as stored) under which `p` may use one of `permissions`,
   * limited to those that can match below `prefix`; a denial when there are none. Match them
   * in JS with `matchesPath` (linear); only SQL gets their regular expressions.
   */
  scope(
    p: Principal,
    vaultId: string,
    permissions: GrantPermission[],
    prefix: string,
    env: RequestEnv,
  ): Promise<{ allow: true; patterns: string[] } | { allow: false; reason: DenyReason }>;
  /** Ids of the vaults in which `p` holds at least one usable grant. */
  visibleVaults(p: Principal, env: RequestEnv): Promise<Set<string>>;
}

export function principalType(p: Principal): PrincipalType {
  return p.kind === 'k8s' ? 'k8s_service_account' : p.kind;
}

const SERVICE_ACCOUNT =
  /^system:serviceaccount:[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?:[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Why a usable-looking grant failed; undefined when it holds now. The most specific reason wins. */
function failure(row: PolicyRow, env: RequestEnv): DenyReason | undefined {
  if (row.expires_at && row.expires_at.getTime() <= env.now.getTime()) return 'grant_expired';
  const c = row.conditions;
  if (c.ip_cidrs && !ipAllowed(env.ip, c.ip_cidrs)) return 'ip_not_allowed';
  if (c.time_window && !inTimeWindow(c.time_window, env.now)) return 'outside_time_window';
  return undefined;
}

const RANK: Record<DenyReason, number> = {
  forbidden: 0,
  admin_required: 0,
  grant_expired: 1,
  outside_time_window: 2,
  ip_not_allowed: 3,
};

/** Allowed if any candidate holds; otherwise the most specific reason among them. */
function judge(candidates: PolicyRow[], env: RequestEnv): Decision {
  let reason: DenyReason = 'forbidden';
  for (const row of candidates) {
    const why = failure(row, env);
    if (!why) return { allow: true };
    if (RANK[why] > RANK[reason]) reason = why;
  }
  return { allow: false, reason };
}

function toApi(r: PolicyRow): Policy {
  return {
    id: r.id,
    vault_id: r.vault_id,
    principal_type: r.principal_type,
    principal_id: r.principal_id,
    secret_path_pattern: r.secret_path_pattern,
    permissions: r.permissions,
    conditions: r.conditions,
    expires_at: r.expires_at ? r.expires_at.toISOString() : null,
    created_by: r.created_by,
    created_at: r.created_at.toISOString(),
  };
}

function validate(input: PolicyCreateInput): void {
  const patternProblem = checkPathPattern(input.secret_path_pattern);
  if (patternProblem) throw badRequest(`secret_path_pattern: ${patternProblem}`);
  if (new Set(input.permissions).size !== input.permissions.length) {
    throw badRequest('permissions: each permission may appear once');
  }
  if (input.principal_type === 'k8s_service_account') {
    if (!SERVICE_ACCOUNT.test(input.principal_id)) {
      throw badRequest('principal_id: a service account is named system:serviceaccount:<namespace>:<name>');
    }
  } else if (!UUID.test(input.principal_id)) {
    throw badRequest(
      `principal_id: ${input.principal_type === 'agent' ? 'an agent' : 'a user'} is named by its id (a UUID)`,
    );
  }
  const c = input.conditions ?? {};
  if (c.ip_cidrs) {
    const problem = checkCidrs(c.ip_cidrs);
    if (problem) throw badRequest(`conditions.ip_cidrs: ${problem}`);
  }
  if (c.time_window) {
    const problem = checkTimeWindow(c.time_window);
    if (problem) throw badRequest(`conditions.time_window: ${problem}`);
  }
  if (input.expires_at && Number.isNaN(Date.parse(input.expires_at))) {
    throw badRequest('expires_at: not a date-time');
  }
}

export function createPolicyService(deps: {
  pool: pg.Pool;
  vaults: Pick<VaultService, 'get'>;
  invalidation: AuthInvalidation;
  cache?: { maxVaults: number; ttlMs: number };
}): PolicyService {
  const { pool, vaults, invalidation } = deps;
  // vault id → principal key → that principal's grants in the vault.
  const grants = new LRUCache<string, Map<string, PolicyRow[]>>({
    max: deps.cache?.maxVaults ?? 10_000,
    ttl: deps.cache?.ttlMs ?? 60_000,
  });
  // Bumped by every invalidation: a load that was under way when one arrived may have read the
  // grants from before the change, so its result is used once but not cached.
  let generation = 0;
  invalidation.subscribe((stale) => {
    generation++;
    if (stale === 'all') grants.clear();
    else if ('vault' in stale) grants.delete(stale.vault);
  });

  const grantsOf = async (p: Principal, vaultId: string): Promise<PolicyRow[]> => {
    let byPrincipal = grants.get(vaultId);
    if (!byPrincipal) {
      const loadedAt = generation;
      byPrincipal = new Map();
      for (const row of await store.listPolicies(pool, vaultId)) {
        const key = `${row.principal_type}|${row.principal_id}`;
        byPrincipal.set(key, [...(byPrincipal.get(key) ?? []), row]);
      }
      if (loadedAt === generation) grants.set(vaultId, byPrincipal);
    }
    // A vault's grants all belong to its org; the check keeps another org's caller out regardless.
    return (byPrincipal.get(`${principalType(p)}|${p.id}`) ?? []).filter((g) => g.org_id === p.orgId);
  };

  const principalExists = async (orgId: string, input: PolicyCreateInput): Promise<boolean> => {
    if (input.principal_type === 'k8s_service_account') return true;
    return input.principal_type === 'user'
      ? userExists(pool, orgId, input.principal_id)
      : agentExists(pool, orgId, input.principal_id);
  };

  return {
    async create(p, vaultId, input, requestId) {
      validate(input);
      await vaults.get(p, vaultId);
      if (!(await principalExists(p.orgId, input))) {
        throw badRequest(`principal_id: no ${input.principal_type} with that id in this organization`);
      }
      const row = await invalidation.change(pool, [{ vault: vaultId }], async (tx) => {
        const inserted = await store.insertPolicy(tx, {
          id: randomUUID(),
          org_id: p.orgId,
          vault_id: vaultId,
          principal_type: input.principal_type,
          principal_id: input.principal_id,
          secret_path_pattern: input.secret_path_pattern,
          permissions: input.permissions,
          conditions: input.conditions ?? {},
          expires_at: input.expires_at ? new Date(input.expires_at) : null,
          created_by: p.subject,
        });
        await recordEvent(tx, { vaultId, kind: 'vault.grants_changed' });
        await appendAudit(tx, {
          orgId: p.orgId,
          actor: p.subject,
          action: 'policy.create',
          decision: 'allow',
          vaultId,
          requestId,
          details: {
            policy: inserted.id,
            principal: `${inserted.principal_type}:${inserted.principal_id}`,
            pattern: inserted.secret_path_pattern,
            permissions: inserted.permissions.join(','),
          },
        });
        return inserted;
      });
      return toApi(row);
    },

    async list(p, vaultId) {
      await vaults.get(p, vaultId);
      return (await store.listPolicies(pool, vaultId)).filter((r) => r.org_id === p.orgId).map(toApi);
    },

    async remove(p, vaultId, policyId, requestId) {
      await vaults.get(p, vaultId);
      await invalidation.change(pool, [{ vault: vaultId }], async (tx) => {
        const gone = await store.deletePolicy(tx, vaultId, policyId);
        if (!gone || gone.org_id !== p.orgId) throw notFound('policy');
        await recordEvent(tx, { vaultId, kind: 'vault.grants_changed' });
        await appendAudit(tx, {
          orgId: p.orgId,
          actor: p.subject,
          action: 'policy.delete',
          decision: 'allow',
          vaultId,
          requestId,
          details: {
            policy: policyId,
            principal: `${gone.principal_type}:${gone.principal_id}`,
            pattern: gone.secret_path_pattern,
            permissions: gone.permissions.join(','),
          },
        });
      });
    },

    async decide(p, vaultId, path, permission, env) {
      const mine = await grantsOf(p, vaultId);
      const candidates = mine.filter(
        (g) =>
          (permission === 'any' || g.permissions.includes(permission)) &&
          (path === undefined || matchesPath(g.secret_path_pattern, path)),
      );
      return judge(candidates, env);
    },

    async scope(p, vaultId, permissions, prefix, env) {
      const mine = await grantsOf(p, vaultId);
      const candidates = mine.filter(
        (g) =>
          g.permissions.some((x) => permissions.includes(x)) &&
          patternMayMatchUnder(g.secret_path_pattern, prefix),
      );
      const usable = candidates.filter((g) => !failure(g, env));
      if (!usable.length) {
        const decision = judge(candidates, env);
        return { allow: false, reason: decision.allow ? 'forbidden' : decision.reason };
      }
      return {
        allow: true,
        patterns: [...new Set(usable.map((g) => g.secret_path_pattern))],
      };
    },

    async visibleVaults(p, env) {
      const rows = await store.policiesOfPrincipal(pool, p.orgId, principalType(p), p.id);
      return new Set(rows.filter((r) => !failure(r, env)).map((r) => r.vault_id));
    },
  };
}

/** Forbidden with the decision's reason and a message that names only what the caller asked for. */
export function denial(reason: DenyReason, what: string) {
  const why: Record<DenyReason, string> = {
    forbidden: 'no grant allows',
    grant_expired: 'the grant that allowed it has expired:',
    ip_not_allowed: 'not allowed from this client address:',
    outside_time_window: 'outside the time window of the grant:',
    admin_required: 'only organization admins may',
  };
  return forbidden(`${why[reason]} ${what}`, reason);
}
