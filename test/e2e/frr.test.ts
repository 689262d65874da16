/**
 * Breakwater as a real child process with FRR bgpd 8.4 as its BGP neighbor on
 * loopback, attack captures from pcaps/ replayed into it over UDP with
 * `breakwater replay`:
 *  1. dry-run: the attack and its would-be route are in the API, FRR holds
 *     nothing (while the session is Established);
 *  2. `dry_run: false` + SIGHUP: FRR holds the /32 blackhole with 65535:666
 *     (shown by FRR as "blackhole"), the configured extra community and large
 *     community and the configured next hop; the session is not reset;
 *  3. live FlowSpec: an amplification capture to a host of a hostgroup with
 *     `mitigation: flowspec` (traffic-rate) → FRR's `show bgp ipv4 flowspec`
 *     holds a rule with the destination /32, UDP, the amplification source
 *     port and the traffic-rate action, and one for the UDP fragments;
 *  4. back to `dry_run: true` + SIGHUP: FRR holds nothing, the bans stay active
 *     (their TTL is far away: the withdrawal is the mode switch), the session
 *     stays up; SIGTERM exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Frr, frrAvailable, frrConfig } from '../helpers/frr.ts';
import { loopbackBlock, removeDir, sleep, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, metricValue, repoRoot, startBreakwater, writeYaml, type Breakwater } from './helpers.ts';

const run = promisify(execFile);

const NTP_CAPTURE = join(repoRoot, 'pcaps/pmacct-sflow5-sampled-ntp-amp.pcap');
const DNS_CAPTURE = join(repoRoot, 'pcaps/pmacct-sflow5-sampled-dns-amp.pcap');
// Targets of the two scenarios (pcaps/README.md).
const NTP_VICTIM = '203.0.113.20';
const DNS_VICTIM = '198.51.100.60';
const NEXT_HOP = '192.0.2.99';
const RATE_MBPS = 80;

const skip = !frrAvailable()
  ? 'FRR (/usr/lib/frr/bgpd, vtysh) not installed or not root'
  : !existsSync(NTP_CAPTURE) || !existsSync(DNS_CAPTURE)
    ? 'pcaps/ sFlow amplification captures missing'
    : false;

const LOCAL_ASN = 65000;
const FRR_ASN = 65001;

function config(dir: string, L: (h: number) => string, frrPort: number, dryRun: boolean, ports: { sflow: number; api: number }): any {
  return {
    dry_run: dryRun,
    log: { level: 'info' },
    listen: { netflow: '', sflow: `127.0.0.1:${ports.sflow}`, workers: 1 },
    networks: ['198.51.100.0/24', '203.0.113.0/24'],
    protected_whitelist: ['198.51.100.1/32'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 2 },
    thresholds: { pps: 20_000 },
    // Far longer than the test: any withdrawal seen here comes from the mode switch.
    ban: { ttl_seconds: 600, unban_hysteresis_seconds: 5 },
    hostgroups: [{ name: 'flowspec-customers', networks: ['198.51.100.0/24'], mitigation: 'flowspec', flowspec: { action: 'rate_limit', rate_mbps: RATE_MBPS } }],
    bgp: {
      local_asn: LOCAL_ASN,
      router_id: L(1),
      next_hop: NEXT_HOP,
      communities: ['65000:666'],
      large_communities: ['65000:0:666'],
      connect_retry_seconds: 1,
      neighbors: [{ address: L(2), port: frrPort, remote_asn: FRR_ASN, local_address: L(1), hold_time: 9 }],
    },
    api: { listen: `127.0.0.1:${ports.api}` },
    storage: { data_dir: join(dir, 'data') },
  };
}

/** Everything Breakwater can have put into FRR: prefixes per table. */
async function frrTables(frr: Frr): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of ['ipv4 unicast', 'ipv6 unicast', 'ipv4 flowspec', 'ipv6 flowspec']) out[t] = Object.keys((await frr.json(`show bgp ${t} json`)).routes ?? {});
  return out;
}
const total = (t: Record<string, string[]>): number => Object.values(t).reduce((a, r) => a + r.length, 0);

/**
 * FRR 8.4's `show bgp ipv4 flowspec detail json` prints one JSON array per
 * entry, back to back (not one document): its match object ({to, proto, srcp,
 * pktfrag, ...}), then {ecomlist} (the actions), then {time}.
 */
