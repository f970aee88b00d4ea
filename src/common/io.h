/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whole-buffer reads and writes on a file descriptor: a short transfer or
 * EINTR is retried until all n bytes moved.
 */
#ifndef QT_COMMON_IO_H
#define QT_COMMON_IO_H
#include <stddef.h>

#include "err.h"

/* Reads exactly n bytes.  QT_E_IO on an error or end of file before n (p
 * may then hold a partial read). */
qt_rc qt_read_exact(int fd, void *p, size_t n) QT_MUST_CHECK;

/* Writes all n bytes.  QT_E_IO on an error (part may have been written). */
qt_rc qt_write_all(int fd, const void *p, size_t n) QT_MUST_CHECK;

#endif
