import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.ts';
import { notYetImplemented } from '../../src/daemon/daemon.ts';

test('keys accepted for compatibility but not acted on are listed for the start-up warning', () => {
  assert.deepEqual(notYetImplemented(validateConfig({})), []);
  const cfg = validateConfig({
    notify: { slack: { webhook_url: 'https://hooks.example.net/x' }, exec: { command: '/usr/local/bin/notify' } },
    storage: { clickhouse: { url: 'http://127.0.0.1:8123' } },
  });
  // The notify channels and ClickHouse history work: nothing is listed.
  assert.deepEqual(notYetImplemented(cfg), []);
});
