// The change feed of a vault: what changed (kind, path, version), never a value.
import Type, { type Static } from 'typebox';
import { DateTime, Nullable, Uuid } from './common.js';
import { Cursor } from './cursor.js';

/** Kinds the server emits today; `VaultEvent.kind` is a string so new kinds do not break clients. */
export const VAULT_EVENT_KINDS = [
  'vault.created',
  'vault.deleted',
  'vault.kek_rotated',
  // A grant in the vault was created or deleted: whoever reads for others (the operator) checks
  // again what it may still read. Names no principal and no path.
  'vault.grants_changed',
  'secret.written',
  'secret.deleted',
  'secret.destroyed',
  // A CMEK rotation re-encrypted the stored value of this version under the new customer key.
  'secret.reencrypted',
] as const;
export type VaultEventKind = (typeof VAULT_EVENT_KINDS)[number];

export const VaultEvent = Type.Object({
  /** The event id: the cursor to resume after it. */
  id: Type.String({ description: 'the event id; the cursor to resume after it' }),
  vault_id: Uuid,
  kind: Type.String({
    description:
      'vault.created, vault.deleted, vault.kek_rotated, secret.written, secret.deleted, secret.destroyed, secret.reencrypted (a CMEK rotation rewrote the stored value)',
  }),
  path: Nullable(Type.String()),
  version: Nullable(Type.Integer()),
  created_at: DateTime,
});
export type VaultEvent = Static<typeof VaultEvent>;

export const EventsPage = Type.Object({
  events: Type.Array(VaultEvent),
  /** Pass as `after` to continue. */
  next_cursor: Type.String({ description: 'pass as `after` to continue' }),
});
export type EventsPage = Static<typeof EventsPage>;

export const EventsQuery = Type.Object(
  {
    after: Type.Optional(Cursor),
    wait: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 60,
        description: 'long poll: seconds to wait for an event (default 0)',
      }),
    ),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, description: 'events per response (default 100)' }),
    ),
  },
  { additionalProperties: false },
);

export const EventsHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({ description: 'server-sent events: resume after this event id' }),
  ),
});

/** One URL, two answers chosen by Accept: a JSON page, or a stream of server-sent events. */
export const EventsResponse = {
  description: 'a page of events (JSON), or a stream of them (server-sent events)',
  content: {
    'application/json': { schema: EventsPage },
    'text/event-stream': {
      schema: Type.String({
        description: 'id: <event id>\nevent: <kind>\ndata: <the event as JSON>, one per event',
      }),
    },
  },
};
