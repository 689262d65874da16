/**
 * The batched UDP receiver (src/flow/udp_recv.c through src/flow/udp_batch.ts)
 * on real loopback sockets: contents and order across many recvmmsg batches,
 * exporter naming as node:dgram does it, exact kernel drop counts, close(),
 * errors, SO_REUSEPORT groups, the receiver choice, and a worker-thread
 * collector reading with it. collector.test.ts runs its main tests over both
 * receivers; this file does not repeat those.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Collector, type CollectorOptions } from '../../src/flow/collector.ts';
import { FlowDecoder } from '../../src/flow/decode.ts';
import { listenUdp, parseListenSpec, UdpSender, type ListenSpec, type UdpListener } from '../../src/flow/listener.ts';
import { BATCH_SLOTS, chooseReceiver, kernelDrops, listenUdpBatched, udpRecvInfo, UDP_RECV_ENV, type BatchedListener, type UdpRecvAddon } from '../../src/flow/udp_batch.ts';
import type { FlowRecord, FlowSink } from '../../src/flow/record.ts';
import { formatIPv4, formatIPv6 } from '../../src/core/ip.ts';
import { fixtures } from '../fixtures/sflow/build.ts';
import { nativeAddon } from '../helpers/native.ts';

const noAddon = nativeAddon('udp_recv.node');
const quiet = { info() {}, warn() {}, error() {} };

function addon(): UdpRecvAddon {
  const info = udpRecvInfo();
  assert.ok(info.addon, `addon built but not loadable: ${info.error}`);
  return info.addon;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Waits until count() has not changed for quietMs (at most maxMs in all). */
async function settle(count: () => number, quietMs = 250, maxMs = 8000): Promise<void> {
  const t0 = Date.now();
  let last = count();
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    if (Date.now() - t0 > maxMs) throw new Error('never went quiet');
    await sleep(10);
    const n = count();
    if (n !== last) {
      last = n;
      since = Date.now();
    }
  }
}

/** A free UDP port on host (bound without SO_REUSEPORT, then released). */
async function freePort(host = '127.0.0.1'): Promise<number> {
  const l = await listenUdp({ host, port: 0 }, {}, () => {});
  const p = l.port;
  await l.close();
  return p;
}

/** Datagram seq of size bytes: seq in the first 4 bytes (when they fit), then a pattern that depends on seq and offset. */
function payload(seq: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let j = 0; j < size; j++) b[j] = (seq * 131 + j * 7 + (j >>> 8) * 13 + 1) & 0xff;
  if (size >= 4) b.writeUInt32BE(seq, 0);
  return b;
}

/** Sends all of dgs without yielding to the event loop between them; resolves when every send completed. */
async function burst(s: UdpSender, dgs: Buffer[], port: number, host: string): Promise<void> {
  await s.port();
  await new Promise<void>((resolve, reject) => {
    let left = dgs.length;
    if (left === 0) return resolve();
    for (const d of dgs) s.sendNow(d, port, host, (e) => (e ? reject(e) : --left === 0 && resolve()));
  });
}

interface Got {
  msg: Buffer;
  name: string;
  port: number;
}

/** The addon with udpStart's callback observed: the batch sizes it reports. */
function spying(a: UdpRecvAddon, batches: number[]): UdpRecvAddon {
  return {
    udpOpen: (...args) => a.udpOpen(...args),
    udpStop: (h) => a.udpStop(h),
    udpClose: (fd) => a.udpClose(fd),
    udpStart: (fd, data, meta, slots, slotBytes, onBatch) =>
      a.udpStart(fd, data, meta, slots, slotBytes, (n) => {
        batches.push(n);
        onBatch(n);
      }),
  };
}

/** Compares what arrived with what was sent: same count, same order, same bytes. */
function assertSame(got: Got[], sent: Buffer[], what: string): void {
  assert.equal(got.length, sent.length, `${what}: datagrams received`);
  for (let i = 0; i < sent.length; i++) {
    if (!got[i].msg.equals(sent[i])) assert.fail(`${what}: datagram ${i} differs (got ${got[i].msg.length} bytes, sent ${sent[i].length})`);
  }
}

/* ------------------------------------------------------------ contents and order */

