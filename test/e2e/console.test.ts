/**
 * The console in real headless Chromium (Debian's chromium, driven by
 * playwright-core) against Breakwater as a child process, live, with BIRD 2
 * as its BGP neighbor on loopback (dry-run without BIRD):
 *   - a viewer logs in with a token and sees the SYN flood of a capture from
 *     pcaps/ (replayed over UDP with `breakwater replay`) appear live in the
 *     attacks view with its vector and route, and nowhere a mutating control;
 *   - an operator runs mitigate now (the preview says what it can; the
 *     whitelist refusal shows the guard's reason), then unbans the replayed
 *     victim: the row disappears and BIRD loses the route;
 *   - an admin reads the config, secrets hidden.
 * Screenshots of every view go to the test's temp dir (path printed, kept).
 * Figures: first paint of the page and replay → attack visible.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Bird, birdAvailable, birdConfig } from '../helpers/bird.ts';
import { loopbackBlock, removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { login, mutatingControls } from './browser.ts';
import { freePort, repoRoot, SflowSender, startBreakwater, writeYaml, type Breakwater } from './helpers.ts';
import { buildConsole } from '../../scripts/build-console.ts';

const CHROMIUM = process.env.BREAKWATER_CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
const withBird = birdAvailable();

/** pmacct sfprobe, sFlow v5 1:100: 20 kpps TCP SYN flood to 198.51.100.10:80 (pcaps/README.md). */
const CAPTURE = join(repoRoot, 'pcaps/pmacct-sflow5-sampled-syn-flood.pcap');
const VICTIM = '198.51.100.10';
const MANUAL = '198.51.100.20';
const TOKENS = { BW_UI_VIEWER: 'viewer-token-7f3a', BW_UI_OPERATOR: 'operator-token-91c2', BW_UI_ADMIN: 'admin-token-c04d' };
const WEBHOOK_SECRET = 's3cret-hook-pw';

function config(dir: string, ports: { sflow: number; api: number }, bgp: unknown): any {
  return {
    dry_run: !bgp,
    log: { level: 'info' },
    listen: { netflow: '', sflow: `127.0.0.1:${ports.sflow}`, workers: 1 },
    networks: ['198.51.100.0/24'],
    protected_whitelist: ['198.51.100.1/32'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 1 },
    thresholds: { pps: 10_000 },
    // long enough that only the operator's unban ends the ban
    ban: { ttl_seconds: 900, unban_hysteresis_seconds: 900 },
    ...(bgp ? { bgp } : {}),
    notify: { slack: { webhook_url: `http://bw:${WEBHOOK_SECRET}@127.0.0.1:9/hook` } },
    api: {
      listen: `127.0.0.1:${ports.api}`,
      dashboard: true,
      tokens: [
        { name: 'noc', token_env: 'BW_UI_VIEWER', role: 'viewer' },
        { name: 'oncall', token_env: 'BW_UI_OPERATOR', role: 'operator' },
        { name: 'root', token_env: 'BW_UI_ADMIN', role: 'admin' },
      ],
    },
    storage: { data_dir: join(dir, 'data') },
  };
}

