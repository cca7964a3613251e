// What test files use to reach peers. `sharedPeer('kube')` returns the run's shared control
// plane (started on first use); the helpers below give each suite its own space inside it.
import { KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import type { SharedPeerName, SharedPeers } from './broker.js';

export async function sharedPeer<N extends SharedPeerName>(name: N): Promise<SharedPeers[N]> {
  const broker = inject('peerBroker');
  if (!broker) throw new Error('no peer broker: run tests through vitest with test/support/global-setup.ts');
  const res = await fetch(`${broker}/peers/${name}`, { method: 'POST' });
  const body = (await res.json()) as SharedPeers[N] & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `peer broker answered HTTP ${res.status}`);
  return body;
}

/** A unique, DNS-1123-safe name for a suite's own resources. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

export function kubeConfigFor(kubeconfigPath: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}
