/* SPDX-License-Identifier: Apache-2.0 */
/* Leveled logging to stderr, configured once from QTOKEN_LOG. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int level_cur = -1;

static int
level_from_env(void)
{
    static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
    const char *v = getenv("QTOKEN_LOG");

    if (v != NULL) {
        for (int i = 0; i < 5; i++) {
            if (strcmp(v, names[i]) == 0) {
                return i;
            }
        }
    }
    return QT_LOG_WARN;
}

void
qt_log_set_level(enum qt_log_level level)
{
    atomic_store(&level_cur, (int)level);
}

int
qt_log_enabled(enum qt_log_level level)
{
    int cur = atomic_load(&level_cur);
    if (cur < 0) {
        cur = level_from_env();
        atomic_store(&level_cur, cur);
    }
    return (int)level <= cur;
}

void
qt_log(enum qt_log_level level, const char *fmt, ...)
{
    static const char *const tags[] = {"error", "warn", "info", "debug", "trace"};
    char line[1024];
    va_list ap;

    if (!qt_log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* Caller-supplied text (token labels, device specs, paths) cannot
     * forge or split log lines: control characters become '?'. */
    for (char *c = line; *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = '?';
        }
    }
    /* One fprintf per line so concurrent writers do not interleave mid-line. */
    (void)fprintf(stderr, "qtoken[%s]: %s\n", tags[level], line);
}
