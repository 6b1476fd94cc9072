#!/bin/sh
# gen.sh — makes, at test time, the PKI of the "public internet" that the
# integration tests stand up (nothing here is ever committed):
#   OUT/ca.crt, OUT/ca.key         the test internet root CA
#   OUT/NAME.crt, OUT/NAME.key     a server certificate per NAME (SAN DNS:NAME),
#                                  signed by that CA
#   OUT/token.crt, OUT/token.key   self-signed RSA certificate and key that the
#                                  token service signs its RS256 JWTs with (the
#                                  registry's rootcertbundle)
#
#   tests/pki/gen.sh OUT [NAME...]
# Default NAMEs: the three Docker Hub hosts and site.example.test.
set -eu

out=${1:?usage: tests/pki/gen.sh OUTDIR [NAME...]}
shift
[ "$#" -gt 0 ] || set -- registry-1.docker.io auth.docker.io \
    production.cloudflare.docker.com site.example.test

mkdir -p "$out"
umask 077
cd "$out"
days=7

# Root CA: P-256, CA:TRUE, only for signing certificates.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.crt -days "$days" -sha256 \
    -subj "/O=hubgate tests/CN=hubgate test internet root CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null

for name in "$@"; do
    case $name in
        *[!A-Za-z0-9.-]*|'') echo "gen.sh: bad host name: $name" >&2; exit 2 ;;
    esac
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$name.key" -out "$name.csr" -subj "/O=hubgate tests/CN=$name" \
        2>/dev/null
    cat > "$name.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$name
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key \
        -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
        -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
done

# Token signer: RS256 needs an RSA key. Self-signed, so the x5c chain the
# registry checks is this one certificate, found in its rootcertbundle.
openssl req -x509 -new -newkey rsa:2048 -nodes -keyout token.key -out token.crt \
    -days "$days" -sha256 -subj "/O=hubgate tests/CN=hubgate test token signer" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" 2>/dev/null

chmod 644 ./*.crt
