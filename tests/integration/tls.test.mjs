// HTTPS in `valetkey serve` (--tls-cert, --tls-key): an https issuer by default, TLS 1.2 and 1.3
// only, plain HTTP on the TLS port refused, configuration errors at start, and certificate
// reload on SIGHUP while clients keep sending requests, losing none of them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { startServer, addClient, mkDataDir, rmDataDir, runCli, sleep } from '../lib/harness.mjs';
import { basicAuth, readResponse, formBody, FORM, describe as desc } from './lib/http.mjs';
import { makePki } from './lib/pki.mjs';
import { tlsFetch } from './lib/tlsfetch.mjs';
import { verifyAccessToken } from './lib/jwt.mjs';

const execFileP = promisify(execFile);

/** Opens a TLS connection with `opts` and resolves to { ok, version, cn, error }. */
function handshake(port, opts) {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...opts }, () => {
      const cn = s.getPeerCertificate()?.subject?.CN;
      const version = s.getProtocol();
      s.end();
      resolve({ ok: true, version, cn });
    });
    s.setTimeout(5000, () => { s.destroy(); resolve({ ok: false, error: 'timeout' }); });
    s.on('error', (e) => resolve({ ok: false, error: e.code ?? e.message }));
  });
}

describe('HTTPS: valetkey serve --tls-cert --tls-key', { timeout: 120000 }, () => {
  let pki, dir, server, client, f, tlsDir;

  before(async () => {
    pki = makePki();
    // The server reads its pair from files of its own, which the reload test overwrites.
    tlsDir = fs.mkdtempSync(path.join(pki.dir, 'srv-'));
    fs.copyFileSync(pki.server.cert, path.join(tlsDir, 'cert.pem'));
    fs.copyFileSync(pki.server.key, path.join(tlsDir, 'key.pem'));
    dir = mkDataDir();
    client = addClient(dir, { name: 'tls-client', scope: 'read' });
    server = await startServer({
      dataDir: dir,
      args: ['--tls-cert', path.join(tlsDir, 'cert.pem'), '--tls-key', path.join(tlsDir, 'key.pem')],
    });
    f = tlsFetch({ ca: pki.ca.certPem });
  });
  after(async () => {
    f?.agent.destroy();
    await server?.stop();
    rmDataDir(dir);
    pki?.rm();
  });

  const token = (fetchFn = f) => fetchFn(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': FORM, authorization: basicAuth(client.client_id, client.client_secret) },
    body: formBody({ grant_type: 'client_credentials' }),
  }).then(readResponse);

  it('listens on https with an https issuer, and issues tokens over TLS', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const meta = await readResponse(await f(`${server.url}/.well-known/oauth-authorization-server`));
    assert.equal(meta.status, 200);
    assert.equal(meta.json.issuer, server.url, 'the default issuer is https:// + the bound address');
    assert.equal(meta.json.token_endpoint, `${server.url}/token`);
    const res = await token();
    assert.equal(res.status, 200, desc(res));
    const v = await verifyAccessToken(server, res.json.access_token, { fetch: f });
    assert.equal(v.payload.iss, server.url);
  });

  it('is reachable with curl, which verifies the certificate against the CA', async () => {
    const { stdout } = await execFileP('curl', ['-sS', '--cacert', pki.ca.cert, `${server.url}/healthz`]);
    assert.equal(JSON.parse(stdout).status, 'ok');
    await assert.rejects(execFileP('curl', ['-sS', `${server.url}/healthz`]),
      'curl without the CA refuses the certificate (so the check above is a real one)');
  });

  it('negotiates TLS 1.3 and TLS 1.2 with AEAD ciphers only', async () => {
    const v13 = await handshake(server.port, { ca: pki.ca.certPem });
    assert.equal(v13.ok, true, v13.error);
    assert.equal(v13.version, 'TLSv1.3');
    const v12 = await handshake(server.port, { ca: pki.ca.certPem, maxVersion: 'TLSv1.2' });
    assert.equal(v12.ok, true, v12.error);
    assert.equal(v12.version, 'TLSv1.2');
    const cbc = await handshake(server.port, {
      ca: pki.ca.certPem, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA',
    });
    assert.equal(cbc.ok, false, 'a TLS 1.2 client offering only CBC ciphers is refused');
  });

  it('refuses TLS 1.0 and TLS 1.1', async () => {
    // The client allows everything old (security level 0), so the refusal is the server's: the
    // same client settings get TLS 1.2 when 1.2 is allowed.
    const old = { ca: pki.ca.certPem, ciphers: 'DEFAULT@SECLEVEL=0', minVersion: 'TLSv1' };
    for (const maxVersion of ['TLSv1', 'TLSv1.1']) {
      const r = await handshake(server.port, { ...old, maxVersion });
      assert.equal(r.ok, false, `${maxVersion} must be refused, got ${r.version}`);
    }
    const control = await handshake(server.port, { ...old, maxVersion: 'TLSv1.2' });
    assert.equal(control.ok, true, `control: ${control.error}`);
    assert.equal(control.version, 'TLSv1.2');
  });

  it('refuses plain HTTP on the TLS port', async () => {
    const data = await new Promise((resolve, reject) => {
      const s = net.connect(server.port, '127.0.0.1', () => {
        s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      });
      let got = '';
      s.setTimeout(5000, () => { s.destroy(); reject(new Error('the server neither answered nor closed')); });
      s.on('data', (d) => { got += d.toString('latin1'); });
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
    });
    assert.doesNotMatch(data, /HTTP\/1\.[01]/, 'no HTTP response in clear');
    assert.doesNotMatch(data, /status/, 'no body either');
  });

  it('does not spin while a handshake waits for the client', async () => {
    // libmicrohttpd 0.9.75's epoll loop busy-waits on a connection whose TLS handshake waits
    // for data (the server uses poll(2) with TLS for that reason): four clients that send the
    // start of a ClientHello and stall must cost next to no CPU.
    const cpu = () => {
      const f = fs.readFileSync(`/proc/${server.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ 100)
    };
    const socks = [];
    for (let i = 0; i < 4; i++) {
      socks.push(await new Promise((resolve, reject) => {
        const c = net.connect(server.port, '127.0.0.1', () => {
          c.write(Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00])); // a partial record
          resolve(c);
        });
        c.on('error', reject);
      }));
    }
    await sleep(200);
    const c0 = cpu();
    await sleep(2000);
    const used = cpu() - c0;
    for (const c of socks) c.destroy();
    assert.ok(used < 0.4, `the server used ${used.toFixed(2)} s of CPU in 2 s with stalled handshakes`);
    assert.equal((await token()).status, 200, 'and serves others meanwhile');
  });

  it('reloads the certificate on SIGHUP under load, losing no request', async () => {
    // Workers send token requests, half on fresh connections (each a new handshake), half on
    // kept-alive ones, while the certificate is replaced and SIGHUP sent several times.
    const fresh = tlsFetch({ ca: pki.ca.certPem, keepAlive: false });
    const kept = tlsFetch({ ca: pki.ca.certPem });
    const before = await handshake(server.port, { ca: pki.ca.certPem });
    assert.equal(before.cn, '127.0.0.1');
    let stop = false;
    const results = [];
    const worker = async (fn) => {
      for (let i = 0; !stop && i < 2000; i++) {
        try {
          const r = await token(fn);
          results.push(r.status);
        } catch (e) {
          results.push(`error: ${e.code ?? e.message}`);
        }
      }
    };
    const workers = [];
    for (let i = 0; i < 4; i++) workers.push(worker(i % 2 === 0 ? fresh : kept));
    // Each reload waits for at least 10 more answers (bounded by time: a loaded machine slows
    // the test down rather than failing it), and so does the end.
    const progress = async (n) => {
      const target = results.length + n;
      const t0 = Date.now();
      while (results.length < target && Date.now() - t0 < 20000) await sleep(20);
    };
    const reloads = () => (server.log().match(/event=tls\.reload result=ok/g) ?? []).length;
    const pairs = [pki.server2, pki.server, pki.server2];
    for (const p of pairs) {
      await progress(10);
      fs.copyFileSync(p.cert, path.join(tlsDir, 'cert.pem'));
      fs.copyFileSync(p.key, path.join(tlsDir, 'key.pem'));
      // one signal at a time: signals sent before the server took the previous one merge
      const n = reloads();
      server.proc.kill('SIGHUP');
      const t0 = Date.now();
      while (reloads() === n && Date.now() - t0 < 5000) await sleep(20);
    }
    await progress(10);
    stop = true;
    await Promise.all(workers);
    fresh.agent.destroy();
    kept.agent.destroy();
    const bad = results.filter((s) => s !== 200);
    assert.ok(results.length >= 40, `enough requests ran (${results.length})`);
    assert.deepEqual(bad, [], `every request succeeded across the reloads (${results.length} sent)`);
    const after = await handshake(server.port, { ca: pki.ca.certPem });
    assert.equal(after.cn, 'renewed server', 'new connections get the new certificate');
    assert.equal(reloads(), pairs.length, 'one reload per SIGHUP');
  });

  it('keeps the current certificate when the new pair does not load', async () => {
    const current = await handshake(server.port, { ca: pki.ca.certPem });
    // a certificate with another's key: refused, logged, and the server goes on as before
    fs.copyFileSync(pki.server.cert, path.join(tlsDir, 'cert.pem'));
    fs.copyFileSync(pki.clientB.key, path.join(tlsDir, 'key.pem'));
    server.proc.kill('SIGHUP');
    const t0 = Date.now();
    while (!/event=tls\.reload result=failed/.test(server.log()) && Date.now() - t0 < 5000) await sleep(50);
    assert.match(server.log(), /event=tls\.reload result=failed msg=\S*is\\x20not\\x20the\\x20key/);
    const still = await handshake(server.port, { ca: pki.ca.certPem });
    assert.equal(still.ok, true);
    assert.equal(still.cn, current.cn, 'the previous certificate is still served');
    assert.equal((await token()).status, 200);
  });
});

describe('HTTPS configuration errors stop serve at start', { timeout: 60000 }, () => {
  let pki, dir;
  before(() => {
    pki = makePki();
    dir = mkDataDir();
  });
  after(() => {
    rmDataDir(dir);
    pki?.rm();
  });

  const serve = (args) => runCli(dir, ['serve'], ['--listen', '127.0.0.1:0', ...args]);

  it('refuses a key that is not the certificate\'s, a missing half, an unreadable file', () => {
    let r = serve(['--tls-cert', pki.server.cert, '--tls-key', pki.clientA.key]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /is not the key of the certificate/);
    r = serve(['--tls-cert', pki.server.cert]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /tls_cert and tls_key go together/);
    r = serve(['--tls-cert', path.join(pki.dir, 'nope.pem'), '--tls-key', pki.server.key]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /cannot open/);
    r = serve(['--tls-cert', pki.server.key, '--tls-key', pki.server.key]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /not a PEM certificate chain/);
  });

  it('refuses priorities that enable anything older than TLS 1.2', () => {
    const base = ['--tls-cert', pki.server.cert, '--tls-key', pki.server.key];
    let r = serve([...base, '--tls-priorities', 'NORMAL']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /enables TLS1\.[01]/);
    r = serve([...base, '--tls-priorities', 'NORMAL:+VERS-TLS-ALL:nonsense']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /tls_priorities/);
  });

  it('refuses TLS options without TLS, an http issuer with TLS, a header without a trusted proxy', () => {
    let r = serve(['--tls-client-ca', pki.ca.cert]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /need TLS/);
    r = serve(['--tls-cert', pki.server.cert, '--tls-key', pki.server.key, '--issuer', 'http://127.0.0.1:9']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /issuer must be an https URL/);
    r = serve(['--client-cert-header', 'X-Client-Cert']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /client_cert_header needs trusted_proxy/);
    r = serve(['--client-cert-header', 'X Client Cert', '--trusted-proxy', '127.0.0.1']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /must be a header name/);
  });
});
