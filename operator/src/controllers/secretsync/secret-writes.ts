// The Secrets this process writes, remembered until the informer reports them: a watch event
// carrying a write of ours is no news for the SecretSync that made it (no second reconcile per
// write), and a cached copy still at the version before our write is known to be behind (the
// apiserver is asked instead). The event may come before the write's answer: events arriving
// while a write is in flight are held and judged once its resourceVersion is known.
import type { V1Secret } from '@kubernetes/client-node';

export interface SecretWrites {
  /**
   * Runs one write of ours to a Secret (`before`: its resourceVersion before the write, none for
   * a create); resolves with the apiserver's answer.
   */
  write<T extends Written>(
    namespace: string,
    name: string,
    before: string | undefined,
    fn: () => Promise<T>,
  ): Promise<T>;
  /** Whether an event's Secret is a write of ours (held while a write is in flight). */
  ownEvent(secret: V1Secret): boolean;
  /** Whether the cached copy (undefined: none) predates a write of ours. */
  behind(namespace: string, name: string, cached: V1Secret | undefined): boolean;
}

export type Written = { metadata?: { resourceVersion?: string } } | undefined;

/** `missed`: an event held during a write that turned out not to be ours (it is news after all). */
export function createSecretWrites(missed: (secret: V1Secret) => void, max = 20_000): SecretWrites {
  // Insertion order is write order: past `max`, the oldest writes (their events long lost) go.
  const unseen = new Map<string, { before: string | undefined; after: string }>();
  const inFlight = new Map<string, V1Secret[]>();
  const id = (ns: string | undefined, name: string | undefined) => `${ns}/${name}`;
  const rv = (s: V1Secret) => s.metadata?.resourceVersion;
  return {
    async write<T extends Written>(
      namespace: string,
      name: string,
      before: string | undefined,
      fn: () => Promise<T>,
    ): Promise<T> {
      const key = id(namespace, name);
      const held: V1Secret[] = [];
      inFlight.set(key, held);
      unseen.delete(key);
      let res: T;
      try {
        res = await fn();
      } catch (err) {
        for (const s of held) missed(s);
        throw err;
      } finally {
        if (inFlight.get(key) === held) inFlight.delete(key);
      }
      const after = res?.metadata?.resourceVersion;
      for (const s of held) if (rv(s) !== after) missed(s);
      if (after !== undefined && !held.some((s) => rv(s) === after)) {
        unseen.set(key, { before, after });
        if (unseen.size > max) unseen.delete(unseen.keys().next().value as string);
      }
      return res;
    },
    ownEvent(secret) {
      const key = id(secret.metadata?.namespace, secret.metadata?.name);
      const held = inFlight.get(key);
      if (held) {
        held.push(secret);
        return true;
      }
      const w = unseen.get(key);
      if (!w || w.after !== rv(secret)) return false;
      unseen.delete(key);
      return true;
    },
    behind(namespace, name, cached) {
      const w = unseen.get(id(namespace, name));
      return w !== undefined && cached?.metadata?.resourceVersion === w.before;
    },
  };
}
