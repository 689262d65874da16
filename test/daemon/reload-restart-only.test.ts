/**
 * A reload that adds storage.clickhouse to a running daemon: applied only at
 * start, so the answer says a restart is needed, the history module reports
 * it, the running config keeps no ClickHouse, and the audit entry lists it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Daemon } from '../../src/daemon/daemon.ts';
import { createLogger } from '../../src/core/log.ts';
import { removeDir, tempDir } from '../helpers/netns.ts';

test('reload: storage.clickhouse is restart-only (needs_restart, history reports it, the running config keeps its value)', { timeout: 60_000 }, async (t) => {
  const dir = tempDir('bw-restart-only-');
  const log = createLogger({ format: 'json', level: 'error', destination: { write: () => {} } });
  const configFile = join(dir, 'breakwater.yaml');
  const cfg = (extra: Record<string, unknown> = {}) => ({
    listen: { netflow: '', sflow: '' },
    networks: ['198.51.100.0/24'],
    thresholds: { pps: 1_000_000 },
    api: { listen: '127.0.0.1:0' },
    storage: { data_dir: join(dir, 'data'), ...extra },
  });
  let d: Daemon | undefined;
  t.after(async () => {
    await d?.stop('test end').catch(() => undefined);
    removeDir(dir);
  });
  writeFileSync(configFile, stringify(cfg()));
  d = new Daemon({ configFile, log });
  await d.start();
  const api = async (method: string, path: string) => {
    const res = await fetch(`http://127.0.0.1:${d!.apiAddress!.port}${path}`, { method, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, json: (await res.json()) as any };
  };

  // 127.0.0.1:9 (discard): nothing is contacted, the block only waits for a restart
  writeFileSync(configFile, stringify(cfg({ clickhouse: { url: 'http://127.0.0.1:9' } })));
  const r = await api('POST', '/api/v1/config/reload');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json.changed, ['storage.clickhouse']);
  assert.deepEqual(r.json.needs_restart, ['storage.clickhouse']);
  assert.deepEqual(r.json.plan, ['restart only: storage.clickhouse']);
  assert.deepEqual(r.json.applied, [{ module: 'history', did: ['restart required: storage.clickhouse apply at the next start'] }]);
  assert.equal(d.cfg.storage.clickhouse, undefined, 'the running config has no ClickHouse until a restart');
  const audit = await api('GET', '/api/v1/audit');
  const entry = audit.json.audit.find((e: any) => e.action === 'reload');
  assert.deepEqual(entry?.detail?.needs_restart, ['storage.clickhouse'], JSON.stringify(audit.json).slice(0, 500));
});
