// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) in Chromium: only registered
// post_logout_redirect_uris are followed (no open redirect), state comes back, and the session
// is really gone afterwards.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, sleep } from './lib/server.mjs';
import { launchBrowser, serverCookies, goto, assertPageKind, redirectChain } from './lib/browser.mjs';
import { loginForTokens, newAuthRequest, browserAuthorize } from './lib/rp.mjs';

describe('RP-initiated logout in Chromium', () => {
  let env;
  let browser;
  before(async () => {
    env = await startEnv({ clients: { app: {} } });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await env?.stop();
  });

  function logoutUrl(params) {
    const u = new URL(env.as.end_session_endpoint);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.href;
  }

  it('refuses unregistered post_logout_redirect_uris, then logs out to the registered one with state', async () => {
    const { page, context } = browser;
    const { tokens } = await loginForTokens(env, 'app', page);
    const idToken = tokens.id_token;
    const session = (await serverCookies(context, env.server.url)).vk_session;
    assert.ok(session, 'signed in: vk_session cookie');

    // Open-redirect attempts: 400 HTML error, no Location, the browser stays on the server.
    const cb = env.callback;
    const attempts = [
      'https://evil.example/',
      `${cb.postLogoutUri}/extra`,
      `${cb.postLogoutUri}?x=1`,
      `${cb.base}/BYE`,
      cb.redirectUri, // registered as a redirect_uri, not as a post-logout URI
      `//evil.example/`,
      `http://127.0.0.1:${cb.port + 1 === 65536 ? 1 : cb.port + 1}/bye`,
    ];
    const byeBefore = cb.hits('/bye').length;
    for (const target of attempts) {
      const url = logoutUrl({ id_token_hint: idToken, post_logout_redirect_uri: target, state: 'x' });
      // Raw HTTP first: the exact status and headers, no redirect following.
      const raw = await fetch(url, { redirect: 'manual' });
      const body = await raw.text();
      assert.equal(raw.status, 400, `GET /logout?post_logout_redirect_uri=${target}: status (body ${body.slice(0, 200)})`);
      assert.equal(raw.headers.get('location'), null, `${target}: no Location header`);
      assert.match(raw.headers.get('content-type') ?? '', /^text\/html\b/i, `${target}: HTML error page`);
      assert.ok(!body.includes('evil.example'), `${target}: the error page does not echo the URI as a link`);
      // And in the browser: no navigation away from the server.
      const res = await goto(page, url);
      assert.equal(res.status(), 400, `${target}: browser status`);
      assert.equal((await redirectChain(res)).length, 1, `${target}: no redirect in the browser`);
      assert.equal(new URL(page.url()).origin, env.server.url, `${target}: the browser stays on the server`);
    }
    await sleep(100);
    assert.equal(cb.hits('/bye').length, byeBefore, 'no refused attempt reached the post-logout URI');

    // The real logout: 303 to the registered URI with the state.
    const url = logoutUrl({ id_token_hint: idToken, post_logout_redirect_uri: cb.postLogoutUri, state: 'x' });
    const res = await goto(page, url);
    const chain = await redirectChain(res);
    assert.equal(chain[0].status, 303, `GET /logout answers 303; chain ${JSON.stringify(chain.map((c) => [c.url.split('?')[0], c.status]))}`);
    const loc = new URL(chain[0].headers.location, env.server.url);
    assert.equal(`${loc.origin}${loc.pathname}`, cb.postLogoutUri, 'Location is the registered post-logout URI');
    assert.equal(loc.searchParams.get('state'), 'x', 'state is passed back');
    const final = new URL(page.url());
    assert.equal(`${final.origin}${final.pathname}`, cb.postLogoutUri, 'the browser landed on the post-logout URI');
    const hit = await cb.waitFor(byeBefore + 1, '/bye');
    assert.equal(hit.query.get('state'), 'x');
    assert.equal(hit.query.get('code'), null);
    assert.equal(hit.query.get('id_token_hint'), null, 'the ID token is not forwarded');

    // The session is gone: the logout response cleared the browser's cookie...
    const chainCookies = chain.map((c) => c.headers['set-cookie'] ?? '').join('\n');
    assert.match(chainCookies, /(^|\n)vk_session=;[^\n]*Max-Age=0/i, `the logout response expires vk_session; Set-Cookie: ${chainCookies.replace(/vk_\w+=[^;\s]+/g, (m) => m.split('=')[0] + '=…')}`);
    const after = (await serverCookies(context, env.server.url)).vk_session;
    assert.equal(after, undefined, 'the browser no longer holds a session cookie');
    // ...the next /authorize in the browser shows the login page...
    const req = await newAuthRequest(env, 'app');
    await goto(page, req.url);
    await assertPageKind(page, 'login', 'GET /authorize after logout');
    // ...and replaying the old cookie value by hand does not sign anyone in.
    const replay = await fetch(req.url, { redirect: 'manual', headers: { cookie: `vk_session=${session.value}` } });
    const replayBody = await replay.text();
    assert.equal(replay.status, 200, 'GET /authorize with the old session cookie: login page, not a redirect');
    assert.equal(replay.headers.get('location'), null);
    assert.match(replayBody, /<input[^>]+type="password"/, 'the old session cookie no longer signs in');
  });

  it('after logging in again the flow works as before (no leftover state)', async () => {
    const { page } = browser;
    const req = await newAuthRequest(env, 'app');
    // Consent was given before the logout; a login is needed, the consent is remembered.
    const { query } = await browserAuthorize(env, page, req, { login: true, consent: false });
    assert.equal(query.get('state'), req.state);
    assert.ok(query.get('code'));
  });
});
