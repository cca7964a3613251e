import { describe, expect, it } from 'vitest';
import { KmsConfigError } from '../crypto/errors.js';
import { parseKeyUri } from './uri.js';

describe('KMS key URIs', () => {
  it('parses every scheme', () => {
    expect(parseKeyUri('local://dev')).toMatchObject({ backend: 'local', name: 'dev' });
    expect(parseKeyUri('transit://ops/transit/kek')).toMatchObject({
      backend: 'transit',
      mount: 'ops/transit',
      key: 'kek',
    });
    expect(parseKeyUri('awskms://alias/oneclaw?region=eu-west-1')).toMatchObject({
      backend: 'awskms',
      keyId: 'alias/oneclaw',
      region: 'eu-west-1',
    });
    expect(
      parseKeyUri('awskms://arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'),
    ).toMatchObject({ region: 'us-east-2' });
    expect(parseKeyUri('gcpkms://projects/p-1/locations/global/keyRings/r/cryptoKeys/k')).toMatchObject({
      backend: 'gcpkms',
      resource: 'projects/p-1/locations/global/keyRings/r/cryptoKeys/k',
    });
    expect(parseKeyUri('pkcs11://hsm/kek?module=/usr/lib/softhsm/libsofthsm2.so')).toMatchObject({
      backend: 'pkcs11',
      token: 'hsm',
      label: 'kek',
      module: '/usr/lib/softhsm/libsofthsm2.so',
    });
  });

  it.each([
    ['', /expected <scheme>/],
    ['vault://x/y', /unknown scheme "vault"/],
    ['local://a/b', /expected local:\/\/<name>/],
    ['local://dev?x=1', /unknown parameter "x"/],
    ['transit://kek', /expected transit:\/\/<mount>\/<key>/],
    ['transit://a/../b', /path segments/],
    ['awskms://not a key', /not a key id/],
    ['gcpkms://projects/p/keyRings/r', /expected gcpkms:\/\//],
    ['pkcs11://token', /expected pkcs11:\/\/<token>\/<key label>/],
    ['pkcs11://t/k?module=relative.so', /absolute path/],
  ])('rejects %j with a clear message', (uri, message) => {
    expect(() => parseKeyUri(uri)).toThrow(KmsConfigError);
    expect(() => parseKeyUri(uri)).toThrow(message);
  });
});
