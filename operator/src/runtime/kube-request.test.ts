// Requests to the apiserver share keep-alive connections: a KubeConfig makes a new agent for
// every request, which would cost a TCP connection and a TLS handshake each (at thousands of
// SecretSyncs, the apiserver's CPU). Counted at a TCP relay in front of the real apiserver.

import type { AddressInfo } from 'node:net';
import { connect, createServer, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigFor, sharedPeer } from '../../../test/support/fixtures.js';
import { kubeRequest, kubeText } from './kube-request.js';

describe('kubeRequest', () => {
  let kc: KubeConfig;
  let connections = 0;
  /** Set: the relay resets the connection the next request arrives on, as a server closing it idle. */
  let resetNext = false;
  let resets = 0;
  const sockets = new Set<Socket>();
  const relay = createServer();

  beforeAll(async () => {
    const info = await sharedPeer('kube');
    const direct = kubeConfigFor(info.kubeconfig);
    const cluster = direct.getCurrentCluster();
    const user = direct.getCurrentUser();
    if (!cluster || !user) throw new Error('kubeconfig has no current cluster or user');
    const upstream = new URL(cluster.server);
    relay.on('connection', (client) => {
      connections++;
      const server = connect(Number(upstream.port), upstream.hostname);
      for (const s of [client, server]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => sockets.delete(s));
      }
      client.on('data', (chunk) => {
        if (resetNext) {
          resetNext = false;
          resets++;
          client.resetAndDestroy();
          server.destroy();
          return;
        }
        server.write(chunk);
      });
      server.pipe(client);
    });
    await new Promise<void>((resolve) => relay.listen(0, upstream.hostname, resolve));
    const { port } = relay.address() as AddressInfo;
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ ...cluster, name: 'relay', server: `https://${upstream.hostname}:${port}` }],
      users: [user],
      contexts: [{ name: 'relay', cluster: 'relay', user: user.name }],
      currentContext: 'relay',
    });
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => relay.close(resolve));
  });

  it('reuses one connection for requests one after another', async () => {
    for (let i = 0; i < 5; i++) {
      await kubeRequest(kc, { path: '/api/v1/namespaces/default' });
      expect(await kubeText(kc, { path: '/healthz' })).toBe('ok');
    }
    expect(connections).toBe(1);
  });

  it('sends a request again on a new connection when its kept-alive one was reset', async () => {
    await kubeRequest(kc, { path: '/api/v1/namespaces/default' });
    const before = connections;
    resetNext = true;
    const ns = await kubeRequest<{ metadata: { name: string } }>(kc, { path: '/api/v1/namespaces/default' });
    expect(ns.metadata.name).toBe('default');
    expect(resets).toBe(1);
    expect(connections).toBe(before + 1);
  });
});
