// The administration CLI (valetkey client ..., key ..., serve) against a data directory, also
// while a server runs on it: changes take effect without a restart.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, startServer, addClient, mkDataDir, rmDataDir, runCli, cliJson, recordSecret, sleep } from '../lib/harness.mjs';
import {
  postForm, getToken, tokenRequest, assertOAuthError, assertActive, basicAuth,
} from './lib/http.mjs';
import { verifyAccessToken } from './lib/jwt.mjs';

const SECRET_RE = /^vk_cs_[A-Za-z0-9_-]{43,}$/;

/**
 * Asserts that `client`'s credentials are refused at once (401 invalid_client). When they are
 * still accepted, measures for up to 3 s how long they keep working, for the failure message.
 */
async function assertRefusedNow(server, client, what) {
  const t0 = Date.now();
  const first = await tokenRequest(server, client);
  if (first.status === 200) {
    let stoppedAfter = null;
    while (Date.now() - t0 < 3000) {
      await sleep(50);
      const r = await tokenRequest(server, client);
      if (r.status !== 200) { stoppedAfter = Date.now() - t0; break; }
    }
    assert.fail(`${what}: still accepted right after the CLI command (HTTP 200 with an access token); ` +
      (stoppedAfter === null ? 'still accepted 3 s later' : `refused only after ~${stoppedAfter} ms`));
  }
  assertOAuthError(first, 401, 'invalid_client', what);
}

function assertFails(r, what) {
  assert.equal(r.signal, null, `${what}: must exit by itself, not be killed (${r.signal}) after the timeout`);
  assert.notEqual(r.status, 0, `${what}: must exit non-zero; stdout ${JSON.stringify(r.stdout.slice(0, 300))}`);
  assert.ok(r.stderr.trim().length > 0, `${what}: must explain on stderr`);
}

