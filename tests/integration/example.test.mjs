// examples/api_server: a C API built with pkg-config against libvaletkey, checking tokens minted
// by a real `valetkey serve` (keys found by discovery, fetched over loopback). 200 with the
// right scope, 403 insufficient_scope with WWW-Authenticate, 401 for no, forged, expired,
// foreign and wrong-audience tokens.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, addClient, mkDataDir, rmDataDir, recordSecret, sleep, LOGDIR } from '../lib/harness.mjs';
import { getToken } from './lib/http.mjs';
import { flipSignatureByte, algNone, tamperPayload } from './lib/forge.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLE = path.resolve(process.env.VALETKEY_EXAMPLE_BIN ||
  path.join(here, '..', '..', 'build', 'examples', 'api_server'));
const AUD = 'https://api.example/';

/** Starts the example against an issuer; resolves when it prints its listening line. */
async function startExample(issuer, extra = []) {
  const logFile = path.join(LOGDIR, `example-${process.pid}-${Date.now()}.stderr.log`);
  const errFd = fs.openSync(logFile, 'a');
  const proc = spawn(EXAMPLE, ['--issuer', issuer, '--audience', AUD, '--listen', '127.0.0.1:0',
    '--leeway', '0', ...extra], { stdio: ['ignore', 'pipe', errFd] });
  fs.closeSync(errFd);
  let out = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`api_server did not start: ${out}`)), 10000);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (c) => {
      out += c;
      const m = /^api_server listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`api_server exited (${code}): ${fs.readFileSync(logFile, 'utf8')}`));
    });
  });
  return {
    url,
    logFile,
    async stop() {
      const done = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
      proc.kill('SIGTERM');
      const r = await done;
      assert.deepEqual(r, { code: 0, signal: null }, 'api_server must exit cleanly on SIGTERM');
    },
  };
}

async function call(ex, method, p, headers = {}) {
  const res = await fetch(ex.url + p, { method, headers });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, www: res.headers.get('www-authenticate'), json, text };
}

const bearer = (t) => ({ authorization: `Bearer ${t}` });

describe('examples/api_server with libvaletkey', { timeout: 60000 }, () => {
  let dir, otherDir, server, other, ex, full, modelsOnly, quick, elsewhere, foreign;

  before(async () => {
    assert.ok(fs.existsSync(EXAMPLE), `${EXAMPLE} missing: run make examples`);
    dir = mkDataDir();
    otherDir = mkDataDir();
    full = addClient(dir, { name: 'full', scope: 'ai:models ai:chat', resources: [AUD] });
    modelsOnly = addClient(dir, { name: 'models', scope: 'ai:models', resources: [AUD] });
    quick = addClient(dir, { name: 'quick', scope: 'ai:models', resources: [AUD], ttl: 1 });
    elsewhere = addClient(dir, { name: 'elsewhere', scope: 'ai:models', resources: ['https://other.example/'] });
    foreign = addClient(otherDir, { name: 'foreign', scope: 'ai:models ai:chat', resources: [AUD] });
    server = await startServer({ dataDir: dir });
    other = await startServer({ dataDir: otherDir });
    ex = await startExample(server.issuer);
  });
  after(async () => {
    await ex?.stop();
    await server?.stop();
    await other?.stop();
    rmDataDir(dir);
    rmDataDir(otherDir);
  });

  const token = async (srv, client, scope) => recordSecret((await getToken(srv, client, { scope })).access_token);

  it('lets a token with the scope through (discovery, JWKS, signature, aud, scope)', async () => {
    const t = await token(server, full, 'ai:models ai:chat');
    let r = await call(ex, 'GET', '/v1/models', bearer(t));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.sub, full.client_id);
    assert.equal(r.json.client_id, full.client_id);
    r = await call(ex, 'POST', '/v1/chat', bearer(t));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.reply, 'hello');
    // Seen again: the library's cache answers; the answer is the same.
    r = await call(ex, 'GET', '/v1/models', bearer(t));
    assert.equal(r.status, 200, r.text);
  });

  it('answers 403 insufficient_scope with the scope it needs', async () => {
    const t = await token(server, modelsOnly, 'ai:models');
    assert.equal((await call(ex, 'GET', '/v1/models', bearer(t))).status, 200);
    const r = await call(ex, 'POST', '/v1/chat', bearer(t));
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.error, 'insufficient_scope');
    assert.match(r.www, /^Bearer realm="api_server", error="insufficient_scope", /);
    assert.match(r.www, /scope="ai:chat"/);
  });

  it('answers 401 without an error code when there is no token (RFC 6750 §3.1)', async () => {
    for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }]) {
      const r = await call(ex, 'GET', '/v1/models', headers);
      assert.equal(r.status, 401, r.text);
      assert.equal(r.www, 'Bearer realm="api_server", DPoP realm="api_server", algs="ES256 PS256 RS256 EdDSA"');
      assert.doesNotMatch(r.www, /error=/);
    }
    // A token in the query string is not a credential (RFC 9700 §4.3.2).
    const t = await token(server, full, 'ai:models');
    const r = await call(ex, 'GET', `/v1/models?access_token=${t}`);
    assert.equal(r.status, 401);
  });

  it('answers 401 invalid_token for forged, foreign, wrong-audience and expired tokens', async () => {
    const good = await token(server, full, 'ai:models');
    const forged = [
      flipSignatureByte(good),
      algNone(good),
      tamperPayload(good, (p) => { p.scope = 'ai:models ai:chat admin'; }),
      good.split('.').slice(0, 2).join('.') + '.',
    ];
    for (const f of forged) {
      const r = await call(ex, 'GET', '/v1/models', bearer(f));
      assert.equal(r.status, 401, `${r.text}`);
      assert.equal(r.json.error, 'invalid_token');
      assert.match(r.www, /^Bearer realm="api_server", error="invalid_token", error_description="[^"]+"/);
      for (const part of f.split('.').filter((x) => x.length > 8)) {
        assert.ok(!r.www.includes(part) && !r.text.includes(part), 'the answer must not echo the token');
      }
    }
    const fromOther = await token(other, foreign, 'ai:models');
    let r = await call(ex, 'GET', '/v1/models', bearer(fromOther));
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.error, 'invalid_token');
    const wrongAud = await token(server, elsewhere, 'ai:models');
    r = await call(ex, 'GET', '/v1/models', bearer(wrongAud));
    assert.equal(r.status, 401, r.text);
    assert.match(r.json.error_description, /not meant for this resource/);
    const short = await token(server, quick, 'ai:models');
    assert.equal((await call(ex, 'GET', '/v1/models', bearer(short))).status, 200);
    await sleep(2100);
    r = await call(ex, 'GET', '/v1/models', bearer(short));
    assert.equal(r.status, 401, r.text);
    assert.match(r.json.error_description, /expired/);
  });

  it('answers 400 invalid_request for a malformed Authorization header', async () => {
    const r = await call(ex, 'GET', '/v1/models', { authorization: 'Bearer a b' });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, 'invalid_request');
  });

  it('refuses a DPoP-scheme request with a bearer token, and a bearer token with a DPoP one', async () => {
    const t = await token(server, full, 'ai:models');
    const r = await call(ex, 'GET', '/v1/models', { authorization: `DPoP ${t}` });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.error, 'invalid_token');
    assert.match(r.www, /^DPoP realm="api_server", error="invalid_token"/);
  });

  it('keeps unknown paths and methods apart from authentication', async () => {
    assert.equal((await call(ex, 'GET', '/v1/nothing')).status, 404);
    assert.equal((await call(ex, 'DELETE', '/v1/models')).status, 405);
  });
});
