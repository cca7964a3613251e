// What POST /v1/vaults/:vault_id/policies accepts, stated exactly for /openapi.json. The route
// validates the shape and the policy service the rules below, with messages of its own (which
// entry, which segment), so these constraints live in the document only: the route hands
// policyBodyDoc to the OpenAPI generator as the transform of its schema.

const v4Seg = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const v4 = `(?:${v4Seg}\\.){3}${v4Seg}`;
const v6Seg = '(?:[0-9a-fA-F]{1,4})';
// The address forms node's net.isIP accepts (without a zone index, which grants refuse).
const v6 =
  '(?:' +
  `(?:${v6Seg}:){7}(?:${v6Seg}|:)|` +
  `(?:${v6Seg}:){6}(?:${v4}|:${v6Seg}|:)|` +
  `(?:${v6Seg}:){5}(?::${v4}|(?::${v6Seg}){1,2}|:)|` +
  `(?:${v6Seg}:){4}(?:(?::${v6Seg}){0,1}:${v4}|(?::${v6Seg}){1,3}|:)|` +
  `(?:${v6Seg}:){3}(?:(?::${v6Seg}){0,2}:${v4}|(?::${v6Seg}){1,4}|:)|` +
  `(?:${v6Seg}:){2}(?:(?::${v6Seg}){0,3}:${v4}|(?::${v6Seg}){1,5}|:)|` +
  `(?:${v6Seg}:){1}(?:(?::${v6Seg}){0,4}:${v4}|(?::${v6Seg}){1,6}|:)|` +
  `(?::(?:(?::${v6Seg}){0,5}:${v4}|(?::${v6Seg}){1,7}|:))` +
  ')';
export const CIDR_PATTERN = `^(?:${v4}(?:/(?:3[0-2]|[12][0-9]|[0-9]))?|${v6}(?:/(?:12[0-8]|1[01][0-9]|[1-9][0-9]|[0-9]))?)$`;

/** A segment is `**`, or letters, digits, _ and - with single `*` wildcards. */
const segment = '(?:\\*\\*|\\*|\\*?(?:[A-Za-z0-9_-]+\\*)*[A-Za-z0-9_-]+\\*?)';
export const PATH_PATTERN_PATTERN = `^${segment}(?:/${segment})*$`;

const label = '[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?';
export const PRINCIPAL_ID_PATTERN = `^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|system:serviceaccount:${label}:${label})$`;

type JsonObject = { [k: string]: unknown };
const obj = (v: unknown): JsonObject => (v ?? {}) as JsonObject;

export const policyBodyDoc = <S extends { body?: unknown }>({ schema, url }: { schema: S; url: string }) => {
  const body = obj(schema.body);
  const props = obj(body.properties);
  const conditions = obj(props.conditions);
  const cprops = obj(conditions.properties);
  const window = obj(cprops.time_window);
  const wprops = obj(window.properties);
  return {
    url,
    schema: {
      ...schema,
      body: {
        ...body,
        properties: {
          ...props,
          principal_id: {
            ...obj(props.principal_id),
            pattern: PRINCIPAL_ID_PATTERN,
            description: 'a user or agent id (a lowercase UUID), or system:serviceaccount:<namespace>:<name>',
          },
          secret_path_pattern: { ...obj(props.secret_path_pattern), pattern: PATH_PATTERN_PATTERN },
          permissions: { ...obj(props.permissions), uniqueItems: true },
          conditions: {
            ...conditions,
            properties: {
              ...cprops,
              ip_cidrs: {
                ...obj(cprops.ip_cidrs),
                items: { type: 'string', maxLength: 64, pattern: CIDR_PATTERN },
              },
              time_window: {
                ...window,
                properties: {
                  ...wprops,
                  days: { ...obj(wprops.days), uniqueItems: true },
                  tz: { ...obj(wprops.tz), enum: Intl.supportedValuesOf('timeZone') },
                },
              },
            },
          },
        },
      },
    },
  };
};
