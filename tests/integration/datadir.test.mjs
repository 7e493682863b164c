// The data directory holds the signing keys, the CSRF key and password hashes: everything
// valetkey creates there is private to its user, and a directory or file in it that group or
// others can reach is refused -- by the server and by the administration commands alike -- with
// a message that names the path and the fix.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, addClient, mkDataDir, rmDataDir, runCli } from '../lib/harness.mjs';
import { getToken } from './lib/http.mjs';

const mode = (p) => fs.statSync(p).mode & 0o7777;
const octal = (m) => m.toString(8).padStart(4, '0');

/** `valetkey serve` that must fail: exits by itself, non-zero, never listening. */
function serveFails(dataDir, what) {
  const r = runCli(dataDir, ['serve'], ['--listen', '127.0.0.1:0']);
  assert.equal(r.signal, null, `${what}: serve must exit by itself (it was killed: it started?)`);
  assert.notEqual(r.status, 0, `${what}: serve must exit non-zero`);
  assert.ok(!r.stdout.includes('listening'), `${what}: serve must not listen; stdout ${r.stdout}`);
  return r.stderr;
}

describe('data directory permissions', { timeout: 60000 }, () => {
  it('everything valetkey creates is 0600 in a 0700 directory, under umask 022', async () => {
    const base = mkDataDir();
    const dir = path.join(base, 'fresh');
    const before = process.umask(0o022);
    let server;
    try {
      const client = addClient(dir, { scope: 'read' });
      assert.equal(octal(mode(dir)), '0700');
      server = await startServer({ dataDir: dir });
      await getToken(server, client);
      for (const f of fs.readdirSync(dir)) {
        assert.equal(octal(mode(path.join(dir, f))), '0600', `${f} while the server runs`);
      }
      assert.ok(fs.existsSync(path.join(dir, 'valetkey.db-wal')), 'the WAL exists and was checked');
    } finally {
      process.umask(before);
      await server?.stop();
      rmDataDir(base);
    }
  });

  it('a pre-existing 0755 data directory is refused, naming the path and the fix', () => {
    const base = mkDataDir();
    const dir = path.join(base, 'open');
    try {
      fs.mkdirSync(dir);
      fs.chmodSync(dir, 0o755);
      const err = serveFails(dir, 'serve on a 0755 directory');
      assert.ok(err.includes(`chmod 700 ${dir}`), err);
      // The administration commands open the same store: refused alike.
      const r = runCli(dir, ['client', 'add'], ['--name', 'x']);
      assert.notEqual(r.status, 0, 'client add on a 0755 directory must fail');
      assert.ok(r.stderr.includes(`chmod 700 ${dir}`), r.stderr);
      assert.deepEqual(fs.readdirSync(dir), [], 'nothing was created in it');
      fs.chmodSync(dir, 0o700);
      addClient(dir, { scope: 'read' });
    } finally {
      rmDataDir(base);
    }
  });

  it('a database file readable by others is refused, naming the file and the fix', () => {
    const dir = mkDataDir();
    try {
      addClient(dir, { scope: 'read' });
      const db = path.join(dir, 'valetkey.db');
      fs.chmodSync(db, 0o644); // as versions before this check left it
      const err = serveFails(dir, 'serve with a 0644 database');
      assert.ok(err.includes(`chmod 600 ${db}`), err);
      const r = runCli(dir, ['key', 'list']);
      assert.notEqual(r.status, 0);
      assert.ok(r.stderr.includes(db), r.stderr);
    } finally {
      rmDataDir(dir);
    }
  });
});
