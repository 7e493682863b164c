// Real Debian nginx in front of a small API, with auth_request to `valetkey verify`, configured by
// the very file docs/nginx.md shows (TLS included). nginx, the verifier and the authorization
// server are this test's own processes on loopback. Checks the list: a token with
// ai:chat reaches /v1/chat/ and gets 403 on /v1/images/; no token, an expired one, one from
// another issuer, one with the wrong audience, an id_token and forged ones get 401; the RFC 9728
// metadata is reachable through nginx; the identity headers reach the API and the credentials
// do not.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT, generateKeyPair, decodeJwt } from 'jose';
import { startServer, addClient, mkDataDir, rmDataDir, recordSecret, sleep } from '../lib/harness.mjs';
import { startVerify, startNginx, docsSiteConfig, echoApiConfig, freePort } from '../lib/gateway.mjs';
import { getToken } from './lib/http.mjs';
import { makePki } from './lib/pki.mjs';
import { tlsFetch } from './lib/tlsfetch.mjs';
import { tamperPayload, algNone, flipSignatureByte } from './lib/forge.mjs';
import { seedUserAndClient, userGrant } from './lib/usergrant.mjs';

const RESOURCE = 'https://api.example.test/';
const PASSWORD = 'nginx test password 1';

const POLICY = `# the AI gateway of docs/nginx.md
POST  /v1/chat/    scope=ai:chat
POST  /v1/images/  scope=ai:images
GET   /v1/models   scope=ai:chat
`;

