/** Role and tenant tokens of the access, tenant and ctl tests (variables set by accessConfig()). */

export const TOKENS = {
  viewer: 'view-token-0123456789',
  operator: 'op-token-0123456789',
  admin: 'admin-token-0123456789',
  acme: 'acme-token-0123456789',
  globex: 'globex-token-0123456789',
};

/** The api and hostgroups blocks of a daemon with role and tenant tokens (variables set by this function). */
export function accessConfig(): Record<string, unknown> {
  process.env.BW_T_VIEWER = TOKENS.viewer;
  process.env.BW_T_OPERATOR = TOKENS.operator;
  process.env.BW_T_ADMIN = TOKENS.admin;
  process.env.BW_T_ACME = TOKENS.acme;
  process.env.BW_T_GLOBEX = TOKENS.globex;
  return {
    api: {
      listen: '127.0.0.1:0',
      tokens: [
        { name: 'grafana', token_env: 'BW_T_VIEWER', role: 'viewer' },
        { name: 'noc', token_env: 'BW_T_OPERATOR', role: 'operator' },
        { name: 'root', token_env: 'BW_T_ADMIN', role: 'admin' },
        { name: 'acme-ops', token_env: 'BW_T_ACME', role: 'admin', tenant: 'acme' },
        { name: 'globex-ops', token_env: 'BW_T_GLOBEX', role: 'operator', tenant: 'globex' },
      ],
    },
    hostgroups: [
      { name: 'acme-web', tenant: 'acme', networks: ['198.51.100.0/26'] },
      { name: 'globex-web', tenant: 'globex', networks: ['198.51.100.64/26'] },
      { name: 'shared', networks: ['198.51.100.128/25'] },
    ],
  };
}
