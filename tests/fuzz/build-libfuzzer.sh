#!/usr/bin/env bash
# Builds the fuzz targets with clang's libFuzzer, ASan and UBSan (not part of
# the meson build or of the test command; see README.md):
#   tests/fuzz/build-libfuzzer.sh [BUILD_DIR]      (default build-libfuzzer)
# The rooms' static libraries are built by meson with coverage
# instrumentation (-fsanitize=fuzzer-no-link), then each target is linked
# with -fsanitize=fuzzer.  The PKCS#11 target links the module's static
# library and calls C_GetFunctionList directly (QT_P11_STATIC): the shared
# module is linked with --no-undefined, which the sanitizer runtimes living
# in the executable do not satisfy.  Binaries: BUILD_DIR/fuzz/<target>_fuzz.
set -euo pipefail
cd "$(dirname "$0")/../.."
b=${1:-build-libfuzzer}
san='-fsanitize=address,undefined -fno-sanitize-recover=undefined'
if [ ! -d "$b" ]; then
  CC=clang meson setup "$b" -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized \
    -Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined' \
    -Dc_link_args='-fsanitize=fuzzer-no-link'
fi
libs=(src/common/libqt-common.a device/libqt-device.a src/entropy/libqt-entropy.a
      src/drbg/libqt-drbg.a src/crypto/libqt-crypto.a keystore/libqt-keystore.a
      attest/libqt-attest.a pkcs11/libqt-pkcs11.a)
ninja -C "$b" -j2 "${libs[@]}"
mkdir -p "$b/fuzz"
cflags=(-g -O1 -D_GNU_SOURCE $san -fsanitize=fuzzer -I/usr/include/p11-kit-1
        $(pkg-config --cflags json-c))
ext=$(pkg-config --libs libcrypto json-c sqlite3 libargon2 inih) 
link() { # target, libs...
  local t=$1; shift
  clang "${cflags[@]}" "${extra[@]}" -o "$b/fuzz/${t}_fuzz" "tests/fuzz/${t}_fuzz.c" \
    -Wl,--start-group "$@" -Wl,--end-group $ext -lm -ldl -pthread
  echo "$b/fuzz/${t}_fuzz"
}
extra=()
link config "$b/src/common/libqt-common.a"
link device "$b/device/libqt-device.a" "$b/src/common/libqt-common.a"
link attest "$b/attest/libqt-attest.a" "$b/src/common/libqt-common.a"
link ks_row "$b/keystore/libqt-keystore.a" "$b/src/common/libqt-common.a"
link crypto "$b/src/crypto/libqt-crypto.a" "$b/src/common/libqt-common.a"
extra=(-DQT_P11_STATIC)
link p11_template "${libs[@]/#/$b/}"
