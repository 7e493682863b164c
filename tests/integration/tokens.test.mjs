// POST /token, grant_type=client_credentials: client authentication, scope, resource (RFC 8707),
// lifetimes, error responses (RFC 6749 §5.2) and the RFC 9068 access token, checked with jose.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, addClient, mkDataDir, rmDataDir, recordSecret, runCli } from '../lib/harness.mjs';
import {
  FORM, postForm, tokenRequest, assertNotInLog, getToken, assertOAuthError, assertNoStore, basicAuth, describe as desc,
} from './lib/http.mjs';
import { verifyAccessToken, assertAccessTokenShape, scopeSet, audList } from './lib/jwt.mjs';

const API = 'https://api.example.com/';
const OTHER = 'https://other.example.com/v1';

describe('POST /token (client_credentials)', { timeout: 30000 }, () => {
  let dir, server, basic, post, restricted, shortTtl, noScope;

  before(async () => {
    dir = mkDataDir();
    basic = addClient(dir, { name: 'basic', scope: 'read write' });
    post = addClient(dir, { name: 'post', scope: 'read', authMethod: 'client_secret_post' });
    restricted = addClient(dir, { name: 'restricted', scope: 'read', resources: [API, OTHER] });
    shortTtl = addClient(dir, { name: 'short', scope: 'read', ttl: 120 });
    noScope = addClient(dir, { name: 'noscope' });
    server = await startServer({ dataDir: dir });
  });
  after(async () => {
    await server?.stop();
    rmDataDir(dir);
  });

  it('issues an RFC 9068 access token with client_secret_basic', async () => {
    const res = await tokenRequest(server, basic, { method: 'client_secret_basic' });
    assert.equal(res.status, 200, desc(res));
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/i);
    assertNoStore(res);
    const body = res.json;
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 600, 'default lifetime is 600 s');
    assert.deepEqual(scopeSet(body.scope), ['read', 'write'], 'omitted scope gives all the client\'s scopes');
    assert.equal(body.refresh_token, undefined, 'no refresh token for client_credentials');
    const v = await verifyAccessToken(server, body.access_token);
    assertAccessTokenShape(v, { server, client: basic, scope: 'read write', ttl: 600 });
    const keys = (await (await fetch(`${server.url}/jwks.json`)).json()).keys;
    assert.ok(keys.some((k) => k.kid === v.protectedHeader.kid), 'kid is published in /jwks.json');
  });

  it('issues a token with client_secret_post', async () => {
    const body = await getToken(server, post, { method: 'client_secret_post' });
    assert.equal(body.token_type, 'Bearer');
    assert.deepEqual(scopeSet(body.scope), ['read']);
    const v = await verifyAccessToken(server, body.access_token);
    assertAccessTokenShape(v, { server, client: post, scope: 'read', ttl: 600 });
  });

  it('form-urldecodes Basic credentials (RFC 6749 §2.3.1)', async () => {
    // Percent-encode every character: a compliant server decodes them back.
    const pct = (s) => [...Buffer.from(s)].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join('');
    const auth = basicAuth(basic.client_id, basic.client_secret, { encode: pct });
    const res = await postForm(`${server.url}/token`, { grant_type: 'client_credentials' }, { headers: { authorization: auth } });
    assert.equal(res.status, 200, `percent-encoded Basic credentials: ${desc(res)}`);
  });

  it('gives every token a distinct jti', async () => {
    const a = await getToken(server, basic);
    const b = await getToken(server, basic);
    assert.notEqual(a.access_token, b.access_token);
    const ja = (await verifyAccessToken(server, a.access_token)).payload.jti;
    const jb = (await verifyAccessToken(server, b.access_token)).payload.jti;
    assert.notEqual(ja, jb);
  });

  it('accepts a subset of the registered scopes and rejects others with invalid_scope', async () => {
    const body = await getToken(server, basic, { scope: 'read' });
    assert.deepEqual(scopeSet(body.scope), ['read']);
    const v = await verifyAccessToken(server, body.access_token);
    assert.deepEqual(scopeSet(v.payload.scope), ['read']);
    assertOAuthError(await tokenRequest(server, basic, { scope: 'read admin' }), 400, 'invalid_scope', 'scope beyond registration');
    assertOAuthError(await tokenRequest(server, post, { scope: 'write' }), 400, 'invalid_scope', 'scope of another client');
    assertOAuthError(await tokenRequest(server, noScope, { scope: 'read' }), 400, 'invalid_scope', 'client without scopes');
  });

  it('sets aud from resource (RFC 8707), one or several', async () => {
    const one = await getToken(server, restricted, { resource: API });
    const v1 = await verifyAccessToken(server, one.access_token, { audience: API });
    assert.deepEqual(audList(v1.payload.aud), [API]);
    const two = await getToken(server, restricted, { resource: [API, OTHER] });
    const v2 = await verifyAccessToken(server, two.access_token, { audience: OTHER });
    assert.deepEqual([...audList(v2.payload.aud)].sort(), [API, OTHER].sort());
    const none = await getToken(server, restricted);
    const v3 = await verifyAccessToken(server, none.access_token, { audience: API });
    assert.deepEqual([...audList(v3.payload.aud)].sort(), [API, OTHER].sort(), 'no resource: every registered one');
  });

  it('gives a client without registered resources the default audience only (invalid_target otherwise)', async () => {
    const plain = await getToken(server, basic);
    const v = await verifyAccessToken(server, plain.access_token, { audience: server.issuer });
    assert.deepEqual(audList(v.payload.aud), [server.issuer], 'the issuer is the default audience');
    for (const r of [API, OTHER, `${server.issuer}/`, 'https://evil.example.com/', 'urn:example:anything']) {
      assertOAuthError(await tokenRequest(server, basic, { resource: r }), 400, 'invalid_target', `unregistered client asks for ${r}`);
    }
    assertOAuthError(await tokenRequest(server, basic, { resource: [server.issuer, API] }), 400, 'invalid_target', 'the default and another');
    // naming the default audience itself is fine
    const named = await getToken(server, basic, { resource: server.issuer });
    const vn = await verifyAccessToken(server, named.access_token, { audience: server.issuer });
    assert.deepEqual(audList(vn.payload.aud), [server.issuer]);
  });

  it('rejects a resource that is not an absolute URI without fragment (invalid_target)', async () => {
    for (const r of ['/relative/path', 'api.example.com', `${API}#frag`, `${API}#`, 'not a uri']) {
      assertOAuthError(await tokenRequest(server, basic, { resource: r }), 400, 'invalid_target', `resource=${JSON.stringify(r)}`);
    }
    assertOAuthError(await tokenRequest(server, basic, { resource: [API, '/relative'] }), 400, 'invalid_target', 'one good, one relative');
  });

  it('treats parameters without a value as omitted (RFC 6749 §3.2)', async () => {
    const r = await getToken(server, basic, { resource: '' });
    const v = await verifyAccessToken(server, r.access_token);
    assert.ok(!audList(v.payload.aud).includes(''), 'empty resource is not an audience');
    const s = await getToken(server, basic, { scope: '' });
    assert.deepEqual(scopeSet(s.scope), ['read', 'write'], 'empty scope is the default scope');
  });

  it('limits a client registered with --resource to those resources', async () => {
    const ok = await getToken(server, restricted, { resource: OTHER });
    await verifyAccessToken(server, ok.access_token, { audience: OTHER });
    assertOAuthError(await tokenRequest(server, restricted, { resource: 'https://evil.example.com/' }), 400, 'invalid_target', 'unregistered resource');
    assertOAuthError(await tokenRequest(server, restricted, { resource: [API, 'https://evil.example.com/'] }), 400, 'invalid_target', 'one registered, one not');
    assertOAuthError(await tokenRequest(server, restricted, { resource: server.issuer }), 400, 'invalid_target', 'the default audience is not registered');
  });

  it('uses the client\'s --access-token-ttl', async () => {
    const body = await getToken(server, shortTtl);
    assert.equal(body.expires_in, 120);
    const v = await verifyAccessToken(server, body.access_token);
    assert.equal(v.payload.exp - v.payload.iat, 120);
  });

  it('answers 401 invalid_client with WWW-Authenticate for bad Basic credentials', async () => {
    const cases = [
      ['wrong secret', basicAuth(basic.client_id, basic.client_secret.slice(0, -2) + (basic.client_secret.endsWith('AA') ? 'BB' : 'AA'))],
      ['unknown client', basicAuth('no-such-client', basic.client_secret)],
      ['another client\'s secret', basicAuth(basic.client_id, post.client_secret)],
      ['empty secret', basicAuth(basic.client_id, '')],
    ];
    for (const [what, auth] of cases) {
      const res = await postForm(`${server.url}/token`, { grant_type: 'client_credentials' }, { headers: { authorization: auth } });
      assertOAuthError(res, 401, 'invalid_client', what);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic\b/i, `${what}: WWW-Authenticate: Basic`);
    }
  });

  it('answers 401 invalid_client for bad client_secret_post credentials and for no authentication', async () => {
    const url = `${server.url}/token`;
    assertOAuthError(await postForm(url, { grant_type: 'client_credentials', client_id: post.client_id, client_secret: post.client_secret + 'x' }), 401, 'invalid_client', 'wrong secret');
    assertOAuthError(await postForm(url, { grant_type: 'client_credentials', client_id: 'no-such-client', client_secret: post.client_secret }), 401, 'invalid_client', 'unknown client');
    assertOAuthError(await postForm(url, { grant_type: 'client_credentials', client_id: post.client_id }), 401, 'invalid_client', 'client_id without secret');
    assertOAuthError(await postForm(url, { grant_type: 'client_credentials' }), 401, 'invalid_client', 'no client authentication');
  });

  it('enforces the registered token_endpoint_auth_method (the same 401 as a wrong secret)', async () => {
    const url = `${server.url}/token`;
    // basic is registered for client_secret_basic: its (right) secret in the body is refused
    const asPost = await tokenRequest(server, basic, { method: 'client_secret_post' });
    assertOAuthError(asPost, 401, 'invalid_client', 'client_secret_post by a client_secret_basic client');
    assert.equal(asPost.json.error_description, (await postForm(url, { grant_type: 'client_credentials', client_id: basic.client_id, client_secret: 'vk_cs_wrong' })).json.error_description,
      'no hint that the secret was right');
    // post is registered for client_secret_post: its (right) secret in Basic is refused
    const asBasic = await tokenRequest(server, post, { method: 'client_secret_basic' });
    assertOAuthError(asBasic, 401, 'invalid_client', 'client_secret_basic by a client_secret_post client');
    assert.match(asBasic.headers.get('www-authenticate') ?? '', /^Basic\b/i, 'a failed Basic attempt gets WWW-Authenticate');
    // the same rule at /introspect and /revoke
    const t = (await getToken(server, basic)).access_token;
    for (const ep of ['introspect', 'revoke']) {
      const wrong = await postForm(`${server.url}/${ep}`, { token: t, client_id: basic.client_id, client_secret: basic.client_secret });
      assertOAuthError(wrong, 401, 'invalid_client', `/${ep} with the wrong method`);
    }
    // Not counted as failed attempts: the secret was right. 25 refusals (more than the 20 free
    // failures) later, the registered method works at once.
    for (let i = 0; i < 25; i++) {
      assertOAuthError(await tokenRequest(server, post, { method: 'client_secret_basic' }), 401, 'invalid_client', `wrong method #${i}`);
    }
    await getToken(server, post, { method: 'client_secret_post' });
    const j = (await postForm(`${server.url}/introspect`, { token: t }, { headers: { authorization: basicAuth(basic.client_id, basic.client_secret) } })).json;
    assert.equal(j.active, true, 'the token was not revoked by the refused /revoke');
  });

  it('rejects a malformed Authorization header', async () => {
    for (const h of ['Basic', 'Basic !!!not-base64!!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, 'Bearer abc']) {
      const res = await postForm(`${server.url}/token`, { grant_type: 'client_credentials' }, { headers: { authorization: h } });
      assert.ok([400, 401].includes(res.status), `Authorization: ${h}: ${desc(res)}`);
      assertOAuthError(res, res.status, res.status === 401 ? 'invalid_client' : 'invalid_request', `Authorization: ${h}`);
    }
  });

  it('rejects two client authentication methods in one request (invalid_request)', async () => {
    const res = await postForm(`${server.url}/token`,
      { grant_type: 'client_credentials', client_id: basic.client_id, client_secret: basic.client_secret },
      { headers: { authorization: basicAuth(basic.client_id, basic.client_secret) } });
    assertOAuthError(res, 400, 'invalid_request', 'Basic and client_secret_post together');
  });

  it('answers invalid_request for a missing grant_type', async () => {
    const auth = basicAuth(basic.client_id, basic.client_secret);
    assertOAuthError(await postForm(`${server.url}/token`, { scope: 'read' }, { headers: { authorization: auth } }), 400, 'invalid_request', 'no grant_type');
    assertOAuthError(await postForm(`${server.url}/token`, { grant_type: '' }, { headers: { authorization: auth } }), 400, 'invalid_request', 'empty grant_type');
  });

  it('answers unsupported_grant_type for unknown and withdrawn grants', async () => {
    const auth = basicAuth(basic.client_id, basic.client_secret);
    for (const g of ['foo', 'password', 'implicit', 'CLIENT_CREDENTIALS']) {
      const res = await postForm(`${server.url}/token`, { grant_type: g, username: 'u', password: 'p' }, { headers: { authorization: auth } });
      assertOAuthError(res, 400, 'unsupported_grant_type', `grant_type=${g}`);
    }
  });

  it('answers unauthorized_client for a grant the client is not registered for', async (t) => {
    const r = runCli(dir, ['client', 'add'], ['--name', 'web', '--grant', 'authorization_code', '--redirect-uri', 'https://app.example.com/cb', '--scope', 'read']);
    if (r.status !== 0) {
      t.skip(`cannot register an authorization_code-only client yet (exit ${r.status}: ${r.stderr.trim()})`);
      return;
    }
    const web = JSON.parse(r.stdout);
    if (web.client_secret) recordSecret(web.client_secret);
    else { t.skip('authorization_code client was registered as public'); return; }
    assert.ok(!web.grant_types.includes('client_credentials'), `grant_types ${JSON.stringify(web.grant_types)}`);
    assertOAuthError(await tokenRequest(server, web, { method: web.token_endpoint_auth_method }), 400, 'unauthorized_client', 'client_credentials by an authorization_code client');
  });

  it('answers invalid_request for a repeated parameter (except resource)', async () => {
    const auth = { authorization: basicAuth(basic.client_id, basic.client_secret) };
    const url = `${server.url}/token`;
    assertOAuthError(await postForm(url, [['grant_type', 'client_credentials'], ['grant_type', 'client_credentials']], { headers: auth }), 400, 'invalid_request', 'grant_type twice');
    assertOAuthError(await postForm(url, [['grant_type', 'client_credentials'], ['scope', 'read'], ['scope', 'read']], { headers: auth }), 400, 'invalid_request', 'scope twice');
    assertOAuthError(await postForm(url, [['grant_type', 'client_credentials'], ['client_id', post.client_id], ['client_id', post.client_id], ['client_secret', post.client_secret]]), 400, 'invalid_request', 'client_id twice');
    assertOAuthError(await postForm(url, [['grant_type', 'client_credentials'], ['client_id', post.client_id], ['client_secret', post.client_secret], ['client_secret', post.client_secret]]), 400, 'invalid_request', 'client_secret twice');
  });

  it('ignores unrecognised parameters', async () => {
    await getToken(server, basic, { extra: [['foo', 'bar'], ['x_custom', '1']] });
  });

  it('accepts a form Content-Type with parameters and in any case', async () => {
    const auth = { authorization: basicAuth(basic.client_id, basic.client_secret) };
    for (const ct of [`${FORM}; charset=UTF-8`, 'Application/X-WWW-Form-Urlencoded', `${FORM};charset=utf-8`]) {
      const res = await postForm(`${server.url}/token`, { grant_type: 'client_credentials' }, { headers: auth, contentType: ct });
      assert.equal(res.status, 200, `Content-Type: ${ct}: ${desc(res)}`);
    }
  });

  it('decodes + as a space in form values', async () => {
    const auth = { authorization: basicAuth(basic.client_id, basic.client_secret) };
    const res = await postForm(`${server.url}/token`, 'grant_type=client_credentials&scope=read+write', { headers: auth });
    assert.equal(res.status, 200, desc(res));
    assert.deepEqual(scopeSet(res.json.scope), ['read', 'write']);
  });

  it('rejects a query-string secret and a non-form body', async () => {
    // Credentials in the URI are never accepted (OAuth 2.1 §2.4.1).
    const q = new URLSearchParams({ grant_type: 'client_credentials', client_id: post.client_id, client_secret: post.client_secret });
    const res = await postForm(`${server.url}/token?${q}`, '', {});
    assert.ok(res.status === 400 || res.status === 401, desc(res));
    assert.ok(['invalid_request', 'invalid_client'].includes(res.json?.error), desc(res));
    await assertNotInLog(server, post.client_secret, 'client_secret sent in the query string');
    const js = await postForm(`${server.url}/token`, JSON.stringify({ grant_type: 'client_credentials' }),
      { headers: { authorization: basicAuth(basic.client_id, basic.client_secret) }, contentType: 'application/json' });
    assertOAuthError(js, 400, 'invalid_request', 'JSON body');
  });
});

