/**
 * Configs written for Kapkan load unchanged. Kapkan (a public Apache-2.0 Go
 * daemon) documents a closed set of keys; this table says, for each of them,
 * what Breakwater does with it:
 *
 *   same         applied as written (the key exists in Breakwater's schema)
 *   renamed      applied under Breakwater's name (`carpet.aggregation_prefix_v4`
 *                → `carpet.prefix_length_v4`), sometimes with its value reshaped
 *   replaced     Breakwater does the job another way (`ban.state_file` → the
 *                SQLite store); accepted, with one start-up line saying so
 *   unsupported  Breakwater does not do it (XDP `dataplane`, scrubbing, edge);
 *                accepted, with a warning naming the key, and without effect
 *
 * Empty strings mean "off" where Kapkan means that (`notify.webhook.url: ""`,
 * `notify.slack.webhook_url: ""`, `notify.email.smtp_host: ""`,
 * `notify.exec.command: ""`): the block is dropped before validation.
 *
 * The translation runs on the raw YAML before the strict schema sees it, and
 * only for keys the schema does not know itself: a key Breakwater gains later
 * becomes `same` without touching this table. validateConfig() on an object
 * stays strict (unknown keys are errors); only files loaded as configs go
 * through here. docs/kapkan.md is generated from KAPKAN_KEYS.
 */

export const KAPKAN_KINDS = ['same', 'renamed', 'replaced', 'unsupported'] as const;
export type KapkanKind = (typeof KAPKAN_KINDS)[number];

export interface KapkanKey {
  /** Dotted path; `[]` marks a list of objects (`bgp.neighbors[].address`). */
  path: string;
  kind: KapkanKind;
  /** What Breakwater does, for the docs and the log line. */
  note: string;
}

const same = (path: string, note = ''): KapkanKey => ({ path, kind: 'same', note });
const renamed = (path: string, note: string): KapkanKey => ({ path, kind: 'renamed', note });
const replaced = (path: string, note: string): KapkanKey => ({ path, kind: 'replaced', note });
const unsupported = (path: string, note: string): KapkanKey => ({ path, kind: 'unsupported', note });

const THRESHOLD_KEYS = ['pps', 'mbps', 'flows_per_sec', 'tcp_pps', 'tcp_mbps', 'udp_pps', 'udp_mbps', 'icmp_pps', 'icmp_mbps', 'tcp_syn_pps', 'tcp_syn_mbps', 'frag_pps', 'frag_mbps'];
const thresholds = (base: string): KapkanKey[] => THRESHOLD_KEYS.map((k) => same(`${base}.${k}`));
const BASELINE_FLOOR = 'Breakwater spells it `floor_pps`, `floor_mbps`, `floor_flows_per_sec`';
const baseline = (base: string): KapkanKey[] => [
  same(`${base}.enabled`, 'A Kapkan-shaped block (with `floor`) and no `enabled` turns the baseline on, as in Kapkan.'),
  same(`${base}.factor`),
  same(`${base}.half_life_seconds`),
  same(`${base}.warmup_seconds`),
  renamed(`${base}.floor.pps`, `${BASELINE_FLOOR}: \`${base}.floor_pps\`.`),
  renamed(`${base}.floor.mbps`, `${BASELINE_FLOOR}: \`${base}.floor_mbps\`.`),
  renamed(`${base}.floor.flows_per_sec`, `${BASELINE_FLOOR}: \`${base}.floor_flows_per_sec\`.`),
];
const ESCALATION_ACTION = 'Same actions; `none` rungs are dropped (a ban starts at its first real rung), `divert` and `dataplane` rungs are dropped with a warning (no scrubbing, no XDP).';
const MITIGATION = '`blackhole` and `flowspec` the same; `divert` and `dataplane` are not done: warning, and the bans are blackholes.';
const flowspec = (base: string): KapkanKey[] => [
  same(`${base}.action`),
  same(`${base}.rate_mbps`),
  unsupported(`${base}.min_source_concentration`, 'FlowSpec rules match the attack\'s destination, protocol and ports, not a source concentration.'),
  unsupported(`${base}.source_anchored`, 'Rules are never anchored on sources.'),
];

