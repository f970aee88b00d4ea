#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# OpenSSL through the libp11 engine (Debian libengine-pkcs11-openssl) on a
# token of the module given as $1 (or $QTOKEN_PKCS11_MODULE).
#
# For an RSA-2048 and an EC P-256 key pair generated in the token with
# pkcs11-tool: a self-signed CA certificate made by `openssl req -x509` with
# the token key, a leaf certificate (software key, CSR) signed by it with
# `openssl x509 -req -CAkeyform engine`, `openssl verify` of the chain, and
# `openssl pkeyutl -sign` with the token key verified in software against
# the public key read from the token.  Negative checks make sure the
# verifications can fail: a leaf against the wrong CA, a tampered digest.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/token_env.sh"
te_setup "${1:-${QTOKEN_PKCS11_MODULE:-}}"

label=libp11-test
engines_dir=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
engine_so="$engines_dir/pkcs11.so"
if [ ! -r "$engine_so" ]; then
    te_fail "libp11 engine not found at $engine_so (Debian libengine-pkcs11-openssl)"
    te_finish
fi

# The engine is selected with -engine pkcs11 and finds the module through
# PKCS11_MODULE_PATH; OpenSSL otherwise reads a configuration of our own (no
# engine in it: an engine loaded from openssl.cnf becomes the default for
# RSA and EC and breaks the software-key steps).  engine.cnf is the other way
# deployments use, MODULE_PATH in openssl.cnf, checked once at the end.
cat >"$TE_DIR/openssl.cnf" <<EOF
[req]
distinguished_name = req_dn
prompt = no

[req_dn]
CN = unused

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:leaf.qtoken.test
EOF
cat >"$TE_DIR/engine.cnf" <<EOF
openssl_conf = openssl_init

[openssl_init]
engines = engine_section

[engine_section]
pkcs11 = pkcs11_section

[pkcs11_section]
engine_id = pkcs11
dynamic_path = $engine_so
MODULE_PATH = $TE_MODULE
init = 0
EOF
export OPENSSL_CONF="$TE_DIR/openssl.cnf"
export PKCS11_MODULE_PATH="$TE_MODULE"
cd "$TE_WORK" || exit 1

te_init_token "$label"

uri() { # object label -> private key URI with the PIN in it
    printf 'pkcs11:token=%s;object=%s;type=private?pin-value=%s' "$label" "$1" "$TE_PIN"
}

# cert_has_pubkey CERT PUB: the certificate's public key is PUB (PEM).
cert_has_pubkey() {
    local a b
    a=$(openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum) \
        || return 1
    b=$(openssl pkey -pubin -in "$2" -outform DER | sha256sum) || return 1
    [ "$a" = "$b" ]
}

# grep_out PATTERN COMMAND...: the command succeeds and prints PATTERN.
grep_out() {
    local pat=$1 out
    shift
    out=$("$@" 2>&1) || { echo "$out"; return 1; }
    echo "$out"
    grep -q -- "$pat" <<<"$out"
}

head -c 1000 /dev/urandom >data.bin
openssl dgst -sha256 -binary data.bin >data.sha256
cp data.sha256 tampered.sha256
printf '\x01' | dd of=tampered.sha256 bs=1 seek=0 conv=notrunc 2>/dev/null
if cmp -s data.sha256 tampered.sha256; then
    printf '\x02' | dd of=tampered.sha256 bs=1 seek=0 conv=notrunc 2>/dev/null
fi

