// Equality by meaning: what the apiserver would store, not how it is spelled.
import { describe, expect, it } from 'vitest';
import { sameSecretData, semanticEqual } from './semantic.js';

describe('semanticEqual', () => {
  it('ignores key order at every depth and properties holding undefined', () => {
    const ours = {
      vaultId: 'v',
      conditions: [{ type: 'Ready', status: 'True', reason: 'R', message: 'm', lastTransitionTime: 't' }],
      syncedVersions: { 'b/x': 2, 'a/y': 1 },
      lastSyncTime: undefined,
    };
    const stored = {
      conditions: [{ lastTransitionTime: 't', message: 'm', reason: 'R', status: 'True', type: 'Ready' }],
      syncedVersions: { 'a/y': 1, 'b/x': 2 },
      vaultId: 'v',
    };
    expect(semanticEqual(ours, stored)).toBe(true);
    expect(semanticEqual(stored, ours)).toBe(true);
  });

  it('sees a changed value, a missing key, a reordered list and null as differences', () => {
    expect(semanticEqual({ a: 1 }, { a: 2 })).toBe(false);
    expect(semanticEqual({ a: 1, b: 2 }, { a: 1 })).toBe(false);
    expect(semanticEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(semanticEqual([1, 2], [2, 1])).toBe(false);
    expect(semanticEqual({ a: null }, {})).toBe(false);
    expect(semanticEqual({ a: '1' }, { a: 1 })).toBe(false);
    expect(semanticEqual({ a: [] }, { a: {} })).toBe(false);
  });
});

describe('sameSecretData', () => {
  it('compares the bytes, not the base64 spelling', () => {
    const bytes = Buffer.from('a value long enough to wrap when encoded with line breaks in it');
    const plain = bytes.toString('base64');
    const wrapped = plain.replace(/(.{20})/g, '$1\n');
    expect(sameSecretData({ k: plain }, { k: wrapped })).toBe(true);
    expect(sameSecretData({ k: 'YQ==' }, { k: 'YQ' })).toBe(true);
    expect(sameSecretData({ k: 'YQ==' }, { k: 'Yg==' })).toBe(false);
    expect(sameSecretData({ k: 'YQ==' }, { k: 'YQ==', l: 'YQ==' })).toBe(false);
    expect(sameSecretData({ k: 'YQ==' }, { l: 'YQ==' })).toBe(false);
  });
});
