// The relying party: oauth4webapi builds the authorization request and talks to the token and
// userinfo endpoints; jose verifies the ID token and the access token against the JWKS. Every
// code and token is recorded as a secret for the log-leak check.
import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { insecure, recordSecret, recordTokens, SCOPE, USER_EMAIL, USER_NAME, USERNAME } from './server.mjs';
import {
  goto, submitLogin, submitConsent, assertPageKind, pageKind, recordSessionCookie, redirectChain, mainText,
} from './browser.mjs';

/** oauth4webapi's view of a registered client: { client, auth, reg }. */
export function rpClient(env, key) {
  const reg = env.clients[key];
  assert.ok(reg, `no client ${key}`);
  const alg = reg.id_token_signed_response_alg ?? reg.opts?.idTokenAlg ?? 'RS256';
  if (reg.opts?.public) {
    return {
      reg,
      client: { client_id: reg.client_id, token_endpoint_auth_method: 'none', id_token_signed_response_alg: alg },
      auth: oauth.None(),
    };
  }
  return {
    reg,
    client: { client_id: reg.client_id, token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: alg },
    auth: oauth.ClientSecretBasic(reg.client_secret),
  };
}

/**
 * A fresh authorization request (PKCE S256, state, nonce) for client `key`.
 * extra: more query parameters (prompt, max_age, ...). Returns { url, state, nonce, verifier, key }.
 */
