// `oneclaw operator`: the Kubernetes operator (optionally with the API in the same process). Its
// modules load only when it runs.
import type { Command } from 'commander';
import { stopOnSignals } from '../lib/signals.js';

export function register(program: Command): void {
  program
    .command('operator')
    .description(
      'run the Kubernetes operator (ONECLAW_API_URL, ONECLAW_OPERATOR_*; in-cluster credentials or KUBECONFIG)',
    )
    .option('--embedded-api', 'also run the API server in this process (configured as `oneclaw server` is)')
    .action(async (opts: { embeddedApi?: boolean }) => {
      const { ConfigError } = await import('../../../common/src/environment.js');
      const { loadConfig } = await import('../../../api/src/config.js');
      const { createLogger, startServer } = await import('../../../api/src/server.js');
      const { loadOperatorConfig } = await import('../../../operator/src/config.js');
      const embedded = opts.embeddedApi === true;
      let operatorConfig: ReturnType<typeof loadOperatorConfig>;
      let apiConfig: ReturnType<typeof loadConfig> | undefined;
      try {
        operatorConfig = loadOperatorConfig(process.env, { embeddedApi: embedded });
        if (embedded) {
          // The embedded API trusts this cluster's service-account tokens and makes the operator's
          // own account an org admin, unless configured otherwise.
          const self = `system:serviceaccount:${operatorConfig.namespace}:${operatorConfig.serviceAccount}`;
          apiConfig = loadConfig({
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
      const logger = createLogger(apiConfig?.logLevel ?? process.env.ONECLAW_LOG_LEVEL ?? 'info');
      try {
        const { KubeConfig } = await import('@kubernetes/client-node');
        const { startOperator } = await import('../../../operator/src/operator.js');
        const server = apiConfig ? await startServer(apiConfig, { logger }) : undefined;
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
