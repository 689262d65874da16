import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeOpen, emptyCapabilities } from '../../src/bgp/open.ts';
import { encodeUpdates } from '../../src/bgp/update.ts';
import { anyOf, range } from '../../src/bgp/flowspec.ts';
import type { Route } from '../../src/bgp/types.ts';

/** A pcap of one TCP stream 192.0.2.1:40000 → 192.0.2.2:179 carrying `msgs`, one segment each. */
function pcap(msgs: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0); gh.writeUInt16LE(2, 4); gh.writeUInt16LE(4, 6); gh.writeUInt32LE(65535, 16); gh.writeUInt32LE(1, 20);
  parts.push(gh);
  let seq = 1000;
  msgs.forEach((m, i) => {
    const eth = Buffer.from('020000000002020000000001' + '0800', 'hex');
    const ip = Buffer.alloc(20);
    ip[0] = 0x45; ip.writeUInt16BE(20 + 20 + m.length, 2); ip.writeUInt16BE(i + 1, 4); ip[8] = 64; ip[9] = 6;
    Buffer.from([192, 0, 2, 1, 192, 0, 2, 2]).copy(ip, 12);
    let sum = 0;
    for (let k = 0; k < 20; k += 2) sum += ip.readUInt16BE(k);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    ip.writeUInt16BE(~sum & 0xffff, 10);
    const tcp = Buffer.alloc(20);
    tcp.writeUInt16BE(40000, 0); tcp.writeUInt16BE(179, 2); tcp.writeUInt32BE(seq, 4); tcp.writeUInt32BE(1, 8);
    tcp[12] = 0x50; tcp[13] = 0x18; tcp.writeUInt16BE(65535, 14);
    seq += m.length;
    const frame = Buffer.concat([eth, ip, tcp, m]);
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(1700000000 + i, 0); rh.writeUInt32LE(frame.length, 8); rh.writeUInt32LE(frame.length, 12);
    parts.push(rh, frame);
  });
  return Buffer.concat(parts);
}

function leaves(x: unknown, out: Array<[string, string]> = [], key = ''): Array<[string, string]> {
  if (Array.isArray(x)) for (const v of x) leaves(v, out, key);
  else if (x && typeof x === 'object') for (const [k, v] of Object.entries(x)) { out.push([k, '']); leaves(v, out, k); }
  else out.push([key, String(x)]);
  return out;
}

const haveTshark = spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status === 0;

test('tshark decodes our OPEN and UPDATEs (independent decoder)', { skip: haveTshark ? false : 'tshark not installed' }, () => {
  const ctx = { as4: true, extendedMessage: false };
  const base = { origin: 0 as const, asPath: [{ type: 2 as const, asns: [65001] }] };
  const routes: Route[] = [
    { family: 'ipv4_unicast', prefix: '198.51.100.7/32', attrs: { ...base, nextHop: '192.0.2.1', communities: [0xffff029a, 65001 * 65536 + 100], largeCommunities: [[65001, 666, 7]] } },
    { family: 'ipv6_unicast', prefix: '2001:db8::7/128', attrs: { ...base, nextHop6: '2001:db8::1', communities: [0xffff029a] } },
    { family: 'ipv4_flowspec', rule: { destination: { prefix: '198.51.100.7/32' }, protocol: anyOf([17]), sourcePort: anyOf([53]), packetLength: range(1000, 1500) }, attrs: { ...base, extCommunities: [{ type: 'traffic-rate', asn: 0, rate: 125000 }] } },
    { family: 'ipv6_flowspec', rule: { destination: { prefix: '2001:db8::7/128' }, protocol: anyOf([6]), destinationPort: anyOf([443]) }, attrs: { ...base, extCommunities: [{ type: 'traffic-rate', asn: 0, rate: 0 }] } },
  ];
  const open = encodeOpen({ asn: 65001, holdTime: 90, routerId: '192.0.2.1', capabilities: { ...emptyCapabilities(), as4: 65001, routeRefresh: true, multiprotocol: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }, { afi: 1, safi: 133 }, { afi: 2, safi: 133 }] } });
  const msgs = [open, ...encodeUpdates({ announce: routes }, ctx)];
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-tshark-'));
  try {
    const f = path.join(dir, 'bgp.pcap');
    writeFileSync(f, pcap(msgs));
    const json = execFileSync('tshark', ['-r', f, '-T', 'json', '-d', 'tcp.port==179,bgp'], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'], timeout: 60000 });
    // tshark's JSON repeats keys inside one object, which JSON.parse would collapse: read key/value lines instead.
    const all: Array<[string, string]> = [...json.matchAll(/"([^"]+)": "([^"]*)"/g)].map((m) => [m[1], m[2]]);
    assert.ok(leaves(JSON.parse(json)).length > 0);
    const values = (re: RegExp) => all.filter(([k]) => re.test(k)).map(([, v]) => v);
    const text = all.map(([k, v]) => `${k}=${v}`).join('\n');
    assert.ok(values(/^bgp\.type$/).includes('1'), 'an OPEN');
    assert.equal(values(/^bgp\.type$/).filter((v) => v === '2').length, 4, 'four UPDATEs');
    assert.ok(values(/^bgp\.open\.myas$/).includes('65001'));
    assert.ok(text.includes('198.51.100.7'), 'IPv4 prefix');
    assert.ok(/2001:db8::7/.test(text), 'IPv6 prefix');
    assert.ok(/2001:db8::1/.test(text), 'IPv6 next hop');
    // tshark names 65535:666 as the well-known BLACKHOLE community (RFC 7999)
    assert.equal(values(/community_wellknown$/).filter((v) => v === '0xffff029a').length, 2, `BLACKHOLE community on both unicast routes\n${text.split('\n').filter((l) => /commun/i.test(l)).join('\n')}`);
    assert.ok(values(/community_as$/).includes('65001'));
    assert.ok(values(/community_value$/).includes('100'));
    assert.deepEqual([values(/large_communities\.ga$/), values(/large_communities\.ldp1$/), values(/large_communities\.ldp2$/)], [['65001'], ['666'], ['7']], 'large community');
    assert.ok(values(/^bgp\.flowspec_nlri\.dst_prefix_filter$/).includes('198.51.100.7'), 'FlowSpec IPv4 destination');
    assert.ok(values(/^bgp\.flowspec_nlri\.dst_ipv6_pref$/).includes('2001:db8::7'), 'FlowSpec IPv6 destination');
    assert.deepEqual(values(/^bgp\.flowspec_nlri\.filter_type$/), ['1', '3', '6', '10', '1', '3', '5'], 'component types in order');
    for (const v of ['17', '53', '1000', '1500', '6', '443']) assert.ok(values(/^bgp\.flowspec_nlri\.dec_val_(8|16)$/).includes(v), `FlowSpec value ${v}`);
    assert.deepEqual(values(/^bgp\.ext_com_flow\.rate_limit$/).sort(), ['0', '125000'], 'traffic-rate actions');
    assert.ok(values(/^bgp\.mp_reach_nlri_ipv6_prefix$/).includes('2001:db8::7'));
    assert.ok(/flowspec/i.test(text), 'FlowSpec NLRI recognised');
    const malformed = all.filter(([k]) => /_ws\.malformed|_ws\.expert/.test(k));
    assert.equal(malformed.filter(([k]) => /malformed/.test(k)).length, 0, `tshark reports malformed packets:\n${malformed.map((x) => x.join('=')).join('\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
