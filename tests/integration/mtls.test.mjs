// Mutual TLS (RFC 8705): client authentication by certificate (tls_client_auth with a subject
// DN or a SAN, self_signed_tls_client_auth with registered certificates), certificate-bound
// access tokens (cnf.x5t#S256) and refresh tokens of public clients, cnf at introspection, the
// binding checked at /userinfo, the metadata, and a certificate forwarded by a trusted proxy.
// Certificates are made here with openssl (lib/pki.mjs); clients are curl, oauth4webapi (mTLS
// through a custom fetch) and raw requests.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import * as oauth from 'oauth4webapi';
import { decodeJwt } from 'jose';
import { startServer, addClient, mkDataDir, rmDataDir, runCli, cliJson, recordSecret } from '../lib/harness.mjs';
import { FORM, formBody, readResponse, assertOAuthError, basicAuth, describe as desc } from './lib/http.mjs';
import { makePki, x5tS256, jwksFor } from './lib/pki.mjs';
import { tlsFetch } from './lib/tlsfetch.mjs';
import { verifyAccessToken } from './lib/jwt.mjs';
import { REDIRECT, userGrant } from './lib/usergrant.mjs';
import fs from 'node:fs';
import path from 'node:path';

const execFileP = promisify(execFile);
const PASSWORD = 'correct horse battery staple 12';

