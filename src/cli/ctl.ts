/**
 * `breakwater ctl`: the REST API from a shell, for operators and scripts.
 * It speaks only HTTP to a running daemon (BREAKWATER_URL, default
 * http://127.0.0.1:8080; BREAKWATER_TOKEN, or -url and -token), so it works
 * against a remote daemon and sees exactly what the API lets its token see.
 * Tables for people, `-json` for scripts (the API's own answer, unchanged).
 * Exit status: 0 done, 1 the API refused or failed (its error on stderr),
 * 2 a usage error.
 */
import { parseFlags, UsageError } from './flags.ts';

export const CTL_USAGE = `usage: breakwater ctl [-url URL] [-token TOKEN] [-json] COMMAND [ARGS]
  status                                   mode, totals, neighbors
  attacks [-active] [-limit N] [-cursor C] [-all]
  bans [-active] [-limit N] [-cursor C] [-all]
  hosts [-sort pps|bps|flows] [-direction incoming|outgoing] [-limit N]
  ban TARGET [-ttl SECONDS] [-reason TEXT]
  unban TARGET [-reason TEXT]
  mitigate TARGET [-method NAME] [-match JSON] [-ttl SECONDS] [-platforms A,B] [-reason TEXT]
  mitigate -end ID                         end a manual mitigation
  audit [-action ACTION] [-limit N] [-cursor C] [-all]
  reload [-force]
  exporters | neighbors
Environment: BREAKWATER_URL (default http://127.0.0.1:8080), BREAKWATER_TOKEN.
`;

const FLAGS = {
  string: ['url', 'token', 'limit', 'cursor', 'ttl', 'reason', 'method', 'match', 'platforms', 'end', 'action', 'sort', 'direction', 'timeout'],
  boolean: ['json', 'active', 'all', 'force', 'help'],
  alias: { h: 'help' },
} as const;

/** Pages -all follows at most (each up to 1000 items). */
const MAX_PAGES = 100;

interface Out {
  out(s: string): void;
  err(s: string): void;
}

class ApiFailure extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown, message: string) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

type Json = Record<string, any>;

