// Brute-force limits (docs/security.md, "Brute force"; issue 6 items 1, 2 and 9): nobody can
// lock a confidential client or a user out by failing on purpose, and successful logins are
// limited too. The server believes X-Forwarded-For from 127.0.0.1 (--trusted-proxy), so one
// test process can speak from many addresses.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startServer, mkDataDir, runCli, addClient, recordSecret, sleep } from '../lib/harness.mjs';
import { FORM, postForm, basicAuth, describe as desc } from './lib/http.mjs';

const REDIRECT = 'https://app.example.com/cb';

// --- clients ---------------------------------------------------------------------------------

// The limiter's window of a key in the layout before issue 6: 65,536 slots in windows of 16,
// the window chosen by the first four bytes of an unkeyed SHA-256 of "client_id|address".
const oldWindow = (key) => crypto.createHash('sha256').update(key).digest().readUInt32BE(0) % 4096;

/** Client ids (made up: they need not exist) whose key from `addr` lands in `target`'s window. */
function grindIds(target, addr, n) {
  const want = oldWindow(target);
  const out = [];
  for (let i = 0; out.length < n && i < 5_000_000; i++) {
    const id = `vk_c_${crypto.randomBytes(12).toString('base64url')}`;
    if (oldWindow(`${id}|${addr}`) === want) out.push(id);
  }
  assert.equal(out.length, n, 'grinding found the ids');
  return out;
}

const clientPost = (server, path, clientId, secret, params, xff) => postForm(
  `${server.url}${path}`, params,
  { headers: { authorization: basicAuth(clientId, secret), 'x-forwarded-for': xff } });

describe('client authentication cannot be locked out by strangers', { timeout: 120000 }, () => {
  let server, dataDir, victim;
  const ATTACKER = '203.0.113.66';
  const VICTIM_ADDR = '198.51.100.20';
  before(async () => {
    dataDir = mkDataDir();
    victim = addClient(dataDir, { name: 'victim', grants: ['client_credentials'], scope: 'read' });
    server = await startServer({ dataDir, args: ['--trusted-proxy', '127.0.0.1'] });
  });
  after(async () => { await server?.stop({ removeData: true }); });

  it('failures with ids ground against the limiter layout, and unknown ids, leave the victim a 200', async () => {
    // The attack of the review: 16 ids whose key lands in the victim's window, 20 bad Basic
    // requests each, then a few hundred random unknown ids, all from one address.
    const ground = grindIds(`${victim.client_id}|${VICTIM_ADDR}`, ATTACKER, 16);
    const bad = 'vk_cs_' + crypto.randomBytes(32).toString('base64url');
    recordSecret(bad);
    let refused = 0;
    for (const id of ground) {
      for (let i = 0; i < 20; i++) {
        const r = await clientPost(server, '/token', id, bad, { grant_type: 'client_credentials' }, ATTACKER);
        assert.equal(r.status, 401, desc(r));
        if (/too many/.test(r.json?.error_description ?? '')) refused++;
      }
    }
    for (let i = 0; i < 300; i++) {
      const id = `vk_c_${crypto.randomBytes(12).toString('base64url')}`;
      const r = await clientPost(server, '/token', id, bad, { grant_type: 'client_credentials' }, ATTACKER);
      assert.equal(r.status, 401, desc(r));
    }
    // The victim, from its own address, with its secret: /token, /introspect and /revoke work.
    const tok = await clientPost(server, '/token', victim.client_id, victim.client_secret,
      { grant_type: 'client_credentials', scope: 'read' }, VICTIM_ADDR);
    assert.equal(tok.status, 200, `the victim must get its token: ${desc(tok)}`);
    const at = tok.json.access_token;
    const intro = await clientPost(server, '/introspect', victim.client_id, victim.client_secret,
      { token: at }, VICTIM_ADDR);
    assert.equal(intro.status, 200, desc(intro));
    assert.equal(intro.json.active, true);
    const rev = await clientPost(server, '/revoke', victim.client_id, victim.client_secret,
      { token: at }, VICTIM_ADDR);
    assert.equal(rev.status, 200, desc(rev));
    // One address cannot grind many ids: its own budget ran out long before the end.
    assert.ok(refused > 200, `the attacker's address was refused only ${refused} times of 320`);
  });

  it("a stranger's failures against the victim's own id lock out only the stranger's address", async () => {
    const bad = 'vk_cs_' + crypto.randomBytes(32).toString('base64url');
    recordSecret(bad);
    const STRANGER = '192.0.2.200';
    let last;
    for (let i = 0; i < 25; i++) {
      last = await clientPost(server, '/token', victim.client_id, bad, { grant_type: 'client_credentials' }, STRANGER);
    }
    assert.match(last.json.error_description, /too many failed attempts/, desc(last));
    // Even the right secret is refused from the stranger's address now (no oracle while limited)...
    const there = await clientPost(server, '/token', victim.client_id, victim.client_secret,
      { grant_type: 'client_credentials' }, STRANGER);
    assert.equal(there.status, 401, desc(there));
    // ...and works from the victim's.
    const here = await clientPost(server, '/token', victim.client_id, victim.client_secret,
      { grant_type: 'client_credentials' }, VICTIM_ADDR);
    assert.equal(here.status, 200, desc(here));
  });
});

