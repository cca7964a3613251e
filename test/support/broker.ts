// The peer broker runs in vitest's main process (see global-setup.ts). It starts a peer the
// first time any test file asks for it, shares it with every later file of the run, and stops
// everything at the end of the run, whether tests passed or not. Nothing starts eagerly, so a
// run starts exactly the peers its suites need. Suites isolate themselves inside a shared peer
// (their own database, namespace, key names); a suite that must restart or break a peer starts
// a private one with the start functions in peers/.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Peer } from './peers/common.js';
import { type GcpKmsInfo, startGcpKms } from './peers/gcpkms.js';
import { type KubeInfo, startKube } from './peers/kube.js';
import { type MotoInfo, startMoto } from './peers/moto.js';
import { type OpenBaoInfo, startOpenBao } from './peers/openbao.js';
import { type PostgresInfo, startPostgres } from './peers/postgres.js';

export interface SharedPeers {
  postgres: PostgresInfo;
  kube: KubeInfo;
  openbao: OpenBaoInfo;
  moto: MotoInfo;
  gcpkms: GcpKmsInfo;
}
export type SharedPeerName = keyof SharedPeers;

const starters: { [N in SharedPeerName]: () => Promise<Peer<SharedPeers[N]>> } = {
  postgres: startPostgres,
  kube: startKube,
  openbao: startOpenBao,
  moto: startMoto,
  gcpkms: startGcpKms,
};

function isSharedPeerName(name: string): name is SharedPeerName {
  return Object.hasOwn(starters, name);
}

export interface PeerBroker {
  url: string;
  /** Names of the peers started so far, in start order. */
  started(): SharedPeerName[];
  close(): Promise<void>;
}

export async function startPeerBroker(): Promise<PeerBroker> {
  const peers = new Map<SharedPeerName, Promise<Peer<unknown>>>();
  const order: SharedPeerName[] = [];

  const get = (name: SharedPeerName): Promise<Peer<unknown>> => {
    let p = peers.get(name);
    if (!p) {
      p = (starters[name] as () => Promise<Peer<unknown>>)();
      peers.set(name, p);
      p.then(
        () => order.push(name),
        () => peers.delete(name), // let the next suite try again, and see the error itself
      );
    }
    return p;
  };

  const server: Server = createServer((req, res) => {
    const m = /^\/peers\/([a-z0-9]+)$/.exec(req.url ?? '');
    const name = m?.[1];
    if (req.method !== 'POST' || !name || !isSharedPeerName(name)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `unknown peer request ${req.method} ${req.url}` }));
      return;
    }
    get(name).then(
      (peer) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(peer.info));
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: `starting ${name}: ${err instanceof Error ? err.message : String(err)}` }),
        );
      },
    );
  });
  // A cold control plane can take a while; never time out a waiting suite here.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    started: () => [...order],
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const all = await Promise.allSettled(peers.values());
      await Promise.allSettled(all.flatMap((r) => (r.status === 'fulfilled' ? [r.value.stop()] : [])));
      peers.clear();
    },
  };
}
