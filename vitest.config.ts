import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', '.scratch/**'],
    globalSetup: ['test/support/global-setup.ts'],
    // Separate processes: native addons (pkcs11js) and per-suite env such as SOFTHSM2_CONF.
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 60_000,
    // A cold shared peer (the control plane) may start inside a suite's beforeAll.
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});
