// `oneclaw sync refresh <namespace>/<name>`: asks the operator to re-read a SecretSync's secrets
// from the API now, by setting its refresh annotation to the current time. It talks to Kubernetes,
// not to the oneclaw API: credentials come from KUBECONFIG or the default kubeconfig, as kubectl's.
import type { Command } from 'commander';
import { CliError, EXIT, usage } from '../lib/errors.js';
import { emit, printLine } from '../lib/output.js';
import { context } from './context.js';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** `namespace/name`, or `name` in the kubeconfig context's namespace (else `default`), as kubectl reads it. */
export function parseSyncRef(
  ref: string,
  contextNamespace: string | undefined,
): { namespace: string; name: string } {
  const parts = ref.split('/');
  const [namespace, name] = parts.length === 1 ? [contextNamespace || 'default', parts[0]] : parts;
  if (parts.length > 2 || !namespace || !name || !NAME.test(namespace) || !NAME.test(name))
    throw usage(`expected <namespace>/<name> of a SecretSync, got ${JSON.stringify(ref)}`);
  return { namespace, name };
}

export function register(program: Command): void {
  const sync = program
    .command('sync')
    .description('SecretSyncs in a Kubernetes cluster (kubeconfig as kubectl)');

  sync
    .command('refresh <namespace/name>')
    .description("re-read a SecretSync's secrets from the API now (sets oneclaw.dev/refresh-requested-at)")
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      const { KubeConfig } = await import('@kubernetes/client-node');
      const { kubeRequest, namespacedPath, statusCodeOf } = await import(
        '../../../operator/src/runtime/kube-request.js'
      );
      const { API_VERSION, PLURAL_SYNCS, REFRESH_ANNOTATION } = await import(
        '../../../operator/src/apis/v1alpha1/types.js'
      );
      const kc = new KubeConfig();
      try {
        kc.loadFromDefault();
      } catch (err) {
        throw new CliError(EXIT.usage, `cannot read the kubeconfig: ${(err as Error).message}`);
      }
      if (!kc.getCurrentCluster()) throw new CliError(EXIT.usage, 'the kubeconfig names no current cluster');
      const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
      const { namespace, name } = parseSyncRef(ref, contextNamespace);
      const requestedAt = new Date().toISOString();
      try {
        await kubeRequest(kc, {
          method: 'PATCH',
          path: namespacedPath(API_VERSION, PLURAL_SYNCS, namespace, name),
          contentType: 'application/merge-patch+json',
          body: { metadata: { annotations: { [REFRESH_ANNOTATION]: requestedAt } } },
          timeoutMs: 30_000,
        });
      } catch (err) {
        const status = statusCodeOf(err);
        if (status === 404) throw new CliError(EXIT.notFound, `SecretSync ${namespace}/${name} not found`);
        if (status === 401)
          throw new CliError(EXIT.auth, `Kubernetes refused the credentials: ${(err as Error).message}`);
        if (status === 403)
          throw new CliError(EXIT.denied, `not allowed to patch SecretSync ${namespace}/${name}`);
        if (status === undefined || status >= 500)
          throw new CliError(EXIT.unavailable, `Kubernetes API unavailable: ${(err as Error).message}`);
        throw new CliError(EXIT.error, (err as Error).message);
      }
      emit(ctx.format, { namespace, name, requestedAt }, () =>
        printLine(
          `refresh of SecretSync ${namespace}/${name} requested (${REFRESH_ANNOTATION}=${requestedAt})`,
        ),
      );
    });
}
