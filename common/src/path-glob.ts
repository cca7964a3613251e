// Secret path globs: the grammar of a grant's path pattern (segments of A-Z a-z 0-9 _ -, `*`
// within a segment, `**` as whole segments), read by the API (grants, listings, change feeds)
// and by the operator (which secrets a SecretSync's dataFrom selects). Pure functions with a
// small bounded cache; checkPathPattern returns a message for a 400 (without the field name,
// which the caller prefixes) or undefined, and never throws.
//
// Patterns are matched in JS by a segment-wise automaton, not by the regular expression handed
// to PostgreSQL: a backtracking engine (V8) takes exponential time on patterns such as
// `*a*a*a*b` or `**/a/**/a/**/b`, which a grant is allowed to hold. PostgreSQL's engine does not
// backtrack on these constructs. Both agree on every valid path (the tests check it).
import { boundedCache } from './bounded-cache.js';

export const MAX_PATTERN_LENGTH = 512;

const MAX_PATH_LENGTH = 512;
const VALID_PATH = /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*$/;

/**
 * One step of a compiled pattern: `any` consumes zero or more whole segments; otherwise exactly
 * one segment matching `parts` (the segment's text split on `*`; one part = a literal).
 */
type Item = { any: true } | { any: false; parts: string[] };

interface CompiledPattern {
  items: Item[];
  regex: string;
}

/** undefined when valid, otherwise a message for a 400 naming what is wrong (never echoing more than the pattern). */
export function checkPathPattern(pattern: string): string | undefined {
  if (typeof pattern !== 'string') return 'must be a string';
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.length > MAX_PATTERN_LENGTH) return `is longer than ${MAX_PATTERN_LENGTH} characters`;
  if (pattern.startsWith('/') || pattern.endsWith('/')) return 'must not start or end with a slash';
  const bad = /[^A-Za-z0-9_*/-]/.exec(pattern);
  if (bad) {
    return `contains ${JSON.stringify(bad[0])} at position ${bad.index + 1}; segments are made of A-Z a-z 0-9 _ - and the wildcards * and **`;
  }
  for (const segment of pattern.split('/')) {
    if (segment === '') return 'must not contain an empty segment (//)';
    if (segment !== '**' && segment.includes('**')) {
      return `segment ${JSON.stringify(segment)} may use ** only as a whole segment`;
    }
  }
  return undefined;
}

/** The segments of a valid pattern with runs of `**` collapsed into one (same meaning). */
function normalizedSegments(pattern: string): string[] {
  const out: string[] = [];
  for (const segment of pattern.split('/')) {
    if (segment === '**' && out[out.length - 1] === '**') continue;
    out.push(segment);
  }
  return out;
}

function segmentRegex(segment: string): string {
  // Literals are only A-Z a-z 0-9 _ -, which mean themselves in both engines outside brackets.
  return segment === '*' ? '[^/]+' : segment.split('*').join('[^/]*');
}

function buildRegex(segments: string[]): string {
  let out = '^';
  let afterAny = false; // the previous piece already ended with a slash
  segments.forEach((segment, i) => {
    const first = i === 0;
    const last = i === segments.length - 1;
    if (segment === '**') {
      // Last: one or more segments. Followed by more: zero or more segments, each with its slash.
      out += last ? `${first ? '' : '/'}[^/]+(?:/[^/]+)*` : `${first ? '' : '/'}(?:[^/]+/)*`;
      afterAny = true;
      return;
    }
    out += `${first || afterAny ? '' : '/'}${segmentRegex(segment)}`;
    afterAny = false;
  });
  return `${out}$`;
}

function buildItems(segments: string[]): Item[] {
  const items: Item[] = [];
  segments.forEach((segment, i) => {
    if (segment !== '**') {
      items.push({ any: false, parts: segment.split('*') });
    } else if (i === segments.length - 1) {
      // A trailing ** needs at least one segment: one segment, then any number more.
      items.push({ any: false, parts: ['', ''] }, { any: true });
    } else {
      items.push({ any: true });
    }
  });
  return items;
}

const compiledPatterns = boundedCache<CompiledPattern | null>(10_000);

function compile(pattern: string): CompiledPattern | null {
  // Too long is invalid; checked first so that no caller can fill the cache with huge keys.
  if (typeof pattern !== 'string' || pattern.length > MAX_PATTERN_LENGTH) return null;
  return compiledPatterns(pattern, () => {
    if (checkPathPattern(pattern) !== undefined) return null;
    const segments = normalizedSegments(pattern);
    return { items: buildItems(segments), regex: buildRegex(segments) };
  });
}

