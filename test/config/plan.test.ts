/**
 * The reload plan printed for old/new config pairs: which module's slice each
 * change lands in, what is only applied by a restart, and what is dangerous.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.ts';
import { formatPlan, planReload, withLiftedBans } from '../../src/config/diff.ts';

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
