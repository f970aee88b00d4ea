#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# pkcs11-tool (OpenSC 0.23) against the module given as $1: token and PIN
# management, key generation (RSA 2048/4096, EC P-256/P-384, Ed25519,
# AES-256), signatures verified by pkcs11-tool and by openssl, encryption
# (AES-CBC-PAD round trip, RSA-OAEP from openssl), key wrap/unwrap, random
# bytes, object listing/reading/writing/deleting, certificate and private
# key import, and pkcs11-tool's own
# self-tests --test, --test-ec, --test-fork, --test-threads.
# Prints 'N passed, N failed' last.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/token_env.sh"
te_setup "${1:-${QTOKEN_PKCS11_MODULE:-}}"
cd "$TE_WORK" || exit 1

label=tooltest
P=(te_p11 --token-label "$label")
U=(te_p11 --token-label "$label" --login --pin "$TE_PIN")

# ---- module, token and PINs ---------------------------------------------
te_check "module info (-I)" te_p11 -I
te_check "slot list shows the empty slot" sh -c \
    "pkcs11-tool --module '$TE_MODULE' -L | grep -q 'uninitialized'"
te_check "init token" te_p11 --slot-index 0 --init-token --label "$label" --so-pin "$TE_SO_PIN"
te_check "token listed with its label" sh -c \
    "pkcs11-tool --module '$TE_MODULE' -T | grep -q 'token label *: $label'"
te_check "init user PIN (SO login)" "${P[@]}" --login --login-type so --so-pin "$TE_SO_PIN" \
    --init-pin --pin 11112222
te_check "change user PIN" "${P[@]}" --login --pin 11112222 --change-pin --new-pin "$TE_PIN"
te_check_fails "old PIN refused" "${P[@]}" --login --pin 11112222 -O
te_check "new PIN works" "${U[@]}" -O
te_check "token flags: PIN initialised" sh -c \
    "pkcs11-tool --module '$TE_MODULE' -T | grep -q 'PIN initialized'"
te_check "mechanism list" sh -c \
    "pkcs11-tool --module '$TE_MODULE' --token-label $label -M | grep -q 'ECDSA-SHA256'"

# ---- key generation -----------------------------------------------------
te_check "keypairgen rsa:2048" "${U[@]}" --keypairgen --key-type rsa:2048 --id 01 --label rsa2048 \
    --usage-sign --usage-decrypt
te_check "keypairgen rsa:4096" "${U[@]}" --keypairgen --key-type rsa:4096 --id 02 --label rsa4096
te_check "keypairgen EC:prime256v1" "${U[@]}" --keypairgen --key-type EC:prime256v1 --id 03 \
    --label p256 --usage-sign --usage-derive
te_check "keypairgen EC:secp384r1" "${U[@]}" --keypairgen --key-type EC:secp384r1 --id 04 \
    --label p384
te_check "keypairgen EC:edwards25519" "${U[@]}" --keypairgen --key-type EC:edwards25519 --id 05 \
    --label ed25519
te_check "keygen AES:32 (wrapping key)" "${U[@]}" --keygen --key-type AES:32 --id 06 --label kek \
    --usage-wrap
te_check "keygen AES:32 (extractable)" "${U[@]}" --keygen --key-type AES:32 --id 07 \
    --label data-key --extractable --usage-decrypt
te_check "list objects shows the keys" sh -c \
    "pkcs11-tool --module '$TE_MODULE' --token-label $label --login --pin $TE_PIN -O 2>/dev/null \
     | grep -c 'label:' | grep -qx 12"

# ---- signatures ---------------------------------------------------------
printf 'qtoken pkcs11-tool integration %s\n' "$$" > data.txt
sig_roundtrip() { # id mech
    "${U[@]}" --sign --id "$1" -m "$2" -i data.txt -o "sig.$1.$2" &&
        "${U[@]}" --verify --id "$1" -m "$2" -i data.txt --signature-file "sig.$1.$2"
}
te_check "sign/verify ECDSA-SHA256 (P-256)" sig_roundtrip 03 ECDSA-SHA256
te_check "sign/verify ECDSA-SHA384 (P-384)" sig_roundtrip 04 ECDSA-SHA384
te_check "sign/verify SHA256-RSA-PKCS" sig_roundtrip 01 SHA256-RSA-PKCS
te_check "sign/verify SHA256-RSA-PKCS-PSS" sig_roundtrip 01 SHA256-RSA-PKCS-PSS
te_check "sign/verify RSA 4096 SHA512-RSA-PKCS" sig_roundtrip 02 SHA512-RSA-PKCS
te_check "sign/verify EDDSA" sig_roundtrip 05 EDDSA

