// Helpers of the account page tests (account.test.mjs, account_refused.test.mjs): open /account
// (signing in through its login form when needed), the headers it must carry, its parts, and the
// relying party's view of the tokens (introspection, /userinfo).
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { insecure, PASSWORD, USERNAME } from './server.mjs';
import {
  launchBrowser, goto, submitLogin, assertPageKind, pageKind, recordSessionCookie, mainText,
} from './browser.mjs';
import { rpClient } from './rp.mjs';

/** Runs fn with a fresh browser profile and closes it afterwards. */
export async function withBrowser(fn) {
  const b = await launchBrowser();
  try {
    return await fn(b);
  } finally {
    await b.close();
  }
}

export function accountUrl(env) {
  return `${env.server.url}/account`;
}

/** The headers of the login pages, plus what the account page promises on top. */
export async function assertAccountHeaders(res, what) {
  const h = await res.allHeaders();
  assert.match(h['content-type'] ?? '', /^text\/html\b/i, `${what}: content-type`);
  const csp = h['content-security-policy'] ?? '';
  assert.match(csp, /default-src 'none'/, `${what}: CSP default-src`);
  assert.match(csp, /form-action 'self'/, `${what}: CSP form-action`);
  assert.match(csp, /frame-ancestors 'none'/, `${what}: CSP frame-ancestors`);
  assert.doesNotMatch(csp, /script-src/, `${what}: no scripts allowed`);
  assert.equal((h['x-frame-options'] ?? '').toUpperCase(), 'DENY', `${what}: X-Frame-Options`);
  assert.equal(h['referrer-policy'], 'no-referrer', `${what}: Referrer-Policy`);
  assert.match(h['cache-control'] ?? '', /\bno-store\b/, `${what}: Cache-Control`);
}

/** True when the browser shows the account page (not the login page). */
export async function isAccountPage(page) {
  return (await page.locator('main h1').innerText().catch(() => '')).trim() === 'Your account';
}

/**
 * Opens /account; when the login page comes, signs in (it posts to /login with next=account) and
 * checks that the browser lands back on /account. Returns the final response.
 */
export async function openAccount(env, page, { username = USERNAME, password = PASSWORD } = {}) {
  let res = await goto(page, accountUrl(env));
  if (await pageKind(page) === 'login') {
    assert.equal(await page.locator('form[action="/login"] input[type="hidden"][name="next"]').getAttribute('value'),
      'account', 'the account login form returns to the account page');
    assert.equal(await page.locator('form[action="/login"] input[name="client_id"]').count(), 0,
      'the account login form carries no authorization request');
    await assertAccountHeaders(res, 'GET /account (login page)');
    res = await submitLogin(page, { username, password });
    await recordSessionCookie(page.context(), env.server.url);
  }
  assert.ok(await isAccountPage(page), `expected the account page at ${page.url()}: ${(await mainText(page).catch(() => '')).slice(0, 400)}`);
  assert.equal(new URL(page.url()).pathname, '/account');
  await assertAccountHeaders(res, 'the account page');
  return res;
}

/** Clicks the submit button inside `scope` (a locator) and waits for the page that follows. */
export async function clickAndWait(page, button) {
  assert.equal(await button.count(), 1, 'exactly one button to click');
  const [res] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), button.click()]);
  assert.ok(res, 'the click produced a navigation');
  return res;
}

export function appSection(page, clientId) {
  return page.locator(`section.app[data-client="${clientId}"]`);
}

export async function statusText(page) {
  return (await page.locator('main [role="status"]').allInnerTexts()).join(' ').trim();
}

export async function alertText(page) {
  return (await page.locator('main [role="alert"]').allInnerTexts()).join(' ').trim();
}

/** RFC 7662 introspection by the (confidential) client itself, with oauth4webapi. */
export async function introspect(env, key, token) {
  const { client, auth } = rpClient(env, key);
  return oauth.processIntrospectionResponse(env.as, client,
    await oauth.introspectionRequest(env.as, client, auth, token, insecure));
}

export async function userinfoStatus(env, accessToken) {
  const res = await fetch(env.as.userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
  await res.arrayBuffer();
  return res.status;
}

/** Signs in at the account page in a fresh browser and says whether it worked. */
export async function canSignIn(env, username, password) {
  return withBrowser(async ({ page, context }) => {
    await goto(page, accountUrl(env));
    await assertPageKind(page, 'login', 'GET /account in a fresh browser');
    const res = await submitLogin(page, { username, password });
    await recordSessionCookie(context, env.server.url);
    if (await isAccountPage(page)) return true;
    assert.equal(res.status(), 400, `a refused sign-in answers 400 (got ${res.status()})`);
    assert.equal(await alertText(page), 'Invalid username or password.');
    return false;
  });
}

