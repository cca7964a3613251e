// The operator's settings that decide which service accounts a SecretSync may never read as.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../common/src/environment.js';
import { loadOperatorConfig } from './config.js';

const base = { ONECLAW_API_URL: 'http://api:8080' };
const ops = 'system:serviceaccount:oneclaw-system:oneclaw-operator';
const breakglass = 'system:serviceaccount:ops:breakglass';

describe('operator config: admin service accounts', () => {
  it('reads its own list, or the API list when it shares the API environment', () => {
    expect(loadOperatorConfig(base).adminServiceAccounts).toEqual([]);
    expect(
      loadOperatorConfig({ ...base, ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: `${ops}, ${breakglass}` })
        .adminServiceAccounts,
    ).toEqual([ops, breakglass]);
    expect(
      loadOperatorConfig({
        ...base,
        ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS: ops,
        ONECLAW_OPERATOR_ADMIN_SERVICE_ACCOUNTS: breakglass,
      }).adminServiceAccounts,
    ).toEqual([breakglass]);
  });

  it('refuses an entry that is not a service-account principal, without echoing it', () => {
    const load = () =>
      loadOperatorConfig({ ...base, ONECLAW_OPERATOR_ADMIN_SERVICE_ACCOUNTS: `${ops},ops/breakglass` });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      'ONECLAW_OPERATOR_ADMIN_SERVICE_ACCOUNTS: each entry must be system:serviceaccount:<namespace>:<name>',
    );
    expect(load).not.toThrow(/ops\/breakglass/);
  });
});