te_check "read EC public key" "${P[@]}" --read-object --type pubkey --id 03 -o p256.der
te_check "read RSA public key" "${P[@]}" --read-object --type pubkey --id 01 -o rsa.der
te_check "read Ed25519 public key" "${P[@]}" --read-object --type pubkey --id 05 -o ed.pem
te_check "openssl verifies the RSA signature" openssl dgst -sha256 -verify rsa.der -keyform DER \
    -signature sig.01.SHA256-RSA-PKCS data.txt
te_check "sign ECDSA in openssl format" "${U[@]}" --sign --id 03 -m ECDSA-SHA256 \
    --signature-format openssl -i data.txt -o sig.ec.der
te_check "openssl verifies the ECDSA signature" openssl dgst -sha256 -verify p256.der \
    -keyform DER -signature sig.ec.der data.txt
# (pkcs11-tool 0.23 writes Ed25519 public keys as PEM)
te_check "openssl verifies the Ed25519 signature" openssl pkeyutl -verify -pubin -inkey ed.pem \
    -rawin -in data.txt -sigfile sig.05.EDDSA
cp data.txt tampered.txt && echo x >> tampered.txt
# (pkcs11-tool --verify exits 0 and prints 'Invalid signature')
te_check "a tampered message does not verify" sh -c \
    "pkcs11-tool --module '$TE_MODULE' --token-label $label --login --pin $TE_PIN --verify \
     --id 03 -m ECDSA-SHA256 -i tampered.txt --signature-file sig.03.ECDSA-SHA256 2>&1 \
     | grep -q 'Invalid signature'"
te_check "openssl rejects the tampered message" sh -c \
    "! openssl dgst -sha256 -verify p256.der -keyform DER -signature sig.ec.der tampered.txt"

te_check "keypairgen with --always-auth" "${U[@]}" --keypairgen --key-type EC:prime256v1 \
    --id 0b --label always --always-auth
te_check "sign with an always-authenticate key (context-specific login)" sig_roundtrip 0b \
    ECDSA-SHA256

# ---- encryption ---------------------------------------------------------
iv=000102030405060708090a0b0c0d0e0f
te_check "encrypt AES-CBC-PAD" "${U[@]}" --encrypt --id 07 -m AES-CBC-PAD --iv $iv \
    -i data.txt -o data.enc
te_check "decrypt AES-CBC-PAD" "${U[@]}" --decrypt --id 07 -m AES-CBC-PAD --iv $iv \
    -i data.enc -o data.dec
te_check "AES round trip" cmp data.txt data.dec
te_check "openssl encrypts RSA-OAEP(SHA-256)" openssl pkeyutl -encrypt -pubin -inkey rsa.der \
    -keyform DER -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
    -pkeyopt rsa_mgf1_md:sha256 -in data.txt -out data.oaep
te_check "decrypt RSA-PKCS-OAEP" "${U[@]}" --decrypt --id 01 -m RSA-PKCS-OAEP \
    --hash-algorithm SHA256 --mgf MGF1-SHA256 -i data.oaep -o data.oaep.dec
te_check "RSA-OAEP round trip" cmp data.txt data.oaep.dec

# ---- wrap / unwrap ------------------------------------------------------
te_check "wrap AES key (AES-KEY-WRAP)" "${U[@]}" --wrap -m AES-KEY-WRAP --id 06 \
    --application-id 07 -o wrapped.bin
te_check "wrapped key is 40 bytes" test "$(stat -c %s wrapped.bin)" -eq 40
te_check "unwrap AES key" "${U[@]}" --unwrap -m AES-KEY-WRAP --id 06 -i wrapped.bin \
    --key-type AES:32 --application-id 08 --application-label unwrapped --usage-decrypt
