#!/bin/sh
# Regenerates the X.509 vectors of tests/unit/test_jose_x509.c (the tests pin their clock inside
# these certificates' validity, so they need not be regenerated as time passes). Keys are thrown
# away: the tests only parse and verify.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/$1.key" 2>/dev/null; }
ca() { # name subject [issuer]
    key "$1"
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n' >"$tmp/$1.ext"
    if [ $# -eq 2 ]; then
        openssl req -x509 -new -key "$tmp/$1.key" -subj "$2" -days 3650 -set_serial 1 \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
            -out "$1.pem" 2>/dev/null
    else
        openssl req -new -key "$tmp/$1.key" -subj "$2" -out "$tmp/$1.csr" 2>/dev/null
        openssl x509 -req -in "$tmp/$1.csr" -CA "$3.pem" -CAkey "$tmp/$3.key" -set_serial 2 \
            -days 3650 -extfile "$tmp/$1.ext" -out "$1.pem" 2>/dev/null
    fi
}
leaf() { # name subject issuer extensions [days]
    key "$1"
    printf '%b' "$4" >"$tmp/$1.ext"
    openssl req -new -key "$tmp/$1.key" -subj "$2" -out "$tmp/$1.csr" 2>/dev/null
    openssl x509 -req -in "$tmp/$1.csr" -CA "$3.pem" -CAkey "$tmp/$3.key" -set_serial 10 \
        -days "${5:-3000}" -extfile "$tmp/$1.ext" -out "$1.pem" 2>/dev/null
}
client_ext='extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\nsubjectAltName=DNS:Client-A.example.com,URI:https://client-a.example.com/id,IP:192.0.2.7,IP:2001:db8::7,email:ops@example.com\n'
ca ca "/C=US/O=Valetkey Test/CN=Valetkey Test CA"
ca inter "/C=US/O=Valetkey Test/CN=Valetkey Test Issuing CA" ca
ca other_ca "/CN=Another CA"
leaf client "/C=US/O=Example Corp/OU=Payments/CN=client-a" ca "$client_ext"
leaf client_inter "/C=US/O=Example Corp/CN=client-b" inter 'extendedKeyUsage=clientAuth\n'
leaf server_only "/CN=server" ca 'extendedKeyUsage=serverAuth\n'
leaf other_client "/C=US/O=Example Corp/OU=Payments/CN=client-a" other_ca "$client_ext"
leaf escaped "/O=Smith, Jones \\+ Co/CN=\\#1 <quoted>+UID=42" ca 'extendedKeyUsage=clientAuth\n'
key self
openssl req -x509 -new -key "$tmp/self.key" -subj "/CN=self-signed client" -days 3000 \
    -out self.pem 2>/dev/null
openssl x509 -in client.pem -outform DER -out client.der
