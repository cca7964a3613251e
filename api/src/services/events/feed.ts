// The change feed's hub: one dedicated connection per process LISTENs on the events channel and
// wakes the subscribers of the vault a NOTIFY names. NOTIFY is only a wake-up: subscribers always
// read the rows themselves (`listEvents`, ordered by id, after their cursor), so a lost
// notification, a dropped LISTEN connection or a reconnecting client never loses an event.
//
// When the LISTEN connection drops (database restart, terminated backend) the hub reconnects with
// capped exponential backoff and, once listening again, wakes every subscriber so each re-reads
// from its cursor whatever was committed while nobody was listening.
//
// Bounded: at most `maxSubscribers` (default 10 000) open subscriptions per process; one more is
// refused with a 503 the client retries. A subscriber may also carry a per-principal cap (one
// more is a 429), and privileged subscribers (org admins: the operator follows one feed per
// vault) count toward neither, so no number of members can crowd them out. A waiting subscriber
// holds no database connection.
import pg from 'pg';
import type { Logger } from 'pino';
import { backoffDelay, EQUAL_JITTER } from '../../../../common/src/backoff.js';
import { query } from '../../db/pool.js';
import { rateLimited, ServiceError } from '../errors.js';
import { EVENTS_CHANNEL, listEvents, type VaultEvent } from './events-store.js';

export const DEFAULT_MAX_SUBSCRIBERS = 10_000;

/** Who subscribes, for the caps. */
export interface Subscriber {
  /** Subscriptions are counted per key (a principal). */
  key: string;
  /** At most this many open at once per key (one more: 429); undefined or 0: no per-key cap. */
  maxPerKey?: number | undefined;
  /** Counted toward neither cap (org admins). */
  privileged?: boolean;
}

export interface FeedSubscription {
  /**
   * Events of the vault after `after` (at most `limit`, in id order): at once if there are any,
   * otherwise as soon as one commits; `[]` after `timeoutMs`, when `signal` aborts, or when the
   * subscription or hub closes. One call at a time per subscription.
   */
  next(
    after: string,
    opts: { limit: number; timeoutMs: number; signal?: AbortSignal },
  ): Promise<VaultEvent[]>;
  close(): void;
}

export interface Feed {
  /**
   * Throws a 503 ServiceError when the process is at its subscriber cap, a 429 when the
   * subscriber's key is at its own.
   */
  subscribe(vaultId: string, who?: Subscriber): FeedSubscription;
  /** Resolves true once events after the cursor exist, false on timeout, abort or stop. */
  wait(vaultId: string, after: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
}

export interface FeedStats {
  /** The LISTEN connection is up. */
  connected: boolean;
  subscribers: number;
  /** Connections established after the first one. */
  reconnects: number;
}

export interface FeedHub extends Feed {
  /** Connects and LISTENs; if the database is unreachable, keeps retrying in the background. */
  start(): Promise<void>;
  /** Closes the connection and releases every waiting subscriber (their `next` returns `[]`). */
  stop(): Promise<void>;
  stats(): FeedStats;
}

/** A channel riding on the hub's LISTEN connection. */
export interface ChannelListener {
  channel: string;
  onNotify(payload: string): void;
  /** After a reconnect: notifications may have been missed while nobody listened. */
  onResync(): void;
}

type WakeReason = 'woken' | 'timeout' | 'aborted';

/** A subscription frees when a stream ends or a long poll answers: worth retrying soon. */
const SUBSCRIPTION_RETRY_S = 5;

interface Core extends Feed {
  /** Wakes the subscribers of a vault whose cursor is before `id` (all of them if no id). */
  wakeVault(vaultId: string, id?: bigint): void;
  wakeAll(): void;
  closeAll(): void;
  count(): number;
}

/** Subscriptions and their wake-ups; `pollMs` bounds each sleep (Infinity: only wake-ups). */
function createCore(pool: pg.Pool, opts: { pollMs: number; maxSubscribers: number }): Core {
  const byVault = new Map<string, Set<Subscription>>();
  // Open subscriptions counted toward the process cap, and per subscriber key.
  let capped = 0;
  let privileged = 0;
  const byKey = new Map<string, number>();

  class Subscription implements FeedSubscription {
    private woken = false;
    private cursor = 0n;
    private closed = false;
    private wake: ((r: WakeReason) => void) | undefined;

    constructor(
      readonly vaultId: string,
      readonly who: Subscriber | undefined,
    ) {}

    notify(id?: bigint): void {
      if (id !== undefined && id <= this.cursor) return;
      this.woken = true;
      this.wake?.('woken');
    }

    async next(
      after: string,
      o: { limit: number; timeoutMs: number; signal?: AbortSignal },
    ): Promise<VaultEvent[]> {
      this.cursor = BigInt(after);
      const deadline = Date.now() + o.timeoutMs;
      for (;;) {
        // Cleared before the read: a NOTIFY arriving during it makes the next sleep return at once.
        this.woken = false;
        const events = await listEvents(pool, this.vaultId, after, o.limit);
        if (events.length) return events;
        const remaining = deadline - Date.now();
        if (remaining <= 0 || this.closed || o.signal?.aborted) return [];
        if (this.woken) continue;
        const reason = await this.sleep(Math.min(remaining, opts.pollMs), o.signal);
        if (reason === 'aborted') return [];
        if (reason === 'timeout' && Date.now() >= deadline) return [];
      }
    }

    private sleep(ms: number, signal: AbortSignal | undefined): Promise<WakeReason> {
      return new Promise((resolve) => {
        const done = (r: WakeReason) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.wake = undefined;
          resolve(r);
        };
        const onAbort = () => done('aborted');
        const timer = setTimeout(() => done('timeout'), ms);
        signal?.addEventListener('abort', onAbort, { once: true });
        this.wake = done;
      });
    }

    close(): void {
      if (this.closed) return;
      this.closed = true;
      const set = byVault.get(this.vaultId);
      if (set?.delete(this)) {
        if (this.who?.privileged) privileged--;
        else capped--;
        const key = this.who?.key;
        if (key !== undefined) {
          const n = (byKey.get(key) ?? 1) - 1;
          if (n > 0) byKey.set(key, n);
          else byKey.delete(key);
        }
        if (set.size === 0) byVault.delete(this.vaultId);
      }
      this.wake?.('aborted');
    }
  }

