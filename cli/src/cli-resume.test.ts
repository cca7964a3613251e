// `oneclaw cmek rotate` when the server holding the keys dies (kill -9) mid-job: the command
// exits 7 with the exact `--job` to resume, and running that against the restarted server
// finishes the same job with every secret under the new key.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  cmekEncrypt,
  cmekFingerprint,
  createClient,
  generateCmekKey,
  toBase64,
} from '../../sdk/src/index.js';
import { runCli } from '../../test/support/cli-run.js';
import { holdVersionLock, migratedDatabase, type TestDatabase } from '../../test/support/db.js';
import { waitFor } from '../../test/support/proc.js';
import { type OneclawServer, serverEnv, startOneclaw } from '../../test/support/server-process.js';

const SECRETS = 150;
let db: TestDatabase | undefined;
let dir: string | undefined;
const servers: OneclawServer[] = [];

afterAll(async () => {
  for (const s of servers) await s.proc.stop('SIGKILL');
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('resumes an interrupted server-side rotation with --job after kill -9', async () => {
  db = await migratedDatabase();
  dir = mkdtempSync(join(tmpdir(), 'oneclaw-cli-resume-'));
  const { env, adminKey } = serverEnv(dir, db.url, {
    ONECLAW_JOB_LEASE_MS: '2000',
    ONECLAW_AUTH_RATE_LIMIT: '0',
  });
  const first = await startOneclaw('oneclaw-cli-1', env, dir);
  servers.push(first);
  const admin = createClient({ baseUrl: first.url, credentials: { apiKey: adminKey } });

  const oldKey = await generateCmekKey();
  const newKey = await generateCmekKey();
  const oldFp = await cmekFingerprint(oldKey);
  const vault = await admin.vaults.create({ name: 'resume' });
  await admin.cmek.enable(vault.id, oldFp);
  await Promise.all(
    Array.from({ length: 10 }, async (_, w) => {
      for (let i = w; i < SECRETS; i += 10) {
        const value = toBase64(await cmekEncrypt(`v${i}`, oldKey));
        await admin.secrets.put(vault.id, `s/${i}`, { type: 'password', value, cmek_fingerprint: oldFp });
      }
    }),
  );
  const oldFile = join(dir, 'old.key');
  const newFile = join(dir, 'new.key');
  writeFileSync(oldFile, toBase64(oldKey), { mode: 0o600 });
  writeFileSync(newFile, toBase64(newKey), { mode: 0o600 });

  // A writer holding the last row keeps the job from finishing before the kill.
  const holder = await holdVersionLock(db.url, vault.id, 's/149');
  const args = [
    'cmek',
    'rotate',
    'resume',
    '--old-key-file',
    oldFile,
    '--new-key-file',
    newFile,
    '--interval',
    '50',
  ];
  const cli = (url: string, extra: string[] = []) =>
    runCli([...args, ...extra], { env: { ONECLAW_API_URL: url, ONECLAW_API_KEY: adminKey } });

  const running = cli(first.url);
  const jobId = await waitFor(
    'the rotation to be under way',
    async () => {
      const { rows } = await (db as TestDatabase).pool.query<{ id: string; processed: number }>(
        `SELECT id, processed FROM jobs WHERE vault_id = $1 AND kind = 'cmek-rotate'`,
        [vault.id],
      );
      return rows[0] && rows[0].processed >= 100 ? rows[0].id : undefined;
    },
    { intervalMs: 20, timeoutMs: 60_000 },
  );
  await first.proc.stop('SIGKILL');
  await holder.release();

  const cut = await running;
  expect(cut.code).toBe(7);
  expect(cut.stderr).toMatch(/rotating CMEK: \d+\/150/);
  expect(cut.stderr).toContain(`--job ${jobId} --old-key-file ${oldFile} --new-key-file ${newFile}`);
  expect(cut.stderr).not.toContain(toBase64(oldKey));

  const second = await startOneclaw('oneclaw-cli-2', env, dir);
  servers.push(second);
  const admin2 = createClient({ baseUrl: second.url, credentials: { apiKey: adminKey } });
  await waitFor(
    'the job to show interrupted',
    async () => ((await admin2.cmek.rotation(vault.id, jobId)).status === 'interrupted' ? true : undefined),
    { intervalMs: 200, timeoutMs: 30_000 },
  );

  const resumed = await cli(second.url, ['--job', jobId, '-o', 'json']);
  expect({ code: resumed.code, stderr: resumed.stderr }).toMatchObject({ code: 0 });
  expect(JSON.parse(resumed.stdout)).toMatchObject({
    id: jobId,
    status: 'succeeded',
    processed: SECRETS,
    total_secrets: SECRETS,
  });
  for await (const s of admin2.secrets.listAll(vault.id)) {
    expect(s.cmek_fingerprint).toBe(await cmekFingerprint(newKey));
  }
  const read = await admin2.cmek.getSecret(vault.id, 's/149', newKey);
  expect(new TextDecoder().decode(read.plaintext)).toBe('v149');
});
