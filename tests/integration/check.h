/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The checks of the C integration programs: each check() counts a pass or
 * a failure (reported on stderr); main ends by printing
 * "N passed, N failed", the line scripts/summarize.py sums.
 */
#ifndef QT_TESTS_INTEGRATION_CHECK_H
#define QT_TESTS_INTEGRATION_CHECK_H
#include <stdarg.h>
#include <stdio.h>

static unsigned passed, failed;

static void
check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
check(int ok, const char *fmt, ...)
{
    va_list ap;

    if (ok) {
        passed++;
        return;
    }
    failed++;
    va_start(ap, fmt);
    (void)fprintf(stderr, "FAIL: ");
    (void)vfprintf(stderr, fmt, ap);
    (void)fprintf(stderr, "\n");
    va_end(ap);
}

#endif
