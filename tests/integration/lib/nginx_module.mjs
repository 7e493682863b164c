// Debian's nginx with ngx_http_valetkey_module loaded, started by a test on loopback with its own
// prefix, configuration, pid file and temp directories (never the system service), stopped by
// the PID in its own pid file. It runs as a daemon: nginx refuses a binary upgrade (USR2) in a
// master whose parent is still the process that started it. Its error and access logs go to the run's log
// directory, so the log-leak check scans them. Under AddressSanitizer (make asan) the module is
// built with clang's ASan and the stock nginx runs with the sanitizer runtime preloaded
// (VALETKEY_NGINX_PRELOAD); stop() then fails the test on any ASan report, and on any leak whose
// allocation stack passes through the module or libvaletkey.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { LOGDIR, sleep } from '../../lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const NGINX = process.env.VALETKEY_NGINX || '/usr/sbin/nginx';
export const MODULE = path.resolve(process.env.VALETKEY_NGINX_MODULE ||
  path.join(here, '..', '..', '..', 'build', 'nginx', 'ngx_http_valetkey_module.so'));
const PRELOAD = process.env.VALETKEY_NGINX_PRELOAD || '';

/** A free loopback port (bound and released: a tiny race that tests tolerate). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * One HTTP/1.1 request on a new connection (no keep-alive: a reload closes idle connections, and
 * the race of a request sent on one is the client's to retry, not a failure of the server).
 * Returns { status, headers, body, json }.
 */
