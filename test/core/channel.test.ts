/**
 * core/channel.ts over real MessageChannels and a real worker thread:
 * replies by id, errors carried back, timeouts, one-way messages in order,
 * close() rejecting what is pending, and no listener left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Channel, ChannelClosedError, ChannelTimeoutError, type PortLike } from '../../src/core/channel.ts';

interface ASends {
  req: { add: [{ a: number; b: number }, number]; fail: [string, never]; slow: [number, string]; missing: [undefined, void] };
  msg: { note: string };
}
interface BSends {
  req: { ping: [undefined, 'pong'] };
  msg: { tick: number };
}

function pair() {
  const { port1, port2 } = new MessageChannel();
  const a = new Channel<ASends, BSends>(port1 as PortLike);
  const b = new Channel<BSends, ASends>(port2 as PortLike);
  return { a, b, port1, port2, done: () => (a.close(), b.close(), port1.close(), port2.close()) };
}

test('channel: replies go to the request with their id, in either direction', async () => {
  const { a, b, done } = pair();
  try {
    b.handle('add', ({ a: x, b: y }) => x + y).handle('slow', async (ms) => {
      await new Promise((r) => setTimeout(r, ms));
      return `slept ${ms}`;
    });
    a.handle('ping', () => 'pong' as const);
    // the slow one is asked first and answers last: each promise still gets its own reply
    const [s, n1, n2, p] = await Promise.all([a.request('slow', 50), a.request('add', { a: 1, b: 2 }), a.request('add', { a: 40, b: 2 }), b.request('ping', undefined)]);
    assert.deepEqual([s, n1, n2, p], ['slept 50', 3, 42, 'pong']);
    assert.equal(a.pendingCount, 0);
    assert.equal(b.pendingCount, 0);
  } finally {
    done();
  }
});

test('channel: a handler error comes back as an error with its message, name and code; an unknown op is an error too', async () => {
  const { a, b, done } = pair();
  try {
    b.handle('fail', (why) => {
      const e = new RangeError(`refused: ${why}`) as RangeError & { code: string };
      e.code = 'E_REFUSED';
      throw e;
    });
    await assert.rejects(a.request('fail', 'no'), (e: Error & { code?: string }) => e.message === 'refused: no' && e.name === 'RangeError' && e.code === 'E_REFUSED');
    b.handle('slow', async () => {
      throw new Error('async failure');
    });
    await assert.rejects(a.request('slow', 1), /async failure/);
    await assert.rejects(a.request('missing', undefined), /no handler for missing/);
    assert.equal(a.pendingCount, 0);
  } finally {
    done();
  }
});

test('channel: a request without a reply times out, and a late reply is dropped', async () => {
  const { a, b, done } = pair();
  try {
    b.handle('slow', async (ms) => {
      await new Promise((r) => setTimeout(r, ms));
      return 'late';
    });
    const t0 = Date.now();
    await assert.rejects(a.request('slow', 300, { timeoutMs: 50 }), (e: Error) => e instanceof ChannelTimeoutError && /slow/.test(e.message));
    assert.ok(Date.now() - t0 < 250);
    assert.equal(a.pendingCount, 0, 'the timed-out request is forgotten');
    await new Promise((r) => setTimeout(r, 350)); // the late reply arrives and is ignored
    assert.equal(await a.request('add', { a: 2, b: 2 }).catch(() => 'no handler'), 'no handler');
  } finally {
    done();
  }
});

test('channel: one-way messages keep their order with replies; a throwing listener is reported, not fatal', async () => {
  const { a, b, done } = pair();
  const errors: string[] = [];
  try {
    const seen: string[] = [];
    a.on('tick', (n) => seen.push(`tick ${n}`));
    b.handle('add', ({ a: x, b: y }) => {
      for (let i = 0; i < 3; i++) b.post('tick', i);
      return x + y;
    });
    const r = await a.request('add', { a: 1, b: 1 });
    seen.push(`reply ${r}`);
    assert.deepEqual(seen, ['tick 0', 'tick 1', 'tick 2', 'reply 2'], 'messages posted before the reply arrive before it');
    // a listener that throws: reported through onError, the channel keeps working
    const { port1, port2 } = new MessageChannel();
    const x = new Channel<ASends, BSends>(port1 as PortLike, { onError: (e, what) => errors.push(`${what}: ${e.message}`) });
    const y = new Channel<BSends, ASends>(port2 as PortLike);
    x.on('tick', (n) => {
      if (n === 1) throw new Error('bad tick');
    });
    x.handle('ping', () => 'pong' as const);
    y.post('tick', 1);
    assert.equal(await y.request('ping', undefined), 'pong');
    assert.deepEqual(errors, ['tick: bad tick']);
    x.close();
    y.close();
    port1.close();
    port2.close();
  } finally {
    done();
  }
});

test('channel: close() rejects what is pending, refuses new requests and removes its one listener', async () => {
  const { port1, port2 } = new MessageChannel();
  const before = port1.listenerCount('message');
  const a = new Channel<ASends, BSends>(port1 as PortLike, { timeoutMs: 0 });
  assert.equal(port1.listenerCount('message'), before + 1, 'one listener per channel');
  const b = new Channel<BSends, ASends>(port2 as PortLike);
  b.handle('slow', () => new Promise<string>(() => {})); // never answers
  const p = a.request('slow', 1);
  const q = a.request('slow', 2);
  assert.equal(a.pendingCount, 2);
  a.close('worker gone');
  await assert.rejects(p, (e: Error) => e instanceof ChannelClosedError && e.message === 'worker gone');
  await assert.rejects(q, ChannelClosedError);
  await assert.rejects(a.request('add', { a: 1, b: 1 }), ChannelClosedError);
  assert.equal(a.pendingCount, 0);
  assert.equal(port1.listenerCount('message'), before, 'listener removed');
  a.close(); // idempotent
  // many requests with replies leave no timers or entries behind
  const { port1: p1, port2: p2 } = new MessageChannel();
  const c = new Channel<ASends, BSends>(p1 as PortLike);
  const d = new Channel<BSends, ASends>(p2 as PortLike);
  d.handle('add', ({ a: x, b: y }) => x + y);
  const sums = await Promise.all(Array.from({ length: 2000 }, (_, i) => c.request('add', { a: i, b: 1 })));
  assert.equal(sums[1999], 2000);
  assert.equal(c.pendingCount, 0);
  assert.equal(p1.listenerCount('message'), 1);
  for (const x of [b, c, d]) x.close();
  for (const x of [port1, port2, p1, p2]) x.close();
});

test('channel: across a real worker thread, and a worker that exits rejects what it left unanswered', { timeout: 20000 }, async () => {
  const src = `
    const { parentPort } = require('node:worker_threads');
    parentPort.on('message', (f) => {
      if (f.$ch !== 'req') return;
      if (f.op === 'add') parentPort.postMessage({ $ch: 'res', id: f.id, value: f.arg.a + f.arg.b });
      else if (f.op === 'fail') parentPort.postMessage({ $ch: 'err', id: f.id, message: 'nope', name: 'TypeError' });
      else if (f.op === 'slow') process.exit(3);
    });`;
  const w = new Worker(src, { eval: true });
  const ch = new Channel<ASends, BSends>(w as PortLike, { timeoutMs: 5000 });
  w.on('exit', () => ch.close('worker exited'));
  assert.equal(await ch.request('add', { a: 20, b: 22 }), 42);
  await assert.rejects(ch.request('fail', 'x'), (e: Error) => e.name === 'TypeError' && e.message === 'nope');
  await assert.rejects(ch.request('slow', 1), (e: Error) => e instanceof ChannelClosedError && /exited/.test(e.message));
  assert.equal(ch.pendingCount, 0);
});