  const subscribe = (vaultId: string, who?: Subscriber): Subscription => {
    if (!who?.privileged) {
      if (capped >= opts.maxSubscribers)
        throw new ServiceError(503, 'feed_busy', 'too many change-feed subscribers; retry later');
      const max = who?.maxPerKey;
      if (who && max && (byKey.get(who.key) ?? 0) >= max) {
        throw rateLimited(
          `this principal already follows ${max} change feeds on this server (the limit); close one or retry later`,
          SUBSCRIPTION_RETRY_S,
        );
      }
    }
    const sub = new Subscription(vaultId, who);
    if (who?.privileged) privileged++;
    else capped++;
    if (who) byKey.set(who.key, (byKey.get(who.key) ?? 0) + 1);
    let set = byVault.get(vaultId);
    if (!set) {
      set = new Set();
      byVault.set(vaultId, set);
    }
    set.add(sub);
    return sub;
  };

  return {
    subscribe,
    async wait(vaultId, after, timeoutMs, signal) {
      const sub = subscribe(vaultId);
      try {
        const events = await sub.next(after, { limit: 1, timeoutMs, ...(signal ? { signal } : {}) });
        return events.length > 0;
      } finally {
        sub.close();
      }
    },
    wakeVault(vaultId, id) {
      for (const sub of byVault.get(vaultId) ?? []) sub.notify(id);
    },
    wakeAll() {
      for (const set of byVault.values()) for (const sub of set) sub.notify();
    },
    closeAll() {
      for (const set of [...byVault.values()]) for (const sub of [...set]) sub.close();
    },
    count: () => capped + privileged,
  };
}

/** `<vault_id>:<id>` → its parts, or undefined for anything else. */
export function parseNotification(payload: string | undefined): { vaultId: string; id: bigint } | undefined {
  if (!payload) return undefined;
  const at = payload.lastIndexOf(':');
  const vaultId = payload.slice(0, at);
  const id = payload.slice(at + 1);
  if (at <= 0 || !/^[0-9]{1,19}$/.test(id)) return undefined;
  return { vaultId, id: BigInt(id) };
}