async function flowspecRules(frr: Frr): Promise<{ to: string; match: string; action: string }[]> {
  const raw = jsonSequence(await frr.vtysh('show bgp ipv4 flowspec detail json')).flat() as Record<string, string>[];
  const out: { to: string; match: string; action: string }[] = [];
  for (const o of raw) {
    if (o.to !== undefined) {
      const match = Object.entries(o)
        .filter(([k]) => k !== 'to')
        .map(([k, v]) => `${k} ${String(v).trim()}`)
        .sort()
        .join(' / ');
      out.push({ to: o.to, match, action: '' });
    } else if (o.ecomlist !== undefined && out.length) out[out.length - 1].action = o.ecomlist;
  }
  return out;
}

/** Parses top-level JSON values written one after the other. */
function jsonSequence(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0, start = -1, inStr = false, esc = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (esc) esc = false;
      else if (c === '\\') esc = true;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '[' || c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === ']' || c === '}') {
      if (--depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
    }
  }
  return out;
}

async function replay(capture: string, port: number): Promise<void> {
  await run(process.execPath, [join(repoRoot, 'src/main.ts'), 'replay', capture, '--to', `127.0.0.1:${port}`, '--speed', '0'], { timeout: 30_000 });
}

test('FRR as the neighbor: dry-run holds nothing, SIGHUP live announces RTBH with communities and next hop, FlowSpec traffic-rate, back to dry-run withdraws all', { skip, timeout: 120_000 }, async (t) => {
  const dir = tempDir('bw-e2e-frr-');
  mkdirSync(join(dir, 'data'));
  const L = loopbackBlock();
  const frrPort = freePort();
  const ports = { sflow: freePort(), api: freePort() };
  const frr = new Frr(frrConfig({ routerId: L(2), listenAddress: L(2), listenPort: frrPort, localAsn: FRR_ASN, peerAddress: L(1), peerPort: freePort(), peerAsn: LOCAL_ASN, holdTime: 9 }), L(2), frrPort);
  let bw: Breakwater | undefined;
  t.after(async () => {
    if (process.env.BW_E2E_DEBUG && bw) console.error(bw.d.output().slice(-5000));
    await bw?.stop().catch(() => undefined);
    await frr.dispose().catch(() => undefined);
    removeDir(dir);
  });
  await frr.start();
  const cfgFile = join(dir, 'breakwater.yaml');
  let cfg = config(dir, L, frrPort, true, ports);
  writeYaml(cfgFile, cfg);
  bw = await startBreakwater(cfgFile, cfg);
  await waitFor('BGP Established with FRR', async () => (await frr.peerState(L(1))) === 'Established', 30_000, 200);

  // ---- 1. dry-run: attack and would-be route in the API, FRR holds nothing.
  await replay(NTP_CAPTURE, ports.sflow);
  const attack = await waitFor('NTP attack in the API', async () => (await bw!.api('GET', '/api/v1/attacks')).json.attacks.find((a: any) => a.target === NTP_VICTIM), 15_000, 200);
  assert.equal(attack.vector, 'ntp_amplification');
  assert.equal(attack.mode, 'dry_run');
  assert.deepEqual(attack.route, { ...attack.route, type: 'blackhole', prefix: `${NTP_VICTIM}/32`, next_hop: NEXT_HOP });
  await waitFor('dry-run ban', async () => (await bw!.api('GET', '/api/v1/bans?active=true')).json.bans.find((b: any) => b.target === NTP_VICTIM), 10_000, 200);
  await sleep(1000);
  assert.deepEqual(await frrTables(frr), { 'ipv4 unicast': [], 'ipv6 unicast': [], 'ipv4 flowspec': [], 'ipv6 flowspec': [] }, 'FRR holds nothing in dry-run');
  assert.equal(await frr.peerState(L(1)), 'Established');
  assert.equal(metricValue(await bw.metrics(), 'breakwater_mitigate_announced_routes', 'mode="real"'), 0);

  // ---- 2. dry_run: false + SIGHUP: the active ban goes to FRR at once.
  cfg = config(dir, L, frrPort, false, ports);
  writeYaml(cfgFile, cfg);
  bw.signal('SIGHUP');
  const path = await waitFor('FRR holds the RTBH /32', async () => (await frr.json(`show bgp ipv4 unicast ${NTP_VICTIM}/32 json`)).paths?.[0], 10_000, 100);
  assert.equal(path.nexthops[0].ip, NEXT_HOP, 'the configured next hop');
  // FRR names 65535:666 "blackhole" (and adds NO_EXPORT to it, RFC 7999).
  assert.ok(path.community.list.includes('blackhole'), `65535:666 (BLACKHOLE): ${path.community.string}`);
  assert.ok(path.community.list.includes('65000:666'), `the configured extra community: ${path.community.string}`);
  assert.deepEqual(path.largeCommunity.list, ['65000:0:666'], 'the configured large community');
  assert.equal(path.aspath.string, String(LOCAL_ASN));
  assert.equal(path.peer.peerId, L(1));
  assert.deepEqual(await frrTables(frr), { 'ipv4 unicast': [`${NTP_VICTIM}/32`], 'ipv6 unicast': [], 'ipv4 flowspec': [], 'ipv6 flowspec': [] }, 'only the ban');
  assert.equal((await bw.api('GET', '/api/v1/status')).json.mode, 'live');
  assert.ok(metricValue(await bw.metrics(), 'breakwater_mitigate_announced_routes', 'mode="real"') >= 1);

  // ---- 3. FlowSpec, live: a DNS amplification to a host of the flowspec hostgroup.
  await replay(DNS_CAPTURE, ports.sflow);
  const dns = await waitFor('DNS attack in the API', async () => (await bw!.api('GET', '/api/v1/attacks')).json.attacks.find((a: any) => a.target === DNS_VICTIM), 15_000, 200);
  assert.equal(dns.vector, 'dns_amplification');
  assert.equal(dns.route.type, 'flowspec');
  const rules = await waitFor('FlowSpec rules in FRR', async () => {
    const r = await flowspecRules(frr);
    return r.length >= 2 ? r : undefined;
  }, 10_000, 100);
  const bps = RATE_MBPS * 125_000;
  const norm = rules.map((r) => ({ ...r, action: r.action.replace(/^FS:rate (\d+)\.0+$/, 'rate $1') }));
  assert.deepEqual(
    norm.sort((a, b) => a.match.localeCompare(b.match)),
    [
      // UDP from the DNS port to the victim, and the UDP fragments (IsF: the non-first fragments carry no port)
      { to: `${DNS_VICTIM}/32`, match: 'pktfrag ∋ 2 / proto = 17', action: `rate ${bps}` },
      { to: `${DNS_VICTIM}/32`, match: 'proto = 17 / srcp = 53', action: `rate ${bps}` },
    ],
    JSON.stringify(rules),
  );
  assert.ok((await frr.json(`show bgp ipv4 unicast ${NTP_VICTIM}/32 json`)).paths?.[0], 'the RTBH is still there');
  assert.equal((await frrTables(frr))['ipv4 unicast'].length, 1, 'no blackhole for the FlowSpec hostgroup');

  // ---- 4. back to dry-run + SIGHUP: everything withdrawn, bans kept, session up.
  cfg = config(dir, L, frrPort, true, ports);
  writeYaml(cfgFile, cfg);
  bw.signal('SIGHUP');
  await waitFor('FRR holds nothing', async () => total(await frrTables(frr)) === 0, 10_000, 100);
  assert.equal((await bw.api('GET', '/api/v1/status')).json.mode, 'dry_run');
  const active = (await bw.api('GET', '/api/v1/bans?active=true')).json.bans.map((b: any) => b.target).sort();
  assert.deepEqual(active, [DNS_VICTIM, NTP_VICTIM].sort(), 'the bans stay active: the withdrawal is the mode switch, not their end');
  assert.equal(metricValue(await bw.metrics(), 'breakwater_mitigate_announced_routes', 'mode="real"'), 0);
  assert.ok(metricValue(await bw.metrics(), 'breakwater_mitigate_announced_routes', 'mode="dry_run"') >= 2);
  await sleep(500);
  assert.equal(total(await frrTables(frr)), 0, 'nothing comes back');
  const nb = (await frr.json(`show bgp neighbors ${L(1)} json`))[L(1)];
  assert.equal(nb.bgpState, 'Established');
  assert.deepEqual([nb.connectionsEstablished, nb.connectionsDropped], [1, 0], 'one session for the whole test: the reloads did not reset it');

  const code = await bw.stop();
  assert.equal(code, 0);
  bw = undefined;
});
