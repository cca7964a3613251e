// Path globs: table-driven cases and properties (an independent reference matcher, the SQL
// regex agreeing with the matcher, and a validator that never throws).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPathPattern, matchesPath, pathPatternRegex, patternMayMatchUnder } from './path-glob.js';

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

    it('checkPathPattern and the matchers never throw on arbitrary input', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 600 }), fc.anything(), (s, anything) => {
          checkPathPattern(s);
          checkPathPattern(anything as string);
          matchesPath(s, s);
          patternMayMatchUnder(s, s);
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
