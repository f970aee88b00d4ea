/* SPDX-License-Identifier: Apache-2.0 */
/* Whole-buffer reads and writes (io.h). */
#include "io.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

qt_rc
qt_read_exact(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
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

qt_rc
qt_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t done = 0;

    while (done < n) {
        ssize_t w = write(fd, b + done, n - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return QT_E_IO;
        }
        done += (size_t)w;
    }
    return QT_OK;
}
