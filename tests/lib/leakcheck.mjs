// Log-leak check: every value in $VALETKEY_TEST_LOGDIR/secrets.txt (client secrets, access
// tokens, Basic credentials seen by the tests) is searched for, as a fixed string, in every
// log file the run produced (servers' stderr and stdout, CLI stderr). A hit fails the run and
// names the file, the line number and the SHA-256 prefix of the secret, never the secret.
// Usage: node leakcheck.mjs LOGDIR
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2] || process.env.VALETKEY_TEST_LOGDIR;
if (!dir) {
  console.error('leak check: no log directory given');
  process.exit(2);
}
const secretsFile = path.join(dir, 'secrets.txt');
const secrets = fs.existsSync(secretsFile)
  ? [...new Set(fs.readFileSync(secretsFile, 'utf8').split('\n').filter((l) => l.length > 0))]
  : [];
if (secrets.length === 0) {
  console.error(`leak check FAILED: ${secretsFile} is missing or empty, so nothing was checked`);
  process.exit(1);
}
const logs = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
if (!logs.some((f) => /-server\.stderr\.log$/.test(f))) {
  console.error(`leak check FAILED: no server log (*-server.stderr.log) in ${dir}`);
  process.exit(1);
}

// The log escapes bytes <= 0x20, >= 0x7f, '"', '\\' and '=' as \xNN (src/base/log.c), so a
// leaked value may appear in that form; it may also be cut short. Besides the exact value we
// look for the escaped form and for a 32-character window of the part that carries the entropy:
// the random part of a prefixed secret (vk_xx_...), a JWT's signature, the tail of a Basic
// credential (its head is only the client id).
function escapeLike(s) {
  return s.replace(/[\x00-\x20\x7f-\uffff"\\=]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
function needles(secret) {
  const n = new Set([secret, escapeLike(secret)]);
  const pref = /^vk_[a-z]{2}_(.+)$/.exec(secret);
  const parts = secret.split('.');
  if (pref && pref[1].length >= 32) {
    n.add(pref[1]);
    n.add(pref[1].slice(0, 32));
  } else if (parts.length === 3 && parts[2].length >= 32) {
    n.add(parts[2]);
    n.add(parts[2].slice(0, 32));
  } else if (/^[A-Za-z0-9+/]+=*$/.test(secret) && secret.length >= 48) {
    const body = secret.replace(/=+$/, '');
    n.add(body.slice(-32));
  }
  return [...n].filter((x) => x.length >= 16);
}

const sha = (s) => crypto.createHash('sha256').update(s).digest('hex').slice(0, 16);
let hits = 0;
let bytes = 0;
for (const f of logs) {
  const text = fs.readFileSync(path.join(dir, f), 'utf8');
  bytes += text.length;
  for (const s of secrets) {
    for (const needle of needles(s)) {
      const at = text.indexOf(needle);
      if (at >= 0) {
        const line = text.slice(0, at).split('\n').length;
        const kind = needle === s ? 'verbatim' : 'in part or escaped';
        if (hits < 50) console.error(`leak check: secret sha256:${sha(s)} found ${kind} in ${path.join(dir, f)} line ${line}`);
        hits++;
        break;
      }
    }
  }
}
if (hits > 0) {
  console.error(`leak check FAILED: ${hits} leak(s) of ${secrets.length} recorded secrets in ${logs.length} log files`);
  process.exit(1);
}
console.log(`leak check: ${secrets.length} secrets checked against ${logs.length} log files (${bytes} bytes): no leak`);
