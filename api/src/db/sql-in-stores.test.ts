// Where SQL may live: statements only in `*-store.ts` files (and migrations), and queries only
// through the helpers in pool.ts, which turn a lost database into DatabaseUnavailableError (a
// 503). A query on a raw client or pool answers 500 when the database is away, so this reads
// the API's source the way the compiler does and names every place that breaks the rule.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const apiSrc = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Calls `.query(` may make besides the helpers, each with why its errors need no mapping. */
const RAW_QUERY_ALLOWED: Record<string, string> = {
  // The helpers themselves.
  'db/pool.ts': 'maps driver errors',
  // The change feed's own LISTEN connection: a failed LISTEN means reconnect, never an answer.
  'services/events/feed.ts': 'LISTEN connection',
};

const STATEMENT = /\b(SELECT|INSERT|UPDATE|DELETE)\b/;

/** Modules only tests import (the build leaves them out too: tsconfig.build.json). */
const testOnly = (name: string) =>
  name.endsWith('.test.ts') || name === 'test-helpers.ts' || name === 'conformance.ts';

/** The server's own modules: what ships, and so what must query through the helpers. */
function sourceFiles(): string[] {
  return readdirSync(apiSrc, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !testOnly(e.name))
    .map((e) => relative(apiSrc, join(e.parentPath, e.name)));
}

/** Every string and template text in the file, with its line, and every `.query(` call. */
function scan(file: string) {
  const text = readFileSync(join(apiSrc, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const strings: Array<{ line: number; text: string }> = [];
  const queryCalls: number[] = [];
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const visit = (n: ts.Node) => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateLiteralToken(n)) {
      strings.push({ line: lineOf(n), text: n.text });
    }
    if (
      ts.isCallExpression(n) &&
      ts.isPropertyAccessExpression(n.expression) &&
      n.expression.name.text === 'query'
    ) {
      queryCalls.push(lineOf(n));
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return { strings, queryCalls };
}

describe('SQL lives in stores', () => {
  const files = sourceFiles();

  it('reads the source it judges', () => {
    // A wrong root would make both checks below pass on nothing.
    expect(files).toContain('db/pool.ts');
    expect(files.filter((f) => f.endsWith('-store.ts')).length).toBeGreaterThan(5);
  });

  it('has SQL statements only in *-store.ts files', () => {
    const outside = files
      .filter((f) => !f.endsWith('-store.ts'))
      .flatMap((f) =>
        scan(f)
          .strings.filter((s) => STATEMENT.test(s.text))
          .map((s) => `${f}:${s.line}`),
      );
    expect([...new Set(outside)]).toEqual([]);
  });

  it('queries only through the helpers that map driver errors', () => {
    const raw = files
      .filter((f) => !(f in RAW_QUERY_ALLOWED))
      .flatMap((f) => scan(f).queryCalls.map((line) => `${f}:${line}`));
    expect(raw).toEqual([]);
  });
});
