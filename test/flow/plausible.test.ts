/**
 * Plausibility bounds: records with impossible sampling rates, sizes, rates or
 * times are dropped before the sink and counted per exporter and reason; the
 * real captures lose nothing; under that fuzz the engine reports no attack
 * above the line-rate bound and a real NTP amplification keeps its vector.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { existsSync, readdirSync, readFileSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writer } from '../../src/core/writer.ts';
import { FlowDecoder, detectFlowProto } from '../../src/flow/decode.ts';
import { Collector } from '../../src/flow/collector.ts';
import { newCaptureStats, parseCapture, readCapture, writePcap, type WritePacket } from '../../src/flow/pcap.ts';
import { DEFAULT_PLAUSIBILITY, IMPLAUSIBLE_REASONS, type ImplausibleReason } from '../../src/flow/plausible.ts';
import type { FlowRecord } from '../../src/flow/record.ts';
import { loadConfig } from '../../src/config/load.ts';
import { detectCaptures } from '../../src/cli/detect.ts';
import type { Attack } from '../../src/engine/events.ts';

const root = path.resolve(import.meta.dirname, '../..');
const pcaps = path.join(root, 'pcaps');
const captures = path.resolve(root, '../shared/flows/captures');
const quiet = { info() {}, warn() {}, error() {} };

/** Template 256: src4, dst4, proto, sport, dport, bytes (u64), packets (u64), samplingInterval, first, last (sysUptime ms). */
const FIELDS: [number, number][] = [[8, 4], [12, 4], [4, 1], [7, 2], [11, 2], [1, 8], [2, 8], [34, 4], [22, 4], [21, 4]];

interface Rec {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  bytes: number;
  packets: number;
  rate: number;
  /** ms before the export time */
  firstAgo: number;
  lastAgo: number;
}

/** One NetFlow v9 datagram with the template and `recs`, exported at `secs` with sysUptime 10 days. */
function v9(secs: number, recs: Rec[], seq = 0): Buffer {
  const uptime = 864_000_000;
  const w = new Writer(64 + recs.length * 48);
  w.u16(9).u16(1 + recs.length).u32(uptime).u32(secs).u32(seq).u32(7);
  w.u16(0).u16(8 + FIELDS.length * 4).u16(256).u16(FIELDS.length);
  for (const [id, len] of FIELDS) w.u16(id).u16(len);
  w.u16(256);
  const at = w.reserve16();
  for (const r of recs) {
    w.u32(r.src).u32(r.dst).u8(17).u16(r.sport).u16(r.dport).u64(BigInt(r.bytes)).u64(BigInt(r.packets)).u32(r.rate).u32(uptime - r.firstAgo).u32(uptime - r.lastAgo);
  }
  while ((w.pos - at + 2) % 4) w.u8(0);
  w.put16(at, w.pos - at + 2);
  return w.finish();
}

const ip = (s: string) => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
const good = (dst: number): Rec => ({ src: ip('192.0.2.10'), dst, sport: 40000, dport: 443, bytes: 15000, packets: 10, rate: 100, firstAgo: 5000, lastAgo: 1000 });

/** Deterministic mutations of good records, one of each kind per five records. */
function fuzzRecords(n: number, dst: () => number, seed = 1): { recs: Rec[]; kinds: Record<ImplausibleReason, number> } {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0) / 4294967296);
  const recs: Rec[] = [];
  const kinds: Record<ImplausibleReason, number> = { implausible_sampling: 0, implausible_size: 0, implausible_rate: 0, implausible_time: 0 };
  for (let i = 0; i < n; i++) {
    const r = good(dst());
    r.sport = 1024 + Math.floor(rnd() * 60000);
    switch (i % 4) {
      case 0: // a sampling rate far past any sampler
        r.rate = 2_000_000 + Math.floor(rnd() * 2_000_000_000);
        kinds.implausible_sampling++;
        break;
      case 1: // more bytes per packet than any IP packet, or fewer than its header
        if (rnd() < 0.5) r.bytes = r.packets * (70000 + Math.floor(rnd() * 1e6));
        else r.bytes = r.packets * Math.floor(rnd() * 20);
        kinds.implausible_size++;
        break;
      case 2: // 2^40..2^50 packets in a few seconds: far beyond 400 Gbit/s
        r.packets = 2 ** (40 + Math.floor(rnd() * 10));
        r.bytes = r.packets * 100;
        kinds.implausible_rate++;
        break;
      case 3: // ends before it starts, or lasts for days
        if (rnd() < 0.5) {
          r.firstAgo = 1000;
          r.lastAgo = 60_000 + Math.floor(rnd() * 1e6);
        } else {
          r.firstAgo = 5 * 86_400_000;
          r.lastAgo = 1000;
        }
        kinds.implausible_time++;
        break;
    }
    recs.push(r);
  }
  return { recs, kinds };
}

