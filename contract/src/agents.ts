// Agents: non-human principals (CI jobs, services outside the cluster) with `ocv_` API keys.
import Type, { type Static } from 'typebox';
import { DateTime, Nullable, Patterned, Text, Uuid } from './common.js';

/** 1-63 characters: lowercase letters, digits, . _ -, starting and ending alphanumeric. */
export const AGENT_NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
export const AGENT_NAME_RULE =
  'name: lowercase letters, digits, . _ - (1-63), starting and ending alphanumeric';

export const Agent = Type.Object({
  id: Uuid,
  name: Type.String(),
  description: Type.String(),
  disabled: Type.Boolean(),
  expires_at: Nullable(DateTime),
  created_by: Type.String(),
  created_at: DateTime,
  updated_at: DateTime,
});
export type Agent = Static<typeof Agent>;

export const AgentWithKey = Type.Object({
  agent: Agent,
  /** `ocv_…`, shown once. */
  api_key: Type.String({ description: 'shown once; store it now' }),
});
export type AgentWithKey = Static<typeof AgentWithKey>;

export const AgentCreateInput = Type.Object(
  {
    name: Patterned(AGENT_NAME, AGENT_NAME_RULE, { minLength: 1, maxLength: 63 }),
    description: Type.Optional(Text({ maxLength: 1024 })),
    expires_at: Type.Optional(Nullable(DateTime)),
  },
  { additionalProperties: false },
);
export type AgentCreateInput = Static<typeof AgentCreateInput>;

/** At least one field. */
export const AgentUpdateInput = Type.Object(
  {
    description: Type.Optional(Text({ maxLength: 1024 })),
    disabled: Type.Optional(Type.Boolean()),
    expires_at: Type.Optional(Nullable(DateTime)),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type AgentUpdateInput = Static<typeof AgentUpdateInput>;

export const AgentList = Type.Object({ agents: Type.Array(Agent) });
export type AgentList = Static<typeof AgentList>;

export const AgentParams = Type.Object({ id: Uuid });