test('batched receive: ~1000 datagrams of 1..65507 bytes arrive byte-identical and in order over many batches; exporter and port as node:dgram names them', { skip: noAddon }, async (t) => {
  const sizes: number[] = [1, 2, 3, 4, 5, 63, 64, 65, 511, 512, 513, 1472, 1473, 1499, 1500];
  for (let i = sizes.length; i < 1000; i++) sizes.push(1 + ((i * 997 + 13) % 1500));
  for (const i of [100, 333, 500, 777, 900]) sizes[i] = 9000;
  sizes[640] = 65507; // the largest UDP payload in one IPv4 packet
  const sent = sizes.map((n, seq) => payload(seq, n));

  const batches: number[] = [];
  const got: Got[] = [];
  let mismatchesInHandler = 0;
  const l = listenUdpBatched(spying(addon(), batches), { host: '127.0.0.1', port: 0 }, { receiveBufferBytes: 4 << 20 }, (msg, name, port) => {
    // Checked while the view is valid, then kept as a copy.
    const k = got.length;
    if (k < sent.length && !msg.equals(sent[k])) mismatchesInHandler++;
    got.push({ msg: Buffer.from(msg), name, port });
  });
  t.after(() => l.close());
  const viaDgram: Got[] = [];
  const d = await listenUdp({ host: '127.0.0.1', port: 0 }, {}, (msg, name, port) => void viaDgram.push({ msg: Buffer.from(msg), name, port }));
  t.after(() => d.close());
  assert.equal(l.address, '127.0.0.1');
  assert.ok(l.port > 0 && l.port !== d.port);
  assert.equal(l.dualStack, false);

  const s = new UdpSender(4);
  t.after(() => s.close());
  // Bursts of 100 without yielding: the kernel queues them and the receiver takes
  // them 64 at a time. (Also passes with the default net.core.rmem_max, 416 KiB granted.)
  const t0 = Date.now();
  for (let i = 0; i < sent.length; i += 100) {
    const part = sent.slice(i, i + 100);
    await burst(s, part, l.port, '127.0.0.1');
    await until(() => got.length >= i + part.length, 5000, `datagrams ${i}..${i + part.length - 1}`);
  }
  const ms = Date.now() - t0;
  await burst(s, [Buffer.from('a'), Buffer.from('bb')], d.port, '127.0.0.1');
  await until(() => viaDgram.length === 2, 5000, 'the node:dgram listener');
  await sleep(30);

  assertSame(got, sent, 'batched');
  assert.equal(mismatchesInHandler, 0, 'the view handed to the handler holds the datagram while the handler runs');
  assert.equal(l.kernelDrops, 0);
  assert.equal(l.truncated, 0);
  assert.equal(batches.reduce((a, b) => a + b, 0), sent.length, 'batch sizes add up to the datagrams delivered');
  assert.ok(batches.every((n) => n >= 1 && n <= BATCH_SLOTS));
  assert.ok(batches.filter((n) => n === BATCH_SLOTS).length >= 5, `several full batches of ${BATCH_SLOTS} (sizes seen: ${batches.join(',')})`);
  const senderPort = await s.port();
  assert.deepEqual(viaDgram.map((g) => [g.name, g.port]), [['127.0.0.1', senderPort], ['127.0.0.1', senderPort]]);
  for (const g of got) if (g.name !== viaDgram[0].name || g.port !== viaDgram[0].port) assert.fail(`exporter ${g.name}:${g.port}, node:dgram says ${viaDgram[0].name}:${viaDgram[0].port}`);
  t.diagnostic(`${sent.length} datagrams (${sent.reduce((a, b) => a + b.length, 0)} bytes) in ${batches.length} batches (${batches.filter((n) => n === BATCH_SLOTS).length} full) in ${ms} ms`);
});

