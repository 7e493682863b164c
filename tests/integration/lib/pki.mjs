// Certificates made by the tests with the openssl command (RFC 8705 needs real ones): a CA, the
// server's certificate for 127.0.0.1, client certificates from the CA, an expired one, one from
// another CA with the very same names, and self-signed ones. Every file lands in one temporary
// directory.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate, createHash } from 'node:crypto';

function openssl(args, opts = {}) {
  return execFileSync('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
}

/** base64url(SHA-256(DER)): the x5t#S256 of a PEM certificate (RFC 8705 §3.1). */
export function x5tS256(pem) {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');
}

/** A JWK Set with one key: the certificate's public key and x5c = [the certificate]. */
export function jwksFor(pem) {
  const cert = new X509Certificate(pem);
  const jwk = cert.publicKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, x5c: [cert.raw.toString('base64')] }] };
}

/**
 * Makes a PKI in a new temporary directory. Returns { dir, rm(), ca, otherCa, server, server2,
 * clientA, clientB, expired, foreign, serverOnly, self1, self2, selfExpired } where each is
 * { cert, key } file paths plus certPem, keyPem.
 */
export function makePki() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'valetkey-pki-'));
  const f = (n) => path.join(dir, n);
  const load = (name) => {
    const keyPem = fs.readFileSync(f(`${name}.key`), 'utf8');
    return { cert: f(`${name}.pem`), key: f(`${name}.key`), certPem: fs.readFileSync(f(`${name}.pem`), 'utf8'), keyPem };
  };
  const key = (name) => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(`${name}.key`)]);
  const ca = (name, subj) => {
    key(name);
    openssl(['req', '-x509', '-new', '-key', f(`${name}.key`), '-subj', subj, '-days', '30',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-out', f(`${name}.pem`)]);
  };
  let serial = 100;
  const leaf = (name, subj, issuer, ext, days = 30) => {
    key(name);
    fs.writeFileSync(f(`${name}.ext`), ext);
    openssl(['req', '-new', '-key', f(`${name}.key`), '-subj', subj, '-out', f(`${name}.csr`)]);
    openssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${issuer}.pem`), '-CAkey', f(`${issuer}.key`),
      '-set_serial', String(serial++), '-days', String(days), '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`)]);
  };
  const self = (name, subj, days = 30) => {
    key(name);
    openssl(['req', '-new', '-key', f(`${name}.key`), '-subj', subj, '-out', f(`${name}.csr`)]);
    // x509 -req (not req -x509): it takes -days -1 for an already expired certificate
    openssl(['x509', '-req', '-in', f(`${name}.csr`), '-signkey', f(`${name}.key`), '-days', String(days),
      '-out', f(`${name}.pem`)]);
  };
  const clientExt = (names) => `extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\nsubjectAltName=${names}\n`;
  const aNames = 'DNS:client-a.example.com,URI:https://client-a.example.com/id';
  ca('ca', '/CN=valetkey test CA');
  ca('otherca', '/CN=another CA');
  leaf('server', '/CN=127.0.0.1', 'ca', 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  leaf('server2', '/CN=renewed server', 'ca', 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  leaf('clientA', '/O=Example/OU=Payments/CN=client-a', 'ca', clientExt(aNames));
  leaf('clientB', '/O=Example/CN=client-b', 'ca', clientExt('DNS:client-b.example.com'));
  leaf('expired', '/O=Example/OU=Payments/CN=client-a', 'ca', clientExt(aNames), -1);
  leaf('foreign', '/O=Example/OU=Payments/CN=client-a', 'otherca', clientExt(aNames));
  leaf('serverOnly', '/O=Example/OU=Payments/CN=client-a', 'ca', `extendedKeyUsage=serverAuth\nsubjectAltName=${aNames}\n`);
  self('self1', '/CN=self-signed one');
  self('self2', '/CN=self-signed two');
  self('selfExpired', '/CN=self-signed one', -1);
  const out = { dir, rm: () => fs.rmSync(dir, { recursive: true, force: true }) };
  for (const n of ['ca', 'otherca', 'server', 'server2', 'clientA', 'clientB', 'expired', 'foreign', 'serverOnly',
    'self1', 'self2', 'selfExpired']) out[n] = load(n);
  out.otherCa = out.otherca;
  return out;
}
