// Raw-HTTP negative tests for the authorization code flow (issue: users, login, consent, PKCE,
// refresh rotation). The browser suite (tests/browser) drives the same flow with Chromium; here
// the login form is posted with fetch so each rule can be attacked directly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, mkDataDir, runCli, cliJson, recordSecret } from '../lib/harness.mjs';
import { FORM, basicAuth } from './lib/http.mjs';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'https://app.example.com/cb';
let server, dataDir, conf, pub, other;

const b64url = (buf) => Buffer.from(buf).toString('base64url');
function pkce() {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

function addClient(args) {
  const c = cliJson(dataDir, ['client', 'add'], args);
  if (c.client_secret) recordSecret(c.client_secret);
  return c;
}

before(async () => {
  dataDir = mkDataDir();
  const u = runCli(dataDir, ['user', 'add'], ['--username', 'alice', '--claim', 'email=alice@example.com'],
    { input: PASSWORD + '\n' });
  assert.equal(u.status, 0, u.stderr);
  recordSecret(PASSWORD);
  conf = addClient(['--name', 'Web', '--redirect-uri', REDIRECT, '--redirect-uri', 'http://127.0.0.1/native',
    '--scope', 'openid profile email', '--first-party',
    '--post-logout-redirect-uri', 'https://app.example.com/bye']);
  pub = addClient(['--name', 'SPA', '--public', '--redirect-uri', REDIRECT, '--scope', 'openid profile',
    '--first-party']);
  other = addClient(['--name', 'Other', '--redirect-uri', 'https://other.example.com/cb',
    '--scope', 'openid', '--first-party']);
  server = await startServer({ dataDir });
});
after(async () => { await server?.stop({ removeData: true }); });

function authorizeUrl(client, params = {}) {
  const { challenge } = params._pkce ?? pkce();
  const q = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT,
    scope: 'openid', state: 'st-' + crypto.randomBytes(4).toString('hex'),
    code_challenge: challenge, code_challenge_method: 'S256',
  });
  for (const [k, v] of Object.entries(params)) {
    if (k === '_pkce') continue;
    if (v === null) q.delete(k); else q.set(k, v);
  }
  return `${server.url}/authorize?${q}`;
}

function cookiesOf(res, jar = {}) {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return jar;
}
const cookieHeader = (jar) => Object.entries(jar).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join('; ');

function hiddenFields(html) {
  const out = {};
  for (const m of html.matchAll(/<input[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(m[0])?.[1];
    const value = /value="([^"]*)"/.exec(m[0])?.[1];
    if (name && value !== undefined && /type="hidden"/.test(m[0]))
      out[name] = value.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  }
  return out;
}

