/**
 * ICMP type and code in NetFlow v5: the destination-port convention (Cisco,
 * softflowd) and fprobe's little-endian source-port encoding, on real captures
 * from both exporters of the same generated traffic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { FlowDecoder } from '../../src/flow/decode.ts';
import { readCapture } from '../../src/flow/pcap.ts';
import { formatIPv4 } from '../../src/core/ip.ts';
import type { FlowRecord } from '../../src/flow/record.ts';
import { Writer } from '../../src/core/writer.ts';

const pcaps = resolve(import.meta.dirname, '../../pcaps');

function icmpKeys(file: string): Map<string, string> {
  const out = new Map<string, string>();
  const sink = {
    record(r: FlowRecord) {
      if (r.ipProto !== 1) return;
      out.set(`${formatIPv4(r.src4)}>${formatIPv4(r.dst4)}`, `${r.icmpType}/${r.icmpCode}`);
    },
  };
  const d = new FlowDecoder(sink);
  for (const p of readCapture(join(pcaps, file))) d.datagram(p.payload, p.src, p.time);
  return out;
}

test('fprobe and softflowd v5 captures of the same traffic give the same ICMP types', { skip: !existsSync(join(pcaps, 'fprobe-v5-benign.pcap')) && 'pcaps missing' }, () => {
  const fprobe = icmpKeys('fprobe-v5-benign.pcap');
  const softflowd = icmpKeys('softflowd-v5-benign.pcap');
  const common = [...fprobe.keys()].filter((k) => softflowd.has(k));
  assert.ok(common.length >= 2, `ICMP flows seen by both exporters: ${common.length}`);
  const types = new Set(common.map((k) => softflowd.get(k)));
  assert.ok(types.has('8/0') && types.has('0/0'), `echo requests and replies both present: ${[...types]}`);
  for (const k of common) assert.equal(fprobe.get(k), softflowd.get(k), k);
});

function v5(srcPort: number, dstPort: number): Buffer {
  const w = new Writer();
  w.u16(5).u16(1).u32(1000).u32(1_700_000_000).u32(0).u32(1).u8(0).u8(0).u16(0);
  w.u32(0xc6336401).u32(0xcb007114).u32(0).u16(1).u16(2).u32(3).u32(252).u32(900).u32(1000);
  w.u16(srcPort).u16(dstPort).u8(0).u8(0).u8(1).u8(0).u16(0).u16(0).u8(0).u8(0).u16(0);
  return w.finish();
}

test('ICMP encodings: destination port (type<<8|code), fprobe source port (code<<8|type)', () => {
  const got: string[] = [];
  const d = new FlowDecoder({ record: (r) => got.push(`${r.icmpType}/${r.icmpCode}`) });
  for (const [sp, dp] of [[0, 0x0800], [0, 0x0303], [8, 0], [0x0303, 0], [0x0b00, 0], [0, 0]]) d.datagram(v5(sp, dp), '192.0.2.1', 0);
  assert.deepEqual(got, ['8/0', '3/3', '8/0', '3/3', '11/0', '0/0']);
});
