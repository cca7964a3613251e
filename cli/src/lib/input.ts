// Secret input: values and keys come from files, stdin or a hidden prompt — never from argv,
// where other users see them in the process list and shells keep them in history.
import { readFileSync, statSync } from 'node:fs';
import { CMEK_KEY_BYTES, fromBase64 } from '../../../sdk/src/index.js';
import { CliError, EXIT } from './errors.js';

/** All of stdin, as bytes. */
export async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** One line typed on the terminal without echo. */
export async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode?.(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          finish();
          reject(new CliError(130, 'interrupted'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

/** Drops one trailing newline (`echo value | …`), nothing else. */
function chompOne(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d && end === bytes.length - 1) end--;
  return bytes.subarray(0, end);
}

/**
 * A secret value: `--file` byte for byte, else stdin (one trailing newline dropped), else a
 * hidden prompt on a terminal.
 */
export async function readValue(file: string | undefined, what: string): Promise<Uint8Array> {
  if (file) return new Uint8Array(readFileChecked(file, what));
  if (!process.stdin.isTTY) return chompOne(await readStdin());
  return new TextEncoder().encode(await promptHidden(`${what}: `));
}

function readFileChecked(file: string, what: string): Buffer {
  try {
    return readFileSync(file === '-' ? 0 : file);
  } catch (err) {
    throw new CliError(
      EXIT.usage,
      `cannot read ${what} file ${file}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
}

/**
 * A CMEK key file: 32 raw bytes, or their standard base64 (what `cmek generate-key` writes).
 * Warns when others may read it.
 */
export function readKeyFile(file: string): Uint8Array {
  const raw = readFileChecked(file, 'key');
  try {
    if ((statSync(file).mode & 0o077) !== 0) {
      process.stderr.write(`oneclaw: warning: key file ${file} is readable by other users (chmod 600 it)\n`);
    }
  } catch {
    // stdin or a vanished file: nothing to warn about
  }
  if (raw.length === CMEK_KEY_BYTES) return new Uint8Array(raw);
  const text = raw.toString('utf8').trim();
  let key: Uint8Array;
  try {
    key = fromBase64(text);
  } catch {
    throw new CliError(EXIT.cmek, `key file ${file} is neither 32 raw bytes nor their base64`);
  }
  if (key.length !== CMEK_KEY_BYTES) {
    throw new CliError(EXIT.cmek, `key file ${file} holds ${key.length} bytes; a CMEK key is 32`);
  }
  return key;
}
