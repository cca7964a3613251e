// The PKCS#11 connection layer. One loaded module (and one C_Initialize) is shared by all
// backends of the process that name the same module path, reference counted and finalized when
// the last one closes. Login state is per process and token, so it is tracked per slot beside
// the module: the PIN is checked even when the token reports we are already logged in.
//
// pkcs11js calls are synchronous and a session runs one operation at a time, so TokenSession
// serializes every call on its session and reopens the session after it is lost.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { PKCS11 } from 'pkcs11js';
import pkcs11js from 'pkcs11js';
import { CryptoError, KmsConfigError, KmsUnavailableError } from '../../../crypto/errors.js';
import { BAD_PIN, ckrName, kmsError, RESET_SESSION } from './errors.js';

/** A PKCS#11 slot, session or object handle as pkcs11js gives it. */
export type Handle = Buffer;

// ---------------------------------------------------------------------------------------------
// Loaded modules, shared per path and reference counted.

interface LoginState {
  /** Our open TokenSessions on this slot. */
  sessions: number;
  /** SHA-256 of the PIN we logged in with: login state is per process, not per session. */
  pinDigest: Buffer;
}

interface ModuleEntry {
  p11: PKCS11;
  refs: number;
  /** False when someone else in the process initialized the library: then we never finalize it. */
  ownsInit: boolean;
  logins: Map<string, LoginState>;
}

const modules = new Map<string, ModuleEntry>();

function acquireModule(path: string): ModuleEntry {
  const existing = modules.get(path);
  if (existing) {
    existing.refs++;
    return existing;
  }
  const p11 = new pkcs11js.PKCS11();
  try {
    p11.load(path);
  } catch (err) {
    throw new KmsConfigError(`cannot load PKCS#11 module ${path}: ${(err as Error).message}`);
  }
  let ownsInit = true;
  try {
    p11.C_Initialize();
  } catch (err) {
    if (ckrName(err) === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      ownsInit = false;
    } else {
      try {
        p11.close();
      } catch {
        // already failing
      }
      throw new KmsConfigError(
        `PKCS#11 module ${path} failed to initialize: ${ckrName(err) ?? (err as Error).message}`,
      );
    }
  }
  const entry: ModuleEntry = { p11, refs: 1, ownsInit, logins: new Map() };
  modules.set(path, entry);
  return entry;
}

function releaseModule(path: string, entry: ModuleEntry): void {
  entry.refs--;
  if (entry.refs > 0) return;
  modules.delete(path);
  try {
    if (entry.ownsInit) entry.p11.C_Finalize();
  } catch {
    // nothing more to release
  }
  try {
    entry.p11.close();
  } catch {
    // nothing more to release
  }
}

// ---------------------------------------------------------------------------------------------
// A logged-in session on one token, with a promise-chain mutex and reopen after session loss.

export interface TokenTarget {
  module: string;
  token: string;
  pin: string;
}

export class TokenSession {
  private chain: Promise<unknown> = Promise.resolve();
  private handle: Handle | undefined;
  private broken = false;
  private closed = false;
  private slotKey = '';
  /** Bumped whenever the session is reopened: cached object handles are then stale. */
  generation = 0;

  private constructor(
    private readonly target: TokenTarget,
    private readonly entry: ModuleEntry,
    private readonly pinDigest: Buffer,
  ) {}

  static open(target: TokenTarget): TokenSession {
    const entry = acquireModule(target.module);
    const pinDigest = createHash('sha256').update(target.pin, 'utf8').digest();
    const ts = new TokenSession(target, entry, pinDigest);
    try {
      ts.connect(true);
    } catch (err) {
      releaseModule(target.module, entry);
      throw err;
    }
    return ts;
  }

  private findSlot(): Handle {
    const { p11 } = this.entry;
    const matches = p11
      .C_GetSlotList(true)
      .filter((s) => p11.C_GetTokenInfo(s).label.trim() === this.target.token);
    if (matches.length === 0) {
      throw new KmsConfigError(
        `no PKCS#11 token labelled "${this.target.token}" in module ${this.target.module}`,
      );
    }
    if (matches.length > 1)
      throw new KmsConfigError(`more than one PKCS#11 token is labelled "${this.target.token}"`);
    return matches[0] as Handle;
  }

