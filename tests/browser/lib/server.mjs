// Harness for the browser suite: a fresh data directory per test file, the CLI (`user add`,
// `client add`), a real `valetkey serve` on 127.0.0.1:0 whose stderr (the log) goes to a file in
// $VALETKEY_TEST_LOGDIR, and the relying party's callback server. Every secret the tests see is
// appended to $VALETKEY_TEST_LOGDIR/secrets.txt; run.sh then greps each one in every log file.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Absolute path of the binary under test (run.sh exports it; default ../../build/valetkey). */
export const BIN = path.resolve(process.env.VALETKEY_BIN || path.join(here, '..', '..', '..', 'build', 'valetkey'));

/** Per-run log directory (run.sh creates it; a file run on its own makes one). */
export const LOGDIR = (() => {
  let dir = process.env.VALETKEY_TEST_LOGDIR;
  if (!dir) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'valetkey-browser-logs-'));
    process.env.VALETKEY_TEST_LOGDIR = dir;
    process.stderr.write(`# VALETKEY_TEST_LOGDIR not set; logs and secrets.txt go to ${dir}\n`);
  }
  fs.mkdirSync(dir, { recursive: true });
  return dir;
})();

const KEEP = process.env.VALETKEY_TEST_KEEP === '1';
const fileTag = path.basename(process.argv[1] || 'test', '.mjs').replace(/[^A-Za-z0-9_.-]/g, '_');
let seq = 0;
const nextName = (what) => `${fileTag}-${process.pid}-${++seq}-${what}`;

export const USERNAME = 'alice';
export const PASSWORD = 'correct horse battery staple';
export const USER_EMAIL = 'alice@example.com';
export const USER_NAME = 'Alice Example';
export const SCOPE = 'openid profile email';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Appends a value the tests have seen (secret, code, token, cookie) to secrets.txt. */
export function recordSecret(value) {
  if (typeof value !== 'string' || value.length === 0) return value;
  if (/[\r\n]/.test(value)) throw new Error('recordSecret: value contains a newline');
  fs.appendFileSync(path.join(LOGDIR, 'secrets.txt'), value + '\n');
  return value;
}

/** Records every token a token-endpoint response carries. */
export function recordTokens(json) {
  if (json && typeof json === 'object') {
    for (const k of ['access_token', 'refresh_token', 'id_token', 'client_secret']) {
      if (typeof json[k] === 'string') recordSecret(json[k]);
    }
  }
  return json;
}

// Our environment minus VALETKEY_* (which could point the binary at another data directory).
function childEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VALETKEY_')) env[k] = v;
  return env;
}

export function mkDataDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'valetkey-browser-data-'));
}

export function rmDataDir(dir) {
  if (!KEEP && dir) fs.rmSync(dir, { recursive: true, force: true });
}

const cliLog = () => path.join(LOGDIR, `cli-${fileTag}-${process.pid}.stderr.log`);

/** Runs `valetkey WORDS... --data DIR ARGS...`; returns { status, stdout, stderr, argv }. */
export function runCli(dataDir, words, args = [], { input = '' } = {}) {
  const argv = [...words, '--data', dataDir, ...args];
  let status = 0;
  let stdout = '';
  let stderr = '';
  try {
    stdout = execFileSync(BIN, argv, {
      env: childEnv(), encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 20000,
    });
  } catch (e) {
    if (e.code === 'ENOENT') throw new Error(`valetkey binary not found at ${BIN}`);
    status = e.status ?? -1;
    stdout = e.stdout?.toString() ?? '';
    stderr = e.stderr?.toString() ?? '';
  }
  fs.appendFileSync(cliLog(), `$ valetkey ${argv.join(' ')}\n[exit ${status}]\n${stderr}`);
  return { status, stdout, stderr, argv };
}

