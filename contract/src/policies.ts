// Grants: a principal's permissions on the secret paths of a vault that match a pattern, with
// optional conditions (client address, time window) and expiry.
import Type, { type Static } from 'typebox';
import { DateTime, Nullable, Uuid } from './common.js';

const L = Type.Literal;

export const Permission = Type.Union([L('read'), L('write'), L('delete'), L('list')]);
export type Permission = Static<typeof Permission>;
export const PERMISSIONS: readonly Permission[] = Permission.anyOf.map((p) => p.const);

export const PrincipalType = Type.Union([L('user'), L('agent'), L('k8s_service_account')]);
export type PrincipalType = Static<typeof PrincipalType>;

export const Day = Type.Union([L('mon'), L('tue'), L('wed'), L('thu'), L('fri'), L('sat'), L('sun')]);
export type Day = Static<typeof Day>;
export const DAYS: readonly Day[] = Day.anyOf.map((d) => d.const);

const Clock = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM, 24-hour' });

export const TimeWindow = Type.Object(
  {
    days: Type.Optional(Type.Array(Day, { minItems: 1, maxItems: 7 })),
    start: Clock,
    /** HH:MM, 24-hour; before `start` crosses midnight. */
    end: Clock,
    tz: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Europe/Berlin' }),
  },
  { additionalProperties: false, description: '[start, end) local time; end < start crosses midnight' },
);
export type TimeWindow = Static<typeof TimeWindow>;

export const PolicyConditions = Type.Object(
  {
    ip_cidrs: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        minItems: 1,
        maxItems: 64,
        description: 'client addresses allowed (IPv4/IPv6 CIDRs or addresses)',
      }),
    ),
    time_window: Type.Optional(TimeWindow),
  },
  { additionalProperties: false },
);
export type PolicyConditions = Static<typeof PolicyConditions>;

export const Policy = Type.Object({
  id: Uuid,
  vault_id: Uuid,
  principal_type: PrincipalType,
  principal_id: Type.String(),
  secret_path_pattern: Type.String(),
  permissions: Type.Array(Permission),
  conditions: PolicyConditions,
  expires_at: Nullable(DateTime),
  created_by: Type.String(),
  created_at: DateTime,
});
export type Policy = Static<typeof Policy>;

/**
 * The body of a grant. /openapi.json states the rules the policy service checks on top
 * (patterns of principal ids, path patterns and addresses; unique items; known time zones):
 * see policyBodyDoc in the API's policy routes.
 */
export const PolicyCreateInput = Type.Object(
  {
    principal_type: PrincipalType,
    principal_id: Type.String({
      minLength: 1,
      maxLength: 600,
      description: 'a user or agent id, or system:serviceaccount:<namespace>:<name>',
    }),
    /** `*` one segment (or part of one), `**` any depth. */
    secret_path_pattern: Type.String({ minLength: 1, maxLength: 512 }),
    permissions: Type.Array(Permission, { minItems: 1, maxItems: 4 }),
    conditions: Type.Optional(PolicyConditions),
    expires_at: Type.Optional(Nullable(DateTime)),
  },
  { additionalProperties: false },
);
export type PolicyCreateInput = Static<typeof PolicyCreateInput>;

export const PolicyList = Type.Object({ policies: Type.Array(Policy) });
export type PolicyList = Static<typeof PolicyList>;

export const PolicyVaultParams = Type.Object({ vault_id: Uuid });
export const PolicyParams = Type.Object({ vault_id: Uuid, policy_id: Uuid });
