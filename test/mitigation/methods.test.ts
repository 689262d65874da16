/**
 * FlowSpec methods and platforms (config, rules, ext communities, platform
 * neighbors, hostgroup and escalation methods), infer from an attack's
 * sample, and the config's cross-checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { choiceRoute, inferMatch, parseTcpFlags, platformNeighbors, formatTcpFlags } from '../../src/mitigation/methods.ts';
import { flowspecRoutes } from '../../src/mitigation/flowspec.ts';
import { buildRoute, routeBuilder } from '../../src/mitigation/route.ts';
import { flowspecNlriBytes, decodeFlowspecNlri } from '../../src/bgp/flowspec.ts';
import { Reader } from '../../src/core/reader.ts';
import { BanManager } from '../../src/ban/bans.ts';
import { ManualClock } from '../../src/core/clock.ts';
import type { SampleFlow } from '../../src/engine/events.ts';
import { attack, ev, T0 } from '../ban/helpers.ts';

const base = {
  networks: ['198.51.100.0/24', '2001:db8::/32'],
  flowspec_methods: [
    { name: 'ntp', match: { protocol: ['udp'], source_port: [123] }, action: { discard: true }, platforms: ['edge'] },
    { name: 'web-syn', match: { protocol: ['tcp'], destination_port: [80, 443, '8000-8080'], tcp_flags: 'syn&!ack', dscp: [0, 46] }, action: { redirect_rt: '65000:100', mark_dscp: 10 } },
    { name: 'frags', match: { fragment: 'first_fragment', icmp_type: 8, icmp_code: 0 }, action: { rate_limit_mbps: 8 } },
  ],
  platforms: [{ name: 'edge', neighbors: ['192.0.2.10', '2001:DB8::10'] }],
  bgp: { neighbors: [{ address: '192.0.2.10', remote_asn: 65001 }, { address: '2001:db8::10', remote_asn: 65001 }, { address: '192.0.2.11', remote_asn: 65002, profile: 'junos' }] },
};

test('methods: a method becomes one rule on the target with its action and platforms', () => {
  const cfg = validateConfig(base);
  const r = choiceRoute({ method: 'ntp' }, '198.51.100.7', cfg);
  assert.deepEqual(r, { type: 'flowspec', method: 'ntp', platforms: ['edge'], rules: [{ family: 4, destination: '198.51.100.7/32', protocols: [17], source_ports: [123], action: { type: 'discard' } }] });
  const w = choiceRoute({ method: 'web-syn' }, '198.51.100.8', cfg).rules[0];
  assert.deepEqual(w.destination_ports, [80, 443]);
  assert.deepEqual(w.destination_port_ranges, [[8000, 8080]]);
  assert.deepEqual(w.tcp_flags, { set: 0x02, clear: 0x10 });
  assert.deepEqual(w.dscp, [0, 46]);
  assert.deepEqual(w.action, { type: 'redirect', rt: '65000:100' });
  assert.equal(w.mark_dscp, 10);
  const f = choiceRoute({ method: 'frags' }, '2001:db8::5', cfg, 'outgoing').rules[0];
  assert.equal(f.destination, '::/0');
  assert.equal(f.source, '2001:db8::5/128');
  assert.equal(f.fragment_kind, 'first_fragment');
  assert.deepEqual(f.action, { type: 'rate_limit', bytes_per_second: 1_000_000 });
  // Inline match and action, platforms overridden, unknown names refused.
  const inline = choiceRoute({ match: { protocol: [47] }, action: { discard: true }, platforms: ['edge'] }, '198.51.100.9', cfg);
  assert.deepEqual(inline.rules[0].protocols, [47]);
  assert.deepEqual(inline.platforms, ['edge']);
  assert.throws(() => choiceRoute({ method: 'nope' }, '198.51.100.9', cfg), /no flowspec_methods entry named "nope"/);
  assert.throws(() => choiceRoute({ match: {}, platforms: ['core'] }, '198.51.100.9', cfg), /no platform named "core"/);
  assert.throws(() => choiceRoute({ match: { source: '2001:db8::/64' } }, '198.51.100.9', cfg), /is IPv6; the target is IPv4/);
});

test('methods: ranges, DSCP, ICMP code, redirect and marking encode and decode on the wire', () => {
  const cfg = validateConfig(base);
  for (const [m, t] of [['web-syn', '198.51.100.8'], ['frags', '198.51.100.9']] as const) {
    const [route] = flowspecRoutes(choiceRoute({ method: m }, t, cfg), 4);
    const bytes = flowspecNlriBytes(route.family, route.rule);
    const back = decodeFlowspecNlri(new Reader(bytes, 0, bytes.length), route.family);
    assert.ok(back.ok, JSON.stringify(back));
    if (back.ok) assert.deepEqual(back.rule, route.rule);
    if (m === 'web-syn') {
      assert.deepEqual(route.attrs.extCommunities, [{ type: 'redirect', asn: 65000, value: 100, as4: false }, { type: 'traffic-marking', dscp: 10 }]);
      assert.deepEqual(route.rule.destinationPort!.map((o) => [o.and, o.lt, o.gt, o.eq, o.value]), [[false, false, false, true, 80], [false, false, false, true, 443], [false, false, true, true, 8000], [true, true, false, true, 8080]]);
    } else {
      assert.deepEqual(route.attrs.extCommunities, [{ type: 'traffic-rate', asn: 0, rate: 1_000_000 }]);
      assert.deepEqual(route.rule.fragment, [{ and: false, not: false, match: false, value: 0x04 }]);
      assert.deepEqual(route.rule.icmpCode, [{ and: false, lt: false, gt: false, eq: true, value: 0 }]);
    }
  }
});

test('methods: platform neighbors by canonical address; no platforms, no restriction', () => {
  const cfg = validateConfig(base);
  assert.deepEqual([...platformNeighbors(cfg, ['edge'])!].sort(), ['192.0.2.10', '2001:db8::10']);
  assert.equal(platformNeighbors(cfg, undefined), undefined);
  assert.equal(platformNeighbors(cfg, []), undefined);
});

test('methods: a hostgroup method replaces the vector rule; an escalation step may switch the method', () => {
  const cfg = validateConfig({
    ...base,
    mitigation: 'flowspec',
    hostgroups: [{ name: 'ntp-servers', networks: ['198.51.100.0/28'], flowspec_method: 'ntp' }],
    escalation: [{ after_seconds: 30, action: 'flowspec', method: 'web-syn' }],
  });
  const r = buildRoute({ target: '198.51.100.3', family: 4, vector: 'syn_flood' }, cfg);
  assert.equal(r.type === 'flowspec' && r.method, 'ntp');
  const plain = buildRoute({ target: '198.51.100.99', family: 4, vector: 'syn_flood' }, cfg);
  assert.equal(plain.type === 'flowspec' && plain.method, undefined);
  // Escalation: the ban starts on the built-in rule and takes the step's method after 30 s.
  const clock = new ManualClock(T0);
  const bans = new BanManager(cfg, { clock, routes: routeBuilder(cfg) });
  const a = attack('198.51.100.99', { vector: 'syn_flood', start: T0 });
  bans.onAttackEvent(ev('attack_start', T0, a));
  const b0 = bans.active()[0];
  assert.equal(b0.route.type === 'flowspec' && b0.route.method, undefined);
  clock.advance(31_000);
  bans.onAttackEvent(ev('attack_update', clock.now(), a));
  bans.tick(clock.now());
  const b1 = bans.active()[0];
  assert.equal(b1.flowspec?.method, 'web-syn');
  assert.equal(b1.route.type === 'flowspec' && b1.route.method, 'web-syn');
});

test('config: method and platform names are checked', () => {
  const bad = (over: Record<string, unknown>, path: RegExp) => {
    try {
      validateConfig({ ...base, ...over });
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, path);
    }
  };
  bad({ platforms: [{ name: 'edge', neighbors: ['192.0.2.99'] }] }, /platforms\.0\.neighbors\.0.*not one of bgp\.neighbors/s);
  bad({ flowspec_methods: [{ name: 'x', match: {}, action: { discard: true }, platforms: ['core'] }] }, /no platform named "core"/);
  bad({ flowspec_methods: [base.flowspec_methods[0], base.flowspec_methods[0]] }, /duplicate method name "ntp"/);
  bad({ hostgroups: [{ name: 'g', networks: ['198.51.100.0/28'], flowspec_method: 'nope' }] }, /hostgroups\.0\.flowspec_method.*no flowspec_methods entry named "nope"/s);
  bad({ escalation: [{ after_seconds: 1, action: 'blackhole', method: 'nope' }] }, /escalation\.0\.method/);
  bad({ flowspec_methods: [{ name: 'x', match: { tcp_flags: 'syn|ack' }, action: { discard: true } }] }, /tcp_flags/);
  bad({ flowspec_methods: [{ name: 'x', match: {}, action: { discard: true, rate_limit_mbps: 1 } }] }, /exclude each other/);
  bad({ flowspec_methods: [{ name: 'x', match: {}, action: {} }] }, /an action needs/);
  bad({ flowspec_methods: [{ name: 'x', match: { destination_port: ['90-80'] }, action: { discard: true } }] }, /not a port range/);
  bad({ bgp: { neighbors: [{ address: '192.0.2.10', remote_asn: 1, profile: 'cisco' }] } }, /profile/);
});

test('tcp flags text: parse and format round trip', () => {
  assert.deepEqual(parseTcpFlags('SYN&!ack'), { set: 0x02, clear: 0x10 });
  assert.equal(formatTcpFlags({ set: 0x12, clear: 0 }), 'syn&ack');
  assert.equal(parseTcpFlags('syn&bogus'), null);
});

function flow(o: Partial<SampleFlow>): SampleFlow {
  return { src: '192.0.2.1', dst: '198.51.100.7', src_port: 123, dst_port: 40000, ip_proto: 17, tcp_flags: 0, packets: 10, bytes: 4680, sampling_rate: 100, exporter: '127.0.0.1', time: T0, ...o };
}

test('infer from alarm: protocol, dominant source ports and packet length range from the sample', () => {
  const sample: SampleFlow[] = [];
  for (let i = 0; i < 40; i++) sample.push(flow({ src: `192.0.2.${i}`, bytes: 10 * (460 + (i % 20)) }));
  for (let i = 0; i < 10; i++) sample.push(flow({ src: `192.0.2.${100 + i}`, src_port: 53, bytes: 10 * 1200 }));
  sample.push(flow({ ip_proto: 6, src_port: 50000, dst_port: 443, tcp_flags: 0x18, bytes: 10 * 1500 }));
  const a = attack('198.51.100.7', { vector: 'udp_amplification', summary: { ...attack('x').summary, sample } });
  const inf = inferMatch(a);
  assert.deepEqual(inf.match.protocol, [17]);
  assert.deepEqual(inf.match.source_port, [53, 123]);
  assert.ok(inf.match.packet_length!.min! >= 460 && inf.match.packet_length!.max! <= 1200, JSON.stringify(inf.match));
  assert.ok(inf.coverage > 0.9 && inf.coverage < 1, String(inf.coverage));
  assert.equal(inf.sample_flows, 51);
  assert.ok(inf.basis.length >= 3);
  // SYN flood: TCP with syn&!ack.
  const syn = attack('198.51.100.8', { vector: 'syn_flood', summary: { ...attack('x').summary, sample: Array.from({ length: 20 }, (_, i) => flow({ ip_proto: 6, src_port: 1024 + i * 997, dst_port: 80, tcp_flags: 0x02, bytes: 600 })) } });
  const s = inferMatch(syn).match;
  assert.deepEqual(s.protocol, [6]);
  assert.equal(s.source_port, undefined, 'spread source ports are left out');
  assert.equal(s.tcp_flags, 'syn&!ack');
  // No sample: the summary's top protocol.
  const none = inferMatch(attack('198.51.100.9', { summary: { ...attack('x').summary, protocols: [{ key: 'udp', packets: 1, share: 0.9 }] } }));
  assert.deepEqual(none.match, { protocol: [17] });
  assert.equal(none.sample_flows, 0);
});

test('reload: a manual mitigation whose method is removed falls back to the built-in rule; a removed platform reaches no neighbor', () => {
  const cfg = validateConfig({ ...base, mitigation: 'flowspec' });
  const clock = new ManualClock(T0);
  const bans = new BanManager(cfg, { clock, routes: routeBuilder(cfg) });
  const a = bans.manualBan({ ip: '198.51.100.40', actor: 'op', flowspec: { method: 'ntp' } });
  const b = bans.manualBan({ ip: '198.51.100.41', actor: 'op', flowspec: { match: { protocol: ['udp'] }, platforms: ['edge'] } });
  assert.ok(a.ok && b.ok);
  const next = validateConfig({ ...base, mitigation: 'flowspec', flowspec_methods: base.flowspec_methods.slice(1), platforms: [] });
  const res = bans.reconfigure(next, routeBuilder(next), clock.now());
  assert.deepEqual(res.unbanned, []);
  const ra = bans.get('198.51.100.40')!.route;
  assert.equal(ra.type, 'flowspec');
  assert.equal(ra.type === 'flowspec' && ra.method, undefined, 'built-in rule after the method is gone');
  const rb = bans.get('198.51.100.41')!.route;
  assert.deepEqual(rb.type === 'flowspec' && rb.platforms, ['edge']);
  assert.equal(platformNeighbors(next, ['edge'])!.size, 0, 'a platform that no longer exists names no neighbor');
});
