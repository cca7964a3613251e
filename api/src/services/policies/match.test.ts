// Path globs, client-address and time-window conditions of grants: table-driven cases and
// properties (an independent reference matcher, the SQL regex agreeing with the matcher, and
// validators that never throw).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkCidrs,
  checkPathPattern,
  checkTimeWindow,
  inTimeWindow,
  ipAllowed,
  matchesPath,
  pathPatternRegex,
  patternMayMatchUnder,
  type TimeWindow,
} from './match.js';

// ---------------------------------------------------------------------------------------------
// An independent reference: plain recursion over segments and characters.

function refSegment(glob: string, segment: string): boolean {
  if (glob === '') return segment === '';
  if (glob[0] === '*') {
    for (let k = 0; k <= segment.length; k++) if (refSegment(glob.slice(1), segment.slice(k))) return true;
    return false;
  }
  return segment[0] === glob[0] && refSegment(glob.slice(1), segment.slice(1));
}

function refSegments(globs: string[], segments: string[]): boolean {
  const [head, ...rest] = globs;
  if (head === undefined) return segments.length === 0;
  if (head === '**') {
    if (rest.length === 0) return segments.length >= 1;
    for (let k = 0; k <= segments.length; k++) if (refSegments(rest, segments.slice(k))) return true;
    return false;
  }
  const [first, ...others] = segments;
  if (first === undefined || (head === '*' && first === '')) return false;
  return refSegment(head, first) && refSegments(rest, others);
}

const refMatches = (pattern: string, path: string) => refSegments(pattern.split('/'), path.split('/'));

// Small alphabets so that random patterns and paths often match.
const segmentArb = fc
  .array(fc.constantFrom('a', 'b', '-'), { minLength: 1, maxLength: 3 })
  .map((cs) => cs.join(''));
const pathArb = fc.array(segmentArb, { minLength: 1, maxLength: 6 }).map((ss) => ss.join('/'));
const globSegmentArb = fc.oneof(
  fc.constant('**'),
  fc.constant('*'),
  segmentArb,
  fc
    .array(fc.constantFrom('a', 'b', '-', '*'), { minLength: 1, maxLength: 4 })
    .map((cs) => cs.join(''))
    .filter((s) => !s.includes('**')),
);
const randomPatternArb = fc.array(globSegmentArb, { minLength: 1, maxLength: 5 }).map((ss) => ss.join('/'));
/** A pattern made from a path by turning some segments into wildcards, or dropping/adding `**`. */
const derivedPatternArb = fc
  .tuple(pathArb, fc.array(fc.nat(6), { minLength: 1, maxLength: 6 }))
  .map(([path, choices]) =>
    path
      .split('/')
      .flatMap((segment, i) => {
        switch (choices[i % choices.length]) {
          case 0:
            return ['*'];
          case 1:
            return ['**'];
          case 2:
            return ['**', segment];
          case 3:
            return [`${segment[0]}*`];
          default:
            return [segment];
        }
      })
      .join('/'),
  );
const patternArb = fc.oneof(randomPatternArb, derivedPatternArb);

// ---------------------------------------------------------------------------------------------

