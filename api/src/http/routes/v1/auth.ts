import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  AgentTokenRequest,
  K8sTokenRequest,
  TokenResponse,
  UserTokenRequest,
} from '../../../../../contract/src/auth.js';
import type { AuthService } from '../../../services/auth/auth-service.js';
import { acceptJsonOnly } from '../../errors.js';
import { routeSchema } from '../../route-schema.js';

const bearer = (t: { token: string; expiresIn: number }): TokenResponse => ({
  access_token: t.token,
  token_type: 'Bearer' as const,
  expires_in: t.expiresIn,
});

/** The token exchanges: no bearer needed, rate limited per client address (see app.ts). */
export const authRoutes: FastifyPluginAsyncTypebox<{
  auth: AuthService;
  rateLimit: { max: number; timeWindow: string } | undefined;
}> = async (app, { auth, rateLimit }) => {
  acceptJsonOnly(app);
  const limited = rateLimit ? { config: { rateLimit } } : {};
  const ctx = (req: { id: string; ip: string }) => ({ requestId: req.id, ip: req.ip });

  app.post(
    '/v1/auth/token',
    {
      ...limited,
      schema: routeSchema('auth', 'Exchange a user API key (ocu_…) for a short-lived access token', {
        security: [],
        body: UserTokenRequest,
        response: { 200: TokenResponse },
      }),
    },
    async (req) => bearer(await auth.exchangeApiKey(req.body.api_key, ctx(req))),
  );

  app.post(
    '/v1/auth/agent-token',
    {
      ...limited,
      schema: routeSchema(
        'auth',
        "Exchange an agent's id and API key (ocv_…) for a short-lived access token",
        { security: [], body: AgentTokenRequest, response: { 200: TokenResponse } },
      ),
    },
    async (req) => bearer(await auth.exchangeAgentKey(req.body.agent_id, req.body.api_key, ctx(req))),
  );

  app.post(
    '/v1/auth/k8s-token',
    {
      ...limited,
      schema: routeSchema(
        'auth',
        'Exchange a Kubernetes service-account token for a short-lived access token',
        {
          security: [],
          description:
            'The token must be a projected service-account token whose audience includes the audience ' +
            'this server is configured with (ONECLAW_K8S_AUDIENCE, default "oneclaw"). The access token ' +
            'names the principal system:serviceaccount:<namespace>:<name>, which policies grant to.',
          body: K8sTokenRequest,
          response: { 200: TokenResponse },
        },
      ),
    },
    async (req) => bearer(await auth.exchangeK8sToken(req.body.token, ctx(req))),
  );
};