  /** Opens a RW session and logs in as the user. `first`: this object is not yet counted. */
  private connect(first: boolean): Handle {
    const { p11, logins } = this.entry;
    let slot: Handle;
    let session: Handle;
    try {
      slot = this.findSlot();
      session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    } catch (err) {
      throw kmsError(`opening a session on token "${this.target.token}"`)(err);
    }
    const slotKey = slot.toString('hex');
    const state = logins.get(slotKey);
    const fail = (error: unknown) => {
      try {
        p11.C_CloseSession(session);
      } catch {
        // already failing
      }
      return error;
    };
    const loginFailed = (detail: string) =>
      fail(new KmsConfigError(`PKCS#11 login failed on token "${this.target.token}": ${detail}`));
    let provedPin = true;
    try {
      p11.C_Login(session, pkcs11js.CKU_USER, this.target.pin);
    } catch (err) {
      const code = ckrName(err);
      if (code === 'CKR_USER_ALREADY_LOGGED_IN') {
        // Login state is per process and token, and the token then accepts any PIN: check it
        // ourselves against the one our other sessions proved.
        provedPin = false;
        if (state && state.sessions > 0 && !timingSafeEqual(state.pinDigest, this.pinDigest)) {
          throw loginFailed('the PIN differs from the one this process logged in with');
        }
      } else if (code !== undefined && (BAD_PIN.has(code) || code.startsWith('CKR_USER_'))) {
        throw loginFailed(code);
      } else {
        throw fail(kmsError(`login on token "${this.target.token}"`)(err));
      }
    }
    if (!first && slotKey !== this.slotKey) {
      // The token came back in another slot: move our count with it.
      const old = logins.get(this.slotKey);
      if (old && --old.sessions <= 0) logins.delete(this.slotKey);
    }
    if (first || slotKey !== this.slotKey) {
      if (state) state.sessions++;
      else logins.set(slotKey, { sessions: 1, pinDigest: this.pinDigest });
    }
    if (provedPin && state) state.pinDigest = this.pinDigest;
    this.slotKey = slotKey;
    this.handle = session;
    this.broken = false;
    this.generation++;
    return session;
  }

  private current(): Handle {
    if (this.handle && !this.broken) return this.handle;
    if (this.handle) {
      try {
        this.entry.p11.C_CloseSession(this.handle);
      } catch {
        // the session is already gone
      }
      this.handle = undefined;
    }
    try {
      return this.connect(false);
    } catch (err) {
      // A token that cannot be reached again is unavailable, not misconfigured.
      if (err instanceof KmsConfigError && !/login failed/.test(err.message)) {
        throw new KmsUnavailableError(
          `PKCS#11 token "${this.target.token}" is not available: ${err.message}`,
        );
      }
      throw err;
    }
  }

  /**
   * Runs `fn` alone on the session. Raw pkcs11js errors leaving `fn` go through `mapError`;
   * typed errors thrown by `fn` itself pass unchanged.
   */
  run<T>(fn: (p11: PKCS11, session: Handle) => T, mapError: (err: unknown) => unknown): Promise<T> {
    const result = this.chain.then(() => {
      if (this.closed) throw new KmsConfigError('PKCS#11 backend is closed');
      const session = this.current();
      try {
        return fn(this.entry.p11, session);
      } catch (err) {
        if (err instanceof CryptoError) throw err;
        const code = ckrName(err);
        // A non-PKCS#11 error may have left an operation active: start over on a new session.
        if (code === undefined || RESET_SESSION.has(code)) this.broken = true;
        throw mapError(err);
      }
    });
    this.chain = result.catch(() => {});
    return result;
  }

  close(): Promise<void> {
    const done = this.chain.then(() => {
      if (this.closed) return;
      this.closed = true;
      const { p11 } = this.entry;
      const state = this.entry.logins.get(this.slotKey);
      if (state) state.sessions--;
      if (this.handle) {
        // Login state is shared by every session of the process on the token: log out only
        // when this was our last one (closing the last session logs out anyway).
        if (state && state.sessions <= 0) {
          try {
            p11.C_Logout(this.handle);
          } catch {
            // not logged in any more
          }
        }
        try {
          p11.C_CloseSession(this.handle);
        } catch {
          // already closed
        }
        this.handle = undefined;
      }
      if (state && state.sessions <= 0) this.entry.logins.delete(this.slotKey);
      releaseModule(this.target.module, this.entry);
    });
    this.chain = done.catch(() => {});
    return done;
  }
}