describe('valetkey client', { timeout: 30000 }, () => {
  let dir;
  before(() => { dir = mkDataDir(); });
  after(() => rmDataDir(dir));

  it('client add prints the registration with defaults', () => {
    const c = addClient(dir, { name: 'defaults' });
    assert.match(c.client_secret, SECRET_RE);
    assert.equal(c.client_name, 'defaults');
    assert.deepEqual(c.grant_types, ['client_credentials']);
    assert.equal(typeof c.scope, 'string');
    assert.equal(c.token_endpoint_auth_method, 'client_secret_basic');
    assert.deepEqual(c.resources, []);
    assert.ok('access_token_ttl' in c, 'access_token_ttl is printed');
    assert.ok(c.client_id.length >= 8 && c.client_id.length <= 128, 'client_id length');
  });

  it('client add records every option', () => {
    const c = addClient(dir, {
      name: 'full', grants: ['client_credentials'], scope: 'a b', resources: ['https://api.example.com/', 'https://b.example.com/x'],
      ttl: 120, authMethod: 'client_secret_post',
    });
    assert.equal(c.client_name, 'full');
    assert.deepEqual(c.grant_types, ['client_credentials']);
    assert.equal(c.scope, 'a b');
    assert.deepEqual(c.resources, ['https://api.example.com/', 'https://b.example.com/x']);
    assert.equal(c.access_token_ttl, 120);
    assert.equal(c.token_endpoint_auth_method, 'client_secret_post');
  });

  it('client add makes distinct ids and secrets', () => {
    const x = addClient(dir, { name: 'same' });
    const y = addClient(dir, { name: 'same' });
    assert.notEqual(x.client_id, y.client_id);
    assert.notEqual(x.client_secret, y.client_secret);
  });

  it('client add rejects bad input with a non-zero exit', () => {
    assertFails(runCli(dir, ['client', 'add'], []), 'no --name');
    assertFails(runCli(dir, ['client', 'add'], ['--name', 'x', '--auth-method', 'bogus']), 'unknown auth method');
    assertFails(runCli(dir, ['client', 'add'], ['--name', 'x', '--grant', 'bogus']), 'unknown grant');
    assertFails(runCli(dir, ['client', 'add'], ['--name', 'x', '--grant', 'password']), 'password grant');
    assertFails(runCli(dir, ['client', 'add'], ['--name', 'x', '--access-token-ttl', 'abc']), 'non-numeric ttl');
    assertFails(runCli(dir, ['client', 'add'], ['--name', 'x', '--access-token-ttl', '-5']), 'negative ttl');
    assertFails(runCli(dir, ['client', 'add'], ['--name', 'x', '--resource', '/relative']), 'relative resource');
    assertFails(runCli(dir, ['client', 'add'], ['--name', 'x', '--resource', 'https://api.example.com/#f']), 'resource with fragment');
    assertFails(runCli(dir, ['client', 'add'], ['--name', 'x', '--no-such-option']), 'unknown option');
    assertFails(runCli(dir, ['client', 'frobnicate'], []), 'unknown subcommand');
  });

  it('client add parses redirect URIs (RFC 3986): no user information, http only on a loopback host', () => {
    const bad = {
      'http://127.0.0.1:x@evil.example/cb': /user information/,
      'http://localhost@evil.example/cb': /user information/,
      'https://user:pw@app.example.com/cb': /user information/,
      'http://127.0.0.1\\@evil.example/cb': /not a valid absolute URI/,
      'http://127.0.0.1.evil.example/cb': /http only with the host 127\.0\.0\.1, \[::1\] or localhost/,
      'http://evil.example/cb': /http only/,
      'HTTP://evil.example/cb': /http only/,
      'https://app.example.com/cb#frag': /fragment/,
      'http://127.0.0.1:/cb': /port/,
      'javascript:alert(1)': /private-use scheme/,
    };
    for (const [u, why] of Object.entries(bad)) {
      for (const opt of ['--redirect-uri', '--post-logout-redirect-uri']) {
        const r = runCli(dir, ['client', 'add'], ['--name', 'x', '--public', opt, u, '--redirect-uri', 'https://ok.example/cb']);
        assertFails(r, `${opt} ${u}`);
        assert.equal(r.status, 2, `${opt} ${u}: a usage error`);
        assert.match(r.stderr, why, `${opt} ${u}: says why`);
        assert.equal(r.stdout, '', `${opt} ${u}: registers nothing`);
      }
    }
    const ok = addClient(dir, { name: 'loopbacks', public: true, redirectUris: ['http://127.0.0.1/cb', 'http://[::1]:8080/cb', 'http://localhost:3000/cb', 'com.example.app:/cb'],
      postLogoutUris: ['http://localhost:3000/'] });
    assert.deepEqual(ok.redirect_uris, ['http://127.0.0.1/cb', 'http://[::1]:8080/cb', 'http://localhost:3000/cb', 'com.example.app:/cb']);
    assert.deepEqual(ok.post_logout_redirect_uris, ['http://localhost:3000/']);
  });

  it('client add refuses client_credentials for a public client (OAuth 2.1 §4.2)', () => {
    assertFails(runCli(dir, ['client', 'add'], ['--name', 'x', '--public', '--grant', 'client_credentials']), '--public with client_credentials');
    assertFails(runCli(dir, ['client', 'add'], ['--name', 'x', '--auth-method', 'none']), '--auth-method none with the default grant');
  });

  it('client list and show never print secrets', () => {
    const c = addClient(dir, { name: 'listed', scope: 'read' });
    const r = runCli(dir, ['client', 'list']);
    assert.equal(r.status, 0, r.stderr);
    const list = JSON.parse(r.stdout);
    assert.ok(Array.isArray(list));
    const mine = list.find((x) => x.client_id === c.client_id);
    assert.ok(mine, 'the new client is listed');
    assert.equal(mine.client_name, 'listed');
    for (const x of list) assert.equal(x.client_secret, undefined, 'list has no client_secret');
    assert.ok(!r.stdout.includes(c.client_secret), 'list output does not contain the secret');
    assert.ok(!/vk_cs_/.test(r.stdout), 'list output holds no vk_cs_ value');

    const s = runCli(dir, ['client', 'show'], [c.client_id]);
    assert.equal(s.status, 0, s.stderr);
    const shown = JSON.parse(s.stdout);
    assert.equal(shown.client_id, c.client_id);
    assert.equal(shown.client_name, 'listed');
    assert.equal(shown.scope, 'read');
    assert.equal(shown.client_secret, undefined);
    assert.ok(!/vk_cs_/.test(s.stdout), 'show output holds no vk_cs_ value');

    assertFails(runCli(dir, ['client', 'show'], ['no-such-client']), 'show unknown');
    assertFails(runCli(dir, ['client', 'remove'], ['no-such-client']), 'remove unknown');
    assertFails(runCli(dir, ['client', 'rotate-secret'], ['no-such-client']), 'rotate unknown');
  });
});

