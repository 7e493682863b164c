// POST /introspect (RFC 7662): active tokens report their claims; every token the server did not
// issue, or no longer stands behind, is exactly {"active": false}.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, addClient, mkDataDir, rmDataDir, sleep } from '../lib/harness.mjs';
import {
  postForm, getToken, introspect, assertOAuthError, assertNoStore, assertActive, assertInactive,
  basicAuth, describe as desc,
} from './lib/http.mjs';
import { verifyAccessToken, scopeSet, audList } from './lib/jwt.mjs';
import { flipSignatureByte, tamperPayload, algNone, hmacWithPublicKey, foreignSigned } from './lib/forge.mjs';

describe('POST /introspect', { timeout: 30000 }, () => {
  let dir, server, a, b, quick, rs, api, tokenA, claimsA;

  before(async () => {
    dir = mkDataDir();
    a = addClient(dir, { name: 'a', scope: 'read write', resources: ['https://api.example.com/', 'https://other.example.com/'] });
    b = addClient(dir, { name: 'b', scope: 'read', authMethod: 'client_secret_post' });
    quick = addClient(dir, { name: 'quick', scope: 'read', ttl: 1 });
    rs = addClient(dir, { name: 'resource server', extra: ['--introspect'] });
    api = addClient(dir, { name: 'api', authMethod: 'client_secret_post', resources: ['https://api.example.com/'] });
    assert.equal(rs.introspect, true, 'client add --introspect is recorded');
    assert.equal(api.introspect, false);
    server = await startServer({ dataDir: dir });
    tokenA = (await getToken(server, a, { scope: 'read', resource: 'https://api.example.com/' })).access_token;
    claimsA = (await verifyAccessToken(server, tokenA, { audience: 'https://api.example.com/' })).payload;
  });
  after(async () => {
    await server?.stop();
    rmDataDir(dir);
  });

  it('reports an active token with its claims', async () => {
    const res = await introspect(server, a, tokenA);
    assert.equal(res.status, 200, desc(res));
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/i);
    assertNoStore(res);
    const j = res.json;
    assert.equal(j.active, true, res.text);
    assert.deepEqual(scopeSet(j.scope), ['read']);
    assert.equal(j.client_id, a.client_id);
    assert.equal(j.sub, a.client_id);
    assert.deepEqual(audList(j.aud), audList(claimsA.aud));
    assert.equal(j.iss, server.issuer);
    assert.equal(j.exp, claimsA.exp);
    assert.equal(j.iat, claimsA.iat);
    assert.equal(j.token_type, 'Bearer');
    assert.equal(j.jti, claimsA.jti);
  });

  it('answers exactly {"active":false} to a client the token is not for (RFC 7662 §4)', async () => {
    // b is unrelated: not the token's client, not in its aud, not a resource server
    const res = await introspect(server, b, tokenA, { method: 'client_secret_post' });
    assert.equal(res.status, 200, desc(res));
    assert.deepEqual(res.json, { active: false }, 'an unrelated client learns nothing');
    // and cannot tell it from a token that does not exist
    const none = await introspect(server, b, 'x', { method: 'client_secret_post' });
    assert.equal(none.text, res.text);
  });

  it('reports the token to a client registered as a resource server (--introspect)', async () => {
    const j = await assertActive(server, rs, tokenA, 'resource server');
    assert.equal(j.client_id, a.client_id);
    assert.deepEqual(audList(j.aud), ['https://api.example.com/']);
  });

  it('reports the token to a client whose registered resource is in its aud', async () => {
    const res = await introspect(server, api, tokenA, { method: 'client_secret_post' });
    assert.equal(res.json?.active, true, res.text);
    // the same client for a token with another audience: inactive
    const other = (await getToken(server, a, { scope: 'read', resource: 'https://other.example.com/' })).access_token;
    const r2 = await introspect(server, api, other, { method: 'client_secret_post' });
    assert.deepEqual(r2.json, { active: false });
    await assertActive(server, rs, other, 'resource server, token for another audience');
    await assertActive(server, a, other, 'the token\'s own client');
  });

  it('extends the search when the token_type_hint is wrong (RFC 7662 §2.1)', async () => {
    for (const hint of ['access_token', 'refresh_token', 'something_else']) {
      const res = await introspect(server, a, tokenA, { extra: [['token_type_hint', hint]] });
      assert.equal(res.status, 200, `hint ${hint}: ${desc(res)}`);
      assert.equal(res.json?.active, true, `hint ${hint}: ${res.text}`);
    }
  });

  it('says inactive for an expired token', async () => {
    const t = (await getToken(server, quick)).access_token;
    const { payload } = await verifyAccessToken(server, t, { clockTolerance: 5 });
    assert.equal(payload.exp - payload.iat, 1);
    await sleep(Math.max(0, (payload.exp + 1) * 1000 - Date.now()) + 200);
    await assertInactive(server, a, t, 'expired token');
  });

  it('says inactive for a token with one signature byte changed', async () => {
    for (const i of [0, 10, 40, 63]) await assertInactive(server, a, flipSignatureByte(tokenA, i), `signature byte ${i} flipped`);
  });

  it('says inactive for a token whose claims were changed', async () => {
    await assertInactive(server, a, tamperPayload(tokenA, (c) => { c.scope = 'read write admin'; }), 'scope widened');
    await assertInactive(server, a, tamperPayload(tokenA, (c) => { c.exp += 3600; }), 'exp extended');
  });

  it('says inactive for alg none and HMAC-with-public-key tokens', async () => {
    await assertInactive(server, a, algNone(tokenA), 'alg none');
    const jwks = await (await fetch(`${server.url}/jwks.json`)).json();
    const hdrKid = JSON.parse(Buffer.from(tokenA.split('.')[0], 'base64url')).kid;
    const jwk = jwks.keys.find((k) => k.kid === hdrKid) ?? jwks.keys[0];
    for (const t of hmacWithPublicKey(tokenA, jwk)) await assertInactive(server, a, t, 'HS256 keyed with the public key');
  });

  it('says inactive for tokens signed by a key not in the JWKS', async () => {
    await assertInactive(server, a, await foreignSigned(tokenA), 'foreign key, real kid');
    await assertInactive(server, a, await foreignSigned(tokenA, { kid: 'attacker-key' }), 'foreign key, unknown kid');
    await assertInactive(server, a, await foreignSigned(tokenA, { embedJwk: true }), 'foreign key embedded as jwk header');
  });

  it('says inactive for malformed tokens', async () => {
    const [h, p, s] = tokenA.split('.');
    const cases = {
      word: 'abc',
      dots: 'a.b.c',
      'two segments': `${h}.${p}`,
      'four segments': `${tokenA}.${s}`,
      'non-JSON payload': `${h}.${Buffer.from('not json').toString('base64url')}.${s}`,
      'non-base64 signature': `${h}.${p}.!!!`,
      'whitespace inside': `${h}. ${p}.${s}`,
      'long (4000 bytes)': 'x'.repeat(4000),
      'long JWT-like': `${h}.${p}.${'A'.repeat(3000)}`,
      'only dots': '....',
      'refresh-token lookalike': 'vk_rt_' + 'A'.repeat(43),
    };
    for (const [what, t] of Object.entries(cases)) await assertInactive(server, a, t, what);
    // Past the server's parameter-length limit (src/base/limits.h, VK_MAX_PARAM_LEN 4096) a clean
    // 400 invalid_request is an acceptable answer too; anything else is not.
    const huge = await introspect(server, a, 'x'.repeat(9000));
    if (huge.status === 200) assert.deepEqual(huge.json, { active: false }, '9000-byte token');
    else assertOAuthError(huge, 400, 'invalid_request', '9000-byte token');
  });

  it('says inactive for a token of another valetkey server', async () => {
    const otherDir = mkDataDir();
    const oc = addClient(otherDir, { name: 'other', scope: 'read' });
    const other = await startServer({ dataDir: otherDir });
    try {
      const t = (await getToken(other, oc)).access_token;
      await assertActive(other, oc, t, 'token at its own server');
      await assertInactive(server, a, t, 'token of another server');
    } finally {
      await other.stop();
      rmDataDir(otherDir);
    }
  });

  it('says inactive for a token of another issuer signed with the same key', async (t) => {
    // A second server on the same data directory (same keys, same clients) with another issuer.
    let other;
    try {
      other = await startServer({ dataDir: dir, args: ['--issuer', 'https://other-issuer.example.test'], issuer: 'https://other-issuer.example.test' });
    } catch (e) {
      t.skip(`a second server cannot share the data directory: ${e.message.slice(0, 300)}`);
      return;
    }
    try {
      const tok = (await getToken(other, a)).access_token;
      const { payload } = await verifyAccessToken(other, tok, { issuer: 'https://other-issuer.example.test' });
      assert.equal(payload.iss, 'https://other-issuer.example.test');
      await assertInactive(server, a, tok, 'same key, other issuer');
    } finally {
      await other.stop();
    }
  });

  it('requires client authentication (401 invalid_client)', async () => {
    const url = `${server.url}/introspect`;
    assertOAuthError(await postForm(url, { token: tokenA }), 401, 'invalid_client', 'no client authentication');
    const res = await postForm(url, { token: tokenA }, { headers: { authorization: basicAuth(a.client_id, b.client_secret) } });
    assertOAuthError(res, 401, 'invalid_client', 'wrong Basic secret');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic\b/i, 'WWW-Authenticate: Basic');
    assertOAuthError(await postForm(url, { token: tokenA, client_id: b.client_id, client_secret: a.client_secret }), 401, 'invalid_client', 'wrong post secret');
  });

  it('answers invalid_request when the token parameter is missing', async () => {
    assertOAuthError(await introspect(server, a, undefined), 400, 'invalid_request', 'no token');
    const empty = await introspect(server, a, '');
    if (empty.status === 200) assert.deepEqual(empty.json, { active: false }, 'empty token');
    else assertOAuthError(empty, 400, 'invalid_request', 'empty token');
  });

  it('still reports the original token active after all that', async () => {
    await assertActive(server, a, tokenA, 'original token');
  });
});
