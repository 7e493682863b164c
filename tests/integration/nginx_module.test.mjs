// ngx_http_valetkey_module in Debian's stock nginx (load_module), in front of a small upstream,
// against a real `valetkey serve`: per-route and per-method scopes, the 401 cases with their
// WWW-Authenticate, identity variables reaching the upstream with the token stripped, 503 until
// the first key set arrives, DPoP (valid, replayed -- also to another worker --, wrong htu), the
// configuration checks of `nginx -t`, and reload and binary upgrade under load with no failed
// request and no thread, descriptor or worker left behind.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import * as jose from 'jose';
import { startServer, addClient, mkDataDir, rmDataDir, recordSecret, sleep } from '../lib/harness.mjs';
import { getToken } from './lib/http.mjs';
import { flipSignatureByte, algNone } from './lib/forge.mjs';
import { seedUserAndClient, userGrant } from './lib/usergrant.mjs';
import {
  MODULE, startNginx, startEchoUpstream, request, freePort, testConfig, usage, childrenOf,
  selfSigned, startFakeFeed,
} from './lib/nginx_module.mjs';

const AUD = 'https://api.example/';
const LOCAL_ISS = 'https://local-issuer.example';
const METADATA = 'https://api.example/.well-known/oauth-protected-resource';

const bearer = (t) => ({ authorization: `Bearer ${t}` });

/** A local ES256 issuer (its key set goes into valetkey_jwks_file) and DPoP client keys. */
async function localIssuer() {
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'local-1', alg: 'ES256', use: 'sig' };
  return {
    jwks: JSON.stringify({ keys: [jwk] }),
    async token(claims = {}, { exp = '10m', typ = 'at+jwt' } = {}) {
      const t = await new jose.SignJWT({ client_id: 'local-client', scope: 'ai:chat', jti: crypto.randomUUID(), ...claims })
        .setProtectedHeader({ alg: 'ES256', typ, kid: 'local-1' })
        .setIssuer(LOCAL_ISS).setAudience(AUD).setSubject('local-user').setIssuedAt()
        .setExpirationTime(exp).sign(privateKey);
      return recordSecret(t);
    },
  };
}

async function dpopKey() {
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const pub = await jose.exportJWK(publicKey);
  return {
    jkt: await jose.calculateJwkThumbprint(pub, 'sha256'),
    async proof(htm, htu, token, extra = {}) {
      const ath = crypto.createHash('sha256').update(token).digest('base64url');
      const p = await new jose.SignJWT({ htm, htu, jti: crypto.randomUUID(), ath, ...extra })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: pub })
        .setIssuedAt().sign(privateKey);
      return recordSecret(p);
    },
  };
}

