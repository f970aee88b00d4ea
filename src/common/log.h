/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr or syslog-free file descriptor, filtered by level.
 * Never log PINs, key bytes, seeds or random output: log handles, lengths
 * and error names.  The level comes from QTOKEN_LOG (error|warn|info|debug|trace)
 * or qt_log_set_level(); default is warn.  Thread-safe.
 */
#ifndef QT_COMMON_LOG_H
#define QT_COMMON_LOG_H

enum qt_log_level {
    QT_LOG_ERROR = 0,
    QT_LOG_WARN = 1,
    QT_LOG_INFO = 2,
    QT_LOG_DEBUG = 3,
    QT_LOG_TRACE = 4,
};

void qt_log_set_level(enum qt_log_level level);
int qt_log_enabled(enum qt_log_level level);
void qt_log(enum qt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define qt_trace(...)                                                                              \
    do {                                                                                           \
        if (qt_log_enabled(QT_LOG_TRACE)) {                                                        \
            qt_log(QT_LOG_TRACE, __VA_ARGS__);                                                     \
        }                                                                                          \
    } while (0)

#endif
