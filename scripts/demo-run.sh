#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The demo ceremony against an existing build: demo-run.sh BUILD_DIR OUT_DIR.
# OUT_DIR is wiped and receives the token store and the ceremony bundle.
# Also run by the test suite (tests/integration, 'demo'), so the README's
# main job is tested on every run.  Exit 0 only when every step succeeded and
# the bundle verifies; 3 when the entropy source is unhealthy.
set -uo pipefail
build=${1:?usage: demo-run.sh BUILD_DIR OUT_DIR}
out=${2:?usage: demo-run.sh BUILD_DIR OUT_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
qtoken=$build/src/cli/qtoken
module=$build/pkcs11/libqtoken-pkcs11.so

step() { printf '\n== %s\n' "$*"; }
die() { echo "demo: FAILED: $*" >&2; exit "${2:-1}"; }

rm -rf -- "$out"
mkdir -p "$out" || die "cannot create $out"
chmod 700 "$out"
export QTOKEN_STORE=$out/store QTOKEN_DEVICE=sim QTOKEN_MODULE=$module
unset QTOKEN_CONF QTOKEN_PIN
so_pin=87654321
printf '%s\n' 12345678 >"$out/pin.txt"
chmod 600 "$out/pin.txt"

step "the entropy device (the simulator: never quantum)"
"$qtoken" device info || die "device info"
"$qtoken" device selftest
rc=$?
[ "$rc" -eq 0 ] || die "the entropy device failed its self-test" "$rc"

step "1 MiB from the health-gated pipeline, checked by ent"
"$qtoken" random --bytes 1M --out "$out/random.bin" || die "qtoken random" $?
ent "$out/random.bin" | tee "$out/ent.txt"
awk '/^Entropy =/ { if ($3 + 0 < 7.999) bad = 1; seen = 1 } END { exit !(seen && !bad) }' \
    "$out/ent.txt" || die "ent: entropy below 7.999 bits/byte"
rm -f "$out/random.bin"

step "a token, made through the PKCS#11 module by pkcs11-tool"
pkcs11-tool --module "$module" --init-token --label demo --so-pin "$so_pin" ||
    die "pkcs11-tool --init-token"
pkcs11-tool --module "$module" --token-label demo --login --login-type so --so-pin "$so_pin" \
    --init-pin --pin "$(cat "$out/pin.txt")" || die "pkcs11-tool --init-pin"

step "the installation's attestation public key (pin it out of band)"
"$qtoken" attest pubkey >"$out/attestation-key.pem" || die "attest pubkey"
cat "$out/attestation-key.pem"

step "the ceremony: root key P-384 generated and used inside the token"
"$qtoken" ceremony root-ca --token demo --key-type ec:P-384 \
    --subject "/CN=qtoken Demo Root CA/O=Example" --days 3650 --out "$out/bundle" \
    --allow-sim --pin-file "$out/pin.txt"
rc=$?
[ "$rc" -eq 0 ] || die "ceremony root-ca" "$rc"

step "offline verification of the bundle with the pinned key"
"$qtoken" ceremony verify "$out/bundle" --pubkey "$out/attestation-key.pem" ||
    die "ceremony verify"
openssl verify -CAfile "$out/bundle/attestation-ca.pem" "$out/bundle/root-attestation.pem" ||
    die "openssl verify of the key's attestation certificate"
openssl x509 -in "$out/bundle/root.pem" -noout -subject -issuer -dates -fingerprint -sha256 ||
    die "openssl x509"
python3 "$here/tests/integration/test_attest_jose.py" --log "$out/bundle/attestation.jsonl" \
    --pubkey "$out/attestation-key.pem" || die "independent JOSE check of the log"

step "the transcript"
cat "$out/bundle/transcript.txt"

echo
echo "demo: ceremony completed and verified; bundle in $out/bundle"