export async function newAuthRequest(env, key, extra = {}) {
  const { client } = rpClient(env, key);
  const verifier = oauth.generateRandomCodeVerifier();
  recordSecret(verifier);
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(env.as.authorization_endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('redirect_uri', env.callback.redirectUri);
  url.searchParams.set('scope', SCOPE);
  url.searchParams.set('state', state);
  url.searchParams.set('nonce', nonce);
  url.searchParams.set('code_challenge', challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, String(v));
  return { url: url.href, state, nonce, verifier, key, extra };
}

/**
 * Checks the callback's query with oauth4webapi (state, iss) and returns the validated params.
 * A `code` in it is recorded. Throws (AuthorizationResponseError) for an error response.
 */
export function validateCallback(env, req, query) {
  const code = query.get('code');
  if (code) recordSecret(code);
  const { client } = rpClient(env, req.key);
  return oauth.validateAuthResponse(env.as, client, new URLSearchParams(query), req.state);
}

/**
 * Drives the browser from the authorization URL to the callback.
 *   login:   true -> the login page must appear and is submitted; false -> it must not appear
 *   consent: 'approve' | 'deny' -> the consent page must appear and that button is clicked;
 *            false -> no consent page
 * Asserts that the browser landed on the callback, that the callback server saw exactly that
 * query, and the headers and 303s on the way. Returns { query, final, chain, loginRes, consentText, consentItems,
 * consentAudiences } (the consent page's scope list items and audience list items).
 */
export async function browserAuthorize(env, page, req, { login = true, consent = 'approve' } = {}) {
  const before = env.callback.hits('/cb').length;
  let res = await goto(page, req.url);
  let loginRes;
  let consentText;
  let consentItems;
  let consentAudiences;
  if (login) {
    await assertPageKind(page, 'login', 'after GET /authorize');
    await assertLoginPageHeaders(res, 'GET /authorize (login page)');
    res = await submitLogin(page);
    loginRes = res;
    await recordSessionCookie(page.context(), env.server.url);
  } else {
    assert.notEqual(await pageKind(page), 'login', `GET /authorize showed the login page although the browser has a session (${page.url()})`);
  }
  if (consent) {
    await assertPageKind(page, 'consent', login ? 'after the login POST' : 'after GET /authorize');
    await assertLoginPageHeaders(res, 'consent page');
    consentText = await mainText(page);
    consentItems = (await page.locator('main ul.scopes li').allInnerTexts()).map((t) => t.trim());
    consentAudiences = (await page.locator('main ul.audiences li').allInnerTexts()).map((t) => t.trim());
    res = await submitConsent(page, consent);
  } else {
    assert.notEqual(await pageKind(page), 'consent', `the consent page was shown again (${page.url()})`);
  }
  const final = new URL(page.url());
  assert.equal(`${final.origin}${final.pathname}`, env.callback.redirectUri,
    `the browser should have landed on the callback; it is at ${page.url()}: ${(await page.content()).slice(0, 600)}`);
  assert.equal(res.status(), 200, 'the callback answers 200');
  assert.equal(await page.locator('body').innerText(), 'ok');
  const hit = await env.callback.waitFor(before + 1, '/cb');
  assert.equal(env.callback.hits('/cb').length, before + 1, 'exactly one request reached the callback');
  assert.equal(hit.query.toString(), final.searchParams.toString(), 'callback server saw the query the browser sent');
  const code = hit.query.get('code');
  if (code) recordSecret(code);
  const chain = await redirectChain(res);
  // The hop into the callback must be a 303 from the server (never 307: the POST carried the password).
  assert.ok(chain.length >= 2, `the callback must be reached by a redirect; chain: ${JSON.stringify(chain.map((c) => [c.method, c.url.split('?')[0], c.status]))}`);
  const hop = chain[chain.length - 2];
  assert.ok(hop.url.startsWith(env.server.url), `redirected by the server: ${hop.url}`);
  assert.equal(hop.status, 303, `${hop.method} ${new URL(hop.url).pathname} should answer 303 to the callback`);
  return { query: hit.query, final, chain, loginRes, consentText, consentItems, consentAudiences };
}

/** The headers every login/consent page must carry. `res` is a playwright Response. */
export async function assertLoginPageHeaders(res, what) {
  const h = await res.allHeaders();
  assert.match(h['content-type'] ?? '', /^text\/html\b/i, `${what}: content-type`);
  assert.equal((h['x-frame-options'] ?? '').toUpperCase(), 'DENY', `${what}: X-Frame-Options`);
  assert.match(h['content-security-policy'] ?? '', /frame-ancestors 'none'/, `${what}: CSP frame-ancestors`);
  assert.match(h['cache-control'] ?? '', /\bno-store\b/, `${what}: Cache-Control`);
}

/** at_hash / c_hash: left half of SHA-256 of the ASCII value, base64url (RS256, ES256). */
export function halfHash(value) {
  return crypto.createHash('sha256').update(value, 'ascii').digest().subarray(0, 16).toString('base64url');
}

const jwksCache = new Map();
export function jwks(env) {
  if (!jwksCache.has(env.as.jwks_uri)) jwksCache.set(env.as.jwks_uri, createRemoteJWKSet(new URL(env.as.jwks_uri)));
  return jwksCache.get(env.as.jwks_uri);
}

/**
 * Verifies an ID token with jose against the JWKS: signature and algorithm, iss, aud, azp, exp,
 * iat, nonce, at_hash (when an access token is given), sub. Returns the claims.
 */
export async function verifyIdToken(env, key, idToken, { nonce, accessToken, sub } = {}) {
  const { client } = rpClient(env, key);
  const alg = client.id_token_signed_response_alg;
  assert.equal(decodeProtectedHeader(idToken).alg, alg, 'id_token alg');
  const { payload } = await jwtVerify(idToken, jwks(env), {
    issuer: env.as.issuer,
    audience: client.client_id,
    algorithms: [alg],
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time'],
  });
  if (nonce !== undefined) assert.equal(payload.nonce, nonce, 'id_token nonce');
  if (Array.isArray(payload.aud) && payload.aud.length > 1) assert.equal(payload.azp, client.client_id, 'azp');
  if (payload.azp !== undefined) assert.equal(payload.azp, client.client_id, 'id_token azp');
  if (accessToken !== undefined) {
    assert.equal(typeof payload.at_hash, 'string', 'id_token must carry at_hash');
    assert.equal(payload.at_hash, halfHash(accessToken), 'id_token at_hash matches the access token');
  }
  if (sub !== undefined) assert.equal(payload.sub, sub, 'id_token sub');
  assert.equal(typeof payload.auth_time, 'number', 'auth_time');
  assert.ok(payload.auth_time <= payload.iat + 5, 'auth_time not after iat');
  return payload;
}

/** Verifies the RFC 9068 access token (ES256, typ at+jwt) with jose; returns the claims. */
export async function verifyAccessToken(env, key, accessToken, { sub } = {}) {
  const { client } = rpClient(env, key);
  const hdr = decodeProtectedHeader(accessToken);
  assert.equal(hdr.typ?.toLowerCase(), 'at+jwt', 'access token typ');
  const { payload } = await jwtVerify(accessToken, jwks(env), {
    issuer: env.as.issuer, algorithms: ['ES256'], typ: 'at+jwt',
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
  });
  assert.equal(payload.client_id, client.client_id, 'access token client_id');
  if (sub !== undefined) assert.equal(payload.sub, sub, 'access token sub');
  return payload;
}

/**
 * Exchanges the code with oauth4webapi (authorizationCodeGrantRequest + processAuthorizationCodeResponse,
 * nonce and iss checks), then verifies the ID token and the access token with jose.
 * Returns { tokens, idClaims, atClaims }.
 */
export async function exchangeCode(env, req, params, { maxAge } = {}) {
  const { client, auth } = rpClient(env, req.key);
  const res = await oauth.authorizationCodeGrantRequest(env.as, client, auth, params, env.callback.redirectUri,
    req.verifier, insecure);
  const cc = res.headers.get('cache-control') ?? '';
  const tokens = recordTokens(await oauth.processAuthorizationCodeResponse(env.as, client, res, {
    expectedNonce: req.nonce, requireIdToken: true, ...(maxAge !== undefined ? { maxAge } : {}),
  }));
  assert.match(cc, /\bno-store\b/, 'token response Cache-Control: no-store');
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(typeof tokens.expires_in, 'number');
  assert.ok(tokens.expires_in > 0);
  assert.equal(typeof tokens.refresh_token, 'string', 'a refresh token is issued');
  assert.match(tokens.refresh_token, /^vk_rt_/, 'refresh token prefix');
  assert.deepEqual(new Set((tokens.scope ?? SCOPE).split(' ')), new Set(SCOPE.split(' ')), 'granted scope');
  const idClaims = await verifyIdToken(env, req.key, tokens.id_token, { nonce: req.nonce, accessToken: tokens.access_token });
  const atClaims = await verifyAccessToken(env, req.key, tokens.access_token, { sub: idClaims.sub });
  return { tokens, idClaims, atClaims };
}

/** A refresh with oauth4webapi; resolves with the token response (recorded). */
export async function refresh(env, key, refreshToken) {
  const { client, auth } = rpClient(env, key);
  const res = await oauth.refreshTokenGrantRequest(env.as, client, auth, refreshToken, insecure);
  return recordTokens(await oauth.processRefreshTokenResponse(env.as, client, res));
}

/** Asserts that refreshing with `refreshToken` is refused with 400 invalid_grant. */
export async function assertRefreshRejected(env, key, refreshToken, what) {
  await assert.rejects(refresh(env, key, refreshToken), (e) => {
    assert.ok(e instanceof oauth.ResponseBodyError, `${what}: expected an OAuth error response, got ${e?.name}: ${e?.message}`);
    assert.equal(e.status, 400, `${what}: HTTP status`);
    assert.equal(e.error, 'invalid_grant', `${what}: error code (${e.error_description ?? ''})`);
    return true;
  }, `${what}: the refresh must be refused`);
}

/** GET /userinfo with oauth4webapi; returns the claims (sub checked against expectedSub). */
export async function userinfo(env, key, accessToken, expectedSub) {
  const { client } = rpClient(env, key);
  const res = await oauth.userInfoRequest(env.as, client, accessToken, insecure);
  return oauth.processUserInfoResponse(env.as, client, expectedSub, res);
}

/** Checks the userinfo claims for alice with scope "openid profile email". */
export function assertAliceUserinfo(info, sub) {
  assert.equal(info.sub, sub);
  assert.equal(info.email, USER_EMAIL);
  assert.equal(info.name, USER_NAME);
  if (info.preferred_username !== undefined) assert.equal(info.preferred_username, USERNAME);
}

/**
 * Signs alice in through the browser (login and consent as told: see browserAuthorize) and
 * exchanges the code: the common preamble of the tests that need a session or tokens.
 * Returns { req, query, tokens, idClaims }.
 */
export async function loginForTokens(env, key, page, { login = true, consent = 'approve', extra = {} } = {}) {
  const req = await newAuthRequest(env, key, extra);
  const { query } = await browserAuthorize(env, page, req, { login, consent });
  const params = validateCallback(env, req, query);
  const { tokens, idClaims } = await exchangeCode(env, req, params);
  return { req, query, tokens, idClaims };
}
