/**
 * API tokens from the environment, named by the config (api.token_env,
 * api.tokens[]): read at start and at every reload that changes the api slice.
 */
import type { Config } from '../config/schema.ts';
import type { Logger } from '../core/log.ts';
import type { ApiToken } from '../api/server.ts';

/** Tokens from api.token_env (one admin token) and api.tokens[]; a missing variable is logged and skipped. */
export function resolveTokens(cfg: Readonly<Pick<Config, 'api'>>, log?: Logger): ApiToken[] {
  const out: ApiToken[] = [];
  const env = (name: string, what: string) => {
    const v = process.env[name];
    if (!v) log?.warn({ event: 'api token missing', env: name, token: what }, `environment variable ${name} is not set; token ${what} disabled`);
    return v ?? '';
  };
  if (cfg.api.token_env) {
    const t = env(cfg.api.token_env, 'admin');
    if (t) out.push({ name: 'admin', token: t, role: 'admin' });
  }
  for (const t of cfg.api.tokens) {
    const v = env(t.token_env, t.name);
    if (v) out.push({ name: t.name, token: v, role: t.role, ...(t.tenant ? { tenant: t.tenant } : {}) });
  }
  const configured = (cfg.api.token_env ? 1 : 0) + cfg.api.tokens.length;
  if (configured > 0 && out.length === 0) {
    // Tokens are configured but none resolved: refuse every mutation rather than open the API.
    out.push({ name: 'unresolved', token: `unresolved-${Math.random().toString(36).slice(2)}-${Date.now()}`, role: 'viewer' });
  }
  return out;
}
