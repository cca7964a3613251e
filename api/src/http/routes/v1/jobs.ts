import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Job, JobParams, KmsMigrateInput } from '../../../../../contract/src/jobs.js';
import { VaultParams } from '../../../../../contract/src/vaults.js';
import type { JobService } from '../../../services/jobs/job-service.js';
import { authorize } from '../../auth.js';
import { routeSchema } from '../../route-schema.js';

export const jobRoutes: FastifyPluginAsyncTypebox<{ jobs: JobService }> = async (app, { jobs }) => {
  app.post(
    '/v1/vaults/:vault_id/rotate-kek',
    {
      schema: routeSchema(
        'vaults',
        'Rotate the vault KEK: new writes use a new KEK version at once; a job re-wraps older DEKs',
        { params: VaultParams, response: { 202: Job } },
      ),
    },
    async (req, reply) => {
      const p = await authorize(req, req.params.vault_id, undefined, 'admin');
      reply.status(202);
      return jobs.startKekRotation(p, req.params.vault_id, req.id);
    },
  );

  app.post(
    '/v1/kms/migrate',
    {
      schema: routeSchema(
        'jobs',
        'Move vaults (one, or all of the org) from previous KMS keys (ONECLAW_KMS_PREVIOUS_KEYS) to the current ONECLAW_KMS_KEY: a job re-wraps KEKs and kms-custody DEKs',
        { body: KmsMigrateInput, response: { 202: Job } },
      ),
    },
    async (req, reply) => {
      const vaultId = req.body?.vault_id;
      const p = await authorize(req, vaultId, undefined, 'admin');
      reply.status(202);
      return jobs.startKmsMigration(p, vaultId, req.id);
    },
  );

  app.get(
    '/v1/jobs/:job_id',
    { schema: routeSchema('jobs', 'Progress of a job', { params: JobParams, response: { 200: Job } }) },
    async (req) => jobs.get(await authorize(req, undefined, undefined, 'admin'), req.params.job_id),
  );
};
