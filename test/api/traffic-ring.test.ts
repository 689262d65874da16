/**
 * The in-memory rate ring behind GET /api/v1/hosts/{ip}/traffic: its memory
 * is fixed at construction whatever the traffic (property-tested with
 * fast-check), hosts beyond maxHosts reuse the least recently written row,
 * a host silent for a whole window is forgotten, and a step is one point.
 * On a real daemon: the last minutes come from memory in the contract's
 * shape; older ones need ClickHouse (404 without it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TrafficRing } from '../../src/api/traffic-ring.ts';
import { startHarness } from '../daemon/harness.ts';

test('ring: bounded by maxHosts × slots whatever is recorded; rows are reused, never grown', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ host: fc.integer({ min: 0, max: 500 }), dt: fc.integer({ min: 0, max: 20_000 }), pps: fc.double({ min: 0, max: 1e9, noNaN: true }) }), { maxLength: 400 }),
      (ops) => {
        const ring = new TrafficRing({ windowMs: 60_000, stepMs: 5000, maxHosts: 16 });
        const bytes = ring.bytes;
        let now = 1_700_000_000_000;
        for (const o of ops) {
          now += o.dt;
          ring.record(now, [{ ip: `10.0.${o.host >> 8}.${o.host & 255}`, direction: 'incoming', pps: o.pps, bps: o.pps * 8000, fps: 1 }]);
          assert.ok(ring.hosts <= 16);
          assert.equal(ring.bytes, bytes);
        }
        // Every point returned lies in the window and is one per step.
        for (let h = 0; h <= 500; h += 50) {
          const pts = ring.points(`10.0.${h >> 8}.${h & 255}`, now - 60_000, now + 1);
          assert.ok(pts.length <= ring.slots);
          assert.ok(pts.every((p, i) => p.t >= ring.horizon(now) && (i === 0 || p.t > pts[i - 1].t)));
        }
      },
    ),
    { numRuns: 200 },
  );
  assert.equal(new TrafficRing({ windowMs: 15 * 60_000, stepMs: 5000, maxHosts: 2000 }).bytes, 2000 * 180 * 6 * 8 + 2000 * 180 * 8 + 2000 * 8, 'the default ring: about 20 MB, fixed');
});

test('ring: one point per step with both directions; evicts the least recently written host; forgets silent hosts', () => {
  const ring = new TrafficRing({ windowMs: 60_000, stepMs: 5000, maxHosts: 2 });
  const t0 = 1_700_000_000_000;
  ring.record(t0, [
    { ip: 'a', direction: 'incoming', pps: 10, bps: 80_000, fps: 1 },
    { ip: 'a', direction: 'outgoing', pps: 3, bps: 24_000, fps: 2 },
  ]);
  ring.record(t0 + 5000, [{ ip: 'a', direction: 'incoming', pps: 20, bps: 160_000, fps: 1 }]);
  assert.deepEqual(ring.points('a', t0 - 1, t0 + 10_000), [
    { t: t0, in_pps: 10, in_bps: 80_000, in_fps: 1, out_pps: 3, out_bps: 24_000, out_fps: 2 },
    { t: t0 + 5000, in_pps: 20, in_bps: 160_000, in_fps: 1, out_pps: 0, out_bps: 0, out_fps: 0 },
  ]);
  ring.record(t0 + 10_000, [{ ip: 'b', direction: 'incoming', pps: 1, bps: 1, fps: 1 }]);
  ring.record(t0 + 15_000, [{ ip: 'c', direction: 'incoming', pps: 1, bps: 1, fps: 1 }]);
  assert.equal(ring.hosts, 2);
  assert.deepEqual(ring.points('a', t0 - 1, t0 + 20_000), [], 'a was written least recently: its row went to c');
  assert.equal(ring.evictions, 1);
  assert.equal(ring.points('c', t0, t0 + 20_000).length, 1);
  ring.record(t0 + 15_000 + 60_000, [{ ip: 'c', direction: 'incoming', pps: 1, bps: 1, fps: 1 }]);
  assert.equal(ring.hosts, 1, 'b, silent for a whole window, is forgotten');
  assert.equal(ring.points('c', t0, t0 + 200_000).length, 1, 'c\'s old point fell out of the window');
});

test('GET /api/v1/hosts/{ip}/traffic: the last minutes from memory in the contract shape; older needs ClickHouse', { timeout: 60_000 }, async (t) => {
  const h = await startHarness(t);
  const V = '198.51.100.5';
  h.advance(200);
  for (let i = 0; i < 10; i++) {
    h.flood(V, 50, 10, { srcPort: 123, bytes: 468 });
    h.advance(100);
  }
  // The ring is stamped on the daemon's (manual, ahead-running) clock, and the route reads that clock too: no wait.
  const start = h.clock.now();
  h.d.sampleTraffic();
  const r = await h.req('GET', `/api/v1/hosts/${V}/traffic?from=-15m`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ip, V);
  assert.equal(r.json.source, 'memory');
  assert.equal(r.json.step, 5);
  assert.equal(r.json.points.length, 1);
  const p = r.json.points[0];
  for (const k of ['t', 'in_pps', 'in_bps', 'in_fps', 'out_pps', 'out_bps', 'out_fps']) assert.equal(typeof p[k], 'number', k);
  assert.ok(p.in_pps >= 4000 && p.in_bps > 0, JSON.stringify(p));
  assert.ok(Math.abs(p.t - start) <= 10_000);
  // A host without recorded traffic: no points (not an error).
  assert.deepEqual((await h.req('GET', '/api/v1/hosts/198.51.100.99/traffic?from=-5m')).json.points, []);
  // Beyond the ring without storage.clickhouse: 404 naming the key.
  const old = await h.req('GET', `/api/v1/hosts/${V}/traffic?from=-2h`);
  assert.equal(old.status, 404);
  assert.match(old.json.error, /storage\.clickhouse/);
  // Top talkers by bits/s and flows/s.
  const top = (await h.req('GET', '/api/v1/hosts?sort=bps&limit=1')).json;
  assert.equal(top.hosts[0].ip, V);
  assert.ok(top.hosts[0].bps > 0);
  assert.equal((await h.req('GET', '/api/v1/hosts?sort=flows')).json.hosts[0].ip, V);
  assert.equal((await h.req('GET', '/api/v1/hosts?sort=nope')).status, 400);
});
