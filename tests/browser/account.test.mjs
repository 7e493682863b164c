// The account page (/account, issue 13) in Chromium: the user sees the application a code flow
// created and removes its access (the refresh token is refused, the access token is inactive at
// introspection and refused at /userinfo, the next authorization asks for consent again); signs
// another browser out (it is sent back to the login page); changes the password (only the new one
// signs in). What must not work is in account_refused.test.mjs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, recordSecret, addUser } from './lib/server.mjs';
import {
  serverCookies, goto, submitLogin, assertPageKind, pageKind, recordSessionCookie, mainText,
} from './lib/browser.mjs';
import {
  newAuthRequest, browserAuthorize, loginForTokens, assertRefreshRejected, refresh,
} from './lib/rp.mjs';
import {
  withBrowser, accountUrl, assertAccountHeaders, isAccountPage, openAccount, clickAndWait, appSection,
  statusText, introspect, userinfoStatus, canSignIn,
} from './lib/account.mjs';

describe('the account page in Chromium', () => {
  let env;
  before(async () => {
    env = await startEnv({ clients: { app: {} } });
  });
  after(async () => { await env?.stop(); });

  it('the discovery document and the consent page link to /account', () => withBrowser(async ({ page }) => {
    assert.equal(env.as.authorization_management_uri, accountUrl(env));
    const req = await newAuthRequest(env, 'app');
    await goto(page, req.url);
    await submitLogin(page);
    await recordSessionCookie(page.context(), env.server.url);
    await assertPageKind(page, 'consent', 'after the login');
    const link = page.locator('footer a[href="/account"]');
    assert.equal(await link.count(), 1, 'a plain link in the consent page footer');
    // following it leads to the account page of the user who is signing in
    await clickAndWait(page, link);
    assert.ok(await isAccountPage(page));
    assert.match(await mainText(page), /Signed in as alice/);
  }));

  it('shows the application a code flow created; Remove access revokes it and forgets the consent', () => withBrowser(async ({ page }) => {
    const clientId = env.clients.app.client_id;
    const { tokens, idClaims } = await loginForTokens(env, 'app', page);
    assert.equal((await introspect(env, 'app', tokens.access_token)).active, true, 'the access token is active before');
    assert.equal(await userinfoStatus(env, tokens.access_token), 200);
    // The browser still holds its session: /account opens without a login.
    await openAccount(env, page);
    assert.equal(await pageKind(page), 'other');
    const section = appSection(page, clientId);
    assert.equal(await section.count(), 1, 'the application is listed');
    assert.equal((await section.locator('h3').innerText()).trim(), 'Test App');
    const scopes = (await section.locator('ul.scopes li').allInnerTexts()).map((t) => t.trim());
    assert.deepEqual(scopes, ['Confirm your identity', 'See your name and profile information', 'See your email address']);
    const auds = (await section.locator('ul.audiences li').allInnerTexts()).map((t) => t.trim());
    assert.deepEqual(auds, [env.as.issuer], 'its tokens are accepted by the default audience');
    assert.match(await section.innerText(), /Authorized \d{4}-\d\d-\d\d \d\d:\d\d UTC\. Last used \d{4}-\d\d-\d\d \d\d:\d\d UTC\./);
    // a refresh is a use; it keeps the application listed
    const refreshed = await refresh(env, 'app', tokens.refresh_token);
    await openAccount(env, page);
    const current = page.locator('ul.sessions > li.current');
    assert.equal(await current.count(), 1);
    assert.match(await current.innerText(), /Chrome on Linux \(this browser\)/);
    assert.match(await current.innerText(), /From 127\.0\.0\.0\/24\. Signed in \d{4}-\d\d-\d\d \d\d:\d\d UTC, last seen/);

    const res = await clickAndWait(page, appSection(page, clientId).locator('button', { hasText: 'Remove access' }));
    assert.equal(new URL(page.url()).pathname, '/account');
    assert.equal(new URL(page.url()).searchParams.get('done'), 'removed');
    await assertAccountHeaders(res, 'after Remove access');
    assert.match(await statusText(page), /access was removed/);
    assert.equal(await appSection(page, clientId).count(), 0, 'no longer listed');
    assert.match(await mainText(page), /No application has access to your account\./);

    // Every token of the grant is dead: refresh refused, access token inactive and refused.
    await assertRefreshRejected(env, 'app', refreshed.refresh_token, 'the rotated refresh token after Remove access');
    await assertRefreshRejected(env, 'app', tokens.refresh_token, 'the first refresh token after Remove access');
    assert.deepEqual(await introspect(env, 'app', tokens.access_token), { active: false });
    assert.deepEqual(await introspect(env, 'app', refreshed.access_token), { active: false });
    assert.equal(await userinfoStatus(env, refreshed.access_token), 401, '/userinfo refuses the access token');
    // The consent was forgotten: the next authorization asks again (the session is still there).
    const req = await newAuthRequest(env, 'app');
    const { query } = await browserAuthorize(env, page, req, { login: false, consent: 'approve' });
    assert.ok(query.get('code'), 'a new code after consenting again');
    assert.equal(idClaims.sub, env.user.sub);
  }));

  it('signs another browser out: that browser is sent back to the login page', () => withBrowser(async (a) => withBrowser(async (b) => {
    await openAccount(env, a.page);
    await openAccount(env, b.page);
    const bCookie = (await serverCookies(b.context, env.server.url)).vk_session;
    assert.ok(bCookie, 'the second browser is signed in');
    // the second browser's session, as it sees itself
    const handle = await b.page.locator('ul.sessions > li.current').getAttribute('data-session');
    assert.match(handle, /^[0-9a-f]{32}$/);
    await goto(a.page, accountUrl(env));
    const theirs = a.page.locator(`ul.sessions > li[data-session="${handle}"]`);
    assert.equal(await theirs.count(), 1, 'the other browser is listed');
    assert.equal(await theirs.getAttribute('class'), null, 'and not as this browser');
    assert.equal(await a.page.locator('ul.sessions > li.current').count(), 1);
    assert.equal(await a.page.locator('ul.sessions > li.current form').count(), 0, 'no Sign out for this browser');
    await clickAndWait(a.page, theirs.locator('button', { hasText: 'Sign out' }));
    assert.match(await statusText(a.page), /session was signed out/);
    assert.equal(await a.page.locator(`ul.sessions > li[data-session="${handle}"]`).count(), 0);
    // the second browser, still holding its cookie, gets the login page
    const res = await goto(b.page, accountUrl(env));
    assert.equal(res.status(), 200);
    await assertPageKind(b.page, 'login', 'GET /account in the signed-out browser');
    assert.equal((await serverCookies(b.context, env.server.url)).vk_session?.value, bCookie.value);
    const req = await newAuthRequest(env, 'app');
    await goto(b.page, req.url);
    await assertPageKind(b.page, 'login', 'GET /authorize in the signed-out browser');
    // "all other sessions": sign B in again, then end every other one from A
    await openAccount(env, b.page);
    await goto(a.page, accountUrl(env));
    await clickAndWait(a.page, a.page.locator('button', { hasText: 'Sign out all other sessions' }));
    assert.match(await statusText(a.page), /Every other session was signed out/);
    assert.equal(await a.page.locator('ul.sessions > li').count(), 1);
    await goto(b.page, accountUrl(env));
    await assertPageKind(b.page, 'login', 'after Sign out all other sessions');
  })));

  it('changes the password: only the new one signs in, other sessions end, this one stays', () => withBrowser(async (a) => withBrowser(async (b) => {
    const user = { username: 'carol', password: 'carol first password' };
    const next = recordSecret('carol second password');
    addUser(env.dataDir, user);
    await openAccount(env, a.page, user);
    await openAccount(env, b.page, user);
    await goto(a.page, accountUrl(env));
    await a.page.fill('input[name="current_password"]', user.password);
    await a.page.fill('input[name="new_password"]', next);
    await a.page.fill('input[name="new_password2"]', next);
    await clickAndWait(a.page, a.page.locator('button', { hasText: 'Change password' }));
    assert.ok(await isAccountPage(a.page), 'this browser stays signed in');
    assert.match(await statusText(a.page), /Your password was changed/);
    assert.equal(await a.page.locator('ul.sessions > li').count(), 1, 'the other session ended');
    await recordSessionCookie(a.context, env.server.url);
    await goto(b.page, accountUrl(env));
    await assertPageKind(b.page, 'login', 'the other browser after the password change');
    assert.equal(await canSignIn(env, user.username, user.password), false, 'the old password is refused');
    assert.equal(await canSignIn(env, user.username, next), true, 'the new password signs in');
  })));
});
