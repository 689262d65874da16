/**
 * `breakwater replay`: real UDP sockets on loopback receive every datagram
 * byte-identical and in order; pacing (--speed, --pps, --loop) roughly honoured;
 * --from sets the source address; the CLI prints a summary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writePcap, readCapture } from '../../src/flow/pcap.ts';
import { replayPackets, parseHostPort } from '../../src/flow/replay.ts';
import type { UdpPacket } from '../../src/flow/pcap.ts';

const root = resolve(import.meta.dirname, '../..');
const NODE = process.execPath;

interface Received {
  payloads: Buffer[];
  from: string[];
  port: number;
  close(): Promise<void>;
}

async function listen(host = '127.0.0.1'): Promise<Received> {
  const sock = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 8 << 20 });
  const r: Received = { payloads: [], from: [], port: 0, close: () => new Promise((res) => sock.close(() => res())) };
  sock.on('message', (m, rinfo) => {
    r.payloads.push(m);
    r.from.push(rinfo.address);
  });
  await new Promise<void>((res) => sock.bind(0, host, () => res()));
  r.port = sock.address().port;
  return r;
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

/** n datagrams spread evenly over spanMs, each with distinct content and size. */
function makePackets(n: number, spanMs: number): UdpPacket[] {
  const t0 = 1_700_000_000_000;
  return Array.from({ length: n }, (_, i) => {
    const payload = Buffer.alloc(20 + ((i * 37) % 1300));
    payload.writeUInt32BE(i, 0);
    for (let j = 4; j < payload.length; j++) payload[j] = (i * 31 + j) & 0xff;
    return { time: t0 + (n > 1 ? (i * spanMs) / (n - 1) : 0), src: '192.0.2.9', dst: '192.0.2.10', srcPort: 50000, dstPort: 2055 + (i % 3), payload };
  });
}

function assertSame(got: Buffer[], want: UdpPacket[]): void {
  assert.equal(got.length, want.length, 'datagram count');
  for (let i = 0; i < want.length; i++) assert.ok(got[i].equals(want[i].payload), `datagram ${i} differs or is out of order`);
}

test('parseHostPort accepts IPv4, [IPv6] and rejects junk', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:2055'), { host: '127.0.0.1', port: 2055 });
  assert.deepEqual(parseHostPort('[::1]:6343'), { host: '::1', port: 6343 });
  assert.deepEqual(parseHostPort('localhost:9'), { host: '127.0.0.1', port: 9 });
  for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'host:2055', ':2055', '1.2.3.4:x']) assert.throws(() => parseHostPort(bad), bad);
});

test('speed 1 keeps the capture pace and delivers every datagram byte-identical, in order', async (t) => {
  const rx = await listen();
  t.after(() => rx.close());
  const pk = makePackets(41, 2000);
  const s = await replayPackets(pk, { to: { host: '127.0.0.1', port: rx.port } });
  await waitFor(() => rx.payloads.length >= pk.length);
  assertSame(rx.payloads, pk);
  assert.equal(s.datagrams, 41);
  assert.equal(s.bytes, pk.reduce((a, p) => a + p.payload.length, 0));
  assert.ok(s.durationMs >= 1500, `2-second capture replayed in ${s.durationMs} ms`);
  assert.ok(s.durationMs < 8000, `took ${s.durationMs} ms`);
});

test('speed 4 is about four times faster; speed 0 is as fast as possible', async (t) => {
  const rx = await listen();
  t.after(() => rx.close());
  const pk = makePackets(21, 2000);
  const s4 = await replayPackets(pk, { to: { host: '127.0.0.1', port: rx.port }, speed: 4 });
  assert.ok(s4.durationMs >= 350 && s4.durationMs < 3000, `speed 4 took ${s4.durationMs} ms`);
  const many = makePackets(2000, 60_000);
  const s0 = await replayPackets(many, { to: { host: '127.0.0.1', port: rx.port }, speed: 0 });
  assert.ok(s0.durationMs < 10_000, `speed 0 took ${s0.durationMs} ms for a 60 s capture`);
  await waitFor(() => rx.payloads.length >= pk.length + many.length);
  assertSame(rx.payloads.slice(pk.length), many);
});