te_check "the unwrapped key decrypts what the original encrypted" "${U[@]}" --decrypt --id 08 \
    -m AES-CBC-PAD --iv $iv -i data.enc -o data.dec2
te_check "unwrapped round trip" cmp data.txt data.dec2
te_check_fails "a non-extractable key cannot be wrapped" "${U[@]}" --wrap -m AES-KEY-WRAP \
    --id 06 --application-id 06 -o wrapped2.bin

# ---- random, objects ----------------------------------------------------
te_check "generate-random 64" sh -c \
    "pkcs11-tool --module '$TE_MODULE' --token-label $label --generate-random 64 -o rnd.bin \
     && test \$(stat -c %s rnd.bin) -eq 64"
te_check "two random draws differ" sh -c \
    "pkcs11-tool --module '$TE_MODULE' --token-label $label --generate-random 32 -o r1 && \
     pkcs11-tool --module '$TE_MODULE' --token-label $label --generate-random 32 -o r2 && \
     ! cmp -s r1 r2"
printf 'some data object\n' > obj.txt
te_check "write data object" "${U[@]}" --write-object obj.txt --type data --label mydata \
    --application-label qtoken-test
te_check "read data object" "${U[@]}" --read-object --type data --label mydata -o obj.out
te_check "data object round trip" cmp obj.txt obj.out
te_check "delete data object" "${U[@]}" --delete-object --type data --label mydata
te_check_fails "deleted object is gone" "${U[@]}" --read-object --type data --label mydata \
    -o obj.out2
te_check "delete secret key" "${U[@]}" --delete-object --type secrkey --id 08

# ---- import: a certificate and a private key written with --write-object
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=qtoken-import \
    -keyout imp.key -out imp.crt -days 2 >/dev/null 2>&1
openssl x509 -in imp.crt -outform DER -out imp.crt.der
openssl pkey -in imp.key -outform DER -out imp.key.der
te_check "write certificate" "${U[@]}" --write-object imp.crt.der --type cert --id 0a \
    --label imported
te_check "read certificate back" "${U[@]}" --read-object --type cert --id 0a -o imp.out.der
te_check "certificate round trip" cmp imp.crt.der imp.out.der
te_check "write EC private key" "${U[@]}" --write-object imp.key.der --type privkey --id 0a \
    --label imported
te_check "sign with the imported key" "${U[@]}" --sign --id 0a -m ECDSA-SHA256 \
    --signature-format openssl -i data.txt -o imp.sig
te_check "openssl verifies it with the certificate" sh -c \
    "openssl x509 -in imp.crt -pubkey -noout > imp.pub && \
     openssl dgst -sha256 -verify imp.pub -signature imp.sig data.txt"
te_check "private keys hidden without login" sh -c \
    "! pkcs11-tool --module '$TE_MODULE' --token-label $label -O --type privkey 2>/dev/null \
     | grep -q 'Private Key'"

# ---- pkcs11-tool self-tests ---------------------------------------------
te_check "pkcs11-tool --test" "${U[@]}" --test --allow-sw
te_check "pkcs11-tool --test-ec" "${U[@]}" --session-rw --test-ec --id 09 \
    --key-type EC:prime256v1 --allow-sw
te_check "pkcs11-tool --test-fork" "${U[@]}" --test-fork
# four threads each C_Initialize (CKF_OS_LOCKING_OK), C_GetInfo,
# C_GetSlotList, C_GetTokenInfo at once; one run (pkcs11-tool sleeps 30 s
# when a thread is still busy as its main thread ends, whatever the module)
te_check "pkcs11-tool --test-threads ILGISLT0 x4, every thread CKR_OK" sh -c \
    "pkcs11-tool --module '$TE_MODULE' --test-threads ILGISLT0 --test-threads ILGISLT0 \
     --test-threads ILGISLT0 --test-threads ILGISLT0 -L > threads.log 2>&1 && \
     grep -q 'all threads have ended with CKR_OK' threads.log"

te_finish
