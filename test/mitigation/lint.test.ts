/**
 * FlowSpec lint against capability profiles (table-driven), lint never
 * throwing on random rules (fast-check), the Mitigator keeping a failing
 * rule from one neighbor only, and the collateral preview.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FlowspecRoute, FlowspecRule } from '../../src/bgp/index.ts';
import { op, range, anyOf } from '../../src/bgp/flowspec.ts';
import { lintRoute, hasError } from '../../src/mitigation/lint.ts';
import { PROFILE_TABLE, profileOf } from '../../src/mitigation/profiles.ts';
import { PROFILES } from '../../src/config/schema.ts';
import { validateConfig } from '../../src/config/load.ts';
import { previewCollateral } from '../../src/mitigation/collateral.ts';
import type { Ban, RouteIntent } from '../../src/ban/types.ts';
import type { SampleFlow } from '../../src/engine/events.ts';
import { FakeSpeaker, mitigator } from './fake-speaker.ts';

const fs = (rule: FlowspecRule, ext: FlowspecRoute['attrs']['extCommunities'] = [{ type: 'traffic-rate', asn: 0, rate: 0 }], family: FlowspecRoute['family'] = 'ipv4_flowspec'): FlowspecRoute => ({ family, rule, attrs: { origin: 0, asPath: [], extCommunities: ext } });
const codes = (r: FlowspecRoute, p: string) => lintRoute(r, profileOf(p)).filter((f) => f.severity === 'error').map((f) => f.code);

test('lint: every profile of the config has a row', () => {
  assert.deepEqual(Object.keys(PROFILE_TABLE).sort(), [...PROFILES].sort());
  assert.equal(profileOf(undefined).name, 'generic');
});

test('lint: the known dangerous shapes, per profile', () => {
  const dst = { prefix: '198.51.100.7/32' };
  const cases: Array<[string, FlowspecRoute, Record<string, string[]>]> = [
    ['a plain protocol rule passes everywhere', fs({ destination: dst, protocol: anyOf([17]) }), { junos: [], iosxr: [], eos: [], sros: [], frr: [], bird: [], generic: [] }],
    ['packet length: refused for junos only', fs({ destination: dst, protocol: anyOf([17]), packetLength: range(1000, 1500) }), { junos: ['packet_length'], iosxr: [], bird: [], generic: [] }],
    ['the 2013 rule: packet lengths above 65535 everywhere', fs({ destination: dst, packetLength: [op.eq(99971), op.eq(99985)] }), { junos: ['invalid', 'packet_length', 'packet_length'], bird: ['invalid', 'packet_length'], generic: ['invalid', 'packet_length'] }],
    ['no destination: refused everywhere', fs({ protocol: anyOf([17]) }), { junos: ['no_destination'], bird: ['no_destination'], generic: ['no_destination'] }],
    ['a /0 destination without a source: refused', fs({ destination: { prefix: '0.0.0.0/0' }, protocol: anyOf([6]) }), { generic: ['no_destination'] }],
    ['an outgoing rule (source = target, destination /0) passes', fs({ destination: { prefix: '0.0.0.0/0' }, source: dst, protocol: anyOf([6]) }), { junos: [], generic: [] }],
    ['first-fragment bit: IsF-only platforms refuse', fs({ destination: dst, fragment: [{ and: false, not: false, match: false, value: 0x04 }] }), { iosxr: ['fragment_bits'], eos: ['fragment_bits'], junos: [], bird: [] }],
    ['flow label: not on the RFC 8955 platforms', fs({ destination: { prefix: '2001:db8::1/128' }, flowLabel: anyOf([5]) }, undefined, 'ipv6_flowspec'), { junos: ['component'], iosxr: ['component'], bird: [] }],
    ['two-byte TCP flags', fs({ destination: dst, tcpFlags: [{ and: false, not: false, match: true, value: 0x0102 }] }), { junos: ['tcp_flags_width'], frr: [] }],
    ['traffic-rate-packets: not on junos', fs({ destination: dst, protocol: anyOf([17]) }, [{ type: 'traffic-rate-packets', asn: 0, rate: 10 }]), { junos: ['action'], iosxr: ['action'], bird: [] }],
    ['more values than the platform takes', fs({ destination: dst, sourcePort: anyOf(Array.from({ length: 20 }, (_, i) => 1000 + i)) }), { junos: ['too_many_values'], iosxr: [], bird: [] }],
  ];
  for (const [name, route, want] of cases) {
    for (const [p, c] of Object.entries(want)) assert.deepEqual(codes(route, p), c, `${name}: ${p}`);
  }
  // Ports without a fragment term: a warning, never a refusal.
  const f = lintRoute(fs({ destination: dst, protocol: anyOf([17]), sourcePort: anyOf([123]) }), profileOf('junos'));
  assert.deepEqual(f.map((x) => [x.code, x.severity]), [['port_fragments', 'warning']]);
  assert.equal(hasError(f), false);
});

test('lint: never throws, whatever the rule', () => {
  const numOps = fc.array(fc.record({ and: fc.boolean(), lt: fc.boolean(), gt: fc.boolean(), eq: fc.boolean(), value: fc.integer({ min: -5, max: 200000 }) }), { maxLength: 30 });
  const bitOps = fc.array(fc.record({ and: fc.boolean(), not: fc.boolean(), match: fc.boolean(), value: fc.integer({ min: 0, max: 0x1ffff }) }), { maxLength: 5 });
  const rule = fc.record({
    destination: fc.option(fc.constantFrom({ prefix: '198.51.100.0/24' }, { prefix: '0.0.0.0/0' }, { prefix: 'garbage' }, { prefix: '2001:db8::/32' }), { nil: undefined }),
    protocol: fc.option(numOps, { nil: undefined }),
    sourcePort: fc.option(numOps, { nil: undefined }),
    packetLength: fc.option(numOps, { nil: undefined }),
    tcpFlags: fc.option(bitOps, { nil: undefined }),
    fragment: fc.option(bitOps, { nil: undefined }),
    flowLabel: fc.option(numOps, { nil: undefined }),
  }, { requiredKeys: [] });
  fc.assert(
    fc.property(rule, fc.constantFrom(...PROFILES), fc.constantFrom('ipv4_flowspec', 'ipv6_flowspec') as fc.Arbitrary<FlowspecRoute['family']>, (r, p, fam) => {
      const f = lintRoute(fs(r as FlowspecRule, undefined, fam), profileOf(p));
      assert.ok(Array.isArray(f));
    }),
    { numRuns: 500 },
  );
});

test('mitigator: a rule failing lint is kept from that neighbor only, counted once, reported once', () => {
  const cfg = validateConfig({
    dry_run: false,
    networks: ['198.51.100.0/24'],
    bgp: { neighbors: [{ address: '192.0.2.1', remote_asn: 65001, profile: 'junos' }, { address: '192.0.2.2', remote_asn: 65002, profile: 'bird' }] },
  });
  const speaker = new FakeSpeaker([{ id: '192.0.2.1' }, { id: '192.0.2.2' }]);
  const refused: string[] = [];
  const m = mitigator({ port: speaker, config: cfg, dryRun: false, onLintRefused: (b, l, rule) => refused.push(`${b.id} ${l.neighbor} ${l.profile} ${rule}`) });
  const route: RouteIntent = { type: 'flowspec', rules: [
    { family: 4, destination: '198.51.100.7/32', protocols: [17], packet_length: { min: 1000, max: 1500 }, action: { type: 'discard' } },
    { family: 4, destination: '198.51.100.7/32', protocols: [17], fragment: true, action: { type: 'discard' } },
  ] };
  const ban: Ban = { id: 'b1', target: '198.51.100.7', family: 4, source: 'op', reason: 'x', action: 'flowspec', escalation_step: -1, route, created: 0, expires: 1e15, ttl_seconds: 600 };
  m.upsert(ban);
  assert.equal(speaker.rib('192.0.2.2').size, 2, 'bird gets both rules');
  assert.equal(speaker.rib('192.0.2.1').size, 1, 'junos gets the fragment rule only');
  m.applyAll();
  m.upsert(ban);
  assert.equal(m.stats().lint_refused, 1);
  assert.deepEqual(m.stats().lint_refused_by_code, { packet_length: 1 });
  assert.deepEqual(refused, ['b1 192.0.2.1 junos dst 198.51.100.7/32 protocol 17 packet-length 1000,1500']);
  const lint = m.lintOf(ban);
  assert.deepEqual(lint.map((l) => [l.neighbor, l.profile, l.ok]), [['192.0.2.1', 'junos', false], ['192.0.2.2', 'bird', true]]);
  assert.deepEqual(m.announcedNeighbors('b1'), ['192.0.2.1', '192.0.2.2']);
});

function flow(o: Partial<SampleFlow>): SampleFlow {
  return { src: '192.0.2.1', dst: '203.0.113.20', src_port: 123, dst_port: 40000, ip_proto: 17, tcp_flags: 0, packets: 1, bytes: 468, sampling_rate: 1, exporter: 'e', time: 1000, ...o };
}

test('collateral: shares from the sample, the legit part named, rate from the counters', () => {
  const flows: SampleFlow[] = [];
  for (let i = 0; i < 97; i++) flows.push(flow({ src: `192.0.2.${i}`, packets: 100 }));
  for (let i = 0; i < 3; i++) flows.push(flow({ src: `198.18.0.${i}`, ip_proto: 6, src_port: 50000 + i, dst_port: 443, tcp_flags: 0x18, packets: 40 }));
  flows.push(flow({ time: -1_000_000, packets: 1e6 })); // outside the window
  flows.push(flow({ dst: '203.0.113.21', packets: 1e6 })); // another host
  const route: RouteIntent = { type: 'flowspec', rules: [{ family: 4, destination: '203.0.113.20/32', protocols: [17], source_ports: [123], action: { type: 'discard' } }] };
  const c = previewCollateral({ target: '203.0.113.20', route, flows, counters: { pps: 20000 }, window_seconds: 300, now: 2000 });
  assert.equal(c.basis, 'sample');
  assert.equal(c.sample_flows, 100);
  assert.equal(c.total_pps, 20000);
  assert.equal(c.dropped_share, 0.9878); // 9700 of 9820
  assert.equal(c.attack_like_share, 1);
  assert.match(c.summary, /^drops 99 % of current traffic to 203\.0\.113\.20; none of the dropped packets look legitimate$/);
  // A blackhole drops everything, including the HTTPS clients.
  const bh = previewCollateral({ target: '203.0.113.20', route: { type: 'blackhole', prefix: '203.0.113.20/32', next_hop: '192.0.2.1', communities: [], large_communities: [] }, flows, counters: { pps: 20000 }, window_seconds: 300, now: 2000 });
  assert.equal(bh.dropped_share, 1);
  assert.equal(bh.legit_like_share, 0.0122);
  assert.deepEqual(bh.legit_top, { what: 'TCP 443', sources: 3, share: 0.0122 });
  assert.equal(bh.summary, 'drops 100 % of current traffic to 203.0.113.20; 1.2 % of the dropped packets look legitimate (TCP 443 from 3 sources in the sample)');
  // No sample: per-protocol counters for a protocol-only rule; unknown otherwise.
  const proto = previewCollateral({ target: '203.0.113.20', route: { type: 'flowspec', rules: [{ family: 4, destination: '203.0.113.20/32', protocols: [17], action: { type: 'discard' } }] }, flows: [], counters: { pps: 1000, udp_pps: 800, tcp_pps: 200 }, window_seconds: 300, now: 2000 });
  assert.deepEqual([proto.basis, proto.dropped_share, proto.dropped_pps], ['counters', 0.8, 800]);
  const unknown = previewCollateral({ target: '203.0.113.20', route, flows: [], counters: { pps: 1000 }, window_seconds: 300, now: 2000 });
  assert.deepEqual([unknown.basis, unknown.dropped_share], ['none', null]);
});