describe('serve --access-token-ttl', { timeout: 30000 }, () => {
  let dir, server, plain, own;
  before(async () => {
    dir = mkDataDir();
    plain = addClient(dir, { name: 'plain', scope: 'read' });
    own = addClient(dir, { name: 'own-ttl', scope: 'read', ttl: 90 });
    server = await startServer({ dataDir: dir, args: ['--access-token-ttl', '300'] });
  });
  after(async () => {
    await server?.stop();
    rmDataDir(dir);
  });

  it('changes the default lifetime', async () => {
    const body = await getToken(server, plain);
    assert.equal(body.expires_in, 300);
    const v = await verifyAccessToken(server, body.access_token);
    assert.equal(v.payload.exp - v.payload.iat, 300);
  });

  it('does not override a client\'s own lifetime', async () => {
    const body = await getToken(server, own);
    assert.equal(body.expires_in, 90);
  });
});

describe('serve --issuer', { timeout: 30000 }, () => {
  let dir, server, client;
  const ISS = 'https://as.example.test';
  before(async () => {
    dir = mkDataDir();
    client = addClient(dir, { name: 'c', scope: 'read' });
    server = await startServer({ dataDir: dir, args: ['--issuer', ISS], issuer: ISS });
  });
  after(async () => {
    await server?.stop();
    rmDataDir(dir);
  });

  it('puts the configured issuer in iss', async () => {
    const body = await getToken(server, client);
    const v = await verifyAccessToken(server, body.access_token, { issuer: ISS });
    assert.equal(v.payload.iss, ISS);
  });
});
