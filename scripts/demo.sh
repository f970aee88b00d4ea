#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The main job (README): installs what is missing, builds qtoken, then, with a
# private token store in a temp directory:
#   1. qtoken device info and qtoken device selftest on the configured device
#      (sim unless QTOKEN_DEVICE says otherwise);
#   2. 1 MiB of `qtoken random` checked by `ent` (entropy per byte, chi-square);
#   3. qtoken status: the shared pipeline counters those runs left.
# Exit 0 when the self-test passed and ent's figures are sound, else 1 (3 if
# the entropy source is unhealthy).
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh || exit 1

build=${QTOKEN_DEMO_BUILD:-build-demo}
if [ ! -d "$build" ]; then
    meson setup "$build" >"$build.setup.log" 2>&1 || { cat "$build.setup.log"; exit 1; }
fi
ninja -C "$build" src/cli/qtoken src/drbg/qtoken.so >"$build.build.log" 2>&1 ||
    { tail -50 "$build.build.log"; exit 1; }
qtoken=$PWD/$build/src/cli/qtoken

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qtoken-demo.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
export QTOKEN_STORE=$tmp/store
unset QTOKEN_CONF
echo "== token store: $QTOKEN_STORE (temporary)"

echo "== qtoken device info"
"$qtoken" device info || exit $?

echo "== qtoken device selftest"
"$qtoken" device selftest
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "demo: the entropy device failed its self-test (exit $rc)"
    exit "$rc"
fi

echo "== qtoken random --bytes 1M | ent"
"$qtoken" random --bytes 1M --out "$tmp/random.bin"
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "demo: qtoken random failed (exit $rc)"
    exit "$rc"
fi
ent "$tmp/random.bin" | tee "$tmp/ent.txt"
# 1 MiB of good output: entropy ~7.9998 bits/byte, chi-square not extreme.
python3 - "$tmp/ent.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
h = float(re.search(r"Entropy = ([0-9.]+)", t).group(1))
m = re.search(r"would exceed this value (less than |more than )?([0-9.]+) percent", t)
chi_ok = not (m.group(1) or "").strip() and 0.01 <= float(m.group(2)) <= 99.99
ok = h >= 7.999 and chi_ok
print("demo: ent %s (entropy %.6f bits/byte >= 7.999, chi-square exceedance %s%%)"
      % ("PASSED" if ok else "FAILED", h, m.group(2)))
sys.exit(0 if ok else 1)
PY
rc=$?

echo "== qtoken status"
"$qtoken" status
exit "$rc"
