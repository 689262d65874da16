import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRoute, routeTargets, AMPLIFICATION_PORTS } from '../../src/mitigation/route.ts';
import { resolvePolicy } from '../../src/ban/policy.ts';
import type { FlowspecRuleIntent, RouteIntent } from '../../src/ban/types.ts';
import { attack, cfg } from '../ban/helpers.ts';

const rules = (r: RouteIntent): FlowspecRuleIntent[] => {
  assert.equal(r.type, 'flowspec');
  return r.type === 'flowspec' ? r.rules : [];
};

test('blackhole v4 and v6: host prefix, next hops, BLACKHOLE community, local_pref', () => {
  const c = cfg();
  const r4 = buildRoute(attack('198.51.100.7'), c);
  assert.deepEqual(r4, { type: 'blackhole', prefix: '198.51.100.7/32', next_hop: '192.0.2.1', communities: ['65535:666'], large_communities: [], local_pref: 100 });
  const r6 = buildRoute(attack('2001:db8::7'), c);
  assert.equal(r6.type === 'blackhole' && r6.prefix, '2001:db8::7/128');
  assert.equal(r6.type === 'blackhole' && r6.next_hop, '100::1');
  const carpet = buildRoute(attack('203.0.113.0/24', { vector: 'carpet_bomb' }), c);
  assert.equal(carpet.type === 'blackhole' && carpet.prefix, '203.0.113.0/24');
});

test('blackhole communities: bgp.community + bgp.communities + hostgroup ones, large communities merged', () => {
  const c = cfg({
    bgp: { next_hop: '192.0.2.66', next_hop6: '100::66', community: '65000:666', communities: ['65000:1', 'no_export'], large_communities: ['65000:0:1'], local_pref: 200 },
    hostgroups: [{ name: 'dc', networks: ['198.51.100.0/25'], communities: ['65000:7', '65000:1'], large_communities: ['65000:9:9'] }],
  });
  const r = buildRoute(attack('198.51.100.7'), c);
  assert.deepEqual(r, { type: 'blackhole', prefix: '198.51.100.7/32', next_hop: '192.0.2.66', communities: ['65000:666', '65000:1', 'no_export', '65000:7'], large_communities: ['65000:0:1', '65000:9:9'], local_pref: 200 });
  const outside = buildRoute(attack('198.51.100.200'), c);
  assert.deepEqual(outside.type === 'blackhole' && outside.communities, ['65000:666', '65000:1', 'no_export']);
  // explicit hostgroup argument, by name
  const named = buildRoute(attack('198.51.100.200'), c, 'dc');
  assert.deepEqual(named.type === 'blackhole' && named.communities, ['65000:666', '65000:1', 'no_export', '65000:7']);
});

test('flowspec rules for every amplification vector: UDP source port, then UDP fragments', () => {
  const c = cfg({ mitigation: 'flowspec' });
  const expect: Record<string, number> = { ntp_amplification: 123, dns_amplification: 53, cldap_amplification: 389, memcached_amplification: 11211, ssdp_amplification: 1900, chargen_amplification: 19, snmp_amplification: 161, wsd_amplification: 3702 };
  assert.deepEqual(AMPLIFICATION_PORTS, expect);
  for (const [vector, port] of Object.entries(expect)) {
    const rs = rules(buildRoute(attack('198.51.100.7', { vector: vector as never }), c));
    assert.deepEqual(rs, [
      { family: 4, destination: '198.51.100.7/32', protocols: [17], source_ports: [port], action: { type: 'discard' } },
      { family: 4, destination: '198.51.100.7/32', protocols: [17], fragment: true, action: { type: 'discard' } },
    ], vector);
  }
});

test('flowspec rules for floods: SYN without ACK, fragments, ICMP/ICMPv6, TCP, UDP', () => {
  const c = cfg({ mitigation: 'flowspec' });
  const one = (target: string, vector: string) => {
    const rs = rules(buildRoute(attack(target, { vector: vector as never }), c));
    assert.equal(rs.length, 1, vector);
    const { family, destination, action, ...m } = rs[0];
    assert.equal(destination, target.includes(':') ? `${target}/128` : `${target}/32`);
    assert.equal(family, target.includes(':') ? 6 : 4);
    assert.deepEqual(action, { type: 'discard' });
    return m;
  };
  assert.deepEqual(one('198.51.100.7', 'syn_flood'), { protocols: [6], tcp_flags: { set: 0x02, clear: 0x10 } });
  assert.deepEqual(one('198.51.100.7', 'ack_flood'), { protocols: [6], tcp_flags: { set: 0x10, clear: 0x02 } });
  assert.deepEqual(one('198.51.100.7', 'rst_flood'), { protocols: [6], tcp_flags: { set: 0x04, clear: 0 } });
  assert.deepEqual(one('198.51.100.7', 'fragment_flood'), { fragment: true });
  assert.deepEqual(one('198.51.100.7', 'icmp_flood'), { protocols: [1] });
  assert.deepEqual(one('2001:db8::9', 'icmp_flood'), { protocols: [58] });
  assert.deepEqual(one('198.51.100.7', 'tcp_flood'), { protocols: [6] });
  assert.deepEqual(one('2001:db8::9', 'udp_flood'), { protocols: [17] });
});

