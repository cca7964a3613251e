// The oneclaw SDK: a typed client for the oneclaw REST API (SPEC §4) and the CMEK helpers,
// browser- and Node-ready.
export {
  type ClientOptions,
  type Credentials,
  createClient,
  type EventsFollowOptions,
  type EventsPollOptions,
  type OneclawClient,
  SDK_VERSION,
} from './client.js';
export {
  CMEK_IV_BYTES,
  CMEK_KEY_BYTES,
  CMEK_MIN_BLOB_BYTES,
  CMEK_TAG_BYTES,
  CMEK_VERSION,
  CmekError,
  type CmekErrorCode,
  cmekDecrypt,
  cmekEncrypt,
  cmekFingerprint,
  fromBase64,
  generateCmekKey,
  toBase64,
  toHex,
} from './cmek.js';
export type { ClientSideRotationResult, CmekApi, CmekSecret, RotationProgress } from './cmek-client.js';
export { ABORTED, NETWORK_ERROR, OneclawError, TIMEOUT } from './errors.js';
export type * from './types.js';
export { SECRET_TYPES } from './types.js';
