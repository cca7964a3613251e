// TypeScript shapes and constants of the oneclaw.dev/v1alpha1 custom resources. The CRD YAML in
// crds/ is the source of truth; these types mirror its schemas field for field (crds/crds.test.ts
// checks the schemas against a real apiserver). A field optional here is optional in the schema;
// fields with a schema default are still optional here, because objects written by clients may
// omit them, although every object read back from the apiserver has them.
//
// Objects arrive as the apiserver's JSON (CustomObjectsApi, the runtime's informer), so metadata
// timestamps are RFC 3339 strings at run time even though V1ObjectMeta declares them as Date.
import type { KubernetesObject, V1ObjectMeta } from '@kubernetes/client-node';

export const GROUP = 'oneclaw.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = 'oneclaw.dev/v1alpha1';
export const CATEGORY = 'oneclaw';

export const KIND_VAULT = 'OneclawVault';
export const PLURAL_VAULTS = 'oneclawvaults';

export const KIND_SYNC = 'SecretSync';
export const PLURAL_SYNCS = 'secretsyncs';

/** Held on a OneclawVault while its vault and grants exist in oneclaw. */
export const VAULT_FINALIZER = 'oneclaw.dev/vault-protection';

/** Put on every Secret the operator writes, with MANAGED_BY_VALUE. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'oneclaw-operator';
/** Put on every Secret the operator writes; the value is the SecretSync's name. */
export const SYNC_LABEL = 'oneclaw.dev/secretsync';
/**
 * On every Secret the operator writes: the content fingerprint (versions, template, type; never
 * values) it was written from. A reconcile whose status write was lost after the Secret was
 * written finds its own write here, so the rollout restart it owed is not dropped.
 */
export const CONTENT_HASH_ANNOTATION = 'oneclaw.dev/secret-hash';

/**
 * On a SecretSync: any new value re-reads its secrets from the API at once (`oneclaw sync
 * refresh` writes the current time); status.lastRefreshRequest records the value handled.
 */
export const REFRESH_ANNOTATION = 'oneclaw.dev/refresh-requested-at';

/** The schema's default refresh interval, for objects that did not come from the apiserver. */
export const DEFAULT_REFRESH_INTERVAL = '1h';

/**
 * A placeholder in spec.target.template.data: `{{ .KEY }}`, spaces inside the braces optional;
 * group 1 is the synced key. Global: use it with replaceAll or matchAll, not exec or test.
 */
export const TEMPLATE_PLACEHOLDER = /\{\{ *\.([-._a-zA-Z0-9]+) *\}\}/g;

