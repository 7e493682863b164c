// Load generator for the user-grant paths: authorization-code exchange and refresh-token
// rotation, each with N concurrent workers on keep-alive connections. Prints one JSON object.
//
//   node bench/flows.mjs --url http://127.0.0.1:PORT --client-id ID --client-secret S \
//        --username alice --password PW --redirect-uri URI --pid SERVER_PID \
//        [--connections 32] [--seconds 10] [--scope "read"] [--hz CLK_TCK]
//
// Phase "code": workers first collect authorization codes (GET /authorize with a signed-in
// session; the client is first-party, so no consent page), then all codes are exchanged at
// POST /token while the server's CPU time is measured: the exchange alone is what is timed.
// Phase "refresh": each worker holds one refresh-token chain and rotates it as fast as it can.
// Only loopback targets are accepted.
import http from 'node:http';
import crypto from 'node:crypto';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const base = new URL(args.url);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname)) throw new Error('loopback only');
const conns = Number(args.connections ?? 32);
const seconds = Number(args.seconds ?? 10);
const pid = Number(args.pid);
const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(args['client-id'])}:${encodeURIComponent(args['client-secret'])}`).toString('base64');

function request(method, path, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: base.hostname, port: base.port, method, path, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body) req.end(body); else req.end();
  });
}

function cpuTicks() {
  const f = require_fs().readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(parts[11]) + Number(parts[12]); // utime + stime (fields 14, 15)
}
let fsMod;
function require_fs() { return fsMod; }

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const form = (o) => new URLSearchParams(o).toString();
const b64url = (b) => b.toString('base64url');

async function login() {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const q = form({ response_type: 'code', client_id: args['client-id'], redirect_uri: args['redirect-uri'],
    scope: args.scope ?? 'read', state: 's', code_challenge: challenge, code_challenge_method: 'S256' });
  const page = await request('GET', `/authorize?${q}`);
  const cookies = (page.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]);
  const fields = {};
  for (const m of page.body.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g))
    fields[m[1]] = m[2].replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
  const res = await request('POST', '/login', {
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies.join('; ') },
    body: form({ ...fields, username: args.username, password: args.password }),
  });
  if (res.status !== 303) throw new Error(`login failed: ${res.status}`);
  for (const c of res.headers['set-cookie'] ?? []) cookies.push(c.split(';')[0]);
  return cookies.join('; ');
}

async function getCode(cookie) {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const q = form({ response_type: 'code', client_id: args['client-id'], redirect_uri: args['redirect-uri'],
    scope: args.scope ?? 'read', state: 's', code_challenge: challenge, code_challenge_method: 'S256' });
  const res = await request('GET', `/authorize?${q}`, { headers: { cookie } });
  const loc = res.headers.location;
  if (res.status !== 303 || !loc) throw new Error(`authorize: ${res.status}`);
  return { code: new URL(loc).searchParams.get('code'), verifier };
}

async function exchange({ code, verifier }) {
  return request('POST', '/token', {
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
    body: form({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: args['redirect-uri'] }),
  });
}

async function refresh(rt) {
  return request('POST', '/token', {
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
    body: form({ grant_type: 'refresh_token', refresh_token: rt }),
  });
}

async function timed(n, fn) {
  const lat = [];
  let errors = 0;
  const t0c = cpuTicks();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: conns }, (_, w) => fn(w, lat, () => errors++)));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = (cpuTicks() - t0c) / hz;
  lat.sort((a, b) => a - b);
  return {
    requests: lat.length, errors, seconds: wall, rps: lat.length / wall,
    p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99),
    cpu_us_per_req: lat.length ? (cpu * 1e6) / lat.length : null,
  };
}

let hz = 100;
const only = args.only; // "code" or "refresh": run one phase (for profiling)

async function main() {
  fsMod = await import('node:fs');
  hz = Number(args.hz ?? 100);
  const cookie = await login();
  // Collect codes for a bounded time (codes live 60 s: stay well inside).
  const codes = [];
  // Codes live 60 s: collect for a third of that at most, and at most what can be exchanged.
  const until = Date.now() + Math.min(seconds, 15) * 1000;
  if (only !== 'refresh') {
    await Promise.all(Array.from({ length: conns }, async () => {
      while (Date.now() < until && codes.length < 30000) codes.push(await getCode(cookie));
    }));
  }
  let next = 0;
  const code = await timed(codes.length, async (w, lat, err) => {
    while (next < codes.length) {
      const c = codes[next++];
      const t = process.hrtime.bigint();
      const r = await exchange(c);
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (r.status !== 200) err();
    }
  });
  // One refresh chain per worker, started from fresh codes.
  const chains = [];
  for (let i = 0; i < conns; i++) {
    const r = await exchange(await getCode(cookie));
    chains.push(JSON.parse(r.body).refresh_token);
  }
  const stop = Date.now() + seconds * 1000;
  const rot = await timed(0, async (w, lat, err) => {
    while (Date.now() < stop) {
      const t = process.hrtime.bigint();
      const r = await refresh(chains[w]);
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (r.status !== 200) { err(); break; }
      chains[w] = JSON.parse(r.body).refresh_token;
    }
  });
  console.log(JSON.stringify({ code_exchange: code, refresh_rotation: rot }));
  agent.destroy();
}
main().catch((e) => { console.error(e.message); process.exit(1); });
