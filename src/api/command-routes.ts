/**
 * POST /api/v1/commands (operator): the command pipe's language over HTTP,
 * for scripts that cannot reach the daemon's file system. The body is plain
 * text, one command per line (command/parse.ts); every line is a manual ban
 * or unban through the ban guards, audited with the token's name as actor.
 * A body with `withdraw-all` needs an admin token (403 before any line runs).
 * A tenant-scoped token acts on its tenant's hosts only: a line about another
 * target is refused as `outside_tenant` (an unban as `not_banned`, the answer
 * for a target without a ban), and its withdraw-all lifts its tenant's bans.
 *
 *   200 {"results": [{line, command, ok, action, target, ban_id, ttl_seconds, code, error}],
 *        "accepted": N, "refused": N, "malformed": N}
 *   400 no command in the body; 403 withdraw-all without admin; 413 body too large;
 *   503 not ready (starting or stopping)
 */
import type Koa from 'koa';
import { ApiError } from '../core/errors.ts';
import type { LineResult, RunContext } from '../command/run.ts';
import { readBody } from './body.ts';
import type { Scope } from './tenant.ts';

/** What the route needs of the daemon's commands: undefined while it takes no changes. */
export interface CommandsPort {
  runText(text: string, ctx: RunContext & { source: 'api' }): LineResult[];
}

export type CommandPath = '/api/v1/commands';

/** Lines a request may hold. */
export const MAX_COMMAND_LINES = 1000;

const isWithdrawAll = (line: string) => /^\s*withdraw[-_]all\s*$/.test(line);

export function registerCommandRoutes(
  route: (path: CommandPath, fn: (ctx: Koa.Context, who: Scope, admin: boolean) => unknown) => void,
  deps: { commands: () => CommandsPort | undefined; maxBodyBytes: number },
): void {
  route('/api/v1/commands', async (ctx, who, admin) => {
    const actor = who.actor;
    const text = await readBody(ctx.req, deps.maxBodyBytes);
    const lines = text.split('\n');
    const commands = lines.filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    if (commands.length === 0) throw new ApiError('bad_request', 'no command in the body: send text lines such as "announce 192.0.2.100/32"');
    if (lines.length > MAX_COMMAND_LINES) throw new ApiError('bad_request', `at most ${MAX_COMMAND_LINES} lines per request`);
    if (!admin && commands.some(isWithdrawAll)) throw new ApiError('forbidden', `withdraw-all lifts every ban: token "${actor}" needs the admin role`);
    const port = deps.commands();
    if (!port) throw new ApiError('not_ready', 'not ready: starting or stopping', { ready: false });
    const results = port.runText(text, { source: 'api', actor, admin, ...(who.tenant !== undefined ? { allows: (t: string) => who.owns(t) } : {}) });
    const count = (f: (r: LineResult) => boolean) => results.filter(f).length;
    ctx.body = {
      results,
      accepted: count((r) => r.ok),
      refused: count((r) => !r.ok && r.code !== 'malformed'),
      malformed: count((r) => r.code === 'malformed'),
    };
  });
}
