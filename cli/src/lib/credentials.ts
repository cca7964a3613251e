// Where `oneclaw login` keeps what it needs between runs:
// `${ONECLAW_CONFIG_DIR:-${XDG_CONFIG_HOME:-~/.config}/oneclaw}/credentials.json`, the directory
// mode 0700 and the file 0600 (both re-tightened on every write). The file is replaced
// atomically (write a temporary file with mode 0600, then rename), so a reader never sees a half
// file and the secret is never, even briefly, readable by others.
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError, EXIT } from './errors.js';

export interface StoredCredentials {
  /** The API's base URL. */
  server: string;
  /** `user:<id>` / `agent:<id>`, from the token. */
  principal?: string;
  access_token?: string;
  /** RFC 3339; when the access token expires. */
  token_expires_at?: string;
  /** The API key, kept (unless `login --no-store-key`) to renew the token when it expires. */
  api_key?: string;
  /** For agent keys (`ocv_…`). */
  agent_id?: string;
  /**
   * `login --kubernetes`: the projected service-account token file, read again for every
   * exchange (the kubelet rotates it), instead of an API key.
   */
  kubernetes_token_file?: string;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ONECLAW_CONFIG_DIR) return env.ONECLAW_CONFIG_DIR;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'oneclaw');
}

export const credentialsFile = (env: NodeJS.ProcessEnv = process.env) =>
  join(configDir(env), 'credentials.json');

export function loadCredentials(): StoredCredentials | undefined {
  let text: string;
  try {
    text = readFileSync(credentialsFile(), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(
      EXIT.error,
      `cannot read ${credentialsFile()}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
  try {
    const parsed = JSON.parse(text) as StoredCredentials;
    if (typeof parsed?.server !== 'string') throw new Error('no server');
    return parsed;
  } catch {
    throw new CliError(
      EXIT.auth,
      `${credentialsFile()} is not a oneclaw credentials file: run \`oneclaw login\``,
    );
  }
}

export function saveCredentials(c: StoredCredentials): string {
  const dir = configDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = credentialsFile();
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

/** Removes the credentials file; true if there was one. */
export function removeCredentials(): boolean {
  const file = credentialsFile();
  try {
    readFileSync(file);
  } catch {
    return false;
  }
  rmSync(file, { force: true });
  return true;
}
