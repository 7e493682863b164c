// Login flood for bench/login-flood: N workers post the login form in a loop, each request from
// its own made-up address (X-Forwarded-For; the server runs with --trusted-proxy 127.0.0.1) and
// for its own unknown username, so that no attempt limit refuses it first and every accepted
// request costs the server one Argon2id verification — the worst case for the password pool.
// Runs until SIGTERM or --seconds, then prints one JSON object (requests per status, req/s).
//
//   node bench/loginflood.mjs --url http://127.0.0.1:PORT --client-id ID --redirect-uri URI \
//        [--connections 12] [--seconds 60]
//
// Only loopback targets are accepted.
import http from 'node:http';
import crypto from 'node:crypto';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const base = new URL(args.url);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname)) throw new Error('loopback only');
const conns = Number(args.connections ?? 12);
const seconds = Number(args.seconds ?? 60);
const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
const form = (o) => new URLSearchParams(o).toString();

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

let stopping = false;
process.on('SIGTERM', () => { stopping = true; });
process.on('SIGINT', () => { stopping = true; });

async function main() {
  // One login page: its CSRF cookie and hidden fields serve every post.
  const q = form({ response_type: 'code', client_id: args['client-id'], redirect_uri: args['redirect-uri'],
    scope: 'openid', state: 's', code_challenge: crypto.randomBytes(32).toString('base64url'),
    code_challenge_method: 'S256' });
  const page = await request('GET', `/authorize?${q}`);
  if (page.status !== 200) throw new Error(`login page: ${page.status}`);
  const cookie = (page.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
  const fields = {};
  for (const m of page.body.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g))
    fields[m[1]] = m[2].replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');

  const byStatus = {};
  let n = 0;
  const until = Date.now() + seconds * 1000;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: conns }, async () => {
    while (!stopping && Date.now() < until) {
      const i = n++;
      const res = await request('POST', '/login', {
        headers: {
          'content-type': 'application/x-www-form-urlencoded', cookie,
          'x-forwarded-for': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        },
        body: form({ ...fields, username: `flood-${i}`, password: 'not the password' }),
      });
      byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
    }
  }));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ requests: n, seconds: wall, rps: n / wall, by_status: byStatus }));
  agent.destroy();
}
main().catch((e) => { console.error(e.message); process.exit(1); });
