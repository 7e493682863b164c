// The one test harness of the integration and browser suites: fresh data directories, the CLI,
// and real `valetkey serve` processes on 127.0.0.1:0 whose stderr (the log) goes to a file that
// the log-leak check (tests/lib/leakcheck.mjs, run by tests/lib/run-suite.sh) scans for every
// secret recorded here. Node built-ins only, so both suites can import it whatever their
// node_modules hold.
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Absolute path of the binary under test. */
export const BIN = path.resolve(process.env.VALETKEY_BIN || path.join(here, '..', '..', 'build', 'valetkey'));

/** The test-only preload that makes a data directory's disk look full (tests/lib/fault_disk_full.c),
 * built beside the binary by `make integration`. */
export const FAULT_LIB = path.join(path.dirname(BIN), 'tests', 'libvkfault.so');

/** Per-run log directory (run.sh creates it and exports VALETKEY_TEST_LOGDIR). */
export const LOGDIR = (() => {
  let dir = process.env.VALETKEY_TEST_LOGDIR;
  if (!dir) {
    // Running a test file directly (node --test file): make a directory of our own.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'valetkey-test-logs-'));
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

/** Append a value the tests have seen (secret, token, credential) to secrets.txt. */
export function recordSecret(value) {
  if (typeof value !== 'string' || value.length === 0) return value;
  if (/[\r\n]/.test(value)) throw new Error('recordSecret: value contains a newline');
  fs.appendFileSync(path.join(LOGDIR, 'secrets.txt'), value + '\n');
  return value;
}

/** Records every token a token-endpoint response (or `client add` output) carries. */
export function recordTokens(json) {
  if (json && typeof json === 'object') {
    for (const k of ['access_token', 'refresh_token', 'id_token', 'client_secret']) {
      if (typeof json[k] === 'string') recordSecret(json[k]);
    }
  }
  return json;
}

// The environment every child gets: ours minus any VALETKEY_* setting that could point the
// binary at another data directory or configuration.
function childEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VALETKEY_')) env[k] = v;
  return env;
}

/** A fresh, empty data directory under the system temp dir. */
export function mkDataDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'valetkey-test-data-'));
}

export function rmDataDir(dir) {
  if (!KEEP && dir) fs.rmSync(dir, { recursive: true, force: true });
}

const cliLog = () => path.join(LOGDIR, `cli-${fileTag}-${process.pid}.stderr.log`);

/**
 * Runs `valetkey WORD... --data DIR REST...` and returns { status, stdout, stderr }.
 * `words` are the command words (e.g. ['client', 'add']); `args` follow --data DIR.
 * The stderr of every CLI run is kept in the log directory (it is scanned for leaks too).
 * `env` adds variables (e.g. VALETKEY_MASTER_KEY_FILE) to the child's cleaned environment.
 */
export function runCli(dataDir, words, args = [], { input, env = {} } = {}) {
  const argv = [...words, '--data', dataDir, ...args];
  // spawnSync, not execFileSync: stderr is kept on success too (warnings, notes), for the tests
  // and for the leak check.
  const r = spawnSync(BIN, argv, {
    env: { ...childEnv(), ...env },
    encoding: 'utf8',
    input: input ?? '',
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 20000,
  });
  if (r.error?.code === 'ENOENT') throw new Error(`valetkey binary not found at ${BIN}`);
  const status = r.status ?? -1;
  const signal = r.signal ?? null;
  const stdout = r.stdout ?? '';
  const stderr = r.stderr ?? '';
  fs.appendFileSync(cliLog(), `$ valetkey ${argv.join(' ')}\n[exit ${status}${signal ? ' ' + signal : ''}]\n${stderr}`);
  return { status, signal, stdout, stderr, argv };
}

/**
 * runCli without blocking the event loop (for tests that keep a server under load meanwhile):
 * resolves to { status, signal, stdout, stderr, argv }; stderr goes to the same log.
 */
