#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The main job (README): installs what is missing, builds qtoken, then runs
# the demo root-key ceremony on the simulated QRNG (scripts/demo-run.sh):
# device self-test, a token made through the PKCS#11 module with pkcs11-tool,
# `qtoken ceremony root-ca`, and the offline verification of the bundle.
# The bundle and the demo's token store are left in ./demo-out for a look.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh || exit 1

build=${QTOKEN_DEMO_BUILD:-build-demo}
if [ ! -d "$build" ]; then
    meson setup "$build" >"$build.setup.log" 2>&1 || { cat "$build.setup.log"; exit 1; }
fi
ninja -C "$build" >"$build.build.log" 2>&1 || { tail -50 "$build.build.log"; exit 1; }

exec bash scripts/demo-run.sh "$PWD/$build" "${QTOKEN_DEMO_OUT:-$PWD/demo-out}"
