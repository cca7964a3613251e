// The oneclaw SDK: a typed client for the oneclaw REST API (SPEC §4), browser- and Node-ready.
export {
  type ClientOptions,
  type Credentials,
  createClient,
  type EventsFollowOptions,
  type EventsPollOptions,
  type OneclawClient,
  SDK_VERSION,
} from './client.js';
export { ABORTED, NETWORK_ERROR, OneclawError, TIMEOUT } from './errors.js';
export type * from './types.js';