/** Every key of Kapkan's published configuration reference. */
export const KAPKAN_KEYS: readonly KapkanKey[] = [
  same('dry_run'),
  same('listen.netflow'),
  same('listen.sflow'),
  same('sampling.default_rate'),
  same('sampling.boundary[].exporter'),
  same('sampling.boundary[].external_ifindexes'),
  unsupported('sampling.boundary[].egress_sampling', 'Boundary de-duplication counts records by their input interface only.'),
  unsupported('sampling.boundary_debug', 'See the ingest counters in `/metrics` instead.'),
  same('networks'),
  same('protected_whitelist'),
  same('flow_sources'),
  ...thresholds('thresholds'),
  ...thresholds('thresholds_outgoing'),
  ...baseline('baseline'),
  same('samples.enabled'),
  same('samples.buffer_flows'),
  same('samples.flows_per_attack'),
  same('hostgroups[].name'),
  same('hostgroups[].networks'),
  ...thresholds('hostgroups[].thresholds'),
  ...thresholds('hostgroups[].thresholds_outgoing'),
  same('hostgroups[].calculation'),
  renamed('hostgroups[].ban', '`false` (detect, never ban) becomes `ban: {max_active_bans: 0}`; `true` is the default.'),
  same('hostgroups[].mitigation', MITIGATION),
  same('hostgroups[].escalation[].after_seconds'),
  same('hostgroups[].escalation[].action', ESCALATION_ACTION),
  ...flowspec('hostgroups[].flowspec'),
  ...baseline('hostgroups[].baseline'),
  renamed('hostgroups[].bgp.communities', 'Becomes `hostgroups[].communities`: added to the group\'s blackhole routes.'),
  unsupported('hostgroups[].bgp.next_hop', 'Every blackhole uses `bgp.next_hop` (or the neighbor\'s `next_hop`).'),
  unsupported('hostgroups[].bgp.next_hop6', 'Every IPv6 blackhole uses `bgp.next_hop6` (or the neighbor\'s).'),
  unsupported('hostgroups[].bgp.local_pref', '`bgp.local_pref` (or the neighbor\'s `local_pref`) applies.'),
  unsupported('hostgroups[].scrubbing', 'Breakwater does not divert traffic to scrubbing centres.'),
  same('hostgroups[].tenant', 'Tokens with the same `api.tokens[].tenant` see and act only on the group\'s hosts.'),
  same('mitigation', MITIGATION),
  same('escalation[].after_seconds'),
  same('escalation[].action', ESCALATION_ACTION),
  ...flowspec('flowspec'),
  unsupported('scrubbing', 'Breakwater does not divert traffic to scrubbing centres (`divert` falls back to a blackhole).'),
  same('carpet.min_hosts'),
  renamed('carpet.aggregation_prefix_v4', 'Becomes `carpet.prefix_length_v4`; a Kapkan-shaped `carpet` block turns carpet detection on (`carpet.enabled`).'),
  renamed('carpet.aggregation_prefix_v6', 'Becomes `carpet.prefix_length_v6`.'),
  unsupported('carpet.max_active_prefix_bans', 'Prefix bans count against `ban.max_active_bans` and `ban.max_banned_fraction`.'),
  unsupported('carpet.mitigation', 'Carpet bans follow `mitigation` like every other ban.'),
  ...thresholds('carpet.thresholds'),
  same('ban.ttl_seconds'),
  same('ban.unban_hysteresis_seconds'),
  same('ban.max_active_bans'),
  same('ban.max_banned_fraction'),
  same('ban.max_bans_per_window'),
  same('ban.ban_window_seconds'),
  same('ban.fallback'),
  replaced('ban.state_file', 'Bans are kept in the SQLite store (`storage.data_dir`), which survives restarts; the file is not read.'),
  same('bgp.local_asn'),
  same('bgp.router_id'),
  same('bgp.next_hop'),
  same('bgp.next_hop6'),
  same('bgp.community'),
  same('bgp.communities'),
  same('bgp.local_pref'),
  renamed('bgp.listen_port', 'Becomes `bgp.listen: ":PORT"` (passive sessions are accepted there).'),
  same('bgp.graceful_restart.enabled'),
  same('bgp.graceful_restart.restart_seconds'),
  unsupported('bgp.graceful_restart.long_lived', 'No long-lived graceful restart (RFC 9494).'),
  unsupported('bgp.graceful_restart.long_lived_stale_seconds', 'No long-lived graceful restart (RFC 9494).'),
  same('bgp.neighbors[].address'),
  same('bgp.neighbors[].remote_asn'),
  same('bgp.neighbors[].port'),
  same('notify.telegram.token_env'),
  same('notify.telegram.chat_id'),
  same('notify.slack.webhook_url', '`""` turns Slack off.'),
  same('notify.webhook.url', '`""` turns the webhook off.'),
  same('notify.email.smtp_host', '`""` turns email off; `host:port` is split into `smtp_host` and `smtp_port`.'),
  same('notify.email.from'),
  same('notify.email.to'),
  same('notify.email.username_env'),
  same('notify.email.password_env'),
  same('notify.email.require_tls'),
  same('notify.exec.command', '`""` turns the hook off.'),
  same('notify.exec.timeout_seconds'),
  replaced('notify.exec.format', 'The hook is called with FastNetMon\'s notify-script arguments; `format` is not read.'),
  same('api.listen'),
  same('api.dashboard'),
  same('api.token_env', '`""` means no token.'),
  same('api.tokens[].name'),
  same('api.tokens[].token_env'),
  same('api.tokens[].role', '`viewer` and `operator` the same; `agent` (Kapkan edge agents) is accepted as `viewer` with a warning.'),
  same('api.tokens[].tenant', 'The token sees and acts only on the hosts of its tenant\'s hostgroups.'),
  unsupported('tenant', 'Tenants are per hostgroup and per token here: `hostgroups[].tenant` and `api.tokens[].tenant`.'),
  same('storage.clickhouse.url', '`""` turns ClickHouse off.'),
  same('storage.clickhouse.database'),
  same('storage.clickhouse.username_env'),
  same('storage.clickhouse.password_env'),
  unsupported('storage.clickhouse.ttl_days', 'History is pruned after `storage.retention_days`.'),
  unsupported('storage.clickhouse.flush_interval_seconds', 'Breakwater sizes its own ClickHouse batches.'),
  unsupported('storage.clickhouse.batch_size', 'Breakwater sizes its own ClickHouse batches.'),
  unsupported('storage.clickhouse.queue_size', 'Breakwater sizes its own ClickHouse batches.'),
  unsupported('storage.clickhouse.traffic_interval_seconds', 'Per-host traffic is not written to ClickHouse at a separate interval.'),
  unsupported('geoip', 'No GeoIP or ASN lookups of sources.'),
  unsupported('update_check', 'Breakwater never contacts an update server.'),
  unsupported('dataplane', 'Breakwater has no XDP data plane; it mitigates through BGP only (RTBH, FlowSpec).'),
  unsupported('edge', 'No edge nodes or zones.'),
];

