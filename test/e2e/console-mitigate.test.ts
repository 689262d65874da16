/**
 * Mitigate now in real headless Chromium against Breakwater as a child
 * process, live, with two BIRD 2 FlowSpec neighbors on loopback: one with
 * profile `bird`, one with profile `junos`. An operator picks a FlowSpec
 * method for a victim; the preview shows the lint per neighbor (the junos one
 * refuses the packet-length rule, with the finding's message) and the
 * collateral before Send; after Send the `bird` neighbor holds the rule and
 * the junos one never gets it, and the ban's row says so. A whitelisted
 * target is refused in the page with the guard's reason; a match inferred
 * from an attack's sample is shown for approval and is exactly what is
 * previewed and sent. A tenant-scoped operator sees its tenant in the
 * header and is refused a target outside it. Screenshots go to the test's
 * temp dir (path printed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Bird, birdAvailable, birdConfig } from '../helpers/bird.ts';
import { loopbackBlock, removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, SflowSender, startBreakwater, writeYaml, type Breakwater } from './helpers.ts';
import { buildConsole } from '../../scripts/build-console.ts';

const CHROMIUM = process.env.BREAKWATER_CHROMIUM ?? '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM} (apt-get install chromium)` : !birdAvailable() ? 'BIRD 2 (bird, birdc) not installed or not root' : false;

const OPERATOR = 'mitigate-operator-5e1b';
/** An operator scoped to tenant acme (198.51.100.0/25). */
const ACME = 'mitigate-acme-77d0';
const NOT_ACME = '198.51.100.200';
const BIG = '198.51.100.21';
const NTP = '198.51.100.20';
const FLOOD = '198.51.100.30';
const WHITELISTED = '198.51.100.1';
const BIG_RULE = `flow4 { dst ${BIG}/32; proto 17; length 1000..1500; }`;
const NTP_RULE = `flow4 { dst ${NTP}/32; proto 17; sport 123; }`;

async function flows(b: Bird): Promise<string[]> {
  return (await b.routes('flowtab4')).filter((r) => r.head.includes('[bw')).map((r) => r.net);
}

/** Target and method chosen, previewed: resolves when the preview (lint and collateral) is on the page. */
async function preview(page: Page, target: string, method: string): Promise<void> {
  await page.fill('[data-testid=mitigate-target]', target);
  await page.selectOption('[data-testid=mitigate-method]', method);
  assert.equal(await page.locator('[data-testid=preview]').count(), 0, 'a new target or method drops the old preview');
  assert.equal(await page.isDisabled('[data-testid=mitigate-send]'), true, 'no Send before a preview');
  await page.click('[data-testid=mitigate-preview]');
  await page.waitForSelector('[data-testid=collateral]');
}

