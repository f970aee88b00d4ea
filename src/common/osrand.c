/* SPDX-License-Identifier: Apache-2.0 */
/* The kernel's CSPRNG: see osrand.h. */
#include "osrand.h"

#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

qt_rc
qt_os_random(void *out, size_t n)
{
    uint8_t *p = out;
    size_t got = 0;

    if (p == NULL && n > 0) {
        return QT_E_ARG;
    }
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return QT_E_IO;
        }
        got += (size_t)r;
    }
    return QT_OK;
}
