import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, openSync, writeSync, closeSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Store, SCHEMA_VERSION, defaultDbPath } from '../../src/store/sqlite.ts';
import { makeAttack, makeBan } from './fixtures.ts';

const root = resolve(import.meta.dirname, '../..');

function tmp(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'bw-store-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('default path is <data_dir>/breakwater.db; WAL and the schema version are set on open', (t) => {
  const d = tmp(t);
  assert.equal(defaultDbPath(d), join(d, 'breakwater.db'));
  assert.equal(defaultDbPath(d, '/x/y.db'), '/x/y.db');
  const s = Store.open(join(d, 'nested', 'dir'));
  assert.equal(s.journalMode(), 'wal');
  assert.equal(s.schemaVersion(), SCHEMA_VERSION);
  s.close();
  assert.ok(existsSync(join(d, 'nested', 'dir', 'breakwater.db')));
  // Reopening does not run migrations again (they would fail on CREATE TABLE).
  const s2 = Store.open(join(d, 'nested', 'dir'));
  assert.equal(s2.schemaVersion(), SCHEMA_VERSION);
  s2.close();
});

test('bans: active until ended, historical after, paginated newest first, announced_to kept', (t) => {
  const d = tmp(t);
  const s = new Store(join(d, 'b.db'));
  const t0 = 1_700_000_000_000;
  const bans = Array.from({ length: 25 }, (_, i) => makeBan(`198.51.100.${i + 10}`, { created: t0 + i * 1000 }));
  for (const b of bans) assert.equal(s.saveBan(b), true);
  s.setAnnounced(bans[3].id, ['192.0.2.9', '192.0.2.8']);
  s.saveBan({ ...bans[0], ended: t0 + 50_000, end_reason: 'ttl' });
  s.saveBan({ ...bans[1], ended: t0 + 51_000, end_reason: 'manual' });

  const active = s.activeBans();
  assert.equal(active.length, 23);
  assert.ok(!active.some((b) => b.id === bans[0].id || b.id === bans[1].id));
  assert.deepEqual(s.getBan(bans[3].id)?.announced_to, ['192.0.2.8', '192.0.2.9']);
  assert.deepEqual(s.getBan(bans[3].id)?.route, bans[3].route);

  const p1 = s.listBans({ limit: 10 });
  assert.equal(p1.total, 25);
  assert.equal(p1.items.length, 10);
  assert.equal(p1.items[0].id, bans[24].id, 'newest first');
  const p3 = s.listBans({ limit: 10, offset: 20 });
  assert.equal(p3.items.length, 5);
  const hist = s.listBans({ active: false });
  assert.deepEqual(hist.items.map((b) => b.end_reason).sort(), ['manual', 'ttl']);
  assert.equal(s.listBans({ target: '198.51.100.12' }).total, 1);
  s.close();

  const again = new Store(join(d, 'b.db'));
  assert.equal(again.activeBans().length, 23);
  again.close();
});

test('attacks and the audit log are stored and listed', (t) => {
  const d = tmp(t);
  const s = new Store(join(d, 'a.db'));
  const a = makeAttack('203.0.113.5', { start: 1000 });
  s.saveAttack(a);
  s.saveAttack({ ...a, peak_pps: 99_000, vector: 'ntp_amplification' });
  s.saveAttack(makeAttack('203.0.113.6', { start: 2000, end: 5000 }));
  assert.equal(s.listAttacks().total, 2);
  assert.equal(s.listAttacks({ active: true }).items[0].peak_pps, 99_000);
  assert.equal(s.listAttacks({ active: true }).items[0].vector, 'ntp_amplification');
  assert.equal(s.listAttacks({ active: false }).items[0].target, '203.0.113.6');

  s.audit({ time: 1, actor: 'auto', action: 'ban', target: '203.0.113.5', detail: { ttl: 600 } });
  s.audit({ time: 2, actor: 'alice', action: 'unban', target: '203.0.113.5' });
  s.audit({ time: 3, actor: 'signal', action: 'reload', detail: { changed: ['dry_run'] } });
  const log = s.listAudit();
  assert.equal(log.total, 3);
  assert.deepEqual(log.items.map((e) => e.action), ['reload', 'unban', 'ban']);
  assert.deepEqual(log.items[2].detail, { ttl: 600 });
  assert.equal(s.listAudit({ action: 'unban' }).items[0].actor, 'alice');

  s.prune(10 * 86_400_000, 1);
  assert.equal(s.listAudit().total, 0);
  assert.equal(s.listAttacks().total, 1, 'active attacks are never pruned');
  s.close();
});