describe('mutual TLS (RFC 8705) on the server\'s own TLS port', { timeout: 180000 }, () => {
  let pki, dir, server;
  let dn, sanDns, sanUri, selfSigned, secretRs, pub, plainBound;
  const fetchers = new Map();
  /** A fetch over TLS presenting `id` (a pki entry) or no certificate. */
  const as = (id) => {
    const k = id?.cert ?? 'none';
    if (!fetchers.has(k)) fetchers.set(k, tlsFetch({ ca: pki.ca.certPem, cert: id?.certPem, key: id?.keyPem }));
    return fetchers.get(k);
  };
  const token = (id, params, headers = {}) => as(id)(`${server.url}/token`, {
    method: 'POST', headers: { 'content-type': FORM, ...headers }, body: formBody(params),
  }).then(readResponse);
  const cc = (id, client, extra = {}) => token(id, { grant_type: 'client_credentials', client_id: client.client_id, ...extra });

  before(async () => {
    pki = makePki();
    dir = mkDataDir();
    // the subject of clientA, written the way an operator might (RFC 2253 spaces, lower case)
    dn = addClient(dir, { name: 'dn', scope: 'read', authMethod: 'tls_client_auth',
      extra: ['--tls-subject-dn', 'cn=client-a, ou=Payments, o=Example', '--tls-bound-tokens', '--introspect'] });
    sanDns = addClient(dir, { name: 'san-dns', scope: 'read', authMethod: 'tls_client_auth',
      extra: ['--tls-san-dns', 'client-b.example.com'] });
    sanUri = addClient(dir, { name: 'san-uri', scope: 'read', authMethod: 'tls_client_auth',
      extra: ['--tls-san-uri', 'https://client-a.example.com/id'] });
    // self1 and the expired one are both registered: only the valid one authenticates
    selfSigned = addClient(dir, { name: 'self', scope: 'read', authMethod: 'self_signed_tls_client_auth',
      extra: ['--self-signed-cert', pki.self1.cert, '--self-signed-cert', pki.selfExpired.cert, '--tls-bound-tokens'] });
    secretRs = addClient(dir, { name: 'rs', scope: 'read', extra: ['--introspect'] });
    plainBound = addClient(dir, { name: 'secret-bound', scope: 'read', extra: ['--tls-bound-tokens'] });
    const u = runCli(dir, ['user', 'add'], ['--username', 'user0'], { input: PASSWORD + '\n' });
    assert.equal(u.status, 0, u.stderr);
    recordSecret(PASSWORD);
    pub = addClient(dir, { name: 'native', public: true, firstParty: true, scope: 'openid profile',
      redirectUris: [REDIRECT], extra: ['--tls-bound-tokens'] });
    server = await startServer({
      dataDir: dir,
      args: ['--tls-cert', pki.server.cert, '--tls-key', pki.server.key, '--tls-client-ca', pki.ca.cert],
    });
  });
  after(async () => {
    for (const f of fetchers.values()) f.agent.destroy();
    await server?.stop();
    rmDataDir(dir);
    pki?.rm();
  });

  it('advertises the certificate methods and bound tokens, and no aliases on one port', async () => {
    const meta = (await readResponse(await as()(`${server.url}/.well-known/oauth-authorization-server`))).json;
    for (const m of ['tls_client_auth', 'self_signed_tls_client_auth']) {
      assert.ok(meta.token_endpoint_auth_methods_supported.includes(m), m);
      assert.ok(meta.introspection_endpoint_auth_methods_supported.includes(m), m);
      assert.ok(meta.revocation_endpoint_auth_methods_supported.includes(m), m);
    }
    assert.equal(meta.tls_client_certificate_bound_access_tokens, true);
    assert.equal(meta.mtls_endpoint_aliases, undefined, 'the mTLS endpoints are the endpoints');
    const oidc = (await readResponse(await as()(`${server.url}/.well-known/openid-configuration`))).json;
    assert.deepEqual(oidc.token_endpoint_auth_methods_supported, meta.token_endpoint_auth_methods_supported);
  });

  it('tls_client_auth by subject DN with curl: a token bound to the certificate', async () => {
    const { stdout } = await execFileP('curl', ['-sS', '--cacert', pki.ca.cert, '--cert', pki.clientA.cert,
      '--key', pki.clientA.key, '-d', 'grant_type=client_credentials', '-d', `client_id=${dn.client_id}`,
      `${server.url}/token`]);
    const body = JSON.parse(stdout);
    recordSecret(body.access_token);
    assert.equal(body.token_type, 'Bearer', stdout.replace(/eyJ[\w.-]+/g, '<jwt>'));
    const v = await verifyAccessToken(server, body.access_token, { fetch: as() });
    assert.deepEqual(v.payload.cnf, { 'x5t#S256': x5tS256(pki.clientA.certPem) });
    assert.equal(v.payload.client_id, dn.client_id);
  });

  it('tls_client_auth with oauth4webapi (TlsClientAuth and a custom fetch)', async () => {
    const f = as(pki.clientA);
    const issuer = new URL(server.url);
    const meta = await oauth.processDiscoveryResponse(issuer,
      await oauth.discoveryRequest(issuer, { [oauth.customFetch]: f, algorithm: 'oauth2' }));
    const client = { client_id: dn.client_id };
    const res = await oauth.clientCredentialsGrantRequest(meta, client, oauth.TlsClientAuth(),
      new URLSearchParams({ scope: 'read' }), { [oauth.customFetch]: f });
    const result = await oauth.processClientCredentialsResponse(meta, client, res);
    recordSecret(result.access_token);
    assert.equal(decodeJwt(result.access_token).cnf['x5t#S256'], x5tS256(pki.clientA.certPem));
    // SAN methods: a dNSName and a URI
    for (const [c, id] of [[sanDns, pki.clientB], [sanUri, pki.clientA]]) {
      const r = await oauth.clientCredentialsGrantRequest(meta, { client_id: c.client_id }, oauth.TlsClientAuth(),
        new URLSearchParams(), { [oauth.customFetch]: as(id) });
      const t = await oauth.processClientCredentialsResponse(meta, { client_id: c.client_id }, r);
      recordSecret(t.access_token);
      assert.equal(decodeJwt(t.access_token).cnf, undefined, 'not registered for bound tokens: a bearer token');
    }
  });

  it('tls_client_auth fails without a certificate, with another client\'s, an expired one, another CA\'s, a server-only one', async () => {
    const cases = [
      [undefined, dn, 'no certificate'],
      [pki.clientB, dn, 'another client\'s certificate (same CA)'],
      [pki.expired, dn, 'an expired certificate with the registered subject'],
      [pki.foreign, dn, 'the registered subject from another CA'],
      [pki.serverOnly, dn, 'the registered subject without clientAuth usage'],
      [pki.self1, dn, 'a self-signed certificate'],
      [pki.clientA, sanDns, 'a certificate without the registered dNSName'],
      [pki.foreign, sanUri, 'the registered URI from another CA'],
    ];
    for (const [id, client, what] of cases) {
      assertOAuthError(await cc(id, client), 401, 'invalid_client', what);
    }
    // a secret is not a way in for a certificate client, even with the right certificate
    const withSecret = await token(pki.clientA, { grant_type: 'client_credentials', client_id: dn.client_id,
      client_secret: 'vk_cs_guess' });
    assertOAuthError(withSecret, 401, 'invalid_client', 'client_secret sent by a tls_client_auth client');
    const withBasic = await token(pki.clientA, { grant_type: 'client_credentials' },
      { authorization: basicAuth(dn.client_id, 'x') });
    assertOAuthError(withBasic, 401, 'invalid_client', 'Basic sent by a tls_client_auth client');
    // RFC 8705 §2: the client_id is required
    assertOAuthError(await token(pki.clientA, { grant_type: 'client_credentials' }), 401, 'invalid_client',
      'no client_id');
    // and the log says why, without the certificate
    const log = server.log();
    assert.match(log, /event=client\.cert_refused client=\S+ method=tls_client_auth x5t=\S+ reason=certificate\\x20expired/);
    assert.match(log, /reason=the\\x20certificate's\\x20subject_dn\\x20is\\x20not\\x20the\\x20registered\\x20one/);
  });

  it('self_signed_tls_client_auth: a registered certificate, and nothing else', async () => {
    const ok = await cc(pki.self1, selfSigned);
    assert.equal(ok.status, 200, desc(ok));
    assert.equal(decodeJwt(ok.json.access_token).cnf['x5t#S256'], x5tS256(pki.self1.certPem));
    assertOAuthError(await cc(undefined, selfSigned), 401, 'invalid_client', 'no certificate');
    assertOAuthError(await cc(pki.self2, selfSigned), 401, 'invalid_client', 'an unregistered self-signed one');
    assertOAuthError(await cc(pki.selfExpired, selfSigned), 401, 'invalid_client', 'a registered one that expired');
    assertOAuthError(await cc(pki.clientA, selfSigned), 401, 'invalid_client', 'a CA-issued one');
    assertOAuthError(await cc(pki.self1, dn), 401, 'invalid_client', 'a self-signed one for tls_client_auth');
  });

  it('a client registered for bound tokens must present a certificate', async () => {
    const res = await token(undefined, { grant_type: 'client_credentials' },
      { authorization: basicAuth(plainBound.client_id, plainBound.client_secret) });
    assertOAuthError(res, 400, 'invalid_request', 'client_secret client with --tls-bound-tokens, no certificate');
    const bound = await token(pki.clientB, { grant_type: 'client_credentials' },
      { authorization: basicAuth(plainBound.client_id, plainBound.client_secret) });
    assert.equal(bound.status, 200, desc(bound));
    assert.equal(decodeJwt(bound.json.access_token).cnf['x5t#S256'], x5tS256(pki.clientB.certPem));
  });

  it('introspection reports cnf; certificate clients authenticate at /introspect and /revoke', async () => {
    const t = (await cc(pki.clientA, dn)).json.access_token;
    const intro = await as(pki.clientA)(`${server.url}/introspect`, { method: 'POST',
      headers: { 'content-type': FORM }, body: formBody({ token: t, client_id: dn.client_id }) }).then(readResponse);
    assert.equal(intro.status, 200, desc(intro));
    assert.equal(intro.json.active, true);
    assert.deepEqual(intro.json.cnf, { 'x5t#S256': x5tS256(pki.clientA.certPem) });
    const byRs = await as()(`${server.url}/introspect`, { method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(secretRs.client_id, secretRs.client_secret) },
      body: formBody({ token: t }) }).then(readResponse);
    assert.deepEqual(byRs.json.cnf, { 'x5t#S256': x5tS256(pki.clientA.certPem) }, 'a resource server sees cnf');
    const noCert = await as()(`${server.url}/introspect`, { method: 'POST',
      headers: { 'content-type': FORM }, body: formBody({ token: t, client_id: dn.client_id }) }).then(readResponse);
    assertOAuthError(noCert, 401, 'invalid_client', '/introspect without the certificate');
    const rev = await as(pki.clientA)(`${server.url}/revoke`, { method: 'POST',
      headers: { 'content-type': FORM }, body: formBody({ token: t, client_id: dn.client_id }) });
    assert.equal(rev.status, 200);
    const after = await as()(`${server.url}/introspect`, { method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(secretRs.client_id, secretRs.client_secret) },
      body: formBody({ token: t }) }).then(readResponse);
    assert.equal(after.json.active, false, 'revoked by its certificate client');
  });

  it('a public client: access and refresh tokens bound to its certificate, checked at /userinfo and at refresh', async () => {
    // the browser part needs no certificate; the token requests present self2 (a public
    // client's certificate is not verified, only held: RFC 8705 §4)
    const grant = await userGrant(server.url, pub, { password: PASSWORD, scope: 'openid profile',
      fetch: as(), tokenFetch: as(pki.self2) });
    const x5t = x5tS256(pki.self2.certPem);
    assert.equal(decodeJwt(grant.access_token).cnf['x5t#S256'], x5t);
    // /userinfo with oauth4webapi: the same certificate works, none or another does not
    const issuer = new URL(server.url);
    const meta = await oauth.processDiscoveryResponse(issuer,
      await oauth.discoveryRequest(issuer, { [oauth.customFetch]: as() }));
    const client = { client_id: pub.client_id };
    const ui = await oauth.userInfoRequest(meta, client, grant.access_token, { [oauth.customFetch]: as(pki.self2) });
    const claims = await oauth.processUserInfoResponse(meta, client, oauth.skipSubjectCheck, ui);
    assert.equal(claims.preferred_username, 'user0');
    for (const [id, what] of [[undefined, 'no certificate'], [pki.self1, 'another certificate']]) {
      const r = await readResponse(await as(id)(`${server.url}/userinfo`, {
        headers: { authorization: `Bearer ${grant.access_token}` } }));
      assert.equal(r.status, 401, `${what}: ${desc(r)}`);
      assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    }
    // the refresh token: introspection shows the binding; refreshing needs the certificate
    const intro = await as()(`${server.url}/introspect`, { method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(secretRs.client_id, secretRs.client_secret) },
      body: formBody({ token: grant.refresh_token }) }).then(readResponse);
    assert.equal(intro.json.active, false, 'another client does not see it (RFC 7662 §4)');
    for (const [id, what] of [[undefined, 'no certificate'], [pki.self1, 'another certificate']]) {
      const r = await token(id, { grant_type: 'refresh_token', refresh_token: grant.refresh_token, client_id: pub.client_id });
      assertOAuthError(r, 400, 'invalid_grant', `refresh with ${what}`);
    }
    const rr = await oauth.refreshTokenGrantRequest(meta, client, oauth.None(), grant.refresh_token,
      { [oauth.customFetch]: as(pki.self2) });
    const next = await oauth.processRefreshTokenResponse(meta, client, rr);
    recordSecret(next.access_token);
    recordSecret(next.refresh_token);
    assert.equal(decodeJwt(next.access_token).cnf['x5t#S256'], x5t, 'the new access token is bound too');
    const again = await token(undefined, { grant_type: 'refresh_token', refresh_token: next.refresh_token,
      client_id: pub.client_id });
    assertOAuthError(again, 400, 'invalid_grant', 'the rotated refresh token is bound as well');
    // the failed attempts without the certificate revoked nothing: the family lives on
    const third = await token(pki.self2, { grant_type: 'refresh_token', refresh_token: next.refresh_token,
      client_id: pub.client_id });
    assert.equal(third.status, 200, desc(third));
  });

  it('a bearer token still works at /userinfo with or without a certificate', async () => {
    // a public client without --tls-bound-tokens: its token carries no cnf
    const free = addClient(dir, { name: 'free', public: true, firstParty: true, scope: 'openid',
      redirectUris: [REDIRECT] });
    const grant = await userGrant(server.url, free, { password: PASSWORD, fetch: as(), tokenFetch: as(pki.self1) });
    assert.equal(decodeJwt(grant.access_token).cnf, undefined);
    for (const id of [undefined, pki.self1]) {
      const r = await as(id)(`${server.url}/userinfo`, { headers: { authorization: `Bearer ${grant.access_token}` } });
      assert.equal(r.status, 200);
    }
  });
});

