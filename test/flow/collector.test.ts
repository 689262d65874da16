import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { BatchReader, BatchWriter, SLOT_BYTES } from '../../src/flow/record_batch.ts';
import { BoundarySink, CountingSink } from '../../src/flow/sink.ts';
import { Collector, IngestPipeline, MAX_EXPORTERS, type CollectorOptions } from '../../src/flow/collector.ts';
import { FlowDecoder } from '../../src/flow/decode.ts';
import { AddressNames, listenUdp, UdpSender } from '../../src/flow/listener.ts';
import { readCapture, writePcap } from '../../src/flow/pcap.ts';
import { F, newFlowRecord, type FlowProto, type FlowRecord, type FlowSink } from '../../src/flow/record.ts';
import { formatIPv4, formatIPv6 } from '../../src/core/ip.ts';
import { fixtures } from '../fixtures/sflow/build.ts';
import { nativeAddon } from '../helpers/native.ts';

/** Both receivers when the batched one can be built (CI builds it); node:dgram alone otherwise. */
const noBatched = nativeAddon('udp_recv.node');
const RECEIVERS: ('dgram' | 'batched')[] = noBatched ? ['dgram'] : ['dgram', 'batched'];

const repoRoot = path.resolve(import.meta.dirname, '../..');
const capturesDir = path.resolve(repoRoot, '../shared/flows/captures');
const haveCaptures = existsSync(capturesDir);
const quiet = { info() {}, warn() {}, error() {} };

/** Everything a record says, as one comparable line (exporter and receive time excluded). */
function line(r: FlowRecord): string {
  const a = (v4: number, v6: Uint8Array) => (r.family === 4 ? formatIPv4(v4) : formatIPv6(v6));
  return [r.proto, r.domain, r.family, a(r.src4, r.src6), a(r.dst4, r.dst6), r.srcPort, r.dstPort, r.ipProto, r.tcpFlags, r.icmpType, r.icmpCode, r.fragment, r.bytes, r.packets, r.samplingRate, r.inIf, r.outIf, r.fields, r.start === 0 ? 0 : 's', r.end === 0 ? 0 : 'e'].join(' ');
}

class Lines implements FlowSink {
  lines: string[] = [];
  exporters = new Set<string>();
  record(r: FlowRecord): void {
    this.lines.push(line(r));
    this.exporters.add(r.exporter);
  }
}

function opts(o: Partial<CollectorOptions> = {}): CollectorOptions {
  return { netflow: '127.0.0.1:0', sflow: '127.0.0.1:0', workers: 'inline', receiveBufferBytes: 4 << 20, defaultSamplingRate: 1, flowSources: [], boundary: [], ...o };
}

/** Datagrams to send: the hand-made sFlow fixtures plus real captures when present. */
function corpus(): { sflow: Buffer[]; netflow: Buffer[] } {
  const sflow = fixtures().map((f) => f.payload);
  const netflow: Buffer[] = [];
  if (haveCaptures) {
    let i = 0;
    for (const p of readCapture(path.join(capturesDir, 'sflow_overflowd_1000pkt.pcap'))) if (i++ < 150) sflow.push(p.payload);
    for (const f of ['nf5_overflowd_500pkt.pcap', 'ipfix_pmacct_cisco.pcap', 'nf9_akvorado_icmp.pcap']) {
      let k = 0;
      const file = path.join(capturesDir, f);
      if (existsSync(file)) for (const p of readCapture(file)) if (k++ < 60) netflow.push(p.payload);
    }
  }
  return { sflow, netflow };
}

function direct(dgs: Buffer[], exporter: string): string[] {
  const s = new Lines();
  const d = new FlowDecoder(s);
  for (const b of dgs) d.datagram(b, exporter, Date.now());
  return s.lines;
}

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends with a little pacing so loopback never overflows a receive buffer. */
async function sendAll(s: UdpSender, dgs: Buffer[], port: number, host: string): Promise<void> {
  for (let i = 0; i < dgs.length; i++) {
    await s.send(dgs[i], port, host);
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 2));
  }
}

const sorted = (xs: string[]) => [...xs].sort();

/* ---------------------------------------------------------------- batches */

