// Cursors of the change feed and the audit log: the decimal id of the last row seen (a
// PostgreSQL bigint), so a client resumes exactly where it stopped.
import Type from 'typebox';
import { badRequest } from '../services/errors.js';

const MAX = 9_223_372_036_854_775_807n;

export const Cursor = Type.String({
  pattern: '^[0-9]{1,19}$',
  description: 'the id of the last item seen (decimal); 0 for the beginning',
});

/** A cursor from a query parameter or header; anything but a decimal bigint is a 400. */
export function parseCursor(value: string | undefined, name: string): string {
  if (value === undefined || value === '') return '0';
  if (!/^[0-9]{1,19}$/.test(value) || BigInt(value) > MAX)
    throw badRequest(`${name} must be a decimal cursor (the id of the last item seen)`);
  return BigInt(value).toString();
}
