// Group commit for audit records that are not part of a larger transaction (reads, denials,
// token exchanges). A request hands its record to the writer and waits: records of concurrent
// requests are written in one multi-row INSERT, which is one commit and one WAL flush, and
// every waiter is released only once that commit returned. So each record is durable before
// its response is sent, and a busy server pays one fsync per batch instead of one per request.
//
// There is no timer: a batch leaves as soon as a slot is free, so an idle server writes a lone
// record at once, and under load a record waits at most for the batches already in flight.
import type { Queryable } from '../../db/pool.js';
import { type AuditEntry, auditRow } from './audit-service.js';
import { insertAuditRows, type NewAuditRow } from './audit-store.js';

export interface AuditWriter {
  /** Resolves once the record is committed; rejects (nothing written for its batch) otherwise. */
  write(entry: AuditEntry): Promise<void>;
}

interface Waiter {
  row: NewAuditRow;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export function createAuditWriter(deps: {
  /** The pool: each batch is one autocommitted statement. */
  db: Queryable;
  /** Records in one INSERT at most. */
  maxBatch?: number;
  /** Batches committing at the same time at most (each holds a pool connection). */
  maxInFlight?: number;
}): AuditWriter {
  const maxBatch = deps.maxBatch ?? 256;
  const maxInFlight = deps.maxInFlight ?? 2;
  const queue: Waiter[] = [];
  let inFlight = 0;

  const pump = () => {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      inFlight++;
      insertAuditRows(
        deps.db,
        batch.map((w) => w.row),
      )
        .then(
          () => {
            for (const w of batch) w.resolve();
          },
          (err: unknown) => {
            for (const w of batch) w.reject(err);
          },
        )
        .finally(() => {
          inFlight--;
          pump();
        });
    }
  };

  return {
    write(entry) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ row: auditRow(entry), resolve, reject });
        pump();
      });
    },
  };
}
