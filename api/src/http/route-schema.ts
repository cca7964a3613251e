import type { TSchema } from 'typebox';
import { errorResponses } from '../../../contract/src/common.js';

interface RouteParts {
  security?: Record<string, string[]>[];
  description?: string;
  params?: TSchema;
  querystring?: TSchema;
  headers?: TSchema;
  body?: TSchema;
  /** The route's own successful answers; every route also answers the shared error bodies. */
  response: Record<number, TSchema>;
}

/**
 * A /v1 route's schema: its OpenAPI tag and summary, its inputs, and its own answers beside
 * the error responses every route can give (so /openapi.json documents them all alike).
 */
export function routeSchema<const P extends RouteParts>(
  tag: string,
  summary: string,
  parts: P,
): { tags: string[]; summary: string } & Omit<P, 'response'> & {
    response: P['response'] & typeof errorResponses;
  } {
  const { response, ...inputs } = parts;
  return { tags: [tag], summary, ...inputs, response: { ...response, ...errorResponses } };
}
