// `oneclaw operator`: the Kubernetes operator (optionally with the API in the same process). Its
// modules load only when it runs.
import type { Command } from 'commander';
import { stopOnSignals } from '../lib/signals.js';

/** Log fields that could carry a credential or a value (the API's own list covers its requests too). */
const LOG_REDACT = ['*.token', '*.access_token', '*.value', '*.password', '*.api_key'];

export function register(program: Command): void {
  program
    .command('operator')
    .description(
      'run the Kubernetes operator (ONECLAW_API_URL, ONECLAW_OPERATOR_*; in-cluster credentials or KUBECONFIG)',
    )
    .option('--embedded-api', 'also run the API server in this process (configured as `oneclaw server` is)')
    .action(async (opts: { embeddedApi?: boolean }) => {
      const { ConfigError } = await import('../../../common/src/environment.js');
      const { loadOperatorConfig } = await import('../../../operator/src/config.js');
      const embedded = opts.embeddedApi === true;
      // The API's modules (its server, database and KMS clients) load only with --embedded-api:
      // an operator of its own does not carry them in memory.
      const api = embedded
        ? { ...(await import('../../../api/src/config.js')), ...(await import('../../../api/src/server.js')) }
        : undefined;
      let operatorConfig: ReturnType<typeof loadOperatorConfig>;
      let apiConfig: ReturnType<NonNullable<typeof api>['loadConfig']> | undefined;
      try {
        operatorConfig = loadOperatorConfig(process.env, { embeddedApi: embedded });
        if (embedded) {
          // The embedded API trusts this cluster's service-account tokens and makes the operator's
          // own account an org admin, unless configured otherwise.
          const self = `system:serviceaccount:${operatorConfig.namespace}:${operatorConfig.serviceAccount}`;
          apiConfig = (api as NonNullable<typeof api>).loadConfig({
            ONECLAW_K8S_AUTH: 'tokenreview',
            ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: self,
            ONECLAW_K8S_AUDIENCE: operatorConfig.audience,
            ...process.env,
          });
        }
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(`oneclaw operator: ${err.message}\n`);
          process.exit(2);
        }
        throw err;
      }
      const level = apiConfig?.logLevel ?? process.env.ONECLAW_LOG_LEVEL ?? 'info';
      const logger = api
        ? api.createLogger(level)
        : (await import('pino')).default({ level, redact: { paths: LOG_REDACT, censor: '[redacted]' } });
      try {
        const { KubeConfig } = await import('@kubernetes/client-node');
        const { startOperator } = await import('../../../operator/src/operator.js');
        const server = api && apiConfig ? await api.startServer(apiConfig, { logger }) : undefined;
        if (server?.adminKey) {
          process.stderr.write(
            `\nFirst start: admin API key (shown once, store it now):\n\n  ${server.adminKey}\n\n`,
          );
        }
        const kubeConfig = new KubeConfig();
        kubeConfig.loadFromDefault();
        const operator = await startOperator({
          config: operatorConfig,
          kubeConfig,
          logger,
          apiUrl: (server?.url ?? operatorConfig.apiUrl) as string,
        });
        logger.info({ metrics: operator.metricsUrl }, 'operator running');
        stopOnSignals(logger, async () => {
          // Hands the Lease over at once, then stops the API.
          await operator.stop();
          await server?.close();
        });
      } catch (err) {
        logger.fatal({ err: { name: (err as Error).name, message: (err as Error).message } }, 'cannot start');
        process.stderr.write(`oneclaw operator: ${(err as Error).message}\n`);
        process.exit(1);
      }
    });
}
