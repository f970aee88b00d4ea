#!/usr/bin/env python3
"""Sums every test a meson run executed into one line 'N passed, N failed[, N skipped]'.

A test whose output holds a sanitizer report counts one failure more, even
when its exit status hid it.

A Criterion executable counts its own tests (its 'Synthesis' line); a script
test that prints a plain 'N passed, N failed' line counts those; any other
test counts as one, by its meson result.
"""
import json
import re
import sys

SYNTH = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
PLAIN = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$", re.M)

# A sanitizer report inside a Criterion worker or a child process does not
# always change an exit status: any test whose output carries one fails.
SANITIZER = re.compile(r"ERROR: (?:AddressSanitizer|LeakSanitizer)|runtime error: |"
                       r"WARNING: ThreadSanitizer")

passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            t = json.loads(line)
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            result = t.get("result", "")
            if SANITIZER.search(out):
                print(f"summarize: sanitizer report in {t.get('name')}", file=sys.stderr)
                failed += 1
            m = SYNTH.findall(out)
            p = PLAIN.findall(out)
            if result == "SKIP":
                skipped += 1
            elif m:
                tested, ok, fail, crash = map(int, m[-1])
                passed += ok
                failed += fail + crash + (tested - ok - fail - crash)
                if result not in ("OK", "EXPECTEDFAIL") and fail + crash == 0:
                    failed += 1  # the executable failed outside any test
            elif p:
                a, b, c = p[-1]
                passed += int(a)
                failed += int(b)
                skipped += int(c or 0)
                if result not in ("OK", "EXPECTEDFAIL") and int(b) == 0:
                    failed += 1
            elif result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            else:
                failed += 1
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
