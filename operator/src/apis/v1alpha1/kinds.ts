// The kinds the operator watches, as the informer cache looks them up: its own two, and the
// Secrets it writes (only those: the label keeps everyone else's Secrets out of memory).
import type { V1Secret } from '@kubernetes/client-node';
import type { ResourceKind } from '../../runtime/informer-cache.js';
import {
  API_VERSION,
  KIND_SYNC,
  KIND_VAULT,
  type OneclawVault,
  PLURAL_SYNCS,
  PLURAL_VAULTS,
  type SecretSync,
  SYNC_LABEL,
} from './types.js';

export const VAULTS: ResourceKind<OneclawVault> = {
  apiVersion: API_VERSION,
  kind: KIND_VAULT,
  plural: PLURAL_VAULTS,
};

export const SYNCS: ResourceKind<SecretSync> = {
  apiVersion: API_VERSION,
  kind: KIND_SYNC,
  plural: PLURAL_SYNCS,
};

export const SYNCED_SECRETS: ResourceKind<V1Secret> = {
  apiVersion: 'v1',
  kind: 'Secret',
  plural: 'secrets',
  labelSelector: SYNC_LABEL,
};
