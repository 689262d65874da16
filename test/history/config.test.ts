/** storage.clickhouse: Kapkan's keys load unchanged, defaults, and what is refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.ts';
import { credentials } from '../../src/history/client.ts';
import { parseDuration, parseTime } from '../../src/history/time.ts';

test('Kapkan\'s storage.clickhouse keys load unchanged', () => {
  const cfg = validateConfig({
    storage: {
      clickhouse: {
        url: 'http://127.0.0.1:8123', database: 'kapkan', username_env: 'CH_USER', password_env: 'CH_PASS',
        ttl_days: 30, flush_interval_seconds: 2, batch_size: 5000, queue_size: 100000, traffic_interval_seconds: 30,
      },
    },
  });
  const ch = cfg.storage.clickhouse!;
  assert.equal(ch.database, 'kapkan');
  assert.equal(ch.ttl_days, 30);
  assert.equal(ch.flush_interval_seconds, 2);
  assert.equal(ch.batch_size, 5000);
  assert.equal(ch.queue_size, 100000);
  assert.equal(ch.traffic_interval_seconds, 30);
  assert.deepEqual(credentials(ch, { CH_USER: 'bw', CH_PASS: 's3cret' }), { username: 'bw', password: 's3cret' });
  assert.deepEqual(credentials(ch, {}), { username: undefined, password: undefined });
});

test('storage.clickhouse defaults; a database name that is not an identifier is refused', () => {
  const ch = validateConfig({ storage: { clickhouse: { url: 'http://127.0.0.1:8123' } } }).storage.clickhouse!;
  assert.deepEqual(
    { ...ch },
    { url: 'http://127.0.0.1:8123', database: 'breakwater', ttl_days: 90, flush_interval_seconds: 5, batch_size: 10000, queue_size: 200000, traffic_interval_seconds: 10, traffic_min_pps: 1, traffic_max_hosts: 100000, spool_max_bytes: 1073741824, timeout_seconds: 10 },
  );
  assert.throws(() => validateConfig({ storage: { clickhouse: { url: 'http://127.0.0.1:8123', database: 'x; DROP TABLE y' } } }), /storage\.clickhouse\.database/);
  assert.throws(() => validateConfig({ storage: { clickhouse: { url: 'http://127.0.0.1:8123', batch_size: 0 } } }), /storage\.clickhouse\.batch_size/);
  assert.throws(() => validateConfig({ storage: { clickhouse: { url: 'http://127.0.0.1:8123', retention: 3 } } }), /storage\.clickhouse\.retention/);
});

test('times and durations of the history API and breakwater report', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  assert.equal(parseTime('now', now), now);
  assert.equal(parseTime('-6h', now), now - 6 * 3_600_000);
  assert.equal(parseTime('now-7d', now), now - 7 * 86_400_000);
  assert.equal(parseTime('1796644800', now), 1796644800_000);
  assert.equal(parseTime('1796644800000', now), 1796644800_000);
  assert.equal(parseTime('2026-12-07T10:00:00Z', now), Date.parse('2026-12-07T10:00:00Z'));
  assert.equal(parseTime('yesterday', now), undefined);
  assert.equal(parseDuration('10'), 10_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1x'), undefined);
});
