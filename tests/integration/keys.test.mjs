// Signing keys at rest: keys wrapped under a master key (--master-key-file), and the rotation
// limit that keeps every key that may have signed a live token in the JWKS. Through the CLI and
// running servers. The data directory's permissions: datadir.test.mjs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  startServer, addClient, mkDataDir, rmDataDir, runCli, runCliAsync, cliJson, recordSecret, sleep,
} from '../lib/harness.mjs';
import { getToken, assertActive } from './lib/http.mjs';
import { verifyAccessToken } from './lib/jwt.mjs';

const mode = (p) => fs.statSync(p).mode & 0o7777;
const octal = (m) => m.toString(8).padStart(4, '0');

// Tokens must stay valid across restarts on new ports: these servers all have one issuer.
const ISSUER = 'https://as.keys.example';
const startFixed = (dataDir, args = [], env = {}) =>
  startServer({ dataDir, args: ['--issuer', ISSUER, ...args], issuer: ISSUER, env });

/** Writes a master-key file (0600) with `content`; the key is recorded for the leak check. */
function writeKey(dir, name, content) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content, { mode: 0o600 });
  fs.chmodSync(p, 0o600);
  recordSecret(String(content).trim());
  return p;
}

/** `valetkey key new-master-key --out FILE`: returns { file, id }. */
function newMasterKey(dir, name) {
  const file = path.join(dir, name);
  const out = cliJson(dir, ['key', 'new-master-key'], ['--out', file]);
  assert.equal(out.master_key_file, file);
  assert.match(out.master_key_id, /^[0-9a-f]{16}$/);
  recordSecret(fs.readFileSync(file, 'utf8').trim());
  return { file, id: out.master_key_id };
}

/** Whether the database or its write-ahead log holds a private key in clear. */
function storeHoldsClearKeys(dataDir) {
  for (const f of ['valetkey.db', 'valetkey.db-wal']) {
    const p = path.join(dataDir, f);
    if (fs.existsSync(p) && fs.readFileSync(p).includes('PRIVATE KEY')) return true;
  }
  return false;
}

/** `valetkey serve` that must fail: exits by itself, non-zero, never listening. */
function serveFails(dataDir, args, what, opts = {}) {
  const r = runCli(dataDir, ['serve'], ['--listen', '127.0.0.1:0', ...args], opts);
  assert.equal(r.signal, null, `${what}: serve must exit by itself (it was killed: it started?)`);
  assert.notEqual(r.status, 0, `${what}: serve must exit non-zero`);
  assert.ok(!r.stdout.includes('listening'), `${what}: serve must not listen; stdout ${r.stdout}`);
  return r.stderr;
}

