#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# 'qtoken attest' and 'qtoken ceremony' without the PKCS#11 module:
#   test_attest_cli.sh QTOKEN ATT_MKLOG
# the attestation key (created at first use from the sim QRNG, mode 0600,
# fingerprint = SPKI SHA-256 as openssl computes it), its seal (encrypted
# PKCS#8 that openssl opens with the passphrase FORMAT.md derives from
# device.key; another device key is refused; an unencrypted key of an earlier
# install loads and is re-sealed), its CA certificate, an organisation CA's
# certificate for it (made with openssl, imported, then the issuer),
# verify/show on logs built by att_mklog, exit codes (0 valid, 1 invalid,
# 2 usage, 4 not found), the ceremony's argument errors, and the `rekey` records
# of 'qtoken token rekey' (user and SO) in a log that still verifies.
# Ends with 'N passed, N failed'.
set -u
QTOKEN=$(readlink -f -- "${1:?usage: test_attest_cli.sh QTOKEN ATT_MKLOG}")
MKLOG=$(readlink -f -- "${2:?att_mklog}")
T=$(mktemp -d "${TMPDIR:-/tmp}/qt-attcli.XXXXXX")
trap 'rm -rf -- "$T"' EXIT
export QTOKEN_STORE=$T/store QTOKEN_DEVICE=sim
unset QTOKEN_CONF QTOKEN_PIN
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   - $*"; }
ko() { fail=$((fail + 1)); echo "FAIL - $*"; }

# expect CODE PATTERN DESC CMD...: exit status CODE and PATTERN (grep -E) in stdout+stderr.
expect() {
    local code=$1 pat=$2 desc=$3 rc
    shift 3
    "$@" </dev/null >"$T/out" 2>&1
    rc=$?
    if [ "$rc" -eq "$code" ] && grep -Eq -- "$pat" "$T/out"; then
        ok "$desc"
    else
        ko "$desc (exit $rc, wanted $code and /$pat/)"
        sed 's/^/    | /' "$T/out" | tail -10
    fi
}

expect 0 "BEGIN PUBLIC KEY" "attest pubkey creates the key at first use" "$QTOKEN" attest pubkey
cp "$T/out" "$T/pub.pem"
fp=$(openssl pkey -pubin -in "$T/pub.pem" -outform DER | sha256sum | cut -c1-64)
expect 0 "# $fp" "the fingerprint is the SPKI SHA-256 (openssl)" cat "$T/pub.pem"
expect 0 "^600$" "attest-key.pem has mode 0600" \
    stat -c %a "$QTOKEN_STORE/installation/attest-key.pem"
expect 0 "^700$" "the installation directory has mode 0700" \
    stat -c %a "$QTOKEN_STORE/installation"
expect 0 "\"fingerprint\":\"$fp\"" "attest pubkey --json, same key the second time" \
    "$QTOKEN" attest pubkey --json

# The seal (FORMAT.md 1): openssl alone opens it with hex(HKDF-SHA-256(device.key)).
I=$QTOKEN_STORE/installation
expect 0 "^-----BEGIN ENCRYPTED PRIVATE KEY-----$" "attest-key.pem is an encrypted PKCS#8 PEM" \
    head -1 "$I/attest-key.pem"
expect 0 "^600 32$" "device.key: 32 bytes, mode 0600" stat -c "%a %s" "$I/device.key"
seal_pass() {
    openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt "hexkey:$(xxd -p -c 64 "$1")" \
        -kdfopt "info:qtoken attestation key v1" HKDF | tr -d ':\n' | tr A-F a-f
}
spass=$(seal_pass "$I/device.key")
openssl pkey -pubin -in "$T/pub.pem" -out "$T/pub-only.pem"
expect 0 "^same$" "openssl opens it with the documented passphrase: the same key" sh -c \
    "openssl pkey -in '$I/attest-key.pem' -passin 'pass:$spass' -pubout | cmp - '$T/pub-only.pem' &&
     echo same"
expect 1 "bad decrypt|unable to load|Could not" "... and not with another passphrase" \
    openssl pkey -in "$I/attest-key.pem" -passin "pass:$(echo "$spass" | tr 0-9a-f 1-9a-f0)" -noout
cp -p "$I/device.key" "$T/device.key.saved"
head -c 32 /dev/urandom >"$I/device.key.new" && chmod 600 "$I/device.key.new" &&
    mv "$I/device.key.new" "$I/device.key"
