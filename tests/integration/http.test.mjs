// HTTP-level behaviour: health and metrics, 404/405/413, malformed forms, content types, one
// log line per request, and two servers side by side on port 0.
import { describe, it, before, after } from 'node:test';
import http from 'node:http';
import net from 'node:net';
import assert from 'node:assert/strict';
import { startServer, addClient, mkDataDir, rmDataDir, sleep } from '../lib/harness.mjs';
import {
  FORM, postForm, getToken, assertOAuthError, basicAuth, rawRequest, readResponse, describe as desc,
} from './lib/http.mjs';
import { verifyAccessToken } from './lib/jwt.mjs';

/** Parses Prometheus text exposition: { types: Map(name -> type), samples: [{name, labels, value}] }. */
export function parseMetrics(text) {
  const types = new Map();
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) { types.set(t[1], t[2]); continue; }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    assert.ok(m, `unparsable metrics line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;
      let lm;
      let consumed = 0;
      while ((lm = re.exec(m[3])) !== null) { labels[lm[1]] = lm[2]; consumed = re.lastIndex; }
      assert.equal(consumed, m[3].length, `unparsable labels in ${JSON.stringify(line)}`);
    }
    const value = Number(m[4] === '+Inf' ? Infinity : m[4]);
    assert.ok(!Number.isNaN(value) || m[4] === 'NaN', `bad value in ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels, value });
  }
  return { types, samples };
}

async function metrics(server) {
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain\b/i);
  return parseMetrics(await res.text());
}

const sum = (samples, pred) => samples.filter(pred).reduce((a, s) => a + s.value, 0);