describe('CLI changes while the server runs', { timeout: 30000 }, () => {
  let dir, server;
  before(async () => {
    dir = mkDataDir();
    server = await startServer({ dataDir: dir });
  });
  after(async () => {
    await server?.stop();
    rmDataDir(dir);
  });

  it('a client added while running can get tokens at once', async () => {
    const c = addClient(dir, { name: 'late', scope: 'read' });
    await getToken(server, c);
  });

  it('rotate-secret: the old secret stops working immediately', async () => {
    const c = addClient(dir, { name: 'rot', scope: 'read' });
    const t = (await getToken(server, c)).access_token;
    const r = cliJson(dir, ['client', 'rotate-secret'], [c.client_id]);
    assert.equal(typeof r.client_secret, 'string');
    recordSecret(r.client_secret);
    assert.match(r.client_secret, SECRET_RE);
    assert.notEqual(r.client_secret, c.client_secret);
    await assertRefusedNow(server, c, 'old secret after rotate-secret');
    const fresh = { ...c, client_secret: r.client_secret };
    await getToken(server, fresh);
    // Introspection authenticates with the new secret and still sees the earlier token.
    await assertActive(server, fresh, t, 'token issued before the rotation');
    const old = await postForm(`${server.url}/introspect`, { token: t }, { headers: { authorization: basicAuth(c.client_id, c.client_secret) } });
    assertOAuthError(old, 401, 'invalid_client', 'introspection with the old secret');
  });

  it('remove: the client cannot authenticate any more', async () => {
    const c = addClient(dir, { name: 'gone', scope: 'read' });
    await getToken(server, c);
    const r = runCli(dir, ['client', 'remove'], [c.client_id]);
    assert.equal(r.status, 0, r.stderr);
    await assertRefusedNow(server, c, 'removed client');
    assertFails(runCli(dir, ['client', 'show'], [c.client_id]), 'show removed');
    const list = cliJson(dir, ['client', 'list']);
    assert.ok(!list.some((x) => x.client_id === c.client_id), 'removed client is not listed');
  });

  it('key list shows one active ES256 key and no private material', () => {
    const r = runCli(dir, ['key', 'list']);
    assert.equal(r.status, 0, r.stderr);
    const keys = JSON.parse(r.stdout);
    assert.ok(Array.isArray(keys) && keys.length >= 1, r.stdout);
    const active = keys.filter((k) => k.status === 'active' && k.alg === 'ES256');
    assert.equal(active.length, 1, `one active ES256 key: ${r.stdout}`);
    for (const k of keys) {
      assert.equal(typeof k.kid, 'string');
      assert.ok(['active', 'retired'].includes(k.status), `status ${k.status}`);
      assert.ok(k.created_at !== undefined, 'created_at');
      assert.equal(k.d, undefined, 'no private key member');
    }
    assert.ok(!/PRIVATE KEY/.test(r.stdout), 'no PEM private key in the output');
  });

  it('key rotate: new tokens use the new key within ~1 s; old tokens stay valid', async () => {
    const c = addClient(dir, { name: 'keys', scope: 'read' });
    const oldTok = (await getToken(server, c)).access_token;
    const oldKid = (await verifyAccessToken(server, oldTok)).protectedHeader.kid;

    const r = runCli(dir, ['key', 'rotate']);
    assert.equal(r.status, 0, r.stderr);
    const keys = cliJson(dir, ['key', 'list']);
    const active = keys.filter((k) => k.status === 'active' && k.alg === 'ES256');
    assert.equal(active.length, 1, `one active ES256 key after rotation: ${JSON.stringify(keys)}`);
    const newKid = active[0].kid;
    assert.notEqual(newKid, oldKid);
    assert.equal(keys.find((k) => k.kid === oldKid)?.status, 'retired', 'the old key is retired');

    let kid;
    const deadline = Date.now() + 3000; // contract: picked up within ~1 s
    const started = Date.now();
    while (Date.now() < deadline) {
      kid = (await verifyAccessToken(server, (await getToken(server, c)).access_token)).protectedHeader.kid;
      if (kid === newKid) break;
      await sleep(100);
    }
    assert.equal(kid, newKid, 'tokens are signed with the new key within 3 s');
    assert.ok(Date.now() - started <= 2000, `new key picked up after ${Date.now() - started} ms (contract ~1 s)`);

    const jwks = await (await fetch(`${server.url}/jwks.json`)).json();
    const kids = jwks.keys.map((k) => k.kid);
    assert.ok(kids.includes(oldKid), 'the retired key stays in /jwks.json');
    assert.ok(kids.includes(newKid), 'the new key is in /jwks.json');
    await verifyAccessToken(server, oldTok);
    await assertActive(server, c, oldTok, 'token signed by the retired key');
  });
});

