// The parts of a grant that are not about identity: which secret paths its pattern covers, which
// client addresses its `ip_cidrs` admit and when its `time_window` is open. Pure functions with
// small bounded caches; every check* returns a message for a 400 (without the field name, which
// the caller prefixes) or undefined, and never throws.
//
// Path patterns are matched in JS by a segment-wise automaton, not by the regular expression
// handed to PostgreSQL: a backtracking engine (V8) takes exponential time on patterns such as
// `*a*a*a*b` or `**/a/**/a/**/b`, which a grant is allowed to hold. PostgreSQL's engine does not
// backtrack on these constructs. Both agree on every valid path (the tests check it).
import { BlockList, isIP } from 'node:net';

export const MAX_PATTERN_LENGTH = 512;
export const MAX_CIDRS = 64;

const MAX_PATH_LENGTH = 512;
const VALID_PATH = /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*$/;

/** A Map that forgets its least recently used entry beyond `max` entries. */
function boundedCache<V>(max: number) {
  const entries = new Map<string, V>();
  return (key: string, make: () => V): V => {
    if (entries.has(key)) {
      const hit = entries.get(key) as V;
      entries.delete(key);
      entries.set(key, hit);
      return hit;
    }
    const value = make();
    if (entries.size >= max) {
      const oldest = entries.keys().next();
      if (!oldest.done) entries.delete(oldest.value);
    }
    entries.set(key, value);
    return value;
  };
}

// ---------------------------------------------------------------------------------------------
// Path patterns

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

// ---------------------------------------------------------------------------------------------
// Client addresses

interface Rule {
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix: number | undefined;
}

/** The 8 16-bit groups of an address that net.isIP accepted as IPv6 (no zone). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const o = tail.split('.').map(Number);
    const hi = (((o[0] ?? 0) << 8) | (o[1] ?? 0)).toString(16);
    const lo = (((o[2] ?? 0) << 8) | (o[3] ?? 0)).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest ? rest.split(':') : [];
  const zeros =
    rest === undefined ? [] : new Array<string>(8 - headGroups.length - restGroups.length).fill('0');
  return [...headGroups, ...zeros, ...restGroups].map((g) => Number.parseInt(g, 16));
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), if it is one. */
function unmapped(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (g.length !== 8 || g.slice(0, 5).some((x) => x !== 0) || g[5] !== 0xffff) return undefined;
  const hi = g[6] ?? 0;
  const lo = g[7] ?? 0;
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * A CIDR or single address, IPv4-mapped IPv6 forms (::ffff:10.0.0.0/104) turned into IPv4;
 * undefined when invalid.
 */
function parseRule(entry: unknown): Rule | undefined {
  if (typeof entry !== 'string' || entry.length > 64) return undefined;
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const version = address.includes('%') ? 0 : isIP(address);
  if (version === 0) return undefined;
  let prefix: number | undefined;
  if (slash >= 0) {
    const digits = entry.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(digits)) return undefined;
    prefix = Number(digits);
    if (prefix > (version === 4 ? 32 : 128)) return undefined;
  }
  if (version === 4) return { family: 'ipv4', address, prefix };
  const v4 = unmapped(address);
  if (v4 !== undefined && (prefix === undefined || prefix >= 96)) {
    return { family: 'ipv4', address: v4, prefix: prefix === undefined ? undefined : prefix - 96 };
  }
  return { family: 'ipv6', address, prefix };
}

export function checkCidrs(cidrs: string[]): string | undefined {
  if (!Array.isArray(cidrs)) return 'must be a list of CIDRs or addresses';
  if (cidrs.length === 0) return 'must list at least one CIDR or address (leave it out to allow any address)';
  if (cidrs.length > MAX_CIDRS) return `may list at most ${MAX_CIDRS} CIDRs or addresses`;
  for (let i = 0; i < cidrs.length; i++) {
    if (!parseRule(cidrs[i])) {
      return `entry ${i + 1} is not an IPv4 or IPv6 address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)`;
    }
  }
  return undefined;
}

interface Lists {
  ipv4: BlockList;
  ipv6: BlockList;
}

// Two lists, so that a rule only admits addresses of its own family (node's BlockList would let
// ::/0 admit every IPv4 address). Invalid entries are skipped: they can only narrow a grant.
const blockLists = boundedCache<Lists>(1_000);

function listsFor(cidrs: string[]): Lists {
  return blockLists(JSON.stringify(cidrs), () => {
    const lists: Lists = { ipv4: new BlockList(), ipv6: new BlockList() };
    for (const entry of cidrs) {
      const rule = parseRule(entry);
      if (!rule) continue;
      const list = lists[rule.family];
      if (rule.prefix === undefined) list.addAddress(rule.address, rule.family);
      else list.addSubnet(rule.address, rule.prefix, rule.family);
    }
    return lists;
  });
}

