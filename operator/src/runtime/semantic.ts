// Comparison by meaning, the runtime's equality.Semantic.DeepEqual: what the apiserver stores
// from a write, not how the write was spelled. The apiserver hands objects back with their keys
// sorted and drops what JSON cannot hold, so desired state built in another key order, or
// carrying properties set to undefined, must not count as a change — a converged object costs
// no write.

/** Deep equality of JSON-like values: key order and properties holding undefined do not count. */
export function semanticEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => semanticEqual(x, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const defined = (r: Record<string, unknown>) => Object.keys(r).filter((k) => r[k] !== undefined);
  const keys = defined(ra);
  if (keys.length !== defined(rb).length) return false;
  return keys.every((k) => Object.hasOwn(rb, k) && semanticEqual(ra[k], rb[k]));
}

/**
 * Whether two Secret `data` maps hold the same bytes under the same keys: base64 spelled
 * differently (line breaks, another padding) is the same value.
 */
export function sameSecretData(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => {
    const other = b[k];
    return other !== undefined && Buffer.from(a[k] ?? '', 'base64').equals(Buffer.from(other, 'base64'));
  });
}
