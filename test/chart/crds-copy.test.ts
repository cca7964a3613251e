// The chart ships the CRDs of crds/ (the source of truth) byte for byte: helm installs
// charts/oneclaw/crds/ on first install, and a drift between the two would install a schema
// the operator was not built for. To update: cp crds/*.yaml charts/oneclaw/crds/
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartDir } from '../support/chart-render.js';
import { repoRoot } from '../support/tools.js';

const yamls = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();

describe('chart: CRDs', () => {
  it('ships exactly the CRD files of crds/', () => {
    expect(yamls(join(chartDir, 'crds'))).toEqual(yamls(join(repoRoot, 'crds')));
    expect(yamls(join(repoRoot, 'crds')).length).toBeGreaterThan(0);
  });

  it.each(yamls(join(repoRoot, 'crds')))('%s is byte-identical in the chart', (file) => {
    const source = readFileSync(join(repoRoot, 'crds', file));
    const copy = readFileSync(join(chartDir, 'crds', file));
    expect(copy.equals(source), `charts/oneclaw/crds/${file} differs from crds/${file}; copy it again`).toBe(
      true,
    );
  });
});
