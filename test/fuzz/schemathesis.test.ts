// Schemathesis against a real API process, with every check: once as a member holding one grant,
// then as an org admin, each with stateful sequences (links inferred from the document) and a
// seeded vault id, so generated requests reach real vaults and secrets. Then the canary secret
// values are looked for in the server's log, every audit record and /metrics.
// Budget: FUZZ_MAX_EXAMPLES per operation and FUZZ_MAX_SECONDS per run; FUZZ_SEED replays a run.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migratedDatabase, type TestDatabase } from '../support/db.js';
import {
  auditSources,
  findCanaries,
  formatHits,
  logFileSources,
  metricsSources,
  newCanary,
} from '../support/leak-scan.js';
import { type OneclawServer, serverEnv, startOneclaw } from '../support/server-process.js';
import { repoRoot, tools } from '../support/tools.js';

const MAX_EXAMPLES = Number(process.env.FUZZ_MAX_EXAMPLES ?? 15);
const MAX_SECONDS = Number(process.env.FUZZ_MAX_SECONDS ?? 75);
const SEED = Number(process.env.FUZZ_SEED ?? randomBytes(4).readUInt32BE(0));

let db: TestDatabase | undefined;
let dir = '';
let server: OneclawServer | undefined;
let adminKey = '';
let adminToken = '';
let adminId = '';
let memberToken = '';
let memberId = '';
let agentId = '';
let vaultId = '';
let kmsKey = '';
const canaries: string[] = [];

afterAll(async () => {
  await server?.proc.stop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The fields the setup reads from the API's answers. */
interface Json {
  access_token: string;
  id: string;
  kms_key: string;
  api_key: string;
  user: { id: string };
  agent: { id: string };
}

async function call(method: string, path: string, token: string | null, body?: unknown) {
  const res = await fetch(`${server?.url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as Json;
}

/** The subject id inside an access token (`user:<id>`). */
const subjectId = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { sub: string }).sub.split(
    ':',
  )[1] ?? '';

function config(): string {
  return [
    // Schema-valid data may meet a state that refuses it: 409 (a conflict) is accepted by default,
    // and 410 is its kin here: a secret version that was destroyed, expired or used up is gone
    // however well-formed the request (SPEC: 410 expired or over access count).
    '[checks.positive_data_acceptance]',
    'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "410", "429", "5xx"]',
    '[phases.stateful.inference]',
    'algorithms = ["location-headers", "dependency-analysis"]',
    '[dictionaries.vaults]',
    `values = ["${vaultId}"]`,
    // A long poll may wait up to 60 s; most generated waits are kept short so the budget tests more.
    '[dictionaries.short-waits]',
    'values = [0, 1]',
    '[parameters]',
    '"path.vault_id" = { dictionary = "vaults", probability = 0.7 }',
    '"query.wait" = { dictionary = "short-waits", probability = 0.9 }',
    // A long poll answers after up to `wait` (≤ 60) seconds by design; every other operation keeps
    // the check's default limit.
    '[[operations]]',
    'include-path = "/v1/vaults/{vault_id}/events"',
    'checks.max_response_time = 62',
    '',
  ].join('\n');
}

async function schemathesis(
  label: string,
  token: string,
): Promise<{ code: number; out: string; ms: number }> {
  const configFile = join(dir, `${label}.toml`);
  writeFileSync(configFile, config());
  const args = [
    '--config-file',
    configFile,
    'run',
    `${server?.url}/openapi.json`,
    '--checks',
    'all',
    '--max-examples',
    String(MAX_EXAMPLES),
    '--max-time',
    String(MAX_SECONDS),
    '--seed',
    String(SEED),
    '--header',
    `Authorization: Bearer ${token}`,
    '--workers',
    '2',
    '--request-timeout',
    '65',
    '--no-color',
    // The generator drops every path parameter value that contains "/", and a secret path
    // matches its pattern with any number of segments: the health check that counts dropped
    // values would stop those operations. It is a generation health check, not a response check.
    '--suppress-health-check',
    'filter_too_much',
  ];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(tools.schemathesis(), args, {
      cwd: dir,
      env: {
        ...process.env,
        PYTHONPATH: join(repoRoot, 'test/fuzz'),
        SCHEMATHESIS_HOOKS: 'hooks',
        FUZZ_KMS_KEY: kmsKey,
        FUZZ_OWN_USER_ID: adminId,
        FUZZ_MEMBER_ID: memberId,
        FUZZ_AGENT_ID: agentId,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out, ms: Date.now() - started }));
  });
}

/** The summary block of a run (from `SUMMARY`), or its tail. */
const summary = (out: string) => {
  const i = out.lastIndexOf('SUMMARY');
  return i >= 0 ? out.slice(i) : out.slice(-4000);
};

beforeAll(async () => {
  db = await migratedDatabase();
  dir = mkdtempSync(join(tmpdir(), 'oneclaw-fuzz-'));
  const made = serverEnv(dir, db.url, { ONECLAW_LOG_LEVEL: 'info' });
  adminKey = made.adminKey;
  server = await startOneclaw('oneclaw-fuzz', made.env, dir);
  adminToken = (await call('POST', '/v1/auth/token', null, { api_key: adminKey })).access_token;
  adminId = subjectId(adminToken);
  const vault = await call('POST', '/v1/vaults', adminToken, { name: 'fuzz' });
  vaultId = vault.id;
  kmsKey = vault.kms_key;
  for (const path of ['app/db/password', 'app/api-key', 'ci/token']) {
    const canary = newCanary();
    canaries.push(canary);
    await call('PUT', `/v1/vaults/${vaultId}/secrets/${path}`, adminToken, {
      type: 'password',
      value: canary,
    });
  }
  const member = await call('POST', '/v1/users', adminToken, { name: 'fuzz-member', role: 'member' });
  await call('POST', `/v1/vaults/${vaultId}/policies`, adminToken, {
    principal_type: 'user',
    principal_id: member.user.id,
    secret_path_pattern: '**',
    permissions: ['read', 'write', 'list', 'delete'],
  });
  memberToken = (await call('POST', '/v1/auth/token', null, { api_key: member.api_key })).access_token;
  memberId = member.user.id;
  agentId = (await call('POST', '/v1/agents', adminToken, { name: 'fuzz-agent' })).agent.id;
  console.log(`schemathesis seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
}, 120_000);

// The member runs first: the admin's run may disable the member or revoke its grant.
for (const who of ['member', 'admin'] as const) {
  it(`finds no server error and no check failure as ${who === 'admin' ? 'an org admin' : 'a member'}`, async () => {
    const r = await schemathesis(who, who === 'admin' ? adminToken : memberToken);
    const tail = summary(r.out);
    console.log(`schemathesis as ${who}: exit ${r.code} in ${(r.ms / 1000).toFixed(0)} s\n${tail}`);
    expect(r.code, `schemathesis as ${who} (seed ${SEED}):\n${r.out.slice(-12000)}`).toBe(0);
  }, 240_000);
}

it('leaves no canary value in the log, the audit records or /metrics', async () => {
  const sources = {
    ...logFileSources([server?.proc.logFile ?? '']),
    ...(await auditSources(server?.url ?? '', adminKey)),
    ...(await metricsSources({ api: server?.url ?? '' })),
  };
  expect(Object.keys(sources).length).toBeGreaterThan(2);
  const hits = findCanaries(canaries, sources);
  expect(hits, formatHits(hits)).toEqual([]);
}, 60_000);
