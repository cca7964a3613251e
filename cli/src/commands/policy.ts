// `oneclaw policy grant|list|revoke` (admins): grants of permissions on path patterns in a vault.
import type { Command } from 'commander';
import { PERMISSIONS, type Permission } from '../../../contract/src/policies.js';
import type { PolicyConditions, PolicyCreateInput, PrincipalType } from '../../../sdk/src/index.js';
import { usage } from '../lib/errors.js';
import { emit, printFields, printTable } from '../lib/output.js';
import { vaultId } from '../lib/resolve.js';
import { collect, context } from './context.js';

interface GrantOptions {
  agent?: string;
  user?: string;
  serviceAccount?: string;
  path: string;
  permissions: string;
  ipCidr: string[];
  conditions?: string;
  expiresAt?: string;
}

function principal(o: GrantOptions): { principal_type: PrincipalType; principal_id: string } {
  const given = [o.agent, o.user, o.serviceAccount].filter((x) => x !== undefined);
  if (given.length !== 1)
    throw usage('name exactly one principal: --agent <id>, --user <id> or --service-account <ns>/<name>');
  if (o.agent) return { principal_type: 'agent', principal_id: o.agent };
  if (o.user) return { principal_type: 'user', principal_id: o.user };
  const sa = o.serviceAccount as string;
  const m = /^(?:system:serviceaccount:)?([^:/]+)[:/]([^:/]+)$/.exec(sa);
  if (!m) throw usage('--service-account takes <namespace>/<name>');
  return { principal_type: 'k8s_service_account', principal_id: `system:serviceaccount:${m[1]}:${m[2]}` };
}

function conditions(o: GrantOptions): PolicyConditions | undefined {
  let c: PolicyConditions = {};
  if (o.conditions) {
    try {
      c = JSON.parse(o.conditions) as PolicyConditions;
    } catch {
      throw usage(
        '--conditions must be JSON, e.g. {"time_window":{"start":"07:00","end":"19:00","tz":"UTC"}}',
      );
    }
  }
  if (o.ipCidr.length > 0) c.ip_cidrs = [...(c.ip_cidrs ?? []), ...o.ipCidr];
  return Object.keys(c).length > 0 ? c : undefined;
}

export function register(program: Command): void {
  const policy = program.command('policy').description('grant, list and revoke access (admins)');

  policy
    .command('grant <vault>')
    .description('grant a principal permissions on paths matching a pattern')
    .option('--agent <id>', 'grant to this agent')
    .option('--user <id>', 'grant to this user')
    .option('--service-account <ns/name>', 'grant to this Kubernetes service account')
    .requiredOption('--path <pattern>', 'secret path pattern: * one segment, ** any depth')
    .requiredOption('--permissions <list>', `comma-separated: ${PERMISSIONS.join(',')}`)
    .option('--ip-cidr <cidr>', 'only from this address range (repeatable)', collect, [])
    .option('--conditions <json>', 'conditions as JSON (ip_cidrs, time_window)')
    .option('--expires-at <time>', 'RFC 3339: the grant stops working then')
    .action(async (ref: string, opts: GrantOptions, cmd) => {
      const ctx = context(cmd);
      const permissions = opts.permissions.split(',').map((p) => p.trim());
      for (const p of permissions) {
        if (!PERMISSIONS.includes(p as Permission)) throw usage(`unknown permission ${JSON.stringify(p)}`);
      }
      const cond = conditions(opts);
      const input: PolicyCreateInput = {
        ...principal(opts),
        secret_path_pattern: opts.path,
        permissions: permissions as Permission[],
        ...(cond ? { conditions: cond } : {}),
        ...(opts.expiresAt ? { expires_at: opts.expiresAt } : {}),
      };
      const client = await ctx.client();
      const p = await client.policies.create(await vaultId(client, ref), input);
      emit(ctx.format, p, () =>
        printFields([
          ['policy', p.id],
          ['principal', `${p.principal_type} ${p.principal_id}`],
          ['paths', p.secret_path_pattern],
          ['permissions', p.permissions.join(',')],
          ['expires', p.expires_at],
        ]),
      );
    });

  policy
    .command('list <vault>')
    .description("list a vault's grants")
    .action(async (ref: string, _opts, cmd) => {
      const ctx = context(cmd);
      const client = await ctx.client();
      const policies = await client.policies.list(await vaultId(client, ref));
      emit(ctx.format, policies, () =>
        printTable(
          ['id', 'principal', 'paths', 'permissions', 'expires'],
          policies.map((p) => [
            p.id,
            `${p.principal_type}:${p.principal_id}`,
            p.secret_path_pattern,
            p.permissions.join(','),
            p.expires_at,
          ]),
        ),
      );
    });

  policy
    .command('revoke <vault> <policy-id>')
    .description('revoke a grant (at once, also for tokens already issued)')
    .action(async (ref: string, id: string, _opts, cmd) => {
      const ctx = context(cmd);
      const client = await ctx.client();
      await client.policies.delete(await vaultId(client, ref), id);
      emit(ctx.format, { id, revoked: true }, () => process.stdout.write(`revoked policy ${id}\n`));
    });
}
