// The authorization code flow in a real Chromium: login page, consent page, callback, then the
// relying party (oauth4webapi + jose) exchanges the code, verifies the ID token, calls userinfo,
// rotates the refresh token and checks reuse detection. Once for a confidential client
// (client_secret_basic, RS256 ID tokens) and once for a public one (none, ES256 ID tokens).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { startEnv, insecure, recordSecret } from './lib/server.mjs';
import { launchBrowser, serverCookies, recordSessionCookie } from './lib/browser.mjs';
import {
  rpClient, newAuthRequest, browserAuthorize, validateCallback, exchangeCode, verifyIdToken,
  verifyAccessToken, refresh, assertRefreshRejected, userinfo, assertAliceUserinfo,
} from './lib/rp.mjs';

describe('login and consent in Chromium', () => {
  let env;
  before(async () => {
    env = await startEnv({
      clients: {
        confidential: {},
        public: { public: true, idTokenAlg: 'ES256' },
        firstParty: { firstParty: true },
      },
    });
  });
  after(async () => { await env?.stop(); });

  it('discovery advertises what the flow needs', () => {
    assert.equal(env.as.issuer, env.server.url);
    assert.deepEqual(env.as.code_challenge_methods_supported, ['S256']);
    for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint']) {
      assert.equal(typeof env.as[k], 'string', k);
    }
    assert.equal(env.clients.confidential.client_type ?? 'confidential', 'confidential');
    assert.equal(env.clients.public.token_endpoint_auth_method, 'none');
  });

  for (const key of ['confidential', 'public']) {
    it(`${key} client: login, consent, code exchange, userinfo, refresh rotation and reuse detection, then SSO`, async () => {
      const browser = await launchBrowser();
      try {
        const { page, context } = browser;

        // 1. Login and consent in the browser.
        const req = await newAuthRequest(env, key);
        const { query, consentText, consentItems, consentAudiences } = await browserAuthorize(env, page, req, { login: true, consent: 'approve' });
        assert.match(consentText, /Test App/, 'the consent page names the client');
        assert.match(consentText, /identity/i, 'consent lists openid in words');
        assert.match(consentText, /\bname\b/i, 'consent lists profile in words');
        assert.match(consentText, /email address/i, 'consent lists email in words');
        assert.ok(!/[“"](openid|profile|email)[”"]/.test(consentText), `known scopes are described in words: ${consentText}`);
        assert.equal(consentItems.length, 3, `one list item per scope: ${JSON.stringify(consentItems)}`);
        // No registered resources: the tokens reach only the default audience, the issuer.
        assert.deepEqual(consentAudiences, [env.server.issuer ?? env.server.url], 'the consent page names the audience');

        // The cookies the browser got: HttpOnly, SameSite=Lax, host-only (no Secure over http).
        const cookies = await serverCookies(context, env.server.url);
        for (const name of ['vk_session', 'vk_csrf']) {
          const c = cookies[name];
          assert.ok(c, `${name} cookie set; have ${Object.keys(cookies).join(', ')}`);
          assert.equal(c.httpOnly, true, `${name} HttpOnly`);
          assert.equal(c.sameSite, 'Lax', `${name} SameSite`);
          assert.equal(c.secure, false, `${name} not Secure over http`);
          assert.equal(c.path, '/', `${name} Path`);
          assert.equal(c.domain, '127.0.0.1', `${name} host-only, no Domain attribute`);
        }
        recordSecret(cookies.vk_session.value);

        // 2. The authorization response: code, same state, iss (RFC 9207).
        assert.equal(query.get('state'), req.state);
        assert.equal(query.get('iss'), env.as.issuer);
        assert.equal(query.get('error'), null);
        const params = validateCallback(env, req, query);

        // 3. Code exchange (oauth4webapi checks iss/aud/nonce/exp of the ID token; jose verifies
        //    the signature against the JWKS and at_hash).
        const { tokens, idClaims, atClaims } = await exchangeCode(env, req, params);
        assert.equal(idClaims.sub, env.user.sub, 'id_token sub is alice');
        assert.equal(atClaims.sub, env.user.sub, 'access token sub is alice');
        const { client, auth } = rpClient(env, key);
        const idHeaderAlg = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg;
        assert.equal(idHeaderAlg, key === 'public' ? 'ES256' : 'RS256');

        // 4. userinfo.
        const info = await userinfo(env, key, tokens.access_token, idClaims.sub);
        assertAliceUserinfo(info, env.user.sub);

        // 5. Refresh: a new refresh token each time.
        const rt0 = tokens.refresh_token;
        const r1 = await refresh(env, key, rt0);
        assert.equal(typeof r1.refresh_token, 'string', 'the refresh response carries a new refresh token');
        assert.notEqual(r1.refresh_token, rt0, 'refresh tokens rotate');
        assert.notEqual(r1.access_token, tokens.access_token, 'a new access token');
        await verifyAccessToken(env, key, r1.access_token, { sub: env.user.sub });
        if (r1.id_token) await verifyIdToken(env, key, r1.id_token, { sub: env.user.sub, accessToken: r1.access_token });
        assert.deepEqual(new Set(r1.scope.split(' ')), new Set(tokens.scope.split(' ')), 'rotated grant keeps the scope');
        const info1 = await userinfo(env, key, r1.access_token, idClaims.sub);
        assertAliceUserinfo(info1, env.user.sub);

        // 6. Reuse of the rotated-away token: refused, and the whole family is revoked.
        await assertRefreshRejected(env, key, rt0, 'reusing the old refresh token');
        await assertRefreshRejected(env, key, r1.refresh_token, 'the newest refresh token after a reuse (family revocation)');

        // 7. A second authorization in the same browser: no login (session), no consent (remembered).
        const req2 = await newAuthRequest(env, key);
        const second = await browserAuthorize(env, page, req2, { login: false, consent: false });
        assert.equal(second.query.get('state'), req2.state);
        assert.equal(second.query.get('iss'), env.as.issuer);
        const params2 = validateCallback(env, req2, second.query);
        assert.notEqual(params2.get('code'), params.get('code'), 'a new code');
        const t2 = await exchangeCode(env, req2, params2);
        assert.equal(t2.idClaims.sub, idClaims.sub);
        assert.equal(t2.idClaims.auth_time, idClaims.auth_time, 'SSO keeps the original auth_time');
        assert.notEqual(t2.tokens.refresh_token, rt0);
        // The new grant starts a new family: it works although the old family was revoked.
        const r2 = await refresh(env, key, t2.tokens.refresh_token);
        assert.notEqual(r2.refresh_token, t2.tokens.refresh_token);
        assertAliceUserinfo(await userinfo(env, key, r2.access_token, idClaims.sub), env.user.sub);

        // 8. The code is single-use: a second redemption is refused and revokes what the code
        //    produced (BCP #18): the rotated refresh token and the access token.
        const replay = await oauth.authorizationCodeGrantRequest(env.as, client, auth, params2,
          env.callback.redirectUri, req2.verifier, insecure);
        await assert.rejects(
          oauth.processAuthorizationCodeResponse(env.as, client, replay, { expectedNonce: req2.nonce }),
          (e) => e instanceof oauth.ResponseBodyError && e.status === 400 && e.error === 'invalid_grant',
          'a replayed code is refused with invalid_grant');
        await assertRefreshRejected(env, key, r2.refresh_token, 'refresh token of a replayed code');
        await assert.rejects(userinfo(env, key, r2.access_token, idClaims.sub),
          (e) => e instanceof oauth.WWWAuthenticateChallengeError && e.status === 401,
          'userinfo refuses an access token of a replayed code');
      } finally {
        await browser.close();
      }
    });
  }

  it('first-party client: login goes straight to the callback, no consent page', async () => {
    const browser = await launchBrowser();
    try {
      const req = await newAuthRequest(env, 'firstParty');
      const { query, chain } = await browserAuthorize(env, browser.page, req, { login: true, consent: false });
      assert.equal(query.get('state'), req.state);
      assert.equal(query.get('iss'), env.as.issuer);
      assert.equal(chain[0].method, 'POST', 'the login POST itself redirects');
      assert.equal(new URL(chain[0].url).pathname, '/login');
      assert.equal(chain[0].status, 303);
      const { idClaims } = await exchangeCode(env, req, validateCallback(env, req, query));
      assert.equal(idClaims.sub, env.user.sub);
      await recordSessionCookie(browser.context, env.server.url);
    } finally {
      await browser.close();
    }
  });
});
