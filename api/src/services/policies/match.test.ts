// Client-address and time-window conditions of grants: table-driven cases and properties
// (validators that never throw, windows agreeing with a plain reference).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkCidrs, checkTimeWindow, inTimeWindow, ipAllowed, type TimeWindow } from './match.js';

describe('check* never throw on arbitrary input', () => {
  it('cidrs and time windows', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 600 }), fc.anything(), (s, anything) => {
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