test('a ban survives kill -9 right after saveBan returns', async (t) => {
  const d = tmp(t);
  const db = join(d, 'crash.db');
  const script = `
    import { Store } from ${JSON.stringify(join(root, 'src/store/sqlite.ts'))};
    const s = new Store(${JSON.stringify(db)});
    let i = 0;
    setInterval(() => {
      const id = 'crash-' + (i++);
      s.saveBan({ id, target: '198.51.100.7', family: 4, source: 'auto', reason: 'pps', action: 'blackhole', escalation_step: -1,
        route: { type: 'blackhole', prefix: '198.51.100.7/32', next_hop: '192.0.2.1', communities: ['65535:666'], large_communities: [] },
        created: Date.now(), expires: Date.now() + 600000, ttl_seconds: 600 });
      process.stdout.write(id + '\\n');
    }, 5);
  `;
  const file = join(d, 'writer.ts');
  writeFileSync(file, script);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const acked: string[] = [];
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error('writer did not start')), 20_000);
    let buf = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      acked.push(...lines.filter(Boolean));
      if (acked.length >= 20) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        res();
      }
    });
  });
  await new Promise((r) => child.once('exit', r));
  const s = new Store(db);
  const ids = new Set(s.activeBans().map((b) => b.id));
  for (const id of acked) assert.ok(ids.has(id), `acknowledged ban ${id} lost after kill -9`);
  s.close();
});

function tryMountTmpfs(dir: string, size: string): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  return r.status === 0;
}

test('a full disk: writes fail without throwing, are retried, and nothing is lost once space returns', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'bw-store-full-'));
  const mnt = join(d, 'mnt');
  mkdirSync(mnt);
  const real = tryMountTmpfs(mnt, '1m');
  t.after(() => {
    if (real) spawnSync('umount', ['-l', mnt], { stdio: 'ignore' });
    rmSync(d, { recursive: true, force: true });
  });
  t.diagnostic(real ? 'full disk: a 1 MiB tmpfs filled by a filler file' : 'full disk: simulated with PRAGMA max_page_count (tmpfs mount not available)');
  const s = new Store(join(mnt, 'breakwater.db'));
  const first = makeBan('198.51.100.20');
  assert.equal(s.saveBan(first), true);

  const filler = join(mnt, 'filler');
  if (real) {
    // Fill every free byte of the file system.
    const fd = openSync(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (let i = 0; i < 10_000; i++) writeSync(fd, chunk);
    } catch {
      /* ENOSPC: full */
    }
    try {
      for (let i = 0; i < 100_000; i++) writeSync(fd, chunk, 0, 512);
    } catch {
      /* ENOSPC */
    }
    closeSync(fd);
  } else {
    s.setMaxPages(1);
  }

  // Big audit payloads make sure the WAL must grow.
  const big = 'x'.repeat(64 * 1024);
  const bans = Array.from({ length: 5 }, (_, i) => makeBan(`198.51.100.${30 + i}`, { reason: big }));
  let failures = 0;
  for (const b of bans) if (!s.saveBan(b)) failures++;
  assert.ok(failures > 0, 'writes should fail on a full disk');
  assert.equal(s.stats.degraded, true);
  assert.ok(s.stats.write_errors >= failures);
  assert.ok(s.stats.pending > 0);
  assert.match(s.stats.last_error, /full|disk|I\/O|space/i);

  if (real) rmSync(filler);
  else s.setMaxPages(1_000_000);
  assert.equal(s.retryPending(), 0);
  assert.equal(s.stats.degraded, false);
  const ids = new Set(s.activeBans().map((b) => b.id));
  for (const b of [first, ...bans]) assert.ok(ids.has(b.id), `${b.id} missing after recovery`);
  s.close();
});
