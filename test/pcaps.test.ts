/**
 * pcaps/: every capture is listed in pcaps/README.md and every listed capture
 * exists; tshark (an independent decoder) decodes each without malformed
 * packets and finds flow records in it; file names follow the convention; the
 * traffic generator is deterministic and writes valid packets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generate } from '../scripts/gen-traffic.ts';
import { parseName, TSHARK_DECODE_AS } from '../scripts/pcaps-readme.ts';

const root = resolve(import.meta.dirname, '..');
const dir = join(root, 'pcaps');
const hasTshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
const pcaps = readdirSync(dir).filter((f) => f.endsWith('.pcap')).sort();

function tshark(args: string[]): string {
  return execFileSync('tshark', args, { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
}

test('pcaps/README.md lists exactly the captures in pcaps/', () => {
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  const listed = new Set([...readme.matchAll(/\|\s*([A-Za-z0-9._-]+\.pcap)\s*\|/g)].map((m) => m[1]));
  assert.ok(pcaps.length > 0, 'no captures');
  for (const f of pcaps) assert.ok(listed.has(f), `${f} is not in pcaps/README.md`);
  for (const f of listed) assert.ok(pcaps.includes(f), `README lists ${f}, which does not exist`);
});

test('capture names follow <exporter>-<version>[-sampled]-<scenario>.pcap and cover every exporter and version', () => {
  const seen = new Set<string>();
  for (const f of pcaps) {
    const n = parseName(f);
    assert.ok(n, `bad name ${f}`);
    seen.add(`${n.exporter}-${n.version}${n.sampled ? '-sampled' : ''}`);
  }
  for (const want of ['softflowd-v5', 'softflowd-v9', 'softflowd-ipfix', 'softflowd-v5-sampled', 'softflowd-v9-sampled', 'softflowd-ipfix-sampled', 'pmacct-v9', 'pmacct-ipfix', 'pmacct-sflow5-sampled', 'fprobe-v5'])
    assert.ok(seen.has(want), `no capture from ${want}`);
});

test('tshark decodes every capture without malformed packets, with flow records', { skip: !hasTshark && 'tshark not installed' }, () => {
  for (const f of pcaps) {
    const p = join(dir, f);
    // Data flowsets sent before their template are real exporter behaviour (tshark tags them
    // "no template found" under the Malformed group); anything else malformed fails.
    // sFlow's sampled headers are truncated copies of arbitrary traffic: not judged here.
    const flagged = tshark(['-r', p, ...TSHARK_DECODE_AS, '-o', 'sflow.enable_dissection:FALSE', '-Y', '_ws.malformed || _ws.expert.severity == "error"', '-T', 'fields', '-E', 'occurrence=a', '-E', 'separator=|', '-e', 'frame.number', '-e', '_ws.expert.message', '-e', '_ws.malformed'])
      .split('\n')
      .filter(Boolean);
    for (const line of flagged) {
      const [frame, messages, malformed] = line.split('|');
      const msgs = (messages ?? '').split(',').filter((m) => /malformed|error|exception/i.test(m) || /no template found/.test(m));
      const real = msgs.filter((m) => !/no template found/.test(m));
      const onlyNoTemplate = msgs.length > 0 && real.length === 0 && (malformed ?? '').split(',').filter(Boolean).length <= msgs.length;
      assert.ok(onlyNoTemplate, `${f}: frame ${frame} is malformed for tshark: ${messages}`);
    }
    const fields = tshark(['-r', p, ...TSHARK_DECODE_AS, '-T', 'fields', '-E', 'occurrence=a', '-e', 'cflow.version', '-e', 'cflow.packets', '-e', 'sflow.flow_sample.sampling_rate']);
    const lines = fields.split('\n').filter(Boolean);
    assert.ok(lines.length > 0, `${f}: no datagrams`);
    let records = 0;
    for (const l of lines) {
      const [version, packets, samples] = l.split('\t');
      assert.ok(version || samples !== undefined, `${f}: a datagram is neither NetFlow/IPFIX nor sFlow`);
      records += (packets ? packets.split(',').length : 0) + (samples ? samples.split(',').length : 0);
    }
    assert.ok(records > 0, `${f}: tshark finds no flow records`);
    const name = parseName(f)!;
    const wantVersion = { v5: '5', v9: '9', ipfix: '10', sflow5: '' }[name.version];
    if (wantVersion) assert.ok(lines.every((l) => l.split('\t')[0] === wantVersion), `${f}: not all datagrams are version ${wantVersion}`);
  }
});

test('the traffic generator is deterministic and tshark finds no bad checksums in it', { skip: !hasTshark && 'tshark not installed' }, (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'bw-gen-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const a = join(tmp, 'a.pcap');
  const b = join(tmp, 'b.pcap');
  const c = join(tmp, 'c.pcap');
  generate('benign', a, 7);
  generate('benign', b, 7);
  generate('benign', c, 8);
  assert.ok(readFileSync(a).equals(readFileSync(b)), 'same seed, different bytes');
  assert.ok(!readFileSync(a).equals(readFileSync(c)), 'different seed, same bytes');
  const bad = tshark([
    '-r', a,
    '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
    '-Y', 'ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad" || _ws.malformed',
  ]).trim();
  assert.equal(bad, '', bad.split('\n').slice(0, 5).join('\n'));
  // IPv4 and IPv6 fragments, ICMPv6 and TCP handshakes are all present
  const summary = tshark(['-r', a, '-T', 'fields', '-e', 'ip.flags.mf', '-e', 'ipv6.fraghdr.more', '-e', 'icmpv6.type', '-e', 'tcp.flags.syn']);
  const cols = summary.split('\n').filter(Boolean).map((l) => l.split('\t'));
  assert.ok(cols.some((c0) => c0[0] === '1' || c0[0] === 'True'), 'no IPv4 fragment with MF');
  assert.ok(cols.some((c0) => c0[1] === '1' || c0[1] === 'True'), 'no IPv6 fragment');
  assert.ok(cols.some((c0) => c0[2] === '128'), 'no ICMPv6 echo request');
  assert.ok(cols.some((c0) => c0[3] === '1' || c0[3] === 'True'), 'no TCP SYN');
});
