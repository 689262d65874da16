/**
 * sFlow v5 decode speed on one core: flow samples per second from in-memory
 * datagrams through FlowDecoder.datagram() into a counting sink.
 * Synthetic datagrams (7 flow samples each, 128-byte Ethernet/IPv4|IPv6/TCP|UDP
 * headers plus an extended switch record, like a switch sends) and, when the
 * shared captures are beside the repository, a real switch capture.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { opsPerSecond, type BenchContext, type BenchRow } from '../../bench/harness.ts';
import { Writer } from '../core/writer.ts';
import { FlowDecoder } from './decode.ts';
import { readCapture } from './pcap.ts';

export const prefix = 'decode';

function header(i: number): Buffer {
  const w = new Writer(160);
  w.u32(0x02000000).u16(0x0001).u32(0x02000000).u16(0x0002);
  const v6 = i % 4 === 3;
  const tcp = i % 2 === 0;
  if (v6) {
    w.u16(0x86dd).u32(0x60000000).u16(1400).u8(tcp ? 6 : 17).u8(64);
    w.u32(0x20010db8).u32(0).u32(0).u32(i);
    w.u32(0x20010db8).u32(1).u32(0).u32(i * 7);
  } else {
    w.u16(0x0800).u8(0x45).u8(0).u16(1400).u16(i).u16(0x4000).u8(64).u8(tcp ? 6 : 17).u16(0);
    w.u32(0xc6336400 + (i & 0xff)).u32(0xcb007100 + ((i * 7) & 0xff));
  }
  if (tcp) w.u16(1024 + i).u16(443).u32(i).u32(0).u8(0x50).u8(0x10).u16(512).u32(0);
  else w.u16(53).u16(1024 + i).u16(1380).u16(0);
  while (w.pos < 128) w.u8(i);
  return w.finish().subarray(0, 128);
}

export function syntheticDatagram(seq: number, samples = 7): Buffer {
  const w = new Writer(2048);
  w.u32(5).u32(1).u32(0xc0000201).u32(0).u32(seq).u32(1000 + seq).u32(samples);
  for (let s = 0; s < samples; s++) {
    const h = header(seq * samples + s);
    const body = new Writer(256);
    body.u32(seq * samples + s).u32(3).u32(1024).u32(seq * 1024).u32(0).u32(3).u32(7).u32(2);
    body.u32(1001).u32(16).u32(100).u32(0).u32(100).u32(0);
    body.u32(1).u32(16 + h.length).u32(1).u32(1518).u32(4).u32(h.length).bytes(h);
    const b = body.finish();
    w.u32(1).u32(b.length).bytes(b);
  }
  return w.finish();
}

export default async function bench(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const ms = Math.max(200, 1500 * ctx.scale);
  let records = 0;
  const dec = new FlowDecoder({ record: () => void records++ });
  const dgs = Array.from({ length: 64 }, (_, i) => syntheticDatagram(i));
  const perRound = dgs.length * 7;
  const run = (list: Buffer[], per: number) => () => {
    for (let i = 0; i < list.length; i++) dec.datagram(list[i], '192.0.2.1', 0);
    return per;
  };
  opsPerSecond(run(dgs, perRound), 200); // warm-up
  const rate = opsPerSecond(run(dgs, perRound), ms);
  rows.push({ figure: 'decode.sflow5.records_per_s', value: Math.round(rate), unit: 'samples/s', note: 'synthetic: 7 flow samples/datagram, 128 B headers; target >= 2M' });

  const cap = fileURLToPath(new URL('../../../shared/flows/captures/sflow_overflowd_1000pkt.pcap', import.meta.url));
  if (existsSync(cap)) {
    const real = [...readCapture(cap)].map((p) => p.payload);
    records = 0;
    for (const d of real) dec.datagram(d, '192.0.2.1', 0);
    const per = records;
    const r2 = opsPerSecond(run(real, per), ms);
    rows.push({ figure: 'decode.sflow5.capture_records_per_s', value: Math.round(r2), unit: 'samples/s', note: 'sflow_overflowd_1000pkt.pcap (real switch, counters included)' });
  }
  ctx.log(`sflow5: ${records} records counted`);
  return rows;
}