test('batch: records survive the binary slot encoding exactly', () => {
  const protos: FlowProto[] = ['netflow5', 'netflow9', 'ipfix', 'sflow5'];
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          proto: fc.constantFrom(...protos),
          exporter: fc.constantFrom('192.0.2.1', '2001:db8::9', '198.51.100.3'),
          domain: fc.nat({ max: 0xffffffff }),
          v6: fc.boolean(),
          a: fc.uint8Array({ minLength: 16, maxLength: 16 }),
          b: fc.uint8Array({ minLength: 16, maxLength: 16 }),
          s4: fc.nat({ max: 0xffffffff }),
          d4: fc.nat({ max: 0xffffffff }),
          ports: fc.tuple(fc.nat({ max: 65535 }), fc.nat({ max: 65535 })),
          small: fc.tuple(fc.nat({ max: 255 }), fc.nat({ max: 255 }), fc.nat({ max: 255 }), fc.nat({ max: 255 }), fc.nat({ max: 1 })),
          bytes: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
          packets: fc.nat({ max: 2 ** 40 }),
          rate: fc.integer({ min: 1, max: 0xffffffff }),
          ifs: fc.tuple(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff })),
          times: fc.tuple(fc.nat({ max: 2 ** 45 }), fc.nat({ max: 2 ** 45 }), fc.double({ min: 0, max: 2 ** 45, noNaN: true })),
          fields: fc.nat({ max: 0xffff }),
          rev: fc.tuple(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.nat({ max: 2 ** 40 })),
          direction: fc.nat({ max: 1 }),
        }),
        { maxLength: 40 },
      ),
      fc.integer({ min: 1, max: 16 }),
      (specs, cap) => {
        const recs: FlowRecord[] = specs.map((s) => {
          const r = newFlowRecord();
          r.proto = s.proto;
          r.exporter = s.exporter;
          r.domain = s.domain;
          r.family = s.v6 ? 6 : 4;
          if (s.v6) {
            r.src6.set(s.a);
            r.dst6.set(s.b);
          } else {
            r.src4 = s.s4;
            r.dst4 = s.d4;
          }
          [r.srcPort, r.dstPort] = s.ports;
          [r.ipProto, r.tcpFlags, r.icmpType, r.icmpCode, r.fragment] = s.small;
          r.bytes = s.bytes;
          r.packets = s.packets;
          r.samplingRate = s.rate;
          [r.inIf, r.outIf] = s.ifs;
          [r.start, r.end, r.received] = s.times;
          r.fields = s.fields;
          [r.revBytes, r.revPackets] = s.rev;
          r.direction = s.direction;
          return r;
        });
        const w = new BatchWriter(cap);
        const batches: ReturnType<BatchWriter['take']>[] = [];
        w.onFull = () => batches.push(w.take());
        for (const r of recs) w.record(r);
        batches.push(w.take());
        const got: FlowRecord[] = [];
        const reader = new BatchReader();
        for (const b of batches) if (b) reader.read(b, { record: (r) => void got.push({ ...r, src6: Uint8Array.from(r.src6), dst6: Uint8Array.from(r.dst6) }) });
        assert.deepEqual(got, recs);
        // The same through ONE reused scratch record, as the decoders hand them over.
        const scratch = newFlowRecord();
        const w2 = new BatchWriter(cap);
        const again: FlowRecord[] = [];
        const read2 = (b: ReturnType<BatchWriter['take']>) => b && reader.read(b, { record: (r) => void again.push({ ...r, src6: Uint8Array.from(r.src6), dst6: Uint8Array.from(r.dst6) }) });
        w2.onFull = () => read2(w2.take());
        for (const r of recs) {
          Object.assign(scratch, { ...r, src6: scratch.src6, dst6: scratch.dst6 });
          scratch.src6.set(r.src6);
          scratch.dst6.set(r.dst6);
          w2.record(scratch);
        }
        read2(w2.take());
        assert.deepEqual(again, recs);
      },
    ),
    { numRuns: 300 },
  );
});

test('batch writer drops and counts records when no buffer is available', () => {
  let given = 0;
  const w = new BatchWriter(2, () => (given++ < 1 ? new ArrayBuffer(2 * SLOT_BYTES) : null));
  const r = newFlowRecord();
  for (let i = 0; i < 5; i++) w.record(r);
  assert.equal(w.count, 2);
  assert.equal(w.dropped, 3);
});