describe('signing keys at rest (--master-key-file)', { timeout: 120000 }, () => {
  let keys; // a private directory for master-key files, outside the data directories
  before(() => { keys = mkDataDir(); });
  after(() => rmDataDir(keys));

  it('key new-master-key makes a 0600 file, never overwrites one, and prints the key otherwise', () => {
    const before = process.umask(0o022); // what a shell usually has: the file must still be private
    try {
      const k = newMasterKey(keys, 'made.key');
      assert.equal(octal(mode(k.file)), '0600');
      const content = fs.readFileSync(k.file, 'utf8');
      assert.match(content, /^[A-Za-z0-9_-]{43}\n$/);
      const again = runCli(keys, ['key', 'new-master-key'], ['--out', k.file]);
      assert.notEqual(again.status, 0, 'an existing master key file must not be overwritten');
      assert.match(again.stderr, /made\.key/);
      assert.equal(fs.readFileSync(k.file, 'utf8'), content);
      const printed = runCli(keys, ['key', 'new-master-key']);
      assert.equal(printed.status, 0, printed.stderr);
      recordSecret(printed.stdout.trim());
      assert.match(printed.stdout, /^[A-Za-z0-9_-]{43}\n$/);
      assert.notEqual(printed.stdout, content);
    } finally {
      process.umask(before);
    }
  });

  it('serve --master-key-file: keys encrypted at rest, tokens verify; without it or with another key serve fails clearly', async () => {
    const dir = mkDataDir();
    const k1 = newMasterKey(keys, 'k1.key');
    const k2 = newMasterKey(keys, 'k2.key');
    let server = await startFixed(dir, ['--master-key-file', k1.file]);
    try {
      const client = addClient(dir, { scope: 'read' });
      const tok = (await getToken(server, client)).access_token;
      await verifyAccessToken(server, tok);
      await assertActive(server, client, tok, 'token signed by a wrapped key');
      const list = cliJson(dir, ['key', 'list']);
      assert.ok(list.length >= 2);
      for (const k of list) {
        assert.equal(k.encrypted, true, `key ${k.kid} is encrypted`);
        assert.equal(k.master_key_id, k1.id);
      }
      assert.equal(storeHoldsClearKeys(dir), false, 'no private key in clear in the database or its log');
      assert.doesNotMatch(server.log(), /event=keys\.unencrypted/);
      await server.stop();
      server = null;

      const none = serveFails(dir, [], 'serve without the master key');
      assert.ok(none.includes(k1.id), `names the master key it needs: ${none}`);
      assert.match(none, /--master-key-file/);
      const other = serveFails(dir, ['--master-key-file', k2.file], 'serve with another master key');
      assert.ok(other.includes(k1.id) && other.includes(k2.id), `names both master keys: ${other}`);
      // A rotation without the master key would store a key in clear: refused, nothing added.
      const rot = runCli(dir, ['key', 'rotate']);
      assert.notEqual(rot.status, 0, 'key rotate without the master key must fail');
      assert.ok(rot.stderr.includes(k1.id), rot.stderr);
      assert.equal(cliJson(dir, ['key', 'list']).length, list.length);

      // VALETKEY_MASTER_KEY_FILE names it too; the earlier token still verifies.
      server = await startFixed(dir, [], { VALETKEY_MASTER_KEY_FILE: k1.file });
      await verifyAccessToken(server, tok);
      await assertActive(server, client, tok, 'token from before the restart');
    } finally {
      await server?.stop();
      rmDataDir(dir);
    }
  });

  it('key rewrap to a new master key: serve works with the new key and fails with the old one', async () => {
    const dir = mkDataDir();
    const k1 = newMasterKey(keys, 'r1.key');
    const k2 = newMasterKey(keys, 'r2.key');
    let server = await startFixed(dir, ['--master-key-file', k1.file]);
    try {
      const client = addClient(dir, { scope: 'read' });
      const tok = (await getToken(server, client)).access_token;
      const kid = (await verifyAccessToken(server, tok)).protectedHeader.kid;
      await server.stop();
      server = null;

      const r = runCli(dir, ['key', 'rewrap'], ['--master-key-file', k1.file, '--new-master-key-file', k2.file]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /restart every server/);
      const list = JSON.parse(r.stdout);
      for (const k of list) assert.equal(k.master_key_id, k2.id, `key ${k.kid} is under the new master key`);
      assert.equal(storeHoldsClearKeys(dir), false);

      const old = serveFails(dir, ['--master-key-file', k1.file], 'serve with the old master key');
      assert.ok(old.includes(k2.id), `names the master key the keys are under now: ${old}`);
      // Without the current key nothing can be rewrapped.
      const blind = runCli(dir, ['key', 'rewrap'], ['--new-master-key-file', k1.file]);
      assert.notEqual(blind.status, 0);
      assert.ok(blind.stderr.includes(k2.id), blind.stderr);

      server = await startFixed(dir, ['--master-key-file', k2.file]);
      const again = await verifyAccessToken(server, tok);
      assert.equal(again.protectedHeader.kid, kid, 'the same signing key, re-encrypted');
      await assertActive(server, client, tok, 'token from before the rewrap');
      const fresh = (await getToken(server, client)).access_token;
      assert.equal((await verifyAccessToken(server, fresh)).protectedHeader.kid, kid);
    } finally {
      await server?.stop();
      rmDataDir(dir);
    }
  });

  it('keys in clear from a start without a master key are wrapped at the first start with one', async () => {
    const dir = mkDataDir();
    const k = newMasterKey(keys, 'late.key');
    let server = await startFixed(dir);
    try {
      assert.match(server.log(), /level=warn event=keys\.unencrypted/, 'a warning without a master key');
      const client = addClient(dir, { scope: 'read' });
      const tok = (await getToken(server, client)).access_token;
      for (const key of cliJson(dir, ['key', 'list'])) assert.equal(key.encrypted, false);
      await server.stop();
      server = null;
      assert.equal(storeHoldsClearKeys(dir), true, 'the state being fixed: keys in clear');

      server = await startFixed(dir, ['--master-key-file', k.file]);
      assert.match(server.log(), /event=keys\.wrapped count=2/);
      for (const key of cliJson(dir, ['key', 'list'])) assert.equal(key.master_key_id, k.id);
      await verifyAccessToken(server, tok);
      await assertActive(server, client, tok, 'token signed before the keys were wrapped');
      await server.stop();
      server = null;
      assert.equal(storeHoldsClearKeys(dir), false, 'the clear copies are gone from the files');
    } finally {
      await server?.stop();
      rmDataDir(dir);
    }
  });

  it('accepts the openssl rand forms (-hex 32, -base64 32, raw 32 bytes) of one key', () => {
    const dir = mkDataDir();
    try {
      const raw = crypto.randomBytes(32);
      const hex = writeKey(keys, 'hex.key', raw.toString('hex') + '\n');
      const b64 = writeKey(keys, 'b64.key', raw.toString('base64') + '\n');
      const bin = path.join(keys, 'raw.key');
      fs.writeFileSync(bin, raw, { mode: 0o600 });
      recordSecret(raw.toString('base64url'));
      const ids = new Set();
      for (const f of [hex, b64, bin]) {
        const list = cliJson(dir, ['key', 'rotate'], ['--master-key-file', f]);
        for (const k of list) ids.add(k.master_key_id);
      }
      assert.equal(ids.size, 1, `one master key id for the three forms: ${[...ids]}`);
      const bad = writeKey(keys, 'bad.key', 'not a key\n');
      const r = runCli(dir, ['key', 'rotate'], ['--master-key-file', bad]);
      assert.notEqual(r.status, 0);
      assert.ok(r.stderr.includes(bad), r.stderr);
    } finally {
      rmDataDir(dir);
    }
  });

  it('a master key file that group or others can read is refused, naming the file and the fix', () => {
    const dir = mkDataDir();
    try {
      const k = newMasterKey(keys, 'open.key');
      fs.chmodSync(k.file, 0o644);
      const err = serveFails(dir, ['--master-key-file', k.file], 'serve with a 0644 master key');
      assert.ok(err.includes(k.file), err);
      assert.ok(err.includes(`chmod 600 ${k.file}`), err);
      const rot = runCli(dir, ['key', 'rotate'], ['--master-key-file', k.file]);
      assert.notEqual(rot.status, 0);
      assert.ok(rot.stderr.includes(k.file), rot.stderr);
      assert.ok(!fs.existsSync(path.join(dir, 'valetkey.db')), 'refused before the store was touched');
    } finally {
      rmDataDir(dir);
    }
  });
});

