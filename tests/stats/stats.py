#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Statistical batteries on `qtoken random` output (tests/stats).

  stats.py QTOKEN rngtest   BYTES [--full-entropy]
  stats.py QTOKEN ent       BYTES [--full-entropy]
  stats.py QTOKEN dieharder TESTS            (comma-separated -d numbers, or 'all')

Each run uses a private QTOKEN_STORE and the sim device, prints one line per
check and ends with 'N passed, N failed' (exit 1 if any check failed).

Judgement:
  rngtest   FIPS 140-2 tests on 20000-bit blocks; rngtest exits 1 on any failed
            block, so the counts decide: failures <= expected + 5 sd + 3 with
            the expected false-alarm rate 0.08% of blocks (about 0.8e-3).
  ent       entropy >= 7.9999 bits/byte when BYTES >= 8 MiB (>= 7.999 below),
            chi-square exceedance between 0.01% and 99.99%, |serial
            correlation| < 5/sqrt(n), mean within 5 sd of 127.5.
  dieharder no FAILED assessment (WEAK is expected now and then: p < 0.005).
"""
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

RNGTEST_FALSE_ALARM = 0.0008
BLOCK_BYTES = 2500  # 20000 bits

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print("ok   - " + what)
    else:
        failed += 1
        print("FAIL - " + what)


def qtoken_cmd(qtoken, nbytes, full):
    cmd = [qtoken, "random", "--bytes", str(nbytes)]
    if full:
        cmd.append("--full-entropy")
    return cmd


def generate(qtoken, nbytes, full, path):
    r = subprocess.run(qtoken_cmd(qtoken, nbytes, full) + ["--out", path],
                       stderr=subprocess.PIPE, text=True)
    check(r.returncode == 0, "qtoken random --bytes %d%s exits 0 %s" %
          (nbytes, " --full-entropy" if full else "", r.stderr.strip()))
    size = os.path.getsize(path) if os.path.exists(path) else -1
    check(size == nbytes, "output has %d bytes (got %d)" % (nbytes, size))
    return r.returncode == 0 and size == nbytes


def run_rngtest(qtoken, nbytes, full, tmp):
    path = os.path.join(tmp, "r.bin")
    if not generate(qtoken, nbytes, full, path):
        return
    with open(path, "rb") as f:
        r = subprocess.run(["rngtest"], stdin=f, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    out = r.stdout
    m_s = re.search(r"FIPS 140-2 successes: (\d+)", out)
    m_f = re.search(r"FIPS 140-2 failures: (\d+)", out)
    check(m_s is not None and m_f is not None, "rngtest reported its counts")
    if m_s is None or m_f is None:
        print(out)
        return
    succ, fail = int(m_s.group(1)), int(m_f.group(1))
    blocks = succ + fail
    # rngtest uses the first 32 bits to prime its continuous test.
    check(blocks == (nbytes - 4) // BLOCK_BYTES,
          "rngtest judged %d blocks (expected %d)" % (blocks, (nbytes - 4) // BLOCK_BYTES))
    expected = RNGTEST_FALSE_ALARM * blocks
    allowed = int(expected + 5 * math.sqrt(expected) + 3)
    print("# rngtest: %d blocks, %d failures (%.4f%%), expected %.1f, allowed <= %d" %
          (blocks, fail, 100.0 * fail / max(blocks, 1), expected, allowed))
    for line in out.splitlines():
        if re.search(r"(Monobit|Poker|Runs|Long run|Continuous run):", line):
            print("#   " + line.split("rngtest: ", 1)[-1])
    check(fail <= allowed, "rngtest failures %d <= %d" % (fail, allowed))


def run_ent(qtoken, nbytes, full, tmp):
    path = os.path.join(tmp, "e.bin")
    if not generate(qtoken, nbytes, full, path):
        return
    r = subprocess.run(["ent", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = r.stdout
    print("\n".join("# " + l for l in out.strip().splitlines() if l.strip()))
    m_h = re.search(r"Entropy = ([0-9.]+) bits per byte", out)
    m_chi = re.search(r"would exceed this value (less than |more than )?([0-9.]+) percent", out)
    m_mean = re.search(r"Arithmetic mean value of data bytes is ([0-9.]+)", out)
    m_ser = re.search(r"Serial correlation coefficient is (-?[0-9.]+)", out)
    check(all([m_h, m_chi, m_mean, m_ser]), "ent printed its figures")
    if not all([m_h, m_chi, m_mean, m_ser]):
        return
    h = float(m_h.group(1))
    floor = 7.9999 if nbytes >= 8 << 20 else 7.999
    check(h >= floor, "ent entropy %.6f >= %.4f bits/byte" % (h, floor))
    chi = float(m_chi.group(2))
    bound = (m_chi.group(1) or "").strip()
    check(bound == "" and 0.01 <= chi <= 99.99,
          "chi-square exceedance %s%.2f%% within [0.01%%, 99.99%%]" %
          (bound + " " if bound else "", chi))
    n = nbytes
    ser = float(m_ser.group(1))
    check(abs(ser) < 5 / math.sqrt(n),
          "|serial correlation| %.6f < %.6f" % (abs(ser), 5 / math.sqrt(n)))
    mean = float(m_mean.group(1))
    sd = math.sqrt((256 ** 2 - 1) / 12.0) / math.sqrt(n)
    check(abs(mean - 127.5) < 5 * sd, "mean %.4f within 127.5 +- %.4f" % (mean, 5 * sd))


def run_dieharder(qtoken, tests):
    args = [["-a"]] if tests == "all" else [["-d", t] for t in tests.split(",")]
    for a in args:
        # qtoken streams until dieharder has read enough and closes the pipe.
        gen = subprocess.Popen(qtoken_cmd(qtoken, 1 << 50, False), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        r = subprocess.run(["dieharder", "-g", "200"] + a, stdin=gen.stdout,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        gen.stdout.close()
        gen.kill()
        gen.wait()
        rows = [l for l in r.stdout.splitlines() if re.search(r"\|\s*(PASSED|WEAK|FAILED)\s*$", l)]
        for l in rows:
            print("# " + l)
        n_fail = sum(1 for l in rows if l.rstrip().endswith("FAILED"))
        n_weak = sum(1 for l in rows if l.rstrip().endswith("WEAK"))
        what = " ".join(a)
        check(r.returncode == 0 and rows, "dieharder %s ran (%d assessments, %d WEAK)" %
              (what, len(rows), n_weak))
        check(n_fail == 0, "dieharder %s: no FAILED (%d)" % (what, n_fail))


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        print("0 passed, 1 failed")
        return 1
    qtoken, mode, arg = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    full = "--full-entropy" in sys.argv[4:]
    tmp = tempfile.mkdtemp(prefix="qt-stats.")
    os.environ["QTOKEN_STORE"] = os.path.join(tmp, "store")
    os.environ["QTOKEN_DEVICE"] = "sim"
    os.environ.pop("QTOKEN_CONF", None)
    try:
        if mode == "rngtest":
            run_rngtest(qtoken, parse_size(arg), full, tmp)
        elif mode == "ent":
            run_ent(qtoken, parse_size(arg), full, tmp)
        elif mode == "dieharder":
            run_dieharder(qtoken, arg)
        else:
            check(False, "unknown mode " + mode)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def parse_size(s):
    units = {"K": 10, "M": 20, "G": 30}
    if s[-1] in units:
        return int(s[:-1]) << units[s[-1]]
    return int(s)


if __name__ == "__main__":
    sys.exit(main())
