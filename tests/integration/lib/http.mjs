// Raw-HTTP helpers shared by the test files: form posts, client authentication, token requests
// and assertions on OAuth error responses. Every credential or token seen is recorded.
import assert from 'node:assert/strict';
import net from 'node:net';
import { recordSecret, sleep } from '../../lib/harness.mjs';

export const FORM = 'application/x-www-form-urlencoded';

/** RFC 6749 Appendix B encoding (what §2.3.1 asks for before base64 in Basic credentials). */
export function formEncode(s) {
  return encodeURIComponent(s)
    .replace(/[!'()*~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

/** Builds an x-www-form-urlencoded body from [[k, v], ...] or {k: v} (arrays repeat a key). */
export function formBody(params) {
  const pairs = Array.isArray(params)
    ? params
    : Object.entries(params).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]));
  return pairs.map(([k, v]) => `${formEncode(k)}=${formEncode(String(v))}`).join('&');
}

/** The Authorization header value for client_secret_basic (recorded as a secret). */
export function basicAuth(clientId, secret, { encode = formEncode } = {}) {
  const cred = Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64');
  recordSecret(cred);
  return recordSecret(`Basic ${cred}`);
}

/** Client-authentication pieces for a registered client: { headers, params }. */
export function clientAuth(client, method = client.token_endpoint_auth_method ?? 'client_secret_basic') {
  if (method === 'client_secret_post') {
    return { headers: {}, params: [['client_id', client.client_id], ['client_secret', client.client_secret]] };
  }
  if (method === 'client_secret_basic') {
    return { headers: { authorization: basicAuth(client.client_id, client.client_secret) }, params: [] };
  }
  if (method === 'none') return { headers: {}, params: [] };
  throw new Error(`unknown auth method ${method}`);
}

/**
 * POSTs a form (params as pairs or object, or a raw string body) and returns
 * { status, headers, text, json } (json is undefined when the body is not JSON).
 */
export async function postForm(url, params, { headers = {}, contentType = FORM } = {}) {
  const body = typeof params === 'string' ? params : formBody(params);
  const h = { ...headers };
  if (contentType !== null) h['content-type'] = contentType;
  const res = await fetch(url, { method: 'POST', headers: h, body });
  return readResponse(res);
}

export async function readResponse(res) {
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  recordTokens(json);
  return { status: res.status, headers: res.headers, text, json };
}

/** Records any token a response body carries (so the leak check looks for it). */
export function recordTokens(json) {
  if (json && typeof json === 'object') {
    for (const k of ['access_token', 'refresh_token', 'id_token', 'client_secret']) {
      if (typeof json[k] === 'string') recordSecret(json[k]);
    }
  }
}

/** Asserts that a server's log does not contain `secret` (without printing the secret). */
export async function assertNotInLog(server, secret, what) {
  await sleep(150); // the request's log line may be written just after the response
  const log = server.log();
  assert.ok(!log.includes(secret), `${what}: the server log (${server.logFile}) contains the secret`);
}

/** Short description of a response for assertion messages (tokens and secrets redacted). */
export function describe(res) {
  let body = res.text;
  if (res.json && typeof res.json === 'object') {
    const red = { ...res.json };
    for (const k of ['access_token', 'refresh_token', 'id_token', 'client_secret']) {
      if (typeof red[k] === 'string') red[k] = `<${k} redacted>`;
    }
    body = JSON.stringify(red);
  }
  return `HTTP ${res.status} ${res.headers.get('content-type') ?? ''} ${body.slice(0, 300)}`;
}