test('--pps paces at N datagrams per second regardless of capture times', async (t) => {
  const rx = await listen();
  t.after(() => rx.close());
  const pk = makePackets(51, 60_000); // the capture spans a minute
  const s = await replayPackets(pk, { to: { host: '127.0.0.1', port: rx.port }, pps: 100 });
  // 51 datagrams at 100/s: the last one is due at 0.5 s
  assert.ok(s.durationMs >= 400 && s.durationMs < 4000, `took ${s.durationMs} ms`);
  await waitFor(() => rx.payloads.length >= pk.length);
  assertSame(rx.payloads, pk);
});

test('--loop repeats the capture in order; --from binds the source address', async (t) => {
  const rx = await listen();
  t.after(() => rx.close());
  const pk = makePackets(30, 300);
  const s = await replayPackets(pk, { to: { host: '127.0.0.1', port: rx.port }, loop: 3, speed: 2, from: '127.0.0.5' });
  assert.equal(s.datagrams, 90);
  // three passes of ~300 ms (plus one mean gap each) at speed 2: about 0.46 s
  assert.ok(s.durationMs >= 350 && s.durationMs < 5000, `took ${s.durationMs} ms`);
  await waitFor(() => rx.payloads.length >= 90);
  assertSame(rx.payloads, [...pk, ...pk, ...pk]);
  assert.ok(rx.from.every((a) => a === '127.0.0.5'), `sources ${[...new Set(rx.from)].join(',')}`);
});

test('IPv6 collector on ::1', async (t) => {
  let rx: Received;
  try {
    rx = await listen('::1');
  } catch {
    t.skip('no IPv6 loopback');
    return;
  }
  t.after(() => rx.close());
  const pk = makePackets(10, 100);
  await replayPackets(pk, { to: { host: '::1', port: rx.port }, speed: 0 });
  await waitFor(() => rx.payloads.length >= 10);
  assertSame(rx.payloads, pk);
  await assert.rejects(replayPackets(pk, { to: { host: '::1', port: rx.port }, from: '127.0.0.1' }), /address family/);
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const c = spawn(NODE, [join(root, 'src/main.ts'), 'replay', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

test('CLI: replays a written capture, prints the summary, rejects bad usage', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-replay-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rx = await listen();
  t.after(() => rx.close());
  const pk = makePackets(25, 500);
  const file = join(dir, 'x.pcap');
  writePcap(file, pk);
  const r = await cli([file, '--to', `127.0.0.1:${rx.port}`, '--speed', '0', '--from', '127.0.0.7']);
  assert.equal(r.code, 0, r.stderr);
  const bytes = pk.reduce((a, p) => a + p.payload.length, 0);
  assert.match(r.stdout, new RegExp(`replayed 25 datagrams, ${bytes} bytes in [0-9.]+ s`));
  await waitFor(() => rx.payloads.length >= 25);
  assertSame(rx.payloads, pk);
  assert.ok(rx.from.every((a) => a === '127.0.0.7'));

  assert.equal((await cli([file])).code, 2, 'missing --to');
  assert.equal((await cli([file, '--to', `127.0.0.1:${rx.port}`, '--pps', '10', '--speed', '2'])).code, 2, '--pps with --speed');
  assert.equal((await cli([file, '--to', 'nowhere'])).code, 2, 'bad --to');
  assert.equal((await cli([file, '--to', `127.0.0.1:${rx.port}`, '--loop', '0'])).code, 2, 'bad --loop');
  assert.equal((await cli([join(dir, 'missing.pcap'), '--to', `127.0.0.1:${rx.port}`])).code, 1, 'missing file');
  assert.equal(rx.payloads.length, 25, 'failed invocations sent nothing');
});

test('real exporter captures from pcaps/ replay byte-identical', async (t) => {
  const dir = join(root, 'pcaps');
  const files = readdirSync(dir).filter((f) => f.endsWith('.pcap') && /benign/.test(f)).slice(0, 4);
  if (files.length === 0) {
    t.skip('no pcaps/*.pcap');
    return;
  }
  const rx = await listen();
  t.after(() => rx.close());
  let want: UdpPacket[] = [];
  for (const f of files) {
    const pk = Array.from(readCapture(join(dir, f)));
    assert.ok(pk.length > 0, f);
    await replayPackets(pk, { to: { host: '127.0.0.1', port: rx.port }, speed: 0 });
    want = want.concat(pk);
  }
  await waitFor(() => rx.payloads.length >= want.length);
  assertSame(rx.payloads, want);
});
