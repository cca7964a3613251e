// Every API operation the SDK sends, by the name of the client method that sends it: method and
// path template exactly as /openapi.json writes them, and the contract schema of the success
// response. The client builds each request from this table (`endpoint`), so sdk/src/contract.test.ts
// can hold the SDK to the server's document without reading the client's source.
import type { TSchema } from 'typebox';
import { AgentList, Agent as AgentSchema, AgentWithKey } from '../../contract/src/agents.js';
import { AuditPage, AuditVerifyResult } from '../../contract/src/audit.js';
import { TokenResponse } from '../../contract/src/auth.js';
import { CmekRotation, CmekRotationList } from '../../contract/src/cmek.js';
import { EventsPage } from '../../contract/src/events.js';
import { Job } from '../../contract/src/jobs.js';
import { Policy, PolicyList } from '../../contract/src/policies.js';
import { SecretList, SecretValue, SecretWriteResult, VersionList } from '../../contract/src/secrets.js';
import { User, UserList, UserWithKey } from '../../contract/src/users.js';
import { Vault, VaultList } from '../../contract/src/vaults.js';
import { OneclawError } from './errors.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Operation {
  method: Method;
  /** With `{name}` for each path parameter. */
  path: string;
  /** The success status and its body's schema (null: no body). */
  status: 200 | 201 | 202 | 204;
  response: TSchema | null;
}

const op = <P extends string>(
  method: Method,
  path: P,
  status: Operation['status'],
  response: TSchema | null,
) => ({ method, path, status, response });

export const OPERATIONS = {
  // The token exchanges behind `credentials`.
  'auth.token': op('POST', '/v1/auth/token', 200, TokenResponse),
  'auth.agentToken': op('POST', '/v1/auth/agent-token', 200, TokenResponse),
  'auth.k8sToken': op('POST', '/v1/auth/k8s-token', 200, TokenResponse),

  'vaults.create': op('POST', '/v1/vaults', 201, Vault),
  'vaults.list': op('GET', '/v1/vaults', 200, VaultList),
  'vaults.get': op('GET', '/v1/vaults/{vault_id}', 200, Vault),
  'vaults.update': op('PATCH', '/v1/vaults/{vault_id}', 200, Vault),
  'vaults.delete': op('DELETE', '/v1/vaults/{vault_id}', 204, null),
  'vaults.rotateKek': op('POST', '/v1/vaults/{vault_id}/rotate-kek', 202, Job),
  'vaults.setOwner': op('PUT', '/v1/vaults/{vault_id}/owner', 200, Vault),

  'secrets.put': op('PUT', '/v1/vaults/{vault_id}/secrets/{path}', 200, SecretWriteResult),
  'secrets.get': op('GET', '/v1/vaults/{vault_id}/secrets/{path}', 200, SecretValue),
  'secrets.list': op('GET', '/v1/vaults/{vault_id}/secrets', 200, SecretList),
  'secrets.versions': op('GET', '/v1/vaults/{vault_id}/versions/{path}', 200, VersionList),
  'secrets.delete': op('DELETE', '/v1/vaults/{vault_id}/secrets/{path}', 204, null),

  'policies.create': op('POST', '/v1/vaults/{vault_id}/policies', 201, Policy),
  'policies.list': op('GET', '/v1/vaults/{vault_id}/policies', 200, PolicyList),
  'policies.delete': op('DELETE', '/v1/vaults/{vault_id}/policies/{policy_id}', 204, null),

  'agents.create': op('POST', '/v1/agents', 201, AgentWithKey),
  'agents.list': op('GET', '/v1/agents', 200, AgentList),
  'agents.get': op('GET', '/v1/agents/{id}', 200, AgentSchema),
  'agents.update': op('PATCH', '/v1/agents/{id}', 200, AgentSchema),
  'agents.delete': op('DELETE', '/v1/agents/{id}', 204, null),
  'agents.rotateKey': op('POST', '/v1/agents/{id}/rotate-key', 200, AgentWithKey),

  'users.create': op('POST', '/v1/users', 201, UserWithKey),
  'users.list': op('GET', '/v1/users', 200, UserList),
  'users.update': op('PATCH', '/v1/users/{id}', 200, User),
  'users.rotateKey': op('POST', '/v1/users/{id}/rotate-key', 200, UserWithKey),

  'jobs.get': op('GET', '/v1/jobs/{job_id}', 200, Job),
  'kms.migrate': op('POST', '/v1/kms/migrate', 202, Job),

  'events.poll': op('GET', '/v1/vaults/{vault_id}/events', 200, EventsPage),

  'audit.list': op('GET', '/v1/audit', 200, AuditPage),
  'audit.verify': op('GET', '/v1/audit/verify', 200, AuditVerifyResult),

  'cmek.enable': op('POST', '/v1/vaults/{vault_id}/cmek', 200, Vault),
  'cmek.disable': op('DELETE', '/v1/vaults/{vault_id}/cmek', 200, Vault),
  'cmek.startRotation': op('POST', '/v1/vaults/{vault_id}/cmek-rotate', 202, CmekRotation),
  'cmek.rotations': op('GET', '/v1/vaults/{vault_id}/cmek-rotate', 200, CmekRotationList),
  'cmek.rotation': op('GET', '/v1/vaults/{vault_id}/cmek-rotate/{job_id}', 200, CmekRotation),
} satisfies Record<string, Operation>;

export type OperationName = keyof typeof OPERATIONS;

/** The `{name}`s of a path template. */
type PathParams<P extends string> = P extends `${string}{${infer K}}${infer Rest}`
  ? K | PathParams<Rest>
  : never;
type ParamsOf<N extends OperationName> = PathParams<(typeof OPERATIONS)[N]['path']>;

/** Where a request goes: an operation of the table, its path filled in. */
export interface Endpoint {
  operation: OperationName;
  method: Method;
  /** Encoded, from `/v1/…`. */
  path: string;
}

/**
 * The method and path of `name` with its path parameters filled in; `encoded` holds each one
 * already encoded (`seg`, `secretPath`).
 */
export function endpoint<N extends OperationName>(
  name: N,
  ...[encoded]: [ParamsOf<N>] extends [never] ? [] : [Record<ParamsOf<N>, string>]
): Endpoint {
  const { method, path } = OPERATIONS[name];
  const values: Record<string, string> = encoded ?? {};
  return {
    operation: name,
    method,
    path: path.replace(/\{([a-z_]+)\}/g, (_, key: string) => values[key] as string),
  };
}

/**
 * One URL path segment, encoded. Empty, `.` and `..` segments are refused: the URL parser would
 * drop or resolve them (also encoded as `%2e`) and send the request to another route.
 */
export function seg(value: string, what: string): string {
  if (typeof value !== 'string' || value === '' || value === '.' || value === '..') {
    throw new OneclawError(
      0,
      'invalid_request',
      `${what} must be a non-empty string other than "." and ".."`,
    );
  }
  return encodeURIComponent(value);
}

/** A secret path (`a/b/c`), each segment encoded. */
export function secretPath(path: string): string {
  if (typeof path !== 'string') throw new OneclawError(0, 'invalid_request', 'secret path must be a string');
  return path
    .split('/')
    .map((s) => seg(s, 'each secret path segment'))
    .join('/');
}