/** Asserts an OAuth JSON error response (RFC 6749 §5.2 shape, no-store). */
export function assertOAuthError(res, status, error, what = '') {
  const ctx = `${what ? what + ': ' : ''}${describe(res)}`;
  assert.equal(res.status, status, `expected HTTP ${status} ${error}; got ${ctx}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/i, `content-type; ${ctx}`);
  assert.ok(res.json && typeof res.json === 'object', `JSON body; ${ctx}`);
  assert.equal(res.json.error, error, `error code; ${ctx}`);
  assert.equal(typeof res.json.error_description, 'string', `error_description; ${ctx}`);
  assert.ok(res.json.error_description.length > 0, `error_description non-empty; ${ctx}`);
  assertNoStore(res, ctx);
}

export function assertNoStore(res, ctx = '') {
  assert.match(res.headers.get('cache-control') ?? '', /\bno-store\b/i, `Cache-Control: no-store; ${ctx}`);
}

/**
 * POST /token for a registered client. extra: more params (pairs or object).
 * Returns the response; on 200 the access token is recorded.
 */
export async function tokenRequest(server, client, { scope, resource, method, extra = [], headers = {} } = {}) {
  const auth = clientAuth(client, method);
  const params = [['grant_type', 'client_credentials'], ...auth.params];
  if (scope !== undefined) params.push(['scope', scope]);
  for (const r of [].concat(resource ?? [])) params.push(['resource', r]);
  params.push(...(Array.isArray(extra) ? extra : Object.entries(extra)));
  return postForm(`${server.url}/token`, params, { headers: { ...auth.headers, ...headers } });
}

/** A token request that must succeed; returns the parsed body. */
export async function getToken(server, client, opts = {}) {
  const res = await tokenRequest(server, client, opts);
  assert.equal(res.status, 200, `token request should succeed: HTTP ${res.status} ${res.json ? JSON.stringify({ error: res.json.error, error_description: res.json.error_description }) : res.text.slice(0, 200)}`);
  assert.equal(typeof res.json?.access_token, 'string');
  return res.json;
}

/** POST /introspect authenticated as `client`. */
export async function introspect(server, client, token, { method, extra = [] } = {}) {
  const auth = clientAuth(client, method);
  const params = [...auth.params];
  if (token !== undefined) params.push(['token', token]);
  params.push(...extra);
  return postForm(`${server.url}/introspect`, params, { headers: auth.headers });
}

/** POST /revoke authenticated as `client`. */
export async function revoke(server, client, token, { method, extra = [] } = {}) {
  const auth = clientAuth(client, method);
  const params = [...auth.params];
  if (token !== undefined) params.push(['token', token]);
  params.push(...extra);
  return postForm(`${server.url}/revoke`, params, { headers: auth.headers });
}

/** Asserts that introspection answers exactly {"active": false}. */
export async function assertInactive(server, client, token, what) {
  const res = await introspect(server, client, token);
  assert.equal(res.status, 200, `${what}: introspection HTTP status; ${describe(res)}`);
  assert.deepEqual(res.json, { active: false }, `${what}: introspection must answer exactly {"active":false}`);
}

/** Asserts that introspection says active and returns the body. */
export async function assertActive(server, client, token, what) {
  const res = await introspect(server, client, token);
  assert.equal(res.status, 200, `${what}: introspection HTTP status; ${describe(res)}`);
  assert.equal(res.json?.active, true, `${what}: token should be active; got ${res.text}`);
  return res.json;
}

/**
 * A raw HTTP/1.1 request over a plain TCP socket (for cases fetch cannot express: streamed or
 * oversized bodies, chunked encoding, a lying Content-Length). Write errors are ignored, since a
 * server may answer and close before the body is sent; whatever response arrives before the
 * connection closes is parsed and returned as { status, headers, text, json }. Rejects only when
 * no response at all arrives (the message says how the connection ended).
 * `chunks` are body pieces; with `transfer-encoding: chunked` they are framed as chunks. With
 * `pauseMs`, the client pauses that long before each piece and stops sending once response bytes
 * have arrived, as an HTTP client that reads while it uploads does.
 */
export function rawRequest(url, { method = 'POST', headers = {}, chunks = [], endAfter = true, timeoutMs = 8000, pauseMs = 0 } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    let buf = Buffer.alloc(0);
    let ended = null;
    let settled = false;
    const timer = setTimeout(() => finish(`no complete response within ${timeoutMs} ms`), timeoutMs);
    const finish = (why) => {
      if (settled) return;
      const r = parseResponse(buf);
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (r) {
        recordTokens(r.json);
        resolve(r);
      } else {
        const err = new Error(`no HTTP response (${ended ?? why}; ${buf.length} bytes received)`);
        err.code = ended?.startsWith('error') ? ended.slice(6) : 'NO_RESPONSE';
        reject(err);
      }
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parseResponse(buf, true);
      if (r) finish('complete');
    });
    sock.on('error', (e) => { ended ??= `error ${e.code ?? e.message}`; });
    sock.on('close', () => { ended ??= 'connection closed by the server'; finish('closed'); });
    const chunkedTE = Object.entries(headers).some(([k, v]) => k.toLowerCase() === 'transfer-encoding' && /chunked/i.test(v));
    const head = `${method} ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n` +
      Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
    const write = (data) => new Promise((r) => {
      if (sock.destroyed || ended) return r(false);
      sock.write(data, () => r(true));
    });
    (async () => {
      if (!(await write(head))) return;
      for (const c of chunks) {
        if (pauseMs > 0) {
          await sleep(pauseMs);
          if (buf.length > 0) return;
        }
        const piece = chunkedTE ? `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n` : c;
        if (!(await write(piece))) return;
      }
      if (endAfter && chunkedTE && !(pauseMs > 0 && buf.length > 0)) await write('0\r\n\r\n');
    })().catch(() => {});
  });
}

/** Parses one HTTP/1.1 response from bytes; with `complete`, only when the body is all there. */
function parseResponse(buf, complete = false) {
  const sep = buf.indexOf('\r\n\r\n');
  if (sep < 0) return null;
  const lines = buf.subarray(0, sep).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) return null;
  const headers = new Headers();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
  }
  let body = buf.subarray(sep + 4);
  const cl = headers.get('content-length');
  if (cl !== null) {
    if (body.length < Number(cl)) { if (complete) return null; } else body = body.subarray(0, Number(cl));
  } else if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
    const out = [];
    let rest = body;
    for (;;) {
      const e = rest.indexOf('\r\n');
      if (e < 0) { if (complete) return null; break; }
      const n = parseInt(rest.subarray(0, e).toString(), 16);
      if (n === 0) break;
      if (rest.length < e + 2 + n) { if (complete) return null; break; }
      out.push(rest.subarray(e + 2, e + 2 + n));
      rest = rest.subarray(e + 4 + n);
    }
    body = Buffer.concat(out);
  } else if (complete) {
    return null; // body ends with the connection
  }
  const text = body.toString('utf8');
  return { status: Number(m[1]), headers, text, json: safeJson(text) };
}

function safeJson(t) {
  try { return JSON.parse(t); } catch { return undefined; }
}