expect 1 "does not open with the passphrase of .*device.key" \
    "attest pubkey: another device.key is refused with a clear error (exit 1)" \
    "$QTOKEN" attest pubkey
cp -p "$T/device.key.saved" "$I/device.key"
expect 0 "# $fp" "... the right one back: the same key" "$QTOKEN" attest pubkey
# An unencrypted key from an earlier install (no device key yet) still loads.
mkdir -p -m 700 "$T/old/installation"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$T/old/installation/attest-key.pem"
chmod 600 "$T/old/installation/attest-key.pem"
oldfp=$(openssl pkey -in "$T/old/installation/attest-key.pem" -pubout -outform DER | sha256sum |
    cut -c1-64)
expect 0 "# $oldfp" "attest pubkey: an unencrypted key of an earlier install loads" \
    env QTOKEN_STORE="$T/old" "$QTOKEN" attest pubkey
expect 0 "^-----BEGIN ENCRYPTED PRIVATE KEY-----$" "... and is re-sealed in place" \
    head -1 "$T/old/installation/attest-key.pem"
expect 0 "^600 600 $" "... key and new device.key mode 0600" sh -c \
    "stat -c %a '$T/old/installation/attest-key.pem' '$T/old/installation/device.key' | tr '\n' ' '"
expect 0 "ES256" "--json is JSON" sh -c "'$QTOKEN' attest pubkey --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[\"alg\"])'"
expect 0 "CA:TRUE" "attest ca: a CA certificate" sh -c \
    "'$QTOKEN' attest ca --out '$T/ca.pem' && openssl x509 -in '$T/ca.pem' -noout -text"
expect 0 "^$fp" "... for the attestation key" sh -c \
    "openssl x509 -in '$T/ca.pem' -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum"
expect 0 ": OK" "... self-signed, openssl verifies it" openssl verify -CAfile "$T/ca.pem" "$T/ca.pem"

# Logs made by the record builder (att_mklog), checked by the CLI.
mkdir -p "$T/log"
"$MKLOG" "$T/log" p256 5 || ko "att_mklog"
L=$T/log/log.jsonl
P=$T/log/pub.pem
expect 0 "^valid: 5 records.*JOSE-TEST-0001" "attest verify: a valid log (exit 0)" \
    "$QTOKEN" attest verify "$L" --pubkey "$P"
expect 0 "head: seq 5 sha256 [0-9a-f]{64}" "... prints the head to pin" \
    "$QTOKEN" attest verify "$L" --pubkey "$P"
expect 1 "record seq 1 .*signature" "attest verify: another key (exit 1)" \
    "$QTOKEN" attest verify "$L" --pubkey "$T/pub.pem"
sed '3s/"jws":"eyJ/"jws":"eyK/' "$L" >"$T/bad.jsonl"
expect 1 "record seq 3 \\(line 3\\)" "attest verify: a changed record (exit 1, named)" \
    "$QTOKEN" attest verify "$T/bad.jsonl" --pubkey "$P"
sed 4d "$L" >"$T/gap.jsonl"
expect 1 "record seq 5 .*gap" "attest verify: a deleted record (exit 1, named)" \
    "$QTOKEN" attest verify "$T/gap.jsonl" --pubkey "$P"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
    openssl pkey -pubout -out "$T/other.pub" 2>/dev/null
expect 4 "NOT FOUND" "attest verify --key-pubkey: a key not in the log (exit 4)" \
    "$QTOKEN" attest verify "$L" --pubkey "$P" --key-pubkey "$T/other.pub"
expect 4 "cannot open" "attest verify: no such file (exit 4)" \
    "$QTOKEN" attest verify "$T/none.jsonl" --pubkey "$P"
expect 2 "usage" "attest verify without --pubkey (exit 2)" "$QTOKEN" attest verify "$L"
expect 0 "keypair-generate" "attest show FILE" "$QTOKEN" attest show "$L"
expect 0 "simulated +yes" "... shows the entropy evidence" "$QTOKEN" attest show "$L"
expect 0 "^valid: 5" "attest show FILE --pubkey verifies too" \
    "$QTOKEN" attest show "$L" --pubkey "$P"
