// Who may do what is cached in every replica (principals' status, each vault's grants), so a
// change must reach every replica's caches at once. A change publishes a NOTIFY inside its own
// transaction (delivered on commit) and drops the local entries right after commit; replicas
// hear the NOTIFY on the change feed's LISTEN connection, and drop everything after a reconnect,
// when notifications may have been missed. Caches also expire on their own (a backstop).
import type pg from 'pg';
import { withTransaction } from '../../db/pool.js';
import type { ChannelListener } from '../events/feed.js';
import { AUTH_CHANNEL, notifyAuthChange } from './auth-store.js';

/** What went stale: a vault's grants, one principal (user or agent id), or everything. */
export type Stale = { vault: string } | { principal: string } | 'all';

export interface AuthInvalidation {
  /**
   * Runs `fn` in a transaction that also tells every replica what it made stale: `stale`, and
   * whatever `fn` adds with `mark` once it knows.
   */
  change<T>(
    pool: pg.Pool,
    stale: Stale[],
    fn: (tx: pg.PoolClient, mark: (s: Stale) => void) => Promise<T>,
  ): Promise<T>;
  /** Called with what went stale, here or in another replica. */
  subscribe(fn: (stale: Stale) => void): void;
  /** Rides on the feed hub's LISTEN connection. */
  listener: ChannelListener;
}

function encode(s: Stale): string {
  if (s === 'all') return 'all';
  return 'vault' in s ? `v:${s.vault}` : `p:${s.principal}`;
}

function decode(payload: string): Stale {
  if (payload.startsWith('v:')) return { vault: payload.slice(2) };
  if (payload.startsWith('p:')) return { principal: payload.slice(2) };
  return 'all';
}

export function createAuthInvalidation(): AuthInvalidation {
  const subscribers: Array<(s: Stale) => void> = [];
  const emit = (s: Stale) => {
    for (const fn of subscribers) fn(s);
  };
  return {
    async change(pool, given, fn) {
      const stale = [...given];
      const out = await withTransaction(pool, async (tx) => {
        const result = await fn(tx, (s) => stale.push(s));
        for (const s of stale) await notifyAuthChange(tx, encode(s));
        return result;
      });
      for (const s of stale) emit(s);
      return out;
    },
    subscribe(fn) {
      subscribers.push(fn);
    },
    listener: {
      channel: AUTH_CHANNEL,
      onNotify: (payload) => emit(decode(payload)),
      onResync: () => emit('all'),
    },
  };
}