export const ConditionType = {
  /** Both kinds: the object is fully in effect. */
  Ready: 'Ready',
  /** SecretSync: the Secret holds the requested secrets at their current versions. */
  Synced: 'Synced',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** Condition reasons (CamelCase, as metav1.Condition requires). */
export const Reason = {
  /** Work is under way and its outcome is not known yet (status Unknown). */
  Reconciling: 'Reconciling',
  /** OneclawVault: the vault exists and its grants equal spec.access. */
  VaultReady: 'VaultReady',
  /**
   * OneclawVault: status.vaultId names a vault that does not record this object (its uid) as
   * owner; nothing is granted on it or purged until an admin records the owner or the id is cleared.
   * Also the reason of the Warning Event when a wrong status.vaultId is replaced by the object's own vault.
   */
  VaultNotOwned: 'VaultNotOwned',
  /**
   * OneclawVault: the vault cannot be created because a vault of its name exists that this object
   * does not own (never adopted), or the vault it owned was deleted through the API.
   */
  VaultConflict: 'VaultConflict',
  /** SecretSync: spec.vaultRef names no OneclawVault in the namespace. */
  VaultNotFound: 'VaultNotFound',
  /** SecretSync: the OneclawVault exists but is not Ready (no vault id yet, or failing). */
  VaultNotReady: 'VaultNotReady',
  /** SecretSync: the service account is not granted what the sync reads. */
  AccessDenied: 'AccessDenied',
  SyncSucceeded: 'SyncSucceeded',
  SyncFailed: 'SyncFailed',
  /** SecretSync: a Secret of the target name exists and is not managed by this SecretSync. */
  SecretConflict: 'SecretConflict',
  /**
   * SecretSync: spec.serviceAccountName is an org admin in oneclaw (the operator's own account
   * or a configured admin account); the operator never acts as one (terminal until the spec changes).
   */
  AdminServiceAccount: 'AdminServiceAccount',
  /** The oneclaw API (or its KMS or database) did not answer; retried with backoff. */
  ApiUnavailable: 'ApiUnavailable',
  /** The spec cannot be carried out as written (terminal until the spec changes). */
  InvalidSpec: 'InvalidSpec',
  /** The object is being deleted and its finalizer is cleaning up. */
  Deleting: 'Deleting',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** metav1.Condition, as JSON (type: one of ConditionType; reason: one of Reason). */
export type { Condition, ConditionStatus } from '../../runtime/conditions.js';

import type { Custody, Permission } from '../../../../contract/src/index.js';
import type { Condition } from '../../runtime/conditions.js';

// ---------------------------------------------------------------------------------------------
// OneclawVault

// The CRD's enums are the API's: a vault's custody and a grant's permissions pass through as is.
export type { Custody, Permission };
export type DeletionPolicy = 'Retain' | 'Delete';

/** One entry of spec.access: a grant to a service account of the vault's namespace. */
export interface VaultAccess {
  /** A ServiceAccount name in the vault's namespace; unique within spec.access. */
  serviceAccount: string;
  /** Path globs (1-32): segments of A-Z a-z 0-9 _ - and `*`, `**` as a whole segment. */
  paths: string[];
  /** 1-4, no duplicates. */
  permissions: Permission[];
  /** RFC 3339. */
  expiresAt?: string;
}

export interface OneclawVaultSpec {
  /** 1-63 characters; unset: derived from the namespace and name. */
  displayName?: string;
  /** A key URI (local://, transit://, awskms://, gcpkms://, pkcs11://); immutable; unset: the server's default. */
  kmsKey?: string;
  /** Default wrapped; immutable. */
  custody?: Custody;
  /** Default Retain. */
  deletionPolicy?: DeletionPolicy;
  /** At most 100 entries, one per service account. */
  access?: VaultAccess[];
}

export interface OneclawVaultStatus {
  vaultId?: string;
  kekKeyId?: string;
  kekVersion?: number;
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface OneclawVault extends KubernetesObject {
  metadata: V1ObjectMeta;
  spec: OneclawVaultSpec;
  status?: OneclawVaultStatus;
}

// ---------------------------------------------------------------------------------------------
// SecretSync

/** One entry of spec.data: one secret written to one key. */
export interface SecretSyncData {
  /** A Secret data key ([-._a-zA-Z0-9]+, ≤ 253, not `.`, not starting `..`); unique within data. */
  secretKey: string;
  /** A secret path: [A-Za-z0-9_-] segments separated by `/`, ≤ 512. */
  path: string;
  /** A pinned version (≥ 1); unset: the latest, followed. */
  version?: number;
}

/**
 * One entry of spec.dataFrom: every secret matching the glob, each under the key made of its
 * path relative to the glob's fixed prefix (the segments before the first one with a wildcard,
 * never including the last segment) with `/` replaced by `.`. Later entries override earlier
 * ones on a key; spec.data overrides them all.
 */
export interface SecretSyncDataFrom {
  path: string;
}

export interface SecretSyncTemplate {
  /** Secret key → text with `{{ .KEY }}` placeholders (see TEMPLATE_PLACEHOLDER); at most 32. */
  data?: Record<string, string>;
}

export interface SecretSyncTarget {
  /** Default: the SecretSync's name. */
  name?: string;
  /** Default Opaque; never kubernetes.io/service-account-token. */
  type?: string;
  /** At most 64; may not set MANAGED_BY_LABEL or any oneclaw.dev/ key. */
  labels?: Record<string, string>;
  /** At most 64. */
  annotations?: Record<string, string>;
  template?: SecretSyncTemplate;
}

export type RolloutRestartKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

export interface RolloutRestartTarget {
  kind: RolloutRestartKind;
  name: string;
}

export type OnAccessLoss = 'Retain' | 'Delete';

export interface SecretSyncSpec {
  /** A OneclawVault in the same namespace. */
  vaultRef: { name: string };
  /** The ServiceAccount (same namespace) whose grants the sync reads with. */
  serviceAccountName: string;
  /** At most 256; data and dataFrom together list at least one entry. */
  data?: SecretSyncData[];
  /** At most 16. */
  dataFrom?: SecretSyncDataFrom[];
  /** Defaulted to {} (so target.type is Opaque). */
  target?: SecretSyncTarget;
  /** Hours, minutes and seconds (`1h`, `30m`, `90s`, `1h30m`), at least 10s; default 1h. */
  refreshInterval?: string;
  /** At most 32, unique by (kind, name). */
  rolloutRestartTargets?: RolloutRestartTarget[];
  /** Default Retain. */
  onAccessLoss?: OnAccessLoss;
}

export interface SecretSyncStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** RFC 3339. */
  lastSyncTime?: string;
  /** Secret path → the version written. */
  syncedVersions?: Record<string, number>;
  /** A fingerprint of the written content; never a plain hash of secret values. */
  secretHash?: string;
  targetName?: string;
  /**
   * A rollout restart owed and not yet made, written in the same status write as the secretHash
   * that made it owed, removed once the workloads are restarted. Whichever replica leads
   * performs it, so a crash or leader change inside the debounce window cannot drop it.
   */
  pendingRestart?: PendingRestart;
  /** The REFRESH_ANNOTATION value the last completed sync handled. */
  lastRefreshRequest?: string;
}

export interface PendingRestart {
  /** RFC 3339 (milliseconds): when the content changed; the restart is made one window after. */
  requestedAt: string;
  /** The secretHash whose content the restart serves (a later change while pending updates it). */
  secretHash: string;
  /** What to restart: spec.rolloutRestartTargets when the restart was requested (1-32). */
  targets: RolloutRestartTarget[];
}

export interface SecretSync extends KubernetesObject {
  metadata: V1ObjectMeta;
  spec: SecretSyncSpec;
  status?: SecretSyncStatus;
}