/**
 * Anchored regular-expression source that is valid BOTH as a JS RegExp and as a PostgreSQL POSIX
 * ARE (used as `path ~ ANY($1::text[])` to filter listings in SQL). Only uses ^ $ [^/] + *
 * (?:...) and literals. Throws on an invalid pattern.
 */
export function pathPatternRegex(pattern: string): string {
  const compiled = compile(pattern);
  if (!compiled) {
    throw new Error(`invalid secret path pattern: ${checkPathPattern(pattern) ?? 'not a pattern'}`);
  }
  return compiled.regex;
}

/** Whether one path segment matches a segment glob (its text split on `*`). Linear, no backtracking. */
function segmentMatches(parts: string[], segment: string): boolean {
  const first = parts[0] ?? '';
  if (parts.length === 1) return segment === first;
  const last = parts[parts.length - 1] ?? '';
  if (segment.length < first.length + last.length) return false;
  if (!segment.startsWith(first) || !segment.endsWith(last)) return false;
  // Each middle literal at its earliest place after the previous one leaves the most room.
  const end = segment.length - last.length;
  let pos = first.length;
  for (let k = 1; k < parts.length - 1; k++) {
    const part = parts[k] ?? '';
    const at = segment.indexOf(part, pos);
    if (at < 0 || at + part.length > end) return false;
    pos = at + part.length;
  }
  return true;
}

/** Adds the states reachable by letting `any` items match zero segments. */
function close(items: Item[], states: Uint8Array): void {
  for (let i = 0; i < items.length; i++) {
    if (states[i] && items[i]?.any) states[i + 1] = 1;
  }
}

/**
 * The states (item indexes; items.length = all matched) after consuming `segments`, or
 * undefined once none is left.
 */
function run(items: Item[], segments: string[]): Uint8Array | undefined {
  let states = new Uint8Array(items.length + 1);
  states[0] = 1;
  close(items, states);
  for (const segment of segments) {
    const next = new Uint8Array(items.length + 1);
    let alive = false;
    for (let i = 0; i < items.length; i++) {
      if (!states[i]) continue;
      const item = items[i];
      if (!item) continue;
      if (item.any) {
        next[i] = 1;
        alive = true;
      } else if (segmentMatches(item.parts, segment)) {
        next[i + 1] = 1;
        alive = true;
      }
    }
    if (!alive) return undefined;
    close(items, next);
    states = next;
  }
  return states;
}

/** Whether a secret path matches a pattern. An invalid pattern or path matches nothing. */
export function matchesPath(pattern: string, path: string): boolean {
  const compiled = compile(pattern);
  if (!compiled) return false;
  if (typeof path !== 'string' || path.length > MAX_PATH_LENGTH || !VALID_PATH.test(path)) return false;
  const states = run(compiled.items, path.split('/'));
  return states?.[compiled.items.length] === 1;
}

/**
 * Whether some path under `prefix` (a listing prefix: any string, may end mid-segment or with
 * '/') could match the pattern — used to decide if a list call with a prefix may return
 * anything. Conservative: when unsure, return true. False for an invalid pattern, and for a
 * prefix that no valid path starts with (a leading slash, `//`, a character outside paths).
 */
export function patternMayMatchUnder(pattern: string, prefix: string): boolean {
  const compiled = compile(pattern);
  if (!compiled) return false;
  if (typeof prefix !== 'string' || prefix === '') return true;
  if (prefix.length > MAX_PATH_LENGTH || !/^[A-Za-z0-9_/-]+$/.test(prefix)) return false;
  if (prefix.startsWith('/') || prefix.includes('//')) return false;
  // Whole segments, then the start of the next one (empty when the prefix ends with a slash).
  const segments = prefix.split('/');
  const partial = segments.pop() ?? '';
  const states = run(compiled.items, segments);
  if (!states) return false;
  const { items } = compiled;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (!states[i] || !item) continue;
    // Any remaining items can be satisfied by some continuation, so only the next segment matters.
    if (item.any) return true;
    const head = item.parts[0] ?? '';
    if (
      item.parts.length === 1
        ? head.startsWith(partial)
        : partial.startsWith(head) || head.startsWith(partial)
    ) {
      return true;
    }
  }
  return false;
}
