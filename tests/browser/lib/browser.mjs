// Debian's Chromium driven by playwright-core (no browser is ever downloaded), plus helpers to
// read the server's login and consent pages and to follow what the browser did.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { recordSecret, USERNAME, PASSWORD } from './server.mjs';

export const CHROMIUM = process.env.VALETKEY_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const KEEP = process.env.VALETKEY_TEST_KEEP === '1';

/**
 * Launches Chromium with a fresh temporary user-data-dir (one browser profile = one context).
 * Returns { context, page, close() }. Every response of every page is kept in `responses`.
 */
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'valetkey-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30000,
    });
  } catch (e) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  context.setDefaultTimeout(10000);
  context.setDefaultNavigationTimeout(10000);
  const page = context.pages()[0] ?? await context.newPage();
  const consoleMessages = [];
  page.on('console', (m) => consoleMessages.push({ type: m.type(), text: m.text() }));
  return {
    context,
    page,
    consoleMessages,
    async close() {
      await context.close().catch(() => {});
      if (!KEEP) fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** The cookies the browser holds for the server, as { name: cookie }. */
export async function serverCookies(context, serverUrl) {
  const out = {};
  for (const c of await context.cookies(serverUrl)) out[c.name] = c;
  return out;
}

/** Records the vk_session cookie value (if any) as a secret; returns the cookie or undefined. */
export async function recordSessionCookie(context, serverUrl) {
  const c = (await serverCookies(context, serverUrl)).vk_session;
  if (c) recordSecret(c.value);
  return c;
}

/**
 * The redirect chain that ended in `response` (oldest first): [{ url, method, status, headers }].
 * Playwright keeps the 30x responses on the redirected requests.
 */
export async function redirectChain(response) {
  const chain = [];
  let req = response.request();
  while (req) {
    const res = await req.response();
    chain.unshift({
      url: req.url(),
      method: req.method(),
      status: res ? res.status() : null,
      headers: res ? await res.allHeaders() : {},
    });
    req = req.redirectedFrom();
  }
  return chain;
}

/** What kind of server page the browser shows: 'login', 'consent', or 'other'. */
export async function pageKind(page) {
  const login = await page.locator('form[action="/login"] input[name="password"]').count();
  if (login > 0) return 'login';
  const consent = await page.locator('form[action="/consent"] button[name="decision"]').count();
  if (consent > 0) return 'consent';
  return 'other';
}

export async function assertPageKind(page, kind, what) {
  const k = await pageKind(page);
  if (k !== kind) {
    const body = (await page.content().catch(() => '')).replace(/<style>[\s\S]*?<\/style>/, '<style>…</style>');
    assert.fail(`${what}: expected the ${kind} page, the browser shows ${k} at ${page.url()}; ` +
      `body: ${body.slice(0, 1500)}`);
  }
}

/** Navigates the page and returns the final main-frame response (after redirects). */
export async function goto(page, url) {
  const res = await page.goto(url, { waitUntil: 'load' });
  assert.ok(res, `no response for ${url}`);
  return res;
}

/**
 * Fills the login form and submits it with the button. Resolves with the response of the page
 * the browser ends up on (after any redirects).
 */
export async function submitLogin(page, { username = USERNAME, password = PASSWORD } = {}) {
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  return submitForm(page, 'form[action="/login"] button[type="submit"], form[action="/login"] input[type="submit"]');
}

/** Clicks approve or deny on the consent page; resolves with the final response. */
export async function submitConsent(page, decision) {
  return submitForm(page, `form[action="/consent"] button[name="decision"][value="${decision}"]`);
}

async function submitForm(page, selector) {
  const button = page.locator(selector);
  assert.equal(await button.count(), 1, `exactly one ${selector} on ${page.url()}`);
  const [res] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    button.click(),
  ]);
  assert.ok(res, `submitting ${selector} produced no navigation response`);
  return res;
}

/** The visible text of the page's <main>, whitespace collapsed. */
export async function mainText(page) {
  return (await page.locator('main').innerText()).replace(/\s+/g, ' ').trim();
}
