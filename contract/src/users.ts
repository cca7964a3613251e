// Users: people with `ocu_` API keys, each an org admin or a member.
import Type, { type Static } from 'typebox';
import { DateTime, Patterned, Uuid } from './common.js';

/** 1-128 characters: lowercase letters, digits, . _ @ -, starting and ending alphanumeric. */
export const USER_NAME = /^[a-z0-9]([a-z0-9._@-]{0,126}[a-z0-9])?$/;
export const USER_NAME_RULE =
  'name: lowercase letters, digits, . _ @ - (1-128), starting and ending alphanumeric';

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('member')]);
export type Role = Static<typeof Role>;
export const ROLES: readonly Role[] = Role.anyOf.map((r) => r.const);

export const User = Type.Object({
  id: Uuid,
  name: Type.String(),
  role: Role,
  disabled: Type.Boolean(),
  created_at: DateTime,
});
export type User = Static<typeof User>;

export const UserWithKey = Type.Object({
  user: User,
  /** `ocu_…`, shown once. */
  api_key: Type.String({ description: 'shown once; store it now' }),
});
export type UserWithKey = Static<typeof UserWithKey>;

export const UserCreateInput = Type.Object(
  {
    name: Patterned(USER_NAME, USER_NAME_RULE, { minLength: 1, maxLength: 128 }),
    role: Role,
  },
  { additionalProperties: false },
);
export type UserCreateInput = Static<typeof UserCreateInput>;

/** At least one field. */
export const UserUpdateInput = Type.Object(
  { role: Type.Optional(Role), disabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);
export type UserUpdateInput = Static<typeof UserUpdateInput>;

export const UserList = Type.Object({ users: Type.Array(User) });
export type UserList = Static<typeof UserList>;

export const UserParams = Type.Object({ id: Uuid });
