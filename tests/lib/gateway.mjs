// An API gateway for the tests and the bench: `valetkey verify` and a real Debian nginx, each the
// test's own process on loopback (nginx with a generated configuration and its own prefix, pid,
// log and temporary directories -- never the system's service), stopped by PID.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { BIN, LOGDIR, sleep } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');
export const NGINX = process.env.VALETKEY_NGINX || '/usr/sbin/nginx';

let seq = 0;
const tag = path.basename(process.argv[1] || 'gateway', '.mjs').replace(/[^A-Za-z0-9_.-]/g, '_');
const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* gone */ }
  }
});

/** A loopback port free at the time of asking (nginx cannot report a port it chose). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, proc, what, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < end && i < 2000; i++) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${what} exited early`);
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('connect', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
}

function stopper(proc, what, logFile) {
  let exited = null;
  const exitP = new Promise((resolve) => proc.on('exit', (code, signal) => {
    live.delete(proc);
    exited = { code, signal };
    resolve(exited);
  }));
  return {
    get exited() { return exited; },
    async stop({ signal = 'SIGTERM', timeoutMs = 10000, expectCode = 0 } = {}) {
      if (exited) assert.fail(`${what} exited before the test stopped it (${JSON.stringify(exited)}); log: ${logFile}`);
      proc.kill(signal);
      let tm;
      const res = await Promise.race([exitP, new Promise((r) => { tm = setTimeout(() => r(null), timeoutMs); })]);
      clearTimeout(tm);
      if (res === null) {
        proc.kill('SIGKILL');
        await exitP;
        throw new Error(`${what} did not exit within ${timeoutMs} ms of ${signal}`);
      }
      if (expectCode !== null) assert.deepEqual(res, { code: expectCode, signal: null }, `${what} exit; log: ${logFile}`);
      return res;
    },
  };
}

/**
 * Starts `valetkey verify --listen 127.0.0.1:0 ARGS` and waits for its listening line. Returns
 * { url, port, logFile, log(), stop() }.
 */
export async function startVerify(args, { timeoutMs = 30000 } = {}) {
  const name = `${tag}-${process.pid}-${++seq}-verify`;
  const logFile = path.join(LOGDIR, `${name}.stderr.log`);
  const errFd = fs.openSync(logFile, 'a');
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VALETKEY_')) env[k] = v;
  const proc = spawn(BIN, ['verify', '--listen', '127.0.0.1:0', ...args], { env, stdio: ['ignore', 'pipe', errFd] });
  fs.closeSync(errFd);
  live.add(proc);
  const ctl = stopper(proc, 'valetkey verify', logFile);
  let out = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`valetkey verify did not start: ${fs.readFileSync(logFile, 'utf8')}`)), timeoutMs);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (c) => {
      out += c;
      const m = /^valetkey verify listening on (http:\/\/127\.0\.0\.1:(\d+))\n/m.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`valetkey verify exited (${code}) before listening: ${fs.readFileSync(logFile, 'utf8')}`));
    });
  });
  return {
    url, port: Number(new URL(url).port), logFile, proc,
    log: () => fs.readFileSync(logFile, 'utf8'),
    stop: (o) => ctl.stop(o),
  };
}

/**
 * The site configuration of docs/nginx.md -- the block that starts with the line
 * "# /etc/nginx/conf.d/api.example.com.conf" -- with its verifier and API ports, certificate and
 * key (and, without `cert`, TLS itself) replaced. Every replaced string must be present, so the
 * document cannot drift away from what the test runs.
 */
