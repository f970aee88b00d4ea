#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The loadable OpenSSL provider `qtoken` (src/drbg/provider.c) with the real
# openssl command:
#   - `openssl rand -provider-path DIR -provider qtoken -provider default`
#     works and its QRNG-SEED source is really called (the provider's own
#     counters, logged at teardown with QTOKEN_LOG=info, and the shared stats
#     file read by `qtoken status --json`);
#   - conf/openssl-qrng-seed.cnf makes plain `openssl rand` seed from it;
#   - with a failing device (stuck ADC, read error) `openssl rand` fails and
#     prints nothing, in both set-ups, instead of falling back to OS entropy;
#   - control: the same failing device with the seed source NOT selected
#     (set_seed_source = no, no [random] seed) lets openssl succeed, so the
#     failures above are the seed source's doing.
# Usage: test_openssl_provider.sh QTOKEN_EXE PROVIDER_DIR OPENSSL_CNF
set -uo pipefail

qtoken=$(readlink -f -- "${1:?qtoken executable}")
provdir=$(readlink -f -- "${2:?directory holding qtoken.so}")
cnf=$(readlink -f -- "${3:?conf/openssl-qrng-seed.cnf}")

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { # description, command...
    local d=$1; shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}

dir=$(mktemp -d "${TMPDIR:-/tmp}/qt-osslprov.XXXXXX")
trap 'rm -rf -- "$dir"' EXIT
export QTOKEN_STORE=$dir/store
export QTOKEN_DEVICE=sim
unset QTOKEN_CONF OPENSSL_CONF OPENSSL_MODULES
mkdir -p "$QTOKEN_STORE"

# calls=N from the provider's teardown line in file $1 (empty if absent).
seed_calls() { sed -n 's/.*QRNG-SEED calls=\([0-9]*\) .*/\1/p' "$1" | tail -1; }
seed_failures() { sed -n 's/.*QRNG-SEED calls=.* failures=\([0-9]*\).*/\1/p' "$1" | tail -1; }
stat_field() { # json field from qtoken status --json
    "$qtoken" status --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" 2>/dev/null
}

prov=(-provider-path "$provdir" -provider qtoken -provider default)

# 1. -provider qtoken
out=$(QTOKEN_LOG=info openssl rand "${prov[@]}" -hex 32 2>"$dir/err1")
rc=$?
check "openssl rand -provider qtoken exits 0" test "$rc" -eq 0
check "openssl rand -provider qtoken prints 32 bytes of hex" \
    bash -c '[[ "$1" =~ ^[0-9a-f]{64}$ ]]' _ "$out"
calls=$(seed_calls "$dir/err1")
check "QRNG-SEED was called by openssl rand (calls=${calls:-none})" test "${calls:-0}" -ge 1
check "QRNG-SEED reported no failure" test "$(seed_failures "$dir/err1")" = 0
reseeds1=$(stat_field reseeds)
bits1=$(stat_field bits_extracted)
check "shared stats file counts the provider's reseeds (${reseeds1:-none})" \
    test "${reseeds1:-0}" -ge 1
check "shared stats file counts extracted bits (${bits1:-none})" test "${bits1:-0}" -gt 0
# As if installed: OpenSSL finds qtoken.so in its modules directory.
out=$(OPENSSL_MODULES=$provdir QTOKEN_LOG=info openssl rand -provider qtoken -provider default \
    -hex 32 2>"$dir/err1b")
check "openssl rand -provider qtoken (module from OPENSSL_MODULES) works and calls QRNG-SEED" \
    bash -c '[[ "$1" =~ ^[0-9a-f]{64}$ ]] && [ "$2" -ge 1 ]' _ "$out" "$(seed_calls "$dir/err1b")"
list=$(openssl list -providers -provider-path "$provdir" -provider qtoken 2>&1)
check "openssl list -providers shows qtoken active" \
    bash -c 'grep -q "qtoken QRNG seed provider" <<<"$1" && grep -q "status: active" <<<"$1"' \
    _ "$list"

# 2. The shipped configuration file, plain openssl rand.
export OPENSSL_MODULES=$provdir
out=$(OPENSSL_CONF=$cnf QTOKEN_LOG=info openssl rand -hex 16 2>"$dir/err2")
rc=$?
check "OPENSSL_CONF=openssl-qrng-seed.cnf openssl rand exits 0" test "$rc" -eq 0
check "... prints 16 bytes of hex" bash -c '[[ "$1" =~ ^[0-9a-f]{32}$ ]]' _ "$out"
check "... and QRNG-SEED was called (calls=$(seed_calls "$dir/err2"))" \
    test "$(seed_calls "$dir/err2")" -ge 1
reseeds2=$(stat_field reseeds)
check "stats reseeds grew ($reseeds1 -> $reseeds2)" test "${reseeds2:-0}" -gt "${reseeds1:-0}"
# [random] section alone (provider does not set the seed source itself).
sed 's/^# set_seed_source = yes/set_seed_source = no/' "$cnf" >"$dir/random-only.cnf"
OPENSSL_CONF=$dir/random-only.cnf QTOKEN_LOG=info openssl rand -hex 16 >/dev/null 2>"$dir/err3"
check "[random] seed = QRNG-SEED alone selects the QRNG (calls=$(seed_calls "$dir/err3"))" \
    test "$(seed_calls "$dir/err3")" -ge 1

# 3. Failing devices: openssl rand fails, no output, no fallback.
for spec in 'sim:fault=stuck@0' 'sim:seed=1,fault=read-error@0' 'sim:seed=1,fault=dead@0'; do
    out=$(QTOKEN_DEVICE=$spec QTOKEN_LOG=info openssl rand "${prov[@]}" -hex 32 2>"$dir/err4")
    rc=$?
    check "-provider qtoken, device '$spec': openssl rand fails (rc=$rc)" test "$rc" -ne 0
    check "-provider qtoken, device '$spec': no output" test -z "$out"
    check "-provider qtoken, device '$spec': the seed source reported the failure" \
        test "$(seed_failures "$dir/err4")" -ge 1
    out=$(QTOKEN_DEVICE=$spec OPENSSL_CONF=$cnf openssl rand -hex 32 2>/dev/null)
    rc=$?
    check "config file, device '$spec': openssl rand fails (rc=$rc)" test "$rc" -ne 0
    check "config file, device '$spec': no output" test -z "$out"
done

# 4. Control: seed source not selected -> the failing device is never used.
sed -e 's/^# set_seed_source = yes/set_seed_source = no/' -e '/^seed/d' "$cnf" >"$dir/unused.cnf"
out=$(QTOKEN_DEVICE='sim:fault=stuck@0' OPENSSL_CONF=$dir/unused.cnf QTOKEN_LOG=info \
    openssl rand -hex 16 2>"$dir/err5")
rc=$?
check "control: provider loaded but not the seed source -> openssl succeeds" test "$rc" -eq 0
check "control: QRNG-SEED not called (calls=$(seed_calls "$dir/err5"))" \
    test "$(seed_calls "$dir/err5")" = 0

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
