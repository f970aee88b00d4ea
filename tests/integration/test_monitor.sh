#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# qtoken monitor, the Prometheus endpoint (loopback only):
#   test_monitor.sh QTOKEN
# On a temp store: before any pipeline use /metrics says qtoken_stats_present
# 0; after `qtoken random --bytes 64K` the metric families are there with
# HELP/TYPE lines, raw samples > 0, served bits >= 64 KiB * 8, device up;
# other paths are 404, POST is 405; it listens on 127.0.0.1 only (127.0.0.2
# is refused); --once exits 0 after one scrape; SIGTERM stops it with exit
# 0; a bad --listen is exit 2; --help.  Ends with 'N passed, N failed'.
set -u
QTOKEN=$(readlink -f -- "${1:?usage: test_monitor.sh QTOKEN}")
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

W=$(mktemp -d /tmp/qt-monitor-XXXXXX)
MON_PID=
cleanup() {
    if [ -n "$MON_PID" ]; then
        kill "$MON_PID" 2>/dev/null
        wait "$MON_PID" 2>/dev/null
    fi
    rm -rf "$W"
}
trap cleanup EXIT
printf '[token]\nargon2_memory_kib = 64\nargon2_passes = 1\nargon2_lanes = 1\n' >"$W/qtoken.conf"
export QTOKEN_CONF=$W/qtoken.conf QTOKEN_STORE=$W/store QTOKEN_DEVICE=sim:seed=11

# fetch URL [curl options]: the body on stdout, "HTTP <code>" on fd 3
fetch() {
    local url=$1
    shift
    curl -s --max-time 10 -o "$W/body" -w '%{http_code}' "$@" "$url" 2>/dev/null
}

# start: runs the monitor on 127.0.0.1 port 0 (a free port), sets URL
start() {
    : >"$W/out"
    "$QTOKEN" monitor --listen 127.0.0.1:0 "$@" >"$W/out" 2>"$W/err" &
    MON_PID=$!
    URL=
    for _ in $(seq 1 100); do
        URL=$(sed -n 's/^listening on //p' "$W/out")
        [ -n "$URL" ] && break
        sleep 0.05
    done
}

stop() {
    kill -TERM "$MON_PID" 2>/dev/null
    wait "$MON_PID"
    STOP_RC=$?
    MON_PID=
}

# ---- before any use of the pipeline: no stats file yet
start
check "monitor prints its bound address" '[[ "$URL" =~ ^http://127\.0\.0\.1:[0-9]+/metrics$ ]]'
code=$(fetch "$URL")
check "GET /metrics is 200 without a stats file" '[ "$code" = 200 ]'
check "qtoken_stats_present 0 without a stats file" 'grep -qx "qtoken_stats_present 0" "$W/body"'
check "qtoken_device_up 0 without a stats file" 'grep -qx "qtoken_device_up 0" "$W/body"'
stop
check "SIGTERM stops it with exit 0" '[ "$STOP_RC" = 0 ]'

# ---- after qtoken random populated the stats
"$QTOKEN" random --bytes 64K >"$W/rand"
check "qtoken random --bytes 64K" '[ "$(stat -c %s "$W/rand")" = 65536 ]'
start
code=$(fetch "$URL")
check "GET /metrics is 200" '[ "$code" = 200 ]'
for m in qtoken_stats_present qtoken_device_up qtoken_entropy_declared_bits_per_sample \
    qtoken_entropy_estimated_bits_per_sample qtoken_raw_samples_total \
    qtoken_extracted_bits_total qtoken_served_bits_total qtoken_health_failures_total \
    qtoken_health_startup_runs_total qtoken_drbg_reseeds_total qtoken_scrape_duration_seconds; do
    check "$m has HELP, TYPE and a sample" \
        'grep -q "^# HELP $m " "$W/body" && grep -q "^# TYPE $m \(counter\|gauge\)$" "$W/body" &&
         grep -Eq "^$m(\{[^}]*\})? [0-9]" "$W/body"'
done
check "every counter family ends in _total" \
    '! grep "^# TYPE .* counter$" "$W/body" | grep -vq "_total counter$"'
check "every sample line is 'name{labels} value'" \
    '! grep -v "^#" "$W/body" | grep -Evq "^qtoken_[a-z_]+(\{[a-z_]+=\"[a-z_]+\"\})? [0-9.e+-]+$"'
