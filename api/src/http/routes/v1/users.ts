import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  User,
  UserCreateInput,
  UserList,
  UserParams,
  UserUpdateInput,
  UserWithKey,
} from '../../../../../contract/src/users.js';
import type { UserService } from '../../../services/users/user-service.js';
import { authorize } from '../../auth.js';
import { acceptJsonOnly } from '../../errors.js';
import { routeSchema } from '../../route-schema.js';

/** Users are managed by org admins. */
export const userRoutes: FastifyPluginAsyncTypebox<{ users: UserService }> = async (app, { users }) => {
  acceptJsonOnly(app);
  const admin = (req: Parameters<typeof authorize>[0]) => authorize(req, undefined, undefined, 'admin');

  app.post(
    '/v1/users',
    {
      schema: routeSchema('users', 'Create a user and their API key (ocu_…, shown once)', {
        body: UserCreateInput,
        response: { 201: UserWithKey },
      }),
    },
    async (req, reply) => {
      const created = await users.create(await admin(req), req.body, req.id);
      reply.status(201);
      return created;
    },
  );

  app.get(
    '/v1/users',
    { schema: routeSchema('users', 'List users', { response: { 200: UserList } }) },
    async (req) => ({ users: await users.list(await admin(req)) }),
  );

  app.patch(
    '/v1/users/:id',
    {
      schema: routeSchema('users', 'Disable or enable a user, or change their role', {
        description:
          'Disabling a user suspends their key and live access tokens at once; enabling them again restores ' +
          'them. Rotate the key to revoke for good.',
        params: UserParams,
        body: UserUpdateInput,
        response: { 200: User },
      }),
    },
    async (req) => users.update(await admin(req), req.params.id, req.body, req.id),
  );

  app.post(
    '/v1/users/:id/rotate-key',
    {
      schema: routeSchema(
        'users',
        "Replace a user's API key (the old key and its tokens stop working at once)",
        { params: UserParams, response: { 200: UserWithKey } },
      ),
    },
    async (req) => users.rotateKey(await admin(req), req.params.id, req.id),
  );
};