describe('path patterns', () => {
  const cases: Array<[pattern: string, path: string, matches: boolean]> = [
    // literals
    ['app/db/password', 'app/db/password', true],
    ['app/db/password', 'app/db/passwords', false],
    ['app/db/password', 'app/db', false],
    ['app/db', 'app/db/password', false],
    ['App', 'app', false],
    // * is exactly one whole segment and never crosses a slash
    ['*', 'app', true],
    ['*', 'app/x', false],
    ['app/*', 'app/x', true],
    ['app/*', 'app', false],
    ['app/*', 'app/x/y', false],
    ['app/*/password', 'app/db/password', true],
    ['app/*/password', 'app/password', false],
    ['app/*/password', 'app/a/b/password', false],
    ['*/*', 'a/b', true],
    ['*/*', 'a', false],
    // * inside a segment
    ['db-*', 'db-main', true],
    ['db-*', 'db-', true], // the * may match nothing
    ['db-*', 'db', false],
    ['db-*', 'xdb-main', false],
    ['db-*', 'db-main/x', false],
    ['*-prod', 'api-prod', true],
    ['*-prod', 'api-prod-2', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'a-x-b-y-c', true],
    ['a*b*c', 'acb', false],
    ['a*b*c', 'abcb', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['*a*', 'xay', true],
    ['*a*', 'xyz', false],
    // trailing **: one or more segments
    ['app/**', 'app/x', true],
    ['app/**', 'app/x/y', true],
    ['app/**', 'app/x/y/z/w', true],
    ['app/**', 'app', false],
    ['app/**', 'apps/x', false],
    ['app/**', 'other/app/x', false],
    ['**', 'app', true],
    ['**', 'a/b/c/d', true],
    // ** followed by more: zero or more segments
    ['app/**/password', 'app/password', true],
    ['app/**/password', 'app/x/password', true],
    ['app/**/password', 'app/x/y/password', true],
    ['app/**/password', 'app/x/y/password2', false],
    ['app/**/password', 'password', false],
    ['app/**/password', 'app/x/password/y', false],
    ['**/password', 'password', true],
    ['**/password', 'a/b/password', true],
    ['**/password', 'a/b/passwords', false],
    ['**/*', 'a', true],
    ['**/*', 'a/b/c', true],
    ['**/db-*/**', 'db-1/x', true],
    ['**/db-*/**', 'a/db-1/x/y', true],
    ['**/db-*/**', 'a/db-1', false],
    ['a/**/b/**/c', 'a/b/c', true],
    ['a/**/b/**/c', 'a/x/b/y/z/c', true],
    ['a/**/b/**/c', 'a/x/c', false],
    // runs of ** mean the same as one
    ['**/**', 'a', true],
    ['**/**', 'a/b', true],
    ['a/**/**', 'a', false],
    ['a/**/**', 'a/b', true],
    ['a/**/**/b', 'a/b', true],
    ['a/**/**/b', 'a/x/y/b', true],
    // invalid paths match nothing
    ['**', '/app', false],
    ['**', 'app/', false],
    ['**', 'app//x', false],
    ['**', 'app/key.txt', false],
    ['**', '', false],
    ['*', 'a b', false],
    // an invalid pattern matches nothing
    ['app/***', 'app/x', false],
    ['', '', false],
  ];

  it.each(cases)('%s against %s → %s', (pattern, path, expected) => {
    expect(matchesPath(pattern, path)).toBe(expected);
    if (checkPathPattern(pattern) === undefined && /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/.test(path)) {
      expect(new RegExp(pathPatternRegex(pattern)).test(path)).toBe(expected);
      expect(refMatches(pattern, path)).toBe(expected);
    }
  });

  it('accepts the longest valid path, not a longer one', () => {
    const path = `${'a'.repeat(255)}/${'b'.repeat(256)}`;
    expect(path).toHaveLength(512);
    expect(matchesPath('**', path)).toBe(true);
    expect(matchesPath('*/b*', path)).toBe(true);
    expect(matchesPath('**', `${path}b`)).toBe(false);
    expect(matchesPath('*/b*', `${path}b`)).toBe(false);
  });

  const valid = [
    '*',
    '**',
    'a',
    'app/db/password',
    'A-Z_0-9',
    'db-*',
    '*-prod',
    'a*b*c',
    '*a*',
    'app/**',
    'app/**/password',
    '**/password',
    '**/**',
  ];
  it.each(valid)('accepts %s', (pattern) => {
    expect(checkPathPattern(pattern)).toBeUndefined();
    expect(() => pathPatternRegex(pattern)).not.toThrow();
  });

  const invalid: Array<[pattern: string, message: RegExp]> = [
    ['', /empty/],
    ['***', /\*\* only as a whole segment/],
    ['app/***', /"\*\*\*" may use \*\* only as a whole segment/],
    ['a**b', /"a\*\*b"/],
    ['a**', /whole segment/],
    ['**b', /whole segment/],
    ['/app', /slash/],
    ['app/', /slash/],
    ['/', /slash/],
    ['app//x', /empty segment/],
    ['app/x.y', /"\." at position 6/],
    ['app/my key', /" " at position 7/],
    ['app\\x', /"\\\\"/],
    ['app/?', /"\?"/],
    ['app/[a]', /"\["/],
    ['app/é', /"é"/],
    ['a\nb', /"\\n"/],
  ];
  it.each(invalid)('refuses %j', (pattern, message) => {
    const problem = checkPathPattern(pattern);
    expect(problem).toMatch(message);
    expect(() => pathPatternRegex(pattern)).toThrow();
    expect(matchesPath(pattern, 'app/x')).toBe(false);
    expect(patternMayMatchUnder(pattern, '')).toBe(false);
  });

  it('accepts patterns up to 512 characters', () => {
    expect(checkPathPattern('a'.repeat(512))).toBeUndefined();
    expect(checkPathPattern(`${'a/'.repeat(255)}**`)).toBeUndefined();
    expect(checkPathPattern('a'.repeat(513))).toBe('is longer than 512 characters');
    expect(() => pathPatternRegex('a'.repeat(513))).toThrow();
  });

  it('never echoes more than the pattern', () => {
    const long = `${'x'.repeat(600)}/***`;
    expect(checkPathPattern(long)).not.toContain('x');
    expect(checkPathPattern(`${'x'.repeat(100)}/a.b`)).not.toContain('x');
  });

  it('refuses non-strings without throwing', () => {
    for (const v of [undefined, null, 1, {}, ['a']]) {
      expect(checkPathPattern(v as unknown as string)).toBe('must be a string');
      expect(matchesPath(v as unknown as string, 'a')).toBe(false);
    }
  });

  const regexes: Array<[pattern: string, source: string]> = [
    ['app/db/password', '^app/db/password$'],
    ['*', '^[^/]+$'],
    ['**', '^[^/]+(?:/[^/]+)*$'],
    ['db-*', '^db-[^/]*$'],
    ['app/**', '^app/[^/]+(?:/[^/]+)*$'],
    ['app/**/password', '^app/(?:[^/]+/)*password$'],
    ['**/password', '^(?:[^/]+/)*password$'],
    ['**/**', '^[^/]+(?:/[^/]+)*$'],
    ['a/**/**/b', '^a/(?:[^/]+/)*b$'],
    ['a*b/*', '^a[^/]*b/[^/]+$'],
  ];
  it.each(regexes)('regex of %s is %s', (pattern, source) => {
    expect(pathPatternRegex(pattern)).toBe(source);
  });

  it('is fast on patterns that would make a backtracking regex engine explode', () => {
    const starry = `${'*a'.repeat(200)}*b`;
    const deep = `${'**/a/'.repeat(100)}b`;
    const longSegment = `${'a'.repeat(511)}c`;
    const manySegments = `${'a/'.repeat(255)}c`;
    const t = performance.now();
    expect(matchesPath(starry, longSegment)).toBe(false);
    expect(matchesPath(deep, manySegments)).toBe(false);
    expect(patternMayMatchUnder(deep, manySegments)).toBe(true); // a/…/a/c…/…/b
    expect(patternMayMatchUnder(`${'*a'.repeat(200)}*b/x`, `${longSegment}/`)).toBe(false);
    expect(matchesPath(starry, `${'a'.repeat(511)}b`)).toBe(true);
    expect(performance.now() - t).toBeLessThan(2_000);
  });

  describe('properties', () => {
    it('matchesPath agrees with a simple recursive reference matcher', () => {
      fc.assert(
        fc.property(patternArb, pathArb, (pattern, path) => {
          fc.pre(checkPathPattern(pattern) === undefined);
          expect(matchesPath(pattern, path)).toBe(refMatches(pattern, path));
        }),
        { numRuns: 5_000 },
      );
    });

    it('the regex source, compiled by JS, agrees with matchesPath', () => {
      fc.assert(
        fc.property(patternArb, pathArb, (pattern, path) => {
          fc.pre(checkPathPattern(pattern) === undefined);
          expect(new RegExp(pathPatternRegex(pattern)).test(path)).toBe(matchesPath(pattern, path));
        }),
        { numRuns: 5_000 },
      );
    });

    it('the regex source only uses constructs JS and PostgreSQL AREs agree on', () => {
      const allowed = /^\^(?:\[\^\/\]|\(\?:|\)|[+*]|[A-Za-z0-9_/-])*\$$/;
      fc.assert(
        fc.property(patternArb, (pattern) => {
          fc.pre(checkPathPattern(pattern) === undefined);
          expect(pathPatternRegex(pattern)).toMatch(allowed);
        }),
      );
    });

    it('every prefix of a matching path may match', () => {
      fc.assert(
        fc.property(patternArb, pathArb, fc.nat(), (pattern, path, cut) => {
          fc.pre(matchesPath(pattern, path));
          const prefix = path.slice(0, cut % (path.length + 1));
          expect(patternMayMatchUnder(pattern, prefix)).toBe(true);
        }),
        { numRuns: 5_000 },
      );
    });

    it('check* never throw on arbitrary input', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 600 }), fc.anything(), (s, anything) => {
          checkPathPattern(s);
          checkPathPattern(anything as string);
          matchesPath(s, s);
          patternMayMatchUnder(s, s);
          checkCidrs([s]);
          checkCidrs(anything as string[]);
          ipAllowed(s, [s]);
          checkTimeWindow(anything as TimeWindow);
          checkTimeWindow({ start: s, end: s, tz: s });
          checkTimeWindow({ days: [s as 'mon'], start: '09:00', end: '10:00', tz: s });
          inTimeWindow(anything as TimeWindow, new Date());
        }),
        { numRuns: 2_000 },
      );
    });
  });
});

