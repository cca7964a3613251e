// Leader election on a coordination.k8s.io/v1 Lease, the way client-go's leaderelection does it:
//   - every retryPeriod each candidate reads the Lease; it may take it when it does not exist,
//     has no holder (released), or has not changed for leaseDurationSeconds as measured on the
//     candidate's own clock since it last saw the record change (no clock-skew assumptions);
//   - every write is a PUT carrying the resourceVersion that was read, so of two candidates
//     racing for one Lease exactly one wins (the other gets 409 Conflict);
//   - the leader renews every retryPeriod; if it has not renewed for renewDeadline it calls
//     onStoppedLeading (renewDeadline < leaseDuration, so it stops before anyone may take over)
//     and goes back to contending;
//   - stop() releases the Lease (no holder, leaseDurationSeconds 1) so a successor takes over
//     on its next retry instead of waiting out the lease.
// Leadership gates controllers only (STYLE habit 5). onStoppedLeading may return a promise
// (e.g. of Controller.stop()): stop() awaits it before releasing the Lease, so a successor never
// overlaps with in-flight reconciles, and after a lost renewal the elector awaits it before it
// contends again. onStartedLeading is not awaited (renewals must go on while controllers start);
// it may be called again after onStoppedLeading — a stopped Controller cannot be restarted, so
// build new ones (or exit).
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { jittered } from '../../../common/src/backoff.js';
import { kubeRequest, namespacedPath, statusCodeOf } from './kube-request.js';

/** Candidates retry after one to 1.2 retry periods, so they do not collide every time. */
const CANDIDATE_JITTER = { min: 1, max: 1.2 };

export interface LeaderElector {
  start(): void;
  /**
   * Stops contending; if leading, calls (and awaits) onStoppedLeading, then releases the Lease
   * unless releaseOnStop is false.
   */
  stop(): Promise<void>;
  isLeader(): boolean;
}

export interface LeaderElectorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  /** Unique per replica, e.g. the pod name plus a random suffix. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
  /** Default true. false makes stop() leave the Lease as it is — a crashed leader (for tests). */
  releaseOnStop?: boolean;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** metav1.MicroTime wants exactly six fractional digits (RFC3339Micro). */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function createLeaderElector(opts: LeaderElectorOptions): LeaderElector {
  const leaseDurationMs = opts.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = opts.retryPeriodMs ?? 2_000;
  if (!(renewDeadlineMs < leaseDurationMs)) throw new Error('renewDeadlineMs must be below leaseDurationMs');
  if (!(retryPeriodMs < renewDeadlineMs)) throw new Error('retryPeriodMs must be below renewDeadlineMs');
  const leaseDurationSeconds = Math.max(1, Math.ceil(leaseDurationMs / 1000));
  const requestTimeoutMs = Math.max(1_000, Math.min(retryPeriodMs, renewDeadlineMs / 2));
  const path = namespacedPath('coordination.k8s.io/v1', 'leases', opts.namespace, opts.name);
  const collection = namespacedPath('coordination.k8s.io/v1', 'leases', opts.namespace);
  const log = opts.logger.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  const kc = opts.kubeConfig;

  let leading = false;
  let running = false;
  let lastRenewAt = 0;
  let observedRv: string | undefined;
  let observedAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;

  const call = async (name: string, fn: () => void | Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      log.error({ err }, `${name} callback failed`);
    }
  };

  const observe = (lease: Lease, now: number) => {
    if (lease.metadata.resourceVersion !== observedRv) {
      observedRv = lease.metadata.resourceVersion;
      observedAt = now;
    }
  };

  /** A PUT of the Lease as read with a new spec: a 409 when anyone wrote it since. */
  const replaceSpec = (lease: Lease, spec: LeaseSpec) =>
    kubeRequest<Lease>(kc, { method: 'PUT', path, timeoutMs: requestTimeoutMs, body: { ...lease, spec } });

  /** One attempt; true when this candidate holds the Lease afterwards. */
  const tryAcquireOrRenew = async (): Promise<boolean> => {
    const now = Date.now();
    const stamp = microTime(new Date(now));
    let lease: Lease;
    try {
      lease = await kubeRequest<Lease>(kc, { path, timeoutMs: requestTimeoutMs });
    } catch (err) {
      if (statusCodeOf(err) !== 404) throw err;
      const created = await kubeRequest<Lease>(kc, {
        method: 'POST',
        path: collection,
        timeoutMs: requestTimeoutMs,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: opts.name, namespace: opts.namespace },
          spec: {
            holderIdentity: opts.identity,
            leaseDurationSeconds,
            acquireTime: stamp,
            renewTime: stamp,
            leaseTransitions: 0,
          },
        } satisfies Lease,
      });
      observe(created, now);
      return true;
    }
    observe(lease, now);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const heldMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (holder && holder !== opts.identity && now < observedAt + heldMs) return false;
    const mine = holder === opts.identity;
    const updated = await replaceSpec(lease, {
      holderIdentity: opts.identity,
      leaseDurationSeconds,
      acquireTime: mine && spec.acquireTime ? spec.acquireTime : stamp,
      renewTime: stamp,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
    });
    observe(updated, now);
    if (!mine) log.info({ previousHolder: holder || undefined }, 'acquired lease');
    return true;
  };

  const tick = async () => {
    let held = false;
    try {
      held = await tryAcquireOrRenew();
    } catch (err) {
      const code = statusCodeOf(err);
      if (code === 409) log.debug('lease changed under us (409); retrying');
      else log.warn({ err: err instanceof Error ? err.message : String(err) }, 'lease request failed');
    }
    if (!running) return;
    const now = Date.now();
    if (held) {
      lastRenewAt = now;
      if (!leading) {
        leading = true;
        log.info('started leading');
        void call('onStartedLeading', opts.onStartedLeading);
      }
    } else if (leading && now - lastRenewAt > renewDeadlineMs) {
      leading = false;
      log.warn({ renewDeadlineMs }, 'could not renew the lease in time; stopped leading');
      await call('onStoppedLeading', opts.onStoppedLeading);
    }
  };

  const schedule = (delayMs: number) => {
    timer = setTimeout(() => {
      inFlight = tick().finally(() => {
        inFlight = undefined;
        // Candidates spread their retries; the leader renews on time.
        if (running) schedule(leading ? retryPeriodMs : jittered(retryPeriodMs, CANDIDATE_JITTER));
      });
    }, delayMs);
  };

  const release = async () => {
    try {
      const lease = await kubeRequest<Lease>(kc, { path, timeoutMs: requestTimeoutMs });
      if (lease.spec?.holderIdentity !== opts.identity) return;
      const stamp = microTime(new Date());
      await replaceSpec(lease, {
        leaseDurationSeconds: 1,
        acquireTime: stamp,
        renewTime: stamp,
        leaseTransitions: lease.spec.leaseTransitions ?? 0,
      });
      log.info('released lease');
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not release the lease');
    }
  };

  return {
    start() {
      if (running) return;
      running = true;
      schedule(0);
    },
    async stop() {
      if (!running) return;
      running = false;
      clearTimeout(timer);
      await inFlight;
      if (leading) {
        leading = false;
        await call('onStoppedLeading', opts.onStoppedLeading);
      }
      // Also when not (yet) leading: an attempt that won the Lease may have raced with stop().
      if (opts.releaseOnStop !== false) await release();
    },
    isLeader: () => leading,
  };
}
