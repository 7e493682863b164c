// The browser suite's world on top of the shared harness (tests/lib/harness.mjs): alice, the
// test app registered with the relying party's callback server, a running server and its
// discovered metadata.
import http from 'node:http';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import {
  cliJson, recordSecret, mkDataDir, rmDataDir, startServer, addClient as addClientCli,
} from '../../lib/harness.mjs';

export {
  BIN, LOGDIR, recordSecret, recordTokens, sleep, mkDataDir, rmDataDir, runCli, startServer,
} from '../../lib/harness.mjs';

export const USERNAME = 'alice';
export const PASSWORD = 'correct horse battery staple';
export const USER_EMAIL = 'alice@example.com';
export const USER_NAME = 'Alice Example';
export const SCOPE = 'openid profile email';

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
  return addClientCli(dataDir, {
    name: opts.name ?? 'Test App',
    redirectUris: [callback.redirectUri],
    postLogoutUris: [callback.postLogoutUri],
    scope: SCOPE,
    public: opts.public,
    firstParty: opts.firstParty,
    idTokenAlg: opts.idTokenAlg,
  });
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
