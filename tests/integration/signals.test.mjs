// SIGHUP (issue 6 item E): it must not kill the server or cut requests. With --log-file it
// reopens the log (what logrotate's postrotate expects); without one it is ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, addClient, mkDataDir, rmDataDir, sleep, LOGDIR } from '../lib/harness.mjs';
import { tokenRequest } from './lib/http.mjs';

/** Waits (bounded) until fn() is true. */
async function until(fn, ms = 5000) {
  const t0 = Date.now();
  while (!fn() && Date.now() - t0 < ms) await sleep(25);
  return fn();
}

const read = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');

test('SIGHUP reopens --log-file after a rotation, and requests in flight are not cut', { timeout: 60000 }, async () => {
  const dataDir = mkDataDir();
  const client = addClient(dataDir, { name: 'svc', scope: 'read' });
  // Inside the run's log directory, named *.log, so the leak check scans both files.
  const logFile = path.join(LOGDIR, `signals-${process.pid}-file.log`);
  const rotated = path.join(LOGDIR, `signals-${process.pid}-file.rotated.log`);
  const server = await startServer({ dataDir, args: ['--log-file', logFile] });
  try {
    assert.ok(await until(() => /event=server\.started/.test(read(logFile))), 'the log goes to the file');
    assert.doesNotMatch(server.log(), /event=server\.started/, 'and not to stderr');
    await (await fetch(`${server.url}/before-rotation`)).arrayBuffer();
    assert.ok(await until(() => read(logFile).includes('path=/before-rotation')));

    // logrotate: move the file away, then SIGHUP, while token requests are in flight.
    fs.renameSync(logFile, rotated);
    const burst = Array.from({ length: 40 }, () => tokenRequest(server, client));
    server.proc.kill('SIGHUP');
    const results = await Promise.all(burst.map((p) => p.then((r) => r.status, (e) => e.message)));
    assert.deepEqual(results.filter((s) => s !== 200), [], 'every request in flight is answered');
    assert.ok(await until(() => /event=log\.reopen result=ok/.test(read(logFile))), 'a new file is opened');
    await (await fetch(`${server.url}/after-rotation`)).arrayBuffer();
    assert.ok(await until(() => read(logFile).includes('path=/after-rotation')), 'new lines go to the new file');
    assert.ok(!read(rotated).includes('path=/after-rotation'), 'and not to the rotated one');
    assert.ok(read(rotated).includes('path=/before-rotation'));
    assert.equal(server.exited, null, 'the server is still running');
    await server.stop();
    assert.ok(await until(() => /event=server\.stopped/.test(read(logFile))));
  } finally {
    if (!server.exited) await server.stop();
    rmDataDir(dataDir);
  }
});

test('SIGHUP without --log-file is ignored', { timeout: 30000 }, async () => {
  const server = await startServer();
  try {
    server.proc.kill('SIGHUP');
    assert.ok(await until(() => /event=log\.reopen result=ignored/.test(server.log())));
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  } finally {
    await server.stop();
  }
});

test('--log-file that cannot be opened is a startup error', { timeout: 30000 }, async () => {
  await assert.rejects(startServer({ args: ['--log-file', '/nonexistent-dir/valetkey.log'] }),
    /cannot open log file \/nonexistent-dir\/valetkey\.log/);
});
