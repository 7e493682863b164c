// bench/mtls.mjs: POST /token (client_credentials) by a tls_client_auth client (RFC 8705 §2.1)
// from N workers on kept-alive TLS connections that present the client certificate; the server
// checks the certificate's chain and subject on every request (from its memo after the first).
// With --basic B64 the same client sends client_secret_basic instead: the baseline, from the
// same client program. Prints one JSON object:
// { requests, seconds, errors, cpu_us_per_req } with the server's CPU read from /proc/PID/stat
// over the measured part. Node built-ins only. wrk cannot present client certificates, hence node.
//
//   node bench/mtls.mjs --url https://127.0.0.1:PORT --client-id ID --ca CA.pem --cert C.pem
//        --key C.key --pid PID [--seconds 10] [--connections 32] [--warmup 2] [--hz 100]
//        [--basic BASE64(id:secret)]
import fs from 'node:fs';
import https from 'node:https';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
for (const k of ['url', 'ca', 'cert', 'key', 'pid']) {
  if (!args[k]) { console.error(`bench/mtls.mjs: --${k} is required`); process.exit(2); }
}
const seconds = Number(args.seconds ?? 10);
const warmup = Number(args.warmup ?? 2);
const conns = Number(args.connections ?? 32);
const hz = Number(args.hz ?? 100);
const agent = new https.Agent({
  keepAlive: true, maxSockets: conns,
  ca: fs.readFileSync(args.ca), cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key),
});
const body = args.basic
  ? 'grant_type=client_credentials'
  : `grant_type=client_credentials&client_id=${encodeURIComponent(args['client-id'] ?? '')}`;
const auth = args.basic ? { authorization: `Basic ${args.basic}` } : {};
const url = new URL('/token', args.url);

const cpu = () => {
  const f = fs.readFileSync(`/proc/${args.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / hz;
};

function post() {
  return new Promise((resolve) => {
    const req = https.request(url, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length, ...auth },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

async function phase(secs) {
  const end = Date.now() + secs * 1000;
  let n = 0, errors = 0;
  await Promise.all(Array.from({ length: conns }, async () => {
    while (Date.now() < end) {
      if (await post()) n++;
      else errors++;
    }
  }));
  return { n, errors };
}

await phase(warmup);
const c0 = cpu(), t0 = process.hrtime.bigint();
const r = await phase(seconds);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const used = cpu() - c0;
agent.destroy();
console.log(JSON.stringify({
  requests: r.n, seconds: secs, errors: r.errors,
  cpu_us_per_req: r.n > 0 ? (used * 1e6) / r.n : 0,
}));
process.exit(r.errors > 0 || r.n === 0 ? 1 : 0);
