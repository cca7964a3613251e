// `oneclaw`: the command-line entry. `oneclaw server` runs the API, `oneclaw operator` the
// Kubernetes operator; the human commands (vault, secret, agent, policy, cmek, audit, kms) arrive
// with their issues.
import { KubeConfig } from '@kubernetes/client-node';
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../../api/src/config.js';
import { KmsBootError } from '../../api/src/kms/boot.js';
import { createLogger, startServer, VERSION } from '../../api/src/server.js';
import { loadOperatorConfig } from '../../operator/src/config.js';
import { startOperator } from '../../operator/src/operator.js';

const program = new Command()
  .name('oneclaw')
  .description('Kubernetes-native secrets manager')
  .version(VERSION)
  .showHelpAfterError();

program
  .command('server')
  .description('run the API server (configuration from ONECLAW_* environment variables; see docs/api.md)')
  .action(async () => {
    let config: ReturnType<typeof loadConfig>;
    try {
      config = loadConfig();
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`oneclaw server: ${err.message}\n`);
        process.exit(2);
      }
      throw err;
    }
    const logger = createLogger(config.logLevel);
    try {
      const server = await startServer(config, { logger });
      if (server.adminKey) {
        // Shown once, on the terminal only: it is not a log record.
        process.stderr.write(
          `\nFirst start: created the organization and its admin user.\nAdmin API key (shown once, store it now):\n\n  ${server.adminKey}\n\nExchange it for a token: POST ${server.url}/v1/auth/token {"api_key": "…"}\n\n`,
        );
      }
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down');
        await server.close();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop('SIGTERM'));
      process.once('SIGINT', () => void stop('SIGINT'));
    } catch (err) {
      if (err instanceof KmsBootError || err instanceof ConfigError) {
        logger.fatal({ err: { name: err.name, message: err.message } }, 'cannot start');
        process.stderr.write(`oneclaw server: ${err.message}\n`);
        process.exit(1);
      }
      logger.fatal({ err }, 'cannot start');
      process.exit(1);
    }
  });

program
  .command('operator')
  .description(
    'run the Kubernetes operator (ONECLAW_API_URL, ONECLAW_OPERATOR_*; in-cluster credentials or KUBECONFIG)',
  )
  .option('--embedded-api', 'also run the API server in this process (configured as `oneclaw server` is)')
  .action(async (opts: { embeddedApi?: boolean }) => {
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
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down');
        // Hands the Lease over at once, then stops the API.
        await operator.stop();
        await server?.close();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop('SIGTERM'));
      process.once('SIGINT', () => void stop('SIGINT'));
    } catch (err) {
      logger.fatal({ err: { name: (err as Error).name, message: (err as Error).message } }, 'cannot start');
      process.stderr.write(`oneclaw operator: ${(err as Error).message}\n`);
      process.exit(1);
    }
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`oneclaw: ${(err as Error).message}\n`);
  process.exit(1);
});