test('console in Chromium: viewer sees a replayed attack live with vector and route and no mutating control; operator mitigates and unbans; admin reads the config', { skip, timeout: 240_000 }, async (t) => {
  await buildConsole({ quiet: true });
  const dir = tempDir('bw-console-');
  const shots = join(dir, 'screenshots');
  mkdirSync(shots);
  mkdirSync(join(dir, 'data'));
  Object.assign(process.env, TOKENS);
  const L = loopbackBlock();
  const ports = { sflow: freePort(), api: freePort() };
  const birdPort = freePort();
  const bird = withBird
    ? new Bird(birdConfig({ routerId: L(2), localAddress: L(2), localPort: birdPort, localAsn: 65001, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: 9, passive: true, families: ['ipv4', 'ipv6'] }))
    : undefined;
  let bw: Breakwater | undefined;
  let browser: Browser | undefined;
  const talk = new SflowSender();
  t.after(async () => {
    talk.close();
    await browser?.close().catch(() => undefined);
    await bw?.stop().catch(() => undefined);
    await bird?.dispose();
    // the screenshots stay for people to look at; the rest goes
    removeDir(join(dir, 'data'));
  });
  const bgp = bird
    ? { local_asn: 65000, router_id: L(1), next_hop: '192.0.2.1', connect_retry_seconds: 1, neighbors: [{ address: L(2), port: birdPort, remote_asn: 65001, local_address: L(1), hold_time: 9 }] }
    : undefined;
  if (bird) await bird.start();
  const cfg = config(dir, ports, bgp);
  writeYaml(join(dir, 'breakwater.yaml'), cfg);
  bw = await startBreakwater(join(dir, 'breakwater.yaml'), cfg);
  const birdHolds = async (ip: string) => (bird ? (await bird.routes('master4')).some((r) => r.net === `${ip}/32` && r.head.includes('bw')) : false);
  if (bird) await waitFor('BGP Established with BIRD', async () => (await bird.state()) === 'Established', 30_000, 200);
  const base = `http://127.0.0.1:${ports.api}`;
  const shot = async (page: Page, name: string) => {
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  };

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--disable-gpu', '--disable-dev-shm-usage'] });

  // ---- viewer: first paint, login, overview
  const viewer = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  const errors: string[] = [];
  viewer.on('pageerror', (e) => errors.push(e.message));
  await viewer.goto(base + '/');
  await viewer.waitForSelector('[data-testid=view-login]');
  const firstPaint = await viewer.evaluate(() => {
    const p = performance.getEntriesByName('first-contentful-paint')[0] ?? performance.getEntriesByName('first-paint')[0];
    return p ? p.startTime : NaN;
  });
  await shot(viewer, '01-login');
  await viewer.fill('[data-testid=login-token]', 'not-a-token');
  await viewer.click('[data-testid=login-submit]');
  await viewer.waitForSelector('text=unknown token');
  await viewer.fill('[data-testid=login-token]', TOKENS.BW_UI_VIEWER);
  await viewer.click('[data-testid=login-submit]');
  await viewer.waitForSelector('[data-testid=view-overview]');
  assert.match(await viewer.textContent('[data-testid=whoami]') ?? '', /noc \(viewer\)/);
  const banner = viewer.locator('[data-testid=mode-banner]');
  await waitFor('mode banner', async () => /LIVE|DRY-RUN/.test((await banner.textContent()) ?? ''), 10_000);
  assert.match((await banner.textContent()) ?? '', bird ? /^LIVE/ : /^DRY-RUN/);
  assert.equal(await viewer.evaluate(() => sessionStorage.getItem('breakwater.token')), TOKENS.BW_UI_VIEWER, 'the token is kept for the browser session');
  assert.equal(await viewer.evaluate(() => localStorage.length), 0, 'and nowhere longer-lived');
  if (bird) await viewer.waitForSelector('[data-testid=neighbors] >> text=Established', { timeout: 15_000 });
  assert.equal(await mutatingControls(viewer), 0, 'viewer: no mutating control on the overview');

  // ---- the replayed capture appears live in the attacks view
  await viewer.click('[data-testid=nav-attacks]');
  await viewer.waitForSelector('[data-testid=view-attacks]');
  const row = viewer.locator('[data-testid=attacks-active] [data-testid=attack-row]', { hasText: VICTIM });
  const t0 = performance.now();
  let apiSeen = NaN;
  const replay = spawn(process.execPath, [join(repoRoot, 'src/main.ts'), 'replay', CAPTURE, '--to', `127.0.0.1:${ports.sflow}`, '--speed', '0'], { stdio: 'ignore' });
  const replayDone = new Promise((r) => replay.on('exit', r));
  void waitFor('attack in the API', async () => (await bw!.api('GET', '/api/v1/attacks?active=true', undefined, { authorization: `Bearer ${TOKENS.BW_UI_VIEWER}` })).json.attacks.some((a: any) => a.target === VICTIM), 30_000, 50)
    .then(() => (apiSeen = performance.now() - t0))
    .catch(() => undefined);
  await row.first().waitFor({ timeout: 30_000 });
  const visible = performance.now() - t0;
  await replayDone;
  const text = (await row.first().textContent()) ?? '';
  assert.match(text, /syn_flood/, `vector in the row: ${text}`);
  assert.match(text, new RegExp(`blackhole ${VICTIM.replace(/\./g, '\\.')}/32 via 192\\.0\\.2\\.1`), `route in the row: ${text}`);
  await shot(viewer, '03-attacks');
  await row.first().click();
  await viewer.waitForSelector('[data-testid=view-attack-detail]');
  assert.match((await viewer.textContent('[data-testid=attack-route]')) ?? '', /blackhole 198\.51\.100\.10\/32/);
  await viewer.waitForSelector('text=top sources');
  await shot(viewer, '04-attack-detail');
  assert.equal(await mutatingControls(viewer), 0, 'viewer: no mutating control on an attack');

  // the ban, live: BIRD holds it; the viewer sees it without an unban button
  if (bird) await waitFor('BIRD holds the replayed victim', () => birdHolds(VICTIM), 20_000, 100);
  await viewer.click('[data-testid=nav-bans]');
  await viewer.locator('[data-testid=bans-active] [data-testid=ban-row]', { hasText: VICTIM }).waitFor({ timeout: 15_000 });
  assert.equal(await mutatingControls(viewer), 0, 'viewer: no unban button');
  await shot(viewer, '05-bans');
  await viewer.click('[data-testid=nav-overview]');
  await viewer.waitForSelector('[data-testid=total-bans]');
  await waitFor('overview counts the ban', async () => Number(await viewer.textContent('[data-testid=total-bans] .card-value')) >= 1, 10_000);
  await shot(viewer, '02-overview');
  // steady traffic below the thresholds, so the talkers list and the chart have a host to show
  void talk.start(ports.sflow, { victim: '198.51.100.50', pps: 3000, samplingRate: 100 }, 20_000);
  await viewer.click('[data-testid=nav-talkers]');
  await viewer.locator('[data-testid=talker-row]', { hasText: '198.51.100.50' }).first().waitFor({ timeout: 15_000 });
  await viewer.locator('[data-testid=talker-row]', { hasText: '198.51.100.50' }).first().click();
  await viewer.waitForSelector('[data-testid=host-chart] canvas');
  await viewer.waitForTimeout(4500); // a few points on the chart
  await shot(viewer, '06-talkers');
  assert.equal(await mutatingControls(viewer), 0, 'viewer: no mutating control on top talkers');
  await viewer.click('[data-testid=nav-audit]');
  await viewer.locator('[data-testid=audit] tr', { hasText: VICTIM }).first().waitFor({ timeout: 10_000 });
  await shot(viewer, '07-audit');
  assert.equal(await mutatingControls(viewer), 0, 'viewer: no mutating control in the audit view');
  for (const hash of ['#/mitigate', '#/config']) {
    await viewer.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), hash);
    await viewer.waitForSelector('[data-testid=view-overview]');
    assert.equal(await mutatingControls(viewer), 0, `viewer typing ${hash} lands on the overview`);
  }
  assert.deepEqual(errors, [], 'no script error in the page');

  // ---- operator: mitigate now (refusal with the guard's reason, then a send), unban
  const op = await login(browser, base, TOKENS.BW_UI_OPERATOR);
  // the unban confirmation names its target: only the replayed victim may be unbanned here
  const confirmed: string[] = [];
  op.on('dialog', (d) => {
    confirmed.push(d.message());
    void (d.message().includes(`Unban ${VICTIM}?`) ? d.accept() : d.dismiss());
  });
  // from an attack's detail, "Mitigate now" comes with the target filled in
  await op.click('[data-testid=nav-attacks]');
  await op.locator('[data-testid=attack-row]', { hasText: VICTIM }).first().click();
  await op.click('[data-testid=attack-mitigate]');
  assert.equal(await op.inputValue('[data-testid=mitigate-target]'), VICTIM);
  await op.fill('[data-testid=mitigate-target]', '198.51.100.1');
  assert.equal(await op.isDisabled('[data-testid=mitigate-send]'), true, 'Send waits for the preview');
  await op.click('[data-testid=mitigate-preview]');
  await op.waitForSelector('[data-testid=preview], [data-testid=not-available], [data-testid=preview-error]');
  await op.click('[data-testid=mitigate-send]');
  const refused = (await op.locator('[data-testid=mitigate-result]').textContent()) ?? '';
  assert.match(refused, /refused: .*whitelist/i, refused);
  await shot(op, '08-mitigate-refused');
  await op.fill('[data-testid=mitigate-target]', MANUAL);
  // The attack's detail proposed a FlowSpec match inferred from its sample; this neighbor has no FlowSpec: a blackhole.
  await op.selectOption('[data-testid=mitigate-method]', '(blackhole)');
  await op.click('[data-testid=mitigate-preview]');
  await op.waitForSelector('[data-testid=preview], [data-testid=not-available], [data-testid=preview-error]');
  await op.click('[data-testid=mitigate-send]');
  await op.waitForSelector('[data-testid=mitigate-result].ok');
  await shot(op, '09-mitigate-sent');
  if (bird) await waitFor('BIRD holds the manual ban', () => birdHolds(MANUAL), 15_000, 100);

  await op.click('[data-testid=nav-bans]');
  const victimRow = op.locator('[data-testid=bans-active] [data-testid=ban-row]', { hasText: VICTIM });
  await victimRow.waitFor({ timeout: 10_000 });
  // both bans listed first, so the rows no longer move under the click
  await op.locator('[data-testid=bans-active] [data-testid=ban-row]', { hasText: MANUAL }).waitFor({ timeout: 10_000 });
  await victimRow.locator('[data-testid=unban]').click();
  await waitFor('the unban confirmation', async () => confirmed.length > 0, 5_000);
  assert.deepEqual(confirmed, [`Unban ${VICTIM}? Its route is withdrawn now.`], 'the operator confirmed the unban of the row clicked');
  await victimRow.waitFor({ state: 'detached', timeout: 15_000 });
  assert.match((await op.textContent('[data-testid=unban-result]')) ?? '', /unbanned/);
  if (bird) await waitFor('BIRD loses the unbanned route', async () => !(await birdHolds(VICTIM)), 15_000, 100);
  if (bird) assert.equal(await birdHolds(MANUAL), true, 'the other ban stays');
  // the viewer's page follows by itself (stream)
  await viewer.click('[data-testid=nav-bans]');
  await viewer.locator('[data-testid=bans-active] [data-testid=ban-row]', { hasText: VICTIM }).waitFor({ state: 'detached', timeout: 15_000 });
  await shot(op, '10-bans-after-unban');

  // ---- admin: the config, read-only, secrets hidden
  const admin = await login(browser, base, TOKENS.BW_UI_ADMIN);
  await admin.click('[data-testid=nav-config]');
  const conf = (await admin.textContent('[data-testid=config-text]')) ?? '';
  assert.match(conf, /"dashboard": true/);
  assert.match(conf, /\(hidden\)/);
  for (const secret of [...Object.values(TOKENS), WEBHOOK_SECRET]) assert.ok(!conf.includes(secret), 'no secret in the config view');
  await shot(admin, '11-config');

  const figures = `console figures: first paint ${firstPaint.toFixed(0)} ms; replay start → attack in the REST API ${apiSeen.toFixed(0)} ms, → visible in the browser ${visible.toFixed(0)} ms${bird ? '' : ' (dry-run: BIRD not available)'}`;
  console.log(figures);
  console.log(`console screenshots: ${shots}`);
  t.diagnostic(figures);
  t.diagnostic(`screenshots: ${shots}`);
  assert.ok(Number.isFinite(firstPaint));
});
