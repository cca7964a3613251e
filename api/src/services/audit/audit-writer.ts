// Group commit for audit records that are not part of a larger transaction (denials, token
// exchanges, reads that need more than one step). A request hands its record to the writer and
// waits: records of concurrent requests are written in one multi-row INSERT, which is one
// commit and one WAL flush, and every waiter is released only once that commit returned. So
// each record is durable before its response is sent, and a busy server pays one fsync per
// batch instead of one per request.
import { batched } from '../../db/batcher.js';
import type { Queryable } from '../../db/pool.js';
import { type AuditEntry, auditRow } from './audit-service.js';
import { insertAuditRows, type NewAuditRow } from './audit-store.js';

export interface AuditWriter {
  /** Resolves once the record is committed; rejects (nothing written for its batch) otherwise. */
  write(entry: AuditEntry): Promise<void>;
}

export function createAuditWriter(deps: {
  /** The pool: each batch is one autocommitted statement. */
  db: Queryable;
  maxBatch?: number;
  maxInFlight?: number;
}): AuditWriter {
  const insert = batched(
    async (rows: NewAuditRow[]) => {
      await insertAuditRows(deps.db, rows);
      return rows.map(() => undefined);
    },
    { maxBatch: deps.maxBatch ?? 256, maxInFlight: deps.maxInFlight ?? 2 },
  );
  return { write: (entry) => insert(auditRow(entry)) };
}
