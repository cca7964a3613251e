// What the e2e scenarios need from an installation, whichever way it was made: the local control
// plane with the API and the operator as processes under the chart's RBAC (the default), or a
// kind cluster with the chart installed by hack/kind-up.sh (E2E_CLUSTER=kind).

export interface E2eEnvironment {
  mode: 'local' | 'kind';
  /** An admin kubeconfig: the test acts as the cluster's user (creates namespaces, CRs, workloads). */
  kubeconfig: string;
  release: string;
  /** The release namespace (the operator's Lease lives here). */
  namespace: string;
  /** The API's base URL as the test reaches it. */
  apiUrl: string;
  /** An org admin API key of the installation (the bootstrap key). */
  adminApiKey: string;
  /** ONECLAW_K8S_AUDIENCE of the installation. */
  audience: string;
  /** The operator's ServiceAccount (its identity in Kubernetes and in the API). */
  operatorServiceAccount: string;
  apiServiceAccount: string;
  /** The chart's objects that an uninstall removes (kind/name/namespace), CRDs excluded. */
  chartObjects: Array<{ apiVersion: string; kind: string; name: string; namespace?: string }>;
  crdNames: string[];
  /** Whether the API answers /readyz and the operator /readyz. */
  apiReady(): Promise<boolean>;
  operatorReady(): Promise<boolean>;
  /** Stops every operator replica (scale to zero / SIGTERM), letting it release its Lease. */
  stopOperator(): Promise<void>;
  /** Removes what the chart installed (`helm uninstall`; locally: the API process and the chart's objects). */
  uninstall(): Promise<void>;
  /** Recent output of the API and the operator, for failure messages. */
  logs(): string;
  /**
   * Where the API and the operator could have written a secret value, for the leak scan: their
   * whole logs, their /metrics and the audit log (read as the admin). A stopped process is
   * shown as it was just before it stopped; `problems` names what could not be read.
   */
  leakSources(): Promise<ProcessLeakSources>;
  close(): Promise<void>;
}

export interface ProcessLeakSources {
  logs: Record<string, string>;
  metrics: Record<string, string>;
  audit: Record<string, string>;
  problems: string[];
}

/**
 * Leak sources gathered while the processes still run (their /metrics and the audit log go with
 * them): `capture` adds what a read returns, and records a failed read as a problem, since a
 * place that could not be read must not pass the scan silently.
 */
export function leakSourceCollector() {
  const captured: ProcessLeakSources = { logs: {}, metrics: {}, audit: {}, problems: [] };
  const capture = async (
    what: string,
    read: () => Promise<Record<string, string>>,
    into: keyof Omit<ProcessLeakSources, 'problems'>,
  ) => {
    try {
      Object.assign(captured[into], await read());
    } catch (err) {
      captured.problems.push(`${what}: ${(err as Error).message}`);
    }
  };
  return { captured, capture };
}

export async function startEnvironment(): Promise<E2eEnvironment> {
  const cluster = process.env.E2E_CLUSTER ?? 'local';
  if (cluster === 'kind') return (await import('./kind.js')).connectKind();
  if (cluster === 'local') return (await import('./local.js')).startLocalInstall();
  throw new Error(`E2E_CLUSTER=${cluster}: expected "local" (default) or "kind"`);
}
