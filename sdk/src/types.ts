// The API's JSON, snake_case, exactly as the route schemas in api/src/http/routes/v1/*.ts and
// api/src/http/schemas.ts define requests and responses. Timestamps are RFC 3339 strings.

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

export type Custody = 'wrapped' | 'kms';

/** The Kubernetes object a vault was created for (a OneclawVault); recorded once, never changed. */
export interface VaultOwner {
  kind: string;
  api_version: string;
  namespace: string;
  name: string;
  /** metadata.uid, lowercase. */
  uid: string;
}

export interface Vault {
  id: string;
  name: string;
  description: string;
  kms_key: string;
  kms_backend: string;
  kms_key_id: string;
  custody: Custody;
  kek_version: number;
  cmek_enabled: boolean;
  /** SHA-256 (lowercase hex) of the active CMEK key; null when CMEK is off. */
  cmek_fingerprint: string | null;
  /** null for a vault made through the API or the CLI. */
  owner: VaultOwner | null;
  created_at: DateTime;
  updated_at: DateTime;
}

export interface VaultCreateInput {
  /** 1–63 characters. */
  name: string;
  description?: string;
  /** A key URI the server is configured with (default: the server's root key). */
  kms_key?: string;
  custody?: Custody;
  /** Admins only; immutable once the vault exists. */
  owner?: VaultOwner;
}

/** At least one field. */
export interface VaultUpdateInput {
  name?: string;
  description?: string;
}

// --- jobs ---------------------------------------------------------------------------------

export type JobStatus = 'pending' | 'running' | 'succeeded' | 'failed';

export interface Job {
  id: string;
  kind: string;
  vault_id: string | null;
  status: JobStatus;
  processed: number;
  total: number;
  error: string | null;
  created_at: DateTime;
  updated_at: DateTime;
}

// --- CMEK ---------------------------------------------------------------------------------

export type CmekRotationStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';

/**
 * A server-assisted CMEK rotation job. `interrupted`: the server holding the keys stopped;
 * starting the rotation again with the same keys resumes this job (same id).
 */
export interface CmekRotation {
  id: string;
  vault_id: string;
  status: CmekRotationStatus;
  processed: number;
  total_secrets: number;
  old_fingerprint: string;
  new_fingerprint: string;
  error: string | null;
  created_at: DateTime;
  updated_at: DateTime;
}

// --- secrets ------------------------------------------------------------------------------

/** The secret types the API accepts. */
export const SECRET_TYPES = [
  'password',
  'api_key',
  'private_key',
  'certificate',
  'file',
  'note',
  'ssh_key',
  'env_bundle',
] as const;
export type SecretType = (typeof SECRET_TYPES)[number];

/** String keys (≤ 128 chars) to string values (≤ 1024 chars), at most 64 entries. */
export type Metadata = Record<string, string>;

export interface SecretPutInput {
  type: SecretType;
  /** UTF-8 text (binary: base64, type `file`). */
  value: string;
  metadata?: Metadata;
  expires_at?: DateTime | null;
  /** ≥ 1, or null for no limit. */
  max_access_count?: number | null;
  /** Check-and-set: the expected current version (0: the path must not exist yet). */
  cas?: number;
  /**
   * CMEK vaults: the fingerprint of the key `value` was encrypted with; the write is refused
   * (409 `cmek_fingerprint_mismatch`) if it is no longer the vault's active key.
   */
  cmek_fingerprint?: string;
}

export interface SecretWriteResult {
  path: string;
  version: number;
  created_at: DateTime;
}

/** A secret with its value (`GET …/secrets/*path`). */
export interface Secret {
  path: string;
  type: string;
  value: string;
  version: number;
  metadata: Metadata;
  expires_at: DateTime | null;
  /** The value is a CMEK blob (standard base64); decrypt it with `cmekDecrypt`. */
  cmek_encrypted: boolean;
  /** The fingerprint of the CMEK key the value was encrypted with, or null. */
  cmek_fingerprint: string | null;
  created_at: DateTime;
}

/** A listing entry: metadata only, never a value. */
export interface SecretMeta {
  path: string;
  type: string;
  version: number;
  metadata: Metadata;
  expires_at: DateTime | null;
  /** Of the current version. */
  cmek_encrypted: boolean;
  cmek_fingerprint: string | null;
  created_at: DateTime;
  updated_at: DateTime;
}

export interface SecretList {
  secrets: SecretMeta[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

export interface VersionMeta {
  version: number;
  type: string;
  created_at: DateTime;
  created_by: string;
  expires_at: DateTime | null;
  max_access_count: number | null;
  access_count: number;
  destroyed: boolean;
  cmek_encrypted: boolean;
  cmek_fingerprint: string | null;
}

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

/** Kinds the server emits today; `VaultEvent.kind` is a string so new kinds do not break. */
export type VaultEventKind =
  | 'vault.created'
  | 'vault.deleted'
  | 'vault.kek_rotated'
  | 'secret.written'
  | 'secret.deleted'
  | 'secret.destroyed'
  /** A CMEK rotation re-encrypted the stored value of this version under the new key. */
  | 'secret.reencrypted';

export interface VaultEvent {
  /** The event id: the cursor to resume after it. */
  id: string;
  vault_id: string;
  kind: string;
  path: string | null;
  version: number | null;
  created_at: DateTime;
}

export interface EventsPage {
  events: VaultEvent[];
  /** Pass as `after` to continue. */
  next_cursor: string;
}

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
