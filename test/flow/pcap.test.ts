/**
 * pcap / pcapng reader and writer: every container variant and link type the
 * reader supports, IPv4/IPv6, VLAN tags, fragment reassembly; tshark reads
 * what writePcap writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeFrame, encodePcap, newCaptureStats, parseCapture, writePcap, readCapture, type WritePacket } from '../../src/flow/pcap.ts';
import { tsharkAvailable } from '../helpers/tshark.ts';

const P4: WritePacket = { time: 1700000000123.456, src: '192.0.2.1', dst: '198.51.100.2', srcPort: 1234, dstPort: 2055, payload: Buffer.from('hello-v4') };
const P6: WritePacket = { time: 1700000001000, src: '2001:db8::1', dst: '2001:db8::2', srcPort: 5555, dstPort: 4739, payload: Buffer.from('hello-v6!') };

function classic(link: number, frames: Buffer[], opts: { be?: boolean; nano?: boolean } = {}): Buffer {
  const h = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, o: number) => (opts.be ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
  w32(h, opts.nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w32(h, 65535, 16);
  w32(h, link, 20);
  const parts: Buffer[] = [h];
  frames.forEach((f, i) => {
    const r = Buffer.alloc(16);
    w32(r, 1700000000 + i, 0);
    w32(r, opts.nano ? 500000000 : 500000, 4);
    w32(r, f.length, 8);
    w32(r, f.length, 12);
    parts.push(r, f);
  });
  return Buffer.concat(parts);
}

/** Strips the Ethernet header of an encodeFrame() frame. */
const ipOf = (p: WritePacket) => encodeFrame(p).subarray(14);

test('pcap: writePcap -> readCapture round trip (IPv4 and IPv6)', () => {
  const got = [...parseCapture(encodePcap([P4, P6]))];
  assert.equal(got.length, 2);
  assert.equal(got[0].src, P4.src);
  assert.equal(got[0].dst, P4.dst);
  assert.equal(got[0].srcPort, 1234);
  assert.equal(got[0].dstPort, 2055);
  assert.ok(Math.abs(got[0].time - P4.time) < 0.001);
  assert.equal(got[0].payload.toString(), 'hello-v4');
  assert.equal(got[1].src, '2001:db8::1');
  assert.equal(got[1].payload.toString(), 'hello-v6!');
});

test('pcap: byte orders, nanosecond resolution and link types', () => {
  const v4 = ipOf(P4);
  const v6 = ipOf(P6);
  const sll = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00]), v4]);
  const sll2 = Buffer.concat([Buffer.from([0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]), v6]);
  const nullLE = Buffer.concat([Buffer.from([2, 0, 0, 0]), v4]);
  const loop = Buffer.concat([Buffer.from([0, 0, 0, 30]), v6]);
  const vlan = encodeFrame(P4);
  const qinq = Buffer.concat([vlan.subarray(0, 12), Buffer.from([0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20]), vlan.subarray(12)]);
  const cases: [string, Buffer][] = [
    ['raw 101 BE ns', classic(101, [v4, v6], { be: true, nano: true })],
    ['ipv4 228 / ipv6 229', Buffer.concat([classic(228, [v4]), classic(229, [v6]).subarray(24)])],
    ['sll 113', classic(113, [sll])],
    ['sll2 276', classic(276, [sll2])],
    ['null 0', classic(0, [nullLE])],
    ['loop 108', classic(108, [loop])],
    ['ethernet qinq', classic(1, [qinq])],
  ];
  for (const [name, buf] of cases) {
    const got = [...parseCapture(buf)];
    assert.ok(got.length >= 1, name);
    for (const g of got) assert.ok(g.payload.toString().startsWith('hello'), `${name}: ${g.payload.toString()}`);
  }
  const ns = [...parseCapture(classic(101, [v4], { nano: true }))][0];
  assert.equal(ns.time, 1700000000500);
  // 228+229 were concatenated into one 228 file: the v6 frame there is not IPv4 and is skipped
  const st = newCaptureStats();
  assert.equal([...parseCapture(cases[1][1], st)].length, 1);
  assert.equal(st.skipped, 1);
});

