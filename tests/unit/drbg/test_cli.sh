#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The entropy sub-commands of the qtoken CLI, end to end in a private store:
# random (sizes, hex, chunked fail-closed output, exit 3), device selftest
# (every sim fault at sample 5000 exits 3 naming a test at or after the
# onset), device capture (file format), device info / status (--json), and
# the --device > QTOKEN_DEVICE precedence.
# Usage: test_cli.sh QTOKEN_EXE
set -uo pipefail
qtoken=$(readlink -f -- "${1:?qtoken executable}")
pass=0
fail=0
check() { # description, command...
    local d=$1; shift
    if "$@"; then pass=$((pass + 1)); echo "ok   - $d"; else fail=$((fail + 1)); echo "FAIL - $d"; fi
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/qt-cli.XXXXXX")
trap 'rm -rf -- "$dir"' EXIT
export QTOKEN_STORE=$dir/store
unset QTOKEN_CONF QTOKEN_DEVICE
size() { stat -c %s "$1" 2>/dev/null || echo missing; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }
export -f json

"$qtoken" status >/dev/null 2>&1
check "status before any pipeline use exits 4" test $? -eq 4

"$qtoken" random --bytes 1000 --out "$dir/a.bin"
check "random --bytes 1000 exits 0" test $? -eq 0
check "random --bytes 1000 writes 1000 bytes" test "$(size "$dir/a.bin")" = 1000
"$qtoken" random --bytes 1000 --out "$dir/b.bin"
check "two runs differ" bash -c '! cmp -s "$1" "$2"' _ "$dir/a.bin" "$dir/b.bin"
n=$("$qtoken" random --bytes 3M | wc -c)
check "random --bytes 3M to stdout: 3145728 bytes ($n)" test "$n" = 3145728
hex=$("$qtoken" random --bytes 40 --hex)
check "--hex: 32 bytes per line" bash -c '[[ "$1" =~ ^[0-9a-f]{64}$'"'\n'"'[0-9a-f]{16}$ ]]' _ "$hex"
"$qtoken" random --bytes 100 --full-entropy --out "$dir/f.bin"
check "random --full-entropy exits 0 with 100 bytes" test "$(size "$dir/f.bin")" = 100
"$qtoken" random --bytes 0 --out "$dir/z.bin"
check "random --bytes 0 writes an empty file" test "$(size "$dir/z.bin")" = 0
"$qtoken" random --bytes 1X >/dev/null 2>&1
check "random --bytes 1X exits 2" test $? -eq 2
"$qtoken" random >/dev/null 2>&1
check "random without --bytes exits 2" test $? -eq 2

# Failure before any output: no file at all.
"$qtoken" random --bytes 1M --device 'sim:seed=1,fault=stuck@5000' --out "$dir/s.bin" 2>/dev/null
check "random on a stuck device exits 3" test $? -eq 3
check "random on a stuck device creates no file" test ! -e "$dir/s.bin"
# Failure in the middle (full-entropy mode reads the device all along): only
# whole 1 MiB chunks produced before the failure are written.
"$qtoken" random --bytes 8M --full-entropy --device 'sim:seed=1,fault=read-error@3000000' \
    --out "$dir/m.bin" 2>"$dir/m.err"
rc=$?
sz=$(size "$dir/m.bin")
check "mid-stream read error: exit 3 ($rc)" test "$rc" -eq 3
check "mid-stream read error: whole chunks only, fewer than asked ($sz)" \
    bash -c '[ "$1" -lt 8388608 ] && [ $(( $1 % 1048576 )) -eq 0 ]' _ "$sz"
check "mid-stream read error: the message names the test and the sample" \
    grep -q "read at sample" "$dir/m.err"

"$qtoken" device selftest --samples 300K >/dev/null
check "selftest of a healthy sim exits 0" test $? -eq 0
for f in stuck laser-off saturate drift repeat read-error dead; do
    out=$("$qtoken" device selftest --samples 1M --device "sim:seed=3,fault=$f@5000" --json \
        2>/dev/null)
    rc=$?
    t=$(json test <<<"$out" 2>/dev/null)
    i=$(json sample_index <<<"$out" 2>/dev/null)
    check "selftest fault=$f@5000: exit 3 ($rc), test '$t' at sample $i >= 5000" \
        bash -c '[ "$1" -eq 3 ] &&
                 [[ "$2" =~ ^(rct|apt|block-repeat|estimate|read|startup|drift)$ ]] &&
                 [ "$3" -ge 5000 ]' _ "$rc" "$t" "${i:--1}"
done
# The figures of a failed start-up test are the real ones: the samples read
# (past the onset), the device's declared H, no estimate (no window judged).
out=$("$qtoken" device selftest --samples 1M --device 'sim:seed=3,fault=stuck@5000' --json \
    2>/dev/null)
check "selftest stuck@5000 --json: raw_samples >= 5004, h_declared > 6, h_estimate null" \
    bash -c '[ "$(json raw_samples <<<"$1")" -ge 5004 ] &&
             [ "$(json h_estimate <<<"$1")" = None ] &&
             python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 6 else 1)" \
                 "$(json h_declared <<<"$1")"' _ "$out"