function cliJson(dataDir, words, args, opts) {
  const r = runCli(dataDir, words, args, opts);
  assert.equal(r.status, 0, `valetkey ${r.argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  try {
    return JSON.parse(r.stdout);
  } catch {
    return assert.fail(`valetkey ${r.argv.join(' ')} did not print JSON: ${JSON.stringify(r.stdout)}`);
  }
}

/** `valetkey user add` for alice, the password on stdin. Returns the printed user (with sub). */
export function addUser(dataDir, { username = USERNAME, password = PASSWORD } = {}) {
  recordSecret(password);
  const u = cliJson(dataDir, ['user', 'add'],
    ['--username', username, '--claim', `email=${USER_EMAIL}`, '--claim', `name=${USER_NAME}`],
    { input: `${password}\n` });
  assert.equal(typeof u.sub, 'string', `user add printed no sub: ${JSON.stringify(u)}`);
  return u;
}

/**
 * `valetkey client add` for the test app, redirect and post-logout URIs on the callback server.
 * opts: { public, firstParty, idTokenAlg, name }. Returns the printed client (secret recorded).
 */
export function addClient(dataDir, callback, opts = {}) {
  const args = ['--name', opts.name ?? 'Test App',
    '--redirect-uri', callback.redirectUri,
    '--post-logout-redirect-uri', callback.postLogoutUri,
    '--scope', SCOPE];
  if (opts.public) args.push('--public');
  if (opts.firstParty) args.push('--first-party');
  if (opts.idTokenAlg) args.push('--id-token-alg', opts.idTokenAlg);
  const c = cliJson(dataDir, ['client', 'add'], args);
  assert.equal(typeof c.client_id, 'string', `client add: no client_id in ${JSON.stringify(Object.keys(c))}`);
  if (opts.public) {
    assert.equal(c.client_secret, undefined, 'a public client must not get a secret');
  } else {
    assert.equal(typeof c.client_secret, 'string', 'client add: a confidential client needs a client_secret');
    recordSecret(c.client_secret);
  }
  return c;
}

/**
 * The relying party's redirect target: a node http server on 127.0.0.1 with a free port. It
 * records every request (path and query) and answers 200 "ok".
 */
export async function startCallbackServer() {
  const requests = [];
  const waiters = [];
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    const entry = { method: req.method, path: u.pathname, query: u.searchParams, url: u.href, at: Date.now() };
    requests.push(entry);
    for (const w of waiters.splice(0)) w();
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end('ok');
  });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address();
  const base = `http://127.0.0.1:${port}`;
  return {
    port,
    base,
    redirectUri: `${base}/cb`,
    postLogoutUri: `${base}/bye`,
    requests,
    /** Requests received so far for `pathname` ('/cb' by default). */
    hits(pathname = '/cb') { return requests.filter((r) => r.path === pathname); },
    /** Waits for the n-th (1-based, counted from the start) request to `pathname`. */
    async waitFor(n, pathname = '/cb', timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const h = requests.filter((r) => r.path === pathname);
        if (h.length >= n) return h[n - 1];
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(`callback server: no request #${n} to ${pathname} within ${timeoutMs} ms ` +
            `(got ${requests.map((r) => r.path).join(', ') || 'nothing'})`);
        }
        await new Promise((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => { clearTimeout(t); resolve(); });
        });
      }
    },
    close() {
      srv.closeAllConnections?.();
      return new Promise((resolve) => srv.close(() => resolve()));
    },
  };
}

const live = new Set();
function killAll() {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* gone */ }
  }
}
process.on('exit', killAll);

function readTail(file, n = 2000) {
  try {
    const s = fs.readFileSync(file, 'utf8');
    return JSON.stringify(s.length > n ? '...' + s.slice(-n) : s);
  } catch {
    return '""';
  }
}

/**
 * Starts `valetkey serve --data DIR --listen 127.0.0.1:0 [args]`, waits for
 * "valetkey listening on URL". stderr and stdout go to files in LOGDIR.
 * Returns { url, port, dataDir, logFile, log(), stop() }; stop() sends SIGTERM and asserts exit 0.
 */
