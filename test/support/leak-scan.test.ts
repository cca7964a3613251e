import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCanaries, formatHits, logFileSources, newCanary } from './leak-scan.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const b64url = (s: string) => Buffer.from(s).toString('base64url');
const hex = (s: string) => Buffer.from(s).toString('hex');

describe('findCanaries', () => {
  const canary = newCanary();
  const other = newCanary();

  it('finds a canary as is, in any case, and masks it in the excerpt', () => {
    const hits = findCanaries([canary], {
      'log api.log': `{"level":30,"msg":"started"}\n{"level":50,"msg":"bad value pw-${canary}-1"}\n`,
      'event shop/web.1': `{"message":"value ${canary.toUpperCase()}"}`,
    });
    expect(hits.map((h) => [h.source, h.line, h.encoding])).toEqual([
      ['log api.log', 2, 'plain'],
      ['event shop/web.1', 1, 'plain'],
    ]);
    expect(hits[0]?.canary).toBe(canary);
    expect(hits[0]?.excerpt).toBe('{"level":50,"msg":"bad value pw-<canary:plain>-1"}');
    expect(JSON.stringify(hits.map((h) => h.excerpt)).toLowerCase()).not.toContain(canary.slice(4));
  });

  it('finds the base64 of a value holding the canary, at every alignment and in both alphabets', () => {
    // Prefixes of 0..5 bytes put the canary at each of the three offsets within a base64 group.
    const sources: Record<string, string> = {};
    for (let n = 0; n < 6; n++) {
      const value = `${'x'.repeat(n)}${canary}-tail?>>`;
      sources[`std ${n}`] = `data: ${b64(value)}`;
      sources[`url ${n}`] = `token=${b64url(`${'~'.repeat(n)}${canary}~~~`)}`;
    }
    const hits = findCanaries([canary], sources);
    const bySource = Object.fromEntries(hits.map((h) => [h.source, h.encoding]));
    for (let n = 0; n < 6; n++) {
      expect(bySource[`std ${n}`]).toBe('base64');
      expect(['base64', 'base64url']).toContain(bySource[`url ${n}`]);
    }
    expect(hits).toHaveLength(12);
    for (const h of hits) expect(h.excerpt).toMatch(/<canary:base64(url)?>/);
  });

  it('finds the canary in a base64url-only spelling', () => {
    // A value whose base64 holds '+' or '/' inside the canary's groups differs between alphabets.
    const tricky = `leak${'?>'.repeat(6)}~~~~${'ÿ'.repeat(4)}`;
    expect(b64(tricky)).toMatch(/[+/]/);
    const hits = findCanaries([tricky], { url: b64url(`..${tricky}..`), std: b64(`.${tricky}`) });
    expect(hits.map((h) => [h.source, h.encoding])).toEqual([
      ['url', 'base64url'],
      ['std', 'base64'],
    ]);
  });

  it('finds hex, lower and upper case', () => {
    const hits = findCanaries([canary], {
      lower: `digest ${hex(`a${canary}b`)}`,
      upper: hex(canary).toUpperCase(),
    });
    expect(hits.map((h) => [h.source, h.encoding])).toEqual([
      ['lower', 'hex'],
      ['upper', 'hex'],
    ]);
  });

  it('reports each occurrence, for each canary, and tells them apart', () => {
    const hits = findCanaries([canary, other], {
      log: `a ${canary} b ${other}\nc\nd ${b64(other)} ${canary}`,
    });
    expect(hits.map((h) => [h.canary === canary ? 'first' : 'second', h.line, h.encoding])).toEqual([
      ['first', 1, 'plain'],
      ['second', 1, 'plain'],
      ['second', 3, 'base64'],
      ['first', 3, 'plain'],
    ]);
    expect(hits[0]?.excerpt).toBe('a <canary:plain> b <canary:plain>');
    expect(formatHits(hits, 1)).toBe('log:1 [plain] a <canary:plain> b <canary:plain>\n… and 3 more');
  });

  it('reports nothing on clean input, however much of it', () => {
    const noise = Array.from({ length: 2000 }, (_, i) =>
      JSON.stringify({ i, other: newCanary(), b: b64(newCanary()), h: hex(newCanary()) }),
    ).join('\n');
    // Parts of the canary shorter than a whole base64 group run are not a leak.
    const partial = `${canary.slice(0, 10)} ${b64(canary.slice(0, 8))} ${hex(canary.slice(0, 6))}`;
    expect(findCanaries([canary], { noise, partial, empty: '' })).toEqual([]);
  });

  it('refuses a canary too short to be told from chance', () => {
    expect(() => findCanaries(['short'], { a: 'short' })).toThrow(/at least 16/);
  });

  it('reads log files whole, and fails on a missing one rather than scanning nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leak-scan-'));
    try {
      const file = join(dir, 'operator.log');
      writeFileSync(file, `line 1\nvalue ${canary}\n`);
      const hits = findCanaries([canary], logFileSources([file]));
      expect(hits.map((h) => [h.source, h.line])).toEqual([[`log ${file}`, 2]]);
      expect(() => logFileSources([join(dir, 'absent.log')])).toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
