/**
 * The live stream's bound: a client that never reads is dropped once its
 * unsent output passes the bound, while a client that reads keeps its stream
 * (real HTTP server and sockets on loopback).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { LiveStream, STREAM_BUFFER_BYTES } from '../../src/api/console-routes.ts';
import type { ApiBackend } from '../../src/api/server.ts';

const big = 'x'.repeat(64 * 1024);
const backend = {
  status: () => ({ mode: 'dry_run', pad: big }),
  attacks: () => ({ items: [], total: 0 }),
  bans: () => ({ items: [], total: 0 }),
} as unknown as ApiBackend;

test('stream: a client that stops reading is dropped past the buffer bound; a reading client keeps streaming', { timeout: 60_000 }, async (t) => {
  assert.equal(STREAM_BUFFER_BYTES, 1 << 20);
  const stream = new LiveStream(backend, 20, 256 * 1024);
  const srv = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    stream.add(req, res);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(() => {
    stream.close();
    srv.closeAllConnections();
    srv.close();
  });
  const port = (srv.address() as { port: number }).port;

  // The stalled client: sends its request, then never reads.
  const stalled = connect(port, '127.0.0.1');
  stalled.on('error', () => undefined);
  await once(stalled, 'connect');
  stalled.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  stalled.pause();
  const closed = once(stalled, 'close');

  // The reading client.
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: ac.signal });
  const reader = res.body!.getReader();

  const t0 = Date.now();
  while (stream.stats.dropped_slow === 0 && Date.now() - t0 < 20_000) {
    const r = await reader.read();
    assert.equal(r.done, false);
  }
  assert.equal(stream.stats.dropped_slow, 1, 'the stalled client was dropped');
  stalled.resume(); // read what the kernel held, then the server's close
  await closed;
  assert.equal(stream.stats.clients, 1);
  // The reader still gets status frames after the drop.
  const before = stream.stats.events;
  let got = 0;
  while (got < 4 * big.length) got += (await reader.read()).value?.length ?? 0;
  assert.ok(stream.stats.events > before);
  assert.equal(stream.stats.dropped_slow, 1, 'a client that reads is never dropped');
  ac.abort();
});