test('plausibility: mutated records are dropped before the sink and counted per exporter and reason; sane ones pass', () => {
  const got: FlowRecord[] = [];
  const dec = new FlowDecoder({ record: (r) => void got.push({ ...r }) });
  const { recs, kinds } = fuzzRecords(400, () => ip('203.0.113.20'));
  const sane = [good(ip('203.0.113.21')), { ...good(ip('203.0.113.22')), rate: 1_000_000 }, { ...good(ip('203.0.113.23')), bytes: 10 * 1500, firstAgo: 0, lastAgo: 0 }];
  for (let i = 0; i < recs.length; i += 20) dec.datagram(v9(1_700_000_000, recs.slice(i, i + 20)), '192.0.2.1', 1_700_000_000_000);
  dec.datagram(v9(1_700_000_000, sane), '192.0.2.1', 1_700_000_000_000);
  assert.deepEqual(got.map((r) => r.dst4), sane.map((r) => r.dst), 'only the sane records reach the sink');
  const s = dec.stats.get('192.0.2.1')!;
  assert.equal(s.records, recs.length + sane.length, 'decoded: all of them');
  assert.deepEqual({ implausible_sampling: s.implausible.sampling, implausible_size: s.implausible.size, implausible_rate: s.implausible.rate, implausible_time: s.implausible.time }, kinds);
  assert.equal(s.implausible.last, 1_700_000_000_000);
  assert.deepEqual(s.errors, {}, 'not decode errors');
  // the bounds follow the configuration: a 1 Gbit/s interface refuses 10 Gbit/s records
  const slow = new FlowDecoder({ record: () => assert.fail('over 1 Gbit/s') }, { plausibility: { ...DEFAULT_PLAUSIBILITY, maxInterfaceGbps: 1 } });
  slow.datagram(v9(1_700_000_000, [{ ...good(ip('203.0.113.30')), packets: 1_000_000, bytes: 1_000_000 * 1250, rate: 1, firstAgo: 1000, lastAgo: 0 }]), '192.0.2.1', 0);
  assert.equal(slow.stats.get('192.0.2.1')!.implausible.rate, 1);
  // a default sampling rate above max_rate is not "implausible": the operator set it
  const dflt: FlowRecord[] = [];
  const d2 = new FlowDecoder({ record: (r) => void dflt.push({ ...r }) }, { defaultSamplingRate: 5000, plausibility: { ...DEFAULT_PLAUSIBILITY, maxSamplingRate: 1000 } });
  d2.datagram(v9(1_700_000_000, [{ ...good(ip('203.0.113.31')), rate: 0 }, { ...good(ip('203.0.113.32')), rate: 2000 }, { ...good(ip('203.0.113.33')), rate: 6000 }]), '192.0.2.1', 0);
  assert.deepEqual(dflt.map((r) => r.samplingRate), [5000, 2000], 'max_rate is raised to the default rate, no further');
});

function walk(d: string, out: string[] = []): string[] {
  if (!existsSync(d)) return out;
  for (const n of readdirSync(d)) {
    const p = path.join(d, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(pcap|pcapng|cap)$/.test(n)) out.push(p);
  }
  return out;
}

test('plausibility: every real capture (pcaps/ and the shared corpus) decodes with zero implausible drops', (t) => {
  const files = [...walk(pcaps), ...walk(captures)];
  if (files.length === 0) return t.skip('no captures');
  let records = 0;
  for (const f of files) {
    const dec = new FlowDecoder({ record() {} }, { templateTimeoutMs: Infinity });
    for (const pk of parseCapture(readFileSync(f), newCaptureStats())) if (detectFlowProto(pk.payload)) dec.datagram(pk.payload, pk.src, pk.time);
    for (const s of dec.stats.values()) {
      records += s.records;
      assert.deepEqual({ ...s.implausible, last: 0 }, { sampling: 0, size: 0, rate: 0, time: 0, last: 0 }, `${path.basename(f)} from ${s.exporter}`);
    }
  }
  assert.ok(records > 10_000, `records checked: ${records}`);
});

