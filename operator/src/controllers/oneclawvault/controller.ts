// The OneclawVault controller as it declares itself: it reconciles OneclawVaults and watches
// nothing else (the vault and its grants live in the API, read back on every reconcile).
import type { KubeConfig } from '@kubernetes/client-node';
import type { OneclawClient } from '../../../../sdk/src/index.js';
import { VAULTS } from '../../apis/v1alpha1/kinds.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { ControllerFactory } from '../../runtime/manager.js';
import { createVaultReconciler } from './reconciler.js';

export function oneclawVaultController(deps: {
  kubeConfig: KubeConfig;
  api: OneclawClient;
  events: EventRecorder;
}): ControllerFactory {
  return ({ cache }) => ({
    name: 'oneclawvault',
    watches: { for: VAULTS },
    reconciler: createVaultReconciler({ ...deps, cache: cache.objects(VAULTS) }),
  });
}