expect 1 "^INVALID: record seq 3" "attest show --pubkey on a changed log (exit 1)" \
    "$QTOKEN" attest show "$T/bad.jsonl" --pubkey "$P"
expect 4 "no token labelled" "attest export: unknown token (exit 4)" \
    "$QTOKEN" attest export --token no-such-token
# A session-keys record (FORMAT.md 2.5): record 4 holds 3 session keys,
# 0 and 2 key pairs (session-J.pem), 1 a secret key.
mkdir -p "$T/blog"
"$MKLOG" "$T/blog" p256 3 3 || ko "att_mklog with a session-keys record"
BL=$T/blog/log.jsonl
BP=$T/blog/pub.pem
expect 0 "^valid: 4 records" "attest verify: a log with a session-keys record (exit 0)" \
    "$QTOKEN" attest verify "$BL" --pubkey "$BP"
expect 0 "record seq 4, entry 2 of its \"keys\" \(a session-keys record\)" \
    "attest verify --key-pubkey: a session key found inside the batch record, entry named" \
    "$QTOKEN" attest verify "$BL" --pubkey "$BP" --key-pubkey "$T/blog/session-2.pem"
expect 0 "^#4 .*session-keys" "... and the record printed" \
    "$QTOKEN" attest verify "$BL" --pubkey "$BP" --key-pubkey "$T/blog/session-0.pem"
expect 4 "NOT FOUND" "attest verify --key-pubkey: a key in no record of the batch log (exit 4)" \
    "$QTOKEN" attest verify "$BL" --pubkey "$BP" --key-pubkey "$T/other.pub"
# one byte of the batch record's payload changed (its 200th character)
awk 'NR == 4 { c = substr($0, 200, 1); $0 = substr($0, 1, 199) (c == "A" ? "B" : "A") \
    substr($0, 201) } { print }' "$BL" >"$T/bbad.jsonl"
expect 1 "^INVALID: record seq 4 \(line 4\): signature" \
    "attest verify: a changed byte in the session-keys record fails, naming it (exit 1)" \
    "$QTOKEN" attest verify "$T/bbad.jsonl" --pubkey "$BP"
expect 0 "keys \(3\):" "attest show: the batch record's keys, readable" \
    "$QTOKEN" attest show "$BL"
expect 0 "^ +\[1\]$" "... one block per key, numbered" "$QTOKEN" attest show "$BL"
expect 0 "kcv +010101" "... the secret key's kcv" "$QTOKEN" attest show "$BL"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/o.key" \
    -out "$T/o.pem" -subj /CN=other -days 1 2>/dev/null
expect 1 "does not certify" "attest import-cert: a certificate for another key (exit 1)" \
    "$QTOKEN" attest import-cert "$T/o.pem"

# An organisation's CA certifies the attestation key: imported, it becomes the
# issuer of per-key certificates (what 'attest ca' prints and a ceremony
# bundle carries as attestation-ca.pem), and openssl chains it to the org root.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/org.key" \
    -out "$T/org.pem" -subj "/O=Example Org/CN=Example Org Root" -days 2 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" \
    "keyUsage=critical,keyCertSign,cRLSign" "subjectKeyIdentifier=hash" \
    "authorityKeyIdentifier=keyid" >"$T/att-ext.cnf"
issue_att_cert() { # OUT SUBJECT EXTFILE: a certificate for the attestation key, from org
    openssl x509 -new -force_pubkey "$T/pub-only.pem" -subj "$2" -CA "$T/org.pem" \
        -CAkey "$T/org.key" -days 2 -extfile "$3" -out "$1" 2>"$T/x509.err" ||
        ko "openssl x509 -new: $(cat "$T/x509.err")"
}
issue_att_cert "$T/att-org.pem" "/O=Example Org/CN=qtoken attestation key" "$T/att-ext.cnf"
grep -v subjectKeyIdentifier "$T/att-ext.cnf" |
    sed 's/^authorityKeyIdentifier.*/subjectKeyIdentifier=none/' >"$T/noski-ext.cnf"
issue_att_cert "$T/att-noski.pem" "/O=Example Org/CN=no key id" "$T/noski-ext.cnf"
expect 1 "subjectKeyIdentifier" \
    "attest import-cert: an org certificate without subjectKeyIdentifier is refused (exit 1)" \
    "$QTOKEN" attest import-cert "$T/att-noski.pem"