describe('nginx auth_request with valetkey verify', { timeout: 120000 }, () => {
  let pki, server, other, verify, nginx, api, f, dir, otherDir, policyFile;
  let chat, both, noAud, short, web, foreignClient;

  before(async () => {
    pki = makePki();
    dir = mkDataDir();
    otherDir = mkDataDir();
    chat = addClient(dir, { name: 'chat', grants: ['client_credentials'], scope: 'ai:chat', resources: [RESOURCE] });
    both = addClient(dir, { name: 'both', grants: ['client_credentials'], scope: 'ai:chat ai:images', resources: [RESOURCE] });
    noAud = addClient(dir, { name: 'no audience', grants: ['client_credentials'], scope: 'ai:chat' });
    short = addClient(dir, { name: 'short', grants: ['client_credentials'], scope: 'ai:chat', resources: [RESOURCE], ttl: 1 });
    web = seedUserAndClient(dir, { password: PASSWORD });
    foreignClient = addClient(otherDir, { name: 'elsewhere', grants: ['client_credentials'], scope: 'ai:chat', resources: [RESOURCE] });
    server = await startServer({ dataDir: dir });
    other = await startServer({ dataDir: otherDir });

    const [listenPort, apiPort] = [await freePort(), await freePort()];
    policyFile = path.join(dir, 'api-policy');
    fs.writeFileSync(policyFile, POLICY);
    verify = await startVerify(['--issuer', server.issuer, '--audience', RESOURCE, '--policy', policyFile,
      '--public-url', `https://127.0.0.1:${listenPort}`, '--leeway', '0']);
    const site = docsSiteConfig({ listenPort, verifyPort: verify.port, apiPort, cert: pki.server.cert, key: pki.server.key });
    nginx = await startNginx(site + echoApiConfig(apiPort), { ports: [listenPort, apiPort] });
    api = `https://127.0.0.1:${listenPort}`;
    f = tlsFetch({ ca: pki.ca.certPem });
  });

  after(async () => {
    f?.agent.destroy();
    await nginx?.stop();
    await verify?.stop();
    await server?.stop();
    await other?.stop();
    rmDataDir(dir);
    rmDataDir(otherDir);
    pki?.rm();
  });

  const call = (p, { method = 'POST', token, headers = {} } = {}) => f(`${api}${p}`, {
    method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
  const www = (res) => res.headers.get('www-authenticate') ?? '';

  it('lets a token with ai:chat reach /v1/chat/, with who it is and without the token', async () => {
    const tok = (await getToken(server, chat, { scope: 'ai:chat' })).access_token;
    const res = await call('/v1/chat/completions', { token: tok, headers: { 'x-valetkey-sub': 'admin' } });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const seen = JSON.parse(body);
    assert.equal(seen.sub, chat.client_id, 'X-Valetkey-Sub: the client (a client-credentials token)');
    assert.equal(seen.client, chat.client_id);
    assert.equal(seen.scope, 'ai:chat');
    assert.equal(seen.uri, '/v1/chat/completions');
    assert.equal(seen.authorization, '', 'the API does not receive the token');
    // The same token, cached by the verifier now, still works; GET /v1/models needs ai:chat too.
    assert.equal((await call('/v1/models', { method: 'GET', token: tok })).status, 200);
  });

  it('answers 403 insufficient_scope on /v1/images/, naming the scope', async () => {
    const tok = (await getToken(server, chat, { scope: 'ai:chat' })).access_token;
    const res = await call('/v1/images/generations', { token: tok });
    assert.equal(res.status, 403);
    assert.match(www(res), /^Bearer /);
    assert.match(www(res), /error="insufficient_scope"/);
    assert.match(www(res), /scope="ai:images"/);
    // A token with both scopes passes; dot segments cannot move a request under another rule.
    const wide = (await getToken(server, both, { scope: 'ai:chat ai:images' })).access_token;
    assert.equal((await call('/v1/images/generations', { token: wide })).status, 200);
    const sneaky = await call('/v1/chat/../images/generations', { token: tok });
    assert.equal(sneaky.status, 403, 'judged as /v1/images/, where nginx routes it');
    const encoded = await call('/v1/chat/%2e%2e/images/generations', { token: tok });
    assert.equal(encoded.status, 403);
    // Nothing in the policy covers it: refused, token or not.
    assert.equal((await call('/v1/admin', { token: wide })).status, 403);
  });

  it('answers 401 without a token, with the challenges and resource_metadata', async () => {
    const res = await call('/v1/chat/completions');
    assert.equal(res.status, 401);
    const h = www(res);
    assert.match(h, /^Bearer /);
    assert.match(h, /DPoP algs="[^"]*ES256/);
    assert.match(h, /resource_metadata="https:\/\/api\.example\.test\/\.well-known\/oauth-protected-resource"/);
    assert.doesNotMatch(h, /error=/, 'RFC 6750 §3.1: no error code without credentials');
    // Another scheme carries no token for us; a malformed header is invalid_request (as a 401).
    assert.equal((await call('/v1/chat/x', { headers: { authorization: 'Basic YTpi' } })).status, 401);
    const bad = await call('/v1/chat/x', { headers: { authorization: 'Bearer a b' } });
    assert.equal(bad.status, 401);
    assert.match(www(bad), /error="invalid_request"/);
  });

  it('refuses an expired token, one from another issuer, one for another audience, an id_token', async () => {
    const expired = (await getToken(server, short, { scope: 'ai:chat' })).access_token;
    const foreign = (await getToken(other, foreignClient, { scope: 'ai:chat' })).access_token;
    const wrongAud = (await getToken(server, noAud, { scope: 'ai:chat' })).access_token;
    const grant = await userGrant(server.url, web, { password: PASSWORD, scope: 'openid' });
    assert.ok(grant.id_token);
    await sleep(2100); // the 1-second token expires (the verifier runs with --leeway 0)
    for (const [what, tok] of [['expired', expired], ['another issuer', foreign], ['wrong audience', wrongAud],
      ['id_token', grant.id_token], ['access token of a user for the issuer only', grant.access_token]]) {
      const res = await call('/v1/chat/completions', { token: tok });
      assert.equal(res.status, 401, what);
      assert.match(www(res), /error="invalid_token"/, what);
    }
  });

  it('refuses forged tokens', async () => {
    const tok = (await getToken(server, chat, { scope: 'ai:chat' })).access_token;
    const { privateKey } = await generateKeyPair('ES256');
    const claims = decodeJwt(tok);
    const kid = JSON.parse(Buffer.from(tok.split('.')[0], 'base64url')).kid;
    const ownKey = await new SignJWT({ ...claims, scope: 'ai:chat ai:images' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(privateKey);
    recordSecret(ownKey);
    const forged = [
      ['payload changed', tamperPayload(tok, (c) => { c.scope = 'ai:chat ai:images'; })],
      ['signature changed', flipSignatureByte(tok)],
      ['alg none', algNone(tok)],
      ['signed with another key under our kid', ownKey],
    ];
    for (const [what, t] of forged) {
      recordSecret(t);
      const res = await call('/v1/images/generations', { token: t });
      assert.equal(res.status, 401, what);
      assert.match(www(res), /error="invalid_token"/, what);
    }
  });

  it('serves the RFC 9728 metadata through nginx, without a token', async () => {
    const res = await f(`${api}/.well-known/oauth-protected-resource`);
    assert.equal(res.status, 200);
    const m = await res.json();
    assert.equal(m.resource, RESOURCE);
    assert.deepEqual(m.authorization_servers, [server.issuer]);
    assert.deepEqual(m.scopes_supported, ['ai:chat', 'ai:images']);
    assert.deepEqual(m.bearer_methods_supported, ['header']);
    assert.ok(m.dpop_signing_alg_values_supported.includes('ES256'));
  });

  it('takes the original request from the path after /check (Envoy), refuses doubled headers', async () => {
    const tok = (await getToken(server, chat, { scope: 'ai:chat' })).access_token;
    const direct = (p, init = {}) => fetch(`${verify.url}${p}`, init);
    const auth = { authorization: `Bearer ${tok}` };
    let res = await direct('/check/v1/chat/completions?stream=1', { method: 'POST', headers: auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-valetkey-client'), chat.client_id);
    res = await direct('/check/v1/images/generations', { method: 'POST', headers: auth });
    assert.equal(res.status, 403);
    // X-Forwarded-* (Traefik, Caddy) work like X-Original-*.
    res = await direct('/check', { headers: { ...auth, 'x-forwarded-method': 'POST', 'x-forwarded-uri': '/v1/chat/x' } });
    assert.equal(res.status, 200);
    // Two values for one of these headers: a client's copy could compete with the gateway's.
    const twice = new Headers(auth);
    twice.append('x-original-uri', '/v1/chat/x');
    twice.append('x-original-uri', '/v1/images/x');
    res = await direct('/check', { method: 'POST', headers: twice });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_request"/);
    // Not a check, not ours.
    assert.equal((await direct('/elsewhere', { headers: auth })).status, 404);
    assert.equal((await direct('/checkpoint', { headers: auth })).status, 404);
    const health = await direct('/.well-known/valetkey-verify/health');
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
  });

  it('logs each check without the token', async () => {
    const tok = (await getToken(server, chat, { scope: 'ai:chat' })).access_token;
    assert.equal((await call('/v1/chat/log-me', { token: tok })).status, 200);
    let log = '';
    for (let i = 0; i < 100 && !log.includes('path=/v1/chat/log-me'); i++) {
      await sleep(50);
      log = verify.log();
    }
    assert.match(log, /event=verify\.check method=POST path=\/v1\/chat\/log-me status=200 result=ok/);
    assert.ok(!log.includes(tok));
  });
});