test('address names: one string per exporter, IPv4-mapped addresses in dotted form, bounded', () => {
  const n = new AddressNames();
  // Fresh strings with equal content, as node:dgram hands them over.
  const fresh = (s: string) => [...s].join('');
  const a = n.name(fresh('::ffff:192.0.2.7'));
  assert.equal(a, '192.0.2.7');
  assert.equal(n.name('2001:db8::1'), '2001:db8::1');
  assert.equal(n.name('::1'), '::1');
  assert.equal(n.name('::ffff:0:1'), '::ffff:0:1', 'not a mapped IPv4 address');
  assert.equal(n.name(fresh('::ffff:192.0.2.7')), '192.0.2.7', 'again, after other exporters');
  for (let i = 0; i < 20000; i++) n.name(`::ffff:10.0.${i >> 8}.${i & 255}`);
  assert.equal(n.name('::ffff:10.0.0.1'), '10.0.0.1');
});

/* ---------------------------------------------------------------- boundary */

test('boundary sink: only records entering on external interfaces of listed exporters pass', () => {
  const c = new CountingSink();
  const b = new BoundarySink(c, [{ exporter: '2001:DB8::0001', external_ifindexes: [10, 11] }, { exporter: '192.0.2.1', external_ifindexes: [1] }]);
  const r = newFlowRecord();
  const send = (exp: string, inIf: number | null) => {
    r.exporter = exp;
    r.inIf = inIf ?? 0;
    r.fields = inIf === null ? 0 : F.IN_IF;
    b.record(r);
  };
  send('2001:db8::1', 10);
  send('2001:db8::1', 12);
  send('2001:db8::1', null);
  send('192.0.2.1', 1);
  send('192.0.2.1', 2);
  send('192.0.2.99', 7); // not listed: passes
  assert.equal(c.records, 3);
  assert.equal(b.dropped, 3);
  b.setRules([]);
  send('192.0.2.1', 2);
  assert.equal(c.records, 4);
});

test('pipeline: state for at most MAX_EXPORTERS sources; a spoofed flood of sources is dropped and counted', () => {
  const c = new CountingSink();
  const p = new IngestPipeline(c, { defaultSamplingRate: 1, flowSources: [], boundary: [] });
  const dg = fixtures()[0].payload;
  for (let i = 0; i < MAX_EXPORTERS + 50; i++) p.datagram(dg, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 1);
  p.datagram(dg, '10.0.0.0', 2); // known: still decoded
  const st = p.snapshot();
  assert.equal(st.exporters.length, MAX_EXPORTERS);
  assert.equal(st.exporterLimit, 50);
  assert.equal(c.records, MAX_EXPORTERS + 1);
});

/* ---------------------------------------------------------------- collector */

test('collector inline: datagrams over UDP give the same records as a direct decode (IPv4), with either receiver', async (t) => {
  if (noBatched) t.diagnostic(`batched receiver not tested: ${noBatched}`);
  for (const receiver of RECEIVERS) {
    const { sflow, netflow } = corpus();
    const sink = new Lines();
    const col = new Collector(opts({ receiver }), sink, quiet);
    t.after(() => col.stop());
    await col.start();
    assert.equal(col.receiver, receiver);
    assert.ok(col.ports.sflow! > 0 && col.ports.netflow! > 0);
    const s = new UdpSender(4);
    t.after(() => s.close());
    await sendAll(s, sflow, col.ports.sflow!, '127.0.0.1');
    await sendAll(s, netflow, col.ports.netflow!, '127.0.0.1');
    const want = [...direct(sflow, '127.0.0.1'), ...direct(netflow, '127.0.0.1')];
    await until(() => sink.lines.length >= want.length);
    assert.deepEqual(sorted(sink.lines), sorted(want));
    assert.deepEqual([...sink.exporters], ['127.0.0.1']);
    const st = col.stats();
    assert.equal(st.datagrams, sflow.length + netflow.length);
    assert.equal(st.records, want.length);
    assert.equal(st.delivered, want.length);
    assert.equal(st.exporters.length, 1);
    assert.equal(st.dropped.receive_buffer, 0);
    t.diagnostic(`${receiver}: ${st.datagrams} datagrams, ${st.records} records; receive buffer granted ${col.receiveBufferBytes}`);
    await col.stop();
  }
});

