/**
 * A reload as one typed plan, computed once from two validated configs and
 * sliced per module, so no module re-derives its own diff (OpenBGPD's
 * merge_config / reconf_action is the model). The daemon applies the slices
 * in order; each module reports what it did. The plan also names what is
 * dangerous about it (authentication turned off, a listener widened) so a
 * careless or cut-short file cannot silently open or disarm the daemon.
 */
import { isDeepStrictEqual } from 'node:util';
import { parseIP } from '../core/ip.ts';
import type { BgpConfig, Config, NeighborConfig, NotifyConfig } from './schema.ts';
import { parseListen } from './schema.ts';

export interface NeighborDiff {
  added: NeighborConfig[];
  removed: NeighborConfig[];
  changed: Array<{ before: NeighborConfig; after: NeighborConfig; keys: string[] }>;
}

/** The old diff shape (dotted keys, neighbors, dry_run, restart-only keys), kept for callers that only report. */
export interface ConfigDiff {
  /** Dotted keys that changed, e.g. "dry_run", "thresholds.pps", "bgp.neighbors[127.0.0.2] added". */
  changed: string[];
  neighbors: NeighborDiff;
  dryRunChanged: boolean;
  /** Keys that only take effect after a restart (reported, not applied). */
  needsRestart: string[];
}

/** The keys of one module's slice that changed; empty: the module is not touched. */
export interface Slice {
  readonly keys: readonly string[];
}

/** The top-level keys each module reads: its slice carries only those, so a module never sees the rest. */
export const ENGINE_KEYS = ['networks', 'hostgroups', 'thresholds', 'thresholds_outgoing', 'baseline', 'carpet', 'detection', 'samples'] as const;
/** What a target's ban policy reads (ban/policy.ts): in both the ban slice and the route policy. */
export const POLICY_KEYS = ['ban', 'hostgroups', 'mitigation', 'escalation', 'flowspec'] as const;
/** Route policy (mitigation/policy.ts compilePolicy): actions, FlowSpec, next hops and communities, per hostgroup. */
export const ROUTE_KEYS = [...POLICY_KEYS, 'bgp', 'flowspec_methods', 'platforms'] as const;
/**
 * The ban module (ban/): its rules (ban, hostgroups, mitigation, escalation, flowspec: a ban's
 * start level and ladder) and where it may ban (networks, whitelist). No route keys: it is
 * handed a route builder for those (mitigation/route.ts routeBuilder).
 */
export const BAN_KEYS = ['networks', 'protected_whitelist', ...POLICY_KEYS] as const;
/** The flow listeners and per-exporter rules (flow/collector.ts collectorOptions). */
export const COLLECTOR_KEYS = ['listen', 'sampling', 'flow_sources'] as const;
export type EngineConfig = Pick<Config, (typeof ENGINE_KEYS)[number]>;
export type RouteConfig = Pick<Config, (typeof ROUTE_KEYS)[number]>;
export type BanModuleConfig = Pick<Config, (typeof BAN_KEYS)[number]>;
export type PolicyConfig = Pick<Config, (typeof POLICY_KEYS)[number]>;
export type CollectorConfig = Pick<Config, (typeof COLLECTOR_KEYS)[number]>;
export type ApiConfig = Config['api'];

/** The named top-level parts of a config (the same frozen objects), as one frozen object. */
export function pickConfig<K extends keyof Config>(c: Readonly<Config>, keys: readonly K[]): Readonly<Pick<Config, K>> {
  const o = {} as Pick<Config, K>;
  for (const k of keys) o[k] = c[k];
  return Object.freeze(o);
}

/** One module's slice: the keys that changed and the part of the plan's config the module reads. */
export interface ConfigSlice<C> extends Slice {
  readonly config: Readonly<C>;
}

export interface ListenerChange {
  key: string;
  from: string;
  to: string;
}

/** One reason a reload must be confirmed (force) before it is applied. */
export type Danger =
  | { kind: 'auth_off'; detail: string }
  | { kind: 'listener_widened'; key: string; from: string; to: string; detail: string }
  | { kind: 'bans_lifted'; bans: Array<{ target: string; reason: string }>; detail: string };

