// The change feed of a vault: what changed (kind, path, version), never a value. Two modes on
// one URL, chosen by Accept:
//   text/event-stream → Server-Sent Events, resuming from Last-Event-ID (or ?after), a comment
//                       heartbeat every 15 s, ending when the client goes or the server closes;
//   anything else     → a JSON long poll: `{events, next_cursor}` at once if there are events
//                       after the cursor, otherwise as soon as one commits or after `wait` s.
// Both read the durable rows from the cursor on, so nothing is missed across reconnects.
//
// Events name paths, so following needs `list`: a caller sees vault-level events and those of
// the paths it may list. The token and the grants are checked again before every delivery (each
// batch written to a stream, a long poll's answer after its wait, and each heartbeat), so an
// expired token or grant, a revoked grant or a disabled principal stops the feed at once.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { matchesPath } from '../../../../../common/src/path-glob.js';
import { EventsHeaders, EventsQuery, EventsResponse } from '../../../../../contract/src/events.js';
import { VaultParams } from '../../../../../contract/src/vaults.js';
import type { Principal } from '../../../services/auth/auth-service.js';
import { notFound, ServiceError } from '../../../services/errors.js';
import { listEvents, type VaultEvent } from '../../../services/events/events-store.js';
import type { Feed, FeedSubscription } from '../../../services/events/feed.js';
import { getVault } from '../../../services/vaults/vault-store.js';
import { authorizeScope, reauthenticate } from '../../auth.js';
import { parseCursor } from '../../cursor.js';
import { principalKey } from '../../limits.js';
import { routeSchema } from '../../route-schema.js';

export interface EventRouteOptions {
  feed: Feed;
  pool: pg.Pool;
  heartbeatMs?: number;
  /** A stream ends after this long (default 5 min) and the client resumes with Last-Event-ID. */
  maxStreamMs?: number;
  /**
   * Open subscriptions (streams and waiting long polls) per member principal in this process
   * (default 100; 0: no cap). Admins have none: the operator follows one feed per vault.
   */
  maxSubscriptionsPerPrincipal?: number;
}

const wantsStream = (req: FastifyRequest) => /\btext\/event-stream\b/i.test(req.headers.accept ?? '');

