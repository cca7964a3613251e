import { describe, expect, it } from 'vitest';
import { contentFingerprint, dataFromKey, listPrefix, renderTemplate, TemplateError } from './render.js';

describe('SecretSync rendering', () => {
  it.each([
    ['app/web/*', 'app/web/DATABASE_URL', 'app/web/', 'DATABASE_URL'],
    ['app/**', 'app/db/password', 'app/', 'db.password'],
    ['**', 'a/b/c', '', 'a.b.c'],
    ['app/*/password', 'app/db/password', 'app/', 'db.password'],
    ['app/db/password', 'app/db/password', 'app/db/', 'password'],
    ['db-*', 'db-main', '', 'db-main'],
  ])('dataFrom %s: list under %j, key of a match', (glob, path, prefix, key) => {
    expect(listPrefix(glob)).toBe(prefix);
    expect(dataFromKey(glob, path)).toBe(key);
  });

  it('renders placeholders, with or without spaces, and refuses unknown or malformed ones', () => {
    const values = new Map([
      ['password', 'p@ss'],
      ['db.user', 'app'],
    ]);
    expect(
      Object.fromEntries(
        renderTemplate({ url: 'postgres://{{ .db.user }}:{{.password}}@db/app', plain: 'x' }, values),
      ),
    ).toEqual({ url: 'postgres://app:p@ss@db/app', plain: 'x' });
    expect(() => renderTemplate({ url: '{{ .missing }}' }, values)).toThrow(TemplateError);
    expect(() => renderTemplate({ url: '{{ password }}' }, values)).toThrow(/malformed/);
    // The error names keys, never values.
    try {
      renderTemplate({ url: '{{ .nope }} {{ .password }}' }, values);
    } catch (err) {
      expect((err as Error).message).not.toContain('p@ss');
    }
  });

  it('fingerprints versions, keys, template and type — never values — independently of order', () => {
    const e = (key: string, path: string, version: number) => ({ key, path, version });
    const base = { entries: [e('a', 'x/a', 1), e('b', 'x/b', 2)], template: undefined, type: 'Opaque' };
    const fp = contentFingerprint(base);
    expect(fp).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(contentFingerprint({ ...base, entries: [e('b', 'x/b', 2), e('a', 'x/a', 1)] })).toBe(fp);
    for (const changed of [
      { ...base, entries: [e('a', 'x/a', 2), e('b', 'x/b', 2)] },
      { ...base, entries: [e('c', 'x/a', 1), e('b', 'x/b', 2)] },
      { ...base, template: { url: '{{ .a }}' } },
      { ...base, type: 'kubernetes.io/tls' },
    ]) {
      expect(contentFingerprint(changed)).not.toBe(fp);
    }
  });
});
