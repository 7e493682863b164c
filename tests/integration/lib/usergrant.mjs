// Obtains user grants (refresh tokens) over raw HTTP, the way a browser would: GET /authorize
// shows the login form, POST /login signs the user in and redirects with a code, and the client
// exchanges the code with PKCE. For tests that need many refresh-token families quickly.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { recordSecret, runCli, cliJson } from '../../lib/harness.mjs';
import { FORM, basicAuth } from './http.mjs';

export const REDIRECT = 'https://app.example.com/cb';

/**
 * Adds `users` users named user0, user1, ... with `password` and a confidential first-party
 * client; returns the client. (Successful logins are limited per account, so tests that need
 * many grants spread them over several users.)
 */
export function seedUserAndClient(dataDir, { users = 1, password } = {}) {
  recordSecret(password);
  for (let i = 0; i < users; i++) {
    const u = runCli(dataDir, ['user', 'add'], ['--username', `user${i}`], { input: password + '\n' });
    assert.equal(u.status, 0, u.stderr);
  }
  const c = cliJson(dataDir, ['client', 'add'], ['--name', 'Web', '--redirect-uri', REDIRECT,
    '--scope', 'openid profile', '--first-party']);
  recordSecret(c.client_secret);
  return c;
}

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

/**
 * Signs in and exchanges the code: returns the token response (refresh_token recorded). A client
 * without a secret (public, or RFC 8705) sends its client_id in the body. `fetch` is used for
 * the browser's part, `tokenFetch` for the client's token request (HTTPS, client certificates).
 */
export async function userGrant(url, client, {
  username = 'user0', password, scope = 'openid', fetch: f = fetch, tokenFetch = f,
} = {}) {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const q = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, scope,
    state: crypto.randomBytes(4).toString('hex'), code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const page = await f(`${url}/authorize?${q}`, { redirect: 'manual' });
  assert.equal(page.status, 200, 'the login page');
  const jar = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const fields = hiddenFields(await page.text());
  const post = await f(`${url}/login`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, cookie: jar },
    body: new URLSearchParams({ ...fields, username, password }),
  });
  assert.equal(post.status, 303, `login -> redirect, got ${post.status}`);
  for (const c of post.headers.getSetCookie()) recordSecret(c.split(';')[0].split('=')[1]);
  const code = new URL(post.headers.get('location')).searchParams.get('code');
  assert.ok(code, 'a code in the redirect');
  recordSecret(code);
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier,
    redirect_uri: REDIRECT });
  const headers = { 'content-type': FORM };
  if (client.client_secret) headers.authorization = basicAuth(client.client_id, client.client_secret);
  else body.set('client_id', client.client_id);
  const res = await tokenFetch(`${url}/token`, { method: 'POST', headers, body });
  const json = await res.json();
  for (const k of ['access_token', 'refresh_token', 'id_token']) if (json[k]) recordSecret(json[k]);
  assert.equal(res.status, 200, `code exchange: ${json.error}`);
  assert.ok(json.refresh_token, 'a refresh token');
  return json;
}
