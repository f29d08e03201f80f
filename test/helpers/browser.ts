import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium (test/setup-system.sh installs it), or CHROMIUM_PATH. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const screenshotDir = path.resolve(__dirname, '..', 'out', 'screenshots');

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(chromiumPath))
    throw new Error(
      `no chromium at ${chromiumPath}: run test/setup-system.sh (apt-get install chromium) or set CHROMIUM_PATH`,
    );
  return chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/**
 * Playwright polls a string predicate of `waitForFunction` by `eval` inside
 * the page, which the UI's Content-Security-Policy (no 'unsafe-eval')
 * refuses. Poll string predicates from here instead, with `page.evaluate`
 * (the DevTools protocol's evaluation is not subject to the page's CSP), so
 * the tests run the UI under its real CSP.
 */
function pollStringPredicates(page: Page): void {
  const original = page.waitForFunction.bind(page);
  page.waitForFunction = (async (
    predicate: unknown,
    arg?: unknown,
    options?: { timeout?: number; polling?: number | 'raf' },
  ) => {
    if (typeof predicate !== 'string') return original(predicate as never, arg as never, options);
    const deadline = Date.now() + (options?.timeout ?? 30_000);
    const every = typeof options?.polling === 'number' ? options.polling : 16;
    for (;;) {
      if (await page.evaluate(predicate)) return page.evaluateHandle(predicate);
      if (Date.now() > deadline)
        throw new Error(`waitForFunction: ${predicate} still false after ${options?.timeout ?? 30_000} ms`);
      await new Promise((r) => setTimeout(r, every));
    }
  }) as Page['waitForFunction'];
}

/** A page that fails the test on any uncaught error or console error (a CSP violation included). */
export async function newPage(browser: Browser, errors: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  pollStringPredicates(page);
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return page;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
