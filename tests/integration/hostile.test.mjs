// Hostile requests: a bounded stream of random methods, paths, parameters, headers, cookies and
// bodies (chunked or not) against one server. Every request must get an HTTP answer that is not a
// 5xx (503 excepted), within a few seconds, and the server must still be up and healthy after.
// Under the ASan build (make asan) this doubles as a memory-safety soak. Loopback only; bounded in
// count and time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, mkDataDir, runCli, cliJson, recordSecret } from '../lib/harness.mjs';

let server, conf, pub;
const REQUESTS = 1500;

before(async () => {
  const dataDir = mkDataDir();
  const u = runCli(dataDir, ['user', 'add'], ['--username', 'alice'], { input: 'password-12345\n' });
  assert.equal(u.status, 0, u.stderr);
  recordSecret('password-12345');
  conf = cliJson(dataDir, ['client', 'add'], ['--name', 'w', '--redirect-uri', 'http://127.0.0.1:1/cb', '--scope', 'openid profile read']);
  recordSecret(conf.client_secret);
  pub = cliJson(dataDir, ['client', 'add'], ['--name', 'p', '--public', '--redirect-uri', 'http://127.0.0.1:1/cb', '--scope', 'openid']);
  server = await startServer({ dataDir });
});
after(async () => { await server?.stop({ removeData: true }); });

// A small deterministic generator, so a failure can be replayed with the same seed.
function rng(seed) {
  let x = seed >>> 0;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}

function send(port, raw, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(() => { s.destroy(); resolve({ timeout: true }); }, timeoutMs);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve({ data: Buffer.concat(chunks) }); });
    s.end(raw);
  });
}

test('random hostile requests never get a 5xx, a hang or a crash', async () => {
  const seed = Number(process.env.VALETKEY_HOSTILE_SEED ?? Date.now() % 100000);
  const r = rng(seed);
  const pick = (a) => a[Math.floor(r() * a.length)];
  const paths = ['/token', '/introspect', '/revoke', '/authorize', '/login', '/consent', '/logout', '/userinfo',
    '/jwks.json', '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/healthz',
    '/metrics', '/nope', '//token', '/token/', '/TOKEN', '/%74oken', '/authorize%00', '/%2e%2e/etc/passwd'];
  const methods = ['GET', 'POST', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH'];
  const names = ['grant_type', 'client_id', 'client_secret', 'scope', 'resource', 'code', 'code_verifier',
    'redirect_uri', 'refresh_token', 'token', 'token_type_hint', 'response_type', 'state', 'nonce',
    'code_challenge', 'code_challenge_method', 'prompt', 'max_age', 'username', 'password', 'csrf',
    'decision', 'consent_at', 'id_token_hint', 'post_logout_redirect_uri', 'confirm', 'request', 'login_hint'];
  const vals = ['', 'client_credentials', 'authorization_code', 'refresh_token', 'code', 'token', 'S256',
    'plain', 'openid', 'openid profile', 'read', conf.client_id, conf.client_secret, pub.client_id,
    'http://127.0.0.1:1/cb', 'https://evil.example', '%zz', '%', '%00', 'x'.repeat(3000), 'é', '<script>',
    '"\'', 'none login', '0', '-1', '99999999999999999999', 'eyJhbGciOiJub25lIn0.e30.', 'a.b.c',
    'vk_rt_x', 'vk_ac_x', 'approve', 'deny', 'yes', 'alice', 'password-12345', '%0D%0AX:%20y', '+', '&', '='];
  const form = () => Array.from({ length: Math.floor(r() * 12) }, () =>
    `${pick(names)}=${r() < 0.7 ? encodeURIComponent(pick(vals)) : pick(vals)}`).join('&');
  const basic = (s) => Buffer.from(s).toString('base64');
  const seen = {};
  for (let i = 0; i < REQUESTS; i++) {
    const m = pick(methods);
    const q = r() < 0.5 ? '?' + form() : '';
    const body = m === 'POST' || m === 'PUT' ? form() : '';
    const h = ['Host: 127.0.0.1'];
    const a = r();
    if (a < 0.3) h.push('Authorization: Basic ' + basic(`${conf.client_id}:${conf.client_secret}`));
    else if (a < 0.4) h.push('Authorization: Basic ' + pick(['', '!!!', 'Og==', basic('a'), basic(':')]));
    else if (a < 0.5) h.push('Authorization: Bearer ' + pick(['x', 'a.b.c', 'eyJ'.repeat(100), '']));
    if (r() < 0.7) h.push('Content-Type: ' + pick(['application/x-www-form-urlencoded',
      'application/x-www-form-urlencoded; charset=UTF-8', 'application/json', 'text/plain', '']));
    if (r() < 0.3) h.push('Cookie: ' + pick(['vk_csrf=abc', 'vk_session=vk_ss_x', 'vk_session=' + 'a'.repeat(300),
      'vk_csrf="q"; vk_session=', '=;;;', 'vk_csrf']));
    const bytes = Buffer.from(body);
    let raw = `${m} ${pick(paths)}${q} HTTP/1.1\r\n${h.join('\r\n')}\r\nConnection: close\r\n`;
    raw += r() < 0.15 && bytes.length
      ? `Transfer-Encoding: chunked\r\n\r\n${bytes.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`
      : `Content-Length: ${bytes.length}\r\n\r\n${body}`;
    const res = await send(server.port, raw);
    assert.ok(!res.timeout, `seed ${seed}, request ${i} hung: ${JSON.stringify(raw.slice(0, 300))}`);
    const status = /^HTTP\/1\.1 (\d{3})/.exec(res.data.toString('latin1'))?.[1] ?? 'none';
    seen[status] = (seen[status] ?? 0) + 1;
    assert.ok(!(status.startsWith('5') && status !== '503'),
      `seed ${seed}, request ${i}: ${status} for ${JSON.stringify(raw.slice(0, 300))}`);
  }
  assert.ok(Object.keys(seen).length > 4, `a varied mix of answers: ${JSON.stringify(seen)}`);
  const health = await fetch(`${server.url}/healthz`);
  assert.equal(health.status, 200);
});
