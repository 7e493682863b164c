// What must NOT happen in the browser: a denied consent yields access_denied, wrong or unknown
// credentials and forged CSRF tokens never reach the client, the login page cannot be framed,
// prompt=none never shows UI, and prompt=login / max_age=0 force a fresh login.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import * as oauth from 'oauth4webapi';
import { startEnv, recordSecret, sleep, PASSWORD, USERNAME } from './lib/server.mjs';
import {
  launchBrowser, serverCookies, goto, submitLogin, assertPageKind, pageKind, recordSessionCookie, redirectChain,
} from './lib/browser.mjs';
import {
  newAuthRequest, browserAuthorize, validateCallback, exchangeCode, assertLoginPageHeaders,
} from './lib/rp.mjs';

const INVALID = 'Invalid username or password.';

describe('negative browser paths', () => {
  let env;
  before(async () => {
    env = await startEnv({ clients: { app: {} } });
  });
  after(async () => { await env?.stop(); });

  /** Runs fn with a fresh browser profile and closes it afterwards. */
  async function withBrowser(fn) {
    const b = await launchBrowser();
    try {
      return await fn(b);
    } finally {
      await b.close();
    }
  }

  /** Asserts that nothing reached the callback since `before` hits. */
  function assertNoCallback(before, what) {
    const hits = env.callback.hits('/cb');
    assert.equal(hits.length, before,
      `${what}: the callback must not be reached; got ${hits.slice(before).map((h) => h.query.toString().replace(/code=[^&]*/, 'code=…')).join(' | ')}`);
  }

  it('deny on the consent page: access_denied with the same state and iss, no code', () => withBrowser(async ({ page, context }) => {
    const req = await newAuthRequest(env, 'app');
    const { query } = await browserAuthorize(env, page, req, { login: true, consent: 'deny' });
    assert.equal(query.get('error'), 'access_denied', `callback query: ${query}`);
    assert.equal(query.get('state'), req.state);
    assert.equal(query.get('iss'), env.as.issuer);
    assert.equal(query.get('code'), null, 'no code after deny');
    assert.throws(() => validateCallback(env, req, query),
      (e) => e instanceof oauth.AuthorizationResponseError && e.error === 'access_denied');
    await recordSessionCookie(context, env.server.url);
  }));

  it('wrong password and unknown user: the same 400 login page and message, no redirect, no session', () => withBrowser(async ({ page, context }) => {
    const before = env.callback.hits('/cb').length;
    const req = await newAuthRequest(env, 'app');
    const seen = [];
    // Two failures only: the server allows 3 free failures per source address before it delays
    // logins, and the later tests in this file sign in from the same address.
    for (const [username, password] of [[USERNAME, 'not the password'], ['mallory', PASSWORD]]) {
      recordSecret(password);
      await goto(page, req.url);
      await assertPageKind(page, 'login', 'GET /authorize');
      const res = await submitLogin(page, { username, password });
      const what = `POST /login as ${username}`;
      assert.equal(res.request().method(), 'POST');
      assert.equal(new URL(res.url()).pathname, '/login', `${what}: stays on /login (no redirect)`);
      assert.equal(res.request().redirectedFrom(), null, `${what}: no redirect`);
      await assertLoginPageHeaders(res, what);
      await assertPageKind(page, 'login', `${what}: the login form is shown again`);
      const alert = (await page.locator('main [role="alert"], main .alert').allInnerTexts()).map((t) => t.trim());
      assert.deepEqual(alert, [INVALID], `${what}: error text`);
      const html = await page.content();
      assert.ok(!html.includes(password), `${what}: the page must not echo the password`);
      assert.equal(await page.locator('input[name="password"]').inputValue(), '', `${what}: password field empty`);
      const cookies = await serverCookies(context, env.server.url);
      assert.equal(cookies.vk_session, undefined, `${what}: no session cookie`);
      seen.push({ status: res.status(), alert: alert.join('|') });
    }
    assert.deepEqual(seen[1], seen[0], 'unknown user and wrong password are indistinguishable');
    await sleep(100);
    assertNoCallback(before, 'failed logins');
    assert.deepEqual(seen.map((x) => x.status), [400, 400], 'a failed login answers 400 with the login page (a 401 would need WWW-Authenticate)');
  }));

  it('CSRF: a login POST with the csrf field removed, altered, or without the vk_csrf cookie gets 403', () => withBrowser(async ({ page, context }) => {
    const before = env.callback.hits('/cb').length;
    const req = await newAuthRequest(env, 'app');
    const cases = {
      'csrf field removed': () => page.evaluate(() => document.querySelector('form[action="/login"] input[name="csrf"]').remove()),
      'csrf field altered': () => page.evaluate(() => {
        const f = document.querySelector('form[action="/login"] input[name="csrf"]');
        const v = f.value;
        f.value = (v[0] === 'A' ? 'B' : 'A') + v.slice(1);
      }),
      'csrf field emptied': () => page.evaluate(() => { document.querySelector('form[action="/login"] input[name="csrf"]').value = ''; }),
      'vk_csrf cookie removed': async () => {
        await context.clearCookies({ name: 'vk_csrf' });
        assert.equal((await serverCookies(context, env.server.url)).vk_csrf, undefined);
      },
    };
    for (const [what, tamper] of Object.entries(cases)) {
      await goto(page, req.url);
      await assertPageKind(page, 'login', `${what}: GET /authorize`);
      assert.equal(await page.locator('form[action="/login"] input[type="hidden"][name="csrf"]').count(), 1,
        'the login form carries a hidden csrf field');
      assert.ok((await serverCookies(context, env.server.url)).vk_csrf, `${what}: vk_csrf cookie set by the login page`);
      await tamper();
      const res = await submitLogin(page);
      assert.equal(res.status(), 403, `${what}: status of POST /login`);
      assert.equal(res.request().redirectedFrom(), null, `${what}: no redirect`);
      assert.equal(res.headers().location, undefined, `${what}: no Location`);
      assert.match(res.headers()['content-type'] ?? '', /^text\/html\b/i, `${what}: HTML error page`);
      assert.notEqual(await pageKind(page), 'consent', `${what}: no consent page`);
      assert.equal(new URL(page.url()).origin, env.server.url, `${what}: the browser stays on the server`);
      assert.equal((await serverCookies(context, env.server.url)).vk_session, undefined, `${what}: no session cookie`);
    }
    await sleep(100);
    assertNoCallback(before, 'CSRF failures');
  }));

  it('the login page refuses to be framed by another origin', () => withBrowser(async ({ page, consoleMessages }) => {
    const req = await newAuthRequest(env, 'app');
    const framer = http.createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>evil</title><h1>framer</h1><iframe id="f" width="600" height="600" src="${req.url.replace(/&/g, '&amp;')}"></iframe>`);
    });
    await new Promise((r) => framer.listen(0, '127.0.0.1', r));
    try {
      const framerUrl = `http://127.0.0.1:${framer.address().port}/`;
      const framed = page.waitForResponse((r) => r.url() === req.url && r.frame() !== page.mainFrame());
      await goto(page, framerUrl);
      const res = await framed;
      assert.equal(res.status(), 200, 'the server answered the framed request (the browser must refuse to render it)');
      await assertLoginPageHeaders(res, 'framed GET /authorize');
      await page.waitForLoadState('load');
      await sleep(300);
      const frame = page.frames().find((f) => f !== page.mainFrame());
      assert.ok(frame, 'the iframe exists');
      const html = await frame.content().catch(() => '');
      assert.ok(!/type="password"/i.test(html), `the framed login page must not render; frame ${frame.url()} has: ${html.slice(0, 300)}`);
      assert.equal(await frame.locator('input[type="password"]').count().catch(() => 0), 0, 'no password input in the frame');
      assert.equal(await page.locator('h1').innerText(), 'framer', 'the framing page itself did load');
      // Chromium says why on the framing page's console.
      const refused = consoleMessages.filter((m) => /frame-ancestors|X-Frame-Options|Refused to (display|frame)/i.test(m.text));
      assert.ok(refused.length > 0, `Chromium reports the refusal on the console; console: ${JSON.stringify(consoleMessages)}`);
    } finally {
      framer.closeAllConnections?.();
      await new Promise((r) => framer.close(r));
    }
  }));

  it('prompt=none without a session: login_required at the callback, no UI', () => withBrowser(async ({ page }) => {
    const req = await newAuthRequest(env, 'app', { prompt: 'none' });
    const before = env.callback.hits('/cb').length;
    const res = await goto(page, req.url);
    const final = new URL(page.url());
    assert.equal(`${final.origin}${final.pathname}`, env.callback.redirectUri,
      `prompt=none must redirect straight to the callback; browser at ${page.url()} (HTTP ${res.status()})`);
    const chain = await redirectChain(res);
    assert.equal(chain[0].status, 303, `GET /authorize?prompt=none answers 303; chain ${JSON.stringify(chain.map((c) => c.status))}`);
    const hit = await env.callback.waitFor(before + 1);
    assert.equal(hit.query.get('error'), 'login_required', `callback query: ${hit.query}`);
    assert.equal(hit.query.get('state'), req.state);
    assert.equal(hit.query.get('iss'), env.as.issuer);
    assert.equal(hit.query.get('code'), null);
  }));

  it('with a session: prompt=none issues a code silently; prompt=login and max_age=0 demand a fresh login (auth_time moves)', () => withBrowser(async ({ page, context }) => {
    // Sign in and consent once.
    const req1 = await newAuthRequest(env, 'app');
    const r1 = await browserAuthorize(env, page, req1, { login: true, consent: 'approve' });
    const t1 = await exchangeCode(env, req1, validateCallback(env, req1, r1.query));
    const session1 = (await serverCookies(context, env.server.url)).vk_session;
    assert.ok(session1, 'session cookie after login');

    // prompt=none with a session: straight back with a code, same auth_time.
    const reqN = await newAuthRequest(env, 'app', { prompt: 'none' });
    const rN = await browserAuthorize(env, page, reqN, { login: false, consent: false });
    const tN = await exchangeCode(env, reqN, validateCallback(env, reqN, rN.query));
    assert.equal(tN.idClaims.auth_time, t1.idClaims.auth_time, 'prompt=none reuses the session');

    // auth_time has a one-second resolution: make sure a fresh login is visibly later.
    await sleep(1100);
    const reqL = await newAuthRequest(env, 'app', { prompt: 'login' });
    const rL = await browserAuthorize(env, page, reqL, { login: true, consent: false });
    const tL = await exchangeCode(env, reqL, validateCallback(env, reqL, rL.query));
    assert.ok(tL.idClaims.auth_time > t1.idClaims.auth_time,
      `prompt=login: auth_time must move (${t1.idClaims.auth_time} -> ${tL.idClaims.auth_time})`);
    await recordSessionCookie(context, env.server.url);

    await sleep(1100);
    const reqM = await newAuthRequest(env, 'app', { max_age: 0 });
    const rM = await browserAuthorize(env, page, reqM, { login: true, consent: false });
    const tM = await exchangeCode(env, reqM, validateCallback(env, reqM, rM.query), { maxAge: 0 });
    assert.ok(tM.idClaims.auth_time > tL.idClaims.auth_time,
      `max_age=0: auth_time must move (${tL.idClaims.auth_time} -> ${tM.idClaims.auth_time})`);
    assert.ok(Math.abs(tM.idClaims.auth_time - Math.floor(Date.now() / 1000)) <= 5, 'auth_time is now');
    await recordSessionCookie(context, env.server.url);

    // And without prompt, the session is reused again (no login, no consent).
    const reqS = await newAuthRequest(env, 'app');
    const rS = await browserAuthorize(env, page, reqS, { login: false, consent: false });
    const tS = await exchangeCode(env, reqS, validateCallback(env, reqS, rS.query));
    assert.equal(tS.idClaims.auth_time, tM.idClaims.auth_time, 'the session keeps the latest auth_time');
  }));
});
