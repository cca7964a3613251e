// The API's JSON, snake_case, as the wire contract (contract/src: the schemas the server
// validates and serializes with) defines requests and responses, under the names the SDK has
// always exported. Timestamps are RFC 3339 strings.

/** RFC 3339 date-time, e.g. `2026-01-01T00:00:00.000Z`. */
export type DateTime = string;

// --- auth ---------------------------------------------------------------------------------

export type { TokenResponse } from '../../contract/src/auth.js';

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

export type {
  Day,
  Permission,
  Policy,
  PolicyConditions,
  PolicyCreateInput,
  PrincipalType,
  TimeWindow,
} from '../../contract/src/policies.js';

// --- agents -------------------------------------------------------------------------------

export type {
  Agent,
  AgentCreateInput,
  AgentUpdateInput,
  AgentWithKey,
} from '../../contract/src/agents.js';

// --- users --------------------------------------------------------------------------------

export type {
  Role,
  User,
  UserCreateInput,
  UserUpdateInput,
  UserWithKey,
} from '../../contract/src/users.js';

// --- events (change feed) -----------------------------------------------------------------

export type { EventsPage, VaultEvent, VaultEventKind } from '../../contract/src/events.js';

// --- audit --------------------------------------------------------------------------------

export type { AuditEvent, AuditPage, AuditQuery, AuditVerifyResult } from '../../contract/src/audit.js';