expect 0 "^imported " "attest import-cert: the org CA's certificate for the key (exit 0)" \
    "$QTOKEN" attest import-cert "$T/att-org.pem"
expect 0 "^same$" "... stored as attest-cert.pem" sh -c \
    "cmp '$I/attest-cert.pem' '$T/att-org.pem' && echo same"
expect 0 "^same$" "attest ca now prints the imported certificate" sh -c \
    "'$QTOKEN' attest ca --out '$T/ca2.pem' && cmp '$T/ca2.pem' '$T/att-org.pem' && echo same"
expect 0 ": OK" "... which openssl chains to the org root" \
    openssl verify -CAfile "$T/org.pem" "$T/ca2.pem"
expect 0 "^$fp" "... and which certifies the attestation key" sh -c \
    "openssl x509 -in '$T/ca2.pem' -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum"
expect 2 "unknown sub-command" "attest: unknown sub-command (exit 2)" "$QTOKEN" attest frob

# The ceremony's argument errors need no module.
expect 2 "unknown key type" "ceremony: unknown key type (exit 2)" \
    "$QTOKEN" ceremony root-ca --token t --key-type dsa:1024 --subject /CN=x --days 1 \
    --out "$T/c1"
expect 2 "bad subject" "ceremony: malformed subject (exit 2)" \
    "$QTOKEN" ceremony root-ca --token t --key-type ec:P-256 --subject "CN" --days 1 \
    --out "$T/c2"
expect 2 "days" "ceremony: --days out of range (exit 2)" \
    "$QTOKEN" ceremony root-ca --token t --key-type ec:P-256 --subject /CN=x --days 0 \
    --out "$T/c3"
expect 2 "usage" "ceremony root-ca: missing options (exit 2)" \
    "$QTOKEN" ceremony root-ca --token t
expect 1 "attestation.jsonl" "ceremony verify: not a bundle (exit 1)" \
    "$QTOKEN" ceremony verify "$T" --pubkey "$P"
# 'qtoken token rekey' appends a `rekey` record in the rotation's transaction;
# the log still verifies with the installation's key.
printf '[token]\nargon2_memory_kib = 64\nargon2_passes = 1\nargon2_lanes = 1\n' >"$T/cheap.conf"
payloads() { # the decoded payload of each exported record, one per line
    sed -n 's/.*"jws":"[^.]*\.\([^.]*\)\..*/\1/p' "$1" | while read -r b; do
        b=$(printf '%s' "$b" | tr '_-' '/+')
        while [ $((${#b} % 4)) -ne 0 ]; do b="$b="; done
        printf '%s' "$b" | base64 -d
        echo
    done
}
expect 0 "created|initiali" "token init (for rekey)" env QTOKEN_CONF="$T/cheap.conf" \
    QTOKEN_SO_PIN=so-pin-1234 QTOKEN_PIN=user-1234 "$QTOKEN" token init --label rk
expect 0 "new master key" "token rekey (user)" env QTOKEN_CONF="$T/cheap.conf" \
    QTOKEN_PIN=user-1234 "$QTOKEN" token rekey --token rk
expect 0 "new master key" "token rekey (SO)" env QTOKEN_CONF="$T/cheap.conf" \
    QTOKEN_SO_PIN=so-pin-1234 QTOKEN_PIN=so-pin-1234 "$QTOKEN" token rekey --token rk --so
expect 0 "" "attest export of the rekeyed token" env QTOKEN_CONF="$T/cheap.conf" \
    "$QTOKEN" attest export --token rk --out "$T/rk.jsonl"
payloads "$T/rk.jsonl" >"$T/rk.txt"
expect 0 "^2$" "two rekey records" grep -c '"event":"rekey"' "$T/rk.txt"
expect 0 "master key generation 2," "the first names generation 2" \
    sh -c "grep '\"event\":\"rekey\"' '$T/rk.txt' | head -1"
expect 0 "master key generation 3," "the second generation 3, and is the last record" \
    tail -1 "$T/rk.txt"
expect 0 "^valid: 4 records" "the log with its rekey records verifies" \
    "$QTOKEN" attest verify "$T/rk.jsonl" --pubkey "$T/pub.pem"
expect 0 "master_key_generation\":3," "the token is at generation 3" \
    env QTOKEN_CONF="$T/cheap.conf" "$QTOKEN" token list --json

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