describe('key rotation limit', { timeout: 180000 }, () => {
  it('refuses the rotation that would unpublish a live key, and says when; the oldest key still verifies', async () => {
    const dir = mkDataDir();
    const server = await startServer({ dataDir: dir });
    try {
      const client = addClient(dir, { scope: 'read' });
      const tok = (await getToken(server, client)).access_token;
      const kid0 = (await verifyAccessToken(server, tok)).protectedHeader.kid;

      // Each rotation publishes two more keys (ES256 + RS256): 2 + 15 * 2 = 32, the limit.
      // runCliAsync: the event loop stays free, so the client notices when the server closes
      // its idle keep-alive connection meanwhile.
      for (let i = 1; i <= 15; i++) {
        const r = await runCliAsync(dir, ['key', 'rotate'], [], { timeoutMs: 60000 });
        assert.equal(r.status, 0, `rotation ${i}: ${r.stderr}`);
      }
      const refused = await runCliAsync(dir, ['key', 'rotate'], [], { timeoutMs: 60000 });
      assert.notEqual(refused.status, 0, 'the 16th rotation within the publish window must be refused');
      assert.match(refused.stderr, /rotation refused/);
      const m = /possible at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \(in (\d+) s\)/.exec(refused.stderr);
      assert.ok(m, `says when a rotation is possible again: ${refused.stderr}`);
      const at = Date.parse(m[1]) / 1000;
      assert.ok(at > Date.now() / 1000, 'in the future');
      const list = cliJson(dir, ['key', 'list']);
      assert.equal(list.length, 32, 'nothing was added by the refused rotation');
      const oldest = list.find((k) => k.kid === kid0);
      assert.ok(oldest, 'the first key is still stored');
      assert.ok(Math.abs(at - oldest.published_until) <= 1,
        `possible when the first keys leave the JWKS (${oldest.published_until}), said ${at}`);

      // The server picks up the last rotation (within ~1 s) and publishes all 32 keys.
      const newest = list.find((k) => k.status === 'active' && k.alg === 'ES256').kid;
      let kids = [];
      for (const t0 = Date.now(); Date.now() - t0 < 5000; await sleep(100)) {
        kids = (await (await fetch(`${server.url}/jwks.json`)).json()).keys.map((k) => k.kid);
        if (kids.includes(newest)) break;
      }
      assert.ok(kids.includes(newest), 'the newest key is published');
      assert.equal(kids.length, 32, `all 32 keys are published: ${kids.length}`);
      assert.ok(kids.includes(kid0), 'the key that signed the live token is still published');
      await verifyAccessToken(server, tok); // jose against /jwks.json
      await assertActive(server, client, tok, 'token signed by the oldest key');
      assert.doesNotMatch(server.log(), /keys\.over_limit/);
    } finally {
      await server.stop();
      rmDataDir(dir);
    }
  });
});
