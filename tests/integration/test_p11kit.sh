#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# p11-kit: the module given as $1 (or $QTOKEN_PKCS11_MODULE) registered with
# a p11-kit module file (the lines of conf/qtoken.module, $2 if given, with
# the module path made absolute), then used only through p11-kit:
# `p11-kit list-modules` shows the module and its token, `p11tool`
# (GnuTLS, which loads the registered modules through p11-kit) lists the
# token, its mechanisms and objects, generates EC and RSA key pairs and
# signs with them (--test-sign), and pkcs11-tool on p11-kit-proxy.so sees
# the token and the keys.
#
# Where the module file goes: p11-kit 0.24 reads ~/.config/pkcs11/modules
# (user-config: merge is its default) but skips user configuration in a
# program running as root.  So: not root, a private HOME with the module
# file in it; root (CI), /usr/share/p11-kit/modules/qtoken-test-<pid>.module,
# removed on exit.  This test therefore writes to a system directory when it
# runs as root.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/token_env.sh"
te_setup "${1:-${QTOKEN_PKCS11_MODULE:-}}"
template=${2:-}

label=p11kit-test
name="qtoken-test-$$"
cd "$TE_WORK" || exit 1

# The module file: the template's lines (if any) with our absolute path,
# enabled only in the programs this test runs (when the file sits in the
# system directory, other programs on the machine do not load the module).
{
    echo "# written by $(basename "$0") (pid $$), removed when it exits"
    echo "module: $TE_MODULE"
    if [ -n "$template" ] && [ -r "$template" ]; then
        grep -v -E '^[[:space:]]*(module|enable-in|disable-in)[[:space:]]*:|^[[:space:]]*(#|$)' \
            "$template"
    fi
    echo "enable-in: p11-kit, p11tool, pkcs11-tool"
} >"$TE_DIR/$name.module"

if [ "$(id -u)" -eq 0 ]; then
    modules_dir=$(pkg-config --variable p11_module_configs p11-kit-1 2>/dev/null)
    modules_dir=${modules_dir:-/usr/share/p11-kit/modules}
else
    export HOME="$TE_DIR/home"
    unset XDG_CONFIG_HOME
    modules_dir="$HOME/.config/pkcs11/modules"