test('flowspec from the attack summary: udp_amplification ports, mixed protocols, nothing known', () => {
  const c = cfg({ mitigation: 'flowspec' });
  const summary = {
    top_sources: [], top_destination_ports: [], tcp_flags: [], avg_packet_size: 1200, sample: [],
    top_source_ports: [{ key: '3283', packets: 900, share: 0.6 }, { key: 'udp/10001', packets: 300, share: 0.3 }, { key: '40000', packets: 10, share: 0.01 }],
    protocols: [{ key: 'udp', packets: 700, share: 0.7 }, { key: '6', packets: 250, share: 0.25 }, { key: 'gre', packets: 5, share: 0.05 }],
  };
  const amp = rules(buildRoute(attack('198.51.100.7', { vector: 'udp_amplification', summary }), c));
  assert.deepEqual(amp[0].source_ports, [3283, 10001]);
  assert.deepEqual(amp[1].fragment, true);
  const mixed = rules(buildRoute(attack('198.51.100.7', { vector: 'mixed', summary }), c));
  assert.deepEqual(mixed.map((r) => r.protocols), [[6, 17]]);
  const bare = rules(buildRoute(attack('198.51.100.0/24', { vector: 'carpet_bomb' }), c));
  assert.deepEqual(bare, [{ family: 4, destination: '198.51.100.0/24', action: { type: 'discard' } }]);
});

test('flowspec rate limit: rate_mbps → bytes/s; hostgroup flowspec override; max_rules_per_ban', () => {
  const c = cfg({
    mitigation: 'flowspec',
    flowspec: { action: 'rate_limit', rate_mbps: 80, max_rules_per_ban: 1 },
    hostgroups: [{ name: 'g', networks: ['203.0.113.0/24'], flowspec: { rate_mbps: 8, max_rules_per_ban: 5 } }],
  });
  const a = rules(buildRoute(attack('198.51.100.7', { vector: 'dns_amplification' }), c));
  assert.deepEqual(a, [{ family: 4, destination: '198.51.100.7/32', protocols: [17], source_ports: [53], action: { type: 'rate_limit', bytes_per_second: 10_000_000 } }]);
  const g = rules(buildRoute(attack('203.0.113.7', { vector: 'dns_amplification' }), c));
  assert.equal(g.length, 2);
  assert.deepEqual(g[0].action, { type: 'rate_limit', bytes_per_second: 1_000_000 });
  // an explicit level wins over mitigation
  const bh = buildRoute({ ...attack('198.51.100.7'), level: 'blackhole' }, c);
  assert.equal(bh.type, 'blackhole');
  const disc = rules(buildRoute({ ...attack('198.51.100.7', { vector: 'syn_flood' }), level: 'flowspec_discard' }, c));
  assert.deepEqual(disc[0].action, { type: 'discard' });
});

test('outgoing attacks: the target is the FlowSpec source, destination matches anything', () => {
  const c = cfg({ mitigation: 'flowspec' });
  const rs = rules(buildRoute(attack('198.51.100.7', { vector: 'ntp_amplification', direction: 'outgoing' }), c));
  assert.equal(rs[0].source, '198.51.100.7/32');
  assert.equal(rs[0].destination, '0.0.0.0/0');
  assert.deepEqual(rs[0].source_ports, [123]);
  assert.deepEqual(routeTargets({ type: 'flowspec', rules: rs }), ['198.51.100.7/32', '198.51.100.7/32']);
  const r6 = rules(buildRoute(attack('2001:db8::1', { direction: 'outgoing' }), c));
  assert.equal(r6[0].destination, '::/0');
});

test('policy: most specific hostgroup covering the whole target; escalation replaced, ban merged', () => {
  const c = cfg({
    escalation: [{ after_seconds: 60, action: 'blackhole' }],
    hostgroups: [
      { name: 'wide', networks: ['198.51.100.0/24'], ban: { ttl_seconds: 120 }, mitigation: 'flowspec' },
      { name: 'narrow', networks: ['198.51.100.0/28'], escalation: [], ban: { unban_hysteresis_seconds: 5 } },
    ],
  });
  assert.equal(resolvePolicy(c, '198.51.100.3').hostgroup?.name, 'narrow');
  assert.equal(resolvePolicy(c, '198.51.100.0/26').hostgroup?.name, 'wide', 'narrow does not cover a /26');
  assert.equal(resolvePolicy(c, '203.0.113.1').hostgroup, undefined);
  const w = resolvePolicy(c, '198.51.100.100');
  assert.deepEqual([w.ban.ttl_seconds, w.ban.unban_hysteresis_seconds, w.mitigation, w.escalation.length], [120, 60, 'flowspec', 1]);
  const n = resolvePolicy(c, '198.51.100.3');
  assert.deepEqual([n.ban.ttl_seconds, n.ban.unban_hysteresis_seconds, n.mitigation, n.escalation.length], [600, 5, 'blackhole', 0]);
  assert.equal(n.groupCaps, undefined);
});