test('collector inline: ":0" is dual-stack, IPv6 (::1) and IPv4 exporters named plainly, with either receiver', async (t) => {
  for (const receiver of RECEIVERS) {
    const fx = fixtures();
    const sink = new Lines();
    const col = new Collector(opts({ netflow: '', sflow: ':0', receiver }), sink, quiet);
    t.after(() => col.stop());
    await col.start();
    assert.equal(col.ports.netflow, null);
    const s6 = new UdpSender(6);
    const s4 = new UdpSender(4);
    t.after(() => s6.close());
    t.after(() => s4.close());
    const dgs = fx.map((f) => f.payload);
    await sendAll(s6, dgs, col.ports.sflow!, '::1');
    await sendAll(s4, dgs, col.ports.sflow!, '127.0.0.1');
    const want = direct(dgs, 'x');
    await until(() => sink.lines.length >= 2 * want.length);
    assert.deepEqual(sorted(sink.lines), sorted([...want, ...want]));
    assert.deepEqual([...sink.exporters].sort(), ['127.0.0.1', '::1']);
    await col.stop();
  }
});

test('collector with 2 workers: same records, stats merged, one exporter sticks to one worker, with either receiver', async (t) => {
  for (const receiver of RECEIVERS) {
    const { sflow, netflow } = corpus();
    const sink = new Lines();
    const col = new Collector(opts({ workers: 2, flushMs: 2, receiver }), sink, quiet);
    t.after(() => col.stop());
    await col.start();
    assert.equal(col.workerCount, 2);
    assert.equal(col.receiver, receiver);
    // One sender (one source port): the kernel's reuseport hash keeps it on one socket.
    const s = new UdpSender(4);
    t.after(() => s.close());
    await sendAll(s, sflow, col.ports.sflow!, '127.0.0.1');
    await sendAll(s, netflow, col.ports.netflow!, '127.0.0.1');
    const want = [...direct(sflow, '127.0.0.1'), ...direct(netflow, '127.0.0.1')];
    await until(async () => (await col.statsNow()).delivered >= want.length);
    assert.deepEqual(sorted(sink.lines), sorted(want));
    const st = await col.statsNow();
    assert.equal(st.datagrams, sflow.length + netflow.length);
    assert.equal(st.records, want.length);
    assert.equal(st.exporters.length, 1, 'exporter stats merged across workers');
    assert.equal(st.exporters[0].datagrams, sflow.length + netflow.length);
    // Per socket (port), all datagrams of this one sender reached a single worker.
    const per = col.workerStats().map((w) => w.datagrams);
    t.diagnostic(`per-worker datagrams from one sender: ${per}`);
    assert.ok(per.filter((n) => n > 0).length <= 2, 'netflow and sflow ports may hash differently');

    // Many senders (different source ports) spread over both workers.
    const senders = Array.from({ length: 16 }, () => new UdpSender(4));
    t.after(() => Promise.all(senders.map((x) => x.close())));
    const before = col.workerStats().map((w) => w.datagrams);
    const one = fixtures()[0].payload;
    for (const x of senders) for (let i = 0; i < 5; i++) await x.send(one, col.ports.sflow!, '127.0.0.1');
    await until(async () => (await col.statsNow()).datagrams >= sflow.length + netflow.length + 80);
    const after = col.workerStats().map((w) => w.datagrams);
    const delta = after.map((n, i) => n - before[i]);
    t.diagnostic(`16 senders x 5 datagrams per worker: ${delta}`);
    assert.equal(delta.reduce((a, b) => a + b, 0), 80);
    assert.ok(delta.every((n) => n > 0), 'both workers receive');
    assert.ok(delta.every((n) => n % 5 === 0), 'each sender stays on one worker');
    await col.stop();
  }
});

