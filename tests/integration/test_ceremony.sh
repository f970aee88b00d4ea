#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The root key ceremony end to end on the simulated QRNG (issue 5):
#   test_ceremony.sh QTOKEN MODULE [JOSE_PY]
# A token made with pkcs11-tool; a full `qtoken ceremony root-ca` with
# --allow-sim; `qtoken ceremony verify` passes, `openssl verify` accepts the
# attestation certificate, an independent JOSE library verifies the log;
# then every tampering of the bundle the issue names fails with a message
# naming the record; and the clear errors: sim refused without --allow-sim,
# unknown key type, wrong PIN, existing label, locked token.
# Ends with 'N passed, N failed'.
set -u
QTOKEN=$(readlink -f -- "${1:?usage: test_ceremony.sh QTOKEN MODULE [JOSE_PY]}")
MODULE=${2:?module}
JOSE=${3:-}
. "$(dirname "$0")/lib/token_env.sh"
te_setup "$MODULE"
cat >>"$QTOKEN_CONF" <<EOF
pin_max_failures = 3
[entropy]
window = 65536
EOF
export QTOKEN_MODULE=$TE_MODULE
unset QTOKEN_PIN
W=$TE_WORK
echo "$TE_PIN" >"$W/pin"

# expect CODE PATTERN DESC CMD...: exit status CODE and PATTERN (grep -E) in the output.
expect() {
    local code=$1 pat=$2 desc=$3 rc log="$TE_DIR/last.log"
    shift 3
    "$@" </dev/null >"$log" 2>&1
    rc=$?
    if [ "$rc" -eq "$code" ] && grep -Eq -- "$pat" "$log"; then
        te_ok "$desc"
    else
        te_fail "$desc (exit $rc, wanted $code and /$pat/)"
        sed 's/^/    | /' "$log" | tail -15
    fi
}

