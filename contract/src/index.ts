// The wire contract: every request and response the API takes and gives, as TypeBox schemas with
// their static types. The server validates and serializes through them, the SDK's types are
// theirs, and sdk/src/contract.test.ts holds /openapi.json to them.

export * from './agents.js';
export * from './audit.js';
export * from './auth.js';
export * from './cmek.js';
export * from './common.js';
export * from './cursor.js';
export * from './events.js';
export * from './jobs.js';
export * from './policies.js';
export * from './policies-doc.js';
export * from './secrets.js';
export * from './users.js';
export * from './vaults.js';
