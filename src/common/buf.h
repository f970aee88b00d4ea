/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded buffer/cursor (OpenSSH sshbuf, s2n stuffer).  All parsing and
 * serialisation goes through it: a pointer never travels without its length.
 *
 * A qt_buf either wraps caller memory (qt_buf_wrap: fixed capacity, never
 * reallocated, never freed) or owns a growable heap block (qt_buf_init:
 * released by qt_buf_clear, which wipes it first).  Writes append at `len`;
 * reads consume from `off`.  Every function returns QT_OK or an error and
 * leaves the buffer unchanged on error.
 */
#ifndef QT_COMMON_BUF_H
#define QT_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct qt_buf {
    uint8_t *p;
    size_t len;   /* bytes written */
    size_t cap;   /* bytes available */
    size_t off;   /* read cursor, <= len */
    int owned;    /* 1: heap, growable; 0: caller memory */
};

/* Empty growable buffer (no allocation until first write). */
void qt_buf_init(struct qt_buf *b);
/* Read/write view of caller memory holding `len` valid bytes out of `cap`. */
void qt_buf_wrap(struct qt_buf *b, void *p, size_t len, size_t cap);
/* Wipes and frees owned memory; resets to empty. NULL-safe. */
void qt_buf_clear(struct qt_buf *b);

size_t qt_buf_remaining(const struct qt_buf *b);

qt_rc qt_buf_put(struct qt_buf *b, const void *p, size_t n) QT_MUST_CHECK;
qt_rc qt_buf_put_u8(struct qt_buf *b, uint8_t v) QT_MUST_CHECK;
qt_rc qt_buf_put_u32(struct qt_buf *b, uint32_t v) QT_MUST_CHECK; /* big-endian */
qt_rc qt_buf_put_u64(struct qt_buf *b, uint64_t v) QT_MUST_CHECK; /* big-endian */
/* u32 length prefix then bytes. */
qt_rc qt_buf_put_lv(struct qt_buf *b, const void *p, size_t n) QT_MUST_CHECK;

qt_rc qt_buf_get(struct qt_buf *b, void *out, size_t n) QT_MUST_CHECK;
qt_rc qt_buf_get_u8(struct qt_buf *b, uint8_t *v) QT_MUST_CHECK;
qt_rc qt_buf_get_u32(struct qt_buf *b, uint32_t *v) QT_MUST_CHECK;
qt_rc qt_buf_get_u64(struct qt_buf *b, uint64_t *v) QT_MUST_CHECK;
/* Borrow n bytes at the cursor without copying; *p points into b. */
qt_rc qt_buf_get_ptr(struct qt_buf *b, const uint8_t **p, size_t n) QT_MUST_CHECK;
/* Read a u32 length prefix (<= max) and borrow that many bytes. */
qt_rc qt_buf_get_lv(struct qt_buf *b, const uint8_t **p, size_t *n, size_t max) QT_MUST_CHECK;

/* Lowercase hex of n bytes into out (2n+1 bytes incl. NUL). */
void qt_hex(char *out, const uint8_t *p, size_t n);

#endif
