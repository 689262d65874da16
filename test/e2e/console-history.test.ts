/**
 * The console's History view in real headless Chromium, against Breakwater
 * as a child process writing to a real ClickHouse 18.16 on loopback:
 *   - two captures from pcaps/ (an NTP amplification and a SYN flood) are
 *     replayed over UDP, the attacks and their short bans end, their rows
 *     reach ClickHouse;
 *   - a viewer opens History, filters by target and by vector, sees each
 *     attack with its ban events (created, ended), opens the NTP attack: its
 *     sample (source port 123, udp, packet sizes) and the target's traffic
 *     chart around it;
 *   - 120 older attacks of one target (written straight into ClickHouse)
 *     page by "More" (cursor), with newer ones inserted between the pages:
 *     every one of the 120 once, none twice;
 *   - a daemon without storage.clickhouse offers no History, and its hash
 *     says what to configure. No mutating control anywhere.
 * Screenshots go to the test's temp dir (path printed, kept).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { clickhouseClient } from '../../src/history/client.ts';
import { attackRow } from '../../src/history/rows.ts';
import { TrafficSampler } from '../../src/history/traffic.ts';
import { attack } from '../history/fixtures.ts';
import { CLICKHOUSE_BIN, startClickHouse, type ClickHouseServer } from '../history/server.ts';
import { login, mutatingControls } from './browser.ts';
import { freePort, repoRoot, startBreakwater, writeYaml, type Breakwater } from './helpers.ts';
import { buildConsole } from '../../scripts/build-console.ts';

const run = promisify(execFile);
const CHROMIUM = process.env.BREAKWATER_CHROMIUM ?? '/usr/bin/chromium';
const NTP = { file: join(repoRoot, 'pcaps/pmacct-sflow5-sampled-ntp-amp.pcap'), victim: '203.0.113.20', vector: 'ntp_amplification' };
const SYN = { file: join(repoRoot, 'pcaps/pmacct-sflow5-sampled-syn-flood.pcap'), victim: '198.51.100.10', vector: 'syn_flood' };
const PAGED = '198.51.100.99';
const skip = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM} (apt-get install chromium)` : !CLICKHOUSE_BIN ? 'clickhouse-server not installed' : ![NTP, SYN].every((c) => existsSync(c.file)) ? 'pcaps/ captures missing' : false;
const DB = 'console_history';
const VIEWER = 'history-viewer-token-5e1d';
const AUTH = { authorization: `Bearer ${VIEWER}` };

function config(dir: string, ports: { sflow: number; api: number }, ch?: ClickHouseServer): any {
  return {
    dry_run: true,
    log: { level: 'info' },
    listen: { netflow: '', sflow: `127.0.0.1:${ports.sflow}`, workers: 1 },
    networks: ['198.51.100.0/24', '203.0.113.0/24'],
    protected_whitelist: ['198.51.100.1/32'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 2 },
    thresholds: { pps: 5000 },
    ban: { ttl_seconds: 3, unban_hysteresis_seconds: 1 },
    bgp: { local_asn: 65000, router_id: '192.0.2.1', next_hop: '192.0.2.1', communities: ['65000:666'], neighbors: [] },
    api: { listen: `127.0.0.1:${ports.api}`, dashboard: true, tokens: [{ name: 'noc', token_env: 'BW_HISTORY_VIEWER', role: 'viewer' }] },
    storage: {
      data_dir: join(dir, 'data'),
      ...(ch ? { clickhouse: { url: ch.url, database: DB, flush_interval_seconds: 1, traffic_interval_seconds: 1, timeout_seconds: 5, batch_size: 500 } } : {}),
    },
  };
}

/** Sets the filter fields (empty string clears one) and applies them. */
async function filter(page: Page, f: { target?: string; vector?: string }): Promise<void> {
  await page.fill('[data-testid=history-target]', f.target ?? '');
  await page.fill('[data-testid=history-vector]', f.vector ?? '');
  await page.click('[data-testid=history-apply]');
}

/** The text of every attack row, once the list shows exactly `n` rows all matching `re`. */
async function attackRows(page: Page, n: number, re: RegExp): Promise<string[]> {
  return waitFor(`${n} history attack rows matching ${re}`, async () => {
    const rows = await page.locator('[data-testid=history-attacks] [data-testid=history-attack-row]').allTextContents();
    return rows.length === n && rows.every((r) => re.test(r)) ? rows : undefined;
  }, 20_000, 100);
}

