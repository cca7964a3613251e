// What a SecretSync writes, computed from what it read: the keys of dataFrom matches, the
// template, and the hash recorded in status. Pure functions, no I/O.
import { createHash } from 'node:crypto';

/** The fixed segments of a glob: those before the first segment with a wildcard. */
function fixedSegments(glob: string): string[] {
  const segments = glob.split('/');
  const firstWild = segments.findIndex((s) => s.includes('*'));
  return firstWild === -1 ? segments : segments.slice(0, firstWild);
}

/** The listing prefix that covers every match of the glob ('' or ending with '/'). */
export function listPrefix(glob: string): string {
  const fixed = fixedSegments(glob);
  // A glob without wildcards names one path: list its parent.
  const dirs = fixed.length === glob.split('/').length ? fixed.slice(0, -1) : fixed;
  return dirs.length ? `${dirs.join('/')}/` : '';
}

/**
 * The Secret key of a dataFrom match: its path relative to the glob's fixed prefix (never
 * dropping the last segment), with '/' replaced by '.'.
 */
export function dataFromKey(glob: string, path: string): string {
  const segments = path.split('/');
  const drop = Math.min(fixedSegments(glob).length, segments.length - 1);
  return segments.slice(drop).join('.');
}

export class TemplateError extends Error {
  override name = 'TemplateError';
}

const PLACEHOLDER = /\{\{\s*\.([-._a-zA-Z0-9]+)\s*\}\}/g;

/** Replaces each `{{ .KEY }}` with the synced value of KEY; an unknown KEY is an error. */
export function renderTemplate(
  template: Record<string, string>,
  values: Map<string, string>,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, text] of Object.entries(template)) {
    const rendered = text.replace(PLACEHOLDER, (_m, name: string) => {
      const v = values.get(name);
      if (v === undefined)
        throw new TemplateError(`template for ${key} names ${name}, which is not a synced key`);
      return v;
    });
    if (rendered.includes('{{')) throw new TemplateError(`template for ${key} has a malformed placeholder`);
    out.set(key, rendered);
  }
  return out;
}

export interface SyncedEntry {
  key: string;
  path: string;
  version: number;
}

/**
 * A fingerprint of what the Secret holds, recorded in status: a digest of which secret version
 * went to which key, the template and the type. Never a digest of the values (status is readable
 * by more people than the Secret, and a hash of a weak password can be guessed); every change
 * of a value is a new version, so the fingerprint still changes whenever the content does.
 */
export function contentFingerprint(input: {
  entries: SyncedEntry[];
  template: Record<string, string> | undefined;
  type: string;
}): string {
  const entries = [...input.entries]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((e) => [e.key, e.path, e.version]);
  const template = input.template
    ? Object.entries(input.template).sort(([a], [b]) => (a < b ? -1 : 1))
    : null;
  const digest = createHash('sha256')
    .update(JSON.stringify([entries, template, input.type]))
    .digest('hex');
  return `sha256:${digest}`;
}