function fmtTime(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  const d = typeof v === 'number' ? new Date(v) : new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function cell(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  if (Array.isArray(v)) return v.length ? v.join(',') : '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A plain text table: a header row and aligned columns. */
export function table(cols: string[], rows: unknown[][]): string {
  const text = rows.map((r) => r.map(cell));
  const w = cols.map((c, i) => Math.max(c.length, ...text.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(w[i]))).join('  ');
  return [line(cols), ...text.map(line)].join('\n') + '\n';
}

export async function run(argv: string[], io: Out = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  if (f.flags.has('help') || f.positional.length === 0) {
    io.out(CTL_USAGE);
    return f.flags.has('help') ? 0 : 2;
  }
  const [cmd, ...args] = f.positional;
  const base = (f.values.url ?? process.env.BREAKWATER_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(base)) throw new UsageError(`-url must start with http:// or https:// (got "${base}")`);
  const token = f.values.token ?? process.env.BREAKWATER_TOKEN ?? '';
  const timeoutMs = f.values.timeout ? Number(f.values.timeout) * 1000 : 30_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError('-timeout takes seconds');
  const json = f.flags.has('json');

  const call = async (method: string, path: string, body?: unknown): Promise<Json> => {
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new ApiFailure(0, undefined, `cannot reach ${base}: ${(e as Error).cause ? ((e as Error).cause as Error).message : (e as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { raw: text };
    }
    if (!res.ok) {
      const p = parsed as Json;
      const detail = [p.code, p.reason].filter(Boolean).join(', ');
      throw new ApiFailure(res.status, parsed, `${p.error ?? text.slice(0, 200)} (HTTP ${res.status}${detail ? `, ${detail}` : ''})`);
    }
    return parsed as Json;
  };

  const qs = (o: Record<string, string | undefined>) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== '') p.set(k, v);
    const s = p.toString();
    return s ? `?${s}` : '';
  };

  /** One page, or with -all every page (following next_cursor). */
  const list = async (path: string, name: string, extra: Record<string, string | undefined> = {}): Promise<Json> => {
    const q = { ...extra, limit: f.values.limit ?? (f.flags.has('all') ? '1000' : undefined), cursor: f.values.cursor };
    const first = await call('GET', path + qs(q));
    if (!f.flags.has('all')) return first;
    const items = [...(first[name] as unknown[])];
    let next = first.next_cursor as string | null;
    for (let i = 1; next && i < MAX_PAGES; i++) {
      const page = await call('GET', path + qs({ ...q, cursor: next }));
      items.push(...(page[name] as unknown[]));
      next = page.next_cursor;
    }
    return { ...first, [name]: items, next_cursor: next ?? null };
  };

  const print = (data: Json, human: () => string) => io.out(json ? JSON.stringify(data, null, 2) + '\n' : human());
  const more = (d: Json, name: string) => (d.next_cursor ? `(${(d[name] as unknown[]).length} of ${d.total}; next page: -cursor ${d.next_cursor})\n` : '');
  const need = (what: string) => {
    if (!args[0]) throw new UsageError(`${cmd} needs ${what}`);
    return args[0];
  };
  const intFlag = (name: string): number | undefined => {
    const v = f.values[name];
    if (v === undefined) return undefined;
    if (!/^[0-9]+$/.test(v)) throw new UsageError(`-${name} takes a whole number`);
    return Number(v);
  };

  try {
    switch (cmd) {
      case 'status': {
        const s = await call('GET', '/api/v1/status');
        print(s, () => {
          const rows: unknown[][] = [
            ['mode', s.mode === 'live' ? 'LIVE (routes are announced)' : 'dry_run (nothing is announced)'],
            ['version', s.version],
            ['uptime', s.uptime_seconds !== undefined ? `${s.uptime_seconds}s` : undefined],
            ['active attacks', s.active_attacks],
            ['active bans', s.active_bans],
            ['announced routes', s.announced_routes ? `${s.announced_routes.real} real, ${s.announced_routes.dry_run} dry-run` : undefined],
          ];
          let out = table(['KEY', 'VALUE'], rows.filter((r) => r[1] !== undefined));
          if (Array.isArray(s.neighbors) && s.neighbors.length) out += '\n' + table(['NEIGHBOR', 'STATE', 'ROUTES', 'LAST ERROR'], s.neighbors.map((n: Json) => [n.address, n.state, n.routes_sent ?? n.routes_out, n.last_error]));
          return out;
        });
        return 0;
      }
      case 'attacks': {
        const d = await list('/api/v1/attacks', 'attacks', { active: f.flags.has('active') ? 'true' : undefined });
        print(d, () => table(['ID', 'TARGET', 'VECTOR', 'PEAK PPS', 'PEAK MBPS', 'START', 'ACTIVE', 'BAN'], d.attacks.map((a: Json) => [a.id, a.target, a.vector, a.peak_pps, a.peak_mbps, fmtTime(a.start), a.active ? 'yes' : 'no', a.ban?.id])) + more(d, 'attacks'));
        return 0;
      }
      case 'bans': {
        const d = await list('/api/v1/bans', 'bans', { active: f.flags.has('active') ? 'true' : undefined });
        print(d, () => table(['ID', 'TARGET', 'ACTION', 'SOURCE', 'CREATED', 'TTL LEFT', 'ACTIVE', 'ANNOUNCED TO'], d.bans.map((b: Json) => [b.id, b.target, b.action, b.source, fmtTime(b.created), b.active ? `${b.ttl_left_seconds}s` : '-', b.active ? 'yes' : 'no', b.announced_to])) + more(d, 'bans'));
        return 0;
      }
      case 'hosts': {
        const d = await list('/api/v1/hosts', 'hosts', { sort: f.values.sort, direction: f.values.direction });
        print(d, () => table(['IP', 'DIRECTION', 'PPS', 'MBPS', 'FLOWS/S', 'HOSTGROUP', 'ATTACK'], d.hosts.map((h: Json) => [h.ip, h.direction, h.pps, h.mbps, h.fps, h.hostgroup, h.under_attack ? 'yes' : ''])) + more(d, 'hosts'));
        return 0;
      }
      case 'exporters': {
        const d = await list('/api/v1/exporters', 'exporters');
        print(d, () => table(['EXPORTER', 'PROTOCOL', 'DATAGRAMS/S', 'RECORDS/S', 'SAMPLING', 'LAST SEEN', 'ERRORS', 'FLAGGED'], d.exporters.map((e: Json) => [e.address, e.protocol, e.datagrams_per_second, e.records_per_second, e.sampling_rate, fmtTime(e.last_seen), e.errors, e.flagged ? 'yes' : ''])));
        return 0;
      }
      case 'neighbors': {
        const d = await list('/api/v1/neighbors', 'neighbors');
        print(d, () => table(['NEIGHBOR', 'ASN', 'STATE', 'FAMILIES', 'ROUTES SENT', 'UPTIME', 'LAST ERROR'], d.neighbors.map((n: Json) => [n.address, n.asn, n.state, n.families, n.routes_sent, `${n.uptime_seconds}s`, n.last_error])));
        return 0;
      }
      case 'ban': {
        const target = need('a TARGET (address or prefix)');
        const d = await call('POST', '/api/v1/ban', { ip: target, ...(intFlag('ttl') !== undefined ? { ttl_seconds: intFlag('ttl') } : {}), ...(f.values.reason ? { reason: f.values.reason } : {}) });
        print(d, () => `banned ${d.ban.target}: ban ${d.ban.id}, ${d.ban.action}, expires ${fmtTime(d.ban.expires)} (${d.ban.mode === 'live' ? 'announced' : 'dry-run: not announced'})\n`);
        return 0;
      }
      case 'unban': {
        const target = need('a TARGET (address or prefix)');
        const d = await call('POST', '/api/v1/unban', { ip: target, ...(f.values.reason ? { reason: f.values.reason } : {}) });
        print(d, () => `unbanned ${d.unbanned}${d.ban?.id ? ` (ban ${d.ban.id})` : ''}\n`);
        return 0;
      }
      case 'mitigate': {
        if (f.values.end) {
          const d = await call('DELETE', `/api/v1/mitigations/${encodeURIComponent(f.values.end)}`);
          print(d, () => `ended mitigation ${d.id ?? f.values.end}\n`);
          return 0;
        }
        const target = need('a TARGET (address or prefix) or -end ID');
        let match: unknown;
        if (f.values.match) {
          try {
            match = JSON.parse(f.values.match);
          } catch (e) {
            throw new UsageError(`-match takes JSON: ${(e as Error).message}`);
          }
        }
        const body = {
          target,
          ...(f.values.method ? { method: f.values.method } : {}),
          ...(match !== undefined ? { match } : {}),
          ...(intFlag('ttl') !== undefined ? { ttl_seconds: intFlag('ttl') } : {}),
          ...(f.values.platforms ? { platforms: f.values.platforms.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
          ...(f.values.reason ? { reason: f.values.reason } : {}),
        };
        const d = await call('POST', '/api/v1/mitigations', body);
        print(d, () => {
          let s = `mitigation ${d.id} started on ${target}\n`;
          for (const l of (d.lint ?? []) as Json[]) s += `  lint ${l.neighbor} (${l.profile}): ${l.ok ? 'ok' : 'refused'}${(l.findings ?? []).map((x: Json) => `; ${x.severity} ${x.code}: ${x.message}`).join('')}\n`;
          if (d.collateral?.summary) s += `  collateral: ${d.collateral.summary}\n`;
          return s;
        });
        return 0;
      }
      case 'audit': {
        const d = await list('/api/v1/audit', 'audit', { action: f.values.action });
        print(d, () => table(['TIME', 'ACTOR', 'ACTION', 'TARGET', 'RESULT'], d.audit.map((e: Json) => [fmtTime(e.time), e.actor, e.action, e.target, e.result])) + more(d, 'audit'));
        return 0;
      }
      case 'reload': {
        const d = await call('POST', `/api/v1/config/reload${f.flags.has('force') ? '?force=true' : ''}`);
        print(d, () => `reloaded (${d.mode}); changed: ${(d.changed as string[]).length ? d.changed.join(', ') : 'nothing'}\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown ctl command "${cmd}"`);
    }
  } catch (e) {
    if (!(e instanceof ApiFailure)) throw e;
    if (json && e.body !== undefined) io.out(JSON.stringify(e.body, null, 2) + '\n');
    io.err(`breakwater ctl: ${cmd}: ${e.message}\n`);
    const b = e.body as Json | undefined;
    if (b?.dangers) for (const x of b.dangers as Json[]) io.err(`  danger: ${x.kind}: ${x.detail} (repeat with -force to apply)\n`);
    if (b?.issues) for (const x of b.issues as Json[]) io.err(`  ${x.path || '(root)'}: ${x.message}\n`);
    return 1;
  }
}