/**
 * Whether a client address is inside one of the CIDRs or addresses. An IPv4-mapped IPv6 client
 * address counts as its IPv4 address; an unparsable address or an empty list admits nothing.
 */
export function ipAllowed(ip: string, cidrs: string[]): boolean {
  if (!Array.isArray(cidrs) || cidrs.length === 0 || typeof ip !== 'string') return false;
  const zone = ip.indexOf('%');
  const version = isIP(ip);
  if (version === 0) return false;
  let address = version === 6 && zone >= 0 ? ip.slice(0, zone) : ip;
  let family: 'ipv4' | 'ipv6' = version === 4 ? 'ipv4' : 'ipv6';
  if (family === 'ipv6') {
    const v4 = unmapped(address);
    if (v4 !== undefined) {
      address = v4;
      family = 'ipv4';
    }
  }
  try {
    return listsFor(cidrs)[family].check(address, family);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Time windows

export type Day = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export interface TimeWindow {
  days?: Day[];
  start: string;
  end: string;
  tz: string;
}

const DAYS: readonly Day[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const HH_MM = /^(?:[01][0-9]|2[0-3]):[0-5][0-9]$/;

/** Minutes after midnight of an 'HH:MM' time, or undefined. */
function minutes(hhmm: unknown): number | undefined {
  if (typeof hhmm !== 'string' || !HH_MM.test(hhmm)) return undefined;
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

const formatters = boundedCache<Intl.DateTimeFormat | null>(1_000);

/** A formatter of weekday, hour and minute in `tz`; null for a zone Intl does not know. */
function formatter(tz: unknown): Intl.DateTimeFormat | null {
  if (typeof tz !== 'string' || tz.length === 0 || tz.length > 64 || !/^[A-Za-z0-9_+/-]+$/.test(tz))
    return null;
  return formatters(tz, () => {
    try {
      return new Intl.DateTimeFormat('en-US', {
        timeZone: tz,
        weekday: 'short',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      });
    } catch {
      return null;
    }
  });
}

export function checkTimeWindow(w: TimeWindow): string | undefined {
  if (typeof w !== 'object' || w === null || Array.isArray(w))
    return 'must be an object {days?, start, end, tz}';
  const { days, start, end, tz } = w;
  if (days !== undefined) {
    if (!Array.isArray(days) || days.length === 0) {
      return 'days must be a non-empty list of mon tue wed thu fri sat sun (leave it out for every day)';
    }
    const seen = new Set<string>();
    for (const day of days as unknown[]) {
      if (typeof day !== 'string' || !(DAYS as readonly string[]).includes(day)) {
        return 'days may only contain mon tue wed thu fri sat sun';
      }
      if (seen.has(day)) return `days lists ${day} more than once`;
      seen.add(day);
    }
  }
  const from = minutes(start);
  if (from === undefined) return 'start must be a 24-hour time HH:MM (00:00 to 23:59)';
  const to = minutes(end);
  if (to === undefined) return 'end must be a 24-hour time HH:MM (00:00 to 23:59)';
  if (from === to) return 'start and end must differ';
  if (!formatter(tz)) return 'tz must be an IANA time zone name such as UTC or Europe/Berlin';
  return undefined;
}

/**
 * Whether `now` falls in the window: [start, end) in the wall-clock time of `tz`, on one of
 * `days`. A window with start > end runs past midnight, and the part after midnight belongs to
 * the day it started on. An invalid window is never open.
 */
export function inTimeWindow(w: TimeWindow, now: Date): boolean {
  if (typeof w !== 'object' || w === null) return false;
  const from = minutes(w.start);
  const to = minutes(w.end);
  const fmt = formatter(w.tz);
  if (from === undefined || to === undefined || from === to || !fmt) return false;
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) return false;
  let weekday = '';
  let hour = Number.NaN;
  let minute = Number.NaN;
  for (const part of fmt.formatToParts(now)) {
    if (part.type === 'weekday') weekday = part.value.toLowerCase();
    else if (part.type === 'hour') hour = Number(part.value) % 24;
    else if (part.type === 'minute') minute = Number(part.value);
  }
  const dayIndex = DAYS.indexOf(weekday as Day);
  if (dayIndex < 0 || Number.isNaN(hour) || Number.isNaN(minute)) return false;
  const t = hour * 60 + minute;
  const days: unknown = w.days;
  if (days !== undefined && !Array.isArray(days)) return false;
  const on = (index: number) => days === undefined || days.includes(DAYS[index] as Day);
  if (from < to) return t >= from && t < to && on(dayIndex);
  // Past midnight: the evening part belongs to today, the early-morning part to yesterday.
  if (t >= from) return on(dayIndex);
  if (t < to) return on((dayIndex + 6) % 7);
  return false;
}