describe('HTTP behaviour', { timeout: 30000 }, () => {
  let dir, server, client;

  before(async () => {
    dir = mkDataDir();
    client = addClient(dir, { name: 'c', scope: 'read' });
    server = await startServer({ dataDir: dir });
  });
  after(async () => {
    await server?.stop();
    rmDataDir(dir);
  });

  it('GET /healthz answers 200', async () => {
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });

  it('GET /metrics exposes request counters, a tokens-issued counter and a latency histogram', async () => {
    const REQS = 'valetkey_http_requests_total';
    const ISSUED = 'valetkey_tokens_issued_total';
    const LAT = 'valetkey_http_request_duration_seconds';
    const val = (m, name, labels) => sum(m.samples, (s) => s.name === name &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v));

    const before = await metrics(server);
    assert.equal(before.types.get(REQS), 'counter', `# TYPE ${REQS} counter`);
    assert.equal(before.types.get(ISSUED), 'counter', `# TYPE ${ISSUED} counter`);
    assert.equal(before.types.get(LAT), 'histogram', `# TYPE ${LAT} histogram`);

    const N = 3;
    for (let i = 0; i < N; i++) await getToken(server, client);
    const bad = await postForm(`${server.url}/token`, { grant_type: 'client_credentials' });
    assert.equal(bad.status, 401);
    await (await fetch(`${server.url}/no-such-path`)).arrayBuffer();
    const after = await metrics(server);

    const d = (name, labels) => val(after, name, labels) - val(before, name, labels);
    assert.equal(d(REQS, { endpoint: 'token', status: '200' }), N, `${REQS}{endpoint="token",status="200"} grows by ${N}`);
    assert.equal(d(REQS, { endpoint: 'token', status: '401' }), 1, `${REQS}{endpoint="token",status="401"} grows by 1`);
    assert.ok(d(REQS, { status: '404' }) >= 1, `${REQS}{status="404"} grows`);
    assert.ok(d(REQS, { endpoint: 'metrics', status: '200' }) >= 1, `${REQS}{endpoint="metrics"} counts /metrics itself`);
    assert.equal(d(ISSUED, { grant_type: 'client_credentials' }), N, `${ISSUED}{grant_type="client_credentials"} grows by ${N}`);

    assert.equal(d(`${LAT}_count`, { endpoint: 'token' }), N + 1, `${LAT}_count{endpoint="token"} grows by ${N + 1}`);
    assert.ok(d(`${LAT}_sum`, { endpoint: 'token' }) > 0, `${LAT}_sum{endpoint="token"} grows`);
    const buckets = after.samples.filter((s) => s.name === `${LAT}_bucket` && s.labels.endpoint === 'token');
    assert.ok(buckets.length >= 2, 'token latency buckets');
    const inf = buckets.find((s) => s.labels.le === '+Inf');
    assert.ok(inf, `${LAT}_bucket{endpoint="token",le="+Inf"}`);
    assert.equal(inf.value, val(after, `${LAT}_count`, { endpoint: 'token' }), '+Inf bucket equals _count');
    const les = buckets.map((s) => Number(s.labels.le === '+Inf' ? Infinity : s.labels.le));
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(les[i] > les[i - 1], 'bucket bounds increase');
      assert.ok(buckets[i].value >= buckets[i - 1].value, 'buckets are cumulative');
    }
  });

  it('answers 404 JSON for an unknown path', async () => {
    for (const p of ['/nope', '/token/extra', '/.well-known/nope', '/TOKEN']) {
      const res = await readResponse(await fetch(`${server.url}${p}`));
      assert.equal(res.status, 404, `${p}: ${desc(res)}`);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/i, `${p}: content-type`);
      assert.equal(typeof res.json, 'object', `${p}: JSON body`);
    }
    const res = await readResponse(await fetch(`${server.url}/nope`, { method: 'POST', headers: { 'content-type': FORM }, body: 'a=b' }));
    assert.equal(res.status, 404, `POST /nope: ${desc(res)}`);
  });

  it('answers 405 with Allow for a wrong method', async () => {
    const cases = [
      ['GET', '/token', 'POST'], ['PUT', '/token', 'POST'], ['DELETE', '/token', 'POST'],
      ['GET', '/introspect', 'POST'], ['GET', '/revoke', 'POST'],
      ['POST', '/jwks.json', 'GET'], ['POST', '/.well-known/oauth-authorization-server', 'GET'],
      ['POST', '/healthz', 'GET'], ['DELETE', '/metrics', 'GET'],
    ];
    for (const [method, p, allowed] of cases) {
      const res = await readResponse(await fetch(`${server.url}${p}`, { method }));
      assert.equal(res.status, 405, `${method} ${p}: ${desc(res)}`);
      const allow = (res.headers.get('allow') ?? '').split(',').map((s) => s.trim());
      assert.ok(allow.includes(allowed), `${method} ${p}: Allow: ${res.headers.get('allow')}`);
      assert.ok(!allow.includes(method), `${method} ${p}: Allow must not list ${method}`);
    }
  });

  describe('body size limit (64 KiB)', () => {
    let auth, body;
    before(() => {
      auth = basicAuth(client.client_id, client.client_secret);
      // Exactly 65536 bytes: 16 unrecognised parameters of < 4 KiB each (ignored per OAuth 2.1 §3.2).
      body = 'grant_type=client_credentials';
      for (let i = 0; body.length < 65536 - 4100; i++) body += `&pad${i}=` + 'a'.repeat(4000);
      body += '&z=';
      body += 'b'.repeat(65536 - body.length);
      assert.equal(body.length, 65536);
    });

    it('accepts a body of exactly 64 KiB', async () => {
      const ok = await postForm(`${server.url}/token`, body, { headers: { authorization: auth } });
      assert.equal(ok.status, 200, `64 KiB body: ${desc(ok)}`);
    });

    it('answers 413 to a Content-Length body of 64 KiB + 1', async () => {
      const over = await rawRequest(`${server.url}/token`, {
        headers: { 'content-type': FORM, 'content-length': String(body.length + 1), authorization: auth },
        chunks: [body + 'b'],
      });
      assert.equal(over.status, 413, `64 KiB + 1 byte: HTTP ${over.status} ${over.text.slice(0, 200)}`);
    });

    it('answers 413 to a 200 KiB Content-Length body', async () => {
      const big = 'grant_type=client_credentials&pad=' + 'a'.repeat(200 * 1024);
      const res = await rawRequest(`${server.url}/token`, {
        headers: { 'content-type': FORM, 'content-length': String(big.length), authorization: auth },
        chunks: [big.slice(0, 50000), big.slice(50000, 100000), big.slice(100000)],
        pauseMs: 50,
      });
      assert.equal(res.status, 413, `200 KiB: HTTP ${res.status} ${res.text.slice(0, 200)}`);
    });

    it('answers 413 to a 200 KiB chunked body', async () => {
      const big = 'grant_type=client_credentials&pad=' + 'a'.repeat(200 * 1024);
      let res;
      try {
        res = await rawRequest(`${server.url}/token`, {
          headers: { 'content-type': FORM, 'transfer-encoding': 'chunked', authorization: auth },
          chunks: [big.slice(0, 50000), big.slice(50000, 100000), big.slice(100000, 150000), big.slice(150000)],
          pauseMs: 50,
        });
      } catch (e) {
        assert.fail(`expected a 413 response, got none: ${e.message}`);
      }
      assert.equal(res.status, 413, `chunked 200 KiB: HTTP ${res.status} ${res.text.slice(0, 200)}`);
    });

    it('answers 413 to a declared 1 MiB body without waiting for it', async () => {
      const declared = await rawRequest(`${server.url}/introspect`, {
        headers: { 'content-type': FORM, 'content-length': String(1024 * 1024), authorization: auth },
        chunks: ['token=' + 'x'.repeat(70000)],
        endAfter: false,
        timeoutMs: 5000,
      });
      assert.equal(declared.status, 413, `Content-Length 1 MiB: HTTP ${declared.status}`);
    });
  });

  // RFC 9112 §6.3: a body framed two ways is how requests are smuggled past a proxy that reads
  // the other framing; the server must answer and close the connection, so that the bytes after
  // the body are never read as a request of their own. §6.1: a coding it cannot frame is 501.
  it('closes the connection on a body framed two ways, and answers 501 to an unknown coding', async () => {
    const { port } = new URL(server.url);
    /** Sends raw bytes, reads until the server closes (or 5 s): { text, closed }. */
    const exchange = (bytes) => new Promise((resolve) => {
      const sock = net.connect(Number(port), '127.0.0.1');
      let text = '';
      const timer = setTimeout(() => { sock.destroy(); resolve({ text, closed: false }); }, 5000);
      sock.on('data', (d) => { text += d.toString('latin1'); });
      sock.on('error', () => {});
      sock.on('close', () => { clearTimeout(timer); resolve({ text, closed: true }); });
      sock.write(bytes);
    });
    const statuses = (text) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    const smuggled = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const twoWays = await exchange('POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n' +
      `Transfer-Encoding: chunked\r\nContent-Type: ${FORM}\r\n\r\n0\r\n\r\n${smuggled}`);
    assert.deepEqual(statuses(twoWays.text), [400], `one answer, not one for the smuggled request: ${twoWays.text}`);
    assert.ok(twoWays.closed, 'the connection is closed after the answer');
    const twoLengths = await exchange('POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n' +
      `Content-Length: 41\r\nContent-Type: ${FORM}\r\n\r\nabcde${smuggled}`);
    assert.deepEqual(statuses(twoLengths.text), [400], twoLengths.text);
    assert.ok(twoLengths.closed, 'closed after two Content-Lengths');
    const gzip = await exchange('POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n');
    assert.deepEqual(statuses(gzip.text), [501], gzip.text);
    assert.ok(gzip.closed, 'closed after an unknown transfer coding');
    // Plain chunked bodies still work.
    const chunked = await rawRequest(`${server.url}/token`, {
      headers: { 'content-type': FORM, 'transfer-encoding': 'chunked',
        authorization: basicAuth(client.client_id, client.client_secret) },
      chunks: ['grant_type=client_', 'credentials'],
    });
    assert.equal(chunked.status, 200, desc(chunked));
  });

  it('answers 400 invalid_request for malformed form encoding', async () => {
    const auth = { authorization: basicAuth(client.client_id, client.client_secret) };
    for (const body of ['grant_type=client_credentials&scope=%zz', 'grant_type=client_credentials&scope=%4',
      'grant_type=client_credentials&scope=read%', 'grant_type=client_credential%G3', 'grant_type=client_credentials&x%zz=1']) {
      assertOAuthError(await postForm(`${server.url}/token`, body, { headers: auth }), 400, 'invalid_request', `body ${body}`);
    }
    const t = (await getToken(server, client)).access_token;
    assertOAuthError(await postForm(`${server.url}/introspect`, 'token=%zz', { headers: auth }), 400, 'invalid_request', '/introspect token=%zz');
    assertOAuthError(await postForm(`${server.url}/revoke`, `token=${t}%4`, { headers: auth }), 400, 'invalid_request', '/revoke token=...%4');
  });

  it('answers 400 invalid_request for a non-form Content-Type', async () => {
    const auth = { authorization: basicAuth(client.client_id, client.client_secret) };
    const form = 'grant_type=client_credentials';
    for (const ct of ['application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencodedx', null]) {
      const res = await postForm(`${server.url}/token`, form, { headers: auth, contentType: ct });
      assertOAuthError(res, 400, 'invalid_request', `Content-Type: ${ct}`);
    }
    assertOAuthError(await postForm(`${server.url}/introspect`, 'token=abc', { headers: auth, contentType: 'application/json' }), 400, 'invalid_request', '/introspect JSON');
  });

  it('writes one log line per request', async () => {
    const tag = `/nope-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    for (let i = 0; i < 5; i++) await (await fetch(`${server.url}${tag}`)).arrayBuffer();
    // The log is written by a background thread every 50 ms; on a loaded machine that thread
    // may run late, so wait (bounded) until the lines are there, then check there are exactly 5.
    const named = () => server.log().split('\n').filter((l) => l.includes(tag));
    for (let waited = 0; named().length < 5 && waited < 5000; waited += 100) await sleep(100);
    await sleep(100);
    const lines = named();
    assert.equal(lines.length, 5, `log lines naming ${tag}: ${JSON.stringify(lines)}`);
  });

  it('does not let a request forge log lines', async () => {
    const res = await fetch(`${server.url}/nope?x=%0Aforged-line%0A`, { headers: { 'user-agent': 'ua\tforged' } });
    await res.arrayBuffer();
    await sleep(200);
    for (const l of server.log().split('\n')) assert.ok(!l.startsWith('forged-line'), 'a request must not start a log line');
  });
});

describe('two servers in parallel', { timeout: 30000 }, () => {
  let s1, s2, c1, c2, d1, d2;
  before(async () => {
    d1 = mkDataDir();
    d2 = mkDataDir();
    c1 = addClient(d1, { name: 'one', scope: 'read' });
    c2 = addClient(d2, { name: 'two', scope: 'read' });
    [s1, s2] = await Promise.all([startServer({ dataDir: d1 }), startServer({ dataDir: d2 })]);
  });
  after(async () => {
    await Promise.all([s1?.stop(), s2?.stop()]);
    rmDataDir(d1);
    rmDataDir(d2);
  });

  it('listen on distinct ports and keep their clients and keys apart', async () => {
    assert.notEqual(s1.port, s2.port);
    assert.ok(s1.port > 0 && s2.port > 0);
    const [t1, t2] = await Promise.all([getToken(s1, c1), getToken(s2, c2)]);
    await verifyAccessToken(s1, t1.access_token);
    await verifyAccessToken(s2, t2.access_token);
    await assert.rejects(verifyAccessToken(s2, t1.access_token), 'server 2 keys do not verify server 1 tokens');
    const cross = await postForm(`${s2.url}/token`, { grant_type: 'client_credentials' },
      { headers: { authorization: basicAuth(c1.client_id, c1.client_secret) } });
    assertOAuthError(cross, 401, 'invalid_client', 'client of server 1 at server 2');
  });
});

/** GET from a chosen loopback source address: { status, text }. */
function getFrom(server, p, { from = '127.0.0.1', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.port, path: p, localAddress: from, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    }).on('error', reject);
  });
}

describe('/metrics access (metrics_allow, forwarded requests)', { timeout: 30000 }, () => {
  const servers = [];
  const start = async (args) => {
    const s = await startServer({ args });
    servers.push(s);
    return s;
  };
  after(async () => { await Promise.all(servers.map((s) => s.stop())); });

  it('by default answers loopback, but not a request relayed for someone else', async () => {
    const s = await start([]);
    assert.equal((await getFrom(s, '/metrics')).status, 200);
    assert.equal((await getFrom(s, '/metrics', { from: '127.0.0.9' })).status, 200, 'all of 127/8');
    for (const h of [{ 'x-forwarded-for': '127.0.0.1' }, { forwarded: 'for=127.0.0.1' }, { 'x-real-ip': '127.0.0.1' }]) {
      const r = await getFrom(s, '/metrics', { headers: h });
      assert.equal(r.status, 403, `${JSON.stringify(h)} from loopback without --trusted-proxy`);
      assert.doesNotMatch(r.text, /valetkey_/, 'no metrics in the refusal');
      assert.equal(JSON.parse(r.text).error, 'access_denied');
    }
  });

  it('--metrics-allow lists who may read it; an empty list allows nobody', async () => {
    const s = await start(['--metrics-allow', '127.0.0.2, 10.0.0.0/8']);
    assert.equal((await getFrom(s, '/metrics', { from: '127.0.0.1' })).status, 403);
    const ok = await getFrom(s, '/metrics', { from: '127.0.0.2' });
    assert.equal(ok.status, 200);
    assert.match(ok.text, /valetkey_http_requests_total/);
    const none = await start(['--metrics-allow', '']);
    assert.equal((await getFrom(none, '/metrics')).status, 403);
    assert.equal((await getFrom(none, '/healthz')).status, 200, 'other endpoints are not affected');
  });

  it('behind the trusted proxy, the client address it appended decides', async () => {
    const s = await start(['--trusted-proxy', '127.0.0.1']);
    const via = (xff) => getFrom(s, '/metrics', { headers: xff === undefined ? {} : { 'x-forwarded-for': xff } });
    assert.equal((await via(undefined)).status, 403, 'relayed without X-Forwarded-For: client unknown');
    assert.equal((await via('203.0.113.7')).status, 403, 'an internet client through the proxy');
    assert.equal((await via('127.0.0.1, 203.0.113.7')).status, 403, 'a spoofed loopback entry left of the real one');
    assert.equal((await via('198.51.100.1, 127.0.0.9')).status, 200, 'a loopback client of the proxy');
    assert.equal((await getFrom(s, '/metrics', { from: '127.0.0.2' })).status, 200, 'a direct loopback scraper');
  });

  it('recognises the trusted proxy on a dual-stack listener, where it is ::ffff:a.b.c.d', async () => {
    // An IPv4 connection to [::] has the peer ::ffff:127.0.0.1: the host --trusted-proxy names
    // as 127.0.0.1 (addresses are compared parsed, not as text).
    const s = await start(['--listen', '[::]:0', '--insecure-http', '--trusted-proxy', '127.0.0.1']);
    const via = (xff) => getFrom(s, '/metrics', { headers: { 'x-forwarded-for': xff } });
    assert.equal((await via('127.0.0.9')).status, 200, 'a loopback client of the proxy');
    assert.equal((await via('203.0.113.7')).status, 403, 'an internet client through the proxy');
  });

  it("the access log names the proxied client as the peer, and the proxy beside it", async () => {
    const s = await start(['--trusted-proxy', '127.0.0.1']);
    const tag = `/nope-proxied-${Date.now()}`;
    await getFrom(s, tag, { headers: { 'x-forwarded-for': '198.51.100.23' } });
    await getFrom(s, tag, { from: '127.0.0.2' });
    const named = () => s.log().split('\n').filter((l) => l.includes(`path=${tag}`));
    for (let waited = 0; named().length < 2 && waited < 5000; waited += 100) await sleep(100);
    const lines = named();
    assert.equal(lines.length, 2, JSON.stringify(lines));
    assert.match(lines[0], / peer=198\.51\.100\.23 proxy=127\.0\.0\.1$/);
    assert.match(lines[1], / peer=127\.0\.0\.2$/);
  });

  it('a bad --metrics-allow entry is a startup error', async () => {
    await assert.rejects(startServer({ args: ['--metrics-allow', '10.0.0.1/8'] }), /metrics_allow: '10\.0\.0\.1\/8'/);
  });
});
