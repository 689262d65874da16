/**
 * Mitigate now in real headless Chromium against the shared contract of the
 * mitigation routes (methods, preview with lint and collateral, infer from an
 * attack, POST /api/v1/mitigations): a loopback HTTP server answers those
 * routes as the contract says and passes everything else (page, assets,
 * whoami, stream) to a real ApiServer. Checks that the console shows the lint
 * findings and the collateral before Send, sends exactly what was previewed
 * (a named method, or the match inferred from the attack) and shows a
 * refusal's reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ApiServer, type ApiBackend } from '../../src/api/server.ts';
import { buildConsole } from '../../scripts/build-console.ts';
import { tempDir } from '../helpers/netns.ts';

const CHROMIUM = process.env.BREAKWATER_CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
const TARGET = '198.51.100.10';

const backend: ApiBackend = {
  ready: () => true,
  status: () => ({ mode: 'dry_run', active_attacks: 0, active_bans: 0, neighbors: [], ingest: [] }),
  attacks: () => ({ total: 0, items: [] }),
  bans: () => ({ total: 0, items: [] }),
  hosts: () => ({ total: 0, items: [] }),
  host: () => undefined,
  ban: () => ({ ok: false, status: 500, error: 'the console must use POST /api/v1/mitigations when it exists' }),
  unban: () => ({ ok: true, body: {} }),
  reload: async () => ({ ok: true, changed: [], mode: 'dry_run' }),
  metrics: async () => ({ contentType: 'text/plain', body: '' }),
  audit: () => ({ total: 0, items: [] }),
  config: () => ({}),
};

const METHODS = {
  methods: [{ name: 'ntp-amp', match: { protocol: [17], source_port: [123] }, action: { discard: true }, platforms: ['edge'] }],
  platforms: [{ name: 'edge', neighbors: ['192.0.2.1', '192.0.2.2'] }],
};
const COLLATERAL = { window_seconds: 300, total_pps: 10_000, dropped_pps: 9800, dropped_share: 0.98, attack_like_share: 0.988, legit_like_share: 0.012, summary: `drops 98 % of current traffic to ${TARGET}; 1.2 % of the dropped packets look legitimate (TCP 443 from 3,100 sources)` };

test('mitigate now in Chromium: lint and collateral before Send, the previewed choice is what is sent (method or inferred match), refusals show the reason', { skip, timeout: 120_000 }, async (t) => {
  await buildConsole({ quiet: true });
  const api = new ApiServer(backend, { host: '127.0.0.1', port: 0, tokens: [{ name: 'oncall', token: 'op-token', role: 'operator' }], dashboard: () => true });
  const real = await api.start();
  const previews: URLSearchParams[] = [];
  const posts: any[] = [];
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const fake = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const authed = req.headers.authorization === 'Bearer op-token';
    if (url.pathname.startsWith('/api/v1/mitigations') || url.pathname.endsWith('/infer')) {
      if (!authed) return json(res, 401, { error: 'a bearer token is required', code: 'unauthorized' });
      if (url.pathname === '/api/v1/mitigations/methods') return json(res, 200, METHODS);
      if (url.pathname === '/api/v1/attacks/a1/infer') return json(res, 200, { attack_id: 'a1', target: TARGET, vector: 'ntp_amplification', match: { protocol: [17], source_port: [123], packet_length: ['>=400'] }, coverage: 0.97, basis: ['protocol udp: 97 % of sampled packets'], sample_flows: 40 });
      if (url.pathname === '/api/v1/mitigations/preview') {
        previews.push(url.searchParams);
        const target = url.searchParams.get('target');
        return json(res, 200, {
          target,
          kind: 'flowspec',
          routes: [{ family: 4, destination: `${target}/32`, protocols: [17], source_ports: [123], action: { type: 'discard' } }],
          lint: [
            { neighbor: '192.0.2.1', profile: 'frr', ok: true, findings: [] },
            { neighbor: '192.0.2.2', profile: 'junos', ok: false, findings: [{ code: 'packet_length_junos', severity: 'error', message: 'packet-length rules exhausted Junos memory (2013)' }] },
          ],
          collateral: COLLATERAL,
        });
      }
      if (url.pathname === '/api/v1/mitigations' && req.method === 'POST') {
        let body = '';
        for await (const c of req) body += c;
        const b = JSON.parse(body);
        posts.push(b);
        if (b.target === '198.51.100.1') return json(res, 409, { error: 'mitigation refused: 198.51.100.1/32 overlaps whitelisted 198.51.100.1/32', code: 'conflict', reason: 'whitelisted' });
        return json(res, 201, { id: `m${posts.length}`, ban: { id: `m${posts.length}`, target: b.target, action: 'flowspec', mode: 'dry_run' }, lint: [], collateral: COLLATERAL });
      }
      return json(res, 404, { error: 'no route', code: 'not_found' });
    }
    // everything else from the real server (the page, assets, whoami, the stream)
    const up = await fetch(`http://127.0.0.1:${real.port}${req.url}`, { method: req.method, headers: req.headers.authorization ? { authorization: req.headers.authorization } : {} });
    res.writeHead(up.status, Object.fromEntries(up.headers));
    if (up.body) Readable.fromWeb(up.body as never).pipe(res);
    else res.end();
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const port = (fake.address() as { port: number }).port;
  let browser: Browser | undefined;
  t.after(async () => {
    await browser?.close().catch(() => undefined);
    fake.closeAllConnections();
    await new Promise((r) => fake.close(r));
    await api.stop();
  });
  const shots = join(tempDir('bw-console-mitigate-'), 'screenshots');
  mkdirSync(shots);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--disable-gpu', '--disable-dev-shm-usage'] });
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.fill('[data-testid=login-token]', 'op-token');
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('[data-testid=whoami]');

  // ---- from an attack: the match inferred from its sample, shown for approval
  await page.evaluate(() => ((globalThis as unknown as { location: { hash: string } }).location.hash = '#/mitigate/198.51.100.10/a1'));
  await page.waitForSelector('[data-testid=inferred]');
  assert.equal(await page.inputValue('[data-testid=mitigate-target]'), TARGET);
  assert.match((await page.textContent('[data-testid=inferred]')) ?? '', /ntp_amplification.*"source_port":\[123\].*97 % of sampled packets/);
  assert.equal(await page.isDisabled('[data-testid=mitigate-send]'), true, 'no Send before a preview');
  await page.click('[data-testid=mitigate-preview]');
  await page.waitForSelector('[data-testid=collateral]');
  assert.deepEqual(JSON.parse(previews.at(-1)!.get('match') ?? 'null'), { protocol: [17], source_port: [123], packet_length: ['>=400'] }, 'the preview asks about the inferred match');
  const lint = (await page.textContent('[data-testid=lint]')) ?? '';
  assert.match(lint, /192\.0\.2\.2.*junos.*refused.*packet_length_junos/);
  assert.match((await page.textContent('[data-testid=collateral]')) ?? '', /drops 98 % of current traffic to 198\.51\.100\.10; 1\.2 % .*legitimate/);
  assert.match((await page.textContent('[data-testid=preview]')) ?? '', /flowspec dst 198\.51\.100\.10\/32 proto udp sport 123 → discard/);
  await page.screenshot({ path: join(shots, 'mitigate-preview.png'), fullPage: true });
  await page.click('[data-testid=mitigate-send]');
  await page.waitForSelector('[data-testid=mitigate-result].ok');
  assert.deepEqual(posts.at(-1), { target: TARGET, match: { protocol: [17], source_port: [123], packet_length: ['>=400'] }, ttl_seconds: 3600 });

  // ---- a named method: the preview and the send carry its name
  await page.selectOption('[data-testid=mitigate-method]', 'ntp-amp');
  assert.equal(await page.locator('[data-testid=preview]').count(), 0, 'changing the method drops the old preview');
  assert.equal(await page.isDisabled('[data-testid=mitigate-send]'), true);
  await page.click('[data-testid=mitigate-preview]');
  await page.waitForSelector('[data-testid=collateral]');
  assert.equal(previews.at(-1)!.get('method'), 'ntp-amp');
  await page.click('[data-testid=mitigate-send]');
  await page.waitForSelector('[data-testid=mitigate-result].ok');
  assert.deepEqual(posts.at(-1), { target: TARGET, method: 'ntp-amp', ttl_seconds: 3600 });

  // ---- a refusal shows the guard's reason
  await page.fill('[data-testid=mitigate-target]', '198.51.100.1');
  await page.click('[data-testid=mitigate-preview]');
  await page.waitForSelector('[data-testid=collateral]');
  await page.click('[data-testid=mitigate-send]');
  const refused = (await page.textContent('[data-testid=mitigate-result].error')) ?? '';
  assert.match(refused, /refused: mitigation refused: 198\.51\.100\.1\/32 overlaps whitelisted.*\(whitelisted\).*\[conflict\]/);
  await page.screenshot({ path: join(shots, 'mitigate-refused.png'), fullPage: true });
  assert.deepEqual(errors, []);
  t.diagnostic(`screenshots: ${shots}`);
});