# new_token LABEL: C_InitToken on the module's empty slot (never re-initialising
# an existing token), then the user PIN.
new_token() {
    local slot
    slot=$(pkcs11-tool --module "$TE_MODULE" -L 2>/dev/null |
        awk '/^Slot [0-9]+ \(0x[0-9a-f]+\)/ { s = $3; gsub(/[():]/, "", s) }
             /uninitialized/ { print s; exit }')
    te_check "init token '$1' on the empty slot ($slot)" \
        te_p11 --slot "$slot" --init-token --label "$1" --so-pin "$TE_SO_PIN"
    te_check "init user PIN on '$1'" \
        te_p11 --token-label "$1" --login --login-type so --so-pin "$TE_SO_PIN" \
        --init-pin --pin "$TE_PIN"
}

ceremony() { # OUTDIR TOKEN [extra args]
    local out=$1 tok=$2
    shift 2
    "$QTOKEN" ceremony root-ca --token "$tok" --key-type ec:P-384 \
        --subject "/CN=qtoken Test Root/O=qtoken tests" --days 3650 --out "$out" \
        --pin-file "$W/pin" "$@"
}

# The PKCS#11 side of the ceremony on SoftHSM2 (any module works through the
# function list): key pair, certificate signed with C_Sign and stored; SoftHSM
# keeps no qtoken attestation log, so the ceremony must then stop and destroy
# everything it made on the token.
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
te_check "SoftHSM2 is installed (scripts/deps.sh installs softhsm2)" \
    sh -c "test -r '$SOFTHSM' && command -v softhsm2-util >/dev/null"
if [ -r "$SOFTHSM" ] && command -v softhsm2-util >/dev/null; then
    softhsm2-util --init-token --free --label shsm --so-pin "$TE_SO_PIN" --pin "$TE_PIN" \
        >/dev/null 2>&1
    for kt in ec:P-384 rsa:3072 ed25519; do
        expect 1 "sign the certificate inside the token .*verifies.*destroy the half-made object: private key: CKR_OK" \
            "SoftHSM2 $kt: C_Sign certificate, then no log: the key is destroyed" \
            bash -c "'$QTOKEN' ceremony root-ca --token shsm --key-type $kt --subject /CN=s \
                   --days 1 --out '$W/shsm-$kt' --allow-sim --pin-file '$W/pin' \
                   --module '$SOFTHSM' 2>&1 | tr '\n' ' '; exit \${PIPESTATUS[0]}"
    done
    te_check "... no private key is left on the SoftHSM2 token" sh -c \
        "! pkcs11-tool --module '$SOFTHSM' --token-label shsm --login --pin '$TE_PIN' \
           --type privkey -O 2>/dev/null | grep -q 'Private Key Object'"
fi

new_token cer
# The module must attest (pkcs11/events.c calling attest/): a token without
# its token-init record is a failure, and nothing after it can work.
if ! "$QTOKEN" attest export --token cer 2>/dev/null | grep -q '"seq":1,'; then
    echo "FAIL: the module wrote no attestation record for C_InitToken"
    echo "$TE_PASS passed, $((TE_FAIL + 1)) failed"
    exit 1
fi
te_check "attest pubkey (the key to pin)" sh -c "'$QTOKEN' attest pubkey >'$W/att.pem'"
te_check "attest pubkey's fingerprint is the SPKI SHA-256 (openssl)" sh -c \
    "grep -q \$(openssl pkey -pubin -in '$W/att.pem' -outform DER | sha256sum | cut -c1-64) \
     '$W/att.pem'"

# --- refusals before any key exists --------------------------------------
expect 2 "sim.*--allow-sim" "sim device refused without --allow-sim" ceremony "$W/nosim" cer
expect 2 "unknown key type" "unknown key type refused" \
    "$QTOKEN" ceremony root-ca --token cer --key-type ec:P-999 --subject /CN=x --days 1 \
    --out "$W/bad" --allow-sim
expect 4 "no token labelled" "unknown token" ceremony "$W/notok" no-such-token --allow-sim

# --- the ceremony ----------------------------------------------------------
B=$W/bundle
expect 0 "ceremony completed" "full ceremony on sim with --allow-sim" ceremony "$B" cer --allow-sim
for f in root.pem attestation.jsonl root-attestation.pem attestation-key.pem \
    attestation-ca.pem transcript.txt; do
    te_check "bundle has $f" test -s "$B/$f"
done
te_check "attestation-key.pem is the pinned key" sh -c \
    "openssl pkey -pubin -in '$B/attestation-key.pem' -outform DER >'$W/a.der' &&
     openssl pkey -pubin -in '$W/att.pem' -outform DER | cmp - '$W/a.der'"
expect 0 "^VALID" "ceremony verify passes" "$QTOKEN" ceremony verify "$B" --pubkey "$W/att.pem"
te_check "openssl verify -CAfile attestation-ca.pem root-attestation.pem" \
    openssl verify -CAfile "$B/attestation-ca.pem" "$B/root-attestation.pem"
te_check "openssl: root.pem is a valid self-signed CA" \
    openssl verify -CAfile "$B/root.pem" "$B/root.pem"
te_check "root.pem: CA:TRUE, P-384" sh -c \
    "openssl x509 -in '$B/root.pem' -noout -text | grep -q 'CA:TRUE' &&
     openssl x509 -in '$B/root.pem' -noout -text | grep -q 'NIST CURVE: P-384'"
expect 0 "generated in this token" "attest verify --cert root.pem finds the key's record" \
    "$QTOKEN" attest verify "$B/attestation.jsonl" --pubkey "$W/att.pem" --cert "$B/root.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/other.key" 2>/dev/null
openssl pkey -in "$W/other.key" -pubout -out "$W/other.pub" 2>/dev/null
expect 4 "NOT FOUND" "attest verify: a key not in the log is 'not found' (exit 4)" \
    "$QTOKEN" attest verify "$B/attestation.jsonl" --pubkey "$W/att.pem" --key-pubkey "$W/other.pub"
te_check "the bundle says sim (transcript)" grep -q "SIMULATED" "$B/transcript.txt"
te_check "the bundle says sim (the key's attestation certificate)" sh -c \
    "openssl x509 -in '$B/root-attestation.pem' -noout -subject | grep -q 'entropy: sim .*SIMULATED'"
expect 0 "device_type +sim" "the bundle says sim (keygen record's entropy evidence)" \
    "$QTOKEN" attest show "$B/attestation.jsonl"
expect 0 "simulated +yes" "the records say simulated: true" \
    "$QTOKEN" attest show "$B/attestation.jsonl"
te_check "certificate stored on the token with the key's CKA_ID" sh -c \
    "pkcs11-tool --module '$TE_MODULE' --token-label cer --type cert -O 2>/dev/null |
     grep -q 'label: *root-ca'"
if [ -n "$JOSE" ]; then
    te_check "independent JOSE library (jwcrypto) verifies the bundle's log" \
        "$JOSE" "$(dirname "$0")/test_attest_jose.py" --log "$B/attestation.jsonl" \
        --pubkey "$W/att.pem"
fi
te_check "attest key: a per-key attestation certificate openssl verifies" sh -c \
    "'$QTOKEN' attest key --token cer --label root-ca --out '$W/key-att.pem' &&
     openssl verify -CAfile '$B/attestation-ca.pem' '$W/key-att.pem'"
expect 0 "carries record seq [0-9]+'s hash" "... it names the key's generation record" \
    "$QTOKEN" attest verify "$B/attestation.jsonl" --pubkey "$W/att.pem" --cert "$W/key-att.pem"
expect 4 "no-such-key" "attest key: an unknown key label is 'not found' (exit 4)" \
    "$QTOKEN" attest key --token cer --label no-such-key
te_check "attest export --token gives the bundle's log" sh -c \
    "'$QTOKEN' attest export --token cer --out '$W/export.jsonl' &&
     cmp '$W/export.jsonl' '$B/attestation.jsonl'"

# --- tampering with the bundle --------------------------------------------
N=$(wc -l <"$B/attestation.jsonl")
te_check "the log holds several records ($N)" test "$N" -ge 3
tamper() { # NAME: copies the bundle to $W/t-NAME
    rm -rf "$W/t-$1"
    cp -r "$B" "$W/t-$1"
    echo "$W/t-$1"
}
for k in $(seq 1 "$N"); do
    T=$(tamper "flip$k")
    # Change one character in the middle of record k's JWS.
    python3 - "$T/attestation.jsonl" "$k" <<'EOF'
import json, sys
path, k = sys.argv[1], int(sys.argv[2])
lines = open(path).read().splitlines()
o = json.loads(lines[k - 1])
j = o["jws"]
i = len(j) // 2 + 7 * k
while j[i] == ".":
    i += 1
o["jws"] = j[:i] + ("A" if j[i] != "A" else "B") + j[i + 1:]
lines[k - 1] = json.dumps(o, separators=(",", ":"))
open(path, "w").write("\n".join(lines) + "\n")
EOF
    expect 1 "record seq $k " "flipped byte in record $k fails, naming it" \
        "$QTOKEN" ceremony verify "$T" --pubkey "$W/att.pem"
done
T=$(tamper del)
sed -i 2d "$T/attestation.jsonl"
expect 1 "record seq 3 .*gap" "deleted record 2 fails, naming record 3" \
    "$QTOKEN" ceremony verify "$T" --pubkey "$W/att.pem"
T=$(tamper swap)
{ sed -n 1p "$B/attestation.jsonl"; sed -n 3p "$B/attestation.jsonl"; sed -n 2p "$B/attestation.jsonl"
  sed -n '4,$p' "$B/attestation.jsonl"; } >"$T/attestation.jsonl"
expect 1 "record seq 3 .*out of order" "records 2 and 3 swapped fail, naming record 3" \
    "$QTOKEN" ceremony verify "$T" --pubkey "$W/att.pem"

# A record from another token of the same installation (its signature is good).
new_token other
"$QTOKEN" attest export --token other --out "$W/other.jsonl" 2>/dev/null
T=$(tamper splice)
{ sed -n 1p "$B/attestation.jsonl"; sed -n 2p "$W/other.jsonl"; sed -n '3,$p' "$B/attestation.jsonl"; } \
    >"$T/attestation.jsonl"
expect 1 "record seq 2 .*another token" "record spliced from another token fails, naming it" \
    "$QTOKEN" ceremony verify "$T" --pubkey "$W/att.pem"
expect 1 "record seq 1 .*signature" "a different pubkey fails on record 1" \
    "$QTOKEN" ceremony verify "$B" --pubkey "$W/other.pub"
T=$(tamper root)
openssl req -x509 -new -key "$W/other.key" -subj "/CN=impostor" -days 1 -out "$T/root.pem" 2>/dev/null
expect 1 "no generation record" "a root certificate for a key not made in the token fails" \
    "$QTOKEN" ceremony verify "$T" --pubkey "$W/att.pem"
expect 1 "INVALID" "attest verify on a tampered log exits 1" \
    "$QTOKEN" attest verify "$W/t-flip2/attestation.jsonl" --pubkey "$W/att.pem"

# --- the device fails after the ceremony's own health check ----------------
# A FIFO device: the ceremony's start-up test (one window, 65536 samples)
# reads good samples, then the feeder sends a stuck value, so the module's
# own pipeline, reading the same FIFO after it, fails its start-up test: the
# ceremony must stop (exit 3) with no key made and the failure attested in
# the token's log.  1.5 windows of good samples: read-ahead by the first
# reader does not matter, the second still meets the stuck value.
mkfifo "$W/qrng.fifo"
python3 - "$W/qrng.fifo" 98304 <<'EOF' &
import os, signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
f = open(sys.argv[1], "wb", buffering=0)
f.write(os.urandom(int(sys.argv[2])))
while True:
    f.write(b"A" * 4096)
EOF
FEEDER=$!
QTOKEN_DEVICE="chardev:$W/qrng.fifo,bits=8,h=7" expect 3 "CKR_DEVICE_ERROR" \
    "a device failing mid-ceremony stops it (exit 3)" ceremony "$W/devfail" cer --allow-sim \
    --label root-devfail
kill "$FEEDER" 2>/dev/null
wait "$FEEDER" 2>/dev/null
te_check "... no key was left behind" sh -c \
    "! pkcs11-tool --module '$TE_MODULE' --token-label cer --login --pin '$TE_PIN' -O \
       2>/dev/null | grep -q root-devfail"
expect 0 "root-ca aborted.*CKR_DEVICE_ERROR" "... and the failure is attested in the log" \
    "$QTOKEN" attest show --token cer --pubkey "$W/att.pem"

# --- clear errors on a second ceremony -----------------------------------
expect 1 "already exists" "an existing label is refused" ceremony "$W/again" cer --allow-sim
te_check "... and the refused ceremony left the token's key count unchanged" sh -c \
    "test \$(pkcs11-tool --module '$TE_MODULE' --token-label cer --login --pin '$TE_PIN' \
      --type privkey -O 2>/dev/null | grep -c 'Private Key Object') -eq 1"
echo wrong-pin >"$W/badpin"
expect 1 "wrong PIN" "a wrong PIN is refused" ceremony "$W/wp" other --allow-sim --pin-file "$W/badpin"
"$QTOKEN" ceremony root-ca --token other --key-type ec:P-256 --subject /CN=x --days 1 \
    --out "$W/wp2" --allow-sim --pin-file "$W/badpin" >/dev/null 2>&1
"$QTOKEN" ceremony root-ca --token other --key-type ec:P-256 --subject /CN=x --days 1 \
    --out "$W/wp3" --allow-sim --pin-file "$W/badpin" >/dev/null 2>&1
expect 1 "locked" "a locked token is refused (after 3 wrong PINs)" ceremony "$W/locked" other --allow-sim
te_finish
