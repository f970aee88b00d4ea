/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qt_rc: the one error type below the PKCS#11 layer.  0 is success, every
 * error is negative and has one string in err.c.  pkcs11/rv.c is the only
 * place that turns these into CK_RV.
 */
#ifndef QT_COMMON_ERR_H
#define QT_COMMON_ERR_H

#define QT_MUST_CHECK __attribute__((warn_unused_result))

typedef int qt_rc;

enum {
    QT_OK = 0,
    QT_E_ARG = -1,              /* bad argument from a caller */
    QT_E_NOMEM = -2,            /* allocation failed */
    QT_E_CRYPTO = -3,           /* OpenSSL said no */
    QT_E_IO = -4,               /* read/write/open failed */
    QT_E_TIMEOUT = -5,          /* a bounded wait ran out (device read) */
    QT_E_HEALTH = -6,           /* entropy source failed a health test: fail closed */
    QT_E_STATE = -7,            /* object in the wrong state for this call */
    QT_E_NOTFOUND = -8,         /* no such object/token/record */
    QT_E_EXISTS = -9,           /* already exists (label, token) */
    QT_E_PIN_INCORRECT = -10,
    QT_E_PIN_LOCKED = -11,
    QT_E_TAMPER = -12,          /* a seal or MAC failed: data was changed */
    QT_E_DB = -13,              /* SQLite error */
    QT_E_RANGE = -14,           /* value out of range */
    QT_E_UNSUPPORTED = -15,     /* not implemented / not allowed by policy */
    QT_E_CONFIG = -16,          /* configuration or spec string invalid */
    QT_E_BUFFER_TOO_SMALL = -17,
    QT_E_DEVICE = -18,          /* device unusable (dead, EIO) */
    QT_E_PIN_INVALID = -19,     /* PIN has bad length/characters */
    QT_E_NOT_LOGGED_IN = -20,
    QT_E_INTERNAL = -21,        /* a "cannot happen" check fired */
    QT_E_SIGNATURE = -22,       /* signature/tag did not verify */
    QT_E_FORMAT = -23,          /* malformed input (parser) */
    QT_E__LAST = -24
};

/* Returns a static, never-NULL English string for rc. */
const char *qt_rc_str(qt_rc rc);

#endif
