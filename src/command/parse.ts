/**
 * The command language of the command pipe and POST /api/v1/commands: what
 * FastNetMon's `exabgp_command_pipe` and RTBH scripts already write, read as
 * manual bans and unbans (never as raw routes), so every command goes through
 * the ban module's guards like any other ban.
 *
 *   ExaBGP lines (parsed by the `breakwater bgp` grammar, passed in as `exabgp`):
 *     [neighbor IP] announce route PREFIX next-hop IP|self [community [..]] ... [ttl N]  → ban PREFIX
 *     [neighbor IP] withdraw route PREFIX [...]                                       → unban PREFIX
 *     announce flow route { match { destination PREFIX; ... } then { ... } } [ttl N]   → ban PREFIX
 *     withdraw flow route { match { destination PREFIX; ... } ... }                    → unban PREFIX
 *     announce|withdraw flow route source P destination PREFIX protocol [ udp ] ... rate-limit N
 *       (ExaBGP's older one-line flow form, as FastNetMon's FlowSpec examples write it)  → ban|unban PREFIX
 *   The simple language of the ExaBGP RTBH guide:
 *     announce ADDRESS[/LEN] [ttl N]   → ban
 *     withdraw ADDRESS[/LEN]           → unban
 *     withdraw-all                     → lift every active ban
 *   Blank lines and lines starting with `#` are skipped.
 *
 * Next hop, communities, neighbors and a flow route's match/then come from
 * Breakwater's own config (`bgp.*`, `mitigation`, `flowspec`): the line names
 * the target and optionally the TTL. parseLine never throws.
 */
import { parsePrefix } from '../core/ip.ts';

/** What the ExaBGP grammar (bgp/command.ts parseCommand) returns, as far as commands read it. */
export type ExaBgpResult =
  | {
      ok: true;
      command: {
        kind: string;
        neighbors?: string[];
        ttl?: number;
        route?: { family: string; prefix?: string; rule?: { destination?: { prefix: string } } };
      };
    }
  | { ok: false; error: string };

export type ExaBgpParser = (line: string) => ExaBgpResult;

export type CommandOp =
  | { op: 'ban'; target: string; ttlSeconds?: number; syntax: 'exabgp' | 'simple' }
  | { op: 'unban'; target: string; syntax: 'exabgp' | 'simple' }
  | { op: 'unban_all' };

export type ParsedLine = { ok: true; cmd: CommandOp } | { ok: false; error: string } | { ok: 'skip' };

/** Longest TTL a command may ask for (the ban module's manual maximum). */
export const MAX_COMMAND_TTL_SECONDS = 365 * 86400;

function simple(words: string[]): ParsedLine {
  const [verb, target, ...rest] = words;
  const p = parsePrefix(target);
  if (typeof p === 'string') return { ok: false, error: `${verb}: ${p}` };
  if (verb === 'withdraw') {
    if (rest.length) return { ok: false, error: `withdraw takes one address or prefix, not "${rest.join(' ')}"` };
    return { ok: true, cmd: { op: 'unban', target, syntax: 'simple' } };
  }
  if (rest.length === 0) return { ok: true, cmd: { op: 'ban', target, syntax: 'simple' } };
  if (rest.length === 2 && rest[0] === 'ttl' && /^[0-9]{1,9}$/.test(rest[1])) {
    const ttl = Number(rest[1]);
    if (ttl < 1 || ttl > MAX_COMMAND_TTL_SECONDS) return { ok: false, error: `ttl must be 1..${MAX_COMMAND_TTL_SECONDS} seconds` };
    return { ok: true, cmd: { op: 'ban', target, ttlSeconds: ttl, syntax: 'simple' } };
  }
  return { ok: false, error: `announce takes an address or prefix and optionally "ttl SECONDS", not "${rest.join(' ')}"` };
}

/** ExaBGP's one-line flow form: only its destination matters here (the rule itself comes from the config). */
function oneLineFlow(line: string): ParsedLine | undefined {
  const m = /^(?:neighbor\s+\S+\s+)*(announce|withdraw)\s+flow\s+route\s+(?!\{|match\b)(.*)$/.exec(line);
  if (!m) return undefined;
  const d = /(?:^|\s)destination\s+(?:\[\s*)?([^\s\]]+)/.exec(m[2]);
  if (!d) return { ok: false, error: 'a flow route needs "destination PREFIX": it names the target' };
  const p = parsePrefix(d[1]);
  if (typeof p === 'string') return { ok: false, error: `destination: ${p}` };
  return { ok: true, cmd: m[1] === 'announce' ? { op: 'ban', target: d[1], syntax: 'exabgp' } : { op: 'unban', target: d[1], syntax: 'exabgp' } };
}

/** One line of the command language; `exabgp` parses the ExaBGP forms. */
export function parseLine(raw: string, exabgp: ExaBgpParser): ParsedLine {
  const line = raw.trim();
  if (line === '' || line.startsWith('#')) return { ok: 'skip' };
  const words = line.split(/\s+/);
  if (words.length === 1 && (words[0] === 'withdraw-all' || words[0] === 'withdraw_all')) return { ok: true, cmd: { op: 'unban_all' } };
  // "announce 192.0.2.100/32": the guide's language (ExaBGP's always says "route" or "flow").
  if ((words[0] === 'announce' || words[0] === 'withdraw') && words.length >= 2 && words[1] !== 'route' && words[1] !== 'flow') return simple(words);
  const flat = oneLineFlow(line);
  if (flat) return flat;
  const r = exabgp(line);
  if (!r.ok) return { ok: false, error: r.error };
  const c = r.command;
  if (c.kind !== 'announce' && c.kind !== 'withdraw') return { ok: false, error: `"${c.kind}" is a \`breakwater bgp\` command; the command pipe takes announce, withdraw and withdraw-all` };
  const route = c.route;
  const target = route?.prefix ?? route?.rule?.destination?.prefix;
  if (!target) return { ok: false, error: 'a flow route needs "destination PREFIX" in its match block: it names the target' };
  if (c.kind === 'withdraw') return { ok: true, cmd: { op: 'unban', target, syntax: 'exabgp' } };
  return { ok: true, cmd: { op: 'ban', target, ...(c.ttl !== undefined ? { ttlSeconds: c.ttl } : {}), syntax: 'exabgp' } };
}