export function request(port, { method = 'GET', path: p = '/', headers = {}, body, timeoutMs = 10000, tls } = {}) {
  return new Promise((resolve, reject) => {
    // tls: { key, cert } of a client certificate (or {}): HTTPS, the server's certificate not
    // checked (a test's self-signed one).
    const mod = tls ? https : http;
    const opts = { host: '127.0.0.1', port, method, path: p, headers, agent: false, timeout: timeoutMs };
    if (tls) Object.assign(opts, { rejectUnauthorized: false, servername: 'localhost', ...tls });
    const req = mod.request(opts,
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json = null;
          try { json = JSON.parse(text); } catch { /* not JSON */ }
          resolve({ status: res.statusCode, headers: res.headers, body: text, json });
        });
        res.on('error', reject);
      });
    req.on('timeout', () => req.destroy(new Error(`request ${method} ${p} timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** An upstream that answers every request with what it received, as JSON. */
export async function startEchoUpstream() {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rec = { method: req.method, url: req.url, headers: req.headers };
      seen.push(rec);
      const body = JSON.stringify(rec);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    seen,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

const procDir = (pid) => `/proc/${pid}`;
const alive = (pid) => fs.existsSync(procDir(pid));

/** The worker processes of a master (in a binary upgrade the new master is a child of the old
 *  one too: only "nginx: worker process" titles count). */
export function childrenOf(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
      if (!m || Number(m[2]) !== pid) continue;
      const title = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (title.startsWith('nginx: worker process')) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out.sort((a, b) => a - b);
}

/** Threads and open file descriptors of a process. */
export function usage(pid) {
  return {
    threads: fs.readdirSync(`${procDir(pid)}/task`).length,
    fds: fs.readdirSync(`${procDir(pid)}/fd`).length,
  };
}

let seq = 0;

// Masters started here, killed if the test process exits without stopping them.
const masters = new Set();
process.on('exit', () => {
  for (const m of masters) {
    const p = m();
    try { if (p && alive(p)) process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  }
});

/**
 * Writes the configuration (the http{} body is given; the module, pid, logs and temp paths are
 * added) and starts nginx in the foreground. Resolves when GET /__ready answers. Returns
 * { port, prefix, pid(), master, workers(), reload(), upgrade(), stop(), test(), log() }.
 */
export async function startNginx({ http: httpBody, workers = 2, port, files = {} }) {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'valetkey-nginx-'));
  fs.chmodSync(prefix, 0o755);
  for (const d of ['tmp', 'tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) {
    fs.mkdirSync(path.join(prefix, d), { recursive: true });
    fs.chmodSync(path.join(prefix, d), 0o777);
  }
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(prefix, name), content);
  port ??= await freePort();
  const readyPort = await freePort();
  const tag = `nginx-${process.pid}-${++seq}`;
  const errorLog = path.join(LOGDIR, `${tag}.error.log`);
  const accessLog = path.join(LOGDIR, `${tag}.access.log`);
  const conf = path.join(prefix, 'nginx.conf');
  const text = [
    `load_module ${MODULE};`,
    'daemon on;',
    'master_process on;',
    `worker_processes ${workers};`,
    `pid ${prefix}/nginx.pid;`,
    `error_log ${errorLog} info;`,
    // A binary upgrade execs nginx again with only the variables `env` names.
    ...(PRELOAD ? ['env LD_PRELOAD;', 'env ASAN_OPTIONS;', 'env UBSAN_OPTIONS;'] : []),
    'events { worker_connections 512; }',
    'http {',
    `    access_log ${accessLog};`,
    `    client_body_temp_path ${prefix}/tmp/body;`,
    `    proxy_temp_path ${prefix}/tmp/proxy;`,
    `    fastcgi_temp_path ${prefix}/tmp/fastcgi;`,
    `    uwsgi_temp_path ${prefix}/tmp/uwsgi;`,
    `    scgi_temp_path ${prefix}/tmp/scgi;`,
    httpBody.replaceAll('@PORT@', String(port)).replaceAll('@PREFIX@', prefix),
    '    server {',
    `        listen 127.0.0.1:${readyPort};`,
    '        location = /__ready { return 200 "ready\\n"; }',
    '    }',
    '}',
    '',
  ].join('\n');
  fs.writeFileSync(conf, text);
  const env = { ...process.env };
  const asanDir = path.join(LOGDIR, `${tag}.asan`);
  if (PRELOAD) {
    fs.mkdirSync(asanDir, { recursive: true });
    fs.chmodSync(asanDir, 0o777); // workers run as nobody
    env.LD_PRELOAD = PRELOAD;
    env.ASAN_OPTIONS = `detect_leaks=1:fast_unwind_on_malloc=0:log_path=${asanDir}/asan:abort_on_error=0`;
    env.UBSAN_OPTIONS = `print_stacktrace=1:log_path=${asanDir}/ubsan`;
  }
  const errFd = fs.openSync(errorLog, 'a');
  const proc = spawn(NGINX, ['-p', prefix, '-c', conf], { env, stdio: ['ignore', errFd, errFd] });
  fs.closeSync(errFd);
  const readLog = () => { try { return fs.readFileSync(errorLog, 'utf8'); } catch { return ''; } };
  const started = await new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  if (started.code !== 0) throw new Error(`nginx did not start (${JSON.stringify(started)}): ${readLog().slice(-3000)}`);
  const pidFile = path.join(prefix, 'nginx.pid');
  const pid = () => Number(fs.readFileSync(pidFile, 'utf8').trim());
  let master;
  for (let i = 0; i < 200 && !master; i++) {
    try { master = pid(); } catch { await sleep(25); }
  }
  assert.ok(master, 'nginx wrote its pid file');
  masters.add(() => master);

  const deadline = Date.now() + (PRELOAD ? 30000 : 10000);
  for (;;) {
    if (!alive(master)) throw new Error(`nginx exited at start: ${readLog().slice(-3000)}`);
    try {
      const r = await request(readyPort, { path: '/__ready', timeoutMs: 1000 });
      if (r.status === 200) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`nginx did not answer on ${port}: ${readLog().slice(-3000)}`);
    }
    await sleep(50);
  }

  /** Waits until `pid` has `n` workers, none of them in `old`. */
  async function settle(pidOfMaster, old = [], n = workers, ms = 20000) {
    const until = Date.now() + ms;
    for (;;) {
      const kids = childrenOf(pidOfMaster);
      if (kids.length === n && kids.every((k) => !old.includes(k))) return kids;
      if (Date.now() > until) throw new Error(`workers of ${pidOfMaster} did not settle: ${kids} (old ${old})`);
      await sleep(50);
    }
  }

  const handle = {
    port,
    prefix,
    conf,
    errorLog,
    accessLog,
    get master() { return master; },
    log: readLog,
    workers: () => childrenOf(master),
    settle: (old) => settle(master, old),
    /** nginx -s reload: SIGHUP to the master; resolves when only new workers are left. */
    async reload() {
      const old = childrenOf(master);
      process.kill(master, 'SIGHUP');
      return settle(master, old);
    },
    /** Binary upgrade (USR2, then WINCH and QUIT to the old master); resolves to the new
     *  master's pid once the old one is gone. */
    async upgrade() {
      const oldMaster = master;
      process.kill(oldMaster, 'SIGUSR2');
      const until = Date.now() + 20000;
      let next;
      for (;;) {
        try { next = pid(); } catch { next = undefined; }
        if (next && next !== oldMaster && fs.existsSync(`${pidFile}.oldbin`)) break;
        if (Date.now() > until) throw new Error(`no new master after USR2: ${readLog().slice(-2000)}`);
        await sleep(50);
      }
      await settle(next, []);
      process.kill(oldMaster, 'SIGWINCH');
      await settle(oldMaster, [], 0);
      process.kill(oldMaster, 'SIGQUIT');
      for (let i = 0; i < 400 && alive(oldMaster); i++) await sleep(50);
      assert.ok(!alive(oldMaster), 'the old master exits');
      master = next;
      return next;
    },
    /** Graceful stop (SIGQUIT to the master) and, under ASan, the sanitizer reports. */
    async stop() {
      const m = master;
      if (alive(m)) process.kill(m, 'SIGQUIT');
      for (let i = 0; i < 400 && alive(m); i++) await sleep(50);
      if (alive(m)) {
        process.kill(m, 'SIGKILL');
        throw new Error('nginx did not stop within 20 s of SIGQUIT');
      }
      fs.rmSync(prefix, { recursive: true, force: true });
      if (PRELOAD) checkSanitizerReports(asanDir);
      assert.doesNotMatch(readLog(), /\[(alert|emerg)\]|open socket .* left/, 'nginx logged an alert');
    },
  };
  return handle;
}

/** `nginx -t` on a configuration (http{} body): { ok, output }. */
export function testConfig(httpBody, { workers = 2, files = {} } = {}) {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'valetkey-nginx-t-'));
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(prefix, name), content);
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, [`load_module ${MODULE};`, `worker_processes ${workers};`,
    `pid ${prefix}/nginx.pid;`, `error_log ${prefix}/error.log;`, 'events {}',
    `http { access_log off; ${httpBody.replaceAll('@PREFIX@', prefix)} }`, ''].join('\n'));
  const env = { ...process.env };
  if (PRELOAD) {
    env.LD_PRELOAD = PRELOAD;
    env.ASAN_OPTIONS = 'detect_leaks=0';
  }
  const r = spawnSync(NGINX, ['-t', '-p', prefix, '-c', conf], { env, encoding: 'utf8' });
  fs.rmSync(prefix, { recursive: true, force: true });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

const OURS = /valetkey|\bvk_|ngx_http_valetkey/;

/** Every ASan/UBSan report fails, except leak reports none of whose stacks is ours (nginx and
 *  OpenSSL keep a few allocations until exit). */
function checkSanitizerReports(dir) {
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    if (/ERROR: AddressSanitizer|runtime error:/.test(text))
      assert.fail(`sanitizer report in ${f}:\n${text.slice(0, 6000)}`);
    if (/ERROR: LeakSanitizer/.test(text)) {
      const blocks = text.split(/\n(?=(?:Direct|Indirect) leak of)/).filter((b) => /leak of/.test(b));
      const ours = blocks.filter((b) => OURS.test(b));
      if (ours.length > 0) assert.fail(`leaks through the module or libvaletkey in ${f}:\n${ours.join('\n').slice(0, 6000)}`);
    }
  }
}

/** A self-signed certificate and its key (PEM), made with the openssl command. */
export function selfSigned(cn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'valetkey-cert-'));
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', `subjectAltName=DNS:${cn}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = { key: fs.readFileSync(`${dir}/key.pem`, 'utf8'), cert: fs.readFileSync(`${dir}/cert.pem`, 'utf8') };
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

/**
 * A stand-in for the authorization server's revocation feed (docs/revocations.md): GET
 * /revocations?after=N&wait=S with HTTP Basic, long polls answered as soon as revoke() adds an
 * event. Counts the polls it answered.
 */
export async function startFakeFeed({ clientId, secret }) {
  const events = [];
  let waiters = [];
  let polls = 0;
  const want = 'Basic ' + Buffer.from(`${clientId}:${secret}`).toString('base64');
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://feed');
    const send = (status, obj) => {
      const body = JSON.stringify(obj);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (u.pathname !== '/revocations') return send(404, { error: 'not_found' });
    if (req.headers.authorization !== want) return send(401, { error: 'invalid_client' });
    const after = Number(u.searchParams.get('after') ?? 0);
    const wait = Math.min(Number(u.searchParams.get('wait') ?? 0), 30);
    const answer = () => {
      polls++;
      const ev = events.filter((e) => e.seq > after);
      send(200, { events: ev, next: Math.max(after, events.length) });
    };
    if (events.length > after || wait === 0) return answer();
    const fn = () => { clearTimeout(timer); answer(); };
    const timer = setTimeout(() => { waiters = waiters.filter((w) => w !== fn); answer(); }, wait * 1000);
    waiters.push(fn);
    res.on('close', () => { clearTimeout(timer); waiters = waiters.filter((w) => w !== fn); });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/revocations`,
    get polls() { return polls; },
    revoke(jti, exp) {
      events.push({ seq: events.length + 1, type: 'jti', jti, exp });
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}
