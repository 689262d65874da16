/**
 * NetFlow v5 / v9 and IPFIX decode speed on one core: records per second from
 * in-memory datagrams through FlowDecoder.datagram() into a no-op counting
 * sink. Synthetic datagrams shaped like a router's: v5 with 30 records, v9
 * with a 19-field IPv4 template (30 records), IPFIX with a 20-field template
 * (8-byte counters, millisecond times; 25 records).
 */
import { opsPerSecond, type BenchContext, type BenchRow } from '../../bench/harness.ts';
import { Writer } from '../core/writer.ts';
import { FlowDecoder } from './decode.ts';
import type { FlowRecord } from './record.ts';

export const prefix = 'decode';

/** Synthetic NetFlow v5 datagram: 30 records. */
export function v5(seq: number): Buffer {
  const w = new Writer(1500);
  w.u16(5).u16(30).u32(3600000).u32(1700000000).u32(0).u32(seq).u8(0).u8(0).u16(0);
  for (let i = 0; i < 30; i++) {
    const k = seq * 30 + i;
    w.u32(0x0a000000 + k).u32(0xc6336400 + (k & 0xff)).u32(0).u16(k & 31).u16(7).u32(1 + (k & 15)).u32(64 + k * 13).u32(3590000).u32(3599000);
    w.u16(1024 + (k & 0x7fff)).u16(443).u8(0).u8(0x10).u8(6).u8(0).u16(64500).u16(64501).u8(24).u8(24).u16(0);
  }
  return w.finish();
}

const V9_FIELDS: [number, number][] = [
  [8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [6, 1], [5, 1], [1, 4], [2, 4], [10, 4], [14, 4], [22, 4], [21, 4], [15, 4], [16, 4], [17, 4], [9, 1], [13, 1], [61, 1],
];

/** Synthetic NetFlow v9 datagram: 30 records (template 256 first when asked). */
export function v9(seq: number, withTemplate: boolean): Buffer {
  const w = new Writer(1500);
  w.u16(9).u16(withTemplate ? 31 : 30).u32(3600000).u32(1700000000).u32(seq).u32(1);
  if (withTemplate) {
    w.u16(0).u16(8 + V9_FIELDS.length * 4).u16(256).u16(V9_FIELDS.length);
    for (const [id, len] of V9_FIELDS) w.u16(id).u16(len);
  }
  w.u16(256);
  const at = w.reserve16();
  for (let i = 0; i < 30; i++) {
    const k = seq * 30 + i;
    w.u32(0x0a000000 + k).u32(0xc6336400 + (k & 0xff)).u16(1024 + (k & 0x7fff)).u16(443).u8(6).u8(0x10).u8(0);
    w.u32(64 + k * 13).u32(1 + (k & 15)).u32(k & 31).u32(7).u32(3590000).u32(3599000).u32(0).u32(64500).u32(64501).u8(24).u8(24).u8(0);
  }
  while ((w.pos - at + 2) % 4) w.u8(0);
  w.put16(at, w.pos - at + 2);
  return w.finish();
}

const IPFIX_FIELDS: [number, number][] = [
  [8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [6, 1], [5, 1], [1, 8], [2, 8], [10, 4], [14, 4], [152, 8], [153, 8], [15, 4], [16, 4], [17, 4], [9, 1], [13, 1], [61, 1], [302, 4],
];

/** Synthetic IPFIX message: 25 records (template 256 first when asked). */
export function ipfix(seq: number, withTemplate: boolean): Buffer {
  const w = new Writer(1500);
  w.u16(10);
  const lenAt = w.reserve16();
  w.u32(1700000000).u32(seq).u32(1);
  if (withTemplate) {
    w.u16(2).u16(8 + IPFIX_FIELDS.length * 4).u16(256).u16(IPFIX_FIELDS.length);
    for (const [id, len] of IPFIX_FIELDS) w.u16(id).u16(len);
  }
  w.u16(256);
  const at = w.reserve16();
  for (let i = 0; i < 25; i++) {
    const k = seq * 25 + i;
    w.u32(0x0a000000 + k).u32(0xc6336400 + (k & 0xff)).u16(1024 + (k & 0x7fff)).u16(443).u8(6).u8(0x10).u8(0);
    w.u64(64 + k * 13).u64(1 + (k & 15)).u32(k & 31).u32(7).u64(1699999990000 + k).u64(1699999999000 + k).u32(0).u32(64500).u32(64501).u8(24).u8(24).u8(0).u32(1);
  }
  w.put16(at, w.pos - at + 2);
  w.put16(lenAt, w.pos);
  return w.finish();
}

function measure(name: string, datagrams: Buffer[], first: Buffer | null, ms: number): BenchRow {
  let n = 0;
  const sink = {
    record(r: FlowRecord) {
      if (r.packets >= 0) n++;
    },
  };
  const dec = new FlowDecoder(sink);
  if (first) dec.datagram(first, '192.0.2.1', 1700000000000);
  const run = () => {
    let c = 0;
    for (let i = 0; i < datagrams.length; i++) c += dec.datagram(datagrams[i], '192.0.2.1', 1700000000000);
    return c;
  };
  run();
  run(); // warm up
  const rate = opsPerSecond(run, ms);
  const errors = dec.stats.get('192.0.2.1')!.errors;
  if (Object.keys(errors).length > 0) throw new Error(`${name}: decode errors ${JSON.stringify(errors)}`);
  if (n === 0) throw new Error(`${name}: no records`);
  return { figure: `decode.${name}.records_per_s`, value: Math.round(rate), unit: 'records/s', note: 'one core, in-memory datagrams, counting sink' };
}

export default async function bench(ctx: BenchContext): Promise<BenchRow[]> {
  const ms = Math.max(300, 2000 * ctx.scale);
  const N = 64;
  const rows: BenchRow[] = [];
  rows.push(measure('netflow5', Array.from({ length: N }, (_, i) => v5(i)), null, ms));
  rows.push(measure('netflow9', Array.from({ length: N }, (_, i) => v9(i + 1, false)), v9(0, true), ms));
  rows.push(measure('ipfix', Array.from({ length: N }, (_, i) => ipfix(i + 1, false)), ipfix(0, true), ms));
  for (const r of rows) ctx.log(`${r.figure} ${(r.value / 1e6).toFixed(2)} M`);
  return rows;
}