function pcapng(tsresol: number | null, frames: Buffer[], link = 1): Buffer {
  const block = (type: number, body: Buffer) => {
    const pad = (4 - (body.length % 4)) % 4;
    const len = 12 + body.length + pad;
    const b = Buffer.alloc(len);
    b.writeUInt32LE(type, 0);
    b.writeUInt32LE(len, 4);
    body.copy(b, 8);
    b.writeUInt32LE(len, len - 4);
    return b;
  };
  const shb = block(0x0a0d0d0a, Buffer.from([0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
  const idbBody = Buffer.alloc(8 + (tsresol === null ? 0 : 8) + 4);
  idbBody.writeUInt16LE(link, 0);
  if (tsresol !== null) {
    idbBody.writeUInt16LE(9, 8);
    idbBody.writeUInt16LE(1, 10);
    idbBody[12] = tsresol;
  }
  const parts: Buffer[] = [shb, block(1, idbBody)];
  for (const f of frames) {
    const body = Buffer.alloc(20 + f.length);
    const ts = tsresol === 9 ? 1700000000_250000000n : 1700000000_250000n;
    body.writeUInt32LE(0, 0);
    body.writeUInt32LE(Number(ts >> 32n), 4);
    body.writeUInt32LE(Number(ts & 0xffffffffn), 8);
    body.writeUInt32LE(f.length, 12);
    body.writeUInt32LE(f.length, 16);
    f.copy(body, 20);
    parts.push(block(6, body));
    // and the same frame as a Simple Packet Block
    const spb = Buffer.alloc(4 + f.length);
    spb.writeUInt32LE(f.length, 0);
    f.copy(spb, 4);
    parts.push(block(3, spb));
  }
  return Buffer.concat(parts);
}

test('pcapng: EPB and SPB, default and nanosecond if_tsresol', () => {
  for (const res of [null, 9]) {
    const got = [...parseCapture(pcapng(res, [encodeFrame(P4), encodeFrame(P6)]))];
    assert.equal(got.length, 4);
    assert.equal(got[0].time, 1700000000250);
    assert.equal(got[2].src, '2001:db8::1');
    assert.equal(got[3].payload.toString(), 'hello-v6!');
  }
});

test('pcap: IPv4 and IPv6 fragments of a UDP datagram are reassembled (any order)', () => {
  const payload = Buffer.alloc(3000, 0);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
  const whole4 = ipOf({ ...P4, payload });
  const hdr = whole4.subarray(0, 20);
  const l4 = whole4.subarray(20);
  const frag4 = (off: number, end: number, more: boolean) => {
    const h = Buffer.from(hdr);
    h.writeUInt16BE(20 + end - off, 2);
    h.writeUInt16BE((more ? 0x2000 : 0) | (off / 8), 6);
    h.writeUInt16BE(0x1234, 4);
    return Buffer.concat([h, l4.subarray(off, end)]);
  };
  const f4 = [frag4(1480, 2960, true), frag4(0, 1480, true), frag4(2960, l4.length, false)];
  const whole6 = ipOf({ ...P6, payload });
  const h6 = whole6.subarray(0, 40);
  const l6 = whole6.subarray(40);
  const frag6 = (off: number, end: number, more: boolean) => {
    const h = Buffer.from(h6);
    h[6] = 44;
    h.writeUInt16BE(8 + end - off, 4);
    const fh = Buffer.alloc(8);
    fh[0] = 17;
    fh.writeUInt16BE(off | (more ? 1 : 0), 2);
    fh.writeUInt32BE(77, 4);
    return Buffer.concat([h, fh, l6.subarray(off, end)]);
  };
  const f6 = [frag6(0, 1448, true), frag6(1448, l6.length, false)];
  const st = newCaptureStats();
  const got = [...parseCapture(classic(101, [...f4, ...f6]), st)];
  assert.equal(got.length, 2);
  assert.ok(got[0].payload.equals(payload));
  assert.ok(got[1].payload.equals(payload));
  assert.equal(got[1].dst, '2001:db8::2');
  assert.equal(st.fragments, 5);
  assert.equal(st.reassembled, 2);
});

test('pcap: not a capture -> Error; truncated record -> counted, no throw', () => {
  assert.throws(() => [...parseCapture(Buffer.from('nope, not a pcap'))], /not a pcap/);
  const b = encodePcap([P4, P6]);
  const st = newCaptureStats();
  assert.equal([...parseCapture(b.subarray(0, b.length - 5), st)].length, 1);
  assert.equal(st.truncated, 1);
});

test('pcap: tshark reads what writePcap writes', { skip: tsharkAvailable() ? false : 'tshark not installed' }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-pcap-'));
  try {
    const file = path.join(dir, 'w.pcap');
    writePcap(file, [P4, P6]);
    const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'udp.srcport', '-e', 'udp.checksum.status', '-e', 'data.data', '-o', 'udp.check_checksum:TRUE', '-d', 'udp.port==2055,data', '-d', 'udp.port==4739,data'], { encoding: 'utf8' });
    const lines = r.stdout.trim().split('\n').map((l) => l.split('\t'));
    assert.equal(lines.length, 2);
    assert.equal(lines[0][0], '192.0.2.1');
    assert.equal(lines[1][1], '2001:db8::1');
    assert.equal(lines[0][3], '1', 'UDP checksum good (IPv4)');
    assert.equal(lines[1][3], '1', 'UDP checksum good (IPv6)');
    assert.equal(Buffer.from(lines[0][4], 'hex').toString(), 'hello-v4');
    assert.equal([...readCapture(file)].length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