/** POST to /token with the X-Forwarded-For lines `xff` (an array: one header line each, as a
 * proxy that adds a line of its own, such as HAProxy, sends them). */
function tokenWithLines(server, clientId, secret, xff) {
  const body = 'grant_type=client_credentials';
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: server.port, path: '/token', method: 'POST', agent: false,
      headers: { 'content-type': FORM, 'content-length': body.length,
        authorization: basicAuth(clientId, secret), 'x-forwarded-for': xff },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('behind a proxy, the address it appended is the one counted', { timeout: 120000 }, () => {
  let server, dataDir, victim;
  before(async () => {
    dataDir = mkDataDir();
    victim = addClient(dataDir, { name: 'victim', grants: ['client_credentials'], scope: 'read' });
    server = await startServer({ dataDir, args: ['--trusted-proxy', '127.0.0.1'] });
  });
  after(async () => { await server?.stop({ removeData: true }); });

  it('a client line before the proxy line: strangers cannot exhaust a shared budget', async () => {
    // Until this was fixed, a request with two X-Forwarded-For lines was counted under the
    // proxy's own address, one bucket for every such client: a stranger's failures there locked
    // out the victim, whose own proxy (a corporate one) had added a line too.
    const bad = 'vk_cs_' + crypto.randomBytes(32).toString('base64url');
    recordSecret(bad);
    let last;
    for (let i = 0; i < 60; i++) {
      last = await tokenWithLines(server, `vk_c_${crypto.randomBytes(12).toString('base64url')}`,
        bad, ['127.0.0.1', '203.0.113.66']);
      assert.equal(last.status, 401, last.text);
    }
    assert.match(last.text, /too many failed attempts/, "the stranger's own address is limited");
    const ok = await tokenWithLines(server, victim.client_id, victim.client_secret,
      ['192.168.1.20', '198.51.100.20']);
    assert.equal(ok.status, 200, `the victim must get its token: ${ok.text}`);
  });

  it('an address:port entry counts as the address, whatever the port', async () => {
    const bad = 'vk_cs_' + crypto.randomBytes(32).toString('base64url');
    recordSecret(bad);
    let last;
    for (let i = 0; i < 60; i++) {
      last = await tokenWithLines(server, `vk_c_${crypto.randomBytes(12).toString('base64url')}`,
        bad, [`192.0.2.77:${40000 + i}`]);
    }
    assert.match(last.text, /too many failed attempts/, 'one address, however many ports');
    const ok = await tokenWithLines(server, victim.client_id, victim.client_secret, ['192.0.2.78:1234']);
    assert.equal(ok.status, 200, ok.text);
  });
});

// --- users -----------------------------------------------------------------------------------

function cookiesOf(res, jar = {}) {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar[pair.slice(0, i)] = pair.slice(i + 1);
    recordSecret(pair.slice(i + 1));
  }
  return jar;
}
const cookieHeader = (jar) => Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ');

function hiddenFields(html) {
  const out = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g))
    out[m[1]] = m[2].replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return out;
}

/** A browser: its cookie jar and the login form it was shown (CSRF cookie and hidden fields). */
async function browser(server, client, xff) {
  const q = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, scope: 'openid',
    state: 's', code_challenge: crypto.randomBytes(32).toString('base64url'), code_challenge_method: 'S256',
  });
  const res = await fetch(`${server.url}/authorize?${q}`, { redirect: 'manual', headers: { 'x-forwarded-for': xff } });
  assert.equal(res.status, 200, 'the login page');
  return { jar: cookiesOf(res), fields: hiddenFields(await res.text()), xff };
}

