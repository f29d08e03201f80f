/**
 * HTTP hardening on a real server: helmet's headers and the UI's CSP, errors
 * without stack traces (malformed JSON, an oversized body, a malformed URI,
 * an internal error), and the UI in real Chromium with tokens on: it asks
 * for a token on 401, keeps it, draws the flame graph and saves an export
 * through the token, with no CSP violation.
 */
import express from 'express';
import type { Browser } from 'playwright-core';
import { errorHandler } from '../server/errors';
import { launchBrowser, newPage } from './helpers/browser';
import { ingest, startServer, type TestServer } from './helpers/server';

const ADMIN = 'operator-secret-hardening-0123456789';
let server: TestServer;
let read: string;
let ingestToken: string;

beforeAll(async () => {
  server = await startServer({ auth: { mode: 'token', adminToken: ADMIN } });
  const make = async (scopes: string[]) => {
    const res = await fetch(`${server.url}/api/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scopes }),
    });
    return ((await res.json()) as { token: string }).token;
  };
  read = await make(['read']);
  ingestToken = await make(['ingest']);
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 3; i++) {
    const res = await ingest(
      server.url,
      { name: 'shop.cpu', from: String(now - 600 + i * 60), until: String(now - 590 + i * 60) },
      'main;http.handle;orders.match 30\nmain;gc 5\n',
      { authorization: `Bearer ${ingestToken}` },
    );
    expect(res.status).toBe(200);
  }
  await server.store.writer.drain();
});
afterAll(() => server.close());

const CSP =
  "default-src 'self';script-src 'self';script-src-attr 'none';style-src 'self';img-src 'self' data: blob:;font-src 'self';connect-src 'self';object-src 'none';base-uri 'none';form-action 'self';frame-ancestors 'none'";

describe('headers', () => {
  it('sends the security headers and the CSP on the UI and the API, and no X-Powered-By', async () => {
    for (const p of ['/', '/app.js', '/api/v1/services', '/healthz']) {
      const res = await fetch(server.url + p);
      expect([p, res.headers.get('content-security-policy')]).toEqual([p, CSP]);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(res.headers.get('x-powered-by')).toBeNull();
      // HSTS belongs to whoever terminates TLS.
      expect(res.headers.get('strict-transport-security')).toBeNull();
    }
  });
});

describe('errors carry no stack traces', () => {
  const admin = { authorization: `Bearer ${ADMIN}` };
  const noStack = (body: string) => expect(body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+|\.js:\d+/);

  it('answers malformed JSON and an oversized body with 4xx JSON', async () => {
    const bad = await fetch(`${server.url}/api/v1/regressions/x`, {
      method: 'PATCH',
      headers: { ...admin, 'content-type': 'application/json' },
      body: '{"status": ',
    });
    const badText = await bad.text();
    expect(bad.status).toBe(400);
    expect(JSON.parse(badText)).toEqual({ error: expect.any(String), reason: 'invalid_request' });
    noStack(badText);
    const big = await fetch(`${server.url}/api/v1/baselines?service=x`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ versionLabel: 'x'.repeat(100_000) }),
    });
    const bigText = await big.text();
    expect(big.status).toBe(413);
    expect(JSON.parse(bigText).reason).toBe('invalid_request');
    noStack(bigText);
  });

  it('answers a malformed URI with 400', async () => {
    const res = await fetch(`${server.url}/api/v1/regressions/%E0%A4%A`, {
      headers: { authorization: `Bearer ${read}` },
    });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(JSON.parse(text).reason).toBe('invalid_request');
    noStack(text);
    expect((await fetch(`${server.url}/%E0%A4%A`)).status).toBe(404);
  });

  it('answers an internal error with a generic message, the details in the log only', async () => {
    const logs: string[] = [];
    const app = express();
    app.get('/boom', () => {
      throw new Error('secret detail at /etc/flamewatch');
    });
    app.use(errorHandler((m) => logs.push(m)));
    const listener = app.listen(0, '127.0.0.1');
    await new Promise((r) => listener.once('listening', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(listener.address() as { port: number }).port}/boom`);
      const text = await res.text();
      expect(res.status).toBe(500);
      expect(JSON.parse(text)).toEqual({
        error: 'internal error; the server log has the details',
        reason: 'internal',
      });
      expect(text).not.toContain('secret detail');
      expect(logs.join('\n')).toMatch(/secret detail[\s\S]*\n\s+at /);
    } finally {
      listener.close();
    }
  });
});

describe('the UI with tokens on, under the CSP', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => browser?.close());

  it('asks for a token on 401, keeps it, draws the flame graph and saves an export with it, no CSP violation', async () => {
    const errors: string[] = [];
    const page = await newPage(browser, errors);
    await page.addInitScript(
      'window.__csp = []; document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));',
    );
    try {
      await page.goto(server.url, { waitUntil: 'networkidle' });
      await page.waitForSelector('input.token-input', { timeout: 20_000 });
      expect(await page.textContent('.notice-error')).toMatch(/This server needs an API token/);
      await page.fill('input.token-input', read);
      await page.click('.token-form button');
      await page.waitForFunction(
        'window.__flamewatch && window.__flamewatch.timings.explore !== undefined',
        undefined,
        { timeout: 20_000 },
      );
      expect(await page.evaluate('window.__flamewatch.explore.graph.labelled()')).toEqual(
        expect.arrayContaining(['orders.match']),
      );
      expect(await page.evaluate('localStorage.getItem("flamewatch.token")')).toBe(read);
      // A reload goes straight to the graph with the kept token.
      await page.reload({ waitUntil: 'networkidle' });
      await page.waitForFunction(
        'window.__flamewatch && window.__flamewatch.timings.explore !== undefined',
        undefined,
        { timeout: 20_000 },
      );
      // Exports go through fetch with the token, saved as a file.
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 20_000 }),
        page.click('a.export:text("folded")'),
      ]);
      expect(download.suggestedFilename()).toBe('shop-cpu.folded');
      const file = await download.path();
      expect(require('node:fs').readFileSync(file, 'utf8')).toMatch(/main;http\.handle;orders\.match 90/);
      expect(await page.evaluate('window.__csp')).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
