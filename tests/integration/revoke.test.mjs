// POST /revoke (RFC 7009): revoked access tokens introspect inactive (also after a restart);
// unknown tokens are 200; a client cannot revoke another client's token.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, addClient, mkDataDir, rmDataDir } from '../lib/harness.mjs';
import {
  postForm, getToken, revoke, assertOAuthError, assertActive, assertInactive, basicAuth, describe as desc,
} from './lib/http.mjs';

function assertRevoked200(res, what) {
  assert.equal(res.status, 200, `${what}: ${desc(res)}`);
  assert.equal(res.text, '', `${what}: body must be empty`);
}

describe('POST /revoke', { timeout: 30000 }, () => {
  let dir, server, a, b;

  before(async () => {
    dir = mkDataDir();
    a = addClient(dir, { name: 'a', scope: 'read' });
    b = addClient(dir, { name: 'b', scope: 'read', authMethod: 'client_secret_post' });
    server = await startServer({ dataDir: dir });
  });
  after(async () => {
    await server?.stop();
    rmDataDir(dir);
  });

  it('revokes an access token (client_secret_basic)', async () => {
    const t = (await getToken(server, a)).access_token;
    const keep = (await getToken(server, a)).access_token;
    await assertActive(server, a, t, 'before revocation');
    assertRevoked200(await revoke(server, a, t), 'revoke');
    await assertInactive(server, a, t, 'after revocation');
    await assertActive(server, a, keep, 'another token of the same client');
    assertRevoked200(await revoke(server, a, t), 'revoking again');
  });

  it('revokes an access token (client_secret_post) with a token_type_hint', async () => {
    const t = (await getToken(server, b)).access_token;
    assertRevoked200(await revoke(server, b, t, { extra: [['token_type_hint', 'access_token']] }), 'revoke with hint');
    await assertInactive(server, b, t, 'after revocation');
  });

  it('honours a wrong token_type_hint', async () => {
    const t = (await getToken(server, a)).access_token;
    assertRevoked200(await revoke(server, a, t, { extra: [['token_type_hint', 'refresh_token']] }), 'revoke with refresh_token hint');
    await assertInactive(server, a, t, 'after revocation with a wrong hint');
  });

  it('answers 200 for unknown and malformed tokens', async () => {
    for (const t of ['garbage', 'a.b.c', 'vk_rt_' + 'A'.repeat(43), 'x'.repeat(4000)]) {
      assertRevoked200(await revoke(server, a, t), `token ${t.slice(0, 20)}`);
    }
    // Past the parameter-length limit (4096) a clean 400 invalid_request is acceptable too.
    const huge = await revoke(server, a, 'x'.repeat(9000));
    if (huge.status !== 200) assertOAuthError(huge, 400, 'invalid_request', '9000-byte token');
  });

  it('does not let a client revoke another client\'s token', async () => {
    const t = (await getToken(server, a)).access_token;
    const res = await revoke(server, b, t);
    if (res.status === 400) assertOAuthError(res, 400, 'unauthorized_client', 'revoking another client\'s token');
    else assertRevoked200(res, 'revoking another client\'s token');
    await assertActive(server, a, t, 'token revoked by another client');
  });

  it('requires client authentication (401 invalid_client)', async () => {
    const t = (await getToken(server, a)).access_token;
    const url = `${server.url}/revoke`;
    assertOAuthError(await postForm(url, { token: t }), 401, 'invalid_client', 'no client authentication');
    const res = await postForm(url, { token: t }, { headers: { authorization: basicAuth(a.client_id, b.client_secret) } });
    assertOAuthError(res, 401, 'invalid_client', 'wrong Basic secret');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic\b/i, 'WWW-Authenticate: Basic');
    assertOAuthError(await postForm(url, { token: t, client_id: a.client_id }), 401, 'invalid_client', 'client_id without secret');
    await assertActive(server, a, t, 'token after unauthenticated revocation attempts');
  });

  it('answers invalid_request when the token parameter is missing', async () => {
    assertOAuthError(await revoke(server, a, undefined), 400, 'invalid_request', 'no token');
  });

  it('keeps a revocation across a restart', async () => {
    const t = (await getToken(server, a)).access_token;
    assertRevoked200(await revoke(server, a, t), 'revoke');
    await server.stop();
    server = await startServer({ dataDir: dir });
    await assertInactive(server, a, t, 'revoked token after restart');
    const fresh = (await getToken(server, a)).access_token;
    await assertActive(server, a, fresh, 'new token after restart');
  });
});
