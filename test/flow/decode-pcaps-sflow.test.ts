/**
 * The project's own sFlow captures (pcaps/*sflow*.pcap, made by pmacctd's
 * sfprobe plugin, see pcaps/README.md): what `breakwater decode` prints for
 * every flow sample equals tshark's dissection of the same datagram
 * (addresses, ports, protocol, TCP flags, ICMP type/code, bytes, sampling rate,
 * interfaces, fragment flag), with one packet per sample, the sub-agent id as
 * domain, and the same flow and counter sample counts. The NetFlow/IPFIX
 * captures are covered by decode-pcaps.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeFiles, recordJson } from '../../src/cli/decode.ts';
import { FlowDecoder } from '../../src/flow/decode.ts';
import { readCapture } from '../../src/flow/pcap.ts';
import { canonLine, haveTshark, matchLines, tsharkSflow, type TsharkFrame } from './sflow-oracle.ts';

const root = path.resolve(import.meta.dirname, '../..');
const pcapsDir = path.join(root, 'pcaps');
const files = existsSync(pcapsDir) ? readdirSync(pcapsDir).filter((f) => /sflow/.test(f) && /\.(pcap|pcapng)$/.test(f)).sort() : [];
const tshark = haveTshark();

type Json = Record<string, string | number>;

/**
 * The oracle's canonical line built from the JSON object `breakwater decode`
 * prints (what an operator sees), not from the internal record. The JSON has
 * no fragment key: `frag` comes from the record when known.
 */
function jsonLine(o: Json, frag: number | string): string {
  const s = (k: string): string => (o[k] === undefined ? '-' : String(o[k]));
  return canonLine({
    rate: Number(o.sampling_rate),
    inIf: s('in_if'),
    outIf: s('out_if'),
    src: s('src_addr'),
    dst: s('dst_addr'),
    proto: s('ip_proto'),
    sport: s('src_port'),
    dport: s('dst_port'),
    flags: s('tcp_flags'),
    icmp: o.icmp_type === undefined ? '-' : `${o.icmp_type}/${o.icmp_code}`,
    bytes: s('bytes'),
    frag: String(frag),
  });
}

/** matchLines, with the exact lines paired through a multiset first (whole-file sizes). */
function matchMany(ours: string[], theirs: string[]): { onlyOurs: string[]; onlyTheirs: string[] } {
  const bag = new Map<string, number>();
  for (const l of ours) bag.set(l, (bag.get(l) ?? 0) + 1);
  const wild: string[] = [];
  const onlyTheirs: string[] = [];
  for (const t of theirs) {
    if (t.includes('*')) wild.push(t);
    else if ((bag.get(t) ?? 0) > 0) bag.set(t, bag.get(t)! - 1);
    else onlyTheirs.push(t);
  }
  const left: string[] = [];
  for (const [l, n] of bag) for (let i = 0; i < n; i++) left.push(l);
  const m = matchLines(left, wild);
  return { onlyOurs: m.onlyOurs, onlyTheirs: [...onlyTheirs, ...m.onlyTheirs] };
}

interface Datagram {
  src: string;
  json: Json[];
  lines: string[];
  counters: number;
}

/** Our decode, datagram by datagram, as the JSON `breakwater decode` prints. */
function decodeOurs(file: string, defaultSamplingRate: number): { datagrams: Datagram[]; dec: FlowDecoder } {
  const datagrams: Datagram[] = [];
  let cur: Datagram = { src: '', json: [], lines: [], counters: 0 };
  const dec = new FlowDecoder(
    {
      record(r) {
        const o = recordJson(r);
        cur.json.push(o);
        cur.lines.push(jsonLine(o, r.fragment));
      },
    },
    { defaultSamplingRate, templateTimeoutMs: Infinity },
  );
  for (const p of readCapture(file)) {
    cur = { src: p.src, json: [], lines: [], counters: 0 };
    const before = dec.stats.get(p.src)?.counterSamples ?? 0;
    dec.datagram(p.payload, p.src, p.time);
    cur.counters = dec.stats.get(p.src)!.counterSamples - before;
    datagrams.push(cur);
  }
  return { datagrams, dec };
}

test('pcaps/: the sFlow captures are there', () => {
  assert.ok(existsSync(pcapsDir), `${pcapsDir} exists`);
  assert.ok(files.length > 0, 'pcaps/ holds at least one sFlow capture (pcaps/*sflow*.pcap)');
});