export function docsSiteConfig({ listenPort, verifyPort, apiPort, cert, key }) {
  const md = fs.readFileSync(path.join(REPO, 'docs', 'nginx.md'), 'utf8');
  const m = /```nginx\n(# \/etc\/nginx\/conf\.d\/api\.example\.com\.conf[\s\S]*?)```/.exec(md);
  assert.ok(m, 'docs/nginx.md has the site configuration block');
  let conf = m[1];
  const replace = (from, to) => {
    assert.ok(conf.includes(from), `docs/nginx.md's configuration contains ${JSON.stringify(from)}`);
    conf = conf.split(from).join(to);
  };
  replace('server 127.0.0.1:8081;', `server 127.0.0.1:${verifyPort};`);
  replace('server 127.0.0.1:9000;', `server 127.0.0.1:${apiPort};`);
  if (cert) {
    replace('listen 443 ssl;', `listen 127.0.0.1:${listenPort} ssl;`);
    replace('/etc/ssl/certs/api.example.com.pem', cert);
    replace('/etc/ssl/private/api.example.com.key', key);
  } else {
    replace('listen 443 ssl;', `listen 127.0.0.1:${listenPort};`);
    conf = conf.split('\n').filter((l) => !/^\s*ssl_certificate/.test(l)).join('\n');
  }
  return conf;
}

/** The test API behind nginx: echoes what reached it, identity headers included. */
export function echoApiConfig(port) {
  return `
server {
    listen 127.0.0.1:${port};
    keepalive_requests 100000;
    location / {
        default_type application/json;
        return 200 '{"sub":"$http_x_valetkey_sub","client":"$http_x_valetkey_client","scope":"$http_x_valetkey_scope","uri":"$request_uri","authorization":"$http_authorization","dpop":"$http_dpop"}';
    }
}
`;
}

/**
 * Starts nginx (the test's own master process, `daemon off`) with `siteConf` inside a generated
 * nginx.conf whose pid file, logs and temporary directories are under a new prefix. Waits until
 * every port in `ports` accepts connections. Returns { prefix, pid, errorLog(), reload(), stop() }.
 */
export async function startNginx(siteConf, { ports, workers = 1, timeoutMs = 15000, accessLog = false } = {}) {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'valetkey-gw-nginx-'));
  for (const d of ['logs', 'tmp']) fs.mkdirSync(path.join(prefix, d));
  // As root, nginx would run its workers as nobody, who cannot enter our private directories.
  const user = process.getuid && process.getuid() === 0 ? 'user root;' : '';
  const conf = `# generated by tests/lib/gateway.mjs
${user}
daemon off;
worker_processes ${workers};
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log notice;
events { worker_connections 4096; }
http {
    access_log ${accessLog ? `${prefix}/logs/access.log` : 'off'};
    client_body_temp_path ${prefix}/tmp/body;
    proxy_temp_path ${prefix}/tmp/proxy;
    fastcgi_temp_path ${prefix}/tmp/fastcgi;
    uwsgi_temp_path ${prefix}/tmp/uwsgi;
    scgi_temp_path ${prefix}/tmp/scgi;
    keepalive_requests 100000;
${siteConf}
}
`;
  const confFile = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(confFile, conf);
  try {
    execFileSync(NGINX, ['-t', '-p', prefix, '-c', confFile], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`nginx -t refused the configuration: ${e.stderr}\n${conf}`);
  }
  const logFile = path.join(LOGDIR, `${tag}-${process.pid}-${++seq}-nginx.log`);
  const fd = fs.openSync(logFile, 'a');
  const proc = spawn(NGINX, ['-p', prefix, '-c', confFile], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  live.add(proc);
  const ctl = stopper(proc, 'nginx', logFile);
  for (const p of ports) await waitForPort(p, proc, 'nginx', timeoutMs);
  const errorLog = () => {
    try { return fs.readFileSync(path.join(prefix, 'logs', 'error.log'), 'utf8'); } catch { return ''; }
  };
  return {
    prefix, pid: proc.pid, conf, errorLog,
    async stop() {
      // SIGQUIT: graceful; the master waits for its workers, then exits 0.
      try {
        await ctl.stop({ signal: 'SIGQUIT', expectCode: 0 });
      } finally {
        fs.copyFileSync(path.join(prefix, 'logs', 'error.log'), `${logFile}.error.log`);
        fs.rmSync(prefix, { recursive: true, force: true });
      }
    },
  };
}