describe('patternMayMatchUnder', () => {
  const cases: Array<[pattern: string, prefix: string, may: boolean]> = [
    ['app/**', '', true],
    ['app/**', 'a', true],
    ['app/**', 'app', true],
    ['app/**', 'app/', true],
    ['app/**', 'app/x', true],
    ['app/**', 'app/x/y/', true],
    ['app/**', 'apple', false],
    ['app/**', 'apx', false],
    ['app/**', 'b', false],
    ['app/**', 'other/', false],
    ['app/db/password', 'app/d', true],
    ['app/db/password', 'app/db/', true],
    ['app/db/password', 'app/db/password', true],
    ['app/db/password', 'app/db/password/', false],
    ['app/db/password', 'app/db/passwords', false],
    ['app/db/password', 'app/x', false],
    ['app/*', 'app/anything', true],
    ['app/*', 'app/x/', false],
    ['app/*/key', 'app/x/', true],
    ['app/*/key', 'app/x/k', true],
    ['app/*/key', 'app/x/z', false],
    ['db-*', 'd', true],
    ['db-*', 'db-main', true],
    ['db-*', 'dx', false],
    ['*-prod', 'anything', true],
    ['**/password', 'a/b/c/', true],
    ['**/password', 'x', true],
    ['**', 'any/thing', true],
    ['*', 'a/', false],
    ['*', 'abc', true],
    // prefixes no valid path starts with
    ['**', '/', false],
    ['**', '/app', false],
    ['**', 'app//', false],
    ['**', 'app.', false],
  ];
  it.each(cases)('%s under %j → %s', (pattern, prefix, expected) => {
    expect(patternMayMatchUnder(pattern, prefix)).toBe(expected);
  });

  it('is false for a prefix longer than any path', () => {
    expect(patternMayMatchUnder('**', 'a'.repeat(512))).toBe(true);
    expect(patternMayMatchUnder('**', 'a'.repeat(513))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------

describe('ip_cidrs', () => {
  const cases: Array<[ip: string, cidrs: string[], allowed: boolean]> = [
    ['10.1.2.3', ['10.0.0.0/8'], true],
    ['11.1.2.3', ['10.0.0.0/8'], false],
    ['192.168.1.77', ['192.168.1.0/24'], true],
    ['192.168.2.1', ['192.168.1.0/24'], false],
    ['1.2.3.4', ['1.2.3.4/32'], true],
    ['1.2.3.5', ['1.2.3.4/32'], false],
    ['1.2.3.4', ['1.2.3.4'], true],
    ['1.2.3.5', ['1.2.3.4'], false],
    ['8.8.8.8', ['0.0.0.0/0'], true],
    ['10.9.9.9', ['10.0.0.1/8'], true], // host bits are ignored
    ['10.1.2.3', ['192.168.0.0/16', '10.0.0.0/8'], true],
    ['172.16.0.1', ['192.168.0.0/16', '10.0.0.0/8'], false],
    // IPv6
    ['2001:db8::1', ['2001:db8::/32'], true],
    ['2001:db9::1', ['2001:db8::/32'], false],
    ['2001:db8::1', ['2001:db8::1/128'], true],
    ['2001:db8::2', ['2001:db8::1/128'], false],
    ['::1', ['::1'], true],
    ['::2', ['::1'], false],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', ['2001:db8::1'], true],
    ['fe80::1', ['::/0'], true],
    ['fe80::1%eth0', ['fe80::/10'], true],
    // families do not cross
    ['1.2.3.4', ['::/0'], false],
    ['2001:db8::1', ['0.0.0.0/0'], false],
    // IPv4-mapped IPv6 is the IPv4 address
    ['::ffff:10.1.2.3', ['10.0.0.0/8'], true],
    ['::ffff:11.1.2.3', ['10.0.0.0/8'], false],
    ['::ffff:a01:203', ['10.0.0.0/8'], true],
    ['::FFFF:10.1.2.3', ['10.1.2.3'], true],
    ['::ffff:1.2.3.4', ['::/0'], false],
    ['10.1.2.3', ['::ffff:10.0.0.0/104'], true],
    ['::ffff:10.1.2.3', ['::ffff:10.0.0.0/104'], true],
    ['11.1.2.3', ['::ffff:10.0.0.0/104'], false],
    ['10.1.2.3', ['::ffff:10.1.2.3'], true],
    ['1.2.3.4', ['::ffff:0:0/96'], true],
    // unparsable addresses and empty lists admit nothing
    ['', ['0.0.0.0/0'], false],
    ['localhost', ['0.0.0.0/0'], false],
    ['10.1.2', ['0.0.0.0/0'], false],
    ['1.2.3.4/32', ['0.0.0.0/0'], false],
    ['1.2.3.4', [], false],
    // invalid entries are skipped, valid ones still count
    ['10.1.2.3', ['nonsense', '10.0.0.0/8'], true],
    ['10.1.2.3', ['10.0.0.0/33'], false],
  ];
  it.each(cases)('%s in %j → %s', (ip, cidrs, expected) => {
    expect(ipAllowed(ip, cidrs)).toBe(expected);
  });

  it('does not confuse lists that join to the same text', () => {
    expect(ipAllowed('5.6.7.8', ['1.2.3.4,5.6.7.8'])).toBe(false);
    expect(ipAllowed('5.6.7.8', ['1.2.3.4', '5.6.7.8'])).toBe(true);
    expect(ipAllowed('5.6.7.8', ['1.2.3.4\n5.6.7.8'])).toBe(false);
  });

  const valid = [
    ['10.0.0.0/8'],
    ['0.0.0.0/0'],
    ['1.2.3.4/32'],
    ['1.2.3.4'],
    ['::/0'],
    ['::1/128'],
    ['::1'],
    ['2001:db8::/32', '10.0.0.0/8'],
    ['::ffff:10.0.0.0/104'],
  ];
  it.each(valid.map((cidrs) => [cidrs]))('accepts %j', (cidrs) => {
    expect(checkCidrs(cidrs)).toBeUndefined();
  });

  it('accepts 64 entries, not 65', () => {
    const cidrs = Array.from({ length: 65 }, (_, i) => `10.0.${i}.0/24`);
    expect(checkCidrs(cidrs.slice(0, 64))).toBeUndefined();
    expect(checkCidrs(cidrs)).toBe('may list at most 64 CIDRs or addresses');
  });

  const invalid: Array<[cidrs: string[], message: RegExp]> = [
    [['10.0.0.0/33'], /entry 1 /],
    [['::1/129'], /entry 1 /],
    [['foo'], /entry 1 /],
    [['1.2.3.4/'], /entry 1 /],
    [['1.2.3.4/-1'], /entry 1 /],
    [['1.2.3.4/08'], /entry 1 /],
    [['1.2.3.4/ 8'], /entry 1 /],
    [['1.2.3.4/8/8'], /entry 1 /],
    [['/8'], /entry 1 /],
    [['256.0.0.0/8'], /entry 1 /],
    [['01.2.3.4'], /entry 1 /],
    [['1.2.3'], /entry 1 /],
    [['fe80::1%eth0'], /entry 1 /],
    [['[::1]'], /entry 1 /],
    [['10.0.0.0/8', ''], /entry 2 /],
    [['10.0.0.0/8', ' 10.0.0.0/8'], /entry 2 /],
    [[], /at least one/],
  ];
  it.each(invalid)('refuses %j', (cidrs, message) => {
    expect(checkCidrs(cidrs)).toMatch(message);
  });

  it('refuses non-lists and non-string entries without throwing', () => {
    expect(checkCidrs('10.0.0.0/8' as unknown as string[])).toMatch(/list/);
    expect(checkCidrs([8 as unknown as string])).toMatch(/entry 1/);
    expect(ipAllowed('10.0.0.1', '10.0.0.0/8' as unknown as string[])).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------

describe('time windows', () => {
  const utc = (start: string, end: string, days?: TimeWindow['days']): TimeWindow =>
    days ? { days, start, end, tz: 'UTC' } : { start, end, tz: 'UTC' };
  // 2024-06-07 is a Friday.
  const cases: Array<[what: string, window: TimeWindow, at: string, inside: boolean]> = [
    ['inside a day window', utc('09:00', '17:00'), '2024-06-07T12:00:00Z', true],
    ['at its start (inclusive)', utc('09:00', '17:00'), '2024-06-07T09:00:00Z', true],
    ['a minute before its start', utc('09:00', '17:00'), '2024-06-07T08:59:59Z', false],
    ['a second before its end', utc('09:00', '17:00'), '2024-06-07T16:59:59Z', true],
    ['at its end (exclusive)', utc('09:00', '17:00'), '2024-06-07T17:00:00Z', false],
    ['on a listed day', utc('09:00', '17:00', ['mon', 'fri']), '2024-06-07T12:00:00Z', true],
    ['on an unlisted day', utc('09:00', '17:00', ['mon', 'tue']), '2024-06-07T12:00:00Z', false],
    ['on a weekend day', utc('00:00', '23:59', ['sat', 'sun']), '2024-06-09T10:00:00Z', true],
    ['in the last minute of a 00:00–23:59 window', utc('00:00', '23:59'), '2024-06-09T23:59:00Z', false],
    // overnight: the part after midnight belongs to the previous day's window
    ['fri 22:00–06:00 on Friday 23:00', utc('22:00', '06:00', ['fri']), '2024-06-07T23:00:00Z', true],
    ['fri 22:00–06:00 on Friday 22:00', utc('22:00', '06:00', ['fri']), '2024-06-07T22:00:00Z', true],
    ['fri 22:00–06:00 on Saturday 03:00', utc('22:00', '06:00', ['fri']), '2024-06-08T03:00:00Z', true],
    ['fri 22:00–06:00 on Saturday 05:59', utc('22:00', '06:00', ['fri']), '2024-06-08T05:59:00Z', true],
    ['fri 22:00–06:00 on Saturday 06:00', utc('22:00', '06:00', ['fri']), '2024-06-08T06:00:00Z', false],
    ['fri 22:00–06:00 on Friday 03:00', utc('22:00', '06:00', ['fri']), '2024-06-07T03:00:00Z', false],
    ['fri 22:00–06:00 on Friday 12:00', utc('22:00', '06:00', ['fri']), '2024-06-07T12:00:00Z', false],
    ['fri 22:00–06:00 on Saturday 23:00', utc('22:00', '06:00', ['fri']), '2024-06-08T23:00:00Z', false],
    [
      'sun 22:00–06:00 on Monday 01:00 (week wraps)',
      utc('22:00', '06:00', ['sun']),
      '2024-06-10T01:00:00Z',
      true,
    ],
    ['mon 22:00–06:00 on Monday 01:00', utc('22:00', '06:00', ['mon']), '2024-06-10T01:00:00Z', false],
    ['every night at 03:00', utc('22:00', '06:00'), '2024-06-05T03:00:00Z', true],
    ['every night at noon', utc('22:00', '06:00'), '2024-06-05T12:00:00Z', false],
    // America/New_York: EDT (UTC-4) in June, EST (UTC-5) in January
    [
      'New York 09:00 EDT',
      { start: '09:00', end: '17:00', tz: 'America/New_York' },
      '2024-06-07T13:00:00Z',
      true,
    ],
    [
      'New York 08:59 EDT',
      { start: '09:00', end: '17:00', tz: 'America/New_York' },
      '2024-06-07T12:59:00Z',
      false,
    ],
    [
      'New York 09:00 EST',
      { start: '09:00', end: '17:00', tz: 'America/New_York' },
      '2024-01-15T14:00:00Z',
      true,
    ],
    [
      'New York 08:00 EST',
      { start: '09:00', end: '17:00', tz: 'America/New_York' },
      '2024-01-15T13:00:00Z',
      false,
    ],
    [
      'New York 16:59 EDT',
      { start: '09:00', end: '17:00', tz: 'America/New_York' },
      '2024-06-07T20:59:00Z',
      true,
    ],
    [
      'New York 17:00 EDT',
      { start: '09:00', end: '17:00', tz: 'America/New_York' },
      '2024-06-07T21:00:00Z',
      false,
    ],
    [
      'New York Friday 23:00 is Saturday in UTC',
      { days: ['fri'], start: '22:00', end: '23:30', tz: 'America/New_York' },
      '2024-06-08T03:00:00Z',
      true,
    ],
    [
      'New York Saturday 23:00',
      { days: ['fri'], start: '22:00', end: '23:30', tz: 'America/New_York' },
      '2024-06-09T03:00:00Z',
      false,
    ],
    // Asia/Kolkata: UTC+05:30
    ['Kolkata 08:59', { start: '09:00', end: '17:00', tz: 'Asia/Kolkata' }, '2024-06-07T03:29:00Z', false],
    ['Kolkata 09:00', { start: '09:00', end: '17:00', tz: 'Asia/Kolkata' }, '2024-06-07T03:30:00Z', true],
    ['Kolkata 16:59', { start: '09:00', end: '17:00', tz: 'Asia/Kolkata' }, '2024-06-07T11:29:00Z', true],
    ['Kolkata 17:00', { start: '09:00', end: '17:00', tz: 'Asia/Kolkata' }, '2024-06-07T11:30:00Z', false],
    [
      'Kolkata Saturday 02:00 is Friday in UTC',
      { days: ['sat'], start: '01:00', end: '03:00', tz: 'Asia/Kolkata' },
      '2024-06-07T20:30:00Z',
      true,
    ],
    // DST: the wall-clock time; 02:30 does not exist on 2024-03-10 in New York
    [
      'New York 01:59 EST before the jump',
      { start: '01:00', end: '03:00', tz: 'America/New_York' },
      '2024-03-10T06:59:00Z',
      true,
    ],
    [
      'New York 03:00 EDT after the jump',
      { start: '01:00', end: '03:00', tz: 'America/New_York' },
      '2024-03-10T07:00:00Z',
      false,
    ],
    // invalid windows are never open
    ['an unknown zone', { start: '00:00', end: '12:00', tz: 'Mars/Olympus' }, '2024-06-07T06:00:00Z', false],
    ['start equal to end', utc('09:00', '09:00'), '2024-06-07T09:00:00Z', false],
    ['a bad hour', utc('24:00', '09:00'), '2024-06-07T06:00:00Z', false],
  ];
  it.each(cases)('%s', (_what, window, at, inside) => {
    expect(inTimeWindow(window, new Date(at))).toBe(inside);
  });

  it('is never open at an invalid date', () => {
    expect(inTimeWindow(utc('00:00', '23:59'), new Date(Number.NaN))).toBe(false);
  });

  const valid: TimeWindow[] = [
    utc('09:00', '17:00'),
    utc('00:00', '23:59'),
    utc('22:00', '06:00', ['fri']),
    utc('09:00', '17:00', ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']),
    { start: '09:00', end: '17:00', tz: 'America/New_York' },
    { start: '09:00', end: '17:00', tz: 'Asia/Kolkata' },
    { start: '09:00', end: '17:00', tz: 'Etc/GMT+5' },
  ];
  it.each(valid)('accepts %j', (window) => {
    expect(checkTimeWindow(window)).toBeUndefined();
  });

  const invalid: Array<[window: unknown, message: RegExp]> = [
    [null, /object/],
    ['09:00-17:00', /object/],
    [[], /object/],
    [{ ...utc('09:00', '17:00'), tz: 'Mars/Olympus' }, /tz/],
    [{ ...utc('09:00', '17:00'), tz: '' }, /tz/],
    [{ ...utc('09:00', '17:00'), tz: '+05:30' }, /tz/],
    [{ ...utc('09:00', '17:00'), tz: 'UTC ' }, /tz/],
    [{ ...utc('09:00', '17:00'), tz: 3 }, /tz/],
    [{ start: '09:00', end: '17:00' }, /tz/],
    [utc('24:00', '17:00'), /start/],
    [utc('9:00', '17:00'), /start/],
    [utc('09:60', '17:00'), /start/],
    [utc('09:00:00', '17:00'), /start/],
    [utc(' 09:00', '17:00'), /start/],
    [utc('09:00', '25:00'), /end/],
    [utc('09:00', ''), /end/],
    [{ start: '09:00', tz: 'UTC' }, /end/],
    [utc('09:00', '09:00'), /differ/],
    [utc('09:00', '17:00', []), /non-empty/],
    [utc('09:00', '17:00', ['Mon' as 'mon']), /only contain/],
    [utc('09:00', '17:00', ['monday' as 'mon']), /only contain/],
    [utc('09:00', '17:00', ['mon', 'mon']), /mon more than once/],
    [{ ...utc('09:00', '17:00'), days: 'mon' }, /non-empty list/],
  ];
  it.each(invalid)('refuses %j', (window, message) => {
    expect(checkTimeWindow(window as TimeWindow)).toMatch(message);
  });

  it('agrees with a plain UTC computation for random windows and instants', () => {
    const hhmm = fc
      .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
      .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
    const days = fc.option(
      fc.subarray(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const, { minLength: 1 }),
      {
        nil: undefined,
      },
    );
    const instant = fc.date({
      min: new Date('2000-01-01T00:00:00Z'),
      max: new Date('2100-01-01T00:00:00Z'),
      noInvalidDate: true,
    });
    const order = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
    fc.assert(
      fc.property(hhmm, hhmm, days, instant, (start, end, ds, now) => {
        fc.pre(start !== end);
        const w: TimeWindow = ds ? { days: [...ds], start, end, tz: 'UTC' } : { start, end, tz: 'UTC' };
        expect(checkTimeWindow(w)).toBeUndefined();
        const t = now.getUTCHours() * 60 + now.getUTCMinutes();
        const s = Number(start.slice(0, 2)) * 60 + Number(start.slice(3));
        const e = Number(end.slice(0, 2)) * 60 + Number(end.slice(3));
        const today = order[now.getUTCDay()] ?? 'sun';
        const yesterday = order[(now.getUTCDay() + 6) % 7] ?? 'sun';
        const on = (d: string) => !ds || (ds as readonly string[]).includes(d);
        const expected =
          s < e ? t >= s && t < e && on(today) : (t >= s && on(today)) || (t < e && on(yesterday));
        expect(inTimeWindow(w, now)).toBe(expected);
      }),
      { numRuns: 2_000 },
    );
  });
});
