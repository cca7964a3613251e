/** A Map that forgets its least recently used entry beyond `max` entries. */
export function boundedCache<V>(max: number) {
  const entries = new Map<string, V>();
  return (key: string, make: () => V): V => {
    if (entries.has(key)) {
      const hit = entries.get(key) as V;
      entries.delete(key);
      entries.set(key, hit);
      return hit;
    }
    const value = make();
    if (entries.size >= max) {
      const oldest = entries.keys().next();
      if (!oldest.done) entries.delete(oldest.value);
    }
    entries.set(key, value);
    return value;
  };
}