/** Posts the login form from browser b; keeps the cookies it is given. */
async function login(server, b, username, password) {
  const res = await fetch(`${server.url}/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': FORM, cookie: cookieHeader(b.jar), 'x-forwarded-for': b.xff },
    body: new URLSearchParams({ ...b.fields, username, password }),
  });
  cookiesOf(res, b.jar);
  const loc = res.headers.get('location');
  const code = loc ? new URL(loc).searchParams.get('code') : null;
  if (code) recordSecret(code);
  await res.text();
  return res;
}

function addUser(dataDir, username, password) {
  recordSecret(password);
  const u = runCli(dataDir, ['user', 'add'], ['--username', username], { input: password + '\n' });
  assert.equal(u.status, 0, u.stderr);
}

describe('users cannot be locked out by strangers; logins are limited', { timeout: 120000 }, () => {
  let server, dataDir, web;
  const PASSWORD = 'correct horse battery staple';
  before(async () => {
    dataDir = mkDataDir();
    addUser(dataDir, 'alice', PASSWORD);
    addUser(dataDir, 'bulk', PASSWORD);
    addUser(dataDir, 'dave', PASSWORD);
    addUser(dataDir, 'frank', PASSWORD);
    web = addClient(dataDir, { name: 'Web', redirectUris: [REDIRECT], scope: 'openid', firstParty: true });
    server = await startServer({ dataDir, args: ['--trusted-proxy', '127.0.0.1'] });
  });
  after(async () => { await server?.stop({ removeData: true }); });

  it('failures from six addresses delay strangers but not the owner with a device cookie', async () => {
    // The owner signs in once: the browser gets a device cookie.
    const owner = await browser(server, web, '192.0.2.10');
    const first = await login(server, owner, 'alice', PASSWORD);
    assert.equal(first.status, 303);
    assert.ok(owner.jar.vk_device, 'a successful login sets the device cookie');
    const set = first.headers.getSetCookie().find((c) => c.startsWith('vk_device='));
    assert.match(set, /; Max-Age=\d+; HttpOnly; SameSite=Lax/);

    // Failures from six addresses until the account makes strangers wait at least 4 s (so the
    // next requests surely fall inside the delay). Bounded in count and time.
    const attackers = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => browser(server, web, `198.51.100.${i}`)));
    const until = Date.now() + 40000;
    let retry = 0;
    for (let i = 0; retry < 4 && i < 200 && Date.now() < until; i++) {
      const r = await login(server, attackers[i % 6], 'alice', 'not the password ' + i);
      if (r.status === 429) {
        retry = Number(r.headers.get('retry-after'));
        assert.ok(retry >= 1 && retry <= 60, `the per-account delay is at most a minute, got ${retry}`);
        if (retry < 4) await sleep(retry * 1000);
      } else {
        assert.equal(r.status, 400);
      }
    }
    assert.ok(retry >= 4, 'the account was delayed');

    // The owner's browser with its device cookie: in at once, with the right password.
    const again = await login(server, owner, 'alice', PASSWORD);
    assert.equal(again.status, 303, `the owner with a device cookie must get in, got ${again.status}`);
    // A browser without one, even from the owner's address, pays the account's delay.
    const fresh = await browser(server, web, '192.0.2.10');
    const other = await login(server, fresh, 'alice', PASSWORD);
    assert.equal(other.status, 429);
    assert.ok(Number(other.headers.get('retry-after')) <= 60);
  });

  it('a device cookie has its own failure limit, so a stolen one cannot grind', async () => {
    const owner = await browser(server, web, '192.0.2.11');
    assert.equal((await login(server, owner, 'dave', PASSWORD)).status, 303);
    const thief = await browser(server, web, '203.0.113.9');
    thief.jar.vk_device = owner.jar.vk_device;
    // Five free failures, then a delay of 1 s doubling: on a slow machine (ASan, a loaded CI
    // box) one attempt can take seconds, so an attempt may come after a short delay ran out.
    // The delay doubles with every failure, so within 16 attempts (delay 2^10 s) one must land
    // inside it however slow the machine.
    const seen = [];
    for (let i = 0; i < 16 && !seen.includes(429); i++) {
      seen.push((await login(server, thief, 'dave', 'guess ' + i)).status);
    }
    assert.deepEqual(seen.slice(0, 5), [400, 400, 400, 400, 400], `statuses: ${seen}`);
    assert.ok(seen.includes(429), `the stolen cookie was never limited: ${seen}`);
    // The cookie names dave: for another account it counts for nothing.
    const forged = await browser(server, web, '203.0.113.10');
    forged.jar.vk_device = owner.jar.vk_device;
    assert.equal((await login(server, forged, 'bulk', PASSWORD)).status, 303);
  });

  it('successful logins are limited per account', async () => {
    const b = await browser(server, web, '192.0.2.50');
    const seen = [];
    for (let i = 0; i < 21; i++) seen.push((await login(server, b, 'frank', PASSWORD)).status);
    // 20 in any ten minutes, then one every 30 s.
    assert.deepEqual(seen.slice(0, 20), Array(20).fill(303));
    assert.equal(seen[20], 429);
  });
});

describe('device cookie on an https issuer', { timeout: 60000 }, () => {
  let server, dataDir, web;
  before(async () => {
    dataDir = mkDataDir();
    addUser(dataDir, 'carol', 'carol password 1234');
    web = addClient(dataDir, { name: 'Web', redirectUris: [REDIRECT], scope: 'openid', firstParty: true });
    server = await startServer({ dataDir, args: ['--issuer', 'https://as.example.test'] });
  });
  after(async () => { await server?.stop({ removeData: true }); });

  it('is __Host- prefixed and Secure, like the session cookie', async () => {
    const b = await browser(server, web, '192.0.2.1');
    const res = await login(server, b, 'carol', 'carol password 1234');
    assert.equal(res.status, 303);
    const set = res.headers.getSetCookie().find((c) => c.startsWith('__Host-vk_device='));
    assert.ok(set, `Set-Cookie: ${res.headers.getSetCookie().map((c) => c.split('=')[0]).join(', ')}`);
    assert.match(set, /; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax; Secure$/);
  });
});

describe('a login flood', { timeout: 120000 }, () => {
  let server, dataDir, web, svc;
  before(async () => {
    dataDir = mkDataDir();
    addUser(dataDir, 'erin', 'erin password 1234');
    web = addClient(dataDir, { name: 'Web', redirectUris: [REDIRECT], scope: 'openid', firstParty: true });
    svc = addClient(dataDir, { name: 'svc', grants: ['client_credentials'], scope: 'read' });
    server = await startServer({ dataDir, args: ['--trusted-proxy', '127.0.0.1'] });
  });
  after(async () => { await server?.stop({ removeData: true }); });

  it('gets 503 + Retry-After at once when the password pool is full, and /token keeps answering', async () => {
    // Issue 6 item 2: Argon2 verifications waited on a semaphore inside the HTTP worker
    // threads, so a flood queued up there (and every connection on those threads with it). Now
    // they run on a bounded pool, and what does not fit is answered at once. 120 logins at the
    // same time, each from its own address and for its own (unknown) name so no limit refuses
    // them first: far more than a pool of one thread per CPU and a queue of four per thread.
    const page = await browser(server, web, '192.0.2.1');
    const flood = Array.from({ length: 120 }, async (_, i) => {
      const b = { ...page, xff: `10.1.${i >> 8}.${i & 255}` };
      const t = Date.now();
      const res = await login(server, b, `nobody-${i}`, 'wrong password');
      return { status: res.status, retry: res.headers.get('retry-after'), ms: Date.now() - t };
    });
    // Meanwhile, client-credentials tokens.
    const tokens = (async () => {
      const seen = [];
      for (let i = 0; i < 10; i++) {
        const r = await postForm(`${server.url}/token`, { grant_type: 'client_credentials' },
          { headers: { authorization: basicAuth(svc.client_id, svc.client_secret) } });
        seen.push(r.status);
      }
      return seen;
    })();
    const results = await Promise.all(flood);
    const busy = results.filter((r) => r.status === 503);
    assert.ok(busy.length > 0, `no login was answered 503: ${JSON.stringify(results.map((r) => r.status))}`);
    for (const r of busy) assert.equal(r.retry, '2', '503 carries Retry-After');
    for (const r of results) assert.ok([400, 503].includes(r.status), `unexpected ${r.status}`);
    assert.deepEqual(await tokens, Array(10).fill(200));
  });
});
