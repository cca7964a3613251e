import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../common/src/environment.js';
import { loadConfig } from './config.js';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('configuration', () => {
  it('defaults to the dev profile on the embedded database with the local KMS', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      profile: 'dev',
      databaseUrl: undefined,
      kmsKey: 'local://dev',
      listen: { host: '127.0.0.1', port: 8080 },
      maxSecretBytes: 65536,
    });
  });

  it('reads a production configuration', () => {
    const key = randomBytes(32).toString('base64');
    const c = loadConfig({
      ONECLAW_DATABASE_URL: 'postgres://db.example:5432/oneclaw',
      ONECLAW_KMS_KEY: 'transit://transit/oneclaw',
      ONECLAW_KMS_PREVIOUS_KEYS: 'local://old, awskms://alias/old?region=eu-west-1',
      ONECLAW_TRANSIT_ADDR: 'https://vault.example:8200',
      ONECLAW_TRANSIT_TOKEN: 'hvs.token',
      ONECLAW_LOCAL_MASTER_KEY: key,
      ONECLAW_LISTEN: '[::]:9000',
      ONECLAW_GCP_KMS_ENDPOINT: 'kms.internal:9090',
      ONECLAW_GCP_KMS_INSECURE: 'true',
    });
    expect(c.profile).toBe('production');
    expect(c.listen).toEqual({ host: '::', port: 9000 });
    expect(c.previousKmsKeys).toEqual(['local://old', 'awskms://alias/old?region=eu-west-1']);
    expect(c.kms.transit).toEqual({ address: 'https://vault.example:8200', token: 'hvs.token' });
    expect(c.kms.gcpkms).toEqual({ apiEndpoint: 'kms.internal', port: 9090, insecure: true });
  });

  it('reports every bad variable at once, by name, without echoing values', () => {
    const secret = 'ocu_short';
    const p = problems({
      ONECLAW_LISTEN: 'nonsense',
      ONECLAW_LOG_LEVEL: 'loud',
      ONECLAW_LOCAL_MASTER_KEY: 'c2hvcnQ=',
      ONECLAW_BOOTSTRAP_ADMIN_KEY: secret,
      ONECLAW_MAX_SECRET_BYTES: '-5',
      ONECLAW_TYPO: '1',
    });
    expect(p).toHaveLength(6);
    expect(p.join('\n')).toMatch(/ONECLAW_LISTEN: expected host:port/);
    expect(p.join('\n')).toMatch(/ONECLAW_LOG_LEVEL: not one of the allowed values \(fatal, error/);
    expect(p.join('\n')).toMatch(/ONECLAW_LOCAL_MASTER_KEY: expected base64 of exactly 32 bytes/);
    expect(p.join('\n')).toMatch(/ONECLAW_TYPO: unknown variable/);
    expect(p.join('\n')).not.toContain(secret);
  });

  it('refuses the embedded database and a missing KMS key in production', () => {
    expect(problems({ ONECLAW_PROFILE: 'production' })).toEqual([
      'ONECLAW_DATABASE_URL: required in the production profile (the embedded database is for dev only)',
      'ONECLAW_KMS_KEY: required in the production profile',
    ]);
  });

  it('passes the PKCS#11 module default to the backend, and only as an absolute path', () => {
    const module = '/usr/lib/softhsm/libsofthsm2.so';
    const c = loadConfig({ ONECLAW_PKCS11_MODULE: module, ONECLAW_PKCS11_PIN: '1234' });
    expect(c.kms.pkcs11).toEqual({ pin: '1234', module });
    expect(problems({ ONECLAW_PKCS11_MODULE: 'libsofthsm2.so' })).toEqual([
      'ONECLAW_PKCS11_MODULE: expected the absolute path of the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so',
    ]);
  });

  it('reads the per-principal limits, with documented defaults, 0 turning one off', () => {
    expect(loadConfig({}).limits).toEqual({
      requestsPerSecond: 100,
      adminRequestsPerSecond: 1000,
      feedSubscriptionsPerPrincipal: 100,
      kmsCallsPerSecond: 50,
    });
    expect(
      loadConfig({
        ONECLAW_RATE_LIMIT: '0',
        ONECLAW_ADMIN_RATE_LIMIT: '5000',
        ONECLAW_FEED_MAX_PER_PRINCIPAL: '8',
        ONECLAW_KMS_BUDGET: '10',
      }).limits,
    ).toEqual({
      requestsPerSecond: 0,
      adminRequestsPerSecond: 5000,
      feedSubscriptionsPerPrincipal: 8,
      kmsCallsPerSecond: 10,
    });
    expect(problems({ ONECLAW_RATE_LIMIT: '-1', ONECLAW_KMS_BUDGET: 'lots' })).toEqual([
      'ONECLAW_RATE_LIMIT: expected a whole number of requests per second (0 turns it off)',
      'ONECLAW_KMS_BUDGET: expected a whole number of KMS calls per second (0 turns it off)',
    ]);
  });

  it('needs both transit settings together', () => {
    expect(problems({ ONECLAW_TRANSIT_ADDR: 'http://127.0.0.1:8200' })).toEqual([
      'ONECLAW_TRANSIT_ADDR: transit needs both ONECLAW_TRANSIT_ADDR and ONECLAW_TRANSIT_TOKEN',
    ]);
  });
});