test('collector: flow_sources allowlist drops and counts, reconfigure lets them in without rebinding', async (t) => {
  for (const workers of ['inline', 1] as const) {
    const sink = new Lines();
    const col = new Collector(opts({ workers, flowSources: ['192.0.2.0/24', '2001:db8::/32'], statsIntervalMs: 50 }), sink, quiet);
    t.after(() => col.stop());
    await col.start();
    const port = col.ports.sflow!;
    const s = new UdpSender(4);
    t.after(() => s.close());
    const dg = fixtures()[0].payload;
    for (let i = 0; i < 3; i++) await s.send(dg, port, '127.0.0.1');
    await until(async () => (await col.statsNow()).dropped.not_allowed >= 3);
    let st = await col.statsNow();
    assert.equal(sink.lines.length, 0);
    assert.deepEqual(st.dropped.not_allowed_sources, { '127.0.0.1': 3 });
    assert.equal(st.records, 0);
    assert.equal(col.reconfigure(opts({ workers, flowSources: ['127.0.0.0/8'] })), false, 'no rebind needed');
    assert.equal(col.ports.sflow, port);
    await new Promise((r) => setTimeout(r, 50));
    await s.send(dg, port, '127.0.0.1');
    await until(() => sink.lines.length >= 1);
    st = await col.statsNow();
    assert.equal(st.dropped.not_allowed, 3);
    assert.throws(() => col.reconfigure(opts({ workers, flowSources: ['not-a-prefix'] })));
    await col.stop();
  }
});

test('collector: sampling.boundary and default rate apply, and can be reconfigured', async (t) => {
  const fx = fixtures().find((f) => f.name === 'ipv6-extension-headers-fragments-ah')!; // in_if 11, 12, 13
  const sink = new Lines();
  const col = new Collector(opts({ workers: 1, boundary: [{ exporter: '127.0.0.1', external_ifindexes: [12] }] }), sink, quiet);
  t.after(() => col.stop());
  await col.start();
  const s = new UdpSender(4);
  t.after(() => s.close());
  await s.send(fx.payload, col.ports.sflow!, '127.0.0.1');
  await until(async () => (await col.statsNow()).dropped.boundary >= 2);
  assert.equal(sink.lines.length, 1);
  assert.match(sink.lines[0], / 12 22 /);
  col.reconfigure(opts({ workers: 1, boundary: [] }));
  await new Promise((r) => setTimeout(r, 30));
  await s.send(fx.payload, col.ports.sflow!, '127.0.0.1');
  await until(() => sink.lines.length >= 4);
  // A sample with sampling rate 0 takes sampling.default_rate, which reconfigure changes.
  const rate0 = fixtures().find((f) => f.name === 'compact-9100-ipv4-options-tcp-syn-rate0')!.payload;
  await s.send(rate0, col.ports.sflow!, '127.0.0.1');
  await until(() => sink.lines.length >= 5);
  assert.equal(sink.lines[4].split(' ')[14], '1');
  col.reconfigure(opts({ workers: 1, boundary: [], defaultSamplingRate: 77 }));
  await new Promise((r) => setTimeout(r, 30));
  await s.send(rate0, col.ports.sflow!, '127.0.0.1');
  await until(() => sink.lines.length >= 6);
  assert.equal(sink.lines[5].split(' ')[14], '77');
});

test('collector: malformed datagrams are counted and the collector keeps decoding', async (t) => {
  for (const [workers, receiver] of (['inline', 2] as const).flatMap((w) => RECEIVERS.map((r) => [w, r] as const))) {
    const sink = new Lines();
    const col = new Collector(opts({ workers, receiver }), sink, quiet);
    t.after(() => col.stop());
    await col.start();
    const s = new UdpSender(4);
    t.after(() => s.close());
    const good = fixtures()[0].payload;
    const bad = [Buffer.alloc(0), Buffer.from([0, 5]), Buffer.from('hello world, not a flow'), good.subarray(0, 40), Buffer.concat([good.subarray(0, 30), Buffer.alloc(200, 0xff)])];
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => void bad.push(Buffer.from(b))), { numRuns: 100 });
    for (const b of bad) await s.send(b, col.ports.sflow!, '127.0.0.1');
    await s.send(good, col.ports.sflow!, '127.0.0.1');
    await until(async () => (await col.statsNow()).datagrams >= bad.length + 1);
    const st = await col.statsNow();
    const errs = Object.values(st.exporters[0].errors).reduce((a, b) => a + b, 0);
    assert.ok(errs >= 5, `errors counted: ${JSON.stringify(st.exporters[0].errors)}`);
    assert.ok(sink.lines.includes(direct([good], 'x')[0]), 'the good datagram after the garbage decoded');
    await col.stop();
  }
});