test('plausibility over real sockets: implausible drops reach the collector stats (dropped.implausible_*, by exporter) while a real exporter is delivered', async () => {
  const delivered = new Map<string, number>();
  const c = new Collector({ netflow: '127.0.0.1:0', sflow: '', workers: 'inline', receiveBufferBytes: 4 << 20, defaultSamplingRate: 1, flowSources: [], boundary: [] }, { record: (r) => void delivered.set(r.exporter, (delivered.get(r.exporter) ?? 0) + 1) }, quiet);
  const fuzzer = dgram.createSocket('udp4');
  const real = dgram.createSocket('udp4');
  try {
    await c.start();
    const port = c.ports.netflow!;
    await new Promise<void>((r) => fuzzer.bind(0, '127.0.0.5', r));
    await new Promise<void>((r) => real.bind(0, '127.0.0.6', r));
    const { recs, kinds } = fuzzRecords(200, () => ip('203.0.113.20'), 7);
    const send = (s: dgram.Socket, b: Buffer) => new Promise<void>((r, j) => s.send(b, port, '127.0.0.1', (e) => (e ? j(e) : r())));
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < recs.length; i += 20) {
      await send(fuzzer, v9(now, recs.slice(i, i + 20), i));
      await send(real, v9(now, [good(ip('198.51.100.7')), good(ip('198.51.100.8'))], i));
    }
    let st = await c.statsNow();
    for (let i = 0; i < 50 && st.datagrams < 20; i++) {
      await new Promise((r) => setTimeout(r, 50));
      st = await c.statsNow();
    }
    assert.equal(st.datagrams, 20);
    assert.equal(delivered.get('127.0.0.6'), 20, 'the real exporter\'s records all reach the sink');
    assert.equal(delivered.get('127.0.0.5'), undefined, 'none of the mutated ones');
    for (const reason of IMPLAUSIBLE_REASONS) {
      assert.equal(st.dropped[reason], kinds[reason], reason);
      assert.deepEqual(st.dropped.implausible_sources[reason], { '127.0.0.5': kinds[reason] }, reason);
    }
    const ex = st.exporters.find((e) => e.exporter === '127.0.0.5')!;
    assert.ok(ex.implausible.last > 0, 'the exporter is flagged');
    assert.equal(st.exporters.find((e) => e.exporter === '127.0.0.6')!.implausible.last, 0);
  } finally {
    fuzzer.close();
    real.close();
    await c.stop();
  }
});

test('plausibility in the engine: under the fuzz no attack exceeds the line-rate bound and a real NTP amplification keeps its vector', (t) => {
  const ntp = path.join(pcaps, 'softflowd-v9-sampled-ntp-amp.pcap');
  if (!existsSync(ntp)) return t.skip('no NTP capture in pcaps/');
  const cfg = loadConfig(path.join(root, 'test/fixtures/engine/detect.yaml'));
  const real = [...readCapture(ntp)];
  const t0 = real[0].time;
  const t1 = real[real.length - 1].time;
  // the fuzz aims at the NTP victim and at quiet hosts of the protected networks, all through the attack
  let k = 0;
  const targets = [ip('203.0.113.20'), ip('198.51.100.50'), ip('198.51.100.51'), ip('203.0.113.77')];
  const { recs } = fuzzRecords(4000, () => targets[k++ % targets.length], 3);
  const fuzz: WritePacket[] = [];
  for (let i = 0; i < recs.length; i += 20) {
    const time = t0 + ((t1 - t0) * i) / recs.length;
    fuzz.push({ time, src: '192.0.2.99', dst: '192.0.2.1', srcPort: 40000, dstPort: 2055, payload: v9(Math.floor(time / 1000), recs.slice(i, i + 20), i) });
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-plausible-'));
  try {
    const fuzzFile = path.join(dir, 'fuzz.pcap');
    writePcap(fuzzFile, fuzz);
    const r = detectCaptures(cfg, [ntp, fuzzFile]);
    const starts = r.events.flatMap((e) => (e.event === 'attack_start' ? [e.attack] : [])) as Attack[];
    const ends = r.events.flatMap((e) => (e.event === 'attack_end' || e.event === 'attack_update' ? [e.attack] : [])) as Attack[];
    const lineRatePps = (DEFAULT_PLAUSIBILITY.maxInterfaceGbps * 1e9) / (84 * 8);
    for (const a of [...starts, ...ends]) {
      assert.ok(a.peak_pps <= lineRatePps, `${a.target}: ${a.peak_pps} pps above the line-rate bound`);
      assert.ok(a.peak_mbps <= DEFAULT_PLAUSIBILITY.maxInterfaceGbps * 1000, `${a.target}: ${a.peak_mbps} Mbit/s`);
    }
    assert.deepEqual(starts.map((a) => [a.target, a.vector]), [['203.0.113.20', 'ntp_amplification']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