test('batched receive over IPv6 (::1): contents, order, names and ports', { skip: noAddon }, async (t) => {
  const sizes: number[] = [1, 2, 7, 1232, 1500, 9000, 65527]; // 65 527: the largest UDP payload without a jumbogram
  for (let i = sizes.length; i < 300; i++) sizes.push(1 + ((i * 613) % 1500));
  const sent = sizes.map((n, seq) => payload(seq + 7, n));
  const got: Got[] = [];
  const l = listenUdpBatched(addon(), { host: '::1', port: 0 }, { receiveBufferBytes: 4 << 20 }, (msg, name, port) => void got.push({ msg: Buffer.from(msg), name, port }));
  t.after(() => l.close());
  const viaDgram: Got[] = [];
  const d = await listenUdp({ host: '::1', port: 0 }, {}, (msg, name, port) => void viaDgram.push({ msg: Buffer.from(msg), name, port }));
  t.after(() => d.close());
  assert.equal(l.address, '::1');
  assert.equal(l.dualStack, false);
  const s = new UdpSender(6);
  t.after(() => s.close());
  for (let i = 0; i < sent.length; i += 100) {
    const part = sent.slice(i, i + 100);
    await burst(s, part, l.port, '::1');
    await until(() => got.length >= i + part.length, 5000, `IPv6 datagrams ${i}..`);
  }
  await burst(s, [Buffer.from('x')], d.port, '::1');
  await until(() => viaDgram.length === 1, 5000, 'the node:dgram listener');
  await sleep(30);
  assertSame(got, sent, 'IPv6');
  assert.equal(l.kernelDrops, 0);
  assert.deepEqual([viaDgram[0].name, viaDgram[0].port], ['::1', await s.port()]);
  for (const g of got) if (g.name !== '::1' || g.port !== viaDgram[0].port) assert.fail(`exporter ${g.name}:${g.port}`);
});

test('batched receive, dual-stack ":" / "::" listener: IPv4 and IPv6 senders named 127.0.0.1 and ::1 as listenUdp names them', { skip: noAddon }, async (t) => {
  for (const spec of [parseListenSpec(':0')!, { host: '::', port: 0 }] as ListenSpec[]) {
    const got: Got[] = [];
    const l = listenUdpBatched(addon(), spec, {}, (msg, name, port) => void got.push({ msg: Buffer.from(msg), name, port }));
    t.after(() => l.close());
    const viaDgram: Got[] = [];
    const d = await listenUdp(spec, {}, (msg, name, port) => void viaDgram.push({ msg: Buffer.from(msg), name, port }));
    t.after(() => d.close());
    assert.equal(l.address, '::', `host "${spec.host}"`);
    assert.equal(l.dualStack, true);
    assert.equal(d.dualStack, true);
    const s4 = new UdpSender(4);
    const s6 = new UdpSender(6);
    t.after(() => s4.close());
    t.after(() => s6.close());
    const a = [payload(1, 100), payload(2, 1), payload(3, 9000)];
    const b = [payload(4, 50), payload(5, 1500)];
    for (const [lp, list] of [[l.port, got], [d.port, viaDgram]] as const) {
      await burst(s4, a, lp, '127.0.0.1');
      await until(() => list.length === a.length, 5000, 'IPv4 sender');
      await burst(s6, b, lp, '::1');
      await until(() => list.length === a.length + b.length, 5000, 'IPv6 sender');
    }
    assertSame(got, [...a, ...b], `dual-stack "${spec.host}"`);
    const p4 = await s4.port(), p6 = await s6.port();
    const want = [...a.map(() => ['127.0.0.1', p4]), ...b.map(() => ['::1', p6])];
    assert.deepEqual(got.map((g) => [g.name, g.port]), want);
    assert.deepEqual(viaDgram.map((g) => [g.name, g.port]), want, 'listenUdp names them the same');
    await l.close();
    await d.close();
  }
});

/* ------------------------------------------------------------ kernel drops */

/** Packets the kernel dropped before any socket (per-CPU backlog full): /proc/net/softnet_stat column 2, summed. */
function backlogDrops(): number {
  try {
    return readFileSync('/proc/net/softnet_stat', 'utf8')
      .trim()
      .split('\n')
      .reduce((a, l) => a + parseInt(l.trim().split(/\s+/)[1] ?? '0', 16), 0);
  } catch {
    return 0;
  }
}

