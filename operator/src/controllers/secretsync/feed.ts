// Pushes changes: one follower per vault that some SecretSync reads, on the vault's change
// feed (long polls from a cursor, as the operator), enqueueing that vault's SecretSyncs when an
// event arrives, so an API write reaches the Kubernetes Secret in about a second without
// polling. A follower starts when the first SecretSync registers interest and stops when the
// last one goes. The first page is the vault's history, read once to find the current cursor.
import type { Logger } from 'pino';
import type { OneclawClient } from '../../../../sdk/src/index.js';
import { keyOf, type ObjectKey, parseKey } from '../../runtime/keys.js';

export interface FeedFollowers {
  /** `sync` reads `vaultId`: follow it (idempotent; moving to another vault drops the old one). */
  watch(vaultId: string, sync: ObjectKey): void;
  forget(sync: ObjectKey): void;
  /** Vaults being followed (for metrics and tests). */
  following(): string[];
  stop(): Promise<void>;
}

export function createFeedFollowers(deps: {
  api: OneclawClient;
  logger: Logger;
  /**
   * Called for the SecretSyncs of a vault when an event arrives, with the path it names (null:
   * the vault itself changed, or the follower (re)started and may have missed events).
   */
  enqueue(sync: ObjectKey, path: string | null): void;
  /** Delay before restarting a follower that ended with an error (403, 404, …). */
  retryMs?: number;
}): FeedFollowers {
  const log = deps.logger.child({ component: 'feed' });
  const vaultOfSync = new Map<string, string>();
  const syncsOfVault = new Map<string, Set<string>>();
  const followers = new Map<string, { abort: AbortController; done: Promise<void> }>();

  const run = async (vaultId: string, abort: AbortController) => {
    let cursor: string | undefined;
    while (!abort.signal.aborted) {
      try {
        // Skip the history: page to the end once, then follow from there.
        if (cursor === undefined) {
          let page = await deps.api.events.poll(vaultId, { limit: 1000, signal: abort.signal });
          cursor = page.next_cursor;
          while (page.events.length === 1000) {
            page = await deps.api.events.poll(vaultId, { after: cursor, limit: 1000, signal: abort.signal });
            cursor = page.next_cursor;
          }
          // Anything written before the follower caught up is picked up by this reconcile round.
          for (const s of syncsOfVault.get(vaultId) ?? []) deps.enqueue(parseKey(s), null);
        }
        for await (const event of deps.api.events.follow(vaultId, { after: cursor, signal: abort.signal })) {
          cursor = event.id;
          for (const s of syncsOfVault.get(vaultId) ?? []) deps.enqueue(parseKey(s), event.path);
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        log.warn({ vaultId, err: { message: (err as Error).message } }, 'change feed ended; restarting');
        await new Promise((r) => setTimeout(r, deps.retryMs ?? 5_000).unref());
      }
    }
  };

  const stopFollower = (vaultId: string) => {
    const f = followers.get(vaultId);
    if (!f) return;
    followers.delete(vaultId);
    f.abort.abort();
  };

  const forget = (sync: ObjectKey) => {
    const key = keyOf(sync);
    const vaultId = vaultOfSync.get(key);
    if (!vaultId) return;
    vaultOfSync.delete(key);
    const set = syncsOfVault.get(vaultId);
    set?.delete(key);
    if (!set?.size) {
      syncsOfVault.delete(vaultId);
      stopFollower(vaultId);
    }
  };

  return {
    watch(vaultId, sync) {
      const key = keyOf(sync);
      if (vaultOfSync.get(key) === vaultId) return;
      forget(sync);
      vaultOfSync.set(key, vaultId);
      const set = syncsOfVault.get(vaultId) ?? new Set();
      set.add(key);
      syncsOfVault.set(vaultId, set);
      if (!followers.has(vaultId)) {
        const abort = new AbortController();
        followers.set(vaultId, { abort, done: run(vaultId, abort) });
      }
    },
    forget,
    following: () => [...followers.keys()],
    async stop() {
      const all = [...followers.values()];
      for (const f of all) f.abort.abort();
      followers.clear();
      await Promise.all(all.map((f) => f.done));
    },
  };
}
