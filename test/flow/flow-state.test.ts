/**
 * One memory budget for all per-exporter flow state (listen.max_flow_state_mb)
 * and a per-exporter template cap (listen.max_template_bytes_per_exporter):
 * a v9 template flood from many spoofed loopback sources, over real sockets,
 * while a real exporter keeps sending.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Writer } from '../../src/core/writer.ts';
import { Collector, type CollectorOptions } from '../../src/flow/collector.ts';
import { FlowDecoder } from '../../src/flow/decode.ts';
import { readCapture } from '../../src/flow/pcap.ts';
import { EVICT } from '../../src/flow/memory.ts';

const root = path.resolve(import.meta.dirname, '../..');
const REAL = path.join(root, 'pcaps/softflowd-v9-benign.pcap');
const quiet = { info() {}, warn() {}, error() {} };
const MiB = 1 << 20;

/** A v9 datagram of `n` data templates (ids from `first`), 19 fields each, as a router's. */
function templates(first: number, n: number, seq: number): Buffer {
  const fields: [number, number][] = [[8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [6, 1], [5, 1], [1, 4], [2, 4], [10, 4], [14, 4], [22, 4], [21, 4], [15, 4], [16, 4], [17, 4], [9, 1], [13, 1], [61, 1]];
  const w = new Writer(64 + n * (4 + fields.length * 4));
  w.u16(9).u16(n).u32(3_600_000).u32(Math.floor(Date.now() / 1000)).u32(seq).u32(0);
  w.u16(0);
  const at = w.reserve16();
  for (let t = 0; t < n; t++) {
    w.u16(first + t).u16(fields.length);
    for (const [id, len] of fields) w.u16(id).u16(len + ((first + t) & 1) * 0); // same shape, distinct ids
  }
  w.put16(at, w.pos - at + 2);
  return w.finish();
}

function opts(o: Partial<CollectorOptions>): CollectorOptions {
  return { netflow: '127.0.0.1:0', sflow: '', workers: 'inline', receiveBufferBytes: 8 << 20, defaultSamplingRate: 1, flowSources: [], boundary: [], ...o };
}

async function bindAt(address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, address, () => resolve());
  });
  return s;
}

const send = (s: dgram.Socket, b: Buffer, port: number) => new Promise<void>((resolve, reject) => s.send(b, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
const turn = () => new Promise<void>((r) => setImmediate(r));

for (const workers of ['inline', 1] as const) {
  test(`flow state budget (workers: ${workers}): a spoofed v9 template flood evicts whole exporters, least recently used first; the real exporter keeps decoding; the state stays within the budget; a reload shrinks it at once`, async (t) => {
    if (!existsSync(REAL)) return t.skip('no pcaps/softflowd-v9-benign.pcap');
    const real = [...readCapture(REAL)].slice(0, 120).map((p) => p.payload);
    // what a direct decode of the real exporter's datagrams gives
    let want = 0;
    const direct = new FlowDecoder({ record: () => void want++ });
    for (const b of real) direct.datagram(b, '127.0.0.9', Date.now());
    assert.ok(want > 100, `the capture has records: ${want}`);

    let got = 0;
    const c = new Collector(opts({ workers, maxFlowStateMb: 2 }), { record: (r) => void (r.exporter === '127.0.0.9' && got++) }, quiet);
    const senders: dgram.Socket[] = [];
    const started = Date.now();
    try {
      await c.start();
      const port = c.ports.netflow!;
      const realSock = await bindAt('127.0.0.9');
      senders.push(realSock);
      // 64 spoofed sources (127.1.0.1 .. 127.1.0.64), each 8 rounds x 25 templates: 12 800 templates
      for (let i = 1; i <= 64; i++) senders.push(await bindAt(`127.1.0.${i}`));
      const flood = senders.slice(1);
      let r = 0;
      for (let round = 0; round < 8; round++) {
        for (let i = 0; i < flood.length; i++) {
          await send(flood[i], templates(256 + round * 25, 25, round), port);
          if ((i & 7) === 0 && r < real.length) await send(realSock, real[r++], port);
          await turn();
        }
        assert.ok(Date.now() - started < 60_000, 'bounded in time');
      }
      while (r < real.length) {
        await send(realSock, real[r++], port);
        await turn();
      }
      let st = await c.statsNow();
      for (let i = 0; i < 100 && (st.datagrams < 64 * 8 + real.length || got < want); i++) {
        await new Promise((res) => setTimeout(res, 50));
        st = await c.statsNow();
      }
      assert.equal(st.datagrams, 64 * 8 + real.length, 'every datagram was received');
      assert.ok((st.flowState.evictions[EVICT.budget] ?? 0) > 0, `exporters evicted: ${JSON.stringify(st.flowState.evictions)}`);
      assert.ok(st.flowState.bytes <= 2 * MiB, `accounted state ${st.flowState.bytes} within the 2 MiB budget`);
      assert.equal(st.flowState.limitBytes, 2 * MiB);
      assert.equal(got, want, 'the real exporter\'s records were all decoded during the flood');
      const realStats = st.exporters.find((e) => e.exporter === '127.0.0.9');
      assert.ok(realStats, 'the real exporter keeps its state');
      assert.equal(realStats.errors.no_template ?? 0, direct.stats.get('127.0.0.9')!.errors.no_template ?? 0, 'it never lost its templates');
      assert.ok(st.exporters.length < 65, `spoofed exporters forgotten: ${st.exporters.length} left`);

      // listen.max_flow_state_mb lowered by a reload: applied at once, without rebinding
      const before = st.flowState.evictions[EVICT.budget];
      assert.equal(c.reconfigure(opts({ workers, maxFlowStateMb: 1 })), false, 'no rebind');
      st = await c.statsNow();
      for (let i = 0; i < 40 && st.flowState.limitBytes !== MiB; i++) {
        await new Promise((res) => setTimeout(res, 50));
        st = await c.statsNow();
      }
      assert.equal(st.flowState.limitBytes, MiB);
      assert.ok(st.flowState.bytes <= MiB, `after the reload: ${st.flowState.bytes}`);
      assert.ok(st.flowState.evictions[EVICT.budget] > before, 'the smaller budget evicted more');
    } finally {
      for (const s of senders) s.close();
      await c.stop();
    }
  });
}

test('listen.max_template_bytes_per_exporter: one exporter\'s templates past the cap are refused and counted; others are unaffected', () => {
  const dec = new FlowDecoder({ record() {} }, { maxTemplateBytesPerExporter: 64 * 1024 });
  for (let round = 0; round < 40; round++) dec.datagram(templates(256 + round * 10, 10, round), '192.0.2.1', Date.now());
  const s = dec.stats.get('192.0.2.1')!;
  assert.ok(s.templates > 0 && s.templates < 400, `templates kept: ${s.templates}`);
  assert.equal(s.errors.template_bytes_limit, 400 - s.templates);
  dec.datagram(templates(256, 5, 0), '192.0.2.2', Date.now());
  assert.equal(dec.stats.get('192.0.2.2')!.templates, 5);
});