export function createFeedHub(deps: {
  databaseUrl: string;
  pool: pg.Pool;
  logger: Logger;
  maxSubscribers?: number;
  /** First reconnect delay; doubles per failed attempt up to `maxBackoffMs` (with jitter). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** How often the LISTEN connection is checked (a black-holed connection errors no other way). */
  pingMs?: number;
  /** Other channels the same connection listens on (cache invalidation across replicas). */
  listeners?: ChannelListener[];
}): FeedHub {
  const log = deps.logger.child({ component: 'feed' });
  const minBackoff = deps.minBackoffMs ?? 100;
  const maxBackoff = deps.maxBackoffMs ?? 5_000;
  const core = createCore(deps.pool, {
    pollMs: Number.POSITIVE_INFINITY,
    maxSubscribers: deps.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS,
  });

  let client: pg.Client | undefined;
  let connected = false;
  let everConnected = false;
  let reconnects = 0;
  let attempt = 0;
  let stopped = true;
  let retryTimer: NodeJS.Timeout | undefined;
  let pingTimer: NodeJS.Timeout | undefined;
  // LISTEN is idempotent; re-issuing it doubles as the liveness check (and keeps the
  // connection's last statement a LISTEN, which is how operators find it in pg_stat_activity).
  const listeners = deps.listeners ?? [];
  const listenSql = [EVENTS_CHANNEL, ...listeners.map((l) => l.channel)].map((c) => `LISTEN ${c};`).join(' ');

  const onNotification = (msg: pg.Notification) => {
    if (msg.channel === EVENTS_CHANNEL) {
      const n = parseNotification(msg.payload);
      if (n) core.wakeVault(n.vaultId, n.id);
      return;
    }
    for (const l of listeners) if (l.channel === msg.channel) l.onNotify(msg.payload ?? '');
  };

  const lost = (c: pg.Client, err?: unknown) => {
    if (client !== c) return;
    client = undefined;
    connected = false;
    c.removeListener('notification', onNotification);
    c.end().catch(() => {});
    if (stopped) return;
    log.warn(
      { err: err ? { message: (err as Error).message, code: (err as { code?: string }).code } : undefined },
      'change feed: LISTEN connection lost; reconnecting',
    );
    scheduleReconnect();
  };

  const scheduleReconnect = () => {
    if (stopped || retryTimer) return;
    const delay = backoffDelay(attempt, { baseMs: minBackoff, maxMs: maxBackoff, jitter: EQUAL_JITTER });
    attempt++;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delay);
    retryTimer.unref();
  };

  const connect = async (): Promise<void> => {
    if (stopped || client) return;
    const c = new pg.Client({
      connectionString: deps.databaseUrl,
      application_name: 'oneclaw-feed',
      keepAlive: true,
      connectionTimeoutMillis: 5_000,
      query_timeout: 10_000,
    });
    client = c;
    // Registered for the connection's whole life: a dead client must never emit an unhandled error.
    c.on('error', (err) => lost(c, err));
    c.on('end', () => lost(c));
    c.on('notification', onNotification);
    try {
      await c.connect();
      await query(c, listenSql);
    } catch (err) {
      lost(c, err);
      return;
    }
    if (client !== c) return;
    if (stopped) {
      client = undefined;
      await c.end().catch(() => {});
      return;
    }
    connected = true;
    attempt = 0;
    if (everConnected) {
      reconnects++;
      log.info({ reconnects }, 'change feed: listening again');
    }
    everConnected = true;
    // Whatever committed while nobody listened: every subscriber re-reads from its cursor, and
    // every other listener drops what a missed notification may have made stale.
    core.wakeAll();
    for (const l of listeners) l.onResync();
  };

  return {
    subscribe: core.subscribe,
    wait: core.wait,
    async start() {
      if (!stopped) return;
      stopped = false;
      pingTimer = setInterval(() => {
        const c = client;
        if (c && connected) c.query(listenSql).catch((err: unknown) => lost(c, err));
      }, deps.pingMs ?? 30_000);
      pingTimer.unref();
      await connect();
      if (!connected) log.warn('change feed: database not reachable yet; retrying in the background');
    },
    async stop() {
      stopped = true;
      clearInterval(pingTimer);
      clearTimeout(retryTimer);
      retryTimer = undefined;
      core.closeAll();
      const c = client;
      client = undefined;
      connected = false;
      if (c) {
        c.removeListener('notification', onNotification);
        await c.end().catch(() => {});
      }
    },
    stats: () => ({ connected, subscribers: core.count(), reconnects }),
  };
}

/**
 * A feed without a LISTEN connection: subscribers re-read every `intervalMs`. For an app built
 * without a hub (tests, tools); the server always uses `createFeedHub`.
 */
export function createPollingFeed(deps: {
  pool: pg.Pool;
  intervalMs?: number;
  maxSubscribers?: number;
}): Feed {
  const core = createCore(deps.pool, {
    pollMs: deps.intervalMs ?? 1_000,
    maxSubscribers: deps.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS,
  });
  return { subscribe: core.subscribe, wait: core.wait };
}
