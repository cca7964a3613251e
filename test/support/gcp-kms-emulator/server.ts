// A GCP Cloud KMS emulator for tests: a real gRPC server serving
// google.cloud.kms.v1.KeyManagementService from the protos shipped in @google-cloud/kms, with
// state in memory. Methods not listed in `handlers` answer UNIMPLEMENTED (grpc-js does that for
// any method missing from a service implementation).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { asymmetricSign, decrypt, encrypt, getPublicKey } from './crypto.js';
import { KmsError } from './errors.js';
import { KmsStore } from './state.js';

export interface GcpKmsEmulatorOptions {
  host?: string;
  port?: number;
  /** Called with one line per RPC (method, status); main.ts sends these to stderr. */
  log?: (line: string) => void;
}

export interface GcpKmsEmulator {
  host: string;
  port: number;
  close(): Promise<void>;
}

const SERVICE_PATH = ['google', 'cloud', 'kms', 'v1', 'KeyManagementService'];

function loadService(): grpc.ServiceDefinition {
  const require = createRequire(import.meta.url);
  const kmsRoot = dirname(require.resolve('@google-cloud/kms/package.json'));
  const json = JSON.parse(readFileSync(join(kmsRoot, 'build/protos/protos.json'), 'utf8'));
  // Field names only matter on this side (the wire is binary protobuf): camelCase like the
  // official client, enums as names, int64 as numbers (CRC32C values fit), bytes as Buffers,
  // and unset fields left undefined so optional wrappers such as plaintext_crc32c keep presence.
  const definition = protoLoader.fromJSON(json, {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  let node: unknown = grpc.loadPackageDefinition(definition);
  for (const part of SERVICE_PATH) node = (node as Record<string, unknown>)[part];
  return (node as grpc.ServiceClientConstructor).service;
}

/** Takes the decoded request of its method (typed per method in state.ts / crypto.ts). */
type Handler = (request: never) => Record<string, unknown>;

function handlers(store: KmsStore): Record<string, Handler> {
  return {
    CreateKeyRing: (req) => store.createKeyRing(req),
    GetKeyRing: (req) => store.getKeyRing(req),
    CreateCryptoKey: (req) => store.createCryptoKey(req),
    GetCryptoKey: (req) => store.getCryptoKey(req),
    CreateCryptoKeyVersion: (req) => store.createCryptoKeyVersion(req),
    GetCryptoKeyVersion: (req) => store.getCryptoKeyVersion(req),
    ListCryptoKeyVersions: (req) => store.listCryptoKeyVersions(req),
    UpdateCryptoKeyPrimaryVersion: (req) => store.updateCryptoKeyPrimaryVersion(req),
    UpdateCryptoKeyVersion: (req) => store.updateCryptoKeyVersion(req),
    DestroyCryptoKeyVersion: (req) => store.destroyCryptoKeyVersion(req),
    RestoreCryptoKeyVersion: (req) => store.restoreCryptoKeyVersion(req),
    Encrypt: (req) => encrypt(store, req),
    Decrypt: (req) => decrypt(store, req),
    AsymmetricSign: (req) => asymmetricSign(store, req),
    GetPublicKey: (req) => getPublicKey(store, req),
  };
}

function unary(
  method: string,
  fn: Handler,
  log?: (line: string) => void,
): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    try {
      // The request is what proto-loader decoded for this method, which is what fn expects.
      const response = fn(call.request as never);
      log?.(`${method} OK`);
      callback(null, response);
    } catch (err) {
      if (err instanceof KmsError) {
        log?.(`${method} ${grpc.status[err.code]}: ${err.message}`);
        callback({ code: err.code, details: err.message });
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      log?.(`${method} INTERNAL: ${message}`);
      callback({ code: grpc.status.INTERNAL, details: `Internal error: ${message}` });
    }
  };
}

export async function startGcpKmsEmulator(opts: GcpKmsEmulatorOptions = {}): Promise<GcpKmsEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const store = new KmsStore();
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [method, fn] of Object.entries(handlers(store))) {
    implementation[method] = unary(method, fn, opts.log);
  }
  const server = new grpc.Server();
  server.addService(loadService(), implementation);
  const address = host.includes(':') ? `[${host}]:${opts.port ?? 0}` : `${host}:${opts.port ?? 0}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });

  let closed: Promise<void> | undefined;
  return {
    host,
    port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        // Give in-flight calls a moment, then cut whatever is left (idle client channels).
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closed;
    },
  };
}
