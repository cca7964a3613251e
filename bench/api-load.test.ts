// The API benchmark measures the compiled server only: it refuses to start on a dist/ older
// than the sources, where `bin/oneclaw` would run the TypeScript through tsx instead.
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeWorkDir } from '../test/support/peers/common.js';
import { assertDistCurrent } from './api-load-kit.js';

describe('api-load dist check', () => {
  const work = makeWorkDir('bench-dist');
  afterEach(() => work.remove());

  /** A source tree and its build, the build's stamp `stampAge` seconds older than the sources. */
  const tree = (stampAge: number) => {
    mkdirSync(join(work.dir, 'api/src'), { recursive: true });
    mkdirSync(join(work.dir, 'dist'), { recursive: true });
    writeFileSync(join(work.dir, 'api/src/server.ts'), 'export {};\n');
    const stamp = join(work.dir, 'dist/.build-stamp');
    writeFileSync(stamp, 'api\n');
    const at = Date.now() / 1000 - stampAge;
    utimesSync(stamp, at, at);
  };

  it('passes on a build newer than every source', () => {
    tree(-30);
    expect(() => assertDistCurrent(work.dir)).not.toThrow();
  });

  it('refuses, saying how to build, once a source is newer than the build', () => {
    tree(30);
    expect(() => assertDistCurrent(work.dir)).toThrow(
      /dist\/ is not a build of the current sources.*make build/,
    );
  });

  it('refuses without a build', () => {
    expect(() => assertDistCurrent(work.dir)).toThrow(/not a build of the current sources/);
  });
});
