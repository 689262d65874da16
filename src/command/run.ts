/**
 * Runs command lines (parse.ts) from the command pipe or the API as manual
 * bans and unbans through the ban module's port, so a command meets the same
 * guards as any ban (networks, whitelist, caps, rate; dry-run is decided by
 * mitigation; the TTL defaults to `ban.ttl_seconds`). The ban module audits
 * what it does with the actor given here (`pipe` or the API token's name);
 * this module logs every refused or malformed line with its code and counts
 * lines by source and result for the metrics.
 */
import type { Logger } from '../core/log.ts';
import { parseLine, type CommandOp, type ExaBgpParser } from './parse.ts';

export type CommandSource = 'pipe' | 'api';

export type BanOutcome = { ok: true; ban: { id: string; target: string; ttl_seconds: number; expires: number } } | { ok: false; reason: string; detail: string };

/** What commands need of the ban module (the daemon's EnginePort has it). */
export interface CommandBanPort {
  manualBan(req: { ip: string; ttlSeconds?: number; actor: string; reason?: string }): BanOutcome;
  manualUnban(req: { ip: string; actor: string }): BanOutcome;
  activeBans(): ReadonlyArray<{ id: string; target: string }>;
}

export interface LineResult {
  /** 1-based line number in the request body (the pipe answers nobody: 1). */
  line: number;
  command: string;
  ok: boolean;
  action?: 'ban' | 'unban' | 'unban_all';
  target?: string;
  ban_id?: string;
  ttl_seconds?: number;
  /** withdraw-all: how many bans it lifted. */
  unbanned?: number;
  /** Why not: a ban refusal reason (whitelisted, outside_networks, ...), `malformed`, `forbidden` or `not_ready`. */
  code?: string;
  error?: string;
}

export type ResultKind = 'accepted' | 'refused' | 'malformed';

/**
 * Who runs the lines. `admin`: the caller may run withdraw-all (always true
 * for the pipe, whose file mode is its access control). `allows`: a
 * tenant-scoped API token's check on a target; a line about any other target
 * is refused before the ban module, as a ban outside its tenant or an unban
 * of a target that is not banned, and withdraw-all lifts its tenant's bans only.
 */
export interface RunContext {
  source: CommandSource;
  actor: string;
  admin: boolean;
  allows?: (target: string) => boolean;
}

export interface CommandStats {
  /** Lines by source and result. */
  lines: Record<CommandSource, Record<ResultKind, number>>;
  /** Refused lines by code. */
  refused_by_code: Record<string, number>;
}

export interface CommandRunnerOptions {
  /** The ban module, or undefined while the daemon is not ready for changes. */
  port: () => CommandBanPort | undefined;
  exabgp: ExaBgpParser;
  log?: Logger;
}

const MAX_SHOWN = 200;
/** A line is logged as received text at most this long. */
const clip = (s: string) => (s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}...` : s);

export class CommandRunner {
  private readonly opts: CommandRunnerOptions;
  readonly stats: CommandStats = {
    lines: { pipe: { accepted: 0, refused: 0, malformed: 0 }, api: { accepted: 0, refused: 0, malformed: 0 } },
    refused_by_code: {},
  };

  constructor(opts: CommandRunnerOptions) {
    this.opts = opts;
  }

  /** Runs each line of `text` in order. Skipped lines (blank, `#`) give no result. */
  runText(text: string, ctx: RunContext): LineResult[] {
    const out: LineResult[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const r = this.runLine(lines[i], i + 1, ctx);
      if (r) out.push(r);
    }
    return out;
  }

  /** One line; undefined when it is blank or a comment. */
  runLine(raw: string, lineNo: number, ctx: RunContext): LineResult | undefined {
    const command = clip(raw.trim());
    const p = parseLine(raw, this.opts.exabgp);
    if (p.ok === 'skip') return undefined;
    if (p.ok === false) {
      this.stats.lines[ctx.source].malformed++;
      this.opts.log?.warn({ event: 'command malformed', source: ctx.source, actor: ctx.actor, command, error: p.error }, `command from ${ctx.source} not understood: ${p.error}`);
      return { line: lineNo, command, ok: false, code: 'malformed', error: p.error };
    }
    const res = this.exec(p.cmd, ctx, command);
    res.line = lineNo;
    if (res.ok) {
      this.stats.lines[ctx.source].accepted++;
      this.opts.log?.info({ event: 'command', source: ctx.source, actor: ctx.actor, command, action: res.action, target: res.target, ban: res.ban_id, unbanned: res.unbanned }, `command from ${ctx.source}: ${res.action} ${res.target ?? ''}`.trimEnd());
    } else {
      this.stats.lines[ctx.source].refused++;
      const code = res.code ?? 'refused';
      this.stats.refused_by_code[code] = (this.stats.refused_by_code[code] ?? 0) + 1;
      this.opts.log?.warn({ event: 'command refused', source: ctx.source, actor: ctx.actor, command, action: res.action, target: res.target, code, reason: res.error }, `command from ${ctx.source} refused (${code}): ${res.error}`);
    }
    return res;
  }

  private exec(cmd: CommandOp, ctx: RunContext, command: string): LineResult {
    const base = { line: 0, command };
    const action = cmd.op;
    const target = cmd.op === 'unban_all' ? undefined : cmd.target;
    if (cmd.op === 'unban_all' && !ctx.admin) {
      return { ...base, ok: false, action, code: 'forbidden', error: 'withdraw-all lifts every ban: it needs an admin token through the API' };
    }
    const port = this.opts.port();
    if (!port) return { ...base, ok: false, action, target, code: 'not_ready', error: 'not ready: starting or stopping' };
    if (ctx.allows && target !== undefined && !ctx.allows(target)) {
      // The ban module's own answer to an unban of a target without a ban: nothing tells the other tenant's bans apart.
      if (cmd.op === 'unban') return { ...base, ok: false, action, target, code: 'not_banned', error: `${target} is not banned` };
      return { ...base, ok: false, action, target, code: 'outside_tenant', error: `${target} is not a host of this token's tenant` };
    }
    switch (cmd.op) {
      case 'ban': {
        const r = port.manualBan({ ip: cmd.target, ttlSeconds: cmd.ttlSeconds, actor: ctx.actor, reason: clip(`${ctx.source}: ${command}`) });
        if (!r.ok) return { ...base, ok: false, action, target, code: r.reason, error: r.detail };
        return { ...base, ok: true, action, target: r.ban.target, ban_id: r.ban.id, ttl_seconds: r.ban.ttl_seconds };
      }
      case 'unban': {
        const r = port.manualUnban({ ip: cmd.target, actor: ctx.actor });
        if (!r.ok) return { ...base, ok: false, action, target, code: r.reason, error: r.detail };
        return { ...base, ok: true, action, target: r.ban.target, ban_id: r.ban.id };
      }
      case 'unban_all': {
        let n = 0;
        const failed: string[] = [];
        for (const b of port.activeBans()) {
          if (ctx.allows && !ctx.allows(b.target)) continue;
          const r = port.manualUnban({ ip: b.target, actor: ctx.actor });
          if (r.ok) n++;
          else if (r.reason !== 'not_banned') failed.push(`${b.target}: ${r.detail}`);
        }
        if (failed.length) return { ...base, ok: false, action, unbanned: n, code: 'partial', error: `lifted ${n}; not lifted: ${failed.slice(0, 10).join('; ')}` };
        return { ...base, ok: true, action, unbanned: n };
      }
    }
  }
}
