// RFC 8414 metadata and /jwks.json, then complete client-credentials flows driven by
// oauth4webapi (discovery -> token -> introspection -> revocation) with both secret methods.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { importJWK } from 'jose';
import { startServer, addClient, mkDataDir, rmDataDir, recordSecret } from '../lib/harness.mjs';
import { verifyAccessToken, scopeSet, audList } from './lib/jwt.mjs';

const insecure = { [oauth.allowInsecureRequests]: true };
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

describe('discovery and oauth4webapi flows', { timeout: 30000 }, () => {
  let dir, server, basic, post, meta, as;

  before(async () => {
    dir = mkDataDir();
    basic = addClient(dir, { name: 'basic', scope: 'read write', resources: ['https://api.example.com/'] });
    post = addClient(dir, { name: 'post', scope: 'read', authMethod: 'client_secret_post', resources: ['https://api.example.com/'] });
    server = await startServer({ dataDir: dir });
    const res = await fetch(`${server.url}/.well-known/oauth-authorization-server`);
    assert.equal(res.status, 200);
    meta = await res.json();
  });
  after(async () => {
    await server?.stop();
    rmDataDir(dir);
  });

  it('publishes RFC 8414 metadata', async () => {
    const res = await fetch(`${server.url}/.well-known/oauth-authorization-server`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/i);
    assert.equal(meta.issuer, server.issuer);
    assert.equal(meta.token_endpoint, `${server.issuer}/token`);
    assert.equal(meta.jwks_uri, `${server.issuer}/jwks.json`);
    assert.equal(meta.introspection_endpoint, `${server.issuer}/introspect`);
    assert.equal(meta.revocation_endpoint, `${server.issuer}/revoke`);
    // draft-emelia-oauth-authorization-management-uri: where users take access back (issue 13)
    assert.equal(meta.authorization_management_uri, `${server.issuer}/account`);
    const oidc = await (await fetch(`${server.url}/.well-known/openid-configuration`)).json();
    assert.equal(oidc.authorization_management_uri, `${server.issuer}/account`);
    assert.ok(Array.isArray(meta.grant_types_supported), 'grant_types_supported');
    assert.ok(meta.grant_types_supported.includes('client_credentials'));
    for (const g of ['password', 'implicit']) assert.ok(!meta.grant_types_supported.includes(g), `no ${g} grant`);
    assert.ok(Array.isArray(meta.token_endpoint_auth_methods_supported));
    for (const m of ['client_secret_basic', 'client_secret_post']) {
      assert.ok(meta.token_endpoint_auth_methods_supported.includes(m), `token_endpoint_auth_methods_supported has ${m}`);
    }
    if (meta.response_types_supported !== undefined) {
      for (const rt of meta.response_types_supported) {
        assert.ok(!rt.split(' ').includes('token'), `response type ${JSON.stringify(rt)} issues tokens from the authorization endpoint`);
      }
    }
    if (meta.code_challenge_methods_supported !== undefined) {
      assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    }
    for (const [k, v] of Object.entries(meta)) {
      if (k.endsWith('_endpoint') || k === 'jwks_uri') assert.ok(v.startsWith(server.issuer + '/'), `${k} under the issuer: ${v}`);
    }
  });

  it('publishes public ES256 keys at /jwks.json', async () => {
    const res = await fetch(`${server.url}/jwks.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/(jwk-set\+)?json\b/i);
    const jwks = await res.json();
    assert.ok(Array.isArray(jwks.keys) && jwks.keys.length > 0, 'keys');
    const kids = jwks.keys.map((k) => k.kid);
    assert.equal(new Set(kids).size, kids.length, 'kids are unique');
    for (const k of jwks.keys) {
      assert.equal(typeof k.kid, 'string');
      for (const m of PRIVATE_JWK_MEMBERS) assert.equal(k[m], undefined, `key ${k.kid} must not publish ${m}`);
      assert.equal(k.use, 'sig', `key ${k.kid} use`);
      if (k.kty === 'EC') {
        assert.equal(k.crv, 'P-256');
        assert.equal(k.alg, 'ES256');
        assert.equal(Buffer.from(k.x, 'base64url').length, 32, 'x is 32 bytes');
        assert.equal(Buffer.from(k.y, 'base64url').length, 32, 'y is 32 bytes');
      } else {
        assert.equal(k.kty, 'RSA', `key ${k.kid} kty`);
        assert.equal(k.alg, 'RS256');
      }
      await importJWK(k, k.alg); // jose accepts it as a public key
    }
    assert.ok(jwks.keys.some((k) => k.kty === 'EC' && k.alg === 'ES256'), 'at least one ES256 key');
  });

  it('is accepted by oauth4webapi discovery', async () => {
    const issuer = new URL(server.issuer);
    const res = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure });
    as = await oauth.processDiscoveryResponse(issuer, res);
    assert.equal(as.issuer, server.issuer);
  });

  for (const [name, method] of [['ClientSecretBasic', 'basic'], ['ClientSecretPost', 'post']]) {
    it(`runs token, introspection and revocation with oauth4webapi ${name}`, async () => {
      if (!as) {
        const issuer = new URL(server.issuer);
        as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
      }
      const reg = method === 'basic' ? basic : post;
      const client = { client_id: reg.client_id };
      const auth = oauth[name](reg.client_secret);
      const tokRes = await oauth.clientCredentialsGrantRequest(as, client, auth,
        new URLSearchParams({ scope: 'read', resource: 'https://api.example.com/' }), insecure);
      const tok = await oauth.processClientCredentialsResponse(as, client, tokRes);
      recordSecret(tok.access_token);
      assert.equal(tok.token_type, 'bearer'); // oauth4webapi lower-cases it
      assert.equal(tok.expires_in, 600);
      assert.deepEqual(scopeSet(tok.scope), ['read']);
      const { payload } = await verifyAccessToken(server, tok.access_token, { audience: 'https://api.example.com/' });
      assert.equal(payload.client_id, reg.client_id);

      const intro = await oauth.processIntrospectionResponse(as, client,
        await oauth.introspectionRequest(as, client, auth, tok.access_token, insecure));
      assert.equal(intro.active, true);
      assert.equal(intro.client_id, reg.client_id);
      assert.deepEqual(audList(intro.aud), ['https://api.example.com/']);

      const rev = await oauth.processRevocationResponse(
        await oauth.revocationRequest(as, client, auth, tok.access_token, insecure));
      assert.equal(rev, undefined);

      const after = await oauth.processIntrospectionResponse(as, client,
        await oauth.introspectionRequest(as, client, auth, tok.access_token, insecure));
      assert.deepEqual(after, { active: false });
    });
  }

  it('reports errors oauth4webapi understands', async () => {
    const client = { client_id: basic.client_id };
    const wrong = recordSecret('vk_cs_' + 'W'.repeat(43));
    const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(wrong), new URLSearchParams(), insecure);
    await assert.rejects(oauth.processClientCredentialsResponse(as, client, res), (e) => {
      if (e instanceof oauth.WWWAuthenticateChallengeError) {
        assert.equal(e.status, 401);
        assert.equal(e.cause[0]?.scheme, 'basic');
        return true;
      }
      assert.ok(e instanceof oauth.ResponseBodyError, `unexpected error ${e?.name}: ${e?.message}`);
      assert.equal(e.status, 401);
      assert.equal(e.error, 'invalid_client');
      return true;
    });
    const res2 = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(basic.client_secret),
      new URLSearchParams({ scope: 'admin' }), insecure);
    await assert.rejects(oauth.processClientCredentialsResponse(as, client, res2), (e) => {
      assert.ok(e instanceof oauth.ResponseBodyError, `unexpected error ${e?.name}: ${e?.message}`);
      assert.equal(e.status, 400);
      assert.equal(e.error, 'invalid_scope');
      return true;
    });
  });
});

describe('metadata with --issuer', { timeout: 30000 }, () => {
  let server;
  const ISS = 'https://as.example.test';
  before(async () => { server = await startServer({ args: ['--issuer', ISS], issuer: ISS }); });
  after(async () => { await server?.stop(); });

  it('uses the configured issuer for every URL', async () => {
    const meta = await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json();
    assert.equal(meta.issuer, ISS);
    assert.equal(meta.token_endpoint, `${ISS}/token`);
    assert.equal(meta.jwks_uri, `${ISS}/jwks.json`);
  });
});
