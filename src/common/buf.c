/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded buffer/cursor: the only place that moves bytes by pointer+length. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mem.h"

#define BUF_MAX ((size_t)1 << 30)

void
qt_buf_init(struct qt_buf *b)
{
    memset(b, 0, sizeof(*b));
    b->owned = 1;
}

void
qt_buf_wrap(struct qt_buf *b, void *p, size_t len, size_t cap)
{
    b->p = p;
    b->len = len <= cap ? len : cap;
    b->cap = cap;
    b->off = 0;
    b->owned = 0;
}

void
qt_buf_clear(struct qt_buf *b)
{
    if (b == NULL) {
        return;
    }
    if (b->owned && b->p != NULL) {
        qt_wipe(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof(*b));
    b->owned = 1;
}

size_t
qt_buf_remaining(const struct qt_buf *b)
{
    return b->len - b->off;
}

static qt_rc
reserve(struct qt_buf *b, size_t n)
{
    size_t need, cap;
    uint8_t *np;

    QT_ENSURE(n <= BUF_MAX && b->len <= BUF_MAX - n, QT_E_RANGE);
    need = b->len + n;
    if (need <= b->cap) {
        return QT_OK;
    }
    QT_ENSURE(b->owned, QT_E_BUFFER_TOO_SMALL);
    cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need) {
        cap *= 2;
    }
    /* Grow by copy so the old block can be wiped: it may hold secrets. */
    np = malloc(cap);
    QT_ENSURE(np != NULL, QT_E_NOMEM);
    if (b->p != NULL) {
        memcpy(np, b->p, b->len);
        qt_wipe(b->p, b->cap);
        free(b->p);
    }
    b->p = np;
    b->cap = cap;
    return QT_OK;
}

qt_rc
qt_buf_put(struct qt_buf *b, const void *p, size_t n)
{
    QT_ENSURE_REF(b);
    QT_ENSURE(p != NULL || n == 0, QT_E_ARG);
    QT_TRY(reserve(b, n));
    if (n > 0) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
    return QT_OK;
}

qt_rc
qt_buf_put_u8(struct qt_buf *b, uint8_t v)
{
    return qt_buf_put(b, &v, 1);
}

qt_rc
qt_buf_put_u32(struct qt_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return qt_buf_put(b, x, sizeof(x));
}

qt_rc
qt_buf_put_u64(struct qt_buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++) {
        x[i] = (uint8_t)(v >> (56 - 8 * i));
    }
    return qt_buf_put(b, x, sizeof(x));
}

qt_rc
qt_buf_put_lv(struct qt_buf *b, const void *p, size_t n)
{
    QT_ENSURE(n <= UINT32_MAX, QT_E_RANGE);
    QT_TRY(reserve(b, 4 + n));
    QT_TRY(qt_buf_put_u32(b, (uint32_t)n));
    return qt_buf_put(b, p, n);
}

qt_rc
qt_buf_get_ptr(struct qt_buf *b, const uint8_t **p, size_t n)
{
    QT_ENSURE(b != NULL && p != NULL, QT_E_ARG);
    QT_ENSURE(n <= qt_buf_remaining(b), QT_E_FORMAT);
    *p = b->p + b->off;
    b->off += n;
    return QT_OK;
}

qt_rc
qt_buf_get(struct qt_buf *b, void *out, size_t n)
{
    const uint8_t *p;
    QT_ENSURE(out != NULL || n == 0, QT_E_ARG);
    QT_TRY(qt_buf_get_ptr(b, &p, n));
    if (n > 0) {
        memcpy(out, p, n);
    }
    return QT_OK;
}

qt_rc
qt_buf_get_u8(struct qt_buf *b, uint8_t *v)
{
    return qt_buf_get(b, v, 1);
}

qt_rc
qt_buf_get_u32(struct qt_buf *b, uint32_t *v)
{
    const uint8_t *p;
    QT_ENSURE_REF(v);
    QT_TRY(qt_buf_get_ptr(b, &p, 4));
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return QT_OK;
}

qt_rc
qt_buf_get_u64(struct qt_buf *b, uint64_t *v)
{
    const uint8_t *p;
    uint64_t x = 0;
    QT_ENSURE_REF(v);
    QT_TRY(qt_buf_get_ptr(b, &p, 8));
    for (int i = 0; i < 8; i++) {
        x = x << 8 | p[i];
    }
    *v = x;
    return QT_OK;
}

qt_rc
qt_buf_get_lv(struct qt_buf *b, const uint8_t **p, size_t *n, size_t max)
{
    uint32_t len;
    size_t save;

    QT_ENSURE(b != NULL && p != NULL && n != NULL, QT_E_ARG);
    save = b->off;
    QT_TRY(qt_buf_get_u32(b, &len));
    if (len > max || len > qt_buf_remaining(b)) {
        b->off = save;
        return QT_E_FORMAT;
    }
    *n = len;
    return qt_buf_get_ptr(b, p, len);
}

void
qt_hex(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}
