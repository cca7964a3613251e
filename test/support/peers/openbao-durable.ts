// OpenBao as a production deployment runs it: integrated (raft) storage on disk and a file audit
// device, the same `bao` binary as the dev peer. OpenBao 2.x refuses to enable audit devices over
// the API, so the device is declared in the config file. The peer initializes the server with one
// key share, unseals it, waits until it is the active node and mounts KV v2 at `secret/`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../ports.js';
import { spawnManaged, waitFor } from '../proc.js';
import { tools } from '../tools.js';
import { type Peer, startProcessPeer } from './common.js';

export interface DurableOpenBaoInfo {
  address: string;
  token: string;
  /** The file the audit device appends one JSON record per request to. */
  auditFile: string;
  /** The raft data directory. */
  raftDir: string;
  /** The server's config file and its text. */
  configFile: string;
  config: string;
}

async function baoCall<T>(address: string, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${address}/v1/${path}`, {
    method,
    headers: {
      ...(token ? { 'x-vault-token': token } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`OpenBao ${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** 200 from sys/health only on an initialized, unsealed, active node. */
async function active(address: string): Promise<true | undefined> {
  const res = await fetch(`${address}/v1/sys/health`, { signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.status === 200 ? true : undefined;
}

async function listening(address: string): Promise<true | undefined> {
  const res = await fetch(`${address}/v1/sys/health`, { signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return true;
}

export async function startDurableOpenBao(): Promise<Peer<DurableOpenBaoInfo>> {
  const clusterPort = await freePort();
  return startProcessPeer('bao-durable', (dir, port) => {
    const address = `http://127.0.0.1:${port}`;
    const raftDir = join(dir, 'raft');
    const auditFile = join(dir, 'audit.log');
    const config = [
      `storage "raft" {`,
      `  path    = "${raftDir}"`,
      `  node_id = "bench-1"`,
      `}`,
      `listener "tcp" {`,
      `  address     = "127.0.0.1:${port}"`,
      `  tls_disable = true`,
      `}`,
      `audit "file" "bench-audit" {`,
      `  description = "every request, appended to a local file"`,
      `  options {`,
      `    file_path = "${auditFile}"`,
      `  }`,
      `}`,
      `api_addr      = "${address}"`,
      `cluster_addr  = "http://127.0.0.1:${clusterPort}"`,
      `disable_mlock = true`,
      `ui            = false`,
      '',
    ].join('\n');
    const configFile = join(dir, 'config.hcl');
    // raft refuses to start without its directory.
    mkdirSync(raftDir, { mode: 0o700 });
    writeFileSync(configFile, config);
    const proc = spawnManaged({
      name: 'bao-durable',
      command: tools.bao(),
      args: ['server', `-config=${configFile}`, '-log-level=warn'],
      logFile: join(dir, 'bao.log'),
      env: { ...process.env, HOME: dir, BAO_ADDR: address, VAULT_ADDR: address },
    });
    const ready = async () => {
      await waitFor(`OpenBao (raft) on ${address}`, () => listening(address), { process: proc });
      const init = await baoCall<{ keys_base64: string[]; root_token: string }>(
        address,
        'PUT',
        'sys/init',
        '',
        {
          secret_shares: 1,
          secret_threshold: 1,
        },
      );
      info.token = init.root_token;
      await baoCall(address, 'PUT', 'sys/unseal', '', { key: init.keys_base64[0] });
      await waitFor(`OpenBao (raft) on ${address} active`, () => active(address), {
        process: proc,
        timeoutMs: 60_000,
      });
      await baoCall(address, 'POST', 'sys/mounts/secret', info.token, {
        type: 'kv',
        options: { version: '2' },
      });
    };
    // The root token exists once `ready` has initialized the server.
    const info: DurableOpenBaoInfo = {
      address,
      token: '',
      auditFile,
      raftDir,
      configFile,
      config,
    };
    return { proc, info, ready };
  });
}