/** Sub-keys of the blocks Breakwater does not do, for the docs table (handled as their block). */
export const KAPKAN_BLOCK_KEYS: Readonly<Record<string, readonly string[]>> = {
  dataplane: ['enabled', 'interfaces', 'xdp_mode', 'pin_path', 'on_exit', 'drop_malformed', 'allowlist', 'limits.max_dynamic_rules', 'limits.max_static_rules', 'limits.max_ratelimit_sources', 'fingerprint.enabled', 'fingerprint.sample_pps', 'fingerprint.block_ttl_seconds', 'fingerprint.ja4_blocklist', 'ratelimit_profiles[].name', 'ratelimit_profiles[].pps', 'ratelimit_profiles[].mbps', 'static_rules[].name', 'static_rules[].action', 'static_rules[].profile', 'static_rules[].match.src', 'static_rules[].match.proto', 'static_rules[].match.src_port', 'static_rules[].match.dst_port', 'static_rules[].match.payload'],
  scrubbing: ['next_hop', 'next_hop6', 'community', 'communities', 'local_pref', 'node_selection', 'nodes[].name', 'nodes[].next_hop', 'nodes[].next_hop6', 'nodes[].capacity_mbps', 'nodes[].hostgroups', 'on_all_nodes_lost', 'stale_after_seconds'],
  'hostgroups[].scrubbing': ['next_hop', 'next_hop6', 'communities', 'local_pref'],
  edge: ['nodes[].name', 'stale_after_seconds', 'state_file', 'zones_file'],
  geoip: ['enabled', 'asn_database', 'country_database'],
  update_check: ['enabled', 'url', 'channel', 'interval_seconds', 'notify'],
};