raw=$(sed -n 's/^qtoken_raw_samples_total //p' "$W/body")
served=$(sed -n 's/^qtoken_served_bits_total //p' "$W/body")
check "raw samples > 0 (got ${raw:-none})" '[ "${raw:-0}" -gt 0 ]'
check "served bits >= 64 KiB * 8 (got ${served:-none})" '[ "${served:-0}" -ge 524288 ]'
check "device up after healthy use" 'grep -qx "qtoken_device_up 1" "$W/body"'
check "stats present" 'grep -qx "qtoken_stats_present 1" "$W/body"'
check "six health tests labelled" '[ "$(grep -c "^qtoken_health_failures_total{test=" "$W/body")" = 6 ]'
check "no health failures on a healthy sim" \
    '! grep "^qtoken_health_failures_total{" "$W/body" | grep -vq " 0$"'
# the figures are the ones qtoken status prints
st_raw=$("$QTOKEN" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["raw_samples"])')
check "raw samples equal qtoken status ($st_raw)" '[ "$raw" = "$st_raw" ]'
ctype=$(curl -s --max-time 10 -o /dev/null -w '%{content_type}' "$URL")
check "content type is the 0.0.4 text format" '[[ "$ctype" == "text/plain; version=0.0.4"* ]]'
code=$(fetch "${URL%/metrics}/")
check "GET / is 404" '[ "$code" = 404 ]'
code=$(fetch "${URL%/metrics}/metrics/x")
check "GET /metrics/x is 404" '[ "$code" = 404 ]'
code=$(fetch "$URL" -X POST -d x=1)
check "POST /metrics is 405" '[ "$code" = 405 ]'
code=$(fetch "$URL" -I)
check "HEAD /metrics is 200" '[ "$code" = 200 ]'
port=${URL#http://127.0.0.1:}
port=${port%/metrics}
code=$(fetch "http://127.0.0.2:$port/metrics")
check "not listening on 127.0.0.2 (bound to 127.0.0.1 only)" '[ "$code" = 000 ]'
# a second scrape sees the counters of a later run
"$QTOKEN" random --bytes 4K >/dev/null
fetch "$URL" >/dev/null
raw2=$(sed -n 's/^qtoken_raw_samples_total //p' "$W/body")
check "a later scrape reads the file afresh ($raw -> ${raw2:-none})" '[ "${raw2:-0}" -gt "$raw" ]'
stop
check "SIGTERM stops it with exit 0 after scrapes" '[ "$STOP_RC" = 0 ]'

# ---- --once: a 404 does not end it, the first /metrics answer does
start --once
fetch "${URL%/metrics}/nope" >/dev/null
sleep 0.2
check "--once keeps running after a 404" 'kill -0 "$MON_PID" 2>/dev/null'
code=$(fetch "$URL")
check "--once answers /metrics" '[ "$code" = 200 ] && grep -q "^qtoken_raw_samples_total " "$W/body"'
for _ in $(seq 1 100); do
    kill -0 "$MON_PID" 2>/dev/null || break
    sleep 0.05
done
if kill -0 "$MON_PID" 2>/dev/null; then
    bad "--once exits after the answer"
    stop
else
    wait "$MON_PID"
    rc=$?
    MON_PID=
    check "--once exits 0 after the answer (exit $rc)" '[ "$rc" = 0 ]'
fi

# ---- usage
"$QTOKEN" monitor --listen nonsense >/dev/null 2>&1
check "--listen without a port is exit 2" '[ $? = 2 ]'
"$QTOKEN" monitor --listen 127.0.0.1:70000 >/dev/null 2>&1
check "--listen with port 70000 is exit 2" '[ $? = 2 ]'
"$QTOKEN" monitor --listen localhost:9877 >/dev/null 2>&1
check "--listen with a host name is exit 2 (numeric only)" '[ $? = 2 ]'
"$QTOKEN" monitor extra >/dev/null 2>&1
check "a stray argument is exit 2" '[ $? = 2 ]'
"$QTOKEN" monitor --help >"$W/help" 2>&1
check "--help exits 0 and names --listen" '[ $? = 0 ] && grep -q -- "--listen" "$W/help"'
# the same port twice: the second cannot bind
start
"$QTOKEN" monitor --listen "127.0.0.1:$(echo "$URL" | sed 's/.*:\([0-9]*\)\/metrics/\1/')" \
    >/dev/null 2>&1
check "a port in use is exit 2" '[ $? = 2 ]'
stop

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