export const eventRoutes: FastifyPluginAsyncTypebox<EventRouteOptions> = async (app, opts) => {
  const { feed, pool } = opts;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const maxStreamMs = opts.maxStreamMs ?? 300_000;
  const perPrincipal = opts.maxSubscriptionsPerPrincipal ?? 100;
  // Every open stream and waiting long poll; closing the app ends them at once (app.close() would
  // otherwise wait for them).
  const open = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const ac of open) ac.abort();
  });

  const requireVault = async (p: Principal, vaultId: string) => {
    if (!(await getVault(pool, p.orgId, vaultId))) throw notFound('vault');
  };

  /** Which events the caller may see now; throws (401, 403) when it may no longer follow. */
  const visibility = async (req: FastifyRequest, vaultId: string, fresh: boolean) => {
    if (fresh) await reauthenticate(req);
    const { principal, patterns } = await authorizeScope(req, vaultId, ['list']);
    return { principal, visible: eventFilter(patterns) };
  };

  const subscribe = (p: Principal, vaultId: string) =>
    feed.subscribe(vaultId, {
      key: principalKey(p),
      maxPerKey: perPrincipal,
      privileged: p.role === 'admin',
    });

  /** An AbortController that fires when the client goes or the app closes. */
  const track = (reply: FastifyReply) => {
    const ac = new AbortController();
    const onClose = () => ac.abort();
    reply.raw.once('close', onClose);
    open.add(ac);
    // The client may have gone while the request was being checked.
    if (!reply.raw.socket || reply.raw.socket.destroyed) ac.abort();
    return {
      signal: ac.signal,
      abort: () => ac.abort(),
      done: () => {
        open.delete(ac);
        reply.raw.removeListener('close', onClose);
      },
    };
  };

  app.get(
    '/v1/vaults/:vault_id/events',
    {
      schema: routeSchema('events', 'Follow the changes of a vault (server-sent events or long poll)', {
        description:
          'With `Accept: text/event-stream`: server-sent events (`id` = event id, `event` = kind, `data` = the ' +
          'event as JSON), resuming after `Last-Event-ID` (or `after`), with a comment heartbeat every 15 s. ' +
          'Otherwise a JSON long poll: returns at once if events exist after `after`, else waits up to ' +
          '`wait` seconds for one. Events name what changed, never a value. Needs `list`: a member sees ' +
          'vault-level events and those of the paths it may list; its token and grants are checked again ' +
          'before every delivery, and a stream ends once they no longer allow it.',
        params: VaultParams,
        querystring: EventsQuery,
        headers: EventsHeaders,
        response: { 200: EventsResponse },
      }),
    },
    async (req, reply) => {
      const vaultId = req.params.vault_id;
      const { principal: p, visible } = await visibility(req, vaultId, false);
      const stream = wantsStream(req);
      const lastEventId = stream ? req.headers['last-event-id'] : undefined;
      const after = lastEventId
        ? parseCursor(lastEventId, 'Last-Event-ID')
        : parseCursor(req.query.after, 'after');
      const limit = req.query.limit ?? 100;
      await requireVault(p, vaultId);

      if (stream) {
        const sub = subscribe(p, vaultId); // may refuse (429, 503) before anything is sent
        reply.hijack();
        void serveStream(req, reply, { vaultId, sub, after, limit });
        return reply;
      }

      const waitMs = (req.query.wait ?? 0) * 1000;
      let events: VaultEvent[];
      let filter = visible;
      // The cursor moves past events the caller may not see, so it never re-reads them.
      if (waitMs === 0) {
        events = await listEvents(pool, vaultId, after, limit);
      } else {
        const sub = subscribe(p, vaultId);
        const t = track(reply);
        try {
          events = await sub.next(after, { limit, timeoutMs: waitMs, signal: t.signal });
        } finally {
          t.done();
          sub.close();
        }
        // The wait may have outlived the token, the grant or the principal.
        filter = (await visibility(req, vaultId, true)).visible;
      }
      return { events: events.filter(filter), next_cursor: events.at(-1)?.id ?? after };
    },
  );

  async function serveStream(
    req: FastifyRequest,
    reply: FastifyReply,
    s: {
      vaultId: string;
      sub: FeedSubscription;
      after: string;
      limit: number;
    },
  ): Promise<void> {
    const res = reply.raw;
    const { vaultId } = s;
    const t = track(reply);
    let cursor = s.after;
    const write = async (chunk: string) => {
      if (res.writableEnded || res.destroyed) return;
      if (!res.write(chunk)) {
        // Back-pressure: read no further until the client has taken what it was sent.
        await new Promise<void>((resolve) => {
          const done = () => {
            res.removeListener('drain', done);
            res.removeListener('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    };
    // Each heartbeat re-checks the caller's access, so an idle stream ends too.
    const heartbeat = setInterval(() => {
      visibility(req, vaultId, true).then(
        () => {
          if (!res.writableEnded && !res.destroyed && res.writableLength === 0) res.write(': heartbeat\n\n');
        },
        () => t.abort(),
      );
    }, heartbeatMs);
    const lifetime = setTimeout(() => t.abort(), maxStreamMs);
    try {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': req.id,
      });
      // The reconnection delay for EventSource clients, and a first byte so proxies pass headers on.
      await write('retry: 2000\n: connected\n\n');
      while (!t.signal.aborted) {
        const events = await s.sub.next(cursor, { limit: s.limit, timeoutMs: maxStreamMs, signal: t.signal });
        if (!events.length) continue;
        const { visible } = await visibility(req, vaultId, true);
        let deleted = false;
        for (const e of events) {
          if (!visible(e)) {
            cursor = e.id;
            continue;
          }
          await write(`id: ${e.id}\nevent: ${e.kind}\ndata: ${JSON.stringify(toPublic(e))}\n\n`);
          cursor = e.id;
          if (e.kind === 'vault.deleted') deleted = true;
        }
        // A deleted vault has no further events; a reconnect gets its 404.
        if (deleted) break;
      }
    } catch (err) {
      if (err instanceof ServiceError) {
        // Access withdrawn (the denial is audited): a reconnect gets the 401 or 403.
        req.log.info({ code: err.code }, 'event stream ended: access withdrawn');
      } else {
        // The database went away mid-stream: end it; the client resumes from its last id.
        req.log.warn(
          { err: { name: (err as Error).name, message: (err as Error).message } },
          'event stream ended',
        );
      }
    } finally {
      clearInterval(heartbeat);
      clearTimeout(lifetime);
      t.done();
      s.sub.close();
      if (!res.writableEnded) res.end();
    }
  }
};

/** Exactly the public fields, whatever the row carries. */
function toPublic(e: VaultEvent): VaultEvent {
  return {
    id: e.id,
    vault_id: e.vault_id,
    kind: e.kind,
    path: e.path,
    version: e.version,
    created_at: e.created_at,
  };
}

/**
 * Vault-level events (no path) are visible to anyone who may follow the feed. Grant patterns are
 * matched by the linear matcher: a RegExp would backtrack exponentially on some of them.
 */
function eventFilter(patterns: string[] | undefined): (e: VaultEvent) => boolean {
  if (!patterns) return () => true;
  return (e) => e.path === null || patterns.some((pattern) => matchesPath(pattern, e.path as string));
}
