/* SPDX-License-Identifier: Apache-2.0 */
/* The string table for qt_rc (err.h). */
#include "err.h"

static const char *const rc_strings[] = {
    [0] = "success",
    [1] = "invalid argument",
    [2] = "out of memory",
    [3] = "cryptographic library error",
    [4] = "I/O error",
    [5] = "timed out",
    [6] = "entropy source failed a health test",
    [7] = "invalid state",
    [8] = "not found",
    [9] = "already exists",
    [10] = "incorrect PIN",
    [11] = "PIN locked",
    [12] = "integrity check failed (tampered data)",
    [13] = "database error",
    [14] = "value out of range",
    [15] = "not supported",
    [16] = "configuration error",
    [17] = "buffer too small",
    [18] = "device error",
    [19] = "invalid PIN format",
    [20] = "not logged in",
    [21] = "internal error",
    [22] = "signature verification failed",
    [23] = "malformed data",
};

const char *
qt_rc_str(qt_rc rc)
{
    if (rc > 0 || rc <= QT_E__LAST) {
        return "unknown error";
    }
    return rc_strings[-rc];
}
