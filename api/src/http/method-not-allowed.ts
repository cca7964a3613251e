// A request whose path names a resource the API has, with a method that resource does not take,
// is answered 405 with an `Allow` header (RFC 9110 §15.5.6) instead of the router's 404, so a
// client can tell a wrong method from a wrong path. It runs before authentication and before the
// body is parsed: the answer depends only on the route table, which /openapi.json already shows.
import type { FastifyInstance } from 'fastify';
import { errorBody } from './errors.js';

interface KnownRoute {
  pattern: RegExp;
  methods: Set<string>;
}

/** `/v1/vaults/:vault_id/secrets/*` → a RegExp matching the concrete paths the router sends there. */
function compile(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => {
      if (segment === '*') return '.*';
      if (segment.startsWith(':')) return '[^/]+';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}$`);
}

export function registerMethodNotAllowed(app: FastifyInstance): void {
  const routes = new Map<string, KnownRoute>();
  app.addHook('onRoute', (route) => {
    const known = routes.get(route.url) ?? { pattern: compile(route.url), methods: new Set<string>() };
    for (const m of [route.method].flat()) known.methods.add(m.toUpperCase());
    if (known.methods.has('GET')) known.methods.add('HEAD');
    routes.set(route.url, known);
  });

  app.addHook('onRequest', async (req, reply) => {
    // Only requests the router found no route for.
    if (req.routeOptions.url !== undefined) return;
    const path = req.url.split('?')[0] ?? '';
    const allowed = new Set<string>();
    for (const r of routes.values()) {
      if (r.pattern.test(path)) for (const m of r.methods) allowed.add(m);
    }
    // Nothing at this path, or the router refused it for another reason (e.g. an over-long
    // parameter): that stays a 404.
    if (allowed.size === 0 || allowed.has(req.method)) return;
    const allow = [...allowed].sort().join(', ');
    return reply
      .status(405)
      .header('allow', allow)
      .send(errorBody('method_not_allowed', `${req.method} is not allowed here; allowed: ${allow}`, req.id));
  });
}
