// A fetch() over node:https that trusts the test CA and, optionally, presents a client
// certificate: what oauth4webapi's customFetch needs for mutual TLS (RFC 8705), and what the
// raw tests use for HTTPS. Keep-alive connections, one agent per identity; the response is a
// standard Response, so oauth4webapi and the helpers of http.mjs take it as they take fetch's.
import https from 'node:https';

/**
 * Returns fetch(url, init) over TLS with { ca, cert, key } (PEM strings; cert/key optional).
 * `agent.destroy()` closes its connections. Extra tls options (minVersion, ...) go in `tls`.
 */
export function tlsFetch({ ca, cert, key, tls = {}, keepAlive = true } = {}) {
  const agent = new https.Agent({ ca, cert, key, keepAlive, maxSockets: 64, ...tls });
  const f = (url, init = {}) => new Promise((resolve, reject) => {
    const u = new URL(typeof url === 'string' ? url : url.href ?? String(url));
    const headers = {};
    const h = init.headers;
    if (h && typeof h.forEach === 'function') h.forEach((v, k) => { headers[k] = v; });
    else if (h) Object.assign(headers, h);
    let body = init.body;
    if (body instanceof URLSearchParams) {
      body = body.toString();
      if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
        headers['content-type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
      }
    }
    const req = https.request(u, { method: init.method ?? 'GET', headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const hdrs = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) hdrs.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        const nullBody = res.statusCode === 204 || res.statusCode === 304 || (init.method ?? 'GET') === 'HEAD';
        const r = new Response(nullBody ? null : Buffer.concat(chunks), { status: res.statusCode, headers: hdrs });
        Object.defineProperty(r, 'url', { value: u.href });
        resolve(r);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (init.signal) init.signal.addEventListener('abort', () => req.destroy(new Error('aborted')));
    if (body !== undefined && body !== null) req.end(typeof body === 'string' ? body : Buffer.from(body));
    else req.end();
  });
  f.agent = agent;
  return f;
}
