// `oneclaw server`: the API. Its modules (fastify, pg, the KMS SDKs) load only when it runs, so
// the human commands start fast.
import type { Command } from 'commander';
import { stopOnSignals } from '../lib/signals.js';

export function register(program: Command): void {
  program
    .command('server')
    .description('run the API server (configuration from ONECLAW_* environment variables; see docs/api.md)')
    .action(async () => {
      const { ConfigError } = await import('../../../common/src/environment.js');
      const { loadConfig } = await import('../../../api/src/config.js');
      const { KmsBootError } = await import('../../../api/src/kms/boot.js');
      const { createLogger, startServer } = await import('../../../api/src/server.js');
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
        stopOnSignals(logger, () => server.close());
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
}