describe('ngx_http_valetkey_module in Debian nginx', { timeout: 180000 }, () => {
  let dir, otherDir, server, other, up, ngx, local, deadPort, feed, tlsPort, srvCert, cliCert, cliCert2;
  let revokedToken; // revoked at the feed: must stay refused by the workers a reload starts
  let chat, models, admin, quick, elsewhere, foreign, web;

  before(async () => {
    assert.ok(fs.existsSync(MODULE), `${MODULE} missing: run make nginx-module`);
    dir = mkDataDir();
    otherDir = mkDataDir();
    chat = addClient(dir, { name: 'chat', scope: 'ai:chat', resources: [AUD] });
    models = addClient(dir, { name: 'models', scope: 'ai:models', resources: [AUD] });
    admin = addClient(dir, { name: 'admin', scope: 'ai:models ai:admin', resources: [AUD] });
    quick = addClient(dir, { name: 'quick', scope: 'ai:chat', resources: [AUD], ttl: 2 });
    elsewhere = addClient(dir, { name: 'elsewhere', scope: 'ai:chat', resources: ['https://other.example/'] });
    foreign = addClient(otherDir, { name: 'foreign', scope: 'ai:chat', resources: [AUD] });
    web = seedUserAndClient(dir, { password: 'correct horse battery staple 42' });
    server = await startServer({ dataDir: dir });
    other = await startServer({ dataDir: otherDir });
    up = await startEchoUpstream();
    local = await localIssuer();
    deadPort = await freePort(); // nothing listens there: keys never arrive
    feed = await startFakeFeed({ clientId: 'rs-feed', secret: recordSecret('feed-secret-0123456789') });
    tlsPort = await freePort();
    srvCert = selfSigned('localhost');
    cliCert = selfSigned('client-one');
    cliCert2 = selfSigned('client-two');
    ngx = await startNginx({
      workers: 2,
      files: { 'local-jwks.json': local.jwks, 'srv.pem': srvCert.cert, 'srv.key': srvCert.key },
      http: `
    valetkey_cache zone=valetkey_dpop:1m;
    upstream app { server 127.0.0.1:${up.port}; }
    server {
        listen 127.0.0.1:@PORT@;
        valetkey_issuer ${server.issuer};
        valetkey_audience ${AUD};
        valetkey_leeway 0s;
        valetkey_realm api;
        valetkey_resource_metadata ${METADATA};
        valetkey_strip_token on;
        proxy_set_header X-Valetkey-Sub $valetkey_sub;
        proxy_set_header X-Valetkey-Client $valetkey_client_id;
        proxy_set_header X-Valetkey-Scope $valetkey_scope;
        proxy_set_header X-Valetkey-Aud $valetkey_claim_aud;
        proxy_set_header X-Valetkey-Iss $valetkey_claim_iss;
        proxy_set_header X-Valetkey-Jti $valetkey_jti;

        location /open/ { proxy_pass http://app; }
        location /v1/chat/ { valetkey on; valetkey_scope ai:chat; proxy_pass http://app; }
        location /v1/images/ { valetkey on; valetkey_scope ai:images; proxy_pass http://app; }
        location /v1/models {
            valetkey on;
            valetkey_scope ai:models;
            valetkey_scope methods=POST,DELETE ai:models ai:admin;
            proxy_pass http://app;
        }
        location /down/ {
            valetkey on;
            valetkey_issuer http://127.0.0.1:${deadPort};
            valetkey_start_wait 0;
            proxy_pass http://app;
        }
        location /down-502/ {
            valetkey on;
            valetkey_issuer http://127.0.0.1:${deadPort};
            valetkey_start_wait 0;
            valetkey_unavailable_status 502;
            proxy_pass http://app;
        }
        location /keep/ { valetkey on; valetkey_strip_token off; proxy_pass http://app; }
        location /local/ {
            valetkey on;
            valetkey_issuer ${LOCAL_ISS};
            valetkey_jwks_file @PREFIX@/local-jwks.json;
            valetkey_dpop on;
            add_header X-Worker $pid always;
            proxy_pass http://app;
        }
        location /local-dpop-only/ {
            valetkey on;
            valetkey_issuer ${LOCAL_ISS};
            valetkey_jwks_file @PREFIX@/local-jwks.json;
            valetkey_dpop required;
            proxy_pass http://app;
        }
        location /local-rev/ {
            valetkey on;
            valetkey_issuer ${LOCAL_ISS};
            valetkey_jwks_file @PREFIX@/local-jwks.json;
            valetkey_revocations ${feed.url} rs-feed feed-secret-0123456789;
            proxy_pass http://app;
        }
        location /local-stale/ {
            valetkey on;
            valetkey_issuer ${LOCAL_ISS};
            valetkey_jwks_file @PREFIX@/local-jwks.json;
            valetkey_revocations http://127.0.0.1:${deadPort}/revocations rs x max_stale=1s;
            valetkey_start_wait 0;
            proxy_pass http://app;
        }
        location /local-stale-open/ {
            valetkey on;
            valetkey_issuer ${LOCAL_ISS};
            valetkey_jwks_file @PREFIX@/local-jwks.json;
            valetkey_revocations http://127.0.0.1:${deadPort}/revocations rs x max_stale=1s fail_open;
            valetkey_start_wait 0;
            proxy_pass http://app;
        }
        location /local-tls/ {
            valetkey on;
            valetkey_issuer ${LOCAL_ISS};
            valetkey_jwks_file @PREFIX@/local-jwks.json;
            valetkey_dpop on;
            valetkey_origin https://api.example;
            proxy_pass http://app;
        }
    }
    server {
        listen 127.0.0.1:${tlsPort} ssl;
        ssl_certificate @PREFIX@/srv.pem;
        ssl_certificate_key @PREFIX@/srv.key;
        ssl_verify_client optional_no_ca;
        valetkey_issuer ${LOCAL_ISS};
        valetkey_audience ${AUD};
        valetkey_jwks_file @PREFIX@/local-jwks.json;
        location /mtls/ { valetkey on; proxy_pass http://app; }
    }`,
    });
  });

  after(async () => {
    await ngx?.stop();
    await up?.close();
    await feed?.close();
    await server?.stop();
    await other?.stop();
    rmDataDir(dir);
    rmDataDir(otherDir);
  });

  /** Waits until the workers have the issuer's keys (fetched in the background at start). */
  async function ready(token) {
    for (let i = 0; i < 200; i++) {
      const r = await request(ngx.port, { path: '/v1/chat/', headers: bearer(token) });
      if (r.status !== 503) return;
      await sleep(50);
    }
    assert.fail('the workers never got the key set');
  }

  it('a token with ai:chat reaches /v1/chat/ and gets 403 insufficient_scope on /v1/images/', async () => {
    const t = recordSecret((await getToken(server, chat, { resource: AUD })).access_token);
    await ready(t);
    const ok = await request(ngx.port, { path: '/v1/chat/completions', headers: bearer(t) });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json.url, '/v1/chat/completions');
    const no = await request(ngx.port, { path: '/v1/images/generations', headers: bearer(t) });
    assert.equal(no.status, 403);
    assert.equal(no.headers['www-authenticate'],
      'Bearer realm="api", error="insufficient_scope", error_description="the access token lacks ' +
      `the required scope", scope="ai:images", resource_metadata="${METADATA}"`);
    assert.equal(up.seen.filter((s) => s.url.startsWith('/v1/images/')).length, 0, 'never proxied');
  });

  it('scopes per method: GET /v1/models needs ai:models, POST needs ai:admin too', async () => {
    const m = recordSecret((await getToken(server, models, { resource: AUD })).access_token);
    const a = recordSecret((await getToken(server, admin, { resource: AUD })).access_token);
    await ready(m);
    assert.equal((await request(ngx.port, { path: '/v1/models', headers: bearer(m) })).status, 200);
    assert.equal((await request(ngx.port, { method: 'HEAD', path: '/v1/models', headers: bearer(m) })).status, 200);
    const post = await request(ngx.port, { method: 'POST', path: '/v1/models', headers: bearer(m), body: '{}' });
    assert.equal(post.status, 403);
    assert.match(post.headers['www-authenticate'], /scope="ai:models ai:admin"/);
    assert.equal((await request(ngx.port, { method: 'POST', path: '/v1/models', headers: bearer(a), body: '{}' })).status, 200);
    assert.equal((await request(ngx.port, { method: 'DELETE', path: '/v1/models/x', headers: bearer(a) })).status, 200);
    const chatOnly = recordSecret((await getToken(server, chat, { resource: AUD })).access_token);
    assert.equal((await request(ngx.port, { path: '/v1/models', headers: bearer(chatOnly) })).status, 403);
  });

  it('401 with the right WWW-Authenticate: no token, expired, wrong issuer, wrong audience, id_token, forged, alg none', async () => {
    const none = await request(ngx.port, { path: '/v1/chat/' });
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], `Bearer realm="api", resource_metadata="${METADATA}"`,
      'RFC 6750 §3.1: no error code without credentials; RFC 9728 §5.1 metadata; no DPoP where it is off');
    const basic = await request(ngx.port, { path: '/v1/chat/', headers: { authorization: 'Basic dXNlcjpwdw==' } });
    assert.equal(basic.status, 401);

    const good = recordSecret((await getToken(server, chat, { resource: AUD })).access_token);
    await ready(good);
    const expiring = recordSecret((await getToken(server, quick, { resource: AUD })).access_token);
    assert.equal((await request(ngx.port, { path: '/v1/chat/', headers: bearer(expiring) })).status, 200,
      'valid for a second or two (and now in the seen-token cache)');
    const foreignTok = recordSecret((await getToken(other, foreign, { resource: AUD })).access_token);
    const wrongAud = recordSecret((await getToken(server, elsewhere, { resource: 'https://other.example/' })).access_token);
    const grant = await userGrant(server.url, web, { password: 'correct horse battery staple 42' });
    assert.equal(typeof grant.id_token, 'string');
    const cases = {
      'another issuer': foreignTok,
      'another audience': wrongAud,
      'an id_token': grant.id_token,
      'a forged signature': recordSecret(flipSignatureByte(good)),
      'alg none': recordSecret(algNone(good)),
      'not a JWT': 'abc.def.ghi',
    };
    for (const [what, t] of Object.entries(cases)) {
      const r = await request(ngx.port, { path: '/v1/chat/', headers: bearer(t) });
      assert.equal(r.status, 401, what);
      assert.match(r.headers['www-authenticate'],
        new RegExp(`^Bearer realm="api", error="invalid_token", error_description="[^"]+", resource_metadata="${METADATA}"$`), what);
    }
    const { exp: quickExp } = jose.decodeJwt(expiring);
    await sleep(Math.max(0, quickExp * 1000 - Date.now()) + 1100); // 2 s tokens; leeway 0
    const exp = await request(ngx.port, { path: '/v1/chat/', headers: bearer(expiring) });
    assert.equal(exp.status, 401, 'expired, though cached');
    assert.match(exp.headers['www-authenticate'], /error="invalid_token", error_description="the access token expired"/);
    const bad = await request(ngx.port, { path: '/v1/chat/', headers: { authorization: 'Bearer a b' } });
    assert.equal(bad.status, 400, 'RFC 6750 §3.1 invalid_request');
    assert.match(bad.headers['www-authenticate'], /error="invalid_request"/);
  });

  it('identity variables reach the upstream; the token does not (valetkey_strip_token)', async () => {
    const tok = await getToken(server, chat, { resource: AUD });
    const t = recordSecret(tok.access_token);
    await ready(t);
    const r = await request(ngx.port, { path: '/v1/chat/x', headers: bearer(t) });
    assert.equal(r.status, 200);
    const h = r.json.headers;
    const claims = jose.decodeJwt(t);
    assert.equal(h['x-valetkey-sub'], claims.sub);
    assert.equal(h['x-valetkey-client'], chat.client_id);
    assert.equal(h['x-valetkey-scope'], 'ai:chat');
    assert.equal(h['x-valetkey-jti'], claims.jti);
    assert.equal(h['x-valetkey-iss'], server.issuer);
    assert.equal(h['x-valetkey-aud'], typeof claims.aud === 'string' ? claims.aud : JSON.stringify(claims.aud));
    assert.equal(h.authorization, undefined, 'stripped before proxying');
    // Without a token the variables are empty, and a client cannot set them itself.
    const open = await request(ngx.port, { path: '/open/', headers: { 'x-valetkey-sub': 'admin' } });
    assert.equal(open.json.headers['x-valetkey-sub'], undefined);
    const keep = await request(ngx.port, { path: '/keep/', headers: bearer(t) });
    assert.equal(keep.json.headers.authorization, `Bearer ${t}`, 'kept with valetkey_strip_token off');
  });

  it('503 (or the configured status) until the first key set arrives; never waits', async () => {
    const t = recordSecret((await getToken(server, chat, { resource: AUD })).access_token);
    const t0 = Date.now();
    const r = await request(ngx.port, { path: '/down/', headers: bearer(t) });
    assert.equal(r.status, 503);
    assert.equal(r.headers['www-authenticate'], undefined);
    assert.equal((await request(ngx.port, { path: '/down-502/', headers: bearer(t) })).status, 502);
    assert.ok(Date.now() - t0 < 2000, 'answered at once, not after a fetch');
    assert.equal((await request(ngx.port, { path: '/down/' })).status, 401, 'no token is still 401');
  });

  it('DPoP: a bound token with a valid proof passes; replayed (to any worker), wrong htu, htm or key, or as Bearer: 401', async () => {
    const key = await dpopKey();
    const t = await local.token({ cnf: { jkt: key.jkt } });
    const url = `http://127.0.0.1:${ngx.port}/local/x`;
    const dpop = (p) => ({ authorization: `DPoP ${t}`, dpop: p });
    const p1 = await key.proof('GET', url, t);
    const ok = await request(ngx.port, { path: '/local/x?q=1', headers: dpop(p1) });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json.headers.dpop, undefined, 'the proof is stripped too');
    // The same proof again, on new connections, until another worker than the one that
    // accepted it has refused it too (the replay cache is in shared memory).
    const first = ok.headers['x-worker'];
    const refusedBy = new Set();
    for (let i = 0; i < 200 && !(refusedBy.size > 0 && [...refusedBy].some((w) => w !== first)); i++) {
      const again = await request(ngx.port, { path: '/local/x', headers: dpop(p1) });
      assert.equal(again.status, 401, `replay ${i}`);
      assert.match(again.headers['www-authenticate'], /^DPoP realm="api", error="invalid_dpop_proof", error_description="the DPoP proof was used before"/);
      refusedBy.add(again.headers['x-worker']);
    }
    assert.ok([...refusedBy].some((w) => w !== first), `another worker saw the replay (${first} vs ${[...refusedBy]})`);
    const wrongHtu = await request(ngx.port, { path: '/local/y', headers: dpop(await key.proof('GET', url, t)) });
    assert.equal(wrongHtu.status, 401);
    assert.match(wrongHtu.headers['www-authenticate'], /the DPoP proof is for another URL/);
    const wrongPort = await request(ngx.port, { path: '/local/x', headers: dpop(await key.proof('GET', `http://127.0.0.1:1/local/x`, t)) });
    assert.equal(wrongPort.status, 401);
    const wrongHtm = await request(ngx.port, { method: 'POST', path: '/local/x', headers: dpop(await key.proof('GET', url, t)), body: '' });
    assert.equal(wrongHtm.status, 401);
    const other = await dpopKey();
    const wrongKey = await request(ngx.port, { path: '/local/x', headers: dpop(await other.proof('GET', url, t)) });
    assert.equal(wrongKey.status, 401);
    assert.match(wrongKey.headers['www-authenticate'], /the DPoP proof key does not match the token/);
    const asBearer = await request(ngx.port, { path: '/local/x', headers: { ...bearer(t), dpop: await key.proof('GET', url, t) } });
    assert.equal(asBearer.status, 401, 'RFC 9449 §7.2: a bound token is not a bearer token');
    const twoProofs = await request(ngx.port, { path: '/local/x', headers: { authorization: `DPoP ${t}`, dpop: [await key.proof('GET', url, t), await key.proof('GET', url, t)] } });
    assert.equal(twoProofs.status, 400, 'RFC 9449 §4.3: one DPoP header');
    // Host header as the client sent it: name and port, case-insensitive host.
    const viaName = `http://LocalHost:${ngx.port}/local/z`;
    const byName = await request(ngx.port, { path: '/local/z', headers: { ...dpop(await key.proof('GET', viaName, t)), host: `localhost:${ngx.port}` } });
    assert.equal(byName.status, 200);
    // Behind a TLS terminator: valetkey_origin names what clients address.
    const tls = await request(ngx.port, { path: '/local-tls/a', headers: dpop(await key.proof('GET', 'https://api.example/local-tls/a', t)) });
    assert.equal(tls.status, 200, tls.body);
    // An unbound (bearer) token: fine as Bearer where DPoP is on, refused where it is required.
    const plain = await local.token();
    assert.equal((await request(ngx.port, { path: '/local/p', headers: bearer(plain) })).status, 200);
    const req = await request(ngx.port, { path: '/local-dpop-only/p', headers: bearer(plain) });
    assert.equal(req.status, 401);
    assert.match(req.headers['www-authenticate'], /^DPoP /);
    const none = await request(ngx.port, { path: '/local/p' });
    assert.match(none.headers['www-authenticate'], /^Bearer realm="api", resource_metadata="[^"]+", DPoP realm="api", algs="ES256 PS256 RS256 EdDSA"/);
    const reqOk = await request(ngx.port, { path: '/local-dpop-only/q', headers: dpop(await key.proof('GET', `http://127.0.0.1:${ngx.port}/local-dpop-only/q`, t)) });
    assert.equal(reqOk.status, 200);
  });

  it('DPoP is refused where it is off: the scheme counts as no credentials', async () => {
    const key = await dpopKey();
    const t = await local.token({ cnf: { jkt: key.jkt } });
    const r = await request(ngx.port, { path: '/v1/chat/', headers: { authorization: `DPoP ${t}`, dpop: await key.proof('GET', `http://127.0.0.1:${ngx.port}/v1/chat/`, t) } });
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], `Bearer realm="api", resource_metadata="${METADATA}"`);
  });

  it('a token revoked at the feed is refused within one second, cached or not, by every worker', async () => {
    const t = await local.token();
    const { jti, exp } = jose.decodeJwt(t);
    for (let i = 0; i < 4; i++)
      assert.equal((await request(ngx.port, { path: '/local-rev/a', headers: bearer(t) })).status, 200);
    for (let i = 0; i < 100 && feed.polls < 2; i++) await sleep(50); // both workers are following
    const t0 = Date.now();
    feed.revoke(jti, exp);
    let r;
    for (let i = 0; i < 60; i++) {
      r = await request(ngx.port, { path: '/local-rev/a', headers: bearer(t) });
      if (r.status === 401) break;
      await sleep(20);
    }
    const ms = Date.now() - t0;
    revokedToken = t;
    assert.equal(r.status, 401);
    assert.match(r.headers['www-authenticate'], /error="invalid_token", error_description="the access token was revoked"/);
    assert.ok(ms <= 1000, `refused ${ms} ms after the revocation`);
    // Whichever worker answers (new connections), and a token with another jti still works.
    for (let i = 0; i < 8; i++)
      assert.equal((await request(ngx.port, { path: '/local-rev/a', headers: bearer(t) })).status, 401);
    assert.equal((await request(ngx.port, { path: '/local-rev/a', headers: bearer(await local.token()) })).status, 200);
  });

  it('an unreachable feed: 503 (fail closed: never read, or stale beyond max_stale), 200 with fail_open', async () => {
    const t = await local.token();
    let r;
    for (let i = 0; i < 100; i++) {
      r = await request(ngx.port, { path: '/local-stale/a', headers: bearer(t) });
      if (r.status === 503) break;
      await sleep(50);
    }
    assert.equal(r.status, 503, 'fail closed once stale');
    assert.equal((await request(ngx.port, { path: '/local-stale-open/a', headers: bearer(t) })).status, 200);
  });

  it('certificate-bound tokens (RFC 8705): accepted only with the client certificate they name', async () => {
    const x5t = (pem) => crypto.createHash('sha256').update(new crypto.X509Certificate(pem).raw).digest('base64url');
    const t = await local.token({ cnf: { 'x5t#S256': x5t(cliCert.cert) } });
    const ok = await request(tlsPort, { path: '/mtls/a', headers: bearer(t), tls: cliCert });
    assert.equal(ok.status, 200, ok.body);
    const other = await request(tlsPort, { path: '/mtls/a', headers: bearer(t), tls: cliCert2 });
    assert.equal(other.status, 401);
    assert.match(other.headers['www-authenticate'], /error="invalid_token"/);
    const none = await request(tlsPort, { path: '/mtls/a', headers: bearer(t), tls: {} });
    assert.equal(none.status, 401);
    // A token bound to nothing works with or without a certificate.
    const plain = await local.token();
    assert.equal((await request(tlsPort, { path: '/mtls/a', headers: bearer(plain), tls: cliCert2 })).status, 200);
    assert.equal((await request(tlsPort, { path: '/mtls/a', headers: bearer(plain), tls: {} })).status, 200);
  });

  it('nginx -t refuses what a worker could not run', () => {
    const base = `valetkey_issuer ${LOCAL_ISS}; valetkey_audience ${AUD};`;
    const loc = (inner) => `server { listen 127.0.0.1:1; location / { ${inner} } }`;
    assert.ok(testConfig(`${base} ${loc('valetkey on;')}`).ok);
    const cases = {
      'no audience': `valetkey_issuer ${LOCAL_ISS}; ${loc('valetkey on;')}`,
      'no issuer': `valetkey_audience ${AUD}; ${loc('valetkey on;')}`,
      'an http issuer beyond loopback': `valetkey_issuer http://as.example; valetkey_audience ${AUD}; ${loc('valetkey on;')}`,
      'DPoP with two workers and no shared cache': `${base} ${loc('valetkey on; valetkey_dpop on;')}`,
      'a bad scope': `${base} ${loc('valetkey on; valetkey_scope "a\\"b";')}`,
      'an unknown method': `${base} ${loc('valetkey on; valetkey_scope methods=FETCH x;')}`,
      'a key file without keys': `${base} valetkey_jwks_file @PREFIX@/empty.json; ${loc('valetkey on;')}`,
      'a missing key file': `${base} valetkey_jwks_file @PREFIX@/nope.json; ${loc('valetkey on;')}`,
      'a tiny zone': `${base} valetkey_cache zone=z:8k; ${loc('valetkey on;')}`,
      'a status that is not an error': `${base} ${loc('valetkey on; valetkey_unavailable_status 200;')}`,
      'a feed over http beyond loopback': `${base} valetkey_revocations http://as.example/revocations a b; ${loc('valetkey on;')}`,
      'a feed without a secret': `${base} valetkey_revocations https://as.example/revocations a; ${loc('valetkey on;')}`,
      'a feed with a bad option': `${base} valetkey_revocations https://as.example/revocations a b max_stale=0; ${loc('valetkey on;')}`,
    };
    for (const [what, conf] of Object.entries(cases)) {
      const r = testConfig(conf, { files: { 'empty.json': '{"keys":[]}' } });
      assert.equal(r.ok, false, `${what}: ${r.output}`);
      assert.match(r.output, /valetkey|emerg/, what);
    }
    assert.ok(testConfig(`${base} ${loc('valetkey on; valetkey_dpop on;')}`, { workers: 1 }).ok,
      'one worker: its own replay cache is the only one');
  });

  /** Keeps `n` clients requesting /v1/chat/ (and /local/ with DPoP proofs) until stopped. */
  function load(t, n = 4) {
    let stop = false;
    const statuses = {};
    const errors = [];
    let count = 0;
    const workers = Array.from({ length: n }, async () => {
      while (!stop) {
        try {
          const r = await request(ngx.port, { path: '/v1/chat/load', headers: bearer(t) });
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        } catch (e) {
          errors.push(String(e));
        }
        count++;
      }
    });
    return {
      get count() { return count; },
      async end() {
        stop = true;
        await Promise.all(workers);
        return { statuses, errors, count };
      },
    };
  }

  function snapshot(master) {
    const kids = childrenOf(master);
    return { master: usage(master), workers: kids.map(usage), kids };
  }

  it('reload under load: no failed request, and nothing left behind', async () => {
    const t = recordSecret((await getToken(server, chat, { resource: AUD })).access_token);
    await ready(t);
    await ngx.settle([]);
    const before = snapshot(ngx.master);
    // Each worker: the event loop, one key-fetch thread per issuer whose keys are fetched (2
    // here) and one feed thread per configuration with valetkey_revocations (3).
    for (const w of before.workers) assert.equal(w.threads, 6, JSON.stringify(before));
    assert.equal(before.master.threads, 1, 'the master never starts a thread');
    const l = load(t);
    for (let i = 0; i < 3; i++) {
      await sleep(300);
      await ngx.reload();
    }
    await sleep(300);
    const res = await l.end();
    assert.deepEqual(res.errors, []);
    assert.deepEqual(Object.keys(res.statuses), ['200'], JSON.stringify(res.statuses));
    assert.ok(res.count > 20, `load ran (${res.count} requests)`);
    await ready(t);
    const after = snapshot(ngx.master);
    assert.notDeepEqual(after.kids, before.kids, 'new workers');
    assert.deepEqual(after.master, before.master, 'the master holds no more threads or descriptors');
    assert.deepEqual(after.workers, before.workers, 'new workers: the same threads and descriptors as the old ones');
    if (revokedToken) {
      // New workers start with empty revocation lists and read the feed before they serve.
      for (let i = 0; i < 6; i++)
        assert.equal((await request(ngx.port, { path: '/local-rev/a', headers: bearer(revokedToken) })).status, 401);
    }
  });

  it('binary upgrade under load: no failed request, and nothing left behind', async () => {
    const t = recordSecret((await getToken(server, chat, { resource: AUD })).access_token);
    await ready(t);
    const before = snapshot(ngx.master);
    const l = load(t);
    await sleep(300);
    const next = await ngx.upgrade();
    await sleep(300);
    const res = await l.end();
    assert.deepEqual(res.errors, []);
    assert.deepEqual(Object.keys(res.statuses), ['200'], JSON.stringify(res.statuses));
    await ready(t);
    const after = snapshot(next);
    assert.deepEqual(after.workers, before.workers);
    assert.equal(after.master.threads, 1);
    assert.equal(after.master.fds, before.master.fds);
  });
});