test('mitigate now in Chromium against two real BIRDs: lint per neighbor and collateral before Send; the bird neighbor holds the rule, the junos one is refused and the ban row says so; whitelist refusal in the page; an inferred match is what is sent', { skip, timeout: 180_000 }, async (t) => {
  await buildConsole({ quiet: true });
  const dir = tempDir('bw-console-mitigate-');
  const shots = join(dir, 'screenshots');
  mkdirSync(shots);
  mkdirSync(join(dir, 'data'));
  process.env.BW_MITIGATE_OPERATOR = OPERATOR;
  process.env.BW_MITIGATE_ACME = ACME;
  const L = loopbackBlock();
  const ports = { sflow: freePort(), api: freePort(), a: freePort(), b: freePort() };
  const birdA = new Bird(birdConfig({ routerId: L(2), localAddress: L(2), localPort: ports.a, localAsn: 65001, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: 9, passive: true, families: ['ipv4', 'flow4'] }));
  const birdB = new Bird(birdConfig({ routerId: L(3), localAddress: L(3), localPort: ports.b, localAsn: 65002, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: 9, passive: true, families: ['ipv4', 'flow4'] }));
  let bw: Breakwater | undefined;
  let browser: Browser | undefined;
  const sender = new SflowSender();
  t.after(async () => {
    sender.close();
    await browser?.close().catch(() => undefined);
    await bw?.stop().catch(() => undefined);
    await birdA.dispose();
    await birdB.dispose();
    // the screenshots stay for people to look at; the rest goes
    removeDir(join(dir, 'data'));
  });
  await birdA.start();
  await birdB.start();
  const cfg = {
    dry_run: false,
    log: { level: 'info' },
    listen: { netflow: '', sflow: `127.0.0.1:${ports.sflow}`, workers: 1 },
    networks: ['198.51.100.0/24'],
    protected_whitelist: [`${WHITELISTED}/32`],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 1 },
    thresholds: { pps: 10_000 },
    ban: { ttl_seconds: 600 },
    flowspec_methods: [
      { name: 'ntp-drop', match: { protocol: ['udp'], source_port: [123] }, action: { discard: true }, platforms: ['edge'] },
      { name: 'big-udp', description: 'large UDP packets', match: { protocol: ['udp'], packet_length: { min: 1000, max: 1500 } }, action: { rate_limit_mbps: 10 }, platforms: ['edge'] },
    ],
    platforms: [{ name: 'edge', neighbors: [L(2), L(3)] }],
    bgp: {
      local_asn: 65000,
      router_id: L(1),
      next_hop: '192.0.2.1',
      connect_retry_seconds: 1,
      neighbors: [
        { address: L(2), port: ports.a, remote_asn: 65001, local_address: L(1), hold_time: 9, families: ['ipv4_unicast', 'ipv4_flowspec'], profile: 'bird' },
        { address: L(3), port: ports.b, remote_asn: 65002, local_address: L(1), hold_time: 9, families: ['ipv4_unicast', 'ipv4_flowspec'], profile: 'junos' },
      ],
    },
    hostgroups: [{ name: 'acme-web', tenant: 'acme', networks: ['198.51.100.0/25'] }],
    api: {
      listen: `127.0.0.1:${ports.api}`,
      dashboard: true,
      tokens: [
        { name: 'oncall', token_env: 'BW_MITIGATE_OPERATOR', role: 'operator' },
        { name: 'acme-ops', token_env: 'BW_MITIGATE_ACME', role: 'operator', tenant: 'acme' },
      ],
    },
    storage: { data_dir: join(dir, 'data') },
  };
  const file = join(dir, 'breakwater.yaml');
  writeYaml(file, cfg);
  bw = await startBreakwater(file, cfg);
  const auth = { authorization: `Bearer ${OPERATOR}` };
  await waitFor('both BIRDs Established', async () => (await birdA.state()) === 'Established' && (await birdB.state()) === 'Established', 30_000, 200);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--disable-gpu', '--disable-dev-shm-usage'] });
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // What the page asks and sends, as the daemon receives it.
  const previews: URLSearchParams[] = [];
  const posts: any[] = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/v1/mitigations/preview') previews.push(u.searchParams);
    if (u.pathname === '/api/v1/mitigations' && r.method() === 'POST') posts.push(JSON.parse(r.postData() ?? 'null'));
  });
  await page.goto(`http://127.0.0.1:${ports.api}/`);
  await page.fill('[data-testid=login-token]', OPERATOR);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('[data-testid=view-overview]');
  await page.click('[data-testid=nav-mitigate]');
  await page.waitForSelector('[data-testid=view-mitigate]');
  // the methods list arrives from the daemon
  await page.locator('[data-testid=mitigate-method] option', { hasText: 'big-udp' }).waitFor({ state: 'attached' });

  // ---- a packet-length method: the preview shows the junos neighbor refusing it, with the finding's message, and the collateral
  await preview(page, BIG, 'big-udp');
  assert.equal(previews.at(-1)!.get('method'), 'big-udp');
  assert.equal(await page.textContent('[data-testid=method-match]'), 'big-udp: udp; length 1000-1500 bytes → rate-limit 10 Mbps (platforms edge) — large UDP packets', 'the method\'s match in words');
  assert.equal(previews.at(-1)!.get('target'), BIG);
  const lintRows = page.locator('[data-testid=lint] tbody tr');
  assert.equal(await lintRows.count(), 2, 'one lint row per FlowSpec neighbor');
  const junos = (await page.locator('[data-testid=lint] tbody tr', { hasText: L(3) }).textContent()) ?? '';
  assert.match(junos, /junos.*refused.*error packet_length: junos: packet-length rules are refused \(a packet-length FlowSpec rule exhausted Junos routers' memory in 2013\)/, junos);
  const birdRow = (await page.locator('[data-testid=lint] tbody tr', { hasText: L(2) }).textContent()) ?? '';
  assert.match(birdRow, /bird\s*ok/, birdRow);
  assert.match((await page.textContent('[data-testid=preview]')) ?? '', new RegExp(`flowspec dst ${BIG.replace(/\./g, '\\.')}/32 proto udp length 1000-1500 → rate-limit 10\\.0 Mbps`));
  const collateral = (await page.textContent('[data-testid=collateral]')) ?? '';
  assert.match(collateral, /last 300 s: .* pps dropped/, collateral);
  await page.screenshot({ path: join(shots, '01-preview-lint.png'), fullPage: true });
  await page.click('[data-testid=mitigate-send]');
  await page.waitForSelector('[data-testid=mitigate-result].ok');
  assert.deepEqual(posts.at(-1), { target: BIG, method: 'big-udp', ttl_seconds: 3600 }, 'the send carries the previewed method');
  const sent = (await page.textContent('[data-testid=mitigate-result]')) ?? '';
  assert.match(sent, new RegExp(`not sent to ${L(3).replace(/\./g, '\\.')} \\(junos\\): packet_length`), sent);
  await page.screenshot({ path: join(shots, '02-sent.png'), fullPage: true });
  await waitFor('BIRD "bird" holds the packet-length rule', async () => (await flows(birdA)).includes(BIG_RULE), 15_000, 100);

  // ---- a method both platforms take: the junos BIRD gets it, after the one it refused would have come
  await preview(page, NTP, 'ntp-drop');
  assert.equal(await page.locator('[data-testid=lint] .bad').count(), 0, 'no neighbor refuses a protocol + port rule');
  await page.click('[data-testid=mitigate-send]');
  await page.waitForSelector('[data-testid=mitigate-result].ok');
  assert.deepEqual(posts.at(-1), { target: NTP, method: 'ntp-drop', ttl_seconds: 3600 });
  await waitFor('BIRD "junos" holds the NTP rule', async () => (await flows(birdB)).includes(NTP_RULE), 15_000, 100);
  await waitFor('BIRD "bird" holds the NTP rule', async () => (await flows(birdA)).includes(NTP_RULE), 15_000, 100);
  // UPDATEs on a session arrive in order: the junos BIRD holds the later rule, so it was never sent the earlier one.
  assert.ok(!(await flows(birdB)).includes(BIG_RULE), 'the junos neighbor never gets the packet-length rule');

  // ---- the ban's row shows the refusal, the method and its match
  await page.click('[data-testid=nav-bans]');
  const bigRow = page.locator('[data-testid=bans-active] [data-testid=ban-row]', { hasText: BIG });
  await bigRow.waitFor({ timeout: 15_000 });
  await bigRow.locator('[data-testid=ban-lint]').waitFor();
  const rowText = (await bigRow.textContent()) ?? '';
  assert.match(rowText, /method big-udp/, rowText);
  assert.match(rowText, new RegExp(`not sent to ${L(3).replace(/\./g, '\\.')} \\(junos\\): packet_length`), rowText);
  // announced_to follows what the speaker wrote; the row shows it from the next poll or stream event after the UPDATE
  const announced = bigRow.locator('[data-testid=ban-announced]');
  await waitFor('the ban row names the neighbor it was announced to', async () => (await announced.textContent()) === L(2), 10_000, 100).catch(() => undefined);
  assert.equal(await announced.textContent(), L(2), 'announced to the bird neighbor only');
  const ntpRow = (await page.locator('[data-testid=bans-active] [data-testid=ban-row]', { hasText: NTP }).textContent()) ?? '';
  assert.ok(!/not sent/.test(ntpRow), ntpRow);
  await page.screenshot({ path: join(shots, '03-bans-lint.png'), fullPage: true });

  // ---- unban in the page withdraws the FlowSpec rule from BIRD; the other rule stays
  const confirmed: string[] = [];
  const onDialog = (d: import('playwright-core').Dialog) => {
    confirmed.push(d.message());
    void (d.message().includes(`Unban ${BIG}?`) ? d.accept() : d.dismiss());
  };
  page.on('dialog', onDialog);
  await bigRow.locator('[data-testid=unban]').click();
  await bigRow.waitFor({ state: 'detached', timeout: 15_000 });
  page.off('dialog', onDialog);
  assert.deepEqual(confirmed, [`Unban ${BIG}? Its route is withdrawn now.`]);
  await waitFor('BIRD "bird" loses the packet-length rule', async () => !(await flows(birdA)).includes(BIG_RULE), 15_000, 100);
  assert.ok((await flows(birdA)).includes(NTP_RULE), 'the NTP rule stays at BIRD "bird"');
  assert.ok((await flows(birdB)).includes(NTP_RULE), 'the NTP rule stays at BIRD "junos"');

  // ---- a whitelisted target: refused in the page with the guard's reason; nothing reaches a BIRD
  await page.click('[data-testid=nav-mitigate]');
  await page.locator('[data-testid=mitigate-method] option', { hasText: 'ntp-drop' }).waitFor({ state: 'attached' });
  await preview(page, WHITELISTED, 'ntp-drop');
  await page.click('[data-testid=mitigate-send]');
  await page.waitForSelector('[data-testid=mitigate-result].error');
  const refused = (await page.textContent('[data-testid=mitigate-result]')) ?? '';
  assert.match(refused, /refused: mitigation refused: .*198\.51\.100\.1.*whitelist.*\(whitelisted\).*\[conflict\]/, refused);
  await page.screenshot({ path: join(shots, '04-whitelist-refused.png'), fullPage: true });
  assert.ok(!(await flows(birdA)).some((n) => n.includes(`${WHITELISTED}/32`)));

  // ---- from an attack: the match inferred from its sample, shown for approval, is what is previewed and sent
  await sender.start(bw.sflowPort, { victim: FLOOD, pps: 30_000, samplingRate: 100, kind: 'ntp' }, 2500);
  const attack = await waitFor('the NTP flood as an attack with its ban', async () => (await bw!.api('GET', '/api/v1/attacks', undefined, auth)).json.attacks.find((a: any) => a.target === FLOOD && a.ban), 15_000, 200);
  // its automatic ban is lifted first: a manual mitigation of a target already banned would be refused
  assert.equal((await bw.api('POST', '/api/v1/unban', { ip: FLOOD }, auth)).status, 200);
  const inferred = (await bw.api('GET', `/api/v1/attacks/${attack.id}/infer`, undefined, auth)).json;
  await page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), `#/mitigate/${FLOOD}/${attack.id}`);
  await page.waitForSelector('[data-testid=inferred]');
  assert.equal(await page.inputValue('[data-testid=mitigate-target]'), FLOOD);
  const shown = (await page.textContent('[data-testid=inferred]')) ?? '';
  assert.ok(shown.includes(`(${attack.vector}): `) && shown.includes(JSON.stringify(inferred.match)), shown);
  assert.match(shown, /"source_port":\[123\].*source port 123: 100 % of udp packets/, shown);
  assert.match((await page.textContent('[data-testid=inferred-match]')) ?? '', /^udp; source port 123/, 'the inferred match in words');
  assert.equal(await page.isDisabled('[data-testid=mitigate-send]'), true, 'no Send before a preview');
  await page.click('[data-testid=mitigate-preview]');
  await page.waitForSelector('[data-testid=collateral]');
  assert.deepEqual(JSON.parse(previews.at(-1)!.get('match') ?? 'null'), inferred.match, 'the preview asks about the inferred match');
  await page.screenshot({ path: join(shots, '05-inferred.png'), fullPage: true });
  await page.click('[data-testid=mitigate-send]');
  await page.waitForSelector('[data-testid=mitigate-result].ok');
  assert.deepEqual(posts.at(-1), { target: FLOOD, match: inferred.match, ttl_seconds: 3600 }, 'the send carries the inferred match');
  await waitFor('BIRD "bird" holds the inferred rule', async () => (await flows(birdA)).some((n) => n.startsWith(`flow4 { dst ${FLOOD}/32; proto 17; sport 123;`)), 15_000, 100);

  // ---- a tenant-scoped operator: the header names the tenant, the stream is live, a target outside the tenant is refused like nothing is there
  const scoped = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  scoped.on('pageerror', (e) => errors.push(e.message));
  await scoped.goto(`http://127.0.0.1:${ports.api}/`);
  await scoped.fill('[data-testid=login-token]', ACME);
  await scoped.click('[data-testid=login-submit]');
  await scoped.waitForSelector('[data-testid=view-overview]');
  assert.match((await scoped.textContent('[data-testid=whoami]')) ?? '', /acme-ops \(operator, tenant acme\)/);
  await scoped.locator('[data-testid=mode-banner]', { hasText: 'LIVE' }).waitFor({ timeout: 10_000 });
  await scoped.click('[data-testid=nav-mitigate]');
  await scoped.locator('[data-testid=mitigate-method] option', { hasText: 'ntp-drop' }).waitFor({ state: 'attached' });
  await scoped.fill('[data-testid=mitigate-target]', NOT_ACME);
  await scoped.selectOption('[data-testid=mitigate-method]', 'ntp-drop');
  await scoped.click('[data-testid=mitigate-preview]');
  const outside = (await scoped.locator('[data-testid=preview-error]').textContent()) ?? '';
  assert.match(outside, /refused: preview refused: 198\.51\.100\.200 is not a host of this token's tenant \(outside_tenant\)/, outside);
  await scoped.screenshot({ path: join(shots, '06-tenant-refused.png'), fullPage: true });

  assert.deepEqual(errors, [], 'no script error in the page');
  t.diagnostic(`screenshots: ${shots}`);
});