test('collector with a worker: a record of a partial batch reaches the sink within flushMs; a full batch leaves at once', async (t) => {
  const flushMs = 150;
  // Slack for a loaded machine: timers and thread wake-ups may run late.
  const slack = 250;
  const dg = fixtures()[0].payload;
  const per = direct([dg], 'x').length;
  assert.ok(per >= 1);
  const seen: number[] = [];
  const col = new Collector(opts({ workers: 1, flushMs, batchRecords: 4096, netflow: '' }), { record: () => void seen.push(performance.now()) }, quiet);
  t.after(() => col.stop());
  await col.start();
  const s = new UdpSender(4);
  t.after(() => s.close());
  // Single datagrams at irregular moments: each one's batch is far from full.
  const latencies: number[] = [];
  for (const gap of [0, 37, 91, 5, 160]) {
    await new Promise((r) => setTimeout(r, gap));
    const before = seen.length;
    const t0 = performance.now();
    await s.send(dg, col.ports.sflow!, '127.0.0.1');
    await until(() => seen.length >= before + per, flushMs + slack + 2000);
    latencies.push(seen[before] - t0);
  }
  t.diagnostic(`latencies with flushMs ${flushMs}: ${latencies.map((x) => x.toFixed(0)).join(', ')} ms`);
  for (const l of latencies) assert.ok(l <= flushMs + slack, `a record waited ${l.toFixed(0)} ms (flushMs ${flushMs})`);
  // Partial batches really wait for the timer (they are not sent per datagram).
  assert.ok(Math.max(...latencies) >= flushMs * 0.5, `batches were held: ${latencies.join(', ')}`);
  await col.stop();

  // A batch that fills leaves without waiting for a long flushMs.
  const seen2: number[] = [];
  const col2 = new Collector(opts({ workers: 1, flushMs: 60_000, batchRecords: per, netflow: '' }), { record: () => void seen2.push(performance.now()) }, quiet);
  t.after(() => col2.stop());
  await col2.start();
  const t0 = performance.now();
  await s.send(dg, col2.ports.sflow!, '127.0.0.1');
  await until(() => seen2.length >= per, 5000);
  t.diagnostic(`full batch after ${(seen2[0] - t0).toFixed(1)} ms`);
  assert.ok(seen2[0] - t0 < 1000);
  // The statistics say the same: nothing decoded waits in the worker.
  const st = await col2.statsNow();
  assert.equal(st.delivered, st.records);
});

test('collector: after stop() every decoded record has reached the sink', async (t) => {
  const { sflow } = corpus();
  const sink = new Lines();
  const col = new Collector(opts({ workers: 2, flushMs: 1000, batchRecords: 4096 }), sink, quiet);
  t.after(() => col.stop());
  await col.start();
  const s = new UdpSender(4);
  t.after(() => s.close());
  await sendAll(s, sflow, col.ports.sflow!, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 100));
  await col.stop();
  const st = col.stats();
  assert.ok(st.records > 0);
  assert.equal(st.delivered, st.records, 'the last partial batches were flushed on stop');
  assert.equal(sink.lines.length, st.records);
});

test('collector: stop() frees the ports', async () => {
  for (const [workers, receiver] of (['inline', 2] as const).flatMap((w) => RECEIVERS.map((r) => [w, r] as const))) {
    const col = new Collector(opts({ workers, receiver, sflow: '127.0.0.1:0', netflow: '[::1]:0' }), new CountingSink(), quiet);
    await col.start();
    const { sflow, netflow } = col.ports;
    await col.stop();
    // Binding without SO_REUSEPORT succeeds only when nobody holds the port.
    const a = await listenUdp({ host: '127.0.0.1', port: sflow! }, {}, () => {});
    const b = await listenUdp({ host: '::1', port: netflow! }, {}, () => {});
    await a.close();
    await b.close();
  }
});

test('collector: a port in use fails start() cleanly', async () => {
  const holder = await listenUdp({ host: '127.0.0.1', port: 0 }, {}, () => {});
  try {
    for (const [workers, receiver] of (['inline', 2] as const).flatMap((w) => RECEIVERS.map((r) => [w, r] as const))) {
      const col = new Collector(opts({ workers, receiver, sflow: `127.0.0.1:${holder.port}` }), new CountingSink(), quiet);
      await assert.rejects(col.start(), /EADDRINUSE|in use/i);
      await col.stop();
    }
  } finally {
    await holder.close();
  }
});

