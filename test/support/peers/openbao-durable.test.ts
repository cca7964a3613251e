// The durable OpenBao peer is the benchmark's yardstick, so it must be what it claims: data in
// raft on disk, every request written by the file audit device its config declares, and KV v2
// served with the root token the peer initialized it with.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Peer } from './common.js';
import { type DurableOpenBaoInfo, startDurableOpenBao } from './openbao-durable.js';

// The fields the assertions read; toMatchObject checks the shape.
interface BaoBody {
  data: { data: unknown; config: { servers: unknown[] } } & Record<string, unknown>;
}

describe('durable OpenBao peer', () => {
  let peer: Peer<DurableOpenBaoInfo>;
  let bao: DurableOpenBaoInfo;
  const ask = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${bao.address}/v1/${path}`, {
      method,
      headers: { 'x-vault-token': bao.token, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : {}) as BaoBody };
  };

  beforeAll(async () => {
    peer = await startDurableOpenBao();
    bao = peer.info;
  }, 120_000);
  afterAll(() => peer?.stop());

  it('serves KV v2 at secret/ and keeps it in raft on disk', async () => {
    expect((await ask('PUT', 'secret/data/app/db', { data: { password: 'hunter2' } })).status).toBe(200);
    const read = await ask('GET', 'secret/data/app/db');
    expect(read.status).toBe(200);
    expect(read.json.data.data).toEqual({ password: 'hunter2' });

    const raft = await ask('GET', 'sys/storage/raft/configuration');
    expect(raft.status).toBe(200);
    expect(raft.json.data.config.servers).toMatchObject([{ node_id: 'bench-1', voter: true, leader: true }]);
    expect(existsSync(join(bao.raftDir, 'raft', 'raft.db'))).toBe(true);
    expect(statSync(join(bao.raftDir, 'vault.db')).size).toBeGreaterThan(0);
  });

  it('audits every request to the file its config declares, values hashed', async () => {
    const devices = await ask('GET', 'sys/audit');
    expect(devices.status).toBe(200);
    expect(devices.json.data).toMatchObject({
      'bench-audit/': { type: 'file', options: { file_path: bao.auditFile } },
    });
    expect(bao.config).toContain(`audit "file" "bench-audit"`);

    const before = statSync(bao.auditFile).size;
    await ask('PUT', 'secret/data/audited', { data: { value: 'not-in-the-log' } });
    await ask('GET', 'secret/data/audited');
    const written = readFileSync(bao.auditFile, 'utf8').slice(before);
    const records = written
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; request: { path: string; operation: string } });
    expect(
      records
        .filter((r) => r.request.path === 'secret/data/audited')
        .map((r) => [r.type, r.request.operation]),
    ).toEqual([
      ['request', 'create'],
      ['response', 'create'],
      ['request', 'read'],
      ['response', 'read'],
    ]);
    expect(written).not.toContain('not-in-the-log');
  });

  it('refuses an API-enabled audit device, as OpenBao 2.x does (hence the config stanza)', async () => {
    const res = await ask('PUT', 'sys/audit/other', {
      type: 'file',
      options: { file_path: `${bao.auditFile}.2` },
    });
    expect(res.status).toBe(400);
  });
});
