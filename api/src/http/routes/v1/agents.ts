import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import {
  Agent,
  AgentCreateInput,
  AgentList,
  AgentParams,
  AgentUpdateInput,
  AgentWithKey,
} from '../../../../../contract/src/agents.js';
import type { AgentService } from '../../../services/agents/agent-service.js';
import { authorize } from '../../auth.js';
import { acceptJsonOnly } from '../../errors.js';
import { routeSchema } from '../../route-schema.js';

/** Agents are managed by org admins. */
export const agentRoutes: FastifyPluginAsyncTypebox<{ agents: AgentService }> = async (app, { agents }) => {
  acceptJsonOnly(app);
  const admin = (req: Parameters<typeof authorize>[0]) => authorize(req, undefined, undefined, 'admin');

  app.post(
    '/v1/agents',
    {
      schema: routeSchema('agents', 'Create an agent and its API key (ocv_…, shown once)', {
        body: AgentCreateInput,
        response: { 201: AgentWithKey },
      }),
    },
    async (req, reply) => {
      const created = await agents.create(await admin(req), req.body, req.id);
      reply.status(201);
      return created;
    },
  );

  app.get(
    '/v1/agents',
    { schema: routeSchema('agents', 'List agents', { response: { 200: AgentList } }) },
    async (req) => ({ agents: await agents.list(await admin(req)) }),
  );

  app.get(
    '/v1/agents/:id',
    { schema: routeSchema('agents', 'Get an agent', { params: AgentParams, response: { 200: Agent } }) },
    async (req) => agents.get(await admin(req), req.params.id),
  );

  app.patch(
    '/v1/agents/:id',
    {
      schema: routeSchema('agents', 'Disable or enable an agent, set its expiry or description', {
        description:
          'Disabling or expiring an agent suspends its key and live access tokens at once; enabling it again ' +
          'restores them. Rotate the key (or delete the agent) to revoke for good.',
        params: AgentParams,
        body: AgentUpdateInput,
        response: { 200: Agent },
      }),
    },
    async (req) => agents.update(await admin(req), req.params.id, req.body, req.id),
  );

  app.delete(
    '/v1/agents/:id',
    {
      schema: routeSchema('agents', 'Delete an agent, its keys and its grants', {
        params: AgentParams,
        response: { 204: Type.Null() },
      }),
    },
    async (req, reply) => {
      await agents.remove(await admin(req), req.params.id, req.id);
      reply.status(204);
      return null;
    },
  );

  app.post(
    '/v1/agents/:id/rotate-key',
    {
      schema: routeSchema(
        'agents',
        "Replace an agent's API key (the old key and its tokens stop working at once)",
        { params: AgentParams, response: { 200: AgentWithKey } },
      ),
    },
    async (req) => agents.rotateKey(await admin(req), req.params.id, req.id),
  );
};
