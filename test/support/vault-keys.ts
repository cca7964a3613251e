// A vault as the envelope sees it, for suites and benchmarks that seal without the API: a KEK
// made now as version 1, the only version there is.
import type { Envelope, VaultKeys } from '../../api/src/crypto/envelope.js';

export async function vaultWithNewKek(env: Envelope, orgId: string, vaultId: string): Promise<VaultKeys> {
  const wrappedKek = await env.createKek(orgId, vaultId, 1);
  return {
    orgId,
    vaultId,
    custody: 'wrapped',
    currentKekVersion: 1,
    wrappedKek: (v) => (v === 1 ? wrappedKek : undefined),
  };
}