/** Blocks this thread's event loop while a child process sends n datagrams of msg to 127.0.0.1:port; returns how many it sent without error. */
function floodWhileBlocked(port: number, n: number, msg: Buffer): number {
  const script = `
    const dgram = require('node:dgram');
    const [port, n, hex] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
    const msg = Buffer.from(hex, 'hex');
    const s = dgram.createSocket('udp4');
    let ok = 0, failed = 0, done = 0;
    s.bind(0, '127.0.0.1', () => {
      for (let i = 0; i < n; i++) s.send(msg, port, '127.0.0.1', (e) => {
        if (e) failed++; else ok++;
        if (++done === n) { process.stdout.write(JSON.stringify({ ok, failed })); s.close(); }
      });
    });`;
  const r = spawnSync(process.execPath, ['-e', script, String(port), String(n), msg.toString('hex')], { encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, `sender child failed: ${r.stderr}`);
  const res = JSON.parse(r.stdout) as { ok: number; failed: number };
  assert.equal(res.failed, 0, 'every send succeeded');
  return res.ok;
}

test('kernel drops: a tiny receive buffer overflows while the loop is blocked; received + kernelDrops === sent exactly', { skip: noAddon }, async (t) => {
  const N = 3000;
  let received = 0;
  const l: BatchedListener = listenUdpBatched(addon(), { host: '127.0.0.1', port: 0 }, { receiveBufferBytes: 4096 }, () => void received++);
  t.after(() => l.close());
  assert.ok(l.receiveBufferBytes > 0 && l.receiveBufferBytes <= 16384, `granted ${l.receiveBufferBytes}`);
  const backlog0 = backlogDrops();
  const sent = floodWhileBlocked(l.port, N, payload(9, 16));
  assert.equal(sent, N);
  assert.equal(received, 0, 'nothing read while the loop was blocked');
  await until(() => received > 0, 5000, 'the first datagrams');
  await settle(() => received + l.kernelDrops);
  t.diagnostic(`received ${received}, kernel drops ${l.kernelDrops}, granted buffer ${l.receiveBufferBytes}`);
  assert.ok(l.kernelDrops > 0, 'the socket overflowed');
  assert.equal(kernelDrops([l]), l.kernelDrops);
  assert.equal(received + l.kernelDrops, N, `(packets dropped before reaching any socket meanwhile, machine-wide: ${backlogDrops() - backlog0})`);

  // Drops are cumulative: a second flood adds to them, and the sum still balances.
  const again = floodWhileBlocked(l.port, 500, payload(10, 16));
  await until(() => received + l.kernelDrops > N, 5000, 'the second flood');
  await settle(() => received + l.kernelDrops);
  assert.equal(received + l.kernelDrops, N + again);
});

test('kernel drops through an inline collector: stats().dropped.receive_buffer counts them, datagrams + drops === sent, and a warning says what to raise', { skip: noAddon }, async (t) => {
  const N = 3000;
  const fx = fixtures()[0].payload;
  let records = 0;
  const sink: FlowSink = { record: () => void records++ };
  const warnings: Array<Record<string, unknown>> = [];
  const log = { ...quiet, warn: (o: object) => void warnings.push(o as Record<string, unknown>) };
  const col = new Collector({ netflow: '', sflow: '127.0.0.1:0', workers: 'inline', receiver: 'batched', receiveBufferBytes: 4096, defaultSamplingRate: 1, flowSources: [], boundary: [], dropWarnIntervalMs: 100 }, sink, log);
  t.after(() => col.stop());
  await col.start();
  assert.equal(col.receiver, 'batched');
  assert.equal(col.receiverNote, '');
  const backlog0 = backlogDrops();
  const sent = floodWhileBlocked(col.ports.sflow!, N, fx);
  assert.equal(sent, N);
  await until(() => col.stats().datagrams > 0, 5000, 'the first datagrams');
  await settle(() => col.stats().datagrams + col.stats().dropped.receive_buffer);
  const st = col.stats();
  t.diagnostic(`collector: ${st.datagrams} datagrams, ${st.dropped.receive_buffer} kernel drops, ${st.records} records`);
  assert.ok(st.dropped.receive_buffer > 0);
  assert.equal(st.datagrams + st.dropped.receive_buffer, N, `(packets dropped before reaching any socket meanwhile, machine-wide: ${backlogDrops() - backlog0})`);
  assert.ok(st.records > 0 && st.records % st.datagrams === 0, 'every datagram received was decoded the same way');
  assert.equal(records, st.delivered);
  // the operator is told, once for this burst, with the count
  const drops = () => warnings.filter((w) => w.event === 'flow kernel drops');
  await until(() => drops().reduce((a, w) => a + Number(w.dropped), 0) >= st.dropped.receive_buffer, 5000, 'the drop warning');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(drops().reduce((a, w) => a + Number(w.dropped), 0), st.dropped.receive_buffer, JSON.stringify(drops()));
  assert.equal(drops().at(-1)!.total, st.dropped.receive_buffer);
  await col.stop();
});

/* ------------------------------------------------------------ close */

test('close(): no handler calls afterwards, the port is free again for a plain listener, a second close is harmless', { skip: noAddon }, async (t) => {
  let calls = 0;
  const l = listenUdpBatched(addon(), { host: '127.0.0.1', port: 0 }, {}, () => void calls++);
  let closed = false;
  t.after(() => (closed ? undefined : l.close()));
  const s = new UdpSender(4);
  t.after(() => s.close());
  const port = l.port;
  await burst(s, Array.from({ length: 5 }, (_, i) => payload(i, 10)), port, '127.0.0.1');
  await until(() => calls === 5, 5000, '5 datagrams');
  await l.close();
  closed = true;
  await burst(s, Array.from({ length: 20 }, (_, i) => payload(i, 10)), port, '127.0.0.1');
  await sleep(150);
  assert.equal(calls, 5, 'no handler call after close');
  await l.close(); // again: nothing happens

  let plain = 0;
  const p = await listenUdp({ host: '127.0.0.1', port }, {}, () => void plain++);
  t.after(() => p.close());
  assert.equal(p.port, port);
  await burst(s, [payload(1, 3)], port, '127.0.0.1');
  await until(() => plain === 1, 5000, 'the plain listener on the same port');
  assert.equal(calls, 5);
});

test('close() from inside the handler: the rest of that batch is not delivered', { skip: noAddon }, async (t) => {
  const batches: number[] = [];
  let calls = 0;
  const l = listenUdpBatched(spying(addon(), batches), { host: '127.0.0.1', port: 0 }, {}, () => {
    calls++;
    void l.close();
  });
  t.after(() => l.close());
  const s = new UdpSender(4);
  t.after(() => s.close());
  await burst(s, Array.from({ length: 20 }, (_, i) => payload(i, 100)), l.port, '127.0.0.1');
  await until(() => calls > 0, 5000, 'the first datagram');
  await sleep(100);
  t.diagnostic(`batch sizes: ${batches.join(',')}`);
  assert.equal(calls, 1);
  assert.equal(batches.length, 1, 'polling stopped');
});

/* ------------------------------------------------------------ errors */

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

test('errors: a port in use is EADDRINUSE, an unparsable host is EINVAL, and neither leaks a descriptor', { skip: noAddon }, async (t) => {
  const a = addon();
  const holder = await listenUdp({ host: '127.0.0.1', port: 0 }, {}, () => {});
  t.after(() => holder.close());
  const batchedHolder = listenUdpBatched(a, { host: '127.0.0.1', port: 0 }, {}, () => {});
  t.after(() => batchedHolder.close());
  const fds = openFds();
  for (const port of [holder.port, batchedHolder.port]) {
    for (const reusePort of [false, true]) {
      assert.throws(
        () => listenUdpBatched(a, { host: '127.0.0.1', port }, { reusePort }, () => {}),
        (e: NodeJS.ErrnoException) => e instanceof Error && e.code === 'EADDRINUSE',
        `port ${port} reusePort ${reusePort}`,
      );
    }
  }
  // node:dgram cannot take the batched listener's port either.
  await assert.rejects(listenUdp({ host: '127.0.0.1', port: batchedHolder.port }, {}, () => {}), { code: 'EADDRINUSE' });
  for (const host of ['not-an-address', '256.1.1.1', '1.2.3', '::zz', '2001:db8::1::2', '127.0.0.1 ']) {
    assert.throws(
      () => listenUdpBatched(a, { host, port: 0 }, {}, () => {}),
      (e: NodeJS.ErrnoException) => e instanceof Error && e.code === 'EINVAL',
      `host ${JSON.stringify(host)}`,
    );
  }
  assert.equal(openFds(), fds, 'no descriptor left open by the failures');
});

test('errors: the raw addon rejects wrong argument types and too small buffers with TypeError / RangeError', { skip: noAddon }, async (t) => {
  const a = udpRecvInfo().addon as UdpRecvAddon;
  assert.ok(a);
  const s = a.udpOpen('127.0.0.1', 0, false, 0);
  // udpStop closes the socket itself; udpClose only for a socket never started
  // (closing the number twice could hit a descriptor reused meanwhile).
  let h: object | null = null;
  let stopped = false;
  t.after(() => {
    if (h === null) a.udpClose(s.fd);
    else if (!stopped) a.udpStop(h);
  });
  assert.ok(s.fd >= 0 && s.port > 0 && s.family === 4);
  const slots = 4, slotBytes = 2048;
  const data = new ArrayBuffer(slots * slotBytes);
  const meta = new ArrayBuffer((slots + 1) * 32);
  const cb = () => {};
  type Call = [string, () => unknown, typeof TypeError | typeof RangeError];
  // Casts let the wrong types through to the addon, as untyped JavaScript would.
  const start = a.udpStart as unknown as (...args: unknown[]) => unknown;
  const calls: Call[] = [
    ['no arguments', () => start(), TypeError],
    ['fd a string', () => start('3', data, meta, slots, slotBytes, cb), TypeError],
    ['data a Uint8Array', () => start(s.fd, new Uint8Array(data), meta, slots, slotBytes, cb), TypeError],
    ['data a Buffer', () => start(s.fd, Buffer.alloc(slots * slotBytes), meta, slots, slotBytes, cb), TypeError],
    ['data a SharedArrayBuffer', () => start(s.fd, new SharedArrayBuffer(slots * slotBytes), meta, slots, slotBytes, cb), TypeError],
    ['meta null', () => start(s.fd, data, null, slots, slotBytes, cb), TypeError],
    ['slots a string', () => start(s.fd, data, meta, '4', slotBytes, cb), TypeError],
    ['onBatch missing', () => start(s.fd, data, meta, slots, slotBytes), TypeError],
    ['onBatch not a function', () => start(s.fd, data, meta, slots, slotBytes, {}), TypeError],
    ['data too small', () => start(s.fd, new ArrayBuffer(slots * slotBytes - 1), meta, slots, slotBytes, cb), RangeError],
    ['meta too small', () => start(s.fd, data, new ArrayBuffer((slots + 1) * 32 - 4), slots, slotBytes, cb), RangeError],
    ['meta without the header words', () => start(s.fd, data, new ArrayBuffer(slots * 32), slots, slotBytes, cb), RangeError],
    ['slots 0', () => start(s.fd, data, meta, 0, slotBytes, cb), RangeError],
    ['slots negative', () => start(s.fd, data, meta, -1, slotBytes, cb), RangeError],
    ['slots above the maximum', () => start(s.fd, new ArrayBuffer(2048 * 64), new ArrayBuffer(2049 * 32), 2048, 64, cb), RangeError],
    ['slotBytes tiny', () => start(s.fd, data, meta, slots, 8, cb), RangeError],
    ['slotBytes negative', () => start(s.fd, data, meta, slots, -2048, cb), RangeError],
    ['fd negative', () => start(-1, data, meta, slots, slotBytes, cb), RangeError],
  ];
  for (const [what, f, want] of calls) {
    assert.throws(f, (e: Error) => e instanceof want, `udpStart, ${what}: ${want.name}`);
  }
  const open = a.udpOpen as unknown as (...args: unknown[]) => unknown;
  for (const [what, f] of [
    ['udpOpen()', () => open()],
    ['udpOpen(host a number)', () => open(127, 0, false, 0)],
    ['udpOpen(port a string)', () => open('127.0.0.1', '0', false, 0)],
    ['udpOpen(port 70000)', () => open('127.0.0.1', 70000, false, 0)],
    ['udpOpen(reusePort a number)', () => open('127.0.0.1', 0, 1, 0)],
    ['udpOpen(host too long)', () => open('1'.repeat(200), 0, false, 0)],
    ['udpStop()', () => (a.udpStop as unknown as (...args: unknown[]) => unknown)()],
    ['udpStop(a number)', () => (a.udpStop as unknown as (...args: unknown[]) => unknown)(s.fd)],
    ['udpStop(an object)', () => a.udpStop({})],
    ['udpClose(a string)', () => (a.udpClose as unknown as (...args: unknown[]) => unknown)('3')],
    ['udpClose(-1)', () => a.udpClose(-1)],
  ] as [string, () => unknown][]) {
    assert.throws(f, TypeError, what);
  }
  // The socket is still good: started with correct arguments, it receives, and
  // a datagram longer than a slot is cut to the slot and flagged.
  const seen: number[][] = [];
  const m = new Uint32Array(meta);
  const bytes = new Uint8Array(data);
  h = a.udpStart(s.fd, data, meta, slots, slotBytes, (k) => {
    for (let i = 0; i < k; i++) {
      const w = 8 * (i + 1);
      const len = m[w];
      seen.push([len, m[w + 1], m[w + 2], m[w + 3], bytes[i * slotBytes + len - 1]]);
    }
  });
  const sender = new UdpSender(4);
  t.after(() => sender.close());
  const dgs = [payload(1, 100), payload(2, slotBytes), payload(3, slotBytes + 1)];
  await burst(sender, dgs, s.port, '127.0.0.1');
  await until(() => seen.length === 3, 5000, 'the raw receiver');
  const sp = await sender.port();
  assert.deepEqual(seen, [
    [100, 0, 4, sp, dgs[0][99]],
    [slotBytes, 0, 4, sp, dgs[1][slotBytes - 1]],
    [slotBytes, 1, 4, sp, dgs[2][slotBytes - 1]],
  ]);
  a.udpStop(h);
  stopped = true;
  // Stopping again, after libuv has closed the poll handle, is a no-op (the
  // handle keeps its state alive; valgrind showed a read of freed memory here before).
  await sleep(20);
  assert.equal(a.udpStop(h), undefined);
  await burst(sender, [payload(4, 10)], s.port, '127.0.0.1');
  await sleep(30);
  assert.equal(seen.length, 3, 'nothing after udpStop');
});

/* ------------------------------------------------------------ reusePort */

test('reusePort: two batched listeners share a port; 16 senders x 5 datagrams all arrive, spread over both, each sender on one socket', { skip: noAddon }, async (t) => {
  const port = await freePort();
  const per: Map<number, number>[] = [new Map(), new Map()];
  const open = (k: number) =>
    listenUdpBatched(addon(), { host: '127.0.0.1', port }, { reusePort: true }, (msg, name, sport) => {
      assert.equal(name, '127.0.0.1');
      per[k].set(sport, (per[k].get(sport) ?? 0) + 1);
    });
  const a = open(0);
  t.after(() => a.close());
  const b = open(1);
  t.after(() => b.close());
  assert.equal(a.port, port);
  assert.equal(b.port, port);
  const senders = Array.from({ length: 16 }, () => new UdpSender(4));
  t.after(() => Promise.all(senders.map((s) => s.close())));
  for (const [i, s] of senders.entries()) for (let k = 0; k < 5; k++) await s.send(payload(i * 5 + k, 40), port, '127.0.0.1');
  const total = () => [...per[0].values(), ...per[1].values()].reduce((x, y) => x + y, 0);
  await until(() => total() >= 80, 5000, '80 datagrams');
  await sleep(50);
  assert.equal(total(), 80);
  assert.ok(per[0].size > 0 && per[1].size > 0, `both sockets receive (${per[0].size} / ${per[1].size} senders)`);
  for (const s of senders) {
    const p = await s.port();
    const on = per.filter((m) => m.has(p));
    assert.equal(on.length, 1, `sender ${p} on one socket`);
    assert.equal(on[0].get(p), 5);
  }
  t.diagnostic(`senders per socket: ${per[0].size} / ${per[1].size}`);
});

/* ------------------------------------------------------------ chooseReceiver */

test('chooseReceiver: dgram on request; with the addon path pointing nowhere, auto falls back with a note, batched fails and so does a batched worker collector', async (t) => {
  assert.deepEqual(chooseReceiver('dgram'), { receiver: 'dgram', addon: null, note: '' });
  if (!noAddon) assert.equal(chooseReceiver('auto').receiver, 'batched');
  const saved = process.env[UDP_RECV_ENV];
  const missing = path.join(import.meta.dirname, 'no-such-dir', 'udp_recv.node');
  process.env[UDP_RECV_ENV] = missing;
  t.after(() => {
    if (saved === undefined) delete process.env[UDP_RECV_ENV];
    else process.env[UDP_RECV_ENV] = saved;
  });
  const auto = chooseReceiver('auto');
  assert.equal(auto.receiver, 'dgram');
  assert.equal(auto.addon, null);
  assert.ok(auto.note.includes(missing), auto.note);
  assert.throws(() => chooseReceiver('batched'), (e: Error) => e.message.includes('listen.receiver') && e.message.includes(missing));
  assert.deepEqual(chooseReceiver('dgram'), { receiver: 'dgram', addon: null, note: '' });

  const nf = await freePort();
  const sf = await freePort();
  const o = (receiver: 'auto' | 'batched'): CollectorOptions => ({ netflow: `127.0.0.1:${nf}`, sflow: `127.0.0.1:${sf}`, workers: 1, receiver, receiveBufferBytes: 1 << 20, defaultSamplingRate: 1, flowSources: [], boundary: [] });
  const failing = new Collector(o('batched'), { record() {} }, quiet);
  t.after(() => failing.stop());
  await assert.rejects(failing.start(), (e: Error) => e.message.includes('listen.receiver') && e.message.includes(missing));
  for (const port of [nf, sf]) {
    const p = await listenUdp({ host: '127.0.0.1', port }, {}, () => {});
    await p.close();
  }

  let records = 0;
  const col = new Collector(o('auto'), { record: () => void records++ }, quiet);
  t.after(() => col.stop());
  await col.start();
  assert.equal(col.receiver, 'dgram');
  assert.ok(col.receiverNote.includes(missing), col.receiverNote);
  assert.equal(col.ports.sflow, sf);
  const s = new UdpSender(4);
  t.after(() => s.close());
  await s.send(fixtures()[0].payload, sf, '127.0.0.1');
  await until(async () => (await col.statsNow()).datagrams === 1, 5000, 'a datagram through the node:dgram worker');
  await col.stop();
  assert.ok(records > 0);
});

/* ------------------------------------------------------------ worker thread */

function line(r: FlowRecord): string {
  const a = (v4: number, v6: Uint8Array) => (r.family === 4 ? formatIPv4(v4) : formatIPv6(v6));
  return [r.exporter, r.proto, r.domain, r.family, a(r.src4, r.src6), a(r.dst4, r.dst6), r.srcPort, r.dstPort, r.ipProto, r.tcpFlags, r.icmpType, r.icmpCode, r.fragment, r.bytes, r.packets, r.samplingRate, r.inIf, r.outIf, r.fields].join(' ');
}

test('worker-thread collector with receiver "batched": the same records as a direct decode', { skip: noAddon }, async (t) => {
  const dgs = fixtures().map((f) => f.payload);
  const want: string[] = [];
  const dec = new FlowDecoder({ record: (r) => void want.push(line(r)) });
  for (const d of dgs) dec.datagram(d, '127.0.0.1', Date.now());
  const got: string[] = [];
  const col = new Collector({ netflow: '', sflow: '127.0.0.1:0', workers: 1, receiver: 'batched', receiveBufferBytes: 1 << 20, defaultSamplingRate: 1, flowSources: [], boundary: [], flushMs: 2 }, { record: (r) => void got.push(line(r)) }, quiet);
  t.after(() => col.stop());
  await col.start();
  assert.equal(col.receiver, 'batched');
  assert.equal(col.workerCount, 1);
  const s = new UdpSender(4);
  t.after(() => s.close());
  for (const d of dgs) await s.send(d, col.ports.sflow!, '127.0.0.1');
  await until(async () => (await col.statsNow()).delivered >= want.length, 5000, 'records from the worker');
  const st = await col.statsNow();
  assert.ok(want.length > 0);
  assert.deepEqual([...got].sort(), [...want].sort());
  assert.equal(st.datagrams, dgs.length);
  assert.equal(st.dropped.receive_buffer, 0);
  await col.stop();
});
