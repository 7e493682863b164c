// Refresh-token rotation with a grace period (`serve --refresh-grace-seconds 3`): a client that
// re-presents the just-rotated token within the window (lost response, double submit) gets the
// same new pair; after the window, the reuse is treated as theft and the family is revoked.
// The browser is used only to sign in; the refreshes are plain HTTP via oauth4webapi.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, sleep } from './lib/server.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { loginForTokens, refresh, assertRefreshRejected, verifyAccessToken, userinfo } from './lib/rp.mjs';

const GRACE_S = 3;

function assertSamePair(a, b, what) {
  assert.equal(b.access_token, a.access_token, `${what}: same access token`);
  assert.equal(b.refresh_token, a.refresh_token, `${what}: same refresh token`);
  assert.equal(b.scope, a.scope, `${what}: same scope`);
  assert.equal(b.token_type, a.token_type, `${what}: same token_type`);
  if (a.id_token !== undefined || b.id_token !== undefined) assert.equal(b.id_token, a.id_token, `${what}: same id_token`);
}

describe(`refresh grace period (${GRACE_S} s)`, () => {
  let env;
  let browser;
  before(async () => {
    env = await startEnv({
      clients: { confidential: {}, public: { public: true } },
      serveArgs: ['--refresh-grace-seconds', String(GRACE_S)],
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await env?.stop();
  });

  for (const key of ['confidential', 'public']) {
    it(`${key} client: a replay within the window returns the same pair; after it, reuse revokes the family`, async () => {
      // The confidential client runs first and signs in; the public one reuses the session.
      const { tokens, idClaims } = await loginForTokens(env, key, browser.page,
        { login: key === 'confidential', consent: 'approve' });
      const rt0 = tokens.refresh_token;

      const t0 = Date.now();
      const r1 = await refresh(env, key, rt0);
      assert.notEqual(r1.refresh_token, rt0, 'rotated');
      const r1b = await refresh(env, key, rt0);
      assert.ok(Date.now() - t0 < GRACE_S * 1000, 'the replay happened inside the window');
      assertSamePair(r1, r1b, 'replay of the rotated token within the grace window');
      await verifyAccessToken(env, key, r1b.access_token);
      await userinfo(env, key, r1.access_token, idClaims.sub);

      // Past the window: the old token is a reuse; the whole family dies.
      await sleep(GRACE_S * 1000 + 500);
      await assertRefreshRejected(env, key, rt0, 'reuse of the rotated token after the grace window');
      await assertRefreshRejected(env, key, r1.refresh_token, 'the newest token after the family was revoked');
    });
  }

  it('two concurrent refreshes with the same token (double submit) both get the same pair', async () => {
    const { tokens } = await loginForTokens(env, 'public', browser.page, { login: false, consent: false });
    const rt0 = tokens.refresh_token;
    const [a, b] = await Promise.all([refresh(env, 'public', rt0), refresh(env, 'public', rt0)]);
    assertSamePair(a, b, 'concurrent refreshes');
    assert.notEqual(a.refresh_token, rt0);
    // The family is alive: the new token rotates normally.
    const c = await refresh(env, 'public', a.refresh_token);
    assert.notEqual(c.refresh_token, a.refresh_token);
    // Presenting a.refresh_token again right away is within the window: same pair as c.
    const c2 = await refresh(env, 'public', a.refresh_token);
    assertSamePair(c, c2, 'replay of the second rotation');
  });
});
