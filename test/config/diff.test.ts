/** diffConfig: what a reload changes, key by key, and which neighbors are touched. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.ts';
import { diffConfig, diffNeighbors } from '../../src/config/diff.ts';

const NB1 = { address: '127.0.0.2', remote_asn: 65001 };
const NB2 = { address: '127.0.0.3', remote_asn: 65002, port: 1179 };

function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    dry_run: true,
    networks: ['198.51.100.0/24'],
    protected_whitelist: ['198.51.100.1/32'],
    thresholds: { pps: 1000 },
    hostgroups: [{ name: 'web', networks: ['198.51.100.0/25'], thresholds: { pps: 5000 } }],
    bgp: { local_asn: 65000, neighbors: [NB1, NB2] },
    ...extra,
  };
}

const diff = (a: Record<string, unknown>, b: Record<string, unknown>) => diffConfig(validateConfig(a), validateConfig(b));

test('diffConfig: identical configs change nothing', () => {
  const d = diff(base(), base());
  assert.deepEqual(d.changed, []);
  assert.deepEqual(d.needsRestart, []);
  assert.equal(d.dryRunChanged, false);
  assert.deepEqual(d.neighbors, { added: [], removed: [], changed: [] });
});

test('diffConfig: dry_run alone', () => {
  const d = diff(base(), base({ dry_run: false }));
  assert.deepEqual(d.changed, ['dry_run']);
  assert.equal(d.dryRunChanged, true);
  assert.deepEqual(d.needsRestart, []);
  // Absent means true: no change.
  const { dry_run: _, ...noKey } = base();
  assert.equal(diff(noKey, base()).dryRunChanged, false);
});

test('diffConfig: thresholds key by key, a default made explicit is no change', () => {
  const d = diff(base(), base({ thresholds: { pps: 2000, udp_pps: 500 } }));
  assert.deepEqual(d.changed.sort(), ['thresholds.pps', 'thresholds.udp_pps']);
  assert.equal(d.dryRunChanged, false);
  assert.deepEqual(diff(base(), base({ detection: { window_seconds: 1 } })).changed, [], 'window_seconds 1 is the default');
  assert.deepEqual(diff(base(), base({ thresholds_outgoing: { pps: 10 } })).changed, ['thresholds_outgoing.pps']);
});

test('diffConfig: hostgroups and the whitelist', () => {
  const hg = diff(base(), base({ hostgroups: [{ name: 'web', networks: ['198.51.100.0/25'], thresholds: { pps: 9000 } }] }));
  assert.deepEqual(hg.changed, ['hostgroups']);
  const added = diff(base(), base({ hostgroups: [{ name: 'web', networks: ['198.51.100.0/25'], thresholds: { pps: 5000 } }, { name: 'dns', networks: ['198.51.100.128/26'] }] }));
  assert.deepEqual(added.changed, ['hostgroups']);
  const wl = diff(base(), base({ protected_whitelist: ['198.51.100.1/32', '198.51.100.7/32'] }));
  assert.deepEqual(wl.changed, ['protected_whitelist']);
  assert.deepEqual(wl.needsRestart, []);
});

test('diffConfig: neighbors added, removed and changed, by address and port', () => {
  const NB3 = { address: '2001:db8::9', remote_asn: 65003 };
  const d = diff(base(), base({ bgp: { local_asn: 65000, neighbors: [{ ...NB1, hold_time: 30, description: 'edge' }, NB3] } }));
  assert.deepEqual(d.neighbors.added.map((n) => n.address), ['2001:db8::9']);
  assert.deepEqual(d.neighbors.removed.map((n) => `${n.address}:${n.port}`), ['127.0.0.3:1179']);
  assert.equal(d.neighbors.changed.length, 1);
  assert.equal(d.neighbors.changed[0].before.hold_time, 90);
  assert.equal(d.neighbors.changed[0].after.hold_time, 30);
  assert.deepEqual(d.neighbors.changed[0].keys.sort(), ['description', 'hold_time']);
  assert.deepEqual(d.changed.sort(), ['bgp.neighbors[127.0.0.2] hold_time,description', 'bgp.neighbors[127.0.0.3:1179] removed', 'bgp.neighbors[2001:db8::9] added'].sort());
  assert.deepEqual(d.needsRestart, [], 'neighbors change at run time');
  // Same address, other port: a different session (one removed, one added).
  const port = diffNeighbors(validateConfig(base()).bgp.neighbors, validateConfig(base({ bgp: { neighbors: [NB1, { ...NB2, port: 2179 }] } })).bgp.neighbors);
  assert.deepEqual([port.added.length, port.removed.length, port.changed.length], [1, 1, 0]);
  // Order of neighbors does not matter.
  assert.deepEqual(diff(base(), base({ bgp: { local_asn: 65000, neighbors: [NB2, NB1] } })).changed, []);
});

test('diffConfig: keys that need a restart are reported as such, run-time keys are not', () => {
  const d = diff(
    base({ api: { listen: '127.0.0.1:8080' }, storage: { data_dir: './a' }, listen: { workers: 1 } }),
    base({
      api: { listen: '127.0.0.1:9090' },
      storage: { data_dir: './b', sqlite: { path: '/tmp/x.db' } },
      listen: { workers: 2 },
      bgp: { local_asn: 65010, router_id: '192.0.2.9', listen: ':1179', graceful_restart: { restart_seconds: 30 }, neighbors: [NB1, NB2] },
      ban: { ttl_seconds: 99 },
    }),
  );
  assert.deepEqual(
    [...d.needsRestart].sort(),
    ['api.listen', 'bgp.graceful_restart.restart_seconds', 'bgp.listen', 'bgp.local_asn', 'bgp.router_id', 'storage.data_dir', 'storage.sqlite'].sort(),
  );
  assert.ok(d.changed.includes('ban.ttl_seconds'));
  assert.ok(!d.needsRestart.includes('ban.ttl_seconds'));
  assert.ok(d.changed.includes('listen.workers') && !d.needsRestart.includes('listen.workers'), 'workers rebind the listeners at run time');
  // Listener addresses and tokens change at run time.
  const run = diff(base(), base({ listen: { sflow: ':16343' }, api: { tokens: [{ name: 'ops', token_env: 'BW_TOKEN', role: 'operator' }] } }));
  assert.deepEqual(run.changed.sort(), ['api.tokens', 'listen.sflow']);
  assert.deepEqual(run.needsRestart, []);
});