export interface CompatNote {
  /** The key as it was in the file, with list indexes (`hostgroups.0.bgp.next_hop`). */
  key: string;
  kind: 'replaced' | 'unsupported';
  note: string;
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);

/** Calls fn(parent, key, dottedPath) for every place `path` ("a[].b.c") exists in `root`. */
function each(root: Obj, path: string, fn: (parent: Obj, key: string, at: string) => void): void {
  const steps = path.split('.');
  const walk = (o: unknown, i: number, at: string): void => {
    if (!isObj(o)) return;
    const step = steps[i];
    const list = step.endsWith('[]');
    const key = list ? step.slice(0, -2) : step;
    if (!(key in o)) return;
    const here = at ? `${at}.${key}` : key;
    if (i === steps.length - 1 && !list) return fn(o, key, here);
    const v = o[key];
    if (list) {
      if (Array.isArray(v)) v.forEach((x, n) => (i === steps.length - 1 ? undefined : walk(x, i + 1, `${here}.${n}`)));
    } else walk(v, i + 1, here);
  };
  walk(root, 0, '');
}

const noteOf = (path: string) => KAPKAN_KEYS.find((k) => k.path === path)?.note ?? '';

/**
 * Translates the Kapkan-only keys of a raw config (a deep copy is returned;
 * the input is left alone). `knows(path)` says whether Breakwater's schema has
 * the key (with `[]` list steps): such keys are left as they are.
 */
