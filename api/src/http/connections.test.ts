// A close waits for the requests in flight, not for clients that hold a connection open without
// a request: a pre-opened socket that never sent one, or a keep-alive connection whose request
// ended after the close began.
import { once } from 'node:events';
import { Agent, createServer, request, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { trackConnections } from './connections.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.closeAllConnections();
});

async function listen(handler: Parameters<typeof createServer>[1]) {
  const server = createServer({ keepAliveTimeout: 72_000 }, handler);
  servers.push(server);
  const tracker = trackConnections(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, tracker, port: (server.address() as AddressInfo).port };
}

/** Resolves with how long server.close() took, or 'still open' after `limitMs`. */
function closeWithin(server: Server, limitMs: number): Promise<number | 'still open'> {
  const t0 = Date.now();
  return Promise.race([
    new Promise<number>((resolve) => server.close(() => resolve(Date.now() - t0))),
    new Promise<'still open'>((resolve) => setTimeout(resolve, limitMs, 'still open')),
  ]);
}

describe('trackConnections: closing does not wait on idle clients', () => {
  it('ends a connection that never sent a request', async () => {
    const { server, tracker, port } = await listen((_req, res) => res.end('ok'));
    const idle = connect(port, '127.0.0.1');
    await once(idle, 'connect');
    const closed = once(idle, 'close');
    tracker.closeWhenIdle();
    expect(await closeWithin(server, 2_000)).not.toBe('still open');
    await closed;
  });

  it('lets a request in flight finish, then ends its keep-alive connection', async () => {
    let arrived: (release: () => void) => void = () => {};
    const inHandler = new Promise<() => void>((resolve) => {
      arrived = resolve;
    });
    const { server, tracker, port } = await listen((_req, res) => arrived(() => res.end('done')));
    const agent = new Agent({ keepAlive: true });
    const response = new Promise<string>((resolve, reject) => {
      request({ port, host: '127.0.0.1', agent }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
    const release = await inHandler;
    tracker.closeWhenIdle();
    const closing = closeWithin(server, 2_000);
    release();
    expect(await response).toBe('done');
    expect(await closing).not.toBe('still open');
    agent.destroy();
  });

  it('forgets a connection whose client aborted its request', async () => {
    const { tracker, port } = await listen((_req, res) => {
      setTimeout(() => res.end('late'), 200);
    });
    for (let i = 0; i < 5; i++) {
      const req = request({ port, host: '127.0.0.1' });
      req.on('error', () => {});
      req.end();
      await new Promise((resolve) => setTimeout(resolve, 50));
      req.destroy();
    }
    // Every aborted request's response closes after its socket; none may be tracked again.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(tracker.openConnections()).toBe(0);
  });
});
