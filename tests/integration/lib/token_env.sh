# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Shared setup for the shell integration tests (sourced, not run).
#
# A test calls te_setup MODULE: it makes a private temp directory, points
# every token implementation the tests know at a store inside it (qtoken:
# QTOKEN_STORE, QTOKEN_CONF with cheap Argon2 parameters, QTOKEN_DEVICE=sim;
# SoftHSM2: SOFTHSM2_CONF with its own tokendir), so the same script runs
# unchanged against libqtoken-pkcs11.so or SoftHSM2's module, and removes
# the directory on exit.  te_init_token creates and PIN-initialises a token
# with pkcs11-tool.  te_check / te_ok / te_fail count checks; te_finish prints
# the final 'N passed, N failed' line and sets the exit status.

TE_PASS=0
TE_FAIL=0
TE_SO_PIN=${TE_SO_PIN:-87654321}
TE_PIN=${TE_PIN:-12345678}

TE_CLEANUP_FILES=()

te_cleanup() {
    local f
    for f in "${TE_CLEANUP_FILES[@]}"; do
        rm -f -- "$f"
    done
    if [ -n "${TE_DIR:-}" ] && [ -d "$TE_DIR" ] && [ -z "${TE_KEEP:-}" ]; then
        rm -rf -- "$TE_DIR"
    fi
}

# te_setup MODULE: exports TE_MODULE, TE_DIR and the store environment.
te_setup() {
    if [ -z "${1:-}" ]; then
        echo "usage: $0 /path/to/pkcs11-module.so" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
    TE_MODULE=$(readlink -f -- "$1")
    if [ ! -r "$TE_MODULE" ]; then
        echo "module not found: $1" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
    TE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/qt-integ.XXXXXX")
    trap te_cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    mkdir -p "$TE_DIR/store" "$TE_DIR/softhsm" "$TE_DIR/work"
    cat >"$TE_DIR/qtoken.conf" <<EOF
[store]
path = $TE_DIR/store
[device]
spec = sim
[token]
argon2_memory_kib = 64
argon2_passes = 1
EOF
    cat >"$TE_DIR/softhsm2.conf" <<EOF
directories.tokendir = $TE_DIR/softhsm
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
    export TE_MODULE TE_DIR
    export QTOKEN_STORE="$TE_DIR/store" QTOKEN_CONF="$TE_DIR/qtoken.conf" QTOKEN_DEVICE=sim
    export SOFTHSM2_CONF="$TE_DIR/softhsm2.conf"
    export TE_WORK="$TE_DIR/work"
}

te_ok() {
    TE_PASS=$((TE_PASS + 1))
    echo "ok   - $*"
}

te_fail() {
    TE_FAIL=$((TE_FAIL + 1))
    echo "FAIL - $*"
}

# te_check DESCRIPTION COMMAND...: runs the command, output to a log that is
# shown only on failure.
te_check() {
    local desc=$1 log
    shift
    log="$TE_DIR/last.log"
    if "$@" </dev/null >"$log" 2>&1; then
        te_ok "$desc"
    else
        te_fail "$desc (exit $?): $*"
        sed 's/^/    | /' "$log" | tail -20
    fi
}

# te_check_fails DESCRIPTION COMMAND...: the command must exit non-zero.
te_check_fails() {
    local desc=$1 log
    shift
    log="$TE_DIR/last.log"
    if "$@" </dev/null >"$log" 2>&1; then
        te_fail "$desc (expected failure, got success): $*"
        sed 's/^/    | /' "$log" | tail -20
    else
        te_ok "$desc"
    fi
}

# te_p11 ARGS...: pkcs11-tool on the module under test.
te_p11() {
    pkcs11-tool --module "$TE_MODULE" "$@"
}

# te_init_token LABEL: a fresh token with SO PIN TE_SO_PIN and user PIN TE_PIN.
te_init_token() {
    te_check "init token '$1'" \
        te_p11 --init-token --label "$1" --so-pin "$TE_SO_PIN"
    te_check "init user PIN on '$1'" \
        te_p11 --token-label "$1" --login --login-type so --so-pin "$TE_SO_PIN" \
        --init-pin --pin "$TE_PIN"
}

te_finish() {
    echo "$TE_PASS passed, $TE_FAIL failed"
    [ "$TE_FAIL" -eq 0 ]
    exit $?
}