test('console History in Chromium over a real ClickHouse: filters, ban events, samples, traffic, paging by cursor', { skip, timeout: 300_000 }, async (t) => {
  await buildConsole({ quiet: true });
  process.env.BW_HISTORY_VIEWER = VIEWER;
  const ch = await startClickHouse(t);
  const dir = tempDir('bw-console-history-');
  const shots = join(dir, 'screenshots');
  mkdirSync(shots);
  const ports = { sflow: freePort(), api: freePort() };
  const cfg = config(dir, ports, ch);
  writeYaml(join(dir, 'breakwater.yaml'), cfg);
  let bw: Breakwater | undefined;
  let plain: Breakwater | undefined;
  let browser: Browser | undefined;
  const client = clickhouseClient({ url: ch.url, timeoutMs: 10_000 });
  t.after(async () => {
    await browser?.close().catch(() => undefined);
    await bw?.stop().catch(() => undefined);
    await plain?.stop().catch(() => undefined);
    await client.close().catch(() => undefined);
    removeDir(join(dir, 'data'));
    removeDir(join(dir, 'plain'));
  });
  bw = await startBreakwater(join(dir, 'breakwater.yaml'), cfg);
  const get = async (path: string) => (await bw!.api('GET', path, undefined, AUTH)).json;
  await waitFor('ClickHouse history up', async () => (await get('/api/v1/status')).history?.schema_version === 1, 30_000, 200);

  // ---- two captures replayed; the attacks and their 3 s bans end; their rows reach ClickHouse
  // NTP at the capture's own pace (8 s of attack: the 5 s memory ring of rates sees it), SYN as fast as possible.
  await Promise.all([
    run(process.execPath, [join(repoRoot, 'src/main.ts'), 'replay', NTP.file, '--to', `127.0.0.1:${ports.sflow}`, '--speed', '1'], { timeout: 60_000 }),
    run(process.execPath, [join(repoRoot, 'src/main.ts'), 'replay', SYN.file, '--to', `127.0.0.1:${ports.sflow}`, '--speed', '0'], { timeout: 30_000 }),
  ]);
  for (const c of [NTP, SYN]) {
    await waitFor(`${c.vector} attack ended in history`, async () => (await get(`/api/v1/history/attacks?from=-1h&target=${c.victim}`)).attacks?.some((a: any) => a.vector === c.vector && !a.active), 60_000, 250);
    await waitFor(`${c.victim} ban created and ended in history`, async () => {
      const ev = ((await get(`/api/v1/history/bans?from=-1h&target=${c.victim}`)).bans ?? []).map((b: any) => b.event);
      return ev.includes('created') && ev.includes('ended');
    }, 60_000, 250);
  }

  // ---- 120 older attacks of one target, for paging
  const now = Date.now();
  const older = Array.from({ length: 120 }, (_, i) => attack(`paged-${String(i).padStart(3, '0')}`, PAGED, now - 120_000 - i * 10_000, { vector: 'udp_flood', end: now - 115_000 - i * 10_000 }));
  await client.insert(`${DB}.attacks`, older.map((a) => attackRow(a, now)));
  // and its traffic rows every 10 s from 35 minutes ago (older than the daemon's 15 minutes of memory: read from ClickHouse)
  const sampler = new TrafficSampler({ minPps: 1, maxHosts: 10 });
  const traffic = [];
  for (let at = now - 35 * 60_000; at < now - 60_000; at += 10_000) {
    const pps = older.some((a) => at >= a.start && at < a.end!) ? 40_000 : 2_000;
    traffic.push(...sampler.sample(at, [{ ip: PAGED, direction: 'incoming', pps, mbps: pps * 0.0004, fps: 20 }], []).filter((r) => r.kind === 'host'));
  }
  await client.insert(`${DB}.traffic`, traffic);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--disable-gpu', '--disable-dev-shm-usage'] });
  const errors: string[] = [];
  const page = await login(browser, `http://127.0.0.1:${ports.api}`, VIEWER, errors);
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  // The nav offers History once the status (stream) says the daemon has ClickHouse.
  await page.click('[data-testid=nav-history]', { timeout: 15_000 });
  await page.waitForSelector('[data-testid=view-history]');
  await page.locator('[data-testid=history-attack-row]').first().waitFor({ timeout: 20_000 });
  await shot('history-01-list');

  // ---- by target: the NTP attack and its ban events
  await filter(page, { target: NTP.victim });
  const ntpRows = await attackRows(page, 1, new RegExp(NTP.victim.replace(/\./g, '\\.')));
  assert.match(ntpRows[0], /ntp_amplification/);
  const banEvents = async (victim: string) =>
    waitFor(`ban events of ${victim}`, async () => {
      const rows = await page.locator('[data-testid=history-bans] [data-testid=history-ban-row]').allTextContents();
      return rows.length >= 2 && rows.every((r) => r.includes(victim)) && rows.some((r) => r.includes('created')) && rows.some((r) => r.includes('ended')) ? rows : undefined;
    }, 20_000, 100);
  await banEvents(NTP.victim);
  await shot('history-02-by-target');

  // ---- by vector: only the SYN flood (every target)
  await filter(page, { vector: SYN.vector });
  const synRows = await attackRows(page, 1, /syn_flood/);
  assert.match(synRows[0], new RegExp(SYN.victim.replace(/\./g, '\\.')));
  await banEvents(SYN.victim);
  await shot('history-03-by-vector');

  // ---- the NTP attack's detail: samples and the traffic around it
  await filter(page, { target: NTP.victim, vector: NTP.vector });
  await attackRows(page, 1, /ntp_amplification/);
  await page.locator('[data-testid=history-attack-row]').first().click();
  await page.waitForSelector('[data-testid=view-history-attack]');
  await page.locator('[data-testid=history-sample-row]').first().waitFor({ timeout: 15_000 });
  const flows = await page.locator('[data-testid=history-sample-row]').allTextContents();
  assert.ok(flows.length > 0 && flows.every((f) => f.includes(NTP.victim) && f.includes('udp')), flows.slice(0, 3).join('\n'));
  const sport = await page.locator('[data-testid=history-top-source-ports] tbody tr').first().textContent();
  assert.match(sport ?? '', /^123/, 'source port 123 tops the sample');
  assert.match((await page.textContent('[data-testid=history-top-protocols]')) ?? '', /udp/);
  assert.match((await page.textContent('[data-testid=history-packet-sizes]')) ?? '', / B/);
  await page.locator('[data-testid=view-history-attack] [data-testid=history-ban-row]', { hasText: 'created' }).first().waitFor({ timeout: 10_000 });
  await page.waitForSelector('[data-testid=history-traffic-chart] canvas', { timeout: 15_000 }).catch(async (e) => {
    throw new Error(`${(e as Error).message}\n${await page.textContent('[data-testid=history-traffic]')}`);
  });
  assert.match((await page.textContent('[data-testid=history-traffic-source]')) ?? '', /from (ClickHouse|the daemon's memory)/);
  assert.equal(await mutatingControls(page), 0, 'viewer: no mutating control on a past attack');
  await shot('history-04-attack');

  // ---- paging by cursor: 50, then "More" twice, newer attacks inserted between the pages
  await page.click('[data-testid=history-back]');
  await page.waitForSelector('[data-testid=view-history]');
  assert.equal(await page.inputValue('[data-testid=history-target]'), NTP.victim, 'back keeps the filter');
  await filter(page, { target: PAGED });
  await attackRows(page, 50, /udp_flood/);
  assert.match((await page.textContent('[data-testid=history-attacks-count]')) ?? '', /^50 of 120 attacks/);
  for (const [i, want] of [[0, 100], [1, 120]] as const) {
    await client.insert(`${DB}.attacks`, [attackRow(attack(`newer-${i}`, PAGED, Date.now() - 500, { vector: 'udp_flood' }), Date.now())]);
    await page.click('[data-testid=history-attacks-more]');
    await attackRows(page, want, /udp_flood/);
  }
  const all = await page.locator('[data-testid=history-attacks] [data-testid=history-attack-row]').allTextContents();
  assert.equal(new Set(all).size, 120, 'no attack twice');
  const starts = new Set(all.map((r) => r.slice(0, r.indexOf(PAGED))));
  const want = await page.evaluate((ts) => ts.map((t) => new Date(t).toLocaleString(undefined, { hour12: false })), older.map((a) => a.start));
  assert.deepEqual([...starts].sort(), [...want].sort(), 'every one of the 120 older attacks, none of the newer');
  assert.equal(await page.locator('[data-testid=history-attacks-more]').count(), 0, 'no More after the last page');
  assert.match((await page.textContent('[data-testid=history-attacks-count]')) ?? '', /^120 of 122 attacks/);
  assert.equal(await mutatingControls(page), 0, 'viewer: no mutating control in History');
  await shot('history-05-paged');
  // the oldest one: the traffic around it is older than 15 minutes, so it comes from ClickHouse
  await page.locator('[data-testid=history-attack-row]').last().click();
  await page.waitForSelector('[data-testid=view-history-attack]');
  await page.waitForSelector('[data-testid=history-traffic-chart] canvas', { timeout: 15_000 });
  assert.match((await page.textContent('[data-testid=history-traffic-source]')) ?? '', /from ClickHouse/);
  await shot('history-06-older-attack');
  assert.deepEqual(errors, [], 'no script error in the page');

  // ---- without ClickHouse: no History in the nav; its hash says what to configure
  const pdir = join(dir, 'plain');
  mkdirSync(pdir);
  const pports = { sflow: freePort(), api: freePort() };
  const pcfg = config(pdir, pports);
  writeYaml(join(pdir, 'breakwater.yaml'), pcfg);
  plain = await startBreakwater(join(pdir, 'breakwater.yaml'), pcfg);
  const p2 = await login(browser, `http://127.0.0.1:${pports.api}`, VIEWER, errors);
  await p2.waitForSelector('[data-testid=view-overview]');
  await waitFor('the first status', async () => /LIVE|DRY-RUN/.test((await p2.textContent('[data-testid=mode-banner]')) ?? ''), 10_000);
  assert.equal(await p2.locator('[data-testid=nav-history]').count(), 0, 'History not offered without ClickHouse');
  await p2.evaluate(() => ((globalThis as unknown as { location: { hash: string } }).location.hash = '#/history'));
  assert.match((await p2.textContent('[data-testid=history-off]', { timeout: 10_000 })) ?? '', /storage\.clickhouse/);
  await p2.screenshot({ path: join(shots, 'history-07-off.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no script error in the pages');
  t.diagnostic(`screenshots: ${shots}`);
  console.log(`console history screenshots: ${shots}`);
});