describe('valetkey <command> --help', { timeout: 60000 }, () => {
  const commands = [
    ['serve'], ['client'], ['client', 'add'], ['client', 'list'], ['client', 'show'], ['client', 'remove'],
    ['client', 'rotate-secret'], ['user'], ['user', 'add'], ['user', 'list'], ['user', 'remove'],
    ['user', 'passwd'], ['key'], ['key', 'list'], ['key', 'rotate'], ['verify'],
  ];
  // Runs the binary in `cwd` with no VALETKEY_* in the environment; never throws.
  const run = (cwd, argv) => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME ?? '/' };
    const r = spawnSync(BIN, argv, { cwd, env, encoding: 'utf8', timeout: 10000 });
    return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };

  it('prints the usage on stdout, exits 0, and creates no data directory', () => {
    const cwd = mkDataDir();
    try {
      for (const words of commands) {
        for (const h of ['--help', '-h']) {
          for (const extra of [[], ['--data', path.join(cwd, 'named')], ['--config', path.join(cwd, 'missing.ini')]]) {
            const argv = [...words, ...extra, h];
            const r = run(cwd, argv);
            const what = `valetkey ${argv.join(' ')}`;
            assert.equal(r.status, 0, `${what}: exit 0; stderr ${r.stderr}`);
            assert.match(r.stdout, /^usage: valetkey /, `${what}: usage on stdout`);
            assert.ok(r.stdout.includes(`valetkey ${words[0]}`), `${what}: the usage of ${words[0]}`);
            if (words.length === 2 && words[0] !== 'user') {
              assert.ok(r.stdout.includes(`valetkey ${words.join(' ')}`), `${what}: the usage of ${words.join(' ')}`);
            }
            assert.equal(r.stderr, '', `${what}: nothing on stderr`);
          }
        }
      }
      const add = run(cwd, ['client', 'add', '--help']);
      for (const opt of ['--name', '--public', '--redirect-uri', '--grant', '--scope', '--resource', '--auth-method',
        '--introspect', '--access-token-ttl', '--first-party', '--post-logout-redirect-uri', '--id-token-alg']) {
        assert.ok(add.stdout.includes(opt), `client add --help describes ${opt}`);
      }
      const serve = run(cwd, ['serve', '--help']);
      for (const opt of ['--listen', '--issuer', '--insecure-http', '--audience', '--trusted-proxy']) {
        assert.ok(serve.stdout.includes(opt), `serve --help describes ${opt}`);
      }
      const viaHelp = run(cwd, ['help', 'client', 'add']);
      assert.equal(viaHelp.status, 0);
      assert.equal(viaHelp.stdout, add.stdout, 'valetkey help client add');
      assert.deepEqual(fs.readdirSync(cwd), [], 'no valetkey-data (nor the named --data directory) was created');
    } finally {
      rmDataDir(cwd);
    }
  });

  it('still sends usage errors to stderr with exit 2, without creating the data directory', () => {
    const cwd = mkDataDir();
    try {
      for (const argv of [['client', 'add', '--bogus'], ['client', 'add'], ['client', 'frobnicate'], ['client', 'list', 'x'],
        ['serve', '--bogus'], ['key', 'frobnicate'], ['key'], ['user', 'frobnicate'], ['user'], ['frobnicate'], []]) {
        const r = run(cwd, argv);
        assert.equal(r.status, 2, `valetkey ${argv.join(' ')}: exit 2`);
        assert.equal(r.stdout, '', `valetkey ${argv.join(' ')}: nothing on stdout`);
        assert.ok(r.stderr.length > 0, `valetkey ${argv.join(' ')}: says why on stderr`);
      }
      assert.deepEqual(fs.readdirSync(cwd), [], 'no data directory was created');
    } finally {
      rmDataDir(cwd);
    }
  });
});