export function translateKapkan(raw: unknown, knows: (path: string) => boolean): { config: unknown; notes: CompatNote[] } {
  if (!isObj(raw)) return { config: raw, notes: [] };
  const cfg = structuredClone(raw) as Obj;
  const notes: CompatNote[] = [];
  const drop = (kind: CompatNote['kind'], path: string, note = noteOf(path)) =>
    each(cfg, path, (parent, key, at) => {
      delete parent[key];
      notes.push({ key: at, kind, note });
    });
  const move = (path: string, to: string, map: (v: unknown) => unknown = (v) => v) =>
    each(cfg, path, (parent, key) => {
      if (!(to in parent)) parent[to] = map(parent[key]);
      delete parent[key];
    });

  // Empty strings that mean "off".
  const offWhenEmpty: Array<[string, string]> = [
    ['notify', 'webhook.url'],
    ['notify', 'slack.webhook_url'],
    ['notify', 'email.smtp_host'],
    ['notify', 'exec.command'],
    ['notify', 'telegram.token_env'],
    ['notify', 'telegram.chat_id'],
    ['storage', 'clickhouse.url'],
  ];
  for (const [top, sub] of offWhenEmpty) {
    const [block, key] = sub.split('.');
    const parent = cfg[top];
    if (isObj(parent) && isObj(parent[block]) && (parent[block] as Obj)[key] === '') delete parent[block];
  }
  if (isObj(cfg.notify)) {
    const email = cfg.notify.email;
    if (isObj(email) && Array.isArray(email.to) && email.to.length === 0) delete cfg.notify.email;
  }
  if (isObj(cfg.api) && cfg.api.token_env === '') delete cfg.api.token_env;
  if (isObj(cfg.notify) && isObj(cfg.notify.email) && typeof cfg.notify.email.smtp_host === 'string' && knows('notify.email.smtp_port')) {
    const e = cfg.notify.email;
    const m = /^([^:\[\]]+|\[[0-9a-fA-F:.]+\]):(\d{1,5})$/.exec(e.smtp_host as string);
    if (m && e.smtp_port === undefined) {
      e.smtp_host = m[1].replace(/^\[|\]$/g, '');
      e.smtp_port = Number(m[2]);
    }
  }

  // Blocks Breakwater does not do: the whole block goes, with one warning.
  for (const k of KAPKAN_KEYS) {
    if (k.kind === 'same' || knows(k.path)) continue;
    if (k.kind === 'unsupported' || k.kind === 'replaced') drop(k.kind, k.path, k.note);
  }

  // Renamed keys.
  const kapkanShaped = (o: unknown, keys: string[]) => isObj(o) && keys.some((k) => k in o);
  for (const base of ['baseline', 'hostgroups[].baseline']) {
    const enable = base === 'baseline';
    each(cfg, base, (parent, key) => {
      const b = parent[key];
      if (!isObj(b) || !isObj(b.floor) || knows(`${base}.floor`)) return;
      if (enable && !('enabled' in b)) b.enabled = true;
      const floor = b.floor;
      delete b.floor;
      for (const f of ['pps', 'mbps', 'flows_per_sec']) if (f in floor && !(`floor_${f}` in b)) b[`floor_${f}`] = floor[f];
    });
  }
  if (kapkanShaped(cfg.carpet, ['aggregation_prefix_v4', 'aggregation_prefix_v6', 'max_active_prefix_bans', 'mitigation']) && !knows('carpet.aggregation_prefix_v4')) {
    const c = cfg.carpet as Obj;
    if (!('enabled' in c)) c.enabled = true;
    move('carpet.aggregation_prefix_v4', 'prefix_length_v4', (v) => (typeof v === 'number' ? Math.min(v, 31) : v));
    move('carpet.aggregation_prefix_v6', 'prefix_length_v6', (v) => (typeof v === 'number' ? Math.min(v, 127) : v));
  }
  if (!knows('bgp.listen_port')) move('bgp.listen_port', 'listen', (v) => (typeof v === 'number' && v > 0 ? `:${v}` : ''));
  if (!knows('hostgroups[].bgp')) {
    each(cfg, 'hostgroups[].bgp', (parent, key, at) => {
      const b = parent[key];
      if (isObj(b)) {
        if (Array.isArray(b.communities) && !('communities' in parent)) parent.communities = b.communities;
        for (const k of ['next_hop', 'next_hop6', 'local_pref']) if (k in b) notes.push({ key: `${at}.${k}`, kind: 'unsupported', note: noteOf(`hostgroups[].bgp.${k}`) });
      }
      delete parent[key];
    });
  }
  each(cfg, 'hostgroups[].ban', (parent, key, at) => {
    const v = parent[key];
    if (v === true) delete parent[key];
    else if (v === false) {
      parent[key] = { max_active_bans: 0 };
      void at;
    }
  });

  // Values Breakwater does not have.
  const mitigation = (parent: Obj, key: string, at: string) => {
    const v = parent[key];
    if (v === 'divert' || v === 'dataplane') {
      parent[key] = 'blackhole';
      notes.push({ key: at, kind: 'unsupported', note: `\`${v}\` is not done (no ${v === 'divert' ? 'scrubbing diversion' : 'XDP data plane'}): these bans are blackholes.` });
    }
  };
  each(cfg, 'mitigation', mitigation);
  each(cfg, 'hostgroups[].mitigation', mitigation);
  const ladder = (parent: Obj, key: string, at: string) => {
    const list = parent[key];
    if (!Array.isArray(list)) return;
    parent[key] = list.filter((rung, i) => {
      if (!isObj(rung)) return true;
      if (rung.action === 'none') return false;
      if (rung.action === 'divert' || rung.action === 'dataplane') {
        notes.push({ key: `${at}.${i}.action`, kind: 'unsupported', note: `\`${rung.action}\` is not done (no ${rung.action === 'divert' ? 'scrubbing diversion' : 'XDP data plane'}): the rung is dropped.` });
        return false;
      }
      return true;
    });
  };
  each(cfg, 'escalation', ladder);
  each(cfg, 'hostgroups[].escalation', ladder);
  each(cfg, 'api.tokens[].role', (parent, key, at) => {
    if (parent[key] === 'agent') {
      parent[key] = 'viewer';
      notes.push({ key: at, kind: 'unsupported', note: 'role `agent` (Kapkan edge agents) is not done: the token is a `viewer`.' });
    }
  });
  return { config: cfg, notes };
}

/** The notes of the configs loadConfig returned (kept beside the frozen config). */
const NOTES = new WeakMap<object, readonly CompatNote[]>();

export function setCompatNotes(cfg: object, notes: readonly CompatNote[]): void {
  if (notes.length) NOTES.set(cfg, notes);
}

/** What the config file said that Breakwater replaces or does not do (empty for native configs). */
export function compatNotes(cfg: object): readonly CompatNote[] {
  return NOTES.get(cfg) ?? [];
}

/** One line per note, as the daemon logs them and -check-config prints them. */
export function compatLine(n: CompatNote): string {
  return n.kind === 'replaced' ? `${n.key}: replaced in Breakwater: ${n.note}` : `${n.key}: accepted but not done by Breakwater (no effect): ${n.note}`;
}
