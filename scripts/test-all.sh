#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds with
# -Werror, runs every suite but stats-full, then the unit, PKCS#11 API,
# threads ('mt') and fuzz-replay suites again under AddressSanitizer +
# UndefinedBehaviorSanitizer, and the threads suite under ThreadSanitizer, and
# ends with one line 'N passed, N failed' summing every test that ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc)
logs=()
status=0

build() { # dir, extra meson args...  (TARGETS: ninja targets, default all)
  local dir=$1; shift
  if [ ! -d "$dir" ]; then
    meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  fi
  # shellcheck disable=SC2086
  ninja -C "$dir" -j "$jobs" ${TARGETS:-} >"$dir.build.log" 2>&1 || { tail -50 "$dir.build.log"; return 1; }
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
    meson test -C build-asan --no-rebuild --num-processes "$jobs" --suite unit --suite pkcs11 --suite mt \
    --suite fuzz --print-errorlogs || status=1
  logs+=(build-asan/meson-logs/testlog.json)
else
  echo "asan build failed"; status=1
fi

# ThreadSanitizer: the module and the threads program only (Criterion cannot
# run under TSan); a race report fails the run (summarize.py).
if TARGETS="pkcs11/libqtoken-pkcs11.so tests/pkcs11/mt_stress" \
   build build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debugoptimized; then
  TSAN_OPTIONS=halt_on_error=0:report_signal_unsafe=0 \
    meson test -C build-tsan --no-rebuild --suite mt --print-errorlogs || status=1
  logs+=(build-tsan/meson-logs/testlog.json)
else
  echo "tsan build failed"; status=1
fi

python3 scripts/summarize.py "${logs[@]}" || status=1
exit $status
