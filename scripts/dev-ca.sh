#!/usr/bin/env bash
# A development certificate authority for Arpeggio: a CA, one certificate per node and one client
# certificate, all made with the openssl CLI. For laptops, tests and trials: the CA key sits
# unencrypted next to the certificates. In production use your own PKI (docs/SECURITY.md).
#
# Usage: scripts/dev-ca.sh DIR [NODE ...]          (default nodes: n1 n2 n3)
#
# Writes into DIR (created if absent, mode 700; keys are mode 600):
#   ca.pem, ca-key.pem              the CA (10 years)
#   NODE.pem, NODE-key.pem          per node: SAN DNS:NODE, DNS:localhost, IP:127.0.0.1 (plus
#                                   $DEV_CA_SAN, e.g. "IP:10.0.0.5,DNS:node1.example"), usable as
#                                   server and client (peer transport and client ports), 2 years
#   client.pem, client-key.pem      a client certificate (CN=client), for --client-tls-ca
#
# Idempotent: an existing CA is kept; a certificate that verifies against the CA and matches its
# key is kept; anything else is (re)issued. Prints what it wrote and what it kept.
#
# Example:
#   scripts/dev-ca.sh ./pki n1 n2
#   arpeggio start --data d1 --peer-port 7001 --tls-cert pki/n1.pem --tls-key pki/n1-key.pem \
#     --tls-ca pki/ca.pem --resp-port 6381 --client-tls-cert pki/n1.pem --client-tls-key pki/n1-key.pem
#   redis-cli --tls --cacert pki/ca.pem -p 6381 PING
set -euo pipefail

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  usage
  [ $# -ge 1 ] && exit 0 || exit 2
fi
command -v openssl >/dev/null || { echo "dev-ca.sh: openssl not found (apt-get install openssl)" >&2; exit 1; }

dir=$1
shift
nodes=("$@")
[ ${#nodes[@]} -gt 0 ] || nodes=(n1 n2 n3)
for n in "${nodes[@]}"; do
  if ! [[ $n =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || [ "$n" = ca ] || [ "$n" = client ]; then
    echo "dev-ca.sh: bad node name '$n' (letters, digits, . _ -; not 'ca' or 'client')" >&2
    exit 2
  fi
done

umask 077
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

if [ -s "$dir/ca.pem" ] && [ -s "$dir/ca-key.pem" ]; then
  echo "kept  $dir/ca.pem (CA)"
else
  openssl req -x509 "${ec[@]}" -keyout "$tmp/ca-key.pem" -out "$tmp/ca.pem" -days 3650 \
    -subj "/CN=Arpeggio development CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  mv "$tmp/ca-key.pem" "$dir/ca-key.pem"
  mv "$tmp/ca.pem" "$dir/ca.pem"
  chmod 644 "$dir/ca.pem"
  echo "wrote $dir/ca.pem, $dir/ca-key.pem (CA)"
fi

# issue NAME CN SAN EKU: NAME.pem and NAME-key.pem, unless a certificate signed by the CA is there.
issue() {
  local name=$1 cn=$2 san=$3 eku=$4
  local cert="$dir/$name.pem" key="$dir/$name-key.pem"
  if [ -s "$cert" ] && [ -s "$key" ] && openssl verify -CAfile "$dir/ca.pem" "$cert" >/dev/null 2>&1 &&
    [ "$(openssl x509 -in "$cert" -noout -pubkey 2>/dev/null)" = "$(openssl pkey -in "$key" -pubout 2>/dev/null)" ]; then
    echo "kept  $cert"
    return
  fi
  openssl req "${ec[@]}" -keyout "$tmp/key.pem" -out "$tmp/req.csr" -subj "/CN=$cn" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    if [ -n "$san" ]; then echo "subjectAltName=$san"; fi
  } >"$tmp/ext.cnf"
  openssl x509 -req -in "$tmp/req.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
    -set_serial "0x$(openssl rand -hex 16)" -days 730 -sha256 -extfile "$tmp/ext.cnf" \
    -out "$tmp/cert.pem" 2>/dev/null
  mv "$tmp/key.pem" "$key"
  mv "$tmp/cert.pem" "$cert"
  chmod 644 "$cert"
  echo "wrote $cert, $key (${san:-CN=$cn})"
}

for n in "${nodes[@]}"; do
  issue "$n" "$n" "DNS:$n,DNS:localhost,IP:127.0.0.1${DEV_CA_SAN:+,$DEV_CA_SAN}" "serverAuth,clientAuth"
done
issue client client "" "clientAuth"
