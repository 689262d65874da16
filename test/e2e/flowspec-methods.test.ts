/**
 * Manual FlowSpec mitigations end to end: Breakwater as a real child process
 * in live mode with two BIRD 2 neighbors on loopback, one with profile
 * `bird`, one with profile `junos`. POST /api/v1/mitigations with a method
 * puts the rule in both BIRDs; a packet-length method is linted: sent to the
 * `bird` neighbor, refused for the `junos` one (counted, audited, shown on
 * the ban); DELETE withdraws the rule; the guards refuse a target outside
 * networks and a whitelisted one; the preview answers with route, lint and
 * collateral; an inline match works too; an NTP flood's automatic ban
 * records its collateral on the attack and "infer" proposes its match.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { birdAvailable, type Bird } from '../helpers/bird.ts';
import { sleep, waitFor } from '../helpers/netns.ts';
import { freePort, metricValue, SflowSender, withBirdAndBreakwater } from './helpers.ts';

const skip = birdAvailable() ? false : 'BIRD 2 (bird, birdc) not installed or not root';

async function flows(b: Bird): Promise<string[]> {
  return (await b.routes('flowtab4')).filter((r) => r.head.includes('[bw')).map((r) => r.net);
}

test('manual FlowSpec methods against two real BIRD neighbors: POST announces, lint keeps a packet-length rule from the junos one, DELETE withdraws, guards refuse', { skip, timeout: 120_000 }, async (t) => {
  const ports = { sflow: freePort(), api: freePort() };
  const sender = new SflowSender();
  const { L, birds, bw } = await withBirdAndBreakwater(t, {
    dirPrefix: 'bw-methods-',
    peers: [
      { host: 2, asn: 65001, families: ['ipv4', 'flow4'] },
      { host: 3, asn: 65002, families: ['ipv4', 'flow4'] },
    ],
    config: ({ L, dir, birdPorts }) => ({
      dry_run: false,
      log: { level: 'info' },
      listen: { netflow: '', sflow: `127.0.0.1:${ports.sflow}`, workers: 1 },
      networks: ['198.51.100.0/24'],
      protected_whitelist: ['198.51.100.1/32'],
      detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 1 },
      thresholds: { pps: 10_000 },
      ban: { ttl_seconds: 600 },
      flowspec_methods: [
        { name: 'ntp-drop', match: { protocol: ['udp'], source_port: [123] }, action: { discard: true }, platforms: ['edge'] },
        { name: 'big-udp', description: 'large UDP packets', match: { protocol: ['udp'], packet_length: { min: 1000, max: 1500 } }, action: { rate_limit_mbps: 10 } },
      ],
      platforms: [{ name: 'edge', neighbors: [L(2), L(3)] }],
      bgp: {
        local_asn: 65000,
        router_id: L(1),
        connect_retry_seconds: 1,
        neighbors: [
          { address: L(2), port: birdPorts[0], remote_asn: 65001, local_address: L(1), hold_time: 9, families: ['ipv4_unicast', 'ipv4_flowspec'], profile: 'bird' },
          { address: L(3), port: birdPorts[1], remote_asn: 65002, local_address: L(1), hold_time: 9, families: ['ipv4_unicast', 'ipv4_flowspec'], profile: 'junos' },
        ],
      },
      api: { listen: `127.0.0.1:${ports.api}` },
      storage: { data_dir: join(dir, 'data') },
    }),
    established: { label: 'both BIRDs Established', timeoutMs: 30_000, intervalMs: 200 },
    beforeStop: async () => sender.close(),
  });
  const [birdA, birdB] = birds;

  // ---- methods as configured
  const m = await bw.api('GET', '/api/v1/mitigations/methods');
  assert.equal(m.status, 200);
  assert.deepEqual(m.json.methods.map((x: any) => x.name), ['ntp-drop', 'big-udp']);
  assert.deepEqual(m.json.platforms, [{ name: 'edge', neighbors: [L(2), L(3)] }]);

  // ---- preview: route, lint per neighbor, collateral; nothing is sent
  const pv = await bw.api('GET', `/api/v1/mitigations/preview?target=198.51.100.21&method=big-udp`);
  assert.equal(pv.status, 200, pv.text);
  assert.equal(pv.json.kind, 'flowspec');
  assert.equal(pv.json.routes.length, 1);
  assert.deepEqual(pv.json.routes[0].packet_length, { min: 1000, max: 1500 });
  const byNb = Object.fromEntries(pv.json.lint.map((l: any) => [l.neighbor, l]));
  assert.equal(byNb[L(2)].ok, true);
  assert.equal(byNb[L(2)].profile, 'bird');
  assert.equal(byNb[L(3)].ok, false);
  assert.equal(byNb[L(3)].profile, 'junos');
  assert.ok(byNb[L(3)].findings.some((f: any) => f.code === 'packet_length' && f.severity === 'error'), JSON.stringify(byNb[L(3)]));
  assert.equal(typeof pv.json.collateral.summary, 'string');
  assert.equal(pv.json.collateral.window_seconds, 300);
  await sleep(300);
  assert.deepEqual(await flows(birdA), [], 'a preview sends nothing');

  // ---- POST with a method: both BIRDs hold the rule
  const ntp = await bw.api('POST', '/api/v1/mitigations', { target: '198.51.100.20', method: 'ntp-drop', ttl_seconds: 300, reason: 'NTP reflection' });
  assert.equal(ntp.status, 201, ntp.text);
  assert.match(ntp.json.id, /^ban-/);
  assert.equal(ntp.json.ban.action, 'flowspec');
  assert.equal(ntp.json.ban.flowspec.method, 'ntp-drop');
  assert.ok(ntp.json.ban.ttl_left_seconds > 290 && ntp.json.ban.ttl_left_seconds <= 300);
  assert.ok(ntp.json.collateral && typeof ntp.json.collateral.summary === 'string');
  const want = 'flow4 { dst 198.51.100.20/32; proto 17; sport 123; }';
  await waitFor('BIRD A holds the NTP rule', async () => (await flows(birdA)).includes(want), 10_000, 100);
  await waitFor('BIRD B holds the NTP rule', async () => (await flows(birdB)).includes(want), 10_000, 100);
  const r = (await birdA.routes('flowtab4')).find((x) => x.net === want)!;
  assert.equal(r.attrs['BGP.ext_community'], '(generic, 0x80060000, 0x0)', 'traffic-rate 0 = discard');

  // ---- a packet-length rule: sent to the bird neighbor, refused for the junos one
  const big = await bw.api('POST', '/api/v1/mitigations', { target: '198.51.100.21', method: 'big-udp' });
  assert.equal(big.status, 201, big.text);
  const lint = Object.fromEntries(big.json.lint.map((l: any) => [l.neighbor, l]));
  assert.equal(lint[L(2)].ok, true);
  assert.equal(lint[L(3)].ok, false);
  const bigRule = 'flow4 { dst 198.51.100.21/32; proto 17; length 1000..1500; }';
  await waitFor('BIRD A holds the packet-length rule', async () => (await flows(birdA)).includes(bigRule), 10_000, 100);
  await sleep(1000);
  assert.ok(!(await flows(birdB)).includes(bigRule), 'the junos neighbor never gets the packet-length rule');
  assert.ok(metricValue(await bw.metrics(), 'breakwater_mitigate_lint_refused_total', 'code="packet_length"') >= 1);
  const audit = (await bw.api('GET', '/api/v1/audit?action=lint_refused')).json.audit;
  assert.ok(audit.some((e: any) => e.target === '198.51.100.21' && e.detail.neighbor === L(3) && e.detail.profile === 'junos'), JSON.stringify(audit));
  const bans = (await bw.api('GET', '/api/v1/bans?active=true')).json.bans;
  const bigBan = bans.find((b: any) => b.id === big.json.id);
  assert.deepEqual(bigBan.announced_to, [L(2)]);
  assert.equal(bigBan.lint.find((l: any) => l.neighbor === L(3)).ok, false);
  assert.ok(bans.some((b: any) => b.id === ntp.json.id && b.source !== 'auto'), 'manual mitigations are bans');

  // ---- an inline match (no method) goes to every FlowSpec neighbor
  const inline = await bw.api('POST', '/api/v1/mitigations', { target: '198.51.100.22', match: { protocol: ['tcp'], destination_port: [80, '8000-8080'], tcp_flags: 'syn&!ack' }, action: { discard: true } });
  assert.equal(inline.status, 201, inline.text);
  await waitFor('both BIRDs hold the inline rule', async () => (await flows(birdA)).some((n) => n.includes('198.51.100.22/32')) && (await flows(birdB)).some((n) => n.includes('198.51.100.22/32')), 10_000, 100);

  // ---- guards: outside networks, whitelisted, unknown method
  const outside = await bw.api('POST', '/api/v1/mitigations', { target: '203.0.113.5', method: 'ntp-drop' });
  assert.equal(outside.status, 409, outside.text);
  assert.equal(outside.json.reason, 'outside_networks');
  const white = await bw.api('POST', '/api/v1/mitigations', { target: '198.51.100.1', method: 'ntp-drop' });
  assert.equal(white.status, 409, white.text);
  assert.equal(white.json.reason, 'whitelisted');
  const unknown = await bw.api('POST', '/api/v1/mitigations', { target: '198.51.100.23', method: 'nope' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.code, 'not_found');

  // ---- DELETE withdraws from both
  const del = await bw.api('DELETE', `/api/v1/mitigations/${ntp.json.id}`);
  assert.equal(del.status, 200, del.text);
  assert.deepEqual({ id: del.json.id, ended: del.json.ended }, { id: ntp.json.id, ended: true });
  await waitFor('BIRD A lost the NTP rule', async () => !(await flows(birdA)).includes(want), 10_000, 100);
  await waitFor('BIRD B lost the NTP rule', async () => !(await flows(birdB)).includes(want), 10_000, 100);
  assert.ok((await flows(birdA)).includes(bigRule), 'the other mitigations stay');
  assert.equal((await bw.api('DELETE', `/api/v1/mitigations/${ntp.json.id}`)).status, 404, 'ending it twice is a 404');
  const actions = (await bw.api('GET', '/api/v1/audit')).json.audit.map((e: any) => `${e.action} ${e.target}`);
  assert.ok(actions.includes('ban 198.51.100.20') && actions.includes('unban 198.51.100.20'), actions.join('\n'));

  // ---- an NTP flood over sFlow: its automatic ban records the collateral preview on the attack; infer proposes UDP source port 123
  await sender.start(bw.sflowPort, { victim: '198.51.100.30', pps: 30_000, samplingRate: 100, kind: 'ntp' }, 2500);
  const hit = await waitFor('attack with its collateral', async () => (await bw.api('GET', '/api/v1/attacks')).json.attacks.find((a: any) => a.target === '198.51.100.30' && a.collateral), 15_000, 200);
  assert.equal(typeof hit.collateral.summary, 'string');
  assert.match(hit.collateral.ban, /^ban-/);
  assert.equal(hit.collateral.basis, 'sample', JSON.stringify(hit.collateral));
  assert.ok(hit.collateral.dropped_share > 0.9, JSON.stringify(hit.collateral));
  const inf = await bw.api('GET', `/api/v1/attacks/${hit.id}/infer`);
  assert.equal(inf.status, 200, inf.text);
  assert.deepEqual(inf.json.match.protocol, [17]);
  assert.deepEqual(inf.json.match.source_port, [123]);
  assert.deepEqual(inf.json.approve.body.target, '198.51.100.30');
  assert.equal((await bw.api('GET', '/api/v1/attacks/nope/infer')).status, 404);
  // The proposed match, previewed as an inline rule, drops the attack and nothing legitimate.
  const q = new URLSearchParams({ target: '198.51.100.30', match: JSON.stringify(inf.json.match) });
  const pv2 = await bw.api('GET', `/api/v1/mitigations/preview?${q}`);
  assert.equal(pv2.status, 200, pv2.text);
  assert.equal(pv2.json.collateral.basis, 'sample');
  assert.equal(pv2.json.collateral.legit_like_share, 0, JSON.stringify(pv2.json.collateral));
});