describe('client certificates from a trusted TLS-terminating proxy (--client-cert-header)', { timeout: 120000 }, () => {
  let pki, dir, server, dn, selfSigned, pub;
  const HDR = 'X-SSL-Client-Cert';
  // nginx's $ssl_client_escaped_cert: the PEM, URL-encoded
  const escaped = (id) => encodeURIComponent(id.certPem);

  /** POST /token over plain HTTP from a chosen loopback address (127.0.0.1 is the proxy). */
  const post = (p, params, { from = '127.0.0.1', headers = {} } = {}) => new Promise((resolve, reject) => {
    const body = formBody(params);
    const req = http.request({ host: '127.0.0.1', port: server.port, path: p, method: 'POST', localAddress: from,
      agent: false, headers: { 'content-type': FORM, 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        if (json?.access_token) recordSecret(json.access_token);
        resolve({ status: res.statusCode, headers: new Headers(res.headers), text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });

  before(async () => {
    pki = makePki();
    dir = mkDataDir();
    dn = addClient(dir, { name: 'dn', scope: 'read', authMethod: 'tls_client_auth',
      extra: ['--tls-subject-dn', 'CN=client-a,OU=Payments,O=Example', '--tls-bound-tokens'] });
    selfSigned = addClient(dir, { name: 'self', scope: 'read', authMethod: 'self_signed_tls_client_auth',
      extra: ['--jwks', writeJwks(pki)] });
    const u = runCli(dir, ['user', 'add'], ['--username', 'user0'], { input: PASSWORD + '\n' });
    assert.equal(u.status, 0, u.stderr);
    pub = addClient(dir, { name: 'native', public: true, firstParty: true, scope: 'openid profile',
      redirectUris: [REDIRECT], extra: ['--tls-bound-tokens'] });
    server = await startServer({ dataDir: dir, args: ['--trusted-proxy', '127.0.0.1', '--client-cert-header', HDR] });
  });
  after(async () => {
    await server?.stop();
    rmDataDir(dir);
    pki?.rm();
  });

  function writeJwks(p) {
    const file = path.join(p.dir, 'self1.jwks.json');
    fs.writeFileSync(file, JSON.stringify(jwksFor(p.self1.certPem)));
    return file;
  }

  it('advertises only what works: self-signed certificates, no tls_client_auth without a CA', async () => {
    const meta = await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json();
    assert.ok(meta.token_endpoint_auth_methods_supported.includes('self_signed_tls_client_auth'));
    assert.ok(!meta.token_endpoint_auth_methods_supported.includes('tls_client_auth'), 'no CA configured');
    assert.equal(meta.tls_client_certificate_bound_access_tokens, true);
  });

  it('takes the certificate the proxy forwards, and only from the proxy', async () => {
    const ok = await post('/token', { grant_type: 'client_credentials', client_id: selfSigned.client_id },
      { headers: { [HDR]: escaped(pki.self1) } });
    assert.equal(ok.status, 200, desc(ok));
    // the same header from another address is ignored (RFC 9700 §4.13)
    const spoofed = await post('/token', { grant_type: 'client_credentials', client_id: selfSigned.client_id },
      { from: '127.0.0.2', headers: { [HDR]: escaped(pki.self1) } });
    assertOAuthError(spoofed, 401, 'invalid_client', 'a certificate header from a non-trusted address');
    // nothing forwarded (the proxy's client had no certificate): no certificate
    const none = await post('/token', { grant_type: 'client_credentials', client_id: selfSigned.client_id },
      { headers: { [HDR]: '' } });
    assertOAuthError(none, 401, 'invalid_client', 'an empty header');
    // newlines as spaces, not escaped (older nginx $ssl_client_cert style): accepted too
    const flat = await post('/token', { grant_type: 'client_credentials', client_id: selfSigned.client_id },
      { headers: { [HDR]: pki.self1.certPem.trim().replace(/\n/g, ' ') } });
    assert.equal(flat.status, 200, desc(flat));
  });

  it('refuses a repeated or malformed forwarded certificate', async () => {
    const rep = await new Promise((resolve, reject) => {
      // node's http client joins repeated headers; send them raw
      const body = formBody({ grant_type: 'client_credentials', client_id: selfSigned.client_id });
      const s = new (http.Agent)().createConnection({ host: '127.0.0.1', port: server.port }, () => {
        s.write(`POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: ${FORM}\r\nContent-Length: ${body.length}\r\n` +
          `${HDR}: ${escaped(pki.self1)}\r\n${HDR}: ${escaped(pki.self2)}\r\nConnection: close\r\n\r\n${body}`);
      });
      let text = '';
      s.on('data', (d) => { text += d; });
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
    assert.match(rep, /^HTTP\/1\.1 400/);
    assert.match(rep, /"error":"invalid_request"/);
    for (const bad of ['%ZZ', '-----BEGIN CERTIFICATE-----%0Anot*base64%0A-----END CERTIFICATE-----', 'garbage']) {
      const r = await post('/token', { grant_type: 'client_credentials', client_id: selfSigned.client_id },
        { headers: { [HDR]: bad } });
      assertOAuthError(r, 400, 'invalid_request', `header ${JSON.stringify(bad)}`);
    }
  });

  it('binds tokens to the forwarded certificate and checks it at /userinfo', async () => {
    const ok = await post('/token', { grant_type: 'client_credentials', client_id: selfSigned.client_id },
      { headers: { [HDR]: escaped(pki.self1) } });
    assert.equal(ok.status, 200);
    assert.equal(decodeJwt(ok.json.access_token).cnf, undefined, 'not registered for bound tokens');
    // a public client whose token requests arrive through the proxy with its certificate
    const viaProxy = (url, init) => fetch(url, { ...init, headers: { ...init.headers, [HDR]: escaped(pki.self2) } });
    const grant = await userGrant(server.url, pub, { password: PASSWORD, scope: 'openid profile', tokenFetch: viaProxy });
    assert.equal(decodeJwt(grant.access_token).cnf['x5t#S256'], x5tS256(pki.self2.certPem));
    const userinfo = (from, headers) => new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: '/userinfo', localAddress: from, agent: false,
        headers: { authorization: `Bearer ${grant.access_token}`, ...headers } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      }).on('error', reject);
    });
    assert.equal(await userinfo('127.0.0.1', { [HDR]: escaped(pki.self2) }), 200, 'the certificate, via the proxy');
    assert.equal(await userinfo('127.0.0.1', {}), 401, 'no certificate');
    assert.equal(await userinfo('127.0.0.1', { [HDR]: escaped(pki.self1) }), 401, 'another certificate');
    assert.equal(await userinfo('127.0.0.2', { [HDR]: escaped(pki.self2) }), 401,
      'the right certificate in a header from an address that is not the proxy');
    // tls_client_auth is not offered without --tls-client-ca: the DN client cannot authenticate
    const dnTry = await post('/token', { grant_type: 'client_credentials', client_id: dn.client_id },
      { headers: { [HDR]: escaped(pki.clientA) } });
    assertOAuthError(dnTry, 401, 'invalid_client', 'tls_client_auth without a configured CA');
  });
});

describe('a TLS server behind a trusted proxy with --client-cert-header', { timeout: 120000 }, () => {
  let pki, dir, server, dn;
  before(async () => {
    pki = makePki();
    dir = mkDataDir();
    dn = addClient(dir, { name: 'dn', scope: 'read', authMethod: 'tls_client_auth',
      extra: ['--tls-subject-dn', 'CN=client-a,OU=Payments,O=Example', '--tls-bound-tokens'] });
    server = await startServer({ dataDir: dir, args: ['--tls-cert', pki.server.cert, '--tls-key', pki.server.key,
      '--tls-client-ca', pki.ca.cert, '--trusted-proxy', '127.0.0.1', '--client-cert-header', 'X-Client-Cert'] });
  });
  after(async () => {
    await server?.stop();
    rmDataDir(dir);
    pki?.rm();
  });

  it('takes the proxy\'s header, never the proxy\'s own TLS certificate', async () => {
    const f = tlsFetch({ ca: pki.ca.certPem, cert: pki.clientA.certPem, key: pki.clientA.keyPem });
    const send = (headers) => f(`${server.url}/token`, { method: 'POST', headers: { 'content-type': FORM, ...headers },
      body: formBody({ grant_type: 'client_credentials', client_id: dn.client_id }) }).then(readResponse);
    // from 127.0.0.1 (the proxy) with clientA on the TLS connection but no header: the TLS
    // identity is the proxy's, not its client's
    assertOAuthError(await send({}), 401, 'invalid_client', 'the proxy\'s own certificate');
    const ok = await send({ 'x-client-cert': encodeURIComponent(pki.clientA.certPem) });
    assert.equal(ok.status, 200, desc(ok));
    f.agent.destroy();
    // a direct client (not the proxy) on the TLS port: its own certificate counts
    const direct = tlsFetch({ ca: pki.ca.certPem, cert: pki.clientA.certPem, key: pki.clientA.keyPem,
      tls: { localAddress: '127.0.0.3' } });
    const r = await direct(`${server.url}/token`, { method: 'POST', headers: { 'content-type': FORM },
      body: formBody({ grant_type: 'client_credentials', client_id: dn.client_id }) }).then(readResponse);
    assert.equal(r.status, 200, desc(r));
    direct.agent.destroy();
  });
});

describe('a separate mutual-TLS port (--mtls-listen) and mtls_endpoint_aliases (RFC 8705 §5)', { timeout: 120000 }, () => {
  let pki, dir, server, dn, mtlsUrl;
  const fetchers = [];
  const as = (id) => {
    const f = tlsFetch({ ca: pki.ca.certPem, cert: id?.certPem, key: id?.keyPem });
    fetchers.push(f);
    return f;
  };
  before(async () => {
    pki = makePki();
    dir = mkDataDir();
    dn = addClient(dir, { name: 'dn', scope: 'read', authMethod: 'tls_client_auth',
      extra: ['--tls-subject-dn', 'CN=client-a,OU=Payments,O=Example', '--tls-bound-tokens'] });
    server = await startServer({ dataDir: dir, args: ['--tls-cert', pki.server.cert, '--tls-key', pki.server.key,
      '--tls-client-ca', pki.ca.cert, '--mtls-listen', '127.0.0.1:0'] });
    // the second line of stdout names the mTLS port
    const t0 = Date.now();
    let m;
    while (!(m = /^valetkey mTLS endpoints on https:\/\/(\S+) \((\S+)\)$/m.exec(server.stdout())) && Date.now() - t0 < 5000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(m, `no mTLS line on stdout: ${JSON.stringify(server.stdout())}`);
    mtlsUrl = m[2];
  });
  after(async () => {
    for (const f of fetchers) f.agent.destroy();
    await server?.stop();
    rmDataDir(dir);
    pki?.rm();
  });

  it('publishes the aliases on the other port', async () => {
    assert.match(mtlsUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(mtlsUrl, server.url);
    const meta = (await readResponse(await as()(`${server.url}/.well-known/oauth-authorization-server`))).json;
    assert.deepEqual(meta.mtls_endpoint_aliases, {
      token_endpoint: `${mtlsUrl}/token`, revocation_endpoint: `${mtlsUrl}/revoke`,
      introspection_endpoint: `${mtlsUrl}/introspect`, userinfo_endpoint: `${mtlsUrl}/userinfo`,
    });
    assert.equal(meta.token_endpoint, `${server.url}/token`, 'the main endpoints stay where they were');
    assert.ok(meta.token_endpoint_auth_methods_supported.includes('tls_client_auth'));
  });

  it('asks for certificates only on the mTLS port', async () => {
    // node sends its certificate only when the server asks for one
    const send = (base) => as(pki.clientA)(`${base}/token`, { method: 'POST', headers: { 'content-type': FORM },
      body: formBody({ grant_type: 'client_credentials', client_id: dn.client_id }) }).then(readResponse);
    assertOAuthError(await send(server.url), 401, 'invalid_client', 'the main port does not ask for a certificate');
    const ok = await send(mtlsUrl);
    assert.equal(ok.status, 200, desc(ok));
    assert.equal(decodeJwt(ok.json.access_token).cnf['x5t#S256'], x5tS256(pki.clientA.certPem));
  });

  it('oauth4webapi follows the aliases (use_mtls_endpoint_aliases)', async () => {
    const f = as(pki.clientA);
    const issuer = new URL(server.url);
    const meta = await oauth.processDiscoveryResponse(issuer,
      await oauth.discoveryRequest(issuer, { [oauth.customFetch]: f, algorithm: 'oauth2' }));
    const client = { client_id: dn.client_id, use_mtls_endpoint_aliases: true };
    const res = await oauth.clientCredentialsGrantRequest(meta, client, oauth.TlsClientAuth(),
      new URLSearchParams({ scope: 'read' }), { [oauth.customFetch]: f });
    const result = await oauth.processClientCredentialsResponse(meta, client, res);
    recordSecret(result.access_token);
    assert.equal(decodeJwt(result.access_token).cnf['x5t#S256'], x5tS256(pki.clientA.certPem));
    // and introspection through the alias, authenticated by the certificate
    const ir = await oauth.introspectionRequest(meta, client, oauth.TlsClientAuth(), result.access_token,
      { [oauth.customFetch]: f });
    assert.equal(ir.status, 200);
  });

  it('refuses an alias configuration that cannot work', () => {
    const d = mkDataDir();
    const serve = (args) => runCli(d, ['serve'], ['--listen', '127.0.0.1:0', ...args]);
    let r = serve(['--mtls-listen', '127.0.0.1:0']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /need TLS/);
    r = serve(['--tls-cert', pki.server.cert, '--tls-key', pki.server.key, '--mtls-url', 'https://x.example']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /mtls_url needs mtls_listen/);
    r = serve(['--tls-cert', pki.server.cert, '--tls-key', pki.server.key, '--mtls-listen', '127.0.0.1:0',
      '--mtls-url', 'http://x.example']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /mtls_url must be an https URL/);
    rmDataDir(d);
  });
});

describe('metadata lists only what works', { timeout: 60000 }, () => {
  let pki;
  before(() => { pki = makePki(); });
  after(() => pki?.rm());

  const methods = async (args) => {
    const s = await startServer({ args });
    const f = tlsFetch({ ca: pki.ca.certPem });
    const get = s.url.startsWith('https') ? f : fetch;
    const m = await (await get(`${s.url}/.well-known/oauth-authorization-server`)).json();
    f.agent.destroy();
    await s.stop();
    return m;
  };

  it('plain HTTP, or TLS without client certificates: no certificate methods, no bound tokens', async () => {
    for (const args of [[], ['--tls-cert', pki.server.cert, '--tls-key', pki.server.key]]) {
      const m = await methods(args);
      assert.deepEqual(m.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'none']);
      assert.equal(m.tls_client_certificate_bound_access_tokens, undefined);
    }
  });

  it('TLS requesting certificates without a CA: self-signed only', async () => {
    const m = await methods(['--tls-cert', pki.server.cert, '--tls-key', pki.server.key, '--tls-request-client-cert']);
    assert.deepEqual(m.token_endpoint_auth_methods_supported,
      ['client_secret_basic', 'client_secret_post', 'self_signed_tls_client_auth', 'none']);
    assert.equal(m.tls_client_certificate_bound_access_tokens, true);
  });
});

describe('client add for certificate clients', { timeout: 60000 }, () => {
  let pki, dir;
  before(() => { pki = makePki(); dir = mkDataDir(); });
  after(() => { rmDataDir(dir); pki?.rm(); });

  it('stores and shows the RFC 8705 metadata, normalised', () => {
    const c = cliJson(dir, ['client', 'add'], ['--name', 'x', '--auth-method', 'tls_client_auth',
      '--tls-subject-dn', 'cn=client-a, o=Example', '--tls-bound-tokens']);
    assert.equal(c.client_secret, undefined);
    assert.equal(c.client_type, 'confidential');
    assert.equal(c.tls_client_auth_subject_dn, 'CN=client-a,O=Example');
    assert.equal(c.tls_client_certificate_bound_access_tokens, true);
    const shown = cliJson(dir, ['client', 'show', c.client_id]);
    assert.equal(shown.tls_client_auth_subject_dn, 'CN=client-a,O=Example');
    const ip = cliJson(dir, ['client', 'add'], ['--name', 'y', '--auth-method', 'tls_client_auth', '--tls-san-ip', '2001:DB8::0:1']);
    assert.equal(ip.tls_client_auth_san_ip, '2001:db8::1');
    const s = cliJson(dir, ['client', 'add'], ['--name', 'z', '--auth-method', 'self_signed_tls_client_auth',
      '--self-signed-cert', pki.self1.cert]);
    assert.equal(s.jwks.keys.length, 1);
    assert.equal(s.jwks.keys[0].x5c[0], jwksFor(pki.self1.certPem).keys[0].x5c[0]);
    const rot = runCli(dir, ['client', 'rotate-secret', s.client_id]);
    assert.equal(rot.status, 1);
    assert.match(rot.stderr, /authenticates by certificate/);
  });

  it('refuses incomplete or contradictory registrations', () => {
    const bad = [
      [['--auth-method', 'tls_client_auth'], /exactly one of --tls-subject-dn/],
      [['--auth-method', 'tls_client_auth', '--tls-san-dns', 'a.example', '--tls-san-uri', 'https://a'], /give one of/],
      [['--tls-subject-dn', 'CN=a'], /for tls_client_auth only/],
      [['--auth-method', 'tls_client_auth', '--tls-subject-dn', 'CN=a,'], /subject DN/],
      [['--auth-method', 'tls_client_auth', '--tls-san-ip', '10.0.0'], /not an IPv4 or IPv6 address/],
      [['--auth-method', 'self_signed_tls_client_auth'], /needs its certificates/],
      [['--auth-method', 'self_signed_tls_client_auth', '--self-signed-cert', pki.self1.key], /not a PEM certificate/],
      [['--self-signed-cert', pki.self1.cert], /for that method only/],
      [['--public', '--auth-method', 'tls_client_auth', '--tls-san-dns', 'a.example'], /public client has no secret/],
    ];
    for (const [args, re] of bad) {
      const r = runCli(dir, ['client', 'add'], ['--name', 'bad', ...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }
    // a JWK Set whose key is not its x5c certificate's (RFC 7517 §4.7)
    const j = jwksFor(pki.self1.certPem);
    j.keys[0].x5c = jwksFor(pki.self2.certPem).keys[0].x5c;
    const file = path.join(pki.dir, 'mixed.json');
    fs.writeFileSync(file, JSON.stringify(j));
    const r = runCli(dir, ['client', 'add'], ['--name', 'bad', '--auth-method', 'self_signed_tls_client_auth', '--jwks', file]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /differs from the JWK's/);
  });
});