describe('valetkey serve', { timeout: 180000 }, () => {
  it('exits 0 on SIGINT', async () => {
    const s = await startServer();
    await s.stop({ signal: 'SIGINT' });
  });

  it('exits 0 on SIGTERM with requests done on a kept-alive connection', async () => {
    const s = await startServer();
    const res = await fetch(`${s.url}/healthz`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await s.stop({ signal: 'SIGTERM' });
  });

  it('fails with a non-zero exit when the port is taken', async () => {
    const s = await startServer();
    try {
      const d = mkDataDir();
      const r = await new Promise((resolve) => {
        execFile(BIN, ['serve', '--data', d, '--listen', `127.0.0.1:${s.port}`],
          { timeout: 10000, env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/' } },
          (err, stdout, stderr) => resolve({ code: err?.code ?? 0, signal: err?.signal, stdout, stderr }));
      });
      rmDataDir(d);
      assert.equal(r.signal ?? null, null, `serve on a taken port was killed (${r.signal}) rather than exiting`);
      assert.notEqual(r.code, 0, 'serve on a taken port must exit non-zero');
      assert.ok(r.stderr.trim().length > 0, 'and say why on stderr');
      assert.ok(!r.stdout.includes('listening'), 'and not claim to listen');
    } finally {
      await s.stop();
    }
  });

  it('rejects an unknown option', () => {
    const d = mkDataDir();
    try {
      const r = runCli(d, ['serve'], ['--no-such-option']);
      assertFails(r, 'serve --no-such-option');
    } finally {
      rmDataDir(d);
    }
  });

  it('refuses a plain-http issuer beyond loopback unless --insecure-http, before touching the data directory', { timeout: 120000 }, async () => {
    const parent = mkDataDir();
    const d = path.join(parent, 'data');
    try {
      for (const [what, args, hint] of [
        ['explicit http issuer', ['--listen', '127.0.0.1:0', '--issuer', 'http://as.example.test'], /--issuer https:\/\//],
        ['http issuer on a LAN address', ['--listen', '127.0.0.1:0', '--issuer', 'http://192.0.2.10:8080'], /https/],
        ['derived issuer on a wildcard listener', ['--listen', '0.0.0.0:0'], /--issuer https:\/\//],
        ['derived issuer on the IPv6 wildcard', ['--listen', '[::]:0'], /--issuer https:\/\//],
        ['loopback http issuer on a wildcard listener', ['--listen', '0.0.0.0:0', '--issuer', 'http://127.0.0.1:8080'], /beyond loopback/],
      ]) {
        const r = runCli(d, ['serve'], args);
        assert.equal(r.status, 2, `${what}: exit 2; stderr ${r.stderr}`);
        assert.match(r.stderr, /--insecure-http/, `${what}: names the way out`);
        assert.match(r.stderr, hint, `${what}: says what to do`);
        assert.ok(!r.stdout.includes('listening'), `${what}: does not listen`);
        assert.ok(!fs.existsSync(d), `${what}: the data directory was not created`);
      }
      const cfg = path.join(parent, 'insecure.ini');
      fs.writeFileSync(cfg, 'insecure_http = maybe\n');
      const bad = runCli(d, ['serve'], ['--config', cfg, '--issuer', 'http://as.example.test']);
      assert.equal(bad.status, 2, 'insecure_http must be a boolean');
      assert.match(bad.stderr, /insecure_http must be true or false/);
    } finally {
      rmDataDir(parent);
    }
    // allowed: https issuers, loopback issuers, and plain http on request (the flag or the
    // config key). One data directory, so the signing keys are made once (RSA is slow under load).
    const ISS = 'http://as.example.test';
    const dir = mkDataDir();
    try {
      // 0600: every file in the data directory must be private (security.md, "The data directory")
      fs.writeFileSync(path.join(dir, 'cfg.ini'), 'insecure_http = true\n', { mode: 0o600 });
      for (const args of [['--issuer', ISS, '--insecure-http'], ['--issuer', ISS, '--config', path.join(dir, 'cfg.ini')],
        ['--issuer', 'https://as.example.test'], ['--issuer', 'http://localhost:9']]) {
        const issuer = args[1];
        const s = await startServer({ dataDir: dir, args, issuer, timeoutMs: 30000 });
        try {
          const meta = await (await fetch(`${s.url}/.well-known/oauth-authorization-server`)).json();
          assert.equal(meta.issuer, issuer);
          if (issuer === ISS) {
            await sleep(150);
            assert.match(s.log(), /event=server\.insecure_http/, 'a warning in the log');
          }
        } finally {
          await s.stop();
        }
      }
    } finally {
      rmDataDir(dir);
    }
  });
});
