// What the human commands print: aligned tables by default, JSON with `--output json` (stable
// field names, the API's own snake_case objects), and progress on stderr.
import { CliError, EXIT } from './errors.js';

export type Format = 'table' | 'json';

export function parseFormat(value: string | undefined): Format {
  if (value === undefined || value === 'table') return 'table';
  if (value === 'json') return 'json';
  throw new CliError(EXIT.usage, `--output must be table or json, not ${JSON.stringify(value)}`);
}

/**
 * Characters a terminal acts on instead of showing: C0 and C1 controls (ESC starts a sequence
 * that can rewrite the screen, set the title or the clipboard) and the bidirectional overrides
 * that reorder what is shown. Any text the server returns may hold them — a denied request's
 * path is recorded as it was sent — so human output shows each as a visible escape.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const escapeChar = (c: string) => {
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
};

/**
 * `text` with every terminal control character shown as an escape (`\x1b`, `\u202e`);
 * `keepLines` leaves newlines and tabs as they are (a multi-line value such as a PEM key).
 */
export function terminalSafe(text: string, opts: { keepLines?: boolean } = {}): string {
  return text.replace(UNSAFE, (c) => (opts.keepLines && (c === '\n' || c === '\t') ? c : escapeChar(c)));
}

/** What JSON.stringify leaves raw inside strings (it escapes C0 itself; C0 outside strings is layout). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON for a terminal or a pipe: JSON.stringify leaves C1 controls and bidi overrides raw, so
 * they become \u escapes too (still the same JSON value).
 */
export function toJsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    UNSAFE_IN_JSON,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function printJson(value: unknown): void {
  process.stdout.write(`${toJsonText(value, 2)}\n`);
}

/** One line of human output, made terminal-safe. */
export function printLine(text: string): void {
  process.stdout.write(`${terminalSafe(text)}\n`);
}

type Cell = string | number | boolean | null | undefined;

/** Left-aligned columns, an upper-case header, two spaces between columns. */
export function printTable(columns: string[], rows: Cell[][]): void {
  const text = rows.map((r) => r.map(show));
  const widths = columns.map((c, i) => Math.max(c.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = [line(columns.map((c) => c.toUpperCase())), ...text.map(line)];
  process.stdout.write(`${out.join('\n')}\n`);
}

/** `key: value` lines for one object. */
export function printFields(fields: Array<[string, Cell]>): void {
  const w = Math.max(...fields.map(([k]) => k.length));
  process.stdout.write(`${fields.map(([k, v]) => `${`${k}:`.padEnd(w + 2)}${show(v)}`).join('\n')}\n`);
}

function show(v: Cell): string {
  if (v === null || v === undefined) return '-';
  return terminalSafe(String(v));
}

/** Either table/fields output or the JSON value, by format. */
export function emit(format: Format, json: unknown, human: () => void): void {
  if (format === 'json') printJson(json);
  else human();
}

/**
 * Progress of a job: a redrawn bar on a terminal, otherwise one line per change (for logs and
 * CI). Both on stderr, so stdout stays the result.
 */
export function progressReporter(label: string): {
  update(processed: number, total: number): void;
  done(): void;
} {
  const tty = process.stderr.isTTY === true;
  let last = '';
  let drawn = false;
  return {
    update(processed, total) {
      const pct = total > 0 ? Math.floor((processed / total) * 100) : processed > 0 ? 100 : 0;
      if (tty) {
        const width = 30;
        const filled = Math.min(width, Math.round((pct / 100) * width));
        const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
        process.stderr.write(`\r${label} [${bar}] ${processed}/${total} ${pct}%`);
        drawn = true;
        return;
      }
      const line = `${label}: ${processed}/${total} (${pct}%)`;
      if (line !== last) process.stderr.write(`${line}\n`);
      last = line;
    },
    done() {
      if (tty && drawn) process.stderr.write('\n');
    },
  };
}