test('pcaps/: every sFlow capture agrees with tshark sample by sample', { skip: !tshark && 'tshark not installed' }, async (t) => {
  assert.ok(files.length > 0, 'pcaps/ holds sFlow captures');
  // What the comparison covered, counted on tshark's side.
  const seen = { tcpFlags: 0, icmp: 0, ipv6: 0, fragments: 0, firstFragments: 0, counters: 0 };
  let totalSamples = 0;
  for (const f of files) {
    await t.test(f, () => {
      const file = path.join(pcapsDir, f);
      const theirs = tsharkSflow(file);
      const ours = decodeOurs(file, 1);
      assert.equal(ours.datagrams.length, theirs.length, 'one UDP datagram each, same count');
      let samples = 0, counters = 0;
      for (let i = 0; i < theirs.length; i++) {
        const tf: TsharkFrame = theirs[i];
        const od = ours.datagrams[i];
        assert.ok(tf.sflow, `frame ${tf.number}: tshark dissects sFlow`);
        assert.ok(!tf.malformed, `frame ${tf.number}: tshark finds it well formed`);
        const m = matchLines(od.lines, tf.samples);
        assert.deepEqual(m, { onlyOurs: [], onlyTheirs: [] }, `${f} frame ${tf.number}: flow samples`);
        assert.equal(od.counters, tf.counterSamples, `${f} frame ${tf.number}: counter samples`);
        for (const o of od.json) {
          assert.equal(o.proto, 'sflow5', `frame ${tf.number}: proto`);
          assert.equal(o.exporter, od.src, `frame ${tf.number}: exporter = datagram source`);
          assert.equal(o.domain, tf.subAgent, `frame ${tf.number}: domain = sub-agent id`);
          assert.equal(o.packets, 1, `frame ${tf.number}: one sampled packet per sample, not multiplied`);
        }
        for (const l of tf.samples) {
          if (/ fl=\d+ /.test(l)) seen.tcpFlags++;
          if (/ icmp=\d+\/\d+ /.test(l)) seen.icmp++;
          if (/ [0-9a-f:]*:[0-9a-f:]*>/.test(l)) seen.ipv6++;
          if (/ frag=1$/.test(l)) seen.fragments++;
          if (/ \*>\* /.test(l)) seen.firstFragments++;
          const rate = Number(/^rate=(\d+)/.exec(l)![1]);
          assert.ok(rate > 1, `${f} frame ${tf.number}: sfprobe reports its sampling rate (${rate})`);
        }
        samples += tf.samples.length;
        counters += tf.counterSamples;
      }
      // The reported rate wins over the collector's default: decoding with another default changes nothing.
      const other = decodeOurs(file, 7);
      assert.deepEqual(other.datagrams.map((d) => d.lines), ours.datagrams.map((d) => d.lines), 'default sampling rate unused');
      // decodeFiles (what the CLI runs) counts the same datagrams and records, without errors.
      let n = 0;
      const sum = decodeFiles([file], { record: () => void n++ });
      assert.deepEqual([sum.datagrams, sum.records, n, sum.other, sum.errors], [theirs.length, samples, samples, 0, {}], 'decode summary');
      const st = [...ours.dec.stats.values()];
      assert.equal(st.reduce((a, s) => a + s.counterSamples, 0), counters, 'counter samples counted');
      assert.deepEqual(st.map((s) => s.errors), st.map(() => ({})), 'no decode errors');
      assert.ok(samples > 0, `${f}: flow samples compared`);
      seen.counters += counters;
      totalSamples += samples;
      t.diagnostic(`${f}: ${theirs.length} datagrams, ${samples} flow samples and ${counters} counter samples equal to tshark`);
    });
  }
  t.diagnostic(`${totalSamples} samples; coverage ${JSON.stringify(seen)}`);
  // The captures exercise every field the comparison names (the scenarios are in pcaps/README.md).
  assert.ok(seen.tcpFlags > 0, 'TCP flags compared');
  assert.ok(seen.icmp > 0, 'ICMP type/code compared');
  assert.ok(seen.ipv6 > 0, 'IPv6 samples compared');
  assert.ok(seen.fragments > 0, 'fragments compared');
});

test('pcaps/: `breakwater decode` on an sFlow capture prints what tshark sees', { skip: !tshark && 'tshark not installed' }, () => {
  assert.ok(files.length > 0, 'pcaps/ holds sFlow captures');
  const pick = files.find((f) => f.includes('syn-flood')) ?? files[0];
  const file = path.join(pcapsDir, pick);
  const r = spawnSync(process.execPath, [path.join(root, 'src/main.ts'), 'decode', file], { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  const objs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Json);
  const theirs = tsharkSflow(file);
  const samples = theirs.flatMap((tf) => tf.samples);
  assert.equal(objs.length, samples.length, 'one JSON line per flow sample');
  const sub = new Set(theirs.map((tf) => tf.subAgent));
  for (const o of objs) {
    assert.equal(o.proto, 'sflow5');
    assert.equal(o.exporter, '127.0.0.1', 'pcaps/README.md: every exporter sends from 127.0.0.1');
    assert.ok(sub.has(Number(o.domain)), `domain ${o.domain} is a sub-agent id tshark saw`);
    assert.equal(o.packets, 1);
    assert.equal(typeof o.sampling_rate, 'number');
  }
  // Whole-file multiset comparison (the JSON carries no datagram boundary and no fragment flag).
  const m = matchMany(
    objs.map((o) => jsonLine(o, 'x')),
    samples.map((l) => l.replace(/ frag=\d$/, ' frag=x')),
  );
  assert.deepEqual({ onlyOurs: m.onlyOurs.slice(0, 10), onlyTheirs: m.onlyTheirs.slice(0, 10) }, { onlyOurs: [], onlyTheirs: [] }, `${pick}: CLI output vs tshark`);
  assert.match(r.stderr, new RegExp(`datagrams: ${theirs.length} {2}records: ${samples.length} {2}exporters: 1 {2}other udp: 0 {2}errors: none`));
});
