// Leader election between candidates in one process, on the shared apiserver's Lease API.
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigFor, sharedPeer, uniqueName } from '../../../test/support/fixtures.js';
import { createLeaderElector, type LeaderElector, microTime } from './leader.js';
import { eventually } from './test-helpers.js';

const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300 };

interface Candidate {
  identity: string;
  elector: LeaderElector;
  started: number[];
  stopped: number[];
}

describe('leader election', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let leases: CoordinationV1Api;
  const ns = uniqueName('rt-leader');
  const all: Candidate[] = [];

  beforeAll(async () => {
    const info = await sharedPeer('kube');
    kc = kubeConfigFor(info.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    leases = kc.makeApiClient(CoordinationV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  afterEach(async () => {
    await Promise.all(all.splice(0).map((c) => c.elector.stop()));
  });

  afterAll(async () => {
    await core?.deleteNamespace({ name: ns }).catch(() => {});
  });

  function candidate(
    lease: string,
    identity: string,
    extra: { releaseOnStop?: boolean; stoppingTakesMs?: number } = {},
  ): Candidate {
    const c: Candidate = {
      identity,
      started: [],
      stopped: [],
      elector: undefined as unknown as LeaderElector,
    };
    c.elector = createLeaderElector({
      kubeConfig: kc,
      namespace: ns,
      name: lease,
      identity,
      logger: pino({ level: 'silent' }),
      onStartedLeading: () => {
        c.started.push(Date.now());
      },
      onStoppedLeading: async () => {
        if (extra.stoppingTakesMs) await sleep(extra.stoppingTakesMs);
        c.stopped.push(Date.now());
      },
      ...timing,
      releaseOnStop: extra.releaseOnStop,
    });
    all.push(c);
    return c;
  }

  const holder = async (lease: string) =>
    (await leases.readNamespacedLease({ name: lease, namespace: ns })).spec?.holderIdentity ?? '';

  it('formats MicroTime with six fractional digits', () => {
    expect(microTime(new Date('2025-01-02T03:04:05.678Z'))).toBe('2025-01-02T03:04:05.678000Z');
  });

  it('elects exactly one of two candidates, and leadership is stable', async () => {
    const lease = uniqueName('lease');
    const a = candidate(lease, 'a');
    const b = candidate(lease, 'b');
    a.elector.start();
    b.elector.start();
    const leader = await eventually('a leader', () => [a, b].find((c) => c.elector.isLeader()));
    for (let i = 0; i < 12; i++) {
      expect([a, b].filter((c) => c.elector.isLeader())).toEqual([leader]);
      await sleep(100);
    }
    expect(await holder(lease)).toBe(leader.identity);
    expect(leader.started).toHaveLength(1);
    expect(leader.stopped).toHaveLength(0);
    const other = leader === a ? b : a;
    expect(other.started).toHaveLength(0);
  });

  it('hands over within a retry period when the leader stops and releases', async () => {
    const lease = uniqueName('lease');
    const a = candidate(lease, 'a');
    a.elector.start();
    await eventually('a leads', () => a.elector.isLeader());
    const b = candidate(lease, 'b');
    b.elector.start();
    await sleep(400); // b has seen a's lease
    expect(b.elector.isLeader()).toBe(false);
    const stoppedAt = Date.now();
    await a.elector.stop();
    expect(a.stopped).toHaveLength(1);
    expect(a.elector.isLeader()).toBe(false);
    await eventually('b leads', () => b.elector.isLeader(), 5_000, 10);
    const took = Date.now() - stoppedAt;
    expect(took).toBeLessThan(timing.leaseDurationMs / 2); // ≈ one retry period, not a lease duration
    expect(await holder(lease)).toBe('b');
    const l = await leases.readNamespacedLease({ name: lease, namespace: ns });
    expect(l.spec?.leaseTransitions).toBe(1); // created by a (0), taken by b (1)
  });

  it('releases only after onStoppedLeading has finished (controllers stopped)', async () => {
    const lease = uniqueName('lease');
    const a = candidate(lease, 'a', { stoppingTakesMs: 500 });
    a.elector.start();
    await eventually('a leads', () => a.elector.isLeader());
    const b = candidate(lease, 'b');
    b.elector.start();
    await sleep(400);
    const stopping = a.elector.stop();
    await sleep(400);
    expect(b.elector.isLeader()).toBe(false); // a's controllers are still stopping
    expect(await holder(lease)).toBe('a');
    await stopping;
    const stoppedAt = a.stopped[0] ?? 0;
    await eventually('b leads', () => b.elector.isLeader(), 5_000, 10);
    expect(b.started[0]).toBeGreaterThanOrEqual(stoppedAt);
  });

  it('takes over from a crashed leader only after the lease duration', async () => {
    const lease = uniqueName('lease');
    const a = candidate(lease, 'a', { releaseOnStop: false });
    a.elector.start();
    await eventually('a leads', () => a.elector.isLeader());
    const b = candidate(lease, 'b');
    b.elector.start();
    await sleep(400);
    const killedAt = Date.now();
    await a.elector.stop(); // stops renewing, leaves the Lease as it is
    expect(await holder(lease)).toBe('a');
    await eventually('b leads', () => b.elector.isLeader(), 10_000, 25);
    const took = Date.now() - killedAt;
    expect(took).toBeGreaterThanOrEqual(timing.leaseDurationMs - 2 * timing.retryPeriodMs);
    expect(took).toBeLessThan(timing.leaseDurationMs + 2_000);
    expect(await holder(lease)).toBe('b');
  });
});
