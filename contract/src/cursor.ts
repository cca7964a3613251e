// Cursors of the change feed and the audit log: the decimal id of the last row seen (a
// PostgreSQL bigint), so a client resumes exactly where it stopped.
import Type from 'typebox';

/** The largest PostgreSQL bigint. */
export const CURSOR_MAX = 9_223_372_036_854_775_807n;

/**
 * Decimal strings of at most 19 characters whose value is at most `max` (19 digits): any with up
 * to 18 characters; with 19, those not above `max` digit by digit.
 */
function upTo(max: string): string {
  const alternatives = ['[0-9]{1,18}', max];
  for (let i = 0; i < max.length; i++) {
    const d = Number(max[i]);
    if (d === 0) continue;
    const rest = max.length - i - 1;
    alternatives.push(`${max.slice(0, i)}[0-${d - 1}]${rest ? `[0-9]{${rest}}` : ''}`);
  }
  return `^(?:${alternatives.join('|')})$`;
}

export const Cursor = Type.String({
  pattern: upTo(CURSOR_MAX.toString()),
  description: 'the id of the last item seen (decimal); 0 for the beginning',
});