// Signs alice in through the HTML form and returns the callback parameters.
async function loginForCode(client, params = {}) {
  const p = params._pkce ?? pkce();
  const res = await fetch(authorizeUrl(client, { ...params, _pkce: p }), { redirect: 'manual' });
  assert.equal(res.status, 200, 'the login page');
  const jar = cookiesOf(res);
  const fields = hiddenFields(await res.text());
  const post = await fetch(`${server.url}/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    body: new URLSearchParams({ ...fields, username: 'alice', password: PASSWORD }),
  });
  assert.equal(post.status, 303, `login -> redirect, got ${post.status}`);
  for (const c of post.headers.getSetCookie()) recordSecret(c.split(';')[0].split('=')[1]);
  const loc = new URL(post.headers.get('location'));
  const code = loc.searchParams.get('code');
  recordSecret(code);
  return { loc, code, verifier: p.verifier, state: fields.state };
}

async function token(client, params, { auth = true } = {}) {
  const headers = { 'content-type': FORM };
  if (auth && client.client_secret) headers.authorization = basicAuth(client.client_id, client.client_secret);
  const body = new URLSearchParams(params);
  if (!client.client_secret || !auth) body.set('client_id', client.client_id);
  const res = await fetch(`${server.url}/token`, { method: 'POST', headers, body });
  const json = await res.json().catch(() => ({}));
  for (const k of ['access_token', 'refresh_token', 'id_token']) if (json[k]) recordSecret(json[k]);
  return { res, json };
}

async function introspect(tok) {
  const res = await fetch(`${server.url}/introspect`, {
    method: 'POST',
    headers: { 'content-type': FORM, authorization: basicAuth(conf.client_id, conf.client_secret) },
    body: new URLSearchParams({ token: tok }),
  });
  return res.json();
}

async function exchange(client, code, verifier, extra = {}) {
  return token(client, { grant_type: 'authorization_code', code, code_verifier: verifier,
    redirect_uri: REDIRECT, ...extra });
}

test('redirect URI variants are refused with a page, never redirected', async () => {
  const variants = [
    REDIRECT + '/extra', REDIRECT + '?x=1', 'https://app.example.com:8443/cb', REDIRECT + '/',
    'https://APP.example.com/cb', 'https://app.example.com/CB', 'http://app.example.com/cb',
    'https://app.example.com.evil.com/cb', 'https://evil.example/cb', REDIRECT + '#x',
  ];
  for (const v of variants) {
    const res = await fetch(authorizeUrl(conf, { redirect_uri: v }), { redirect: 'manual' });
    assert.equal(res.status, 400, v);
    assert.equal(res.headers.get('location'), null, `no redirect for ${v}`);
    assert.match(res.headers.get('content-type'), /text\/html/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
  }
  const unknown = await fetch(authorizeUrl({ client_id: 'vk_c_nope' }), { redirect: 'manual' });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.headers.get('location'), null);
});

test('loopback redirect URI registered without a port accepts any port', async () => {
  const res = await fetch(authorizeUrl(conf, { redirect_uri: 'http://127.0.0.1:53121/native' }), { redirect: 'manual' });
  assert.equal(res.status, 200);
  const bad = await fetch(authorizeUrl(conf, { redirect_uri: 'http://localhost:53121/native' }), { redirect: 'manual' });
  assert.equal(bad.status, 400);
});

async function expectRedirectError(url, error) {
  const res = await fetch(url, { redirect: 'manual' });
  assert.equal(res.status, 303, `${error}: status`);
  const loc = new URL(res.headers.get('location'));
  assert.equal(loc.origin + loc.pathname, REDIRECT);
  assert.equal(loc.searchParams.get('error'), error);
  assert.equal(loc.searchParams.get('iss'), server.issuer, 'RFC 9207 iss');
  return loc;
}

test('PKCE is required, S256 only; errors go back with state and iss', async () => {
  const s = 'keep &me= exactly';
  let loc = await expectRedirectError(authorizeUrl(conf, { code_challenge: null, code_challenge_method: null, state: s }), 'invalid_request');
  assert.equal(loc.searchParams.get('state'), s);
  await expectRedirectError(authorizeUrl(conf, { code_challenge_method: 'plain' }), 'invalid_request');
  await expectRedirectError(authorizeUrl(conf, { code_challenge_method: null }), 'invalid_request');
  await expectRedirectError(authorizeUrl(pub, { code_challenge: null, code_challenge_method: null }), 'invalid_request');
  await expectRedirectError(authorizeUrl(conf, { response_type: 'token' }), 'unsupported_response_type');
  await expectRedirectError(authorizeUrl(conf, { response_type: 'id_token' }), 'unsupported_response_type');
  await expectRedirectError(authorizeUrl(conf, { scope: 'openid admin' }), 'invalid_scope');
  await expectRedirectError(authorizeUrl(conf, { prompt: 'none' }), 'login_required');
});

test('/authorize: every repeated parameter but resource is invalid_request, whatever repeats first', async () => {
  const api = 'https://api.example.com', api2 = 'https://api2.example.com';
  const res = addClient(['--name', 'Resources', '--redirect-uri', REDIRECT, '--scope', 'openid profile',
    '--resource', api, '--resource', api2, '--first-party']);
  const query = (client, extra) => new URL(authorizeUrl(client, extra)).search.slice(1);
  const twoResources = `resource=${encodeURIComponent(api)}&resource=${encodeURIComponent(api2)}`;
  // resource repeated on its own is allowed (RFC 8707 §2)
  const ok = await fetch(`${server.url}/authorize?${twoResources}&${query(res)}`, { redirect: 'manual' });
  assert.equal(ok.status, 200, 'two resources: the login page');
  const repeats = {
    response_type: 'token', code_challenge_method: 'plain', scope: 'openid', nonce: 'n2',
    code_challenge: pkce().challenge, prompt: 'login', max_age: '5', response_mode: 'query', state: 'other',
  };
  for (const [name, second] of Object.entries(repeats)) {
    const base = query(res, { nonce: 'n1', prompt: 'consent', max_age: '60', response_mode: 'query' });
    const extra = `${encodeURIComponent(name)}=${encodeURIComponent(second)}`;
    for (const [order, url] of [
      ['resource first', `${server.url}/authorize?${twoResources}&${base}&${extra}`],
      ['resource last', `${server.url}/authorize?${base}&${extra}&${twoResources}`],
      ['no resource', `${server.url}/authorize?${base}&${extra}`],
    ]) {
      const r = await fetch(url, { redirect: 'manual' });
      assert.equal(r.status, 303, `${name} twice (${order}): a redirect with an error, not the login page`);
      const loc = new URL(r.headers.get('location'));
      assert.equal(loc.searchParams.get('error'), 'invalid_request', `${name} twice (${order})`);
      assert.equal(loc.searchParams.get('code'), null);
    }
  }
});

test('a code is single use, and its replay revokes the tokens it gave', async () => {
  const { code, verifier, loc, state } = await loginForCode(conf);
  assert.equal(loc.searchParams.get('state'), state);
  assert.equal(loc.searchParams.get('iss'), server.issuer);
  const first = await exchange(conf, code, verifier);
  assert.equal(first.res.status, 200, JSON.stringify(first.json));
  assert.equal(first.res.headers.get('cache-control'), 'no-store');
  assert.equal((await introspect(first.json.access_token)).active, true);
  assert.equal((await introspect(first.json.refresh_token)).active, true);
  const again = await exchange(conf, code, verifier);
  assert.equal(again.res.status, 400);
  assert.equal(again.json.error, 'invalid_grant');
  assert.deepEqual(await introspect(first.json.access_token), { active: false });
  assert.deepEqual(await introspect(first.json.refresh_token), { active: false });
  const r = await token(conf, { grant_type: 'refresh_token', refresh_token: first.json.refresh_token });
  assert.equal(r.json.error, 'invalid_grant');
});

test('a spent code replayed by another client is invalid_grant and revokes nothing', async () => {
  const { code, verifier } = await loginForCode(conf);
  const first = await exchange(conf, code, verifier);
  assert.equal(first.res.status, 200, JSON.stringify(first.json));
  // a public client (client_id only) and a confidential one replay the spent code
  for (const thief of [pub, other]) {
    const replay = await exchange(thief, code, verifier);
    assert.equal(replay.res.status, 400, `replay by ${thief.client_name}`);
    assert.equal(replay.json.error, 'invalid_grant', `replay by ${thief.client_name}`);
  }
  assert.equal((await introspect(first.json.access_token)).active, true, 'the victim\'s access token lives');
  assert.equal((await introspect(first.json.refresh_token)).active, true, 'the victim\'s refresh token lives');
  const next = await token(conf, { grant_type: 'refresh_token', refresh_token: first.json.refresh_token });
  assert.equal(next.res.status, 200, JSON.stringify(next.json));
  // the client it was issued to replaying it still revokes everything (#18)
  const own = await exchange(conf, code, verifier);
  assert.equal(own.json.error, 'invalid_grant');
  assert.deepEqual(await introspect(next.json.refresh_token), { active: false });
});

test('a code is bound to its client, redirect URI and PKCE verifier', async () => {
  const a = await loginForCode(conf);
  const stolen = await token(other, { grant_type: 'authorization_code', code: a.code, code_verifier: a.verifier });
  assert.equal(stolen.json.error, 'invalid_grant', 'another client');
  const b = await loginForCode(conf);
  const wrongUri = await exchange(conf, b.code, b.verifier, { redirect_uri: 'https://app.example.com/other' });
  assert.equal(wrongUri.json.error, 'invalid_grant', 'redirect_uri');
  const c = await loginForCode(conf);
  const wrongVerifier = await exchange(conf, c.code, pkce().verifier);
  assert.equal(wrongVerifier.json.error, 'invalid_grant', 'code_verifier');
  const d = await loginForCode(conf);
  const noVerifier = await token(conf, { grant_type: 'authorization_code', code: d.code, redirect_uri: REDIRECT });
  assert.equal(noVerifier.json.error, 'invalid_request', 'missing code_verifier');
  const bogus = await exchange(conf, 'vk_ac_' + b64url(crypto.randomBytes(32)), d.verifier);
  assert.equal(bogus.json.error, 'invalid_grant');
});

test('public client: client_id and PKCE, no secret; cannot use client_credentials', async () => {
  const { code, verifier } = await loginForCode(pub);
  const ok = await exchange(pub, code, verifier);
  assert.equal(ok.res.status, 200, JSON.stringify(ok.json));
  assert.ok(ok.json.refresh_token.startsWith('vk_rt_'));
  const cc = await token(pub, { grant_type: 'client_credentials' });
  assert.equal(cc.json.error, 'unauthorized_client');
  // a confidential client may not skip its secret
  const e = await loginForCode(conf);
  const noSecret = await token(conf, { grant_type: 'authorization_code', code: e.code, code_verifier: e.verifier }, { auth: false });
  assert.equal(noSecret.res.status, 401);
  assert.equal(noSecret.json.error, 'invalid_client');
});

test('refresh tokens rotate; reuse revokes the family; scope narrows, never widens', async () => {
  const { code, verifier } = await loginForCode(conf, { scope: 'openid profile' });
  const t0 = (await exchange(conf, code, verifier)).json;
  const wide = await token(conf, { grant_type: 'refresh_token', refresh_token: t0.refresh_token, scope: 'openid profile email' });
  assert.equal(wide.json.error, 'invalid_scope');
  const t1 = (await token(conf, { grant_type: 'refresh_token', refresh_token: t0.refresh_token, scope: 'openid' })).json;
  assert.equal(t1.scope, 'openid');
  assert.notEqual(t1.refresh_token, t0.refresh_token);
  // the rotated token keeps the grant's scope: the next refresh may ask for profile again
  const t2 = (await token(conf, { grant_type: 'refresh_token', refresh_token: t1.refresh_token })).json;
  assert.equal(t2.scope, 'openid profile');
  assert.equal((await introspect(t2.access_token)).active, true);
  const reuse = await token(conf, { grant_type: 'refresh_token', refresh_token: t0.refresh_token });
  assert.equal(reuse.res.status, 400);
  assert.equal(reuse.json.error, 'invalid_grant');
  const after = await token(conf, { grant_type: 'refresh_token', refresh_token: t2.refresh_token });
  assert.equal(after.json.error, 'invalid_grant', 'the newest token of the family is revoked too');
  assert.deepEqual(await introspect(t2.access_token), { active: false });
  const stolen = await token(other, { grant_type: 'refresh_token', refresh_token: t2.refresh_token });
  assert.equal(stolen.json.error, 'invalid_grant');
});

test('introspection: a refresh token only by its client; an access token by its client, its audiences and resource servers', async () => {
  const rs = addClient(['--name', 'RS', '--introspect']);
  const api = addClient(['--name', 'API', '--resource', 'https://api.example.com']);
  const web = addClient(['--name', 'Web API', '--redirect-uri', REDIRECT, '--scope', 'openid',
    '--resource', 'https://api.example.com', '--first-party']);
  const { code, verifier } = await loginForCode(web);
  const t = (await exchange(web, code, verifier)).json;
  const as = async (client, tok) => {
    const res = await fetch(`${server.url}/introspect`, {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(client.client_id, client.client_secret) },
      body: new URLSearchParams({ token: tok }),
    });
    assert.equal(res.status, 200);
    return res.json();
  };
  // the refresh token: its own client only (issue 6, review item 5)
  const own = await as(web, t.refresh_token);
  assert.equal(own.active, true);
  assert.equal(own.client_id, web.client_id);
  for (const [who, c] of [['an unrelated client', other], ['a resource server', rs], ['a client in aud', api]]) {
    assert.deepEqual(await as(c, t.refresh_token), { active: false }, `${who} must not see the refresh token`);
  }
  // the access token: its client, a resource server, a client whose resource is in aud
  for (const [who, c] of [['its client', web], ['a resource server', rs], ['a client in aud', api]]) {
    const j = await as(c, t.access_token);
    assert.equal(j.active, true, `${who}: ${JSON.stringify(j)}`);
    assert.equal(j.sub, own.sub);
  }
  assert.deepEqual(await as(other, t.access_token), { active: false }, 'an unrelated client learns nothing');
});

test('revoking a refresh token revokes its grant', async () => {
  const { code, verifier } = await loginForCode(conf);
  const t = (await exchange(conf, code, verifier)).json;
  const res = await fetch(`${server.url}/revoke`, {
    method: 'POST',
    headers: { 'content-type': FORM, authorization: basicAuth(conf.client_id, conf.client_secret) },
    body: new URLSearchParams({ token: t.refresh_token, token_type_hint: 'refresh_token' }),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await introspect(t.refresh_token), { active: false });
  assert.deepEqual(await introspect(t.access_token), { active: false });
});

test('logout redirects only to a registered post_logout_redirect_uri', async () => {
  for (const target of ['https://evil.example/', 'https://app.example.com/bye/', 'https://app.example.com/byex',
    '//evil.example/', 'https://app.example.com/bye?next=https://evil.example']) {
    const q = new URLSearchParams({ client_id: conf.client_id, post_logout_redirect_uri: target, state: 'x' });
    const res = await fetch(`${server.url}/logout?${q}`, { redirect: 'manual' });
    assert.equal(res.status, 400, target);
    assert.equal(res.headers.get('location'), null, target);
  }
  const noClient = await fetch(`${server.url}/logout?post_logout_redirect_uri=${encodeURIComponent('https://app.example.com/bye')}`, { redirect: 'manual' });
  assert.equal(noClient.status, 400, 'without a client the target cannot be checked');
  const q = new URLSearchParams({ client_id: conf.client_id, post_logout_redirect_uri: 'https://app.example.com/bye', state: 's 1' });
  const ok = await fetch(`${server.url}/logout?${q}`, { redirect: 'manual' });
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get('location'), 'https://app.example.com/bye?state=s%201');
});

test('login form: CSRF token required, same answer for unknown user and wrong password', async () => {
  const res = await fetch(authorizeUrl(conf), { redirect: 'manual' });
  const jar = cookiesOf(res);
  const fields = hiddenFields(await res.text());
  const post = (f, c = jar) => fetch(`${server.url}/login`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, cookie: cookieHeader(c) },
    body: new URLSearchParams(f),
  });
  const noCsrf = { ...fields, username: 'alice', password: PASSWORD };
  delete noCsrf.csrf;
  assert.equal((await post(noCsrf)).status, 403);
  const alt = await post({ ...fields, csrf: (fields.csrf[0] === 'A' ? 'B' : 'A') + fields.csrf.slice(1), username: 'alice', password: PASSWORD });
  assert.equal(alt.status, 403, `altered csrf: ${alt.status} ${alt.headers.get('location')} ${fields.csrf}`);
  assert.equal((await post({ ...fields, username: 'alice', password: PASSWORD }, {})).status, 403, 'no binding cookie');
  const wrong = await post({ ...fields, username: 'alice', password: 'not the password' });
  const unknown = await post({ ...fields, username: 'mallory', password: 'not the password' });
  assert.equal(wrong.status, unknown.status);
  const tw = await wrong.text(), tu = await unknown.text();
  assert.match(tw, /Invalid username or password/);
  assert.match(tu, /Invalid username or password/);
  assert.equal(wrong.headers.get('location'), null);
  assert.equal(wrong.headers.getSetCookie().some((c) => c.startsWith('vk_session=')), false);
});

test('CORS: browser apps may call /token and /userinfo; /authorize is never cross-origin readable', async () => {
  const pre = await fetch(`${server.url}/token`, { method: 'OPTIONS', headers: {
    origin: 'https://spa.example', 'access-control-request-method': 'POST',
    'access-control-request-headers': 'content-type' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  const ui = await fetch(`${server.url}/userinfo`, { method: 'OPTIONS' });
  assert.equal(ui.status, 204);
  assert.match(ui.headers.get('access-control-allow-headers'), /Authorization/);
  const err = await fetch(`${server.url}/token`, { method: 'POST', headers: { 'content-type': FORM }, body: 'grant_type=x' });
  assert.equal(err.headers.get('access-control-allow-origin'), '*', 'errors are readable too');
  const az = await fetch(authorizeUrl(conf), { redirect: 'manual', headers: { origin: 'https://evil.example' } });
  assert.equal(az.headers.get('access-control-allow-origin'), null, 'checklist #48');
  const azPre = await fetch(`${server.url}/authorize`, { method: 'OPTIONS' });
  assert.equal(azPre.headers.get('access-control-allow-origin'), null);
});

test('a password change spends the codes the user had not redeemed yet', async () => {
  const u = runCli(dataDir, ['user', 'add'], ['--username', 'carol'], { input: 'carol-password-1\n' });
  assert.equal(u.status, 0, u.stderr);
  recordSecret('carol-password-1');
  const res = await fetch(authorizeUrl(conf), { redirect: 'manual' });
  const jar = cookiesOf(res);
  const fields = hiddenFields(await res.text());
  const p = pkce();
  fields.code_challenge = p.challenge;
  const post = await fetch(`${server.url}/login`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    body: new URLSearchParams({ ...fields, username: 'carol', password: 'carol-password-1' }),
  });
  assert.equal(post.status, 303);
  const code = new URL(post.headers.get('location')).searchParams.get('code');
  recordSecret(code);
  const pw = runCli(dataDir, ['user', 'passwd', 'carol'], [], { input: 'carol-password-2\n' });
  assert.equal(pw.status, 0, pw.stderr);
  recordSecret('carol-password-2');
  const t = await exchange(conf, code, p.verifier);
  assert.equal(t.res.status, 400);
  assert.equal(t.json.error, 'invalid_grant');
});

test('nobody can lock a public client out by sending it bogus secrets', async () => {
  for (let i = 0; i < 25; i++) {
    const r = await fetch(`${server.url}/token`, { method: 'POST', headers: { 'content-type': FORM },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', client_id: pub.client_id, client_secret: 'bogus' }) });
    assert.equal(r.status, 401);
  }
  const { code, verifier } = await loginForCode(pub);
  const ok = await exchange(pub, code, verifier);
  assert.equal(ok.res.status, 200, JSON.stringify(ok.json));
});

test('/userinfo takes only tokens meant for this server; an openid token always is', async () => {
  const api = addClient(['--name', 'Web with API', '--redirect-uri', REDIRECT, '--scope', 'openid email',
    '--resource', 'https://api.example.com', '--first-party']);
  const { code, verifier } = await loginForCode(api, { scope: 'openid email', resource: 'https://api.example.com' });
  const t = (await exchange(api, code, verifier)).json;
  const [, payload] = t.access_token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  assert.ok(Array.isArray(claims.aud) && claims.aud.includes('https://api.example.com') && claims.aud.includes(server.issuer),
    JSON.stringify(claims.aud));
  const ui = await fetch(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${t.access_token}` } });
  assert.equal(ui.status, 200);
  const cc = cliJson(dataDir, ['client', 'add'], ['--name', 'svc', '--scope', 'openid', '--resource', 'https://api.example.com']);
  recordSecret(cc.client_secret);
  const tok = await fetch(`${server.url}/token`, { method: 'POST',
    headers: { 'content-type': FORM, authorization: basicAuth(cc.client_id, cc.client_secret) },
    body: 'grant_type=client_credentials' });
  const at = (await tok.json()).access_token;
  recordSecret(at);
  const bad = await fetch(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${at}` } });
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get('www-authenticate'), /invalid_token/);
  const none = await fetch(`${server.url}/userinfo`);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="valetkey"');
});

test('resource at /authorize: only registered ones, or the default audience for a client without', async () => {
  const api = 'https://api.example.com', api2 = 'https://api2.example.com';
  const reg = addClient(['--name', 'Registered', '--redirect-uri', REDIRECT, '--scope', 'openid',
    '--resource', api, '--resource', api2, '--first-party']);
  // conf registered no resource: any resource is invalid_target, back at the redirect URI
  for (const r of [api, 'https://evil.example/', `${server.issuer}/x`]) {
    await expectRedirectError(authorizeUrl(conf, { resource: r }), 'invalid_target');
  }
  await expectRedirectError(authorizeUrl(reg, { resource: 'https://evil.example/' }), 'invalid_target');
  await expectRedirectError(authorizeUrl(reg, { resource: server.issuer }), 'invalid_target');
  // conf may name the default audience; reg may name its own
  assert.equal((await fetch(authorizeUrl(conf, { resource: server.issuer }), { redirect: 'manual' })).status, 200);
  const { code, verifier } = await loginForCode(reg, { resource: api2 });
  const t = (await exchange(reg, code, verifier)).json;
  const claims = JSON.parse(Buffer.from(t.access_token.split('.')[1], 'base64url').toString());
  assert.deepEqual([...claims.aud].sort(), [api2, server.issuer].sort(), 'the named resource and the issuer (openid)');
  // the grant is bound to what /authorize named: a refresh cannot widen it
  const wider = await token(reg, { grant_type: 'refresh_token', refresh_token: t.refresh_token, resource: api });
  assert.equal(wider.json.error, 'invalid_target');
  // without a resource at /authorize, the token requests may name any registered one
  const all = await loginForCode(reg);
  const t2 = (await exchange(reg, all.code, all.verifier, { resource: api })).json;
  const c2 = JSON.parse(Buffer.from(t2.access_token.split('.')[1], 'base64url').toString());
  assert.deepEqual([...c2.aud].sort(), [api, server.issuer].sort());
  // conf's tokens carry the default audience (the issuer) and nothing else
  const plain = await loginForCode(conf);
  const t3 = (await exchange(conf, plain.code, plain.verifier)).json;
  const c3 = JSON.parse(Buffer.from(t3.access_token.split('.')[1], 'base64url').toString());
  assert.equal(c3.aud, server.issuer);
  const again = await loginForCode(conf);
  const sneak = await exchange(conf, again.code, again.verifier, { resource: api });
  assert.equal(sneak.json.error, 'invalid_target', 'no audience added at the token endpoint either');
});

test('the consent page names the audiences the grant will reach', async () => {
  const api = 'https://api.example.com', api2 = 'https://api2.example.com';
  const third = addClient(['--name', 'Audiences', '--redirect-uri', REDIRECT, '--scope', 'openid profile',
    '--resource', api, '--resource', api2]);
  const plain = addClient(['--name', 'No audiences', '--redirect-uri', REDIRECT, '--scope', 'profile']);
  // sign in once (the login page leads to the consent page for a third-party client)
  const first = await fetch(authorizeUrl(third), { redirect: 'manual' });
  const jar = cookiesOf(first);
  const login = await fetch(`${server.url}/login`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    body: new URLSearchParams({ ...hiddenFields(await first.text()), username: 'alice', password: PASSWORD }),
  });
  assert.equal(login.status, 200, 'the consent page');
  for (const c of login.headers.getSetCookie()) recordSecret(c.split(';')[0].split('=')[1]);
  cookiesOf(login, jar);
  const audiencesOf = (html) => {
    const m = /<ul class="audiences">([\s\S]*?)<\/ul>/.exec(html);
    assert.ok(m, 'the page lists audiences');
    return [...m[1].matchAll(/<li>([^<]*)<\/li>/g)].map((x) => x[1]);
  };
  assert.deepEqual(audiencesOf(await login.text()), [api, api2, server.issuer], 'no resource named: every registered one, and the issuer for openid');
  const page = async (client, extra) => {
    const r = await fetch(authorizeUrl(client, { prompt: 'consent', ...extra }), { redirect: 'manual', headers: { cookie: cookieHeader(jar) } });
    assert.equal(r.status, 200);
    return r.text();
  };
  assert.deepEqual(audiencesOf(await page(third, { resource: api2 })), [api2, server.issuer], 'the resource named');
  assert.deepEqual(audiencesOf(await page(third, { resource: api2, scope: 'profile' })), [api2], 'without openid, no issuer');
  assert.deepEqual(audiencesOf(await page(plain, { scope: 'profile' })), [server.issuer], 'no registration: the default audience');
});

test('a nonce that is not UTF-8 is refused (it would go into the id_token)', async () => {
  const url = authorizeUrl(conf) + '&nonce=%C3%28';
  const res = await fetch(url, { redirect: 'manual' });
  assert.equal(res.status, 303);
  assert.equal(new URL(res.headers.get('location')).searchParams.get('error'), 'invalid_request');
});

test('the consent form cannot skip a re-authentication the request asks for', async () => {
  const third = addClient(['--name', 'Third party', '--redirect-uri', REDIRECT, '--scope', 'openid profile']);
  // sign in: the consent page comes next (not first-party)
  const first = await fetch(authorizeUrl(third), { redirect: 'manual' });
  const jar = cookiesOf(first);
  const loginFields = hiddenFields(await first.text());
  const login = await fetch(`${server.url}/login`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    body: new URLSearchParams({ ...loginFields, username: 'alice', password: PASSWORD }),
  });
  assert.equal(login.status, 200, 'the consent page');
  for (const c of login.headers.getSetCookie()) recordSecret(c.split(';')[0].split('=')[1]);
  cookiesOf(login, jar);
  assert.ok(hiddenFields(await login.text()).consent_at, 'the form carries its issue time');
  await new Promise((r) => setTimeout(r, 1100));
  // later, with the same session, a consent form for another request...
  const again = await fetch(authorizeUrl(third, { prompt: 'consent' }), { redirect: 'manual', headers: { cookie: cookieHeader(jar) } });
  assert.equal(again.status, 200);
  const consentFields = hiddenFields(await again.text());
  // ...edited to demand a fresh login: must show the login page, not give a code
  const edited = await fetch(`${server.url}/consent`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    body: new URLSearchParams({ ...consentFields, prompt: 'login', max_age: '0', decision: 'approve' }),
  });
  assert.notEqual(edited.status, 303, 'no code without the re-authentication');
  assert.match(await edited.text(), /type="password"/);
  // a consent token from this session is useless without its session cookie
  const noSession = await fetch(`${server.url}/consent`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, cookie: `vk_csrf=${jar.vk_csrf}` },
    body: new URLSearchParams({ ...consentFields, decision: 'approve' }),
  });
  assert.equal(noSession.status, 403);
  // untouched, it works
  const ok = await fetch(`${server.url}/consent`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    body: new URLSearchParams({ ...consentFields, decision: 'approve' }),
  });
  assert.equal(ok.status, 303);
  recordSecret(new URL(ok.headers.get('location')).searchParams.get('code'));
});

test('logout without an id_token_hint asks first, through a form with a CSRF token', async () => {
  // sign in (first-party client: straight to the code)
  const res = await fetch(authorizeUrl(conf), { redirect: 'manual' });
  const jar = cookiesOf(res);
  const fields = hiddenFields(await res.text());
  const login = await fetch(`${server.url}/login`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    body: new URLSearchParams({ ...fields, username: 'alice', password: PASSWORD }),
  });
  assert.equal(login.status, 303);
  cookiesOf(login, jar);
  recordSecret(jar.vk_session);
  recordSecret(new URL(login.headers.get('location')).searchParams.get('code'));
  const q = new URLSearchParams({ client_id: conf.client_id, post_logout_redirect_uri: 'https://app.example.com/bye', state: 's' });
  const ask = await fetch(`${server.url}/logout?${q}`, { redirect: 'manual', headers: { cookie: cookieHeader(jar) } });
  assert.equal(ask.status, 200, 'a confirmation page, not a sign-out');
  assert.match(ask.headers.get('content-security-policy'), /form-action 'self' https:\/\/app\.example\.com/);
  const form = hiddenFields(await ask.text());
  // the session still works
  const still = await fetch(authorizeUrl(conf, { prompt: 'none' }), { redirect: 'manual', headers: { cookie: cookieHeader(jar) } });
  assert.ok(new URL(still.headers.get('location')).searchParams.get('code'));
  recordSecret(new URL(still.headers.get('location')).searchParams.get('code'));
  // a forged confirmation (no CSRF token) asks again
  const forged = await fetch(`${server.url}/logout`, { method: 'POST', redirect: 'manual',
    headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    body: new URLSearchParams({ ...form, csrf: 'x', confirm: 'yes' }) });
  assert.equal(forged.status, 200);
  const done = await fetch(`${server.url}/logout`, { method: 'POST', redirect: 'manual',
    headers: { 'content-type': FORM, cookie: cookieHeader(jar) },
    body: new URLSearchParams({ ...form, confirm: 'yes' }) });
  assert.equal(done.status, 303);
  assert.equal(done.headers.get('location'), 'https://app.example.com/bye?state=s');
  const gone = await fetch(authorizeUrl(conf, { prompt: 'none' }), { redirect: 'manual', headers: { cookie: cookieHeader(jar) } });
  assert.equal(new URL(gone.headers.get('location')).searchParams.get('error'), 'login_required');
});

test('a query with thousands of parameters gets a clean 400, not a dropped connection', async () => {
  const res = await fetch(`${server.url}/authorize?${'a=b&'.repeat(1900)}`, { redirect: 'manual' });
  assert.equal(res.status, 400);
  const long = await fetch(`${server.url}/authorize?${'a=b&'.repeat(2500)}`, { redirect: 'manual' });
  assert.equal(long.status, 414);
});