out=$("$qtoken" device selftest --samples 300K --device 'sim:seed=3,fault=stuck@200000' --json \
    2>/dev/null)
check "selftest stuck@200000 --json: raw_samples >= 200004, an estimate from the windows before" \
    bash -c '[ "$(json raw_samples <<<"$1")" -ge 200004 ] && [ "$(json windows <<<"$1")" -ge 3 ] &&
             python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 5 else 1)" \
                 "$(json h_estimate <<<"$1")"' _ "$out"
out=$("$qtoken" device selftest --device 'sim:fault=drift@5000' --json 2>/dev/null)
check "selftest drift@5000: the drift monitor fires inside the start-up window" \
    bash -c '[ "$(json test <<<"$1")" = drift ] && [ "$(json sample_index <<<"$1")" -lt 65536 ]' \
    _ "$out"
"$qtoken" random --bytes 1M --device 'sim:fault=drift@5000' --out "$dir/drift.bin" 2>/dev/null
rc=$?
sz=$(size "$dir/drift.bin")
check "random with drift@5000: exit 3 ($rc), nothing written ($sz)" \
    bash -c '[ "$1" -eq 3 ] && [[ "$2" =~ ^(0|missing)$ ]]' _ "$rc" "$sz"

"$qtoken" device capture --samples 1000 --out "$dir/c8.bin" 2>/dev/null
check "capture of 8-bit samples: one byte each" test "$(size "$dir/c8.bin")" = 1000
"$qtoken" device capture --device 'sim:adc_bits=12' --samples 1000 --out "$dir/c12.bin" 2>/dev/null
check "capture of 12-bit samples: 16-bit little-endian" test "$(size "$dir/c12.bin")" = 2000
check "12-bit capture stays below 4096" python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read()
v = struct.unpack("<%dH" % (len(d) // 2), d)
sys.exit(0 if max(v) < 4096 and len(set(v)) > 50 else 1)' "$dir/c12.bin"
"$qtoken" device capture --samples 10 >/dev/null 2>&1
check "capture without --out exits 2" test $? -eq 2

info=$("$qtoken" device info --json)
check "device info --json: type sim, RCT cutoff, extractor ratio" \
    bash -c '[ "$(json type <<<"$1")" = sim ] && [ "$(json health.rct_cutoff <<<"$1")" -ge 2 ] &&
             python3 -c "import sys; r=float(sys.argv[1]); sys.exit(0 if 0<r<=1 else 1)" \
                 "$(json extractor.ratio <<<"$1")"' _ "$info"
st=$("$qtoken" status --json)
check "status --json counts raw samples, served bits and reseeds" \
    bash -c '[ "$(json raw_samples <<<"$1")" -gt 0 ] && [ "$(json bits_served <<<"$1")" -gt 0 ] &&
             [ "$(json reseeds <<<"$1")" -gt 0 ] && [ "$(json failures.rct <<<"$1")" -ge 1 ]' _ "$st"

QTOKEN_DEVICE='sim:fault=stuck@0' "$qtoken" random --bytes 16 --device sim >/dev/null 2>&1
check "--device beats QTOKEN_DEVICE" test $? -eq 0
QTOKEN_DEVICE='sim:fault=stuck@0' "$qtoken" random --bytes 16 >/dev/null 2>&1
check "QTOKEN_DEVICE is used without --device" test $? -eq 3

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
