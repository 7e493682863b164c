// Graceful shutdown (issue 6 item B): SIGTERM while clients rotate refresh tokens as fast as they
// can on keep-alive connections. A response to a committed rotation must never be lost: after a
// restart on the same data, every chain's last received refresh token must still work (a lost
// response would make the client's retry count as reuse and revoke its family). Also: idle
// keep-alive connections do not hold up the exit, and a request that never finishes arriving
// delays it no longer than --shutdown-timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startServer, mkDataDir, rmDataDir, recordSecret, sleep } from '../lib/harness.mjs';
import { FORM, basicAuth } from './lib/http.mjs';
import { seedUserAndClient, userGrant } from './lib/usergrant.mjs';

const PASSWORD = 'shutdown test password';

/** Resolves with { code, signal, ms } when proc exits, or null after ms. */
function exitWithin(proc, ms) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - t0 });
    });
  });
}

/** A keep-alive HTTP/1.1 connection of its own, with the least client-side work per request (so
 * that a few dozen of them keep the server busy): request(bytes) resolves with { status, json,
 * close } or rejects when the connection fails. One request at a time. */
class Conn {
  constructor(port) {
    this.port = port;
    this.sock = null;
    this.buf = Buffer.alloc(0);
    this.pending = null;
  }

  async open() {
    this.sock = net.connect(this.port, '127.0.0.1');
    this.sock.setNoDelay(true);
    await new Promise((resolve, reject) => { this.sock.once('connect', resolve); this.sock.once('error', reject); });
    this.sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); });
    const fail = (e) => {
      const p = this.pending;
      this.pending = null;
      this.sock = null;
      if (p) p.reject(e ?? new Error('connection closed before the response'));
    };
    this.sock.on('error', (e) => fail(e));
    this.sock.on('close', () => fail(null));
  }

  parse() {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0 || !this.pending) return;
    const head = this.buf.subarray(0, end).toString('latin1');
    const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buf.length < end + 4 + len) return;
    const body = this.buf.subarray(end + 4, end + 4 + len).toString('utf8');
    this.buf = this.buf.subarray(end + 4 + len);
    let json = {};
    try { json = JSON.parse(body); } catch { /* not JSON */ }
    for (const k of ['access_token', 'refresh_token', 'id_token']) if (json[k]) recordSecret(json[k]);
    const p = this.pending;
    this.pending = null;
    p.resolve({ status: Number(head.slice(9, 12)), json, close: /\r\nconnection:\s*close/i.test(head) });
  }

  async request(bytes) {
    if (!this.sock) await this.open();
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.sock.write(bytes);
    });
  }

  destroy() { this.sock?.destroy(); }
}

