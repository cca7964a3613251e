// `oneclaw`: the command-line entry. `oneclaw server` runs the API; the operator and the human
// commands (vault, secret, agent, policy, cmek, audit, kms) arrive with their issues.
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../../api/src/config.js';
import { KmsBootError } from '../../api/src/kms/boot.js';
import { createLogger, startServer, VERSION } from '../../api/src/server.js';

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

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`oneclaw: ${(err as Error).message}\n`);
  process.exit(1);
});
