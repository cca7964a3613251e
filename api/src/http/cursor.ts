// Cursors of the change feed and the audit log as the server reads them; what a cursor is on
// the wire is stated once, in contract/src/cursor.ts.
import { CURSOR_MAX } from '../../../contract/src/cursor.js';
import { badRequest } from '../services/errors.js';

export { Cursor } from '../../../contract/src/cursor.js';

/** A cursor from a query parameter or header; anything but a decimal bigint is a 400. */
export function parseCursor(value: string | undefined, name: string): string {
  if (value === undefined || value === '') return '0';
  if (!/^[0-9]{1,19}$/.test(value) || BigInt(value) > CURSOR_MAX)
    throw badRequest(`${name} must be a decimal cursor (the id of the last item seen)`);
  return BigInt(value).toString();
}
