/**
 * The reload plan printed for old/new config pairs: which module's slice each
 * change lands in, what is only applied by a restart, and what is dangerous.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.ts';
import { BAN_KEYS, COLLECTOR_KEYS, ENGINE_KEYS, ROUTE_KEYS, formatPlan, planReload, withLiftedBans } from '../../src/config/diff.ts';

const NB1 = { address: '127.0.0.2', remote_asn: 65001 };
const NB2 = { address: '127.0.0.3', remote_asn: 65002, port: 1179 };

function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    dry_run: true,
    listen: { netflow: '127.0.0.1:2055', sflow: '127.0.0.1:6343' },
    networks: ['198.51.100.0/24'],
    protected_whitelist: ['198.51.100.1/32'],
    thresholds: { pps: 1000 },
    bgp: { local_asn: 65000, neighbors: [NB1, NB2] },
    api: { listen: '127.0.0.1:8080', tokens: [{ name: 'ops', token_env: 'BW_OPS', role: 'admin' }] },
    ...extra,
  };
}

const cases: Array<{ name: string; old?: Record<string, unknown>; next: Record<string, unknown>; plan: string[] }> = [
  { name: 'nothing changed', next: base(), plan: [] },
  { name: 'thresholds change', next: base({ thresholds: { pps: 2000, udp_pps: 500 } }), plan: ['engine: thresholds.pps, thresholds.udp_pps'] },
  {
    name: 'neighbor added',
    next: base({ bgp: { local_asn: 65000, neighbors: [NB1, NB2, { address: '2001:db8::9', remote_asn: 65003 }] } }),
    plan: ['neighbors: +2001:db8::9'],
  },
  { name: 'neighbor removed', next: base({ bgp: { local_asn: 65000, neighbors: [NB1] } }), plan: ['neighbors: -127.0.0.3:1179'] },
  {
    name: 'neighbor changed',
    next: base({ bgp: { local_asn: 65000, neighbors: [{ ...NB1, hold_time: 30 }, NB2] } }),
    plan: ['neighbors: ~127.0.0.2(hold_time)'],
  },
  {
    name: 'whitelist change (the ban module decides what it lifts)',
    next: base({ protected_whitelist: ['198.51.100.1/32', '198.51.100.7/32'] }),
    plan: ['bans: protected_whitelist'],
  },
  { name: 'dry_run flip', next: base({ dry_run: false }), plan: ['dry_run: true -> false'] },
  {
    name: 'listener change on loopback',
    next: base({ listen: { netflow: '127.0.0.1:2055', sflow: '127.0.0.1:16343', workers: 2 } }),
    plan: ['listeners: listen.sflow, listen.workers'],
  },
  {
    name: 'listener widened to any address',
    next: base({ listen: { netflow: '127.0.0.1:2055', sflow: ':6343' } }),
    plan: ['listeners: listen.sflow', 'DANGER listener_widened: listen.sflow widened from "127.0.0.1:6343" to ":6343"'],
  },
  {
    name: 'a new non-loopback address',
    old: base({ listen: { netflow: '192.0.2.10:2055', sflow: '' } }),
    next: base({ listen: { netflow: '192.0.2.11:2055', sflow: '' } }),
    plan: ['listeners: listen.netflow', 'DANGER listener_widened: listen.netflow widened from "192.0.2.10:2055" to "192.0.2.11:2055"'],
  },
  {
    name: 'restart-only key',
    next: base({ bgp: { local_asn: 65010, neighbors: [NB1, NB2] }, storage: { data_dir: './other' } }),
    plan: ['restart only: storage.data_dir, bgp.local_asn'],
  },
  {
    name: 'tokens removed: authentication off',
    next: base({ api: { listen: '127.0.0.1:8080' } }),
    plan: ['api: api.tokens', 'DANGER auth_off: API authentication turned off: api.token_env and api.tokens are gone'],
  },
  {
    name: 'route policy and speaker',
    next: base({ bgp: { local_asn: 65000, next_hop: '192.0.2.9', neighbors: [NB1, NB2] }, mitigation: 'flowspec' }),
    plan: ['bans: mitigation', 'mitigation: mitigation, bgp.next_hop', 'neighbors: bgp.next_hop'],
  },
  { name: 'keys no module acts on', next: base({ log: { level: 'debug' } }), plan: ['other: log.level'] },
];

for (const c of cases) {
  test(`reload plan: ${c.name}`, () => {
    const plan = planReload(validateConfig(c.old ?? base()), validateConfig(c.next));
    assert.deepEqual(formatPlan(plan), c.plan);
  });
}

test('reload plan: restart-only keys keep their running values in the plan config; the rest is the new file', () => {
  const old = validateConfig(base());
  const plan = planReload(old, validateConfig(base({ thresholds: { pps: 5 }, api: { listen: '0.0.0.0:9090', tokens: [{ name: 'ops', token_env: 'BW_OPS', role: 'admin' }] } })));
  assert.equal(plan.config.api.listen, '127.0.0.1:8080');
  assert.equal(plan.config.thresholds.pps, 5);
  assert.ok(Object.isFrozen(plan.config.api));
  // A restart-only widening is still named: it takes effect at the next start.
  assert.deepEqual(plan.dangers.map((d) => d.kind), ['listener_widened']);
});

test('reload plan: bans the ban module would lift are dangers too', () => {
  const plan = withLiftedBans(planReload(validateConfig(base()), validateConfig(base({ networks: ['203.0.113.0/24'] }))), [{ target: '198.51.100.7', reason: 'outside_networks' }]);
  assert.deepEqual(formatPlan(plan), ['engine: networks', 'bans: networks', 'DANGER bans_lifted: 1 active ban(s) would be lifted: 198.51.100.7 (outside_networks)']);
  assert.equal(plan.bans.targetsNarrowed, true);
});

test('reload plan: the neighbors slice carries the NeighborConfig before and after', () => {
  const plan = planReload(validateConfig(base()), validateConfig(base({ bgp: { local_asn: 65000, neighbors: [{ ...NB1, hold_time: 30 }] } })));
  assert.equal(plan.neighbors.changed[0].before.hold_time, 90);
  assert.equal(plan.neighbors.changed[0].after.hold_time, 30);
  assert.deepEqual(plan.neighbors.removed.map((n) => n.port), [1179]);
  assert.deepEqual([plan.engine.keys, plan.listeners.keys, plan.api.keys], [[], [], []]);
});

test('reload plan: storage.clickhouse is restart-only; the history slice says a restart is required', () => {
  const old = validateConfig(base());
  const plan = planReload(old, validateConfig(base({ storage: { clickhouse: { url: 'http://127.0.0.1:8123' } } })));
  assert.deepEqual(formatPlan(plan), ['restart only: storage.clickhouse']);
  assert.deepEqual(plan.history, { keys: ['storage.clickhouse'], restartRequired: true });
  assert.equal(plan.config.storage.clickhouse, undefined, 'the running value stays until a restart');
  const none = planReload(old, validateConfig(base({ thresholds: { pps: 3 } })));
  assert.deepEqual(none.history, { keys: [], restartRequired: false });
});

test('reload plan slice: the ban module gets its rules, networks and whitelist, no route keys, nothing else', () => {
  const plan = planReload(validateConfig(base()), validateConfig(base({ protected_whitelist: ['10.0.0.9'] })));
  assert.deepEqual(plan.bans.keys, ['protected_whitelist']);
  assert.deepEqual(Object.keys(plan.bans.config).sort(), [...BAN_KEYS].sort());
  for (const k of ROUTE_KEYS) assert.equal(k in plan.bans.config, (BAN_KEYS as readonly string[]).includes(k), k);
  for (const k of ['bgp', 'flowspec_methods', 'platforms']) assert.equal(k in plan.bans.config, false, `${k}: route building is handed in, not read`);
  assert.deepEqual(plan.bans.config.protected_whitelist, ['10.0.0.9']);
  assert.equal('listen' in plan.bans.config || 'api' in plan.bans.config || 'thresholds' in plan.bans.config, false);
  assert.ok(Object.isFrozen(plan.bans.config));
});

test('reload plan slice: the engine gets its keys and only the config parts it reads', () => {
  const plan = planReload(validateConfig(base()), validateConfig(base({ thresholds: { pps: 2000 }, detection: { tick_ms: 500 } })));
  assert.deepEqual(plan.engine.keys, ['detection.tick_ms', 'thresholds.pps']);
  assert.deepEqual(Object.keys(plan.engine.config).sort(), [...ENGINE_KEYS].sort());
  assert.equal(plan.engine.config.thresholds.pps, 2000);
  assert.equal(plan.engine.config.detection.tick_ms, 500);
  assert.ok(Object.isFrozen(plan.engine.config));
  assert.equal((plan.engine.config as Record<string, unknown>).api, undefined, 'nothing beyond its slice');
});

test('reload plan slice: the ban module gets ban rules, networks and whitelist changes, with targetsNarrowed', () => {
  const plan = planReload(validateConfig(base()), validateConfig(base({ protected_whitelist: ['198.51.100.1/32', '198.51.100.9/32'], ban: { ttl_seconds: 900 } })));
  assert.deepEqual(plan.bans.keys, ['protected_whitelist', 'ban.ttl_seconds']);
  assert.equal(plan.bans.targetsNarrowed, true);
  assert.equal(plan.bans.config.ban.ttl_seconds, 900);
  assert.deepEqual(plan.engine.keys, [], 'the whitelist is not the engine\'s');
});

test('reload plan slice: route policy gets the route keys only', () => {
  const plan = planReload(validateConfig(base()), validateConfig(base({ bgp: { local_asn: 65000, local_pref: 200, neighbors: [NB1, NB2] } })));
  assert.deepEqual(plan.mitigation.keys, ['bgp.local_pref']);
  assert.deepEqual(Object.keys(plan.mitigation.config).sort(), [...ROUTE_KEYS].sort());
  assert.equal(plan.mitigation.config.bgp.local_pref, 200);
});

test('reload plan slice: the speaker gets bgp and the neighbor diff', () => {
  const plan = planReload(validateConfig(base()), validateConfig(base({ bgp: { local_asn: 65000, neighbors: [NB1, { address: '127.0.0.4', remote_asn: 65004 }] } })));
  assert.equal(plan.neighbors.config, plan.config.bgp);
  assert.deepEqual(plan.neighbors.added.map((n) => n.address), ['127.0.0.4']);
  assert.deepEqual(plan.neighbors.removed.map((n) => n.address), ['127.0.0.3']);
});

test('reload plan slice: the collector gets listen, sampling and flow_sources', () => {
  const plan = planReload(validateConfig(base()), validateConfig(base({ flow_sources: ['127.0.0.0/8'], sampling: { default_rate: 100 } })));
  assert.deepEqual(plan.listeners.keys, ['sampling.default_rate', 'flow_sources']);
  assert.deepEqual(Object.keys(plan.listeners.config).sort(), [...COLLECTOR_KEYS].sort());
  assert.deepEqual(plan.listeners.config.flow_sources, ['127.0.0.0/8']);
  assert.deepEqual(plan.listeners.addresses, []);
});

test('reload plan slice: the API gets its section; notify gets its keys (printed among other)', () => {
  const plan = planReload(validateConfig(base()), validateConfig(base({
    api: { listen: '127.0.0.1:8080', metrics_token_required: true, tokens: [{ name: 'ops', token_env: 'BW_OPS', role: 'admin' }] },
    notify: { slack: { webhook_url: 'https://hooks.slack.example/services/T/B/X' } },
  })));
  assert.deepEqual(plan.api.keys, ['api.metrics_token_required']);
  assert.equal(plan.api.config, plan.config.api);
  assert.equal(plan.api.authAfter, true);
  assert.deepEqual(plan.notify.keys, ['notify.slack']);
  assert.equal(plan.notify.config, plan.config.notify);
  assert.deepEqual(formatPlan(plan), ['api: api.metrics_token_required', 'other: notify.slack']);
});
