// A minimal EventSource over fetch for tests of the change feed: the server-sent messages of a
// stream as they arrive, events parsed, with bounded waits.

export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

export interface FeedEvent {
  id: string;
  vault_id: string;
  kind: string;
  path: string | null;
  version: number | null;
  created_at: string;
}

/** A minimal EventSource over fetch: messages (and comments) as they arrive. */
export async function openStream(url: string, headers: Record<string, string>) {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ac.signal });
  const messages: SseMessage[] = [];
  let notify: (() => void) | undefined;
  let ended = false;
  const pump = (async () => {
    if (!res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const m: SseMessage = {};
          for (const line of block.split('\n')) {
            const at = line.indexOf(':');
            const field = at < 0 ? line : line.slice(0, at);
            const v = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
            if (field === '') m.comment = v;
            else if (field === 'id' || field === 'event' || field === 'data') m[field] = v;
          }
          messages.push(m);
          notify?.();
        }
      }
    } catch {
      // aborted
    } finally {
      ended = true;
      notify?.();
    }
  })();
  let read = 0;
  /** The next message with an event (comments skipped). */
  const next = async (
    timeoutMs = 5_000,
  ): Promise<{ id: string; event: string; data: FeedEvent; raw: string }> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      while (read < messages.length) {
        const m = messages[read++];
        if (m?.data !== undefined) {
          return { id: m.id ?? '', event: m.event ?? '', data: JSON.parse(m.data) as FeedEvent, raw: m.data };
        }
      }
      if (ended) throw new Error('stream ended');
      const left = end - Date.now();
      if (left <= 0) throw new Error('timed out waiting for an event');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        notify = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  };
  /** Collects events until none arrives for `quietMs`. */
  const drain = async (quietMs: number) => {
    const out: Awaited<ReturnType<typeof next>>[] = [];
    for (;;) {
      try {
        out.push(await next(quietMs));
      } catch {
        return out;
      }
    }
  };
  return {
    res,
    messages,
    next,
    drain,
    ended: () => ended,
    done: pump,
    close: async () => {
      ac.abort();
      await pump;
    },
  };
}