export interface ReloadPlan {
  /** Every dotted key that changed (restart-only ones included). */
  readonly changed: readonly string[];
  /** The config to run: the new one, with restart-only keys kept at their running values. */
  readonly config: Readonly<Config>;
  /** Detection: window, thresholds, hostgroups, baseline, carpet, samples, networks counted. */
  readonly engine: ConfigSlice<EngineConfig>;
  /**
   * Ban rules: ban.*, networks and whitelist (a ban outside them ends),
   * hostgroups, mitigation, escalation and flowspec (a ban's level and
   * ladder). Never the route keys nor the rest of the config (BAN_KEYS): the
   * ban module rebuilds its active bans' routes with a builder of the
   * `mitigation` slice's policy (mitigation/route.ts routeBuilder).
   */
  readonly bans: ConfigSlice<BanModuleConfig> & { readonly targetsNarrowed: boolean };
  /** Route policy: mitigation, flowspec, next hops, communities, local_pref. */
  readonly mitigation: ConfigSlice<RouteConfig>;
  /** BGP sessions: neighbors added, removed, changed; speaker-wide keys that apply at run time. */
  readonly neighbors: NeighborDiff & ConfigSlice<BgpConfig>;
  /** Flow listeners and per-exporter rules: listen.*, sampling.*, flow_sources. */
  readonly listeners: ConfigSlice<CollectorConfig> & { readonly addresses: readonly ListenerChange[] };
  /** API tokens and auth switches (api.listen is restart-only). */
  readonly api: ConfigSlice<ApiConfig> & { readonly authBefore: boolean; readonly authAfter: boolean };
  /** Notification channels (applied by the notifier after the modules; printed among `other`). */
  readonly notify: ConfigSlice<NotifyConfig>;
  /** ClickHouse history: storage.clickhouse is applied only at start, so a change waits for a restart. */
  readonly history: Slice & { readonly restartRequired: boolean };
  readonly dryRun: { readonly from: boolean; readonly to: boolean } | undefined;
  /** Changed, but only a restart applies them. */
  readonly restartOnly: readonly string[];
  /** Changed keys no running module acts on (log.*, notify.*, storage.retention_days ...). */
  readonly other: readonly string[];
  /** Dangers found from the configs alone (lifted bans need the ban module: see the daemon). */
  readonly dangers: readonly Danger[];
}

export const RESTART_KEYS = ['api.listen', 'storage.data_dir', 'storage.sqlite', 'storage.clickhouse', 'bgp.listen', 'bgp.local_asn', 'bgp.router_id', 'bgp.graceful_restart', 'cluster'] as const;

/** Which slice a changed top-level key (or bgp.* key) belongs to. First match wins. */
const SLICE_OF: ReadonlyArray<readonly [prefix: string, slices: ReadonlyArray<'engine' | 'bans' | 'mitigation' | 'neighbors' | 'listeners' | 'api'>]> = [
  ['networks', ['engine', 'bans']],
  ['protected_whitelist', ['bans']],
  ['hostgroups', ['engine', 'bans', 'mitigation']],
  ['detection', ['engine']],
  ['thresholds', ['engine']],
  ['thresholds_outgoing', ['engine']],
  ['baseline', ['engine']],
  ['carpet', ['engine']],
  ['samples', ['engine']],
  ['ban', ['bans']],
  ['escalation', ['bans', 'mitigation']],
  ['mitigation', ['bans', 'mitigation']],
  ['flowspec', ['bans', 'mitigation']],
  ['flowspec_methods', ['mitigation']],
  ['platforms', ['mitigation']],
  ['bgp.neighbors', ['neighbors']],
  ['bgp.next_hop', ['mitigation', 'neighbors']],
  ['bgp.next_hop6', ['mitigation', 'neighbors']],
  ['bgp.community', ['mitigation', 'neighbors']],
  ['bgp.communities', ['mitigation', 'neighbors']],
  ['bgp.large_communities', ['mitigation', 'neighbors']],
  ['bgp.local_pref', ['mitigation', 'neighbors']],
  ['bgp', ['neighbors']],
  ['listen', ['listeners']],
  ['sampling', ['listeners']],
  ['flow_sources', ['listeners']],
  ['api', ['api']],
];

function nbKey(n: NeighborConfig): string {
  return n.port === 179 ? n.address : `${n.address}:${n.port}`;
}

const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);

/** Dotted keys whose values differ, descending `depth` levels into objects. */
function walk(a: unknown, b: unknown, path: string, out: string[], depth: number): void {
  if (isDeepStrictEqual(a, b)) return;
  if (depth > 0 && isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], path ? `${path}.${k}` : k, out, depth - 1);
    return;
  }
  out.push(path);
}

