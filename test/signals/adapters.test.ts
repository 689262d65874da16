/**
 * The adapters alone: each sender's payload into a Signal (targets made
 * canonical, vectors and rates mapped, label order for Alertmanager), bad
 * payloads as issues with their key, and no input ever throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ADAPTERS, parseAlertmanager, parseEvent, parseFastNetMon, parseRtbh, vectorOf } from '../../src/signals/adapters.ts';
import { fastnetmonBan } from './payloads.ts';

test('generic event: defaults, canonical target, vector names', () => {
  const r = parseEvent({ victim_ip: ' 2001:DB8::0:7 ' });
  assert.ok(r.ok);
  assert.deepEqual(r.signals[0], { name: 'events', target: '2001:db8::7', action: 'start', ban: true, lift: false, oneShot: false, vector: 'mixed', direction: 'incoming', pps: 0, bps: 0, confidence: undefined, ttlSeconds: undefined });
  assert.equal(vectorOf('SYN'), 'syn_flood');
  assert.equal(vectorOf('ntp'), 'ntp_amplification');
  assert.equal(vectorOf('udp-flood'), 'udp_flood');
  assert.equal(vectorOf('ip_fragmentation_flood'), 'fragment_flood');
  assert.equal(vectorOf('teapot'), undefined);
  const bad = parseEvent({ victim_ip: '198.51.100.7', pps: 'fast', extra: 1 });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.issues.map((i) => i.path), ['pps']);
});

test('FastNetMon: direction picks the rates; traffic bytes become bits; type before protocol', () => {
  const d = fastnetmonBan('198.51.100.7') as any;
  const r = parseFastNetMon(d);
  assert.ok(r.ok);
  assert.deepEqual([r.signals[0].vector, r.signals[0].pps, r.signals[0].bps, r.signals[0].ban, r.signals[0].lift], ['udp_flood', 282472, 15253500 * 8, true, true]);
  const out = parseFastNetMon({ ...d, attack_details: { ...d.attack_details, attack_direction: 'outgoing', attack_type: 'syn_flood', total_outgoing_pps: 7, total_outgoing_traffic_bits: 9 } });
  assert.ok(out.ok);
  assert.deepEqual([out.signals[0].direction, out.signals[0].vector, out.signals[0].pps, out.signals[0].bps], ['outgoing', 'syn_flood', 7, 9]);
  const un = parseFastNetMon({ ip: '198.51.100.7', action: 'unban' });
  assert.ok(un.ok && un.signals[0].action === 'end');
  const bad = parseFastNetMon({ ip: '198.51.100.7', action: 'block' });
  assert.ok(!bad.ok && bad.issues[0].path === 'action');
});

test('Alertmanager: labels, then common labels, then annotations; instance ports stripped; skipped alerts say why', () => {
  const r = parseAlertmanager({
    version: '4',
    commonLabels: { vector: 'dns' },
    alerts: [
      { status: 'firing', labels: { instance: '[2001:db8::9]:9100' }, annotations: { pps: '10', bps: 'x', ttl_seconds: '30' } },
      { status: 'resolved', labels: { victim_ip: '198.51.100.9', instance: '198.51.100.10:9100', vector: 'syn' } },
      { status: 'firing', labels: { instance: 'db-1:9100' } },
      { status: 'firing', labels: {} },
    ],
  });
  assert.ok(r.ok);
  assert.deepEqual(r.signals.map((s) => [s.target, s.action, s.vector, s.pps, s.bps, s.ttlSeconds]), [
    ['2001:db8::9', 'start', 'dns_amplification', 10, 0, 30],
    ['198.51.100.9', 'end', 'syn_flood', 0, 0, undefined],
  ]);
  assert.deepEqual(r.skipped.map((s) => s.index), [2, 3]);
  assert.match(r.skipped[0].reason, /db-1:9100/);
  const bad = parseAlertmanager({ alerts: 'x' });
  assert.ok(!bad.ok && bad.issues[0].path === 'alerts');
});

test('RTBH: announce by default, withdraw_after as the TTL, prefixes kept', () => {
  const r = parseRtbh({ target_ip: '198.51.100.0/28', withdraw_after: 60 });
  assert.ok(r.ok);
  assert.deepEqual([r.signals[0].target, r.signals[0].action, r.signals[0].ttlSeconds, r.signals[0].oneShot, r.signals[0].lift], ['198.51.100.0/28', 'start', 60, true, true]);
  const bad = parseRtbh({ action: 'announce', target_ip: '198.51.100.7', withdraw_after: -1 });
  assert.ok(!bad.ok && bad.issues[0].path === 'withdraw_after');
});

test('no payload ever throws: every adapter returns signals or issues', () => {
  fc.assert(
    fc.property(fc.constantFrom(...(Object.keys(ADAPTERS) as Array<keyof typeof ADAPTERS>)), fc.jsonValue(), (name, body) => {
      const r = ADAPTERS[name](body);
      assert.ok(r.ok ? Array.isArray(r.signals) : r.issues.length > 0);
    }),
    { numRuns: 2000 },
  );
});
