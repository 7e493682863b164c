// The store under other processes and faults: administration commands and `sqlite3` working on
// the database while the server is under load (they must never crash it or reach a client as an
// error), and the refresh grace window's precision.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, mkDataDir, runCli, runCliAsync, addClient, recordSecret, recordTokens, sleep,
  FAULT_LIB,
} from '../lib/harness.mjs';
import { FORM, basicAuth, tokenRequest } from './lib/http.mjs';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'https://app.example.com/cb';
const b64url = (buf) => Buffer.from(buf).toString('base64url');

function pkce() {
  const verifier = b64url(crypto.randomBytes(32));
  return { verifier, challenge: b64url(crypto.createHash('sha256').update(verifier).digest()) };
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

function authorizeUrl(server, client, challenge, extra = {}) {
  const q = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, scope: 'openid',
    state: 'st-' + crypto.randomBytes(4).toString('hex'), code_challenge: challenge,
    code_challenge_method: 'S256', ...extra,
  });
  return `${server.url}/authorize?${q}`;
}

/** Signs `username` in through the login form; returns the session cookie header. */
async function signIn(server, client, username) {
  const { challenge } = pkce();
  const page = await fetch(authorizeUrl(server, client, challenge), { redirect: 'manual' });
  assert.equal(page.status, 200, 'the login page');
  const jar = page.headers.getSetCookie().map((c) => c.split(';')[0]);
  const fields = hiddenFields(await page.text());
  const post = await fetch(`${server.url}/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': FORM, cookie: jar.join('; ') },
    body: new URLSearchParams({ ...fields, username, password: PASSWORD }),
  });
  assert.equal(post.status, 303, `login -> redirect, got ${post.status}`);
  for (const c of post.headers.getSetCookie()) {
    recordSecret(c.split(';')[0].split('=')[1]);
    jar.push(c.split(';')[0]);
  }
  recordSecret(new URL(post.headers.get('location')).searchParams.get('code'));
  return jar.join('; ');
}

async function tokenPost(server, client, params) {
  const res = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': FORM, authorization: basicAuth(client.client_id, client.client_secret) },
    body: new URLSearchParams(params),
  });
  const text = await res.text();
  let json = {};
  try { json = JSON.parse(text); } catch { /* not JSON: kept as text for the message */ }
  recordTokens(json);
  return { status: res.status, json, text };
}

/** One code flow (a signed-in session: no login form) and its code exchange. */
async function codeAndExchange(server, client, cookie) {
  const { verifier, challenge } = pkce();
  const res = await fetch(authorizeUrl(server, client, challenge), { redirect: 'manual', headers: { cookie } });
  if (res.status !== 303) return { status: res.status, text: await res.text() };
  await res.arrayBuffer();
  const code = new URL(res.headers.get('location')).searchParams.get('code');
  if (code === null) return { status: 303, text: res.headers.get('location') };
  recordSecret(code);
  return tokenPost(server, client, {
    grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT,
  });
}

function runSqlite3(args) {
  return new Promise((resolve) => {
    execFile('sqlite3', args, { encoding: 'utf8', timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, err, stdout, stderr });
    });
  });
}
const haveSqlite3 = await runSqlite3(['-version']).then((r) => r.status === 0);

describe('administration while the server is under load', { timeout: 180000 }, () => {
  const SOAK_MS = Number(process.env.VALETKEY_STORE_SOAK_MS ?? 15000);
  // A steady trickle of commits is what the old crash needed, not saturation: the other test files
  // run beside this one on the same cores, and some of them count time.
  const PACE_MS = Number(process.env.VALETKEY_STORE_PACE_MS ?? 10);
  let dataDir, server, web, cc;

  before(async () => {
    dataDir = mkDataDir();
    for (const username of ['alice', 'bob']) {
      const u = runCli(dataDir, ['user', 'add'], ['--username', username], { input: PASSWORD + '\n' });
      assert.equal(u.status, 0, u.stderr);
    }
    recordSecret(PASSWORD);
    web = addClient(dataDir, {
      name: 'web', grants: ['authorization_code', 'refresh_token'], scope: 'openid',
      redirectUris: [REDIRECT], firstParty: true,
    });
    cc = addClient(dataDir, { name: 'cc', grants: ['client_credentials'], scope: 'read' });
    server = await startServer({ dataDir });
  });
  after(async () => { await server?.stop({ removeData: true }); });

  it('admin commands and sqlite3 never crash the server or surface as errors', async (t) => {
    if (!haveSqlite3) t.diagnostic('sqlite3 (Debian package sqlite3) is not installed: its part is skipped');
    const cookie = await signIn(server, web, 'alice');
    // The administration loop runs for SOAK_MS and at least MIN_ROUNDS rounds (a loaded machine
    // is slow), but never past three times SOAK_MS; the load runs until it is done.
    const MIN_ROUNDS = 5;
    const deadline = Date.now() + SOAK_MS, hardStop = Date.now() + 3 * SOAK_MS;
    let adminDone = false;
    const failures = [];
    const counts = { rounds: 0, code: 0, refresh: 0, cc: 0, cli: 0, sqlite3: 0 };
    const fail = (what, detail) => {
      if (failures.length < 20) failures.push(`${what}: ${String(detail).slice(0, 300)}`);
    };
    const crashed = () => server.exited !== null;

    // Load: code exchanges followed by a few refresh rotations, and client-credentials tokens.
    async function userLoad() {
      while (!adminDone && !crashed()) {
        let r;
        try { r = await codeAndExchange(server, web, cookie); } catch (e) { fail('code flow', e.message); break; }
        counts.code++;
        if (r.status !== 200) { fail(`code exchange HTTP ${r.status}`, r.text); continue; }
        let rt = r.json.refresh_token;
        for (let i = 0; i < 3 && !adminDone; i++) {
          let rr;
          try { rr = await tokenPost(server, web, { grant_type: 'refresh_token', refresh_token: rt }); } catch (e) { fail('refresh', e.message); break; }
          counts.refresh++;
          if (rr.status !== 200) { fail(`refresh HTTP ${rr.status}`, rr.text); break; }
          rt = rr.json.refresh_token;
        }
        await sleep(PACE_MS);
      }
    }
    async function ccLoad() {
      while (!adminDone && !crashed()) {
        let r;
        try { r = await tokenRequest(server, cc, { scope: 'read' }); } catch (e) { fail('client credentials', e.message); break; }
        counts.cc++;
        if (r.status !== 200) fail(`client credentials HTTP ${r.status}`, r.text);
        await sleep(PACE_MS);
      }
    }

    const cli = async (words, args = [], opts = {}) => {
      const r = await runCliAsync(dataDir, words, args, opts);
      counts.cli++;
      if (/locked|busy/i.test(r.stderr)) fail(`valetkey ${words.join(' ')} reported`, r.stderr);
      if (r.status !== 0) fail(`valetkey ${words.join(' ')} exited ${r.status} ${r.signal ?? ''}`, r.stderr);
      return r;
    };
    const json = (r) => { try { return JSON.parse(r.stdout); } catch { return null; } };

    // Administration: every command an operator may run while the server runs, in a loop.
    async function admin() {
      let i = 0;
      while ((Date.now() < deadline || i < MIN_ROUNDS) && Date.now() < hardStop && !crashed()) {
        i++;
        const added = json(await cli(['client', 'add'], ['--name', `tmp-${i}`, '--grant', 'client_credentials', '--scope', 'read']));
        if (added?.client_secret) recordSecret(added.client_secret);
        await cli(['client', 'list']);
        // The refusals below count against 127.0.0.1's budget of failed client authentications
        // (50 per 15 minutes): probe them in the first rounds only.
        const probe = i <= 8;
        if (added?.client_id) {
          const ok = await tokenRequest(server, added, { scope: 'read' });
          if (ok.status !== 200) fail('a client just added', `HTTP ${ok.status}`);
          const rotated = json(await cli(['client', 'rotate-secret'], [added.client_id]));
          if (rotated?.client_secret) recordSecret(rotated.client_secret);
          if (probe && rotated?.client_secret) {
            const old = await tokenRequest(server, added, { scope: 'read' });
            if (old.status !== 401) fail('the old secret right after rotate-secret', `HTTP ${old.status}`);
            const now = await tokenRequest(server, { ...added, client_secret: rotated.client_secret }, { scope: 'read' });
            if (now.status !== 200) fail('the new secret right after rotate-secret', `HTTP ${now.status}`);
          }
          await cli(['client', 'remove'], [added.client_id]);
          if (probe) {
            const gone = await tokenRequest(server, { ...added, client_secret: rotated?.client_secret ?? added.client_secret }, { scope: 'read' });
            if (gone.status !== 401) fail('a removed client', `HTTP ${gone.status}`);
          }
        }
        await cli(['user', 'passwd', 'bob', '--password-stdin'], [], { input: PASSWORD + '\n' });
        if (i % 8 === 1) await cli(['key', 'rotate']); // an RSA key each time: CPU-heavy
        await cli(['key', 'list']);
        if (haveSqlite3) {
          const q = await runSqlite3([path.join(dataDir, 'valetkey.db'), '.timeout 5000',
            'SELECT count(*) FROM clients; SELECT count(*) FROM refresh_tokens;']);
          counts.sqlite3++;
          if (q.status !== 0) fail('sqlite3', q.stderr || q.err?.message);
        }
        counts.rounds = i;
      }
      adminDone = true;
    }

    await Promise.all([userLoad(), userLoad(), ccLoad(), admin()]);
    t.diagnostic(`requests and commands: ${JSON.stringify(counts)}`);
    assert.equal(server.exited, null, `the server died during the run: ${JSON.stringify(server.exited)}`);
    assert.deepEqual(failures, [], 'no failures');
    assert.ok(counts.rounds >= MIN_ROUNDS && counts.code > 0 && counts.refresh > 0 && counts.cc > 0,
      `the run exercised every path: ${JSON.stringify(counts)}`);
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200, 'healthy after the run');
  });
});

describe('refresh grace window', { timeout: 60000 }, () => {
  let dataDir, server, web;
  before(async () => {
    dataDir = mkDataDir();
    const u = runCli(dataDir, ['user', 'add'], ['--username', 'alice'], { input: PASSWORD + '\n' });
    assert.equal(u.status, 0, u.stderr);
    recordSecret(PASSWORD);
    web = addClient(dataDir, {
      name: 'web', grants: ['authorization_code', 'refresh_token'], scope: 'openid',
      redirectUris: [REDIRECT], firstParty: true,
    });
    server = await startServer({ dataDir, args: ['--refresh-grace-seconds', '1'] });
  });
  after(async () => { await server?.stop({ removeData: true }); });

  it('--refresh-grace-seconds 1 lasts one second, not what is left of the current one', async () => {
    const cookie = await signIn(server, web, 'alice');
    const first = await codeAndExchange(server, web, cookie);
    assert.equal(first.status, 200, first.text);
    const rt0 = first.json.refresh_token;
    // Rotate late in a wall-clock second, so that a window counted in whole seconds would end
    // within ~300 ms, long before one second has passed. (Server and test share the clock.)
    while (Date.now() % 1000 < 650 || Date.now() % 1000 > 720) await sleep(5);
    const sent = Date.now();
    const rotated = await tokenPost(server, web, { grant_type: 'refresh_token', refresh_token: rt0 });
    const answered = Date.now();
    assert.equal(rotated.status, 200, rotated.text);
    // Half a second after sending: inside the window by 500 ms, yet in the next wall-clock second.
    await sleep(Math.max(0, sent + 500 - Date.now()));
    const replay = await tokenPost(server, web, { grant_type: 'refresh_token', refresh_token: rt0 });
    assert.equal(replay.status, 200,
      `a replay ${Date.now() - sent} ms after the rotation is inside a 1 s window: ${replay.text}`);
    assert.equal(replay.json.access_token, rotated.json.access_token, 'the same pair');
    assert.equal(replay.json.refresh_token, rotated.json.refresh_token, 'the same pair');
    // More than a second after the rotation arrived: reuse, and the family is revoked.
    await sleep(Math.max(0, answered + 1200 - Date.now()));
    const late = await tokenPost(server, web, { grant_type: 'refresh_token', refresh_token: rt0 });
    assert.equal(late.status, 400, late.text);
    assert.equal(late.json.error, 'invalid_grant');
    const next = await tokenPost(server, web, { grant_type: 'refresh_token', refresh_token: rotated.json.refresh_token });
    assert.equal(next.json.error, 'invalid_grant', 'the family was revoked by the late reuse');
  });
});

describe('a full disk', { timeout: 60000 }, () => {
  let dataDir, server, web, cc, flag;
  before(async () => {
    assert.ok(fs.existsSync(FAULT_LIB), `${FAULT_LIB} is missing: build it with make integration`);
    dataDir = mkDataDir();
    flag = path.join(os.tmpdir(), `valetkey-disk-full-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
    const u = runCli(dataDir, ['user', 'add'], ['--username', 'alice'], { input: PASSWORD + '\n' });
    assert.equal(u.status, 0, u.stderr);
    recordSecret(PASSWORD);
    web = addClient(dataDir, {
      name: 'web', grants: ['authorization_code', 'refresh_token'], scope: 'openid',
      redirectUris: [REDIRECT], firstParty: true,
    });
    cc = addClient(dataDir, { name: 'cc', grants: ['client_credentials'], scope: 'read' });
    // While `flag` exists, every write under the data directory fails with ENOSPC.
    server = await startServer({
      dataDir,
      env: { LD_PRELOAD: FAULT_LIB, VALETKEY_FAULT_DIR: fs.realpathSync(dataDir), VALETKEY_FAULT_DISK_FULL: flag },
    });
  });
  after(async () => {
    fs.rmSync(flag, { force: true });
    await server?.stop({ removeData: true });
  });

  async function health() {
    const res = await fetch(`${server.url}/healthz`);
    return { status: res.status, json: await res.json() };
  }

  it('shows on /healthz and in the error log, and /authorize redirects with temporarily_unavailable', async () => {
    const cookie = await signIn(server, web, 'alice');
    await signIn(server, web, 'alice'); // a second session, for the account page below
    assert.deepEqual(await health(), { status: 200, json: { status: 'ok', store: { reads: 'ok', writes: 'ok' } } });

    fs.writeFileSync(flag, '');
    const state = 'keep-me';
    const { challenge } = pkce();
    const res = await fetch(authorizeUrl(server, web, challenge, { state }), { redirect: 'manual', headers: { cookie } });
    assert.equal(res.status, 303, `a validated redirect URI gets the error: HTTP ${res.status} ${await res.text()}`);
    const loc = new URL(res.headers.get('location'));
    assert.equal(loc.origin + loc.pathname, REDIRECT);
    assert.equal(loc.searchParams.get('error'), 'temporarily_unavailable', 'RFC 6749 §4.1.2.1');
    assert.equal(loc.searchParams.get('state'), state);
    assert.equal(loc.searchParams.get('iss'), server.issuer, 'RFC 9207');
    assert.equal(loc.searchParams.get('code'), null);

    const h = await health();
    assert.equal(h.status, 503, 'degraded writes are not healthy');
    assert.equal(h.json.status, 'degraded');
    assert.equal(h.json.store.reads, 'ok');
    assert.equal(h.json.store.writes, 'failing');
    assert.ok(h.json.store.writes_failing_since > 1700000000 && h.json.store.write_failures >= 1, JSON.stringify(h.json));
    // Self-contained tokens need no write: still issued.
    assert.equal((await tokenRequest(server, cc, { scope: 'read' })).status, 200);
    // A sign-in whose session cannot be written goes back to the client the same way, never as
    // a bare JSON 503 in the user's browser.
    {
      const page = await fetch(authorizeUrl(server, web, challenge, { state }), { redirect: 'manual' });
      assert.equal(page.status, 200, 'the login page needs no write');
      const jar = page.headers.getSetCookie().map((c) => c.split(';')[0]);
      const login = await fetch(`${server.url}/login`, {
        method: 'POST', redirect: 'manual',
        headers: { 'content-type': FORM, cookie: jar.join('; ') },
        body: new URLSearchParams({ ...hiddenFields(await page.text()), username: 'alice', password: PASSWORD }),
      });
      for (const c of login.headers.getSetCookie()) recordSecret(c.split(';')[0].split('=')[1]);
      assert.equal(login.status, 303, `login with a failing store: HTTP ${login.status} ${await login.text()}`);
      const l = new URL(login.headers.get('location'));
      assert.equal(l.origin + l.pathname, REDIRECT);
      assert.equal(l.searchParams.get('error'), 'temporarily_unavailable');
      assert.equal(l.searchParams.get('state'), state);
    }
    // The account page reads without writing; a change it cannot write is an HTML page that says
    // nothing was changed, not a bare JSON 503 (issue 13).
    {
      const page = await fetch(`${server.url}/account`, { headers: { cookie } });
      const html = await page.text();
      assert.equal(page.status, 200, 'the account page needs no write');
      assert.match(html, /<li data-session="[0-9a-f]{32}">/, 'the other session is listed');
      const { csrf } = hiddenFields(html);
      const res = await fetch(`${server.url}/account`, {
        method: 'POST', redirect: 'manual',
        headers: { 'content-type': FORM, cookie },
        body: new URLSearchParams({ csrf, op: 'signout_others' }),
      });
      const body = await res.text();
      assert.equal(res.status, 503, `sign out others with a failing store: ${body.slice(0, 300)}`);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html\b/);
      assert.match(body, /Nothing was changed/);
      assert.equal(res.headers.get('location'), null);
      assert.equal(res.headers.getSetCookie().length, 0);
    }
    // A validation error is still the client's error, not ours.
    const bad = await fetch(authorizeUrl(server, web, challenge, { response_type: 'token' }), { redirect: 'manual', headers: { cookie } });
    assert.equal(new URL(bad.headers.get('location')).searchParams.get('error'), 'unsupported_response_type');
    await bad.arrayBuffer();
    // An unknown redirect URI is never redirected to, whatever the store does.
    const foreign = await fetch(authorizeUrl(server, web, challenge, { redirect_uri: 'https://evil.example/cb' }), { redirect: 'manual', headers: { cookie } });
    assert.equal(foreign.status, 400);
    assert.equal(foreign.headers.get('location'), null);
    await foreign.arrayBuffer();

    // The operator learns it from the log, at error level, once.
    let log = '';
    for (let i = 0; i < 50 && !/level=error event=store\.write_failed/.test(log); i++) {
      await sleep(100);
      log = server.log();
    }
    assert.match(log, /level=error event=store\.write_failed code=\d+ err="database or disk is full"/);
    assert.equal(log.match(/event=store\.write_failed/g).length, 1, 'one line when writes start failing');

    // Space again: /healthz notices by itself (a probe write), and codes are issued again.
    fs.rmSync(flag);
    let again;
    for (let i = 0; i < 40; i++) {
      again = await health();
      if (again.status === 200) break;
      await sleep(100);
    }
    assert.equal(again.status, 200, `recovered: ${JSON.stringify(again.json)}`);
    const ok = await codeAndExchange(server, web, cookie);
    assert.equal(ok.status, 200, ok.text);
    for (let i = 0; i < 50 && !/event=store\.write_recovered/.test(server.log()); i++) await sleep(100);
    assert.match(server.log(), /level=warn event=store\.write_recovered failures=\d+/);
  });
});
