// The SDK and the server cannot drift apart: every operation /openapi.json documents is one the
// SDK sends (sdk/src/operations.ts, the only table the client builds requests from) and every one
// the SDK sends is documented; and each operation's response schemas in the document are the
// contract's. The contract side is documented by the same converter the server uses (a reference
// app whose routes answer with the table's schemas), so const, null and $id are written alike.
import swagger from '@fastify/swagger';
import Fastify from 'fastify';
import Type from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorResponse, errorResponses } from '../../contract/src/common.js';
import { startTestApi, type TestApi } from '../../test/support/api.js';
import { OPERATIONS } from './operations.js';

interface Response {
  content?: Record<string, { schema: unknown }>;
}
interface OpenApi {
  paths: Record<string, Record<string, { responses: Record<string, Response> }>>;
  components?: { schemas?: Record<string, unknown> };
}

const opKey = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

function operationsOf(doc: OpenApi): Map<string, Record<string, Response>> {
  const ops = new Map<string, Record<string, Response>>();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) ops.set(opKey(method, path), op.responses);
  }
  return ops;
}

/** `schema` with every local `$ref` replaced by what it points to. */
function resolveRefs(doc: OpenApi, schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map((s) => resolveRefs(doc, s));
  if (!schema || typeof schema !== 'object') return schema;
  const ref = (schema as { $ref?: unknown }).$ref;
  if (typeof ref === 'string') {
    const name = ref.replace(/^#\/components\/schemas\//, '');
    return resolveRefs(doc, doc.components?.schemas?.[name]);
  }
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, resolveRefs(doc, v)]));
}

/** Status → JSON body schema of one operation's responses (null: no JSON body). */
function jsonBodies(doc: OpenApi, responses: Record<string, Response>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(responses).map(([status, r]) => [
      status,
      resolveRefs(doc, r.content?.['application/json']?.schema ?? null),
    ]),
  );
}

/** The document a server whose routes answer exactly with the table's schemas would publish. */
async function contractDocument(): Promise<OpenApi> {
  const app = Fastify();
  app.addSchema(ErrorResponse);
  await app.register(swagger, { openapi: { info: { title: 'contract', version: '0' } } });
  for (const op of Object.values(OPERATIONS)) {
    app.route({
      method: op.method,
      url: op.path.replace(/\{([a-z_]+)\}/g, ':$1'),
      schema: { response: { [op.status]: op.response ?? Type.Null(), ...errorResponses } },
      handler: async () => null,
    });
  }
  await app.ready();
  const doc = app.swagger() as unknown as OpenApi;
  await app.close();
  return JSON.parse(JSON.stringify(doc)) as OpenApi;
}

describe('SDK ↔ /openapi.json', () => {
  let api: TestApi;
  let served: OpenApi;
  let contract: OpenApi;

  beforeAll(async () => {
    api = await startTestApi();
    served = (await api.request({ method: 'GET', url: '/openapi.json', token: null })).json() as OpenApi;
    contract = await contractDocument();
  });
  afterAll(async () => {
    await api?.close();
  });

  it('the SDK sends every documented operation, and only documented ones', () => {
    const documented = [...operationsOf(served).keys()].sort();
    const sent = Object.values(OPERATIONS)
      .map((op) => opKey(op.method, op.path))
      .sort();
    expect(new Set(sent).size, 'one table entry per operation').toBe(sent.length);
    expect(
      documented.filter((k) => !sent.includes(k)),
      'documented, but no SDK method sends it',
    ).toEqual([]);
    expect(
      sent.filter((k) => !documented.includes(k)),
      'sent by the SDK, but not documented',
    ).toEqual([]);
  });

  it("documents each operation's responses with the contract's schemas", () => {
    const servedOps = operationsOf(served);
    const contractOps = operationsOf(contract);
    for (const [name, op] of Object.entries(OPERATIONS)) {
      const key = opKey(op.method, op.path);
      const actual = servedOps.get(key);
      const expected = contractOps.get(key);
      expect(expected, `${name}: the reference document has ${key}`).toBeDefined();
      if (!actual || !expected) continue;
      expect(jsonBodies(served, actual), `${name} (${key})`).toEqual(jsonBodies(contract, expected));
    }
  });
});