serial=1
for kt in rsa ec; do
    case $kt in
        rsa) keyspec=rsa:2048; id=01; leafalg=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048) ;;
        ec)  keyspec=EC:prime256v1; id=02; leafalg=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256) ;;
    esac
    obj="ca-$kt"
    te_check "$kt: pkcs11-tool --keypairgen $keyspec" \
        te_p11 --token-label "$label" --login --pin "$TE_PIN" --keypairgen \
        --key-type "$keyspec" --id "$id" --label "$obj"
    te_check "$kt: read the public key from the token" \
        te_p11 --token-label "$label" --read-object --type pubkey --label "$obj" \
        -o "$kt-token-pub.der"
    te_check "$kt: token public key parses" \
        openssl pkey -pubin -inform DER -in "$kt-token-pub.der" -out "$kt-token-pub.pem"

    # Self-signed CA with the token key.
    te_check "$kt: openssl req -x509 -engine pkcs11 -keyform engine (CA)" \
        openssl req -new -x509 -engine pkcs11 -keyform engine -key "$(uri "$obj")" \
        -sha256 -days 30 -subj "/O=qtoken test/CN=CA $kt" -set_serial "$serial" \
        -extensions v3_ca -out "ca-$kt.pem"
    serial=$((serial + 1))
    te_check "$kt: CA certificate carries the token's public key" \
        cert_has_pubkey "ca-$kt.pem" "$kt-token-pub.pem"
    te_check "$kt: CA self-signature verifies" \
        grep_out "ca-$kt.pem: OK" openssl verify -CAfile "ca-$kt.pem" "ca-$kt.pem"

    # Leaf: a software key and CSR, signed by the token CA key.
    te_check "$kt: software leaf key" openssl genpkey "${leafalg[@]}" -out "leaf-$kt.key"
    te_check "$kt: leaf CSR" \
        openssl req -new -key "leaf-$kt.key" -subj "/O=qtoken test/CN=leaf $kt" \
        -out "leaf-$kt.csr"
    te_check "$kt: openssl x509 -req -engine pkcs11 -CAkeyform engine (leaf)" \
        openssl x509 -req -engine pkcs11 -in "leaf-$kt.csr" -CA "ca-$kt.pem" \
        -CAkeyform engine -CAkey "$(uri "$obj")" -set_serial "$serial" -days 10 -sha256 \
        -extfile "$TE_DIR/openssl.cnf" -extensions v3_leaf -out "leaf-$kt.pem"
    serial=$((serial + 1))
    te_check "$kt: openssl verify -CAfile ca.pem leaf.pem" \
        grep_out "leaf-$kt.pem: OK" openssl verify -x509_strict -CAfile "ca-$kt.pem" \
        "leaf-$kt.pem"

    # pkeyutl -sign with the token key, verified with the token's public key
    # in software.
    te_check "$kt: openssl pkeyutl -sign -engine pkcs11 -keyform engine" \
        openssl pkeyutl -sign -engine pkcs11 -keyform engine -inkey "$(uri "$obj")" \
        -in data.sha256 -pkeyopt digest:sha256 -out "sig-$kt.bin"
    te_check "$kt: signature verifies in software" \
        grep_out "Verified Successfully" openssl pkeyutl -verify -pubin \
        -inkey "$kt-token-pub.pem" -in data.sha256 -pkeyopt digest:sha256 \
        -sigfile "sig-$kt.bin"
    te_check_fails "$kt: signature over a tampered digest is rejected" \
        openssl pkeyutl -verify -pubin -inkey "$kt-token-pub.pem" -in tampered.sha256 \
        -pkeyopt digest:sha256 -sigfile "sig-$kt.bin"
    if [ "$kt" = rsa ]; then
        te_check "rsa: openssl pkeyutl -sign with RSA-PSS through the engine" \
            openssl pkeyutl -sign -engine pkcs11 -keyform engine -inkey "$(uri "$obj")" \
            -in data.sha256 -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss \
            -pkeyopt rsa_pss_saltlen:32 -out sig-pss.bin
        te_check "rsa: PSS signature verifies in software" \
            grep_out "Verified Successfully" openssl pkeyutl -verify -pubin \
            -inkey rsa-token-pub.pem -in data.sha256 -pkeyopt digest:sha256 \
            -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -sigfile sig-pss.bin
    fi
done

# The checks above must be able to fail: each leaf against the other CA.
te_check_fails "rsa leaf does not verify under the EC CA" \
    openssl verify -CAfile ca-ec.pem leaf-rsa.pem
te_check_fails "ec leaf does not verify under the RSA CA" \
    openssl verify -CAfile ca-rsa.pem leaf-ec.pem
# A wrong PIN in the URI must not sign (libp11 0.4.12 may crash on the way
# out: what counts is that no signature comes out).
(openssl pkeyutl -sign -engine pkcs11 -keyform engine \
    -inkey "pkcs11:token=$label;object=ca-ec;type=private?pin-value=00000000" \
    -in data.sha256 -out sig-bad.bin; echo "exit $?") </dev/null >"$TE_DIR/last.log" 2>&1
if [ -s sig-bad.bin ]; then
    te_fail "a wrong PIN in the URI signed anyway"
else
    te_ok "a wrong PIN in the URI does not sign"
fi
# The engine configured in openssl.cnf (MODULE_PATH) instead of the
# environment, as deployments do.
te_check "openssl.cnf-configured engine signs (EC)" \
    env -u PKCS11_MODULE_PATH OPENSSL_CONF="$TE_DIR/engine.cnf" \
    openssl pkeyutl -sign -engine pkcs11 -keyform engine -inkey "$(uri ca-ec)" \
    -in data.sha256 -out sig-cnf.bin
te_check "openssl.cnf-configured engine signature verifies" \
    grep_out "Verified Successfully" openssl pkeyutl -verify -pubin -inkey ec-token-pub.pem \
    -in data.sha256 -sigfile sig-cnf.bin

te_finish