export function diffNeighbors(a: readonly NeighborConfig[], b: readonly NeighborConfig[]): NeighborDiff {
  const before = new Map(a.map((n) => [nbKey(n), n]));
  const after = new Map(b.map((n) => [nbKey(n), n]));
  const d: NeighborDiff = { added: [], removed: [], changed: [] };
  for (const [k, n] of after) {
    const o = before.get(k);
    if (!o) d.added.push(n);
    else if (!isDeepStrictEqual(o, n)) {
      const keys: string[] = [];
      walk(o, n, '', keys, 1);
      d.changed.push({ before: o, after: n, keys });
    }
  }
  for (const [k, n] of before) if (!after.has(k)) d.removed.push(n);
  return d;
}

export function diffConfig(a: Readonly<Config>, b: Readonly<Config>): ConfigDiff {
  const changed: string[] = [];
  const { bgp: bgpA, ...restA } = a;
  const { bgp: bgpB, ...restB } = b;
  walk(restA, restB, '', changed, 2);
  const { neighbors: nA, ...bA } = bgpA;
  const { neighbors: nB, ...bB } = bgpB;
  walk(bA, bB, 'bgp', changed, 2);
  const neighbors = diffNeighbors(nA, nB);
  for (const n of neighbors.added) changed.push(`bgp.neighbors[${nbKey(n)}] added`);
  for (const n of neighbors.removed) changed.push(`bgp.neighbors[${nbKey(n)}] removed`);
  for (const c of neighbors.changed) changed.push(`bgp.neighbors[${nbKey(c.after)}] ${c.keys.join(',')}`);
  const needsRestart = changed.filter(isRestartKey);
  return { changed, neighbors, dryRunChanged: a.dry_run !== b.dry_run, needsRestart };
}

function isRestartKey(k: string): boolean {
  return RESTART_KEYS.some((r) => k === r || k.startsWith(r + '.'));
}

const under = (k: string, prefix: string) => k === prefix || k.startsWith(prefix + '.') || k.startsWith(prefix + '[');

/** True when tokens are configured (api.token_env or api.tokens[]). */
export function authConfigured(c: Readonly<Config>): boolean {
  return Boolean(c.api.token_env) || c.api.tokens.length > 0;
}

/** Is a listen address ("host:port", ":port", "") bound to loopback only? An empty address listens nowhere. */
export function listenScope(spec: string): 'off' | 'loopback' | 'wide' {
  if (spec === '') return 'off';
  const l = parseListen(spec);
  if (!l) return 'wide';
  if (l.host === 'localhost') return 'loopback';
  const ip = parseIP(l.host);
  if (!ip) return 'wide';
  if (ip.family === 4) return ip.bytes[0] === 127 ? 'loopback' : 'wide';
  return ip.bytes.every((x, i) => x === (i === 15 ? 1 : 0)) ? 'loopback' : 'wide';
}

function listenHost(spec: string): string {
  return parseListen(spec)?.host ?? spec;
}

/** Every listener of the config by its key. */
export function listeners(c: Readonly<Config>): Array<{ key: string; address: string }> {
  return [
    { key: 'api.listen', address: c.api.listen },
    { key: 'listen.netflow', address: c.listen.netflow },
    { key: 'listen.sflow', address: c.listen.sflow },
    { key: 'bgp.listen', address: c.bgp.listen },
  ];
}

/** A listener that binds beyond where it bound: loopback or nothing → wide, or a new non-loopback host. */
function widened(from: string, to: string): boolean {
  if (listenScope(to) !== 'wide') return false;
  if (listenScope(from) !== 'wide') return true;
  return listenHost(from) !== listenHost(to);
}

/** Keeps the running values of restart-only keys in the new config. */
function keepRestartKeys(old: Readonly<Config>, next: Readonly<Config>, keys: readonly string[]): Readonly<Config> {
  if (keys.length === 0) return next;
  const c = structuredClone(next) as Config;
  for (const k of keys) {
    const parts = k.split('.');
    let src: unknown = old;
    let dst: unknown = c;
    for (let i = 0; i < parts.length - 1; i++) {
      src = isObj(src) ? src[parts[i]] : undefined;
      dst = isObj(dst) ? dst[parts[i]] : undefined;
    }
    const last = parts[parts.length - 1];
    if (!isObj(dst)) continue;
    if (isObj(src) && last in src) dst[last] = structuredClone(src[last]);
    else delete dst[last]; // an optional key the running config does not have (storage.clickhouse)
  }
  return deepFreeze(c);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const k of Object.keys(o)) deepFreeze((o as Record<string, unknown>)[k]);
  }
  return o;
}

