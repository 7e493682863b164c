// Connection exhaustion (issue 6 item C): one host opening a hundred idle sockets and a hundred
// slowloris connections (a header line every half second, reconnecting whenever cut) must not
// keep another host from getting tokens promptly. Everything is on loopback: the attackers bind
// 127.0.0.3 and 127.0.0.4, the normal client 127.0.0.2 (all of 127.0.0.0/8 is the loopback
// interface on Linux). The server runs with small limits (64 connections, 16 per address, 2 s
// for a request head) so the socket counts stay far below any `ulimit -n`; without the
// per-address cap the attackers alone would hold every one of the 64 slots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startServer, addClient, mkDataDir, rmDataDir, sleep } from '../lib/harness.mjs';
import { FORM, basicAuth } from './lib/http.mjs';

const IDLE = 100;  // sockets per attacker kind, each kind from its own address
const LORIS = 100;

/** Opens a socket from `from` and keeps one alive in its place for as long as `live()`. */
function attacker(port, from, { trickle, live, stats }) {
  const open = () => {
    if (!live()) return;
    const s = net.connect({ port, host: '127.0.0.1', localAddress: from });
    let timer = null;
    let opened = 0;
    s.on('connect', () => {
      opened = Date.now();
      stats.connected++;
      if (trickle) {
        s.write('POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n');
        timer = setInterval(() => s.write('X-Slow: 1\r\n'), 500);
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(timer);
      if (opened) stats.lifetimes.push(Date.now() - opened);
      stats.sockets.delete(s);
      setTimeout(open, 250); // renew the attack (not faster: the machine runs other suites too)
    });
    stats.sockets.add(s);
  };
  open();
}

/** One client-credentials token request on a fresh connection from 127.0.0.2: { status, ms }. */
function tokenFrom(port, auth) {
  const body = 'grant_type=client_credentials';
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, path: '/token', method: 'POST', localAddress: '127.0.0.2', agent: false,
      timeout: 10000,
      headers: { 'content-type': FORM, authorization: auth, 'content-length': body.length },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Date.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

test('idle and slowloris connections from one host do not starve another host', { timeout: 90000 }, async () => {
  const dataDir = mkDataDir();
  const client = addClient(dataDir, { name: 'svc', scope: 'read' });
  const auth = basicAuth(client.client_id, client.client_secret);
  const server = await startServer({
    dataDir,
    args: ['--connection-limit', '64', '--connection-limit-per-address', '16', '--header-timeout', '2',
      '--body-timeout', '2'],
  });
  let live = true;
  const idle = { connected: 0, lifetimes: [], sockets: new Set() };
  const loris = { connected: 0, lifetimes: [], sockets: new Set() };
  try {
    for (let i = 0; i < IDLE; i++) attacker(server.port, '127.0.0.3', { trickle: false, live: () => live, stats: idle });
    for (let i = 0; i < LORIS; i++) attacker(server.port, '127.0.0.4', { trickle: true, live: () => live, stats: loris });
    await sleep(500);

    // For 6 s (three head deadlines, so the attack renews itself twice), a token every 300 ms.
    const results = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 6000) {
      try {
        results.push(await tokenFrom(server.port, auth));
      } catch (e) {
        results.push({ status: 0, ms: Date.now() - t0, error: e.message });
      }
      await sleep(300);
    }
    assert.ok(results.length >= 10, `${results.length} token requests`);
    // Promptly means seconds, not the 28 s stall of the attack before the limits: 3 s leaves room
    // for an ASan build on a loaded two-core machine (1 s was flaky there).
    const bad = results.filter((r) => r.status !== 200 || r.ms > 3000);
    assert.deepEqual(bad, [], 'every token request from the other host is answered, within 3 s');

    // The slowloris connections the server accepted were cut at the 2 s head deadline although
    // they kept sending (libmicrohttpd's idle timeout alone would never cut them); the refused
    // ones (over 16 per address) were closed at once.
    const cut = loris.lifetimes.filter((ms) => ms >= 1500 && ms < 4000).length;
    const refused = loris.lifetimes.filter((ms) => ms < 500).length;
    assert.ok(cut >= 16, `slowloris connections cut at the head deadline: ${cut}`);
    assert.ok(refused >= LORIS - 16, `slowloris connections refused at once: ${refused}`);
    assert.ok(loris.lifetimes.every((ms) => ms < 4000), 'no slowloris connection outlived the deadline by far');
    const idleCut = idle.lifetimes.filter((ms) => ms >= 1500 && ms < 4000).length;
    assert.ok(idleCut >= 16, `idle connections cut at the head deadline: ${idleCut}`);
    assert.ok(idle.lifetimes.every((ms) => ms < 4000), 'no idle connection outlived the deadline by far');
  } finally {
    live = false;
    for (const s of [...idle.sockets, ...loris.sockets]) s.destroy();
    await server.stop();
    rmDataDir(dataDir);
  }
  // The limits show in the log (a summary line, not one per connection).
  assert.match(server.log(), /event=http\.limits refused_per_address=[1-9]\d* refused_table=0 head_timeouts=[1-9]/);
});
