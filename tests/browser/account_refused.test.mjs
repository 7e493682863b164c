// What the account page (/account, issue 13) must refuse, in Chromium, with nothing changed: a form
// without the CSRF token or with another session's, another user's session cookie, another user's
// application in the form, a password change without (or with a wrong) current password.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, recordSecret, addUser, addClient, PASSWORD, USERNAME } from './lib/server.mjs';
import {
  serverCookies, goto, submitLogin, assertPageKind, recordSessionCookie,
} from './lib/browser.mjs';
import { newAuthRequest, loginForTokens, refresh } from './lib/rp.mjs';
import {
  withBrowser, accountUrl, isAccountPage, openAccount, clickAndWait, appSection, alertText,
  introspect, canSignIn,
} from './lib/account.mjs';

describe('the account page refuses what it must', () => {
  let env;
  before(async () => {
    env = await startEnv({ clients: { app: {} } });
    env.bob = { username: 'bob', password: 'bob has a password' };
    addUser(env.dataDir, env.bob);
    // a client only bob uses
    env.clients.other = { ...addClient(env.dataDir, env.callback, { name: 'Other App' }), opts: {} };
  });
  after(async () => { await env?.stop(); });

  /** Alice's and bob's browsers, each with a grant and the account page open. */
  let consented = false; // both consents are remembered after the first test
  async function twoUsers(a, b) {
    const alice = await loginForTokens(env, 'app', a.page, { consent: consented ? false : 'approve' });
    await openAccount(env, a.page);
    const bobReq = await newAuthRequest(env, 'other');
    await goto(b.page, bobReq.url);
    await submitLogin(b.page, env.bob);
    await recordSessionCookie(b.context, env.server.url);
    if (!consented) {
      await assertPageKind(b.page, 'consent', 'bob consents to the other app');
      await b.page.locator('form[action="/consent"] button[value="approve"]').click();
    }
    await b.page.waitForURL((u) => u.href.startsWith(env.callback.redirectUri));
    consented = true;
    await openAccount(env, b.page, env.bob);
    assert.equal(await appSection(b.page, env.clients.other.client_id).count(), 1);
    assert.equal(await appSection(a.page, env.clients.other.client_id).count(), 0, 'alice never used the other app');
    return alice;
  }

  /** What must still be true: alice's grant live, her consent kept, bob's listing unchanged. */
  async function assertUnchanged(a, b, alice, what) {
    assert.equal((await introspect(env, 'app', alice.tokens.access_token)).active, true, `${what}: alice's access token still active`);
    await goto(a.page, accountUrl(env));
    assert.ok(await isAccountPage(a.page), `${what}: alice is still signed in`);
    assert.equal(await appSection(a.page, env.clients.app.client_id).count(), 1, `${what}: alice's app still listed`);
    await goto(b.page, accountUrl(env));
    assert.ok(await isAccountPage(b.page), `${what}: bob is still signed in`);
    assert.equal(await appSection(b.page, env.clients.other.client_id).count(), 1, `${what}: bob's app still listed`);
  }

  it('a form without the CSRF token, or with another session\'s, is refused', () => withBrowser(async (a) => withBrowser(async (b) => {
    const alice = await twoUsers(a, b);
    const bobToken = await b.page.locator('form input[name="csrf"]').first().getAttribute('value');
    const cases = {
      'csrf field removed': () => a.page.evaluate(() => document.querySelector('section.app form input[name="csrf"]').remove()),
      'csrf field emptied': () => a.page.evaluate(() => { document.querySelector('section.app form input[name="csrf"]').value = ''; }),
      'csrf of another session': () => a.page.evaluate((t) => { document.querySelector('section.app form input[name="csrf"]').value = t; }, bobToken),
    };
    for (const [what, tamper] of Object.entries(cases)) {
      await goto(a.page, accountUrl(env));
      await tamper();
      const res = await clickAndWait(a.page, appSection(a.page, env.clients.app.client_id).locator('button'));
      assert.equal(res.status(), 403, `${what}: status`);
      assert.equal(res.request().redirectedFrom(), null, `${what}: no redirect`);
      await assertUnchanged(a, b, alice, what);
    }
    // the same with a second browser of alice's own: its token is bound to its own session
    await withBrowser(async (a2) => {
      await openAccount(env, a2.page);
      const otherToken = await a2.page.locator('form input[name="csrf"]').first().getAttribute('value');
      await goto(a.page, accountUrl(env));
      await a.page.evaluate((t) => { for (const f of document.querySelectorAll('input[name="csrf"]')) f.value = t; }, otherToken);
      const res = await clickAndWait(a.page, a.page.locator('button', { hasText: 'Sign out all other sessions' }));
      assert.equal(res.status(), 403, 'sign out others with the token of alice\'s other browser');
      await goto(a2.page, accountUrl(env));
      assert.ok(await isAccountPage(a2.page), 'alice\'s other browser is still signed in');
    });
    await assertUnchanged(a, b, alice, 'after the CSRF cases');
  })));

  it('another user\'s session cookie changes nothing of this user', () => withBrowser(async (a) => withBrowser(async (b) => {
    const alice = await twoUsers(a, b);
    // alice's page is open (her CSRF token in the form); the browser now carries bob's cookie
    await goto(a.page, accountUrl(env));
    const aliceCookie = (await serverCookies(a.context, env.server.url)).vk_session;
    const bobCookie = (await serverCookies(b.context, env.server.url)).vk_session;
    await a.context.addCookies([{ ...bobCookie, domain: aliceCookie.domain, path: '/' }]);
    assert.equal((await serverCookies(a.context, env.server.url)).vk_session.value, bobCookie.value);
    const res = await clickAndWait(a.page, appSection(a.page, env.clients.app.client_id).locator('button'));
    assert.equal(res.status(), 403, 'alice\'s form with bob\'s session cookie');
    await a.context.addCookies([{ ...aliceCookie, path: '/' }]);
    await assertUnchanged(a, b, alice, 'with bob\'s cookie');
  })));

  it('removing another user\'s application by putting its id in the form removes nothing', () => withBrowser(async (a) => withBrowser(async (b) => {
    const alice = await twoUsers(a, b);
    for (const id of [env.clients.other.client_id, 'vk_c_guessed', 'vk_g_' + 'A'.repeat(22)]) {
      await goto(a.page, accountUrl(env));
      await a.page.evaluate((v) => { document.querySelector('section.app form input[name="client"]').value = v; }, id);
      const res = await clickAndWait(a.page, appSection(a.page, env.clients.app.client_id).locator('button'));
      assert.equal(res.status(), 404, `client=${id}: status`);
      assert.ok(await isAccountPage(a.page), `client=${id}: the page says why`);
      assert.match(await alertText(a.page), /no access to your account/);
      await assertUnchanged(a, b, alice, `client=${id}`);
    }
  })));

  it('a password change without the current password changes nothing', () => withBrowser(async (a) => withBrowser(async (b) => {
    const alice = await twoUsers(a, b);
    const next = recordSecret('alice would like this one');
    for (const current of ['', recordSecret('not the password')]) {
      await goto(a.page, accountUrl(env));
      // the browser would insist on the field: take the attribute away, as a hand-made POST would
      await a.page.evaluate(() => { document.querySelector('input[name="current_password"]').removeAttribute('required'); });
      await a.page.fill('input[name="current_password"]', current);
      await a.page.fill('input[name="new_password"]', next);
      await a.page.fill('input[name="new_password2"]', next);
      const res = await clickAndWait(a.page, a.page.locator('button', { hasText: 'Change password' }));
      assert.equal(res.status(), 400, `current password ${JSON.stringify(current ? 'wrong' : 'empty')}: status`);
      assert.match(await alertText(a.page), /Nothing was changed/);
      await assertUnchanged(a, b, alice, 'after the refused password change');
    }
    assert.equal(await canSignIn(env, USERNAME, next), false, 'the new password does not sign in');
    assert.equal(await canSignIn(env, USERNAME, PASSWORD), true, 'the old one still does');
    // and the refresh token of alice's app still works
    const r = await refresh(env, 'app', alice.tokens.refresh_token);
    assert.ok(r.access_token);
  })));
});
