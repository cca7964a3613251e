// The GCP Cloud KMS emulator of test/support/gcp-kms-emulator, run as its own process so tests
// talk to it over real gRPC and can stop it like any other peer. (No official emulator exists;
// ours serves google.cloud.kms.v1.KeyManagementService from the protos in @google-cloud/kms.)

import { connect } from 'node:net';
import { join } from 'node:path';
import { gcpKmsTestClient } from '../gcp-kms-emulator/client.js';
import { spawnManaged, waitFor } from '../proc.js';
import { repoRoot } from '../tools.js';
import { type Peer, startProcessPeer } from './common.js';

export interface GcpKmsInfo {
  host: string;
  port: number;
  projectId: string;
  location: string;
}

function tcpOpen(host: string, port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(undefined));
  });
}

export function startGcpKms(): Promise<Peer<GcpKmsInfo>> {
  const host = '127.0.0.1';
  return startProcessPeer('gcpkms', (dir, port) => {
    const proc = spawnManaged({
      name: 'gcp-kms-emulator',
      command: process.execPath,
      args: [
        '--import',
        'tsx',
        join(repoRoot, 'test/support/gcp-kms-emulator/main.ts'),
        '--host',
        host,
        '--port',
        String(port),
      ],
      logFile: join(dir, 'gcpkms.log'),
      cwd: repoRoot,
    });
    return {
      proc,
      info: { host, port, projectId: 'oneclaw-test', location: 'global' },
      ready: () =>
        waitFor(`GCP KMS emulator on ${host}:${port}`, () => tcpOpen(host, port), { process: proc }),
    };
  });
}

/**
 * Creates a key ring and key on the emulator; returns the key's resource name
 * (`projects/…/cryptoKeys/…`). Symmetric by default; pass an algorithm for signing keys.
 */
export async function createGcpKey(
  info: GcpKmsInfo,
  name: string,
  algorithm:
    | 'GOOGLE_SYMMETRIC_ENCRYPTION'
    | 'EC_SIGN_ED25519'
    | 'EC_SIGN_P256_SHA256' = 'GOOGLE_SYMMETRIC_ENCRYPTION',
): Promise<string> {
  const client = gcpKmsTestClient(info.host, info.port);
  try {
    const parent = `projects/${info.projectId}/locations/${info.location}`;
    const ring = `${name}-${Math.random().toString(36).slice(2, 8)}`;
    await client.createKeyRing({ parent, keyRingId: ring, keyRing: {} });
    const purpose = algorithm === 'GOOGLE_SYMMETRIC_ENCRYPTION' ? 'ENCRYPT_DECRYPT' : 'ASYMMETRIC_SIGN';
    const [key] = await client.createCryptoKey({
      parent: `${parent}/keyRings/${ring}`,
      cryptoKeyId: 'key',
      cryptoKey: { purpose, versionTemplate: { algorithm } },
    });
    return key.name as string;
  } finally {
    await client.close();
  }
}
