// Vaults are named by id or by name on the command line.
import type { OneclawClient, Vault } from '../../../sdk/src/index.js';
import { CliError, EXIT } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function vaultId(client: OneclawClient, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref;
  return (await findVault(client, ref)).id;
}

export async function findVault(client: OneclawClient, ref: string): Promise<Vault> {
  if (UUID.test(ref)) return client.vaults.get(ref);
  const matches = (await client.vaults.list()).filter((v) => v.name === ref);
  const [only] = matches;
  if (!only) throw new CliError(EXIT.notFound, `no vault named ${JSON.stringify(ref)}`);
  if (matches.length > 1)
    throw new CliError(EXIT.usage, `several vaults are named ${JSON.stringify(ref)}: use the id`);
  return only;
}
