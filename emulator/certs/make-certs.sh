#!/bin/sh
# TEST-ONLY certificates for the emulator's https Entra authority (emulator/server.ts).
# NEVER trust ca.pem outside tests: its private key is committed on purpose.
# Regenerate (20-year validity) with: sh emulator/certs/make-certs.sh
set -eu
cd "$(dirname "$0")"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7300 \
  -subj "/CN=foundry-relay emulator TEST-ONLY CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout ca-key.pem -out ca.pem
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=127.0.0.1" -keyout server-key.pem -out server.csr
printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 7300 -sha256 \
  -extfile server.ext -out server.pem
rm -f server.csr server.ext ca.srl
