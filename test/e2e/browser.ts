/** What the console tests in Chromium share: a logged-in page, and the controls a viewer must never see. */
import type { Browser, Page } from 'playwright-core';

/** A new browser context, logged in with token; page errors go to errors when given. */
export async function login(browser: Browser, base: string, token: string, errors?: string[]): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  if (errors) page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(base + '/');
  await page.fill('[data-testid=login-token]', token);
  await page.click('[data-testid=login-submit]');
  await page.waitForSelector('[data-testid=whoami]');
  return page;
}

/** The mutating controls a viewer must never see, in whatever view is open. */
export async function mutatingControls(page: Page): Promise<number> {
  return page.locator('[data-testid=unban], [data-testid=mitigate-send], [data-testid=nav-mitigate], [data-testid=nav-config], [data-testid=attack-mitigate], button.danger').count();
}
