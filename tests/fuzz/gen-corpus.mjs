#!/usr/bin/env node
// Writes the seed corpora in tests/fuzz/corpus/<target>/. Byte-for-byte reproducible: every key
// is derived from a fixed label, ES256 uses RFC 6979 deterministic nonces, PS256 a salt derived
// from the message, RS256 and Ed25519 are deterministic anyway. No npm packages: node:crypto
// and BigInt only.
//
//   node tests/fuzz/gen-corpus.mjs           (re)write the seeds, leave other files alone
//   node tests/fuzz/gen-corpus.mjs --clean   empty each corpus directory first
//
// None of these keys is ever in a key set the drivers verify with: the jws driver generates its
// keys at start-up, so every token here must be rejected.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLEAN = process.argv.includes('--clean');

// ---------- bytes and numbers ----------
const sha256 = (...parts) => crypto.createHash('sha256').update(Buffer.concat(parts.map(Buffer.from))).digest();
const hmac = (key, ...parts) => crypto.createHmac('sha256', key).update(Buffer.concat(parts.map(Buffer.from))).digest();
const b64u = (b) => Buffer.from(b).toString('base64url');
const j64 = (o) => b64u(typeof o === 'string' ? o : JSON.stringify(o));
const b2n = (b) => BigInt('0x' + (Buffer.from(b).toString('hex') || '0'));
const n2b = (n, len) => {
  let h = n.toString(16);
  if (h.length % 2) h = '0' + h;
  const b = Buffer.from(h, 'hex');
  return len === undefined ? b : Buffer.concat([Buffer.alloc(len - b.length), b]);
};
const mod = (a, m) => ((a % m) + m) % m;
function modPow(b, e, m) {
  let r = 1n;
  b = mod(b, m);
  for (; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
}
function modInv(a, m) {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}
// A deterministic byte stream for a label.
function stream(label) {
  let ctr = 0;
  return (n) => {
    const out = [];
    while (Buffer.concat(out).length < n) out.push(sha256(label, String(ctr++)));
    return Buffer.concat(out).subarray(0, n);
  };
}

// ---------- P-256 ECDSA with RFC 6979 nonces ----------
const P = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const G = [0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n];
function padd(A, B) {
  if (A === null) return B;
  if (B === null) return A;
  if (A[0] === B[0] && mod(A[1] + B[1], P) === 0n) return null;
  const l = A[0] === B[0] && A[1] === B[1]
    ? mod((3n * A[0] * A[0] - 3n) * modInv(2n * A[1], P), P)
    : mod((B[1] - A[1]) * modInv(B[0] - A[0], P), P);
  const x = mod(l * l - A[0] - B[0], P);
  return [x, mod(l * (A[0] - x) - A[1], P)];
}
function pmul(k, Pt) {
  let R = null;
  for (let Q = Pt; k > 0n; k >>= 1n, Q = padd(Q, Q)) if (k & 1n) R = padd(R, Q);
  return R;
}
function ecKey(label) {
  const d = mod(b2n(sha256('ec-key', label)), N - 1n) + 1n;
  const [x, y] = pmul(d, G);
  return { d, x, y, jwk: { kty: 'EC', crv: 'P-256', x: b64u(n2b(x, 32)), y: b64u(n2b(y, 32)) } };
}
function rfc6979k(d, h1) {
  const x = n2b(d, 32), h = n2b(mod(b2n(h1), N), 32);
  let V = Buffer.alloc(32, 1), K = Buffer.alloc(32, 0);
  K = hmac(K, V, [0], x, h); V = hmac(K, V);
  K = hmac(K, V, [1], x, h); V = hmac(K, V);
  for (;;) {
    V = hmac(K, V);
    const k = b2n(V);
    if (k >= 1n && k < N) return k;
    K = hmac(K, V, [0]); V = hmac(K, V);
  }
}
function es256Sign(key, input) {
  const h1 = sha256(input), z = b2n(h1), k = rfc6979k(key.d, h1);
  const r = mod(pmul(k, G)[0], N);
  const s = mod(modInv(k, N) * (z + r * key.d), N);
  const sig = Buffer.concat([n2b(r, 32), n2b(s, 32)]);
  const pub = crypto.createPublicKey({ key: key.jwk, format: 'jwk' });
  if (!crypto.verify('sha256', Buffer.from(input), { key: pub, dsaEncoding: 'ieee-p1363' }, sig))
    throw new Error('ES256 self-check failed');
  return { sig, r, s };
}

// ---------- RSA from deterministic primes ----------
const SMALL = [];
for (let i = 3; SMALL.length < 300; i += 2) if (SMALL.every((p) => i % p)) SMALL.push(i);
function isProbablePrime(n, rnd) {
  for (const p of SMALL) if (n % BigInt(p) === 0n) return n === BigInt(p);
  let d = n - 1n, s = 0;
  while (!(d & 1n)) { d >>= 1n; s++; }
  for (let i = 0; i < 24; i++) {
    const a = mod(b2n(rnd(64)), n - 3n) + 2n;
    let x = modPow(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    let ok = false;
    for (let j = 1; j < s && !ok; j++) { x = (x * x) % n; ok = x === n - 1n; }
    if (!ok) return false;
  }
  return true;
}
function prime(bits, rnd) {
  for (;;) {
    let c = b2n(rnd(bits / 8)) | (3n << BigInt(bits - 2)) | 1n;
    if (isProbablePrime(c, rnd) && (c - 1n) % 65537n !== 0n) return c;
  }
}
function rsaKey(label, bits) {
  const rnd = stream('rsa-' + label);
  const p = prime(bits / 2, rnd), q = prime(bits / 2, rnd), n = p * q, e = 65537n;
  const d = modInv(e, (p - 1n) * (q - 1n));
  const b = (v) => b64u(n2b(v));
  const priv = { kty: 'RSA', n: b(n), e: b(e), d: b(d), p: b(p), q: b(q), dp: b(d % (p - 1n)), dq: b(d % (q - 1n)), qi: b(modInv(q, p)) };
  return { n, d, bytes: bits / 8, priv, jwk: { kty: 'RSA', n: priv.n, e: priv.e } };
}
const rs256Sign = (key, input) =>
  crypto.sign('sha256', Buffer.from(input), crypto.createPrivateKey({ key: key.priv, format: 'jwk' }));
// EMSA-PSS (RFC 8017 §9.1.1) with SHA-256, MGF1-SHA-256, a 32-byte salt derived from the input.
function ps256Sign(key, input) {
  const emBits = key.bytes * 8 - 1, emLen = Math.ceil(emBits / 8);
  const mHash = sha256(input), salt = sha256('pss-salt', input);
  const H = sha256(Buffer.alloc(8), mHash, salt);
  const DB = Buffer.concat([Buffer.alloc(emLen - 32 - 32 - 2), Buffer.from([1]), salt]);
  const mask = [];
  for (let c = 0; Buffer.concat(mask).length < DB.length; c++) mask.push(sha256(H, n2b(BigInt(c), 4)));
  const masked = Buffer.from(DB.map((v, i) => v ^ Buffer.concat(mask)[i]));
  masked[0] &= 0xff >> (8 * emLen - emBits);
  const EM = Buffer.concat([masked, H, Buffer.from([0xbc])]);
  const sig = n2b(modPow(b2n(EM), key.d, key.n), key.bytes);
  const pub = crypto.createPublicKey({ key: key.jwk, format: 'jwk' });
  if (!crypto.verify('sha256', Buffer.from(input), { key: pub, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig))
    throw new Error('PS256 self-check failed');
  return sig;
}

// ---------- Ed25519 from a fixed seed ----------
function edKey(label) {
  const seed = sha256('ed-key', label);
  const key = crypto.createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  const jwk = crypto.createPublicKey(key).export({ format: 'jwk' });
  return { key, jwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x } };
}

// ---------- keys (all foreign to the drivers) ----------
const ec = ecKey('foreign-1');
const ec2 = ecKey('foreign-2');
const ed = edKey('foreign-1');
const rsa = rsaKey('foreign-2048', 2048);
const rsa1024 = rsaKey('foreign-1024', 1024);
const thumb = (jwk) => {
  const members = jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : jwk.kty === 'RSA' ? ['e', 'kty', 'n'] : ['crv', 'kty', 'x'];
  return b64u(sha256(JSON.stringify(Object.fromEntries(members.map((m) => [m, jwk[m]])))));
};

function jws(alg, header, claims, { raw = false } = {}) {
  const h = typeof header === 'string' ? b64u(header) : j64(header);
  const p = raw ? b64u(claims) : j64(claims);
  const input = `${h}.${p}`;
  let sig;
  if (alg === 'ES256') sig = es256Sign(ec, input).sig;
  else if (alg === 'EdDSA') sig = crypto.sign(null, Buffer.from(input), ed.key);
  else if (alg === 'RS256') sig = rs256Sign(rsa, input);
  else if (alg === 'PS256') sig = ps256Sign(rsa, input);
  else throw new Error(alg);
  return `${input}.${b64u(sig)}`;
}

// ---------- writing ----------
const written = {};
function seed(target, name, content) {
  const dir = path.join(HERE, 'corpus', target);
  if (!written[target]) {
    fs.mkdirSync(dir, { recursive: true });
    if (CLEAN) for (const f of fs.readdirSync(dir)) fs.unlinkSync(path.join(dir, f));
    written[target] = 0;
  }
  fs.writeFileSync(path.join(dir, name), typeof content === 'string' ? Buffer.from(content, 'latin1') : content);
  written[target]++;
}

// ---------- form ----------
{
  const s = (n, c) => seed('form', n, c);
  s('client-credentials', 'grant_type=client_credentials&scope=read+write');
  s('authorization-code', 'grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&client_id=s6BhdRkqt3');
  s('refresh-resources', 'grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&resource=https%3A%2F%2Fapi.example%2F&resource=https%3A%2F%2Fother.example%2F');
  s('introspect', 'token=eyJhbGciOiJFUzI1NiJ9.e30.sig&token_type_hint=access_token');
  s('empty', '');
  s('pct-alone', '%');
  s('pct-one-digit', '%4');
  s('pct-not-hex', '%zz');
  s('pct-one-hex-one-not', 'a=%4g');
  s('pct-nul', 'a=%00');
  s('pct-at-end-of-value', 'a=b%');
  s('pct-in-name', '%41%62=%43+d');
  s('pct-utf8-mixed-case', '%e2%82%ac=%E2%82%AC&%C3%A9=%c3%a9');
  s('raw-nul', 'a=b\0c');
  s('raw-high-bytes', 'n\xff=\x80\xfe&\x01=\x7f');
  s('ampersands', '&&&');
  s('empty-pairs', '&a=1&&b=2&');
  s('only-equals', '=&==&=a&a=');
  s('name-only', 'a&b&c');
  s('equals-in-value', 'a=b=c&d==');
  s('plus', '+=+&a=+b+&c=%2B');
  s('repeats', 'scope=a&scope=b&scope=&resource=x&resource=y');
  s('params-64', Array.from({ length: 64 }, (_, i) => `p${i}=${i}`).join('&'));
  s('params-65', Array.from({ length: 65 }, (_, i) => `p${i}=${i}`).join('&'));
  s('params-64-then-empties', Array.from({ length: 64 }, (_, i) => `p${i}=${i}`).join('&') + '&&&&');
  s('value-4096', 'a=' + 'x'.repeat(4096));
  s('value-4097', 'a=' + 'x'.repeat(4097));
  s('value-4096-encoded', 'a=' + '%41'.repeat(4096));
  s('value-4097-encoded', 'a=' + '%41'.repeat(4097));
  s('name-4097', 'n'.repeat(4097) + '=v');
  s('value-raw-12289', 'a=' + 'x'.repeat(12289));
}

// ---------- uri (redirect URIs; "registered\nrequested" for the match) ----------
{
  const s = (n, c) => seed('uri', n, c);
  s('https', 'https://app.example.com/cb');
  s('https-port-query', 'https://app.example.com:8443/cb?x=1&y=%2F');
  s('loopback-v4', 'http://127.0.0.1/native');
  s('loopback-v6-port', 'http://[::1]:8080/cb');
  s('localhost', 'http://localhost:3000/callback');
  s('private-use', 'com.example.app:/oauth2redirect');
  s('private-use-authority', 'com.example.app://cb');
  s('userinfo-bypass', 'http://127.0.0.1:x@evil.example/cb');
  s('userinfo-backslash', 'http://127.0.0.1\\@evil.example/cb');
  s('userinfo-two-at', 'http://a@127.0.0.1@evil.example/cb');
  s('userinfo-v6', 'http://[::1]@evil.example/cb');
  s('fragment', 'https://app.example.com/cb#x');
  s('empty-port', 'http://127.0.0.1:/cb');
  s('port-too-big', 'http://127.0.0.1:65536/cb');
  s('upper-scheme', 'HTTP://evil.example/cb');
  s('leading-zero-v4', 'http://127.0.0.01/cb');
  s('pct-host', 'http://%31%32%37.0.0.1/cb');
  s('ipv6-forms', 'http://[1:2:3:4:5:6:7::]/cb');
  s('ipv6-v4', 'https://[::ffff:192.0.2.1]/cb');
  s('ipvfuture', 'https://[v7.a:b]/cb');
  s('ipv6-bad', 'http://[1::2::3]/cb');
  s('javascript', 'javascript:alert(1)');
  s('no-scheme', '//evil.example/cb');
  s('empty', '');
  s('long-2048', 'https://app.example.com/' + 'a'.repeat(2048 - 24));
  s('long-2049', 'https://app.example.com/' + 'a'.repeat(2049 - 24));
  s('match-loopback-port', 'http://127.0.0.1/native\nhttp://127.0.0.1:51004/native');
  s('match-loopback-v6', 'https://app.example.com/cb\nhttp://[::1]/v6?x=1\nhttp://[::1]:6000/v6?x=1');
  s('match-localhost-port', 'http://localhost/cb\nhttp://localhost:3000/cb');
  s('match-userinfo', 'http://127.0.0.1/native\nhttp://127.0.0.1:1@127.0.0.1/native');
  s('match-exact', 'https://a.example/cb\nhttps://b.example/cb\nhttps://b.example/cb');
  s('match-old-bad-registration', 'http://127.0.0.1:x@evil.example/cb\nhttp://127.0.0.1:x@evil.example/cb');
}

// ---------- basic (Authorization header values) ----------
{
  const s = (n, c) => seed('basic', n, c);
  const basic = (raw) => 'Basic ' + Buffer.from(raw, 'latin1').toString('base64');
  s('basic-rfc6749', 'Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW');
  s('basic-lowercase-tab', 'basic\tczZCaGRSa3F0MzpnWDFmQmF0M2JW');
  s('basic-upper-spaces', 'BASIC   czZCaGRSa3F0MzpnWDFmQmF0M2JW  ');
  s('basic-empty', 'Basic ');
  s('basic-no-space', 'BasicczZCaGRSa3F0MzpnWDFmQmF0M2JW');
  s('basic-scheme-only', 'Basic');
  s('basic-bad-b64', 'Basic !!!!');
  s('basic-padding-only', 'Basic ====');
  s('basic-unpadded', 'Basic dTpwYQ');
  s('basic-no-colon', basic('client'));
  s('basic-empty-user', basic(':secret'));
  s('basic-empty-pass', basic('client:'));
  s('basic-colon-in-pass', basic('client:pa:ss'));
  s('basic-urlencoded', basic('my%20client:p%2Bw%3Ad'));
  s('basic-bad-pct', basic('a%zz:b'));
  s('basic-pct-nul', basic('a%00:b'));
  s('basic-raw-nul', basic('a\0b:c'));
  s('basic-utf8', basic('cli\xc3\xa9nt:\xff\xfe'));
  s('basic-long-16384', 'Basic ' + Buffer.from('u:' + 'p'.repeat(12286)).toString('base64'));
  s('basic-long-16388', 'Basic ' + Buffer.from('u:' + 'p'.repeat(12289)).toString('base64'));
  s('bearer-rfc6750', 'Bearer mF_9.B5f-4.1JqM');
  s('bearer-lowercase', 'bearer abc~+/');
  s('bearer-padding', 'Bearer YWJj==');
  s('bearer-equals-inside', 'Bearer a=b');
  s('bearer-empty', 'Bearer   ');
  s('bearer-space-inside', 'Bearer a b');
  s('bearer-8192', 'Bearer ' + 'a'.repeat(8192));
  s('bearer-8193', 'Bearer ' + 'a'.repeat(8193));
  s('dpop', 'DPoP eyJhbGciOiJFUzI1NiJ9.e30.x');
  s('empty', '');
}

// ---------- jws ----------
const NOW = 1700000000;
const ISS = 'https://issuer.example';
const claims = { iss: ISS, sub: 'client-1', client_id: 'client-1', aud: 'https://api.example', exp: 4102444800, iat: NOW - 10, nbf: NOW - 10, jti: 'FuzzJti0001', scope: 'read write' };
{
  const s = (n, c) => seed('jws', n, c);
  const kid = thumb(ec.jwk);
  const at = { alg: 'ES256', typ: 'at+jwt', kid };
  s('es256-kid', jws('ES256', at, claims));
  // Without a kid the driver's own ES256 key is selected, so the variants below get as far as
  // the base64url and signature checks instead of stopping at the kid lookup.
  const good = jws('ES256', { alg: 'ES256', typ: 'at+jwt' }, claims);
  s('es256-no-kid', good);
  s('eddsa-no-kid', jws('EdDSA', { alg: 'EdDSA', typ: 'at+jwt' }, claims));
  s('rs256-no-kid', jws('RS256', { alg: 'RS256', typ: 'application/at+jwt' }, claims));
  s('ps256-no-kid', jws('PS256', { alg: 'PS256', typ: 'AT+JWT' }, claims));
  const [h, p, sig] = good.split('.');
  s('alg-none', `${j64({ alg: 'none', typ: 'at+jwt' })}.${p}.`);
  s('alg-none-with-sig', `${j64({ alg: 'none' })}.${p}.${sig}`);
  const hsInput = `${j64({ alg: 'HS256', typ: 'at+jwt' })}.${p}`;
  s('hs256-public-key-as-secret', `${hsInput}.${b64u(hmac(JSON.stringify(ec.jwk), hsInput))}`);
  s('alg-lowercase', `${j64({ alg: 'es256' })}.${p}.${sig}`);
  s('two-parts', `${h}.${p}`);
  s('four-parts', `${good}.${sig}`);
  s('one-part', h);
  s('dots-only', '..');
  s('empty-payload', jws('ES256', { alg: 'ES256' }, '', { raw: true }));
  s('b64-padding', `${h}=.${p}.${sig}`);
  s('b64-plus-slash', `${h}.${p.replace(/-/g, '+').replace(/_/g, '/')}+/.${sig}`);
  s('b64-len-4k1', `${h}.${p}A.${sig}`);
  s('b64-trailing-bits', `${h}.${p}.${sig.slice(0, -1)}${String.fromCharCode(sig.charCodeAt(sig.length - 1) ^ 1)}`);
  s('sig-63-bytes', `${h}.${p}.${b64u(Buffer.from(sig, 'base64url').subarray(0, 63))}`);
  const r = Buffer.from(sig, 'base64url').subarray(0, 32);
  const sHigh = n2b(N - b2n(Buffer.from(sig, 'base64url').subarray(32)), 32);
  s('sig-high-s', `${h}.${p}.${b64u(Buffer.concat([r, sHigh]))}`);
  s('sig-zero', `${j64({ alg: 'ES256' })}.${p}.${b64u(Buffer.alloc(64))}`);
  s('sig-r-s-equal-n', `${j64({ alg: 'ES256' })}.${p}.${b64u(Buffer.concat([n2b(N, 32), n2b(N, 32)]))}`);
  s('header-huge', jws('ES256', { alg: 'ES256', typ: 'at+jwt', x: 'y'.repeat(5600) }, claims));
  s('token-8193', `${h}.${p}.${'A'.repeat(8192 - h.length - p.length - 1)}`);
  s('header-nested', `${b64u('{"alg":"ES256","n":' + '['.repeat(600) + ']'.repeat(600) + '}')}.${p}.${sig}`);
  s('header-duplicate-alg', `${b64u('{"alg":"ES256","alg":"none"}')}.${p}.${sig}`);
  s('header-crit', jws('ES256', { alg: 'ES256', crit: ['exp'], exp: 1 }, claims));
  s('header-kid-number', jws('ES256', { alg: 'ES256', kid: 7 }, claims));
  s('header-alg-array', `${j64({ alg: ['ES256'] })}.${p}.${sig}`);
  s('header-array', `${j64([])}.${p}.${sig}`);
  s('header-trailing-garbage', `${b64u('{"alg":"ES256"} x')}.${p}.${sig}`);
  s('header-nul-in-string', `${b64u('{"alg":"ES256\\u0000"}')}.${p}.${sig}`);
  s('payload-duplicate-exp', jws('ES256', { alg: 'ES256', typ: 'at+jwt' }, `{"iss":"${ISS}","exp":4102444800,"exp":1}`, { raw: true }));
  // Raw claims objects: the driver signs these with its own key (round trip) and checks them.
  s('claims-valid', JSON.stringify(claims));
  s('claims-expired', JSON.stringify({ ...claims, exp: NOW }));
  s('claims-exp-fraction', JSON.stringify({ ...claims, exp: NOW + 0.5 }));
  s('claims-exp-string', JSON.stringify({ ...claims, exp: '4102444800' }));
  s('claims-exp-huge', `{"iss":"${ISS}","exp":1e300}`);
  s('claims-exp-int64-min', `{"iss":"${ISS}","exp":-9223372036854775808}`);
  s('claims-nbf-future', JSON.stringify({ ...claims, nbf: NOW + 61 }));
  s('claims-iat-future-fraction', JSON.stringify({ ...claims, iat: NOW + 60.25 }));
  s('claims-iss-other', JSON.stringify({ ...claims, iss: 'https://issuer.example/' }));
  s('claims-no-exp', JSON.stringify({ iss: ISS }));
  s('claims-typ-jwt', jws('ES256', { alg: 'ES256', typ: 'JWT' }, claims));
  s('claims-typ-application-only', jws('ES256', { alg: 'ES256', typ: 'application/' }, claims));
}

// ---------- jwks ----------
{
  const s = (n, c) => seed('jwks', n, typeof c === 'string' ? c : JSON.stringify(c));
  const ecj = { ...ec.jwk, kid: thumb(ec.jwk), alg: 'ES256', use: 'sig' };
  const ec2j = { ...ec2.jwk, kid: 'ec-2' };
  const edj = { ...ed.jwk, kid: 'ed-1', alg: 'EdDSA' };
  const rsj = { ...rsa.jwk, kid: 'rsa-1', alg: 'RS256', use: 'sig' };
  const psj = { ...rsa.jwk, kid: 'rsa-1', alg: 'PS256' };
  s('one-ec', { keys: [ecj] });
  s('ec-no-alg', { keys: [ec2j] });
  s('mixed-4', { keys: [ecj, ec2j, edj, rsj, psj] });
  s('empty-keys', { keys: [] });
  s('rsa-no-alg-no-kid', { keys: [{ kty: 'RSA', n: rsa.jwk.n, e: rsa.jwk.e }] });
  s('keys-32', { keys: Array.from({ length: 32 }, (_, i) => ({ ...ec2.jwk, kid: `k${i}` })) });
  s('keys-33', { keys: Array.from({ length: 33 }, (_, i) => ({ ...ec2.jwk, kid: `k${i}` })) });
  s('keys-40', { keys: Array.from({ length: 40 }, (_, i) => ({ ...edj, kid: `k${i}` })) });
  s('rsa-1024', { keys: [{ ...rsa1024.jwk, alg: 'RS256', kid: 'small' }] });
  s('rsa-e-3', { keys: [{ kty: 'RSA', n: rsa.jwk.n, e: 'Aw', kid: 'e3' }] });
  s('rsa-n-even', { keys: [{ kty: 'RSA', n: b64u(n2b(rsa.n - 1n)), e: 'AQAB' }] });
  s('rsa-n-leading-zero', { keys: [{ kty: 'RSA', n: b64u(Buffer.concat([Buffer.alloc(1), n2b(rsa.n)])), e: 'AQAB' }] });
  s('use-enc-skipped', { keys: [{ ...ec2.jwk, use: 'enc' }, ecj] });
  s('use-number', { keys: [{ ...ec2.jwk, use: 1 }] });
  s('key-ops-encrypt', { keys: [{ ...ec2.jwk, key_ops: ['encrypt'] }] });
  s('key-ops-verify', { keys: [{ ...ec2.jwk, key_ops: ['sign', 'verify'] }] });
  s('key-ops-string', { keys: [{ ...ec2.jwk, key_ops: 'verify' }] });
  s('private-d', { keys: [{ ...ec2.jwk, d: b64u(n2b(ec2.d, 32)) }] });
  s('private-rsa', { keys: [{ ...rsa.priv, alg: 'RS256' }] });
  s('ec-off-curve', { keys: [{ ...ec2.jwk, y: ec.jwk.y }] });
  s('ec-x-short', { keys: [{ ...ec2.jwk, x: ec2.jwk.x.slice(0, 40) }] });
  s('ec-p384-skipped', { keys: [{ kty: 'EC', crv: 'P-384', x: 'AA', y: 'AA' }] });
  s('ec-alg-mismatch', { keys: [{ ...ec2.jwk, alg: 'RS256' }] });
  s('okp-x25519-skipped', { keys: [{ kty: 'OKP', crv: 'X25519', x: ed.jwk.x }] });
  // Found by fuzz_jwks, fixed in a2bfcfc: the neutral point (and all-zero x, a point of order 4)
  // as an Ed25519 key made (neutral, 0) verify every message. Must be refused now.
  const neutral = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);
  s('okp-small-order-neutral', { keys: [{ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', x: b64u(neutral) }] });
  s('okp-small-order-zero', { keys: [{ kty: 'OKP', crv: 'Ed25519', x: b64u(Buffer.alloc(32)) }] });
  s('oct-and-hs256-skipped', { keys: [{ kty: 'oct', k: 'c2VjcmV0' }, { ...ec2.jwk, alg: 'HS256' }, { ...ec2.jwk, alg: 'none' }] });
  s('duplicate-kid-same-alg', { keys: [{ ...ec.jwk, kid: 'same' }, { ...ec2.jwk, kid: 'same' }] });
  s('duplicate-kid-other-alg', { keys: [{ ...ec.jwk, kid: 'same' }, { ...edj, kid: 'same' }] });
  s('kid-129', { keys: [{ ...ec2.jwk, kid: 'k'.repeat(129) }] });
  s('kid-number', { keys: [{ ...ec2.jwk, kid: 42 }] });
  s('duplicate-member', `{"keys":[],"keys":[${JSON.stringify(ecj)}]}`);
  s('nested-deep', '{"keys":[' + '['.repeat(3000) + ']'.repeat(3000) + ']}');
  s('keys-not-array', { keys: {} });
  s('root-array', [ecj]);
  s('key-not-object', { keys: ['x'] });
  s('empty', '');
  s('over-64k', `{"keys":[${JSON.stringify(ecj)}]}` + ' '.repeat(65536));
}

// ---------- dpop (DPoP proofs for POST https://api.example/v1/chat at 1700000000, and URLs) ----------
{
  const s = (n, c) => seed('dpop', n, c);
  const pub = { kty: 'EC', crv: 'P-256', x: ec.jwk.x, y: ec.jwk.y };
  const hdr = { typ: 'dpop+jwt', alg: 'ES256', jwk: pub };
  const htu = 'https://api.example/v1/chat';
  const claims = { jti: 'seed-1', htm: 'POST', htu, iat: 1700000000 };
  s('valid', jws('ES256', hdr, claims));
  s('valid-normalised-htu', jws('ES256', hdr, { ...claims, htu: 'HTTPS://API.example:443/v1/x/../chat?q=1#f' }));
  s('valid-ath-nonce', jws('ES256', hdr, { ...claims, ath: b64u(sha256('token')), nonce: 'n' }));
  s('valid-eddsa', jws('EdDSA', { typ: 'dpop+jwt', alg: 'EdDSA', jwk: ed.jwk }, claims));
  s('valid-rs256', jws('RS256', { typ: 'dpop+jwt', alg: 'RS256', jwk: { kty: 'RSA', n: rsa.jwk.n, e: rsa.jwk.e } }, claims));
  s('htm-get', jws('ES256', hdr, { ...claims, htm: 'GET' }));
  s('htu-other', jws('ES256', hdr, { ...claims, htu: 'https://api.example/v1/images' }));
  s('iat-old', jws('ES256', hdr, { ...claims, iat: 1699999000 }));
  s('iat-real', jws('ES256', hdr, { ...claims, iat: 1700000000.5 }));
  s('typ-jwt', jws('ES256', { ...hdr, typ: 'JWT' }, claims));
  s('jwk-private', jws('ES256', { ...hdr, jwk: { ...pub, d: 'AAAA' } }, claims));
  s('jwk-missing', jws('ES256', { typ: 'dpop+jwt', alg: 'ES256' }, claims));
  s('jwk-alg-mismatch', jws('ES256', { ...hdr, jwk: { ...pub, alg: 'RS256' } }, claims));
  s('signed-by-another-key', jws('ES256', { ...hdr, jwk: { kty: 'EC', crv: 'P-256', x: ec2.jwk.x, y: ec2.jwk.y } }, claims));
  s('alg-none', `${j64({ ...hdr, alg: 'none' })}.${j64(claims)}.`);
  const hsInput = `${j64({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'c2Vj' } })}.${j64(claims)}`;
  s('hs256-oct', `${hsInput}.${b64u(hmac('sec', hsInput))}`);
  s('duplicate-claim', jws('ES256', hdr, `{"jti":"a","htm":"POST","htm":"GET","htu":"${htu}","iat":1700000000}`, { raw: true }));
  for (const [n, u] of [['url-plain', htu], ['url-dots', 'http://h/a/./b/../../c/'], ['url-pct', 'https://h/%7e%41%2f%2F%3a'],
    ['url-ipv6', 'https://[FE80::1]:8443/x'], ['url-port-empty', 'http://h:'], ['url-userinfo', 'https://u@h/'],
    ['url-bad-pct', 'https://h/%zz'], ['url-dotdot-top', 'https://h/../../x'], ['url-query-only', 'https://h?x#y']]) s(n, u);
}

// ---------- certheader: client certificates forwarded by a proxy (base/pem.c, jose/x509.c) ----------
{
  const s = (n, c) => seed('certheader', n, c);
  const vec = (f) => fs.readFileSync(path.join(HERE, '..', 'vectors', 'x509', f), 'latin1');
  for (const f of ['client.pem', 'client_inter.pem', 'escaped.pem', 'self.pem', 'server_only.pem']) {
    const pem = vec(f);
    const base = f.replace(/\.pem$/, '');
    s(`${base}-escaped`, encodeURIComponent(pem)); // nginx $ssl_client_escaped_cert
    s(`${base}-flat`, pem.trim().replace(/\n/g, ' ')); // older $ssl_client_cert style
    s(`${base}-pem`, pem);
  }
  const pem = vec('client.pem');
  s('truncated', encodeURIComponent(pem.slice(0, pem.length / 2)));
  s('no-end-marker', pem.replace('-----END CERTIFICATE-----', ''));
  s('bad-pct', `${encodeURIComponent(pem).slice(0, 40)}%G1`);
  s('pct-at-end', `${encodeURIComponent(pem)}%4`);
  s('junk-inside', pem.replace(/\n(M)/, '\n*$1'));
  s('plus-kept', pem.replace(/\n/g, '%0A'));
  s('two-certs', pem + vec('self.pem'));
  s('empty', '');
  s('garbage', 'not a certificate at all');
  s('der-not-cert', `-----BEGIN CERTIFICATE-----\n${Buffer.from('not DER').toString('base64')}\n-----END CERTIFICATE-----\n`);
}

for (const [t, n] of Object.entries(written)) console.log(`corpus/${t}: ${n} seeds`);
