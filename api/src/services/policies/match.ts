// The parts of a grant that are not about identity or paths: which client addresses its
// `ip_cidrs` admit and when its `time_window` is open. Pure functions with small bounded
// caches; every check* returns a message for a 400 (without the field name, which the caller
// prefixes) or undefined, and never throws. Path patterns live in common/src/path-glob.ts.
import { BlockList, isIP } from 'node:net';
import { boundedCache } from '../../../../common/src/bounded-cache.js';
import { DAYS, type Day, type TimeWindow } from '../../../../contract/src/policies.js';

export const MAX_CIDRS = 64;

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

export type { TimeWindow } from '../../../../contract/src/policies.js';

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
