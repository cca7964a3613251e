// Awaiting a promise that must fail, for tests that then look at the error's fields.
import { expect } from 'vitest';

/** The error `p` rejects with, asserted to be a `type`; fails the test if `p` resolves. */
export async function rejectionOf<E extends Error>(
  p: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error(`expected a rejection with a ${type.name}`);
}