const havePmacctd = spawnSync('pmacctd', ['-V'], { encoding: 'utf8' }).status !== null && spawnSync('which', ['pmacctd']).status === 0;

test('real exporter: pmacctd (sfprobe) exports a pcap into the collector', { skip: !havePmacctd && 'pmacctd not installed' }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-pmacct-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // 3 UDP flows x 10 packets of 100 bytes, and 2 TCP packets over IPv4.
  const pk = [];
  for (let i = 0; i < 30; i++) pk.push({ time: 1_700_000_000_000 + i * 10, src: `198.51.100.${1 + (i % 3)}`, dst: '203.0.113.9', srcPort: 1000 + (i % 3), dstPort: 53, payload: Buffer.alloc(100) });
  writePcap(path.join(dir, 'traffic.pcap'), pk);
  const sink = new Lines();
  const col = new Collector(opts({ workers: 1 }), sink, quiet);
  t.after(() => col.stop());
  await col.start();
  writeFileSync(
    path.join(dir, 'pmacctd.conf'),
    [`daemonize: false`, `pcap_savefile: ${path.join(dir, 'traffic.pcap')}`, `plugins: sfprobe`, `sfprobe_receiver: 127.0.0.1:${col.ports.sflow}`, `sampling_rate: 1`, `pidfile: ${path.join(dir, 'pid')}`].join('\n') + '\n',
  );
  // Its own process group: pmacctd forks a plugin process that outlives the core
  // process, so the whole group (and only it) is stopped at the end.
  const p = spawn('pmacctd', ['-f', path.join(dir, 'pmacctd.conf')], { stdio: 'ignore', detached: true });
  const killGroup = () => {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const killer = setTimeout(killGroup, 15000);
  t.after(() => {
    clearTimeout(killer);
    killGroup();
  });
  await until(async () => (await col.statsNow()).records >= 30, 15000);
  const st = await col.statsNow();
  assert.equal(st.exporters[0].byProto.sflow5, st.exporters[0].datagrams);
  const udp = sink.lines.filter((l) => / 203\.0\.113\.9 /.test(l));
  assert.equal(udp.length, 30, 'one sample per packet at 1/1');
  for (const l of udp) {
    const f = l.split(' ');
    // proto domain family src dst sport dport ipproto ... bytes packets rate
    assert.equal(f[0], 'sflow5');
    assert.match(f[3], /^198\.51\.100\.[123]$/);
    assert.equal(f[6], '53');
    assert.equal(f[5], String(1000 + Number(f[3].split('.')[3]) - 1));
    assert.equal(f[7], '17');
    assert.equal(f[12], String(20 + 8 + 100), 'bytes = IP length');
    assert.equal(f[13], '1');
    assert.equal(f[14], '1');
  }
});

test('collectorOptions: built from the validated config', async () => {
  const { parseConfigText } = await import('../../src/config/load.ts');
  const { collectorOptions } = await import('../../src/flow/collector.ts');
  const cfg = parseConfigText(
    [
      'listen: { netflow: ":2055", sflow: "[::1]:6343", workers: 3, receive_buffer_bytes: 1048576, receiver: dgram }',
      'sampling: { default_rate: 100, boundary: [{ exporter: 192.0.2.1, external_ifindexes: [1, 2] }] }',
      'flow_sources: [192.0.2.0/24]',
    ].join('\n'),
  );
  assert.deepEqual(collectorOptions(cfg), {
    netflow: ':2055', sflow: '[::1]:6343', workers: 3, receiveBufferBytes: 1 << 20, receiver: 'dgram', defaultSamplingRate: 100, flowSources: ['192.0.2.0/24'], boundary: [{ exporter: '192.0.2.1', external_ifindexes: [1, 2] }],
    plausibility: { maxSamplingRate: 1_000_000, maxInterfaceGbps: 400, maxFlowSeconds: 86_400 }, maxFlowStateMb: 64, maxTemplateBytesPerExporter: 16 << 20,
  });
  assert.equal(collectorOptions(cfg, 'inline').workers, 'inline');
});