fi
mkdir -p "$modules_dir"
# Files left by runs that were killed (their pid is gone).
for f in "$modules_dir"/qtoken-test-*.module; do
    [ -e "$f" ] || continue
    pid=${f##*/qtoken-test-}
    pid=${pid%.module}
    if ! kill -0 "$pid" 2>/dev/null; then
        rm -f -- "$f"
    fi
done
TE_CLEANUP_FILES+=("$modules_dir/$name.module")
te_check "module file installed in $modules_dir" cp "$TE_DIR/$name.module" "$modules_dir/"
proxy=$(pkg-config --variable proxy_module p11-kit-1 2>/dev/null)
proxy=${proxy:-/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so}

te_init_token "$label"

# module_block: the lines of `p11-kit list-modules` under our module.
module_block() {
    p11-kit list-modules 2>/dev/null | awk -v n="$name:" '
        /^[^ \t]/ { inside = ($1 == n) }
        inside { print }'
}
te_check "p11-kit list-modules shows the module" \
    bash -c "p11-kit list-modules 2>/dev/null | grep -q -F '$name: $TE_MODULE'"
block=$(module_block)
echo "$block" | sed 's/^/    # /'
if grep -q -E "^[[:space:]]+token: $label\$" <<<"$block"; then
    te_ok "p11-kit list-modules shows token '$label' under the module"
else
    te_fail "p11-kit list-modules does not show token '$label' under $name"
fi
if grep -q -E "^[[:space:]]+token-initialized\$" <<<"$block"; then
    te_ok "p11-kit list-modules shows token-initialized"
else
    te_fail "p11-kit list-modules shows no token-initialized flag"
fi

te_check "p11tool --list-tokens shows the token" \
    bash -c "p11tool --list-tokens 2>/dev/null | grep -q -E '^[[:space:]]*Label: $label\$'"
url=$(p11tool --list-token-urls 2>/dev/null | grep -E "[:;]token=$label(;|\$)" | head -1)
if [ -n "$url" ]; then
    te_ok "p11tool --list-token-urls gives the token URL ($url)"
else
    te_fail "p11tool --list-token-urls has no URL with token=$label"
    url="pkcs11:token=$label"
fi
# By number: GnuTLS names 0x1040 CKM_ECDSA_KEY_PAIR_GEN.
te_check "p11tool --list-mechanisms lists RSA/EC key generation and ECDSA" \
    bash -c "out=\$(p11tool --list-mechanisms '$url' 2>&1) && \
             grep -q -F '[0x0000]' <<<\"\$out\" && grep -q -F '[0x1040]' <<<\"\$out\" && \
             grep -q -F '[0x1041]' <<<\"\$out\""
te_check "p11tool --generate-random 32" \
    bash -c "p11tool --generate-random 32 '$url' >rand.bin && [ \$(stat -c %s rand.bin) -eq 32 ]"

login=(--login --set-pin "$TE_PIN")
te_check "p11tool --generate-privkey ECDSA --curve secp256r1" \
    p11tool "${login[@]}" --generate-privkey ECDSA --curve secp256r1 --label p11tool-ec \
    --outfile ec-gen.pub "$url"
te_check "p11tool --generate-privkey RSA --bits 2048" \
    p11tool "${login[@]}" --generate-privkey RSA --bits 2048 --label p11tool-rsa \
    --outfile rsa-gen.pub "$url"

p11tool "${login[@]}" --list-all "$url" >list-login.txt 2>&1
p11tool --list-all "$url" >list-public.txt 2>&1
for kt in ec rsa; do
    if grep -A2 -E "^[[:space:]]*Type: Private key" list-login.txt |
        grep -q -E "Label: p11tool-$kt\$"; then
        te_ok "p11tool --list-all (logged in) shows private key p11tool-$kt"
    else
        te_fail "p11tool --list-all (logged in) lacks private key p11tool-$kt"
        sed 's/^/    | /' list-login.txt | tail -20
    fi
    if grep -A2 -E "^[[:space:]]*Type: Public key" list-public.txt |
        grep -q -E "Label: p11tool-$kt\$"; then
        te_ok "p11tool --list-all (no login) shows public key p11tool-$kt"
    else
        te_fail "p11tool --list-all (no login) lacks public key p11tool-$kt"
        sed 's/^/    | /' list-public.txt | tail -20
    fi
done
if grep -q -E "^[[:space:]]*Type: Private key" list-public.txt; then
    te_fail "p11tool --list-all without login shows a private key"
else
    te_ok "p11tool --list-all without login shows no private key"
fi

for kt in ec rsa; do
    te_check "p11tool --test-sign with p11tool-$kt" \
        p11tool "${login[@]}" --test-sign "$url;object=p11tool-$kt;type=private"
    te_check "p11tool --export-pubkey of p11tool-$kt matches the generated key" \
        bash -c "p11tool ${login[*]} --export-pubkey --outfile $kt-exp.pub \
                 '$url;object=p11tool-$kt;type=private' && \
                 [ \"\$(openssl pkey -pubin -in $kt-exp.pub -outform DER | sha256sum)\" = \
                   \"\$(openssl pkey -pubin -in $kt-gen.pub -outform DER | sha256sum)\" ]"
done

# The p11-kit proxy module, as any PKCS#11 application loading it sees it.
te_check "pkcs11-tool on p11-kit-proxy.so lists the token" \
    bash -c "pkcs11-tool --module '$proxy' --list-token-slots 2>&1 | \
             grep -q -E 'token label[[:space:]]*: $label\$'"
te_check "pkcs11-tool on p11-kit-proxy.so lists the p11tool keys" \
    bash -c "out=\$(pkcs11-tool --module '$proxy' --token-label '$label' --login \
             --pin '$TE_PIN' --list-objects 2>&1) && \
             grep -q 'label:[[:space:]]*p11tool-ec\$' <<<\"\$out\" && \
             grep -q 'label:[[:space:]]*p11tool-rsa\$' <<<\"\$out\""
echo hello | openssl dgst -sha256 -binary >msg.sha256
te_check "pkcs11-tool on p11-kit-proxy.so signs with p11tool-ec (CKM_ECDSA)" \
    pkcs11-tool --module "$proxy" --token-label "$label" --login --pin "$TE_PIN" --sign \
    --mechanism ECDSA --label p11tool-ec --input-file msg.sha256 \
    --output-file msg.sig --signature-format openssl
te_check "that signature verifies in software" \
    openssl pkeyutl -verify -pubin -inkey ec-gen.pub -in msg.sha256 -sigfile msg.sig

# Removing the module file unregisters it (the trap does this too).
rm -f -- "$modules_dir/$name.module"
te_check_fails "module gone from p11-kit list-modules after removal" \
    bash -c "p11-kit list-modules 2>/dev/null | grep -q -F '$name:'"

te_finish
