// Builders of tokens that must never introspect active: tampered, unsigned, foreign-signed.
import crypto from 'node:crypto';
import { SignJWT, generateKeyPair, exportJWK, decodeJwt, decodeProtectedHeader } from 'jose';

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const json64 = (obj) => b64u(JSON.stringify(obj));

/** Same token with one signature byte changed (in the middle, so it is never an unused bit). */
export function flipSignatureByte(token, index = 10) {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[index % sig.length] ^= 0x01;
  return `${h}.${p}.${b64u(sig)}`;
}

/** Same header and signature, payload changed by `edit(claims)`. */
export function tamperPayload(token, edit) {
  const [h, , s] = token.split('.');
  const claims = decodeJwt(token);
  edit(claims);
  return `${h}.${json64(claims)}.${s}`;
}

/** Same claims, header {alg: none}, empty signature. */
export function algNone(token) {
  const hdr = decodeProtectedHeader(token);
  const claims = decodeJwt(token);
  return `${json64({ alg: 'none', typ: 'at+jwt', kid: hdr.kid })}.${json64(claims)}.`;
}

/** Same claims, HS256 with an HMAC key made from public key material (alg confusion). */
export function hmacWithPublicKey(token, publicJwk) {
  const hdr = decodeProtectedHeader(token);
  const claims = decodeJwt(token);
  const input = `${json64({ alg: 'HS256', typ: 'at+jwt', kid: hdr.kid })}.${json64(claims)}`;
  const out = [];
  for (const key of [JSON.stringify(publicJwk), publicJwk.x]) {
    const mac = crypto.createHmac('sha256', key).update(input).digest();
    out.push(`${input}.${b64u(mac)}`);
  }
  return out;
}

/** Claims of `token` re-signed by a fresh ES256 key from jose (not in any JWKS). */
export async function foreignSigned(token, { kid, iss, embedJwk = false } = {}) {
  const hdr = decodeProtectedHeader(token);
  const claims = decodeJwt(token);
  if (iss) claims.iss = iss;
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const header = { alg: 'ES256', typ: 'at+jwt', kid: kid ?? hdr.kid };
  if (embedJwk) header.jwk = await exportJWK(publicKey);
  return new SignJWT(claims).setProtectedHeader(header).sign(privateKey);
}