export async function startServer({ dataDir, args = [], timeoutMs = 10000 }) {
  const name = nextName('server');
  const logFile = path.join(LOGDIR, `${name}.stderr.log`);
  const outFile = path.join(LOGDIR, `${name}.stdout.log`);
  const errFd = fs.openSync(logFile, 'a');
  const argv = ['serve', '--data', dataDir, '--listen', '127.0.0.1:0', ...args];
  const proc = spawn(BIN, argv, { env: childEnv(), stdio: ['ignore', 'pipe', errFd] });
  fs.closeSync(errFd);
  live.add(proc);
  let exited = null;
  const exitP = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      exited = { code, signal };
      resolve(exited);
    });
  });
  let stdoutText = '';
  const listening = new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk) => {
      fs.appendFileSync(outFile, chunk);
      stdoutText += chunk;
      const m = /^valetkey listening on (http:\/\/127\.0\.0\.1:(\d+))\r?\n/m.exec(stdoutText);
      if (m) resolve({ url: m[1], port: Number(m[2]) });
    });
    exitP.then(({ code, signal }) => reject(new Error(
      `valetkey ${argv.join(' ')} exited (code ${code}, signal ${signal}) before listening; ` +
      `stderr: ${readTail(logFile)}`)));
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(
      `valetkey serve printed no listening line within ${timeoutMs} ms; stdout ${JSON.stringify(stdoutText)}; ` +
      `stderr: ${readTail(logFile)}`)), timeoutMs);
  });
  let where;
  try {
    where = await Promise.race([listening, timeout]);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return {
    url: where.url,
    port: where.port,
    dataDir,
    logFile,
    argv,
    log: () => fs.readFileSync(logFile, 'utf8'),
    async stop({ timeoutMs: t = 8000 } = {}) {
      if (exited) {
        const log = fs.readFileSync(logFile, 'utf8');
        const why = /event=server\.stopping signal=(\d+)/.exec(log);
        assert.fail(`valetkey serve exited before the test stopped it (code ${exited.code}, signal ` +
          `${exited.signal})${why ? `: it logged that it received signal ${why[1]}, which this test never sends before stop() ` +
          '(another process on this machine signalled it)' : ''}; log tail: ${readTail(logFile)}`);
      }
      proc.kill('SIGTERM');
      let tm;
      const res = await Promise.race([exitP, new Promise((r) => { tm = setTimeout(() => r(null), t); })]);
      clearTimeout(tm);
      if (res === null) {
        proc.kill('SIGKILL');
        await exitP;
        assert.fail(`valetkey serve did not exit within ${t} ms of SIGTERM`);
      }
      assert.deepEqual(res, { code: 0, signal: null },
        `valetkey serve must exit with code 0 on SIGTERM; log tail: ${readTail(logFile)}`);
      return res;
    },
  };
}

export const insecure = { [oauth.allowInsecureRequests]: true };

/** OpenID Provider discovery with oauth4webapi (issuer = the server's URL). */
export async function discover(serverUrl) {
  const issuer = new URL(serverUrl);
  const res = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure });
  return oauth.processDiscoveryResponse(issuer, res);
}

/**
 * One test file's world: callback server, data dir with alice and the requested clients, a
 * running server, and its discovered metadata.
 *   clients: { key: { public, firstParty, idTokenAlg } }
 * Returns { callback, server, as, user, clients: { key: registered client }, dataDir, stop() }.
 */
export async function startEnv({ clients = { app: {} }, serveArgs = [] } = {}) {
  const callback = await startCallbackServer();
  const dataDir = mkDataDir();
  let server;
  try {
    const user = addUser(dataDir);
    const reg = {};
    for (const [key, opts] of Object.entries(clients)) reg[key] = { ...addClient(dataDir, callback, opts), opts };
    server = await startServer({ dataDir, args: serveArgs });
    const as = await discover(server.url);
    return {
      callback, server, as, user, clients: reg, dataDir,
      async stop() {
        try {
          await server.stop();
        } finally {
          await callback.close();
          rmDataDir(dataDir);
        }
      },
    };
  } catch (e) {
    if (server) await server.stop().catch(() => {});
    await callback.close();
    rmDataDir(dataDir);
    throw e;
  }
}
