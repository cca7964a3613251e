// KMS key URIs, parsed strictly: a mistyped URI is a clear boot error, never a guess.
//
//   local://<name>
//   transit://<mount>/<key>                          (mount may contain slashes)
//   awskms://<key id | key ARN | alias/name>?region=<region>
//   gcpkms://projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>
//   pkcs11://<token label>/<key label>?module=/path/to/module.so
import { KmsConfigError } from '../crypto/errors.js';
import type { BackendName } from './types.js';

export type KeyUri =
  | { backend: 'local'; uri: string; name: string }
  | { backend: 'transit'; uri: string; mount: string; key: string }
  | { backend: 'awskms'; uri: string; keyId: string; region: string | undefined }
  | { backend: 'gcpkms'; uri: string; resource: string }
  | { backend: 'pkcs11'; uri: string; token: string; label: string; module: string | undefined };

const SEGMENT = /^[A-Za-z0-9._-]+$/;

function bad(uri: string, why: string): KmsConfigError {
  return new KmsConfigError(`invalid KMS key URI "${uri}": ${why}`);
}

export function parseKeyUri(uri: string): KeyUri {
  const m = /^([a-z0-9]+):\/\/([^?#]*)(?:\?([^#]*))?$/.exec(uri);
  if (!m) throw bad(uri, 'expected <scheme>://<key>');
  const scheme = m[1] as string;
  const rest = decodeURIComponent(m[2] ?? '');
  const query = new URLSearchParams(m[3] ?? '');
  const allowOnly = (keys: string[]) => {
    for (const k of query.keys()) if (!keys.includes(k)) throw bad(uri, `unknown parameter "${k}"`);
  };
  const segments = rest.split('/');
  const checkSegments = (segs: string[]) => {
    if (segs.some((s) => !SEGMENT.test(s) || s === '.' || s === '..')) {
      throw bad(uri, 'path segments may use only A-Z a-z 0-9 . _ - (and are not . or ..)');
    }
  };

  switch (scheme as BackendName) {
    case 'local':
      allowOnly([]);
      if (segments.length !== 1) throw bad(uri, 'expected local://<name>');
      checkSegments(segments);
      return { backend: 'local', uri, name: rest };
    case 'transit': {
      allowOnly([]);
      if (segments.length < 2) throw bad(uri, 'expected transit://<mount>/<key>');
      checkSegments(segments);
      return {
        backend: 'transit',
        uri,
        mount: segments.slice(0, -1).join('/'),
        key: segments.at(-1) as string,
      };
    }
    case 'awskms': {
      allowOnly(['region']);
      if (!rest) throw bad(uri, 'expected awskms://<key id, ARN or alias/name>');
      const isArn = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+$/.test(rest);
      const isAlias = /^alias\/[A-Za-z0-9/_-]+$/.test(rest);
      const isId = /^[A-Za-z0-9-]{1,128}$/.test(rest);
      if (!isArn && !isAlias && !isId) throw bad(uri, 'not a key id, key ARN or alias');
      const region = query.get('region') ?? (isArn ? rest.split(':')[3] : undefined);
      return { backend: 'awskms', uri, keyId: rest, region };
    }
    case 'gcpkms': {
      allowOnly([]);
      const g =
        /^projects\/[a-z0-9-]+\/locations\/[a-z0-9-]+\/keyRings\/[A-Za-z0-9_-]+\/cryptoKeys\/[A-Za-z0-9_-]+$/;
      if (!g.test(rest)) throw bad(uri, 'expected gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K');
      return { backend: 'gcpkms', uri, resource: rest };
    }
    case 'pkcs11': {
      allowOnly(['module']);
      if (segments.length !== 2 || !segments[0] || !segments[1])
        throw bad(uri, 'expected pkcs11://<token>/<key label>');
      const module = query.get('module') ?? undefined;
      if (module !== undefined && !module.startsWith('/')) throw bad(uri, 'module must be an absolute path');
      return { backend: 'pkcs11', uri, token: segments[0], label: segments[1], module };
    }
    default:
      throw bad(uri, `unknown scheme "${scheme}" (expected local, transit, awskms, gcpkms or pkcs11)`);
  }
}
