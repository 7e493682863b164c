// Access-token checks with npm `jose` (an independent JOSE implementation): RFC 9068 header and
// claims, signature against the server's published /jwks.json.
import assert from 'node:assert/strict';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, decodeJwt, decodeProtectedHeader } from 'jose';

const sets = new Map();
export function remoteJwks(server) {
  const u = `${server.url}/jwks.json`;
  if (!sets.has(u)) sets.set(u, createRemoteJWKSet(new URL(u), { cooldownDuration: 0, cacheMaxAge: 0 }));
  return sets.get(u);
}

/**
 * Verifies an access token with jose against the server's JWKS; returns { payload, protectedHeader }.
 * `fetch`: how to read /jwks.json (an HTTPS server: a fetch that trusts the test CA).
 */
export async function verifyAccessToken(server, token, { audience, issuer = server.issuer, clockTolerance, fetch: f } = {}) {
  const header = decodeProtectedHeader(token);
  // Claims first, so a bad audience fails with a readable message rather than a jose error.
  const claims = decodeJwt(token);
  const opts = { issuer, typ: 'at+jwt', algorithms: ['ES256'] };
  if (audience !== undefined) opts.audience = audience;
  // A 1-second token may expire between issuance and this check: tests of such tokens pass a
  // tolerance (jose counts a token as expired from its exp second on).
  if (clockTolerance !== undefined) opts.clockTolerance = clockTolerance;
  try {
    const keys = f ? createLocalJWKSet(await (await f(`${server.url}/jwks.json`)).json()) : remoteJwks(server);
    return await jwtVerify(token, keys, opts);
  } catch (e) {
    assert.fail(`jose jwtVerify failed (${e.code ?? e.name}: ${e.message}); header ${JSON.stringify(header)}; ` +
      `claims ${JSON.stringify({ ...claims, jti: claims.jti ? '<jti>' : undefined })}`);
  }
}

/** RFC 9068 §2 structure checks for a client_credentials token of `client`. */
export function assertAccessTokenShape({ payload, protectedHeader }, { server, client, scope, ttl }) {
  assert.equal(protectedHeader.typ, 'at+jwt', 'header typ');
  assert.equal(protectedHeader.alg, 'ES256', 'header alg');
  assert.equal(typeof protectedHeader.kid, 'string', 'header kid');
  assert.ok(protectedHeader.kid.length > 0, 'header kid non-empty');
  for (const c of ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope']) {
    assert.ok(payload[c] !== undefined, `claim ${c} present; claims: ${Object.keys(payload).join(',')}`);
  }
  assert.equal(payload.iss, server.issuer, 'iss');
  assert.equal(payload.client_id, client.client_id, 'client_id');
  assert.equal(payload.sub, client.client_id, 'sub equals client_id for client_credentials');
  assert.ok(typeof payload.aud === 'string' ? payload.aud.length > 0 : Array.isArray(payload.aud) && payload.aud.length > 0, 'aud non-empty');
  assert.equal(typeof payload.jti, 'string', 'jti is a string');
  assert.ok(payload.jti.length >= 16, 'jti long enough to be unique');
  assert.ok(Number.isInteger(payload.iat) && Number.isInteger(payload.exp), 'iat/exp are integers');
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(payload.iat - now) <= 60, `iat close to now (iat ${payload.iat}, now ${now})`);
  if (ttl !== undefined) assert.equal(payload.exp - payload.iat, ttl, 'exp - iat equals the lifetime');
  if (scope !== undefined) assert.deepEqual(scopeSet(payload.scope), scopeSet(scope), 'scope claim');
}

export const scopeSet = (s) => [...new Set(String(s ?? '').split(' ').filter(Boolean))].sort();

export const audList = (aud) => (Array.isArray(aud) ? aud : [aud]);