/** The reload plan from the running config to a new validated one. */
export function planReload(old: Readonly<Config>, next: Readonly<Config>): ReloadPlan {
  const d = diffConfig(old, next);
  const slices = { engine: [] as string[], bans: [] as string[], mitigation: [] as string[], neighbors: [] as string[], listeners: [] as string[], api: [] as string[] };
  const other: string[] = [];
  for (const k of d.changed) {
    if (k === 'dry_run' || isRestartKey(k)) continue;
    const row = SLICE_OF.find(([p]) => under(k, p));
    if (!row) other.push(k);
    else for (const s of row[1]) slices[s].push(k);
  }
  const config = keepRestartKeys(old, next, d.needsRestart);

  const dangers: Danger[] = [];
  const authBefore = authConfigured(old);
  const authAfter = authConfigured(next);
  if (authBefore && !authAfter) dangers.push({ kind: 'auth_off', detail: 'API authentication turned off: api.token_env and api.tokens are gone' });
  const addresses: ListenerChange[] = [];
  const nextListeners = new Map(listeners(next).map((l) => [l.key, l.address]));
  for (const l of listeners(old)) {
    const to = nextListeners.get(l.key) ?? '';
    if (to === l.address) continue;
    addresses.push({ key: l.key, from: l.address, to });
    if (widened(l.address, to)) dangers.push({ kind: 'listener_widened', key: l.key, from: l.address, to, detail: `${l.key} widened from "${l.address}" to "${to}"` });
  }

  const narrowed = !isDeepStrictEqual(old.networks, next.networks) || !isDeepStrictEqual(old.protected_whitelist, next.protected_whitelist);
  const history = d.changed.filter((k) => under(k, 'storage.clickhouse'));
  return {
    changed: d.changed,
    config,
    engine: { keys: slices.engine, config: pickConfig(config, ENGINE_KEYS) },
    bans: { keys: slices.bans, targetsNarrowed: narrowed, config: pickConfig(config, BAN_KEYS) },
    mitigation: { keys: slices.mitigation, config: pickConfig(config, ROUTE_KEYS) },
    neighbors: { ...d.neighbors, keys: slices.neighbors, config: config.bgp },
    listeners: { keys: slices.listeners, addresses: addresses.filter((a) => a.key.startsWith('listen.')), config: pickConfig(config, COLLECTOR_KEYS) },
    api: { keys: slices.api, authBefore, authAfter, config: config.api },
    notify: { keys: other.filter((k) => under(k, 'notify')), config: config.notify },
    history: { keys: history, restartRequired: history.length > 0 },
    dryRun: old.dry_run !== next.dry_run ? { from: old.dry_run, to: next.dry_run } : undefined,
    restartOnly: d.needsRestart,
    other,
    dangers,
  };
}

/** Adds lifted bans (found by the ban module) to the plan's dangers. */
export function withLiftedBans(plan: ReloadPlan, lifted: Array<{ target: string; reason: string }>): ReloadPlan {
  if (lifted.length === 0) return plan;
  const detail = `${lifted.length} active ban(s) would be lifted: ${lifted.slice(0, 20).map((b) => `${b.target} (${b.reason})`).join(', ')}${lifted.length > 20 ? ', ...' : ''}`;
  return { ...plan, dangers: [...plan.dangers, { kind: 'bans_lifted', bans: lifted, detail }] };
}

/** The plan as lines, one per slice that does something (logs, tests, the API response). */
export function formatPlan(p: ReloadPlan): string[] {
  const out: string[] = [];
  const line = (name: string, keys: readonly string[]) => {
    if (keys.length) out.push(`${name}: ${keys.join(', ')}`);
  };
  if (p.dryRun) out.push(`dry_run: ${p.dryRun.from} -> ${p.dryRun.to}`);
  line('engine', p.engine.keys);
  line('bans', p.bans.keys);
  line('mitigation', p.mitigation.keys);
  const nb = p.neighbors;
  const nbParts = [
    ...nb.added.map((n) => `+${nbKey(n)}`),
    ...nb.removed.map((n) => `-${nbKey(n)}`),
    ...nb.changed.map((c) => `~${nbKey(c.after)}(${c.keys.join(',')})`),
    ...nb.keys.filter((k) => !k.startsWith('bgp.neighbors')),
  ];
  line('neighbors', nbParts);
  line('listeners', p.listeners.keys);
  line('api', p.api.keys);
  line('restart only', p.restartOnly);
  line('other', p.other);
  for (const d of p.dangers) out.push(`DANGER ${d.kind}: ${d.detail}`);
  return out;
}