export function runCliAsync(dataDir, words, args = [], { input, timeoutMs = 20000 } = {}) {
  const argv = [...words, '--data', dataDir, ...args];
  return new Promise((resolve, reject) => {
    const child = execFile(BIN, argv, { env: childEnv(), encoding: 'utf8', timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err && err.code === 'ENOENT') {
          reject(new Error(`valetkey binary not found at ${BIN}`));
          return;
        }
        const status = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        const signal = err?.signal ?? null;
        fs.appendFileSync(cliLog(), `$ valetkey ${argv.join(' ')}\n[exit ${status}${signal ? ' ' + signal : ''}]\n${stderr}`);
        resolve({ status, signal, stdout, stderr, argv });
      });
    // A command that does not read stdin may exit before we write: that EPIPE is not an error.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** Runs a CLI command that must succeed and print JSON; returns the parsed value. */
export function cliJson(dataDir, words, args = [], opts = {}) {
  const r = runCli(dataDir, words, args, opts);
  assert.equal(r.status, 0, `valetkey ${r.argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  try {
    return JSON.parse(r.stdout);
  } catch {
    assert.fail(`valetkey ${r.argv.join(' ')} did not print JSON: ${JSON.stringify(r.stdout)}`);
  }
}

/**
 * `valetkey client add` with options { name, grants[], scope, resources[], ttl, authMethod,
 * redirectUris[], postLogoutUris[], public, firstParty, idTokenAlg, extra[] }. Returns the
 * printed object; the secret (a confidential client must get one) is recorded.
 */
export function addClient(dataDir, opts = {}) {
  const args = ['--name', opts.name ?? `client-${seq + 1}`];
  for (const g of opts.grants ?? []) args.push('--grant', g);
  if (opts.scope !== undefined) args.push('--scope', opts.scope);
  for (const r of opts.resources ?? []) args.push('--resource', r);
  for (const u of opts.redirectUris ?? []) args.push('--redirect-uri', u);
  for (const u of opts.postLogoutUris ?? []) args.push('--post-logout-redirect-uri', u);
  if (opts.ttl !== undefined) args.push('--access-token-ttl', String(opts.ttl));
  if (opts.authMethod !== undefined) args.push('--auth-method', opts.authMethod);
  if (opts.public) args.push('--public');
  if (opts.firstParty) args.push('--first-party');
  if (opts.idTokenAlg) args.push('--id-token-alg', opts.idTokenAlg);
  args.push(...(opts.extra ?? []));
  const c = cliJson(dataDir, ['client', 'add'], args);
  assert.equal(typeof c.client_id, 'string', `client add: no client_id in ${JSON.stringify(Object.keys(c))}`);
  if (opts.public || ['none', 'tls_client_auth', 'self_signed_tls_client_auth'].includes(opts.authMethod)) {
    assert.equal(c.client_secret, undefined, 'a public or certificate-authenticated client must not get a secret');
  } else {
    assert.equal(typeof c.client_secret, 'string', 'client add: a confidential client needs a client_secret');
    recordSecret(c.client_secret);
  }
  return c;
}

const live = new Set();
function killAll() {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* gone */ }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { killAll(); process.exit(130); });
}

/**
 * Starts `valetkey serve --data DIR --listen 127.0.0.1:0 [args]` and waits for its
 * "valetkey listening on URL" line. Returns a handle: { url, issuer, port, dataDir, logFile,
 * proc, log(), stop({signal}) }. stop() asserts a clean exit (code 0). `env` adds variables to
 * the server's environment (tests only: e.g. a fault-injection preload).
 */
export async function startServer({ dataDir, args = [], issuer, timeoutMs = 30000, env = {} } = {}) {
  const dir = dataDir ?? mkDataDir();
  const name = nextName('server');
  const logFile = path.join(LOGDIR, `${name}.stderr.log`);
  const outFile = path.join(LOGDIR, `${name}.stdout.log`);
  const errFd = fs.openSync(logFile, 'a');
  const argv = ['serve', '--data', dir, '--listen', '127.0.0.1:0', ...args];
  const proc = spawn(BIN, argv, { env: { ...childEnv(), ...env }, stdio: ['ignore', 'pipe', errFd] });
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
  const spawnErr = new Promise((_, reject) => proc.on('error', reject));

  let stdoutText = '';
  const listening = new Promise((resolve, reject) => {
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk) => {
      fs.appendFileSync(outFile, chunk);
      stdoutText += chunk;
      // http or https (--tls-cert); a wildcard listener is reached through loopback.
      const m = /^valetkey listening on ((https?):\/\/(\S+):(\d+))\r?\n/m.exec(stdoutText);
      if (m) {
        const host = m[3] === '0.0.0.0' ? '127.0.0.1' : m[3] === '[::]' ? '[::1]' : m[3];
        resolve({ printed: m[1], url: `${m[2]}://${host}:${m[4]}`, port: Number(m[4]) });
      }
    });
    exitP.then(({ code, signal }) => reject(new Error(
      `valetkey ${argv.join(' ')} exited (code ${code}, signal ${signal}) before listening; ` +
      `stdout: ${JSON.stringify(stdoutText)}; stderr: ${readTail(logFile)}`)));
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(
      `valetkey serve did not print its listening line within ${timeoutMs} ms; ` +
      `stdout: ${JSON.stringify(stdoutText)}; stderr: ${readTail(logFile)}`)), timeoutMs);
  });
  let where;
  try {
    where = await Promise.race([listening, timeout, spawnErr]);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  assert.equal(
    stdoutText.split('\n')[0],
    `valetkey listening on ${where.printed}`,
    'the listening line must be the first line on stdout',
  );

  const handle = {
    url: where.url,
    port: where.port,
    issuer: issuer ?? where.url,
    dataDir: dir,
    logFile,
    proc,
    argv,
    log: () => fs.readFileSync(logFile, 'utf8'),
    stdout: () => stdoutText,
    get exited() { return exited; },
    async stop({ signal = 'SIGTERM', timeoutMs: t = 8000, removeData = dataDir === undefined } = {}) {
      if (exited) {
        if (removeData) rmDataDir(dir);
        const why = /event=server\.stopping signal=(\d+)/.exec(fs.readFileSync(logFile, 'utf8'));
        const cause = why
          ? `: it logged that it received signal ${why[1]}, which this test never sends before ` +
            'stop() (another process on this machine signalled it)'
          : ': it crashed';
        assert.fail(`valetkey serve exited before the test stopped it (code ${exited.code}, ` +
          `signal ${exited.signal})${cause}; log tail: ${readTail(logFile)}`);
      }
      proc.kill(signal);
      let tm;
      const res = await Promise.race([
        exitP,
        new Promise((resolve) => { tm = setTimeout(() => resolve(null), t); }),
      ]);
      clearTimeout(tm);
      if (res === null) {
        proc.kill('SIGKILL');
        await exitP;
        throw new Error(`valetkey serve did not exit within ${t} ms of ${signal}`);
      }
      if (removeData) rmDataDir(dir);
      assert.deepEqual(res, { code: 0, signal: null },
        `valetkey serve must exit with code 0 on ${signal}; log tail: ${readTail(logFile)}`);
      return res;
    },
  };
  return handle;
}

function readTail(file, n = 2000) {
  try {
    const s = fs.readFileSync(file, 'utf8');
    return JSON.stringify(s.length > n ? '...' + s.slice(-n) : s);
  } catch {
    return '""';
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
