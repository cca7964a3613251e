// CLI entry of the GCP KMS emulator:
//   npx tsx test/support/gcp-kms-emulator/main.ts --port 0 [--host 127.0.0.1]
// Prints `gcp-kms-emulator listening on <host>:<port>` once ready; RPC log lines go to stderr.
// SIGTERM or SIGINT shuts it down.

import { parseArgs } from 'node:util';
import { startGcpKmsEmulator } from './server.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port: ${values.port}`);

  const emulator = await startGcpKmsEmulator({
    host: values.host,
    port,
    log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
  });
  process.stdout.write(`gcp-kms-emulator listening on ${emulator.host}:${emulator.port}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal} received, shutting down\n`);
    emulator.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `gcp-kms-emulator failed to start: ${err instanceof Error ? err.stack : String(err)}\n`,
  );
  process.exit(1);
});