function refreshBytes(auth, rt) {
  const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt }).toString();
  return `POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${FORM}\r\nAuthorization: ${auth}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

test('SIGTERM under refresh load loses no committed rotation; every chain survives a restart', { timeout: 120000 }, async () => {
  // 48 chains (below the default 64 connections per address, with room for fetch's own) against
  // one worker thread, so that the server is busy when the signal comes; two rounds.
  const N = 48;
  const ROUNDS = 2;
  const dataDir = mkDataDir();
  const client = seedUserAndClient(dataDir, { users: 4, password: PASSWORD });
  const auth = basicAuth(client.client_id, client.client_secret);
  const start = () => startServer({ dataDir, args: ['--threads', '1'] });
  let server = await start();
  try {
    const chains = [];
    for (let i = 0; i < N; i++) {
      const t = await userGrant(server.url, client, { username: `user${i % 4}`, password: PASSWORD });
      chains.push({ rt: t.refresh_token, rotations: 0, end: null, conn: null });
    }
    for (let round = 1; round <= ROUNDS; round++) {
      let stopAt = Infinity;
      const loops = chains.map(async (c) => {
        c.conn = new Conn(server.port);
        c.rotations = 0;
        c.end = null;
        // Bounded: a chain ends on the first network error (the server went away) or non-200.
        for (let i = 0; i < 100000 && Date.now() < stopAt + 30000; i++) {
          let r;
          try {
            r = await c.conn.request(refreshBytes(auth, c.rt));
          } catch (e) {
            c.end = `network: ${e.code ?? e.message}`;
            return;
          }
          if (r.status !== 200) {
            c.end = `HTTP ${r.status} ${r.json.error ?? ''}`;
            return;
          }
          c.rt = r.json.refresh_token;
          c.rotations++;
          if (r.close) c.conn.destroy(); // the server's last response on this connection
        }
        c.end = 'loop bound';
      });

      // Let every chain rotate a few times, then stop the server in the middle of the load.
      const t0 = Date.now();
      while (chains.some((c) => c.rotations < 3 && c.end === null) && Date.now() - t0 < 20000) await sleep(20);
      assert.deepEqual(chains.filter((c) => c.rotations < 3).map((c) => c.end), [],
        `round ${round}: every chain rotates under load`);
      const exited = exitWithin(server.proc, 20000);
      stopAt = Date.now();
      server.proc.kill('SIGTERM');
      const ex = await exited;
      await Promise.all(loops);
      for (const c of chains) c.conn.destroy();

      assert.ok(ex, `round ${round}: the server exits within 20 s of SIGTERM`);
      assert.deepEqual({ code: ex.code, signal: ex.signal }, { code: 0, signal: null }, 'clean exit');
      assert.ok(ex.ms < 12000, `round ${round}: exit took ${ex.ms} ms; the drain is bounded by --shutdown-timeout (10 s)`);
      const refused = chains.filter((c) => c.end.startsWith('HTTP') && !c.end.startsWith('HTTP 503'));
      assert.deepEqual(refused.map((c) => c.end), [], `round ${round}: no chain was refused while the server ran`);
      assert.match(server.log(), /event=http\.stopped/);

      // Restart on the same data: each chain's last received token must still refresh.
      server = await start();
      const lost = [];
      for (const [i, c] of chains.entries()) {
        const conn = new Conn(server.port);
        const r = await conn.request(refreshBytes(auth, c.rt));
        conn.destroy();
        if (r.status === 200) c.rt = r.json.refresh_token;
        else lost.push(`chain ${i} (${c.rotations} rotations, ended by ${c.end}): HTTP ${r.status} ${r.json.error}`);
      }
      assert.deepEqual(lost, [], `round ${round}: every chain's last received refresh token still works`);
    }
  } finally {
    if (server && !server.exited) await server.stop();
    rmDataDir(dataDir);
  }
});

test('idle keep-alive connections do not delay the exit; a request still arriving is cut at --shutdown-timeout', { timeout: 60000 }, async () => {
  const dataDir = mkDataDir();
  const server = await startServer({ dataDir, args: ['--shutdown-timeout', '2', '--body-timeout', '60', '--body-min-rate', '0'] });
  const sockets = [];
  try {
    // Eight idle keep-alive connections, each after one answered request.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    await Promise.all(Array.from({ length: 8 }, () => new Promise((resolve, reject) => {
      http.get(`${server.url}/healthz`, { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
    })));
    // One request whose body never completes (allowed 60 s by the body timeout).
    const slow = net.connect(server.port, '127.0.0.1');
    sockets.push(slow);
    await new Promise((r) => slow.once('connect', r));
    slow.write('POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=');
    const slowClosed = new Promise((r) => slow.once('close', r));
    await sleep(200);

    const exited = exitWithin(server.proc, 15000);
    server.proc.kill('SIGTERM');
    const ex = await exited;
    agent.destroy();
    assert.ok(ex, 'the server exits');
    assert.deepEqual({ code: ex.code, signal: ex.signal }, { code: 0, signal: null });
    assert.ok(ex.ms >= 1500 && ex.ms < 5000, `exit after the 2 s drain, took ${ex.ms} ms`);
    await slowClosed;
    assert.match(server.log(), /event=http\.drain_timeout connections=1 cut_unfinished_requests=1/);
  } finally {
    for (const s of sockets) s.destroy();
    rmDataDir(dataDir);
  }
});
