// The API's JSON, snake_case, as the wire contract (contract/src: the schemas the server
// validates and serializes with) defines requests and responses, under the names the SDK has
// always exported. Timestamps are RFC 3339 strings.

/** RFC 3339 date-time, e.g. `2026-01-01T00:00:00.000Z`. */
export type DateTime = string;

// --- auth ---------------------------------------------------------------------------------

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  /** Seconds. */
  expires_in: number;
}

// --- vaults -------------------------------------------------------------------------------

export type {
  Custody,
  Vault,
  VaultCreateInput,
  VaultOwner,
  VaultUpdateInput,
} from '../../contract/src/vaults.js';

// --- jobs ---------------------------------------------------------------------------------

export type { Job, JobStatus } from '../../contract/src/jobs.js';

// --- CMEK ---------------------------------------------------------------------------------

export type { CmekRotation, CmekRotationStatus } from '../../contract/src/cmek.js';

// --- secrets ------------------------------------------------------------------------------

export type { Metadata } from '../../contract/src/common.js';
// `Secret` is the contract's SecretValue: a secret with its value.
export type {
  SecretList,
  SecretMeta,
  SecretPutInput,
  SecretType,
  SecretValue as Secret,
  SecretWriteResult,
  VersionMeta,
} from '../../contract/src/secrets.js';
export { SECRET_TYPES } from '../../contract/src/secrets.js';

// --- policies (grants) --------------------------------------------------------------------

export type PrincipalType = 'user' | 'agent' | 'k8s_service_account';
export type Permission = 'read' | 'write' | 'delete' | 'list';
export type Day = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

export interface TimeWindow {
  days?: Day[];
  /** HH:MM, 24-hour. */
  start: string;
  /** HH:MM, 24-hour; before `start` crosses midnight. */
  end: string;
  /** IANA time zone, e.g. Europe/Berlin. */
  tz: string;
}

export interface PolicyConditions {
  /** IPv4/IPv6 CIDRs or addresses. */
  ip_cidrs?: string[];
  time_window?: TimeWindow;
}

export interface Policy {
  id: string;
  vault_id: string;
  principal_type: PrincipalType;
  principal_id: string;
  secret_path_pattern: string;
  permissions: Permission[];
  conditions: PolicyConditions;
  expires_at: DateTime | null;
  created_by: string;
  created_at: DateTime;
}

export interface PolicyCreateInput {
  principal_type: PrincipalType;
  /** A user or agent id, or `system:serviceaccount:<namespace>:<name>`. */
  principal_id: string;
  /** `*` one segment (or part of one), `**` any depth. */
  secret_path_pattern: string;
  permissions: Permission[];
  conditions?: PolicyConditions;
  expires_at?: DateTime | null;
}

// --- agents -------------------------------------------------------------------------------

export interface Agent {
  id: string;
  name: string;
  description: string;
  disabled: boolean;
  expires_at: DateTime | null;
  created_by: string;
  created_at: DateTime;
  updated_at: DateTime;
}

export interface AgentCreateInput {
  name: string;
  description?: string;
  expires_at?: DateTime | null;
}

/** At least one field. */
export interface AgentUpdateInput {
  description?: string;
  disabled?: boolean;
  expires_at?: DateTime | null;
}

export interface AgentWithKey {
  agent: Agent;
  /** `ocv_…`, shown once. */
  api_key: string;
}

// --- users --------------------------------------------------------------------------------

export type Role = 'admin' | 'member';

export interface User {
  id: string;
  name: string;
  role: Role;
  disabled: boolean;
  created_at: DateTime;
}

export interface UserCreateInput {
  name: string;
  role: Role;
}

/** At least one field. */
export interface UserUpdateInput {
  role?: Role;
  disabled?: boolean;
}

export interface UserWithKey {
  user: User;
  /** `ocu_…`, shown once. */
  api_key: string;
}

// --- events (change feed) -----------------------------------------------------------------

export type { EventsPage, VaultEvent, VaultEventKind } from '../../contract/src/events.js';

// --- audit --------------------------------------------------------------------------------

export interface AuditEvent {
  /** Position in the org chain; the cursor to continue after it. */
  seq: string;
  at: DateTime;
  /** `user:<id>`, `agent:<id>`, `system:serviceaccount:<ns>:<name>`. */
  actor: string;
  action: string;
  decision: 'allow' | 'deny';
  vault_id: string | null;
  path: string | null;
  version: number | null;
  reason: string | null;
  request_id: string | null;
  details: Record<string, string | number | boolean>;
  prev_hash: string;
  hash: string;
}

export interface AuditPage {
  events: AuditEvent[];
  /** Pass as `after` for the next page. */
  next_cursor: string;
}

export interface AuditVerifyResult {
  ok: boolean;
  /** Records verified before the first break, or all. */
  checked: number;
  /** `seq` of the first record that fails. */
  broken_at?: string;
  reason?: string;
}
