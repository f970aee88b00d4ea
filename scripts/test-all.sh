#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds with
# -Werror, runs every suite but stats-full, then the unit, PKCS#11 API and fuzz-replay
# suites again under AddressSanitizer + UndefinedBehaviorSanitizer, and ends
# with one line 'N passed, N failed' summing every test that ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc)
logs=()
status=0

build() { # dir, extra meson args...
  local dir=$1; shift
  if [ ! -d "$dir" ]; then
    meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  fi
  ninja -C "$dir" -j "$jobs" >"$dir.build.log" 2>&1 || { tail -50 "$dir.build.log"; return 1; }
}

if build build-test; then
  meson test -C build-test --no-rebuild --num-processes "$jobs" --no-suite stats-full \
    --no-suite bench --print-errorlogs || status=1
  logs+=(build-test/meson-logs/testlog.json)
else
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

if build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C build-asan --no-rebuild --num-processes "$jobs" --suite unit --suite pkcs11 --suite fuzz \
    --print-errorlogs || status=1
  logs+=(build-asan/meson-logs/testlog.json)
else
  echo "asan build failed"; status=1
fi

python3 scripts/summarize.py "${logs[@]}" || status=1
exit $status
