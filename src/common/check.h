/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guard macros, one family (s2n safety macros).  They may return, so use them
 * only before the first acquisition (lock, allocation, secret, fd, stmt).
 * After that: if ((rc = f()) != QT_OK) goto out;
 */
#ifndef QT_COMMON_CHECK_H
#define QT_COMMON_CHECK_H

#include <assert.h>
#include "err.h"

#define QT_ENSURE(cond, err)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            return (err);                                                                          \
        }                                                                                          \
    } while (0)

#define QT_ENSURE_REF(p) QT_ENSURE((p) != NULL, QT_E_ARG)

#define QT_TRY(expr)                                                                               \
    do {                                                                                           \
        qt_rc qt_try_rc_ = (expr);                                                                 \
        if (qt_try_rc_ != QT_OK) {                                                                 \
            return qt_try_rc_;                                                                     \
        }                                                                                          \
    } while (0)

/* OpenSSL 1/0 (or pointer) to qt_rc, as an expression. */
#define qt_ossl(ret, err) ((ret) > 0 ? QT_OK : (err))

/* "Cannot happen": asserts in debug builds, evaluates to the condition in release
 * so the caller can still handle it (SQLite's ALWAYS/NEVER). */
#ifdef NDEBUG
#define QT_ALWAYS(x) (x)
#define QT_NEVER(x) (x)
#else
#define QT_ALWAYS(x) ((x) ? 1 : (assert(0 && #x), 0))
#define QT_NEVER(x) ((x) ? (assert(0 && #x), 1) : 0)
#endif

#define QT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
