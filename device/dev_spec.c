/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device spec argument parsing shared by the back-ends: the "k=v,k=v" cursor,
 * strict number parsers, the "PATH,bits=B,h=H" form of chardev/file, and the
 * FNV-1a hash used to derive serial numbers.  Every malformed input is
 * QT_E_CONFIG; nothing here allocates.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/check.h"
#include "dev_priv.h"

qt_rc
qt_dev_spec_next(struct qt_dev_spec_cur *cur, char *key, const char **val, size_t *val_len,
                 int *done)
{
    const char *item;
    const char *end;
    const char *eq;
    size_t klen;

    QT_ENSURE_REF(cur);
    QT_ENSURE_REF(cur->p);
    if (*cur->p == '\0') {
        *done = 1;
        return QT_OK;
    }
    *done = 0;
    item = cur->p;
    end = strchr(item, ',');
    if (end == NULL) {
        end = item + strlen(item);
        cur->p = end;
    } else {
        /* A trailing comma leaves an empty item: reject it below next call. */
        cur->p = end + 1;
        QT_ENSURE(*cur->p != '\0', QT_E_CONFIG);
    }
    eq = memchr(item, '=', (size_t)(end - item));
    QT_ENSURE(eq != NULL, QT_E_CONFIG);
    klen = (size_t)(eq - item);
    QT_ENSURE(klen > 0 && klen < QT_DEV_KEY_MAX, QT_E_CONFIG);
    QT_ENSURE(eq + 1 < end, QT_E_CONFIG);
    memcpy(key, item, klen);
    key[klen] = '\0';
    *val = eq + 1;
    *val_len = (size_t)(end - eq - 1);
    return QT_OK;
}

/* Copies a value into a NUL-terminated scratch buffer; QT_E_CONFIG if long. */
static qt_rc
copy_val(const char *val, size_t len, char *tmp, size_t tmp_size)
{
    QT_ENSURE(len > 0 && len < tmp_size, QT_E_CONFIG);
    memcpy(tmp, val, len);
    tmp[len] = '\0';
    /* An embedded NUL cannot come from a C string, but be exact anyway. */
    QT_ENSURE(strlen(tmp) == len, QT_E_CONFIG);
    return QT_OK;
}

qt_rc
qt_dev_spec_u64(const char *val, size_t len, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char tmp[32];
    const char *digits = tmp;
    char *end = NULL;
    unsigned long long v;
    int base = 10;

    QT_ENSURE_REF(val);
    QT_ENSURE_REF(out);
    QT_TRY(copy_val(val, len, tmp, sizeof(tmp)));
    if (len > 2 && tmp[0] == '0' && (tmp[1] == 'x' || tmp[1] == 'X')) {
        base = 16;
        digits = tmp + 2;
    }
    for (const char *c = digits; *c != '\0'; c++) {
        QT_ENSURE(base == 16 ? isxdigit((unsigned char)*c) : isdigit((unsigned char)*c),
                  QT_E_CONFIG);
    }
    QT_ENSURE(*digits != '\0', QT_E_CONFIG);
    errno = 0;
    v = strtoull(digits, &end, base);
    QT_ENSURE(errno == 0 && end != NULL && *end == '\0', QT_E_CONFIG);
    QT_ENSURE((uint64_t)v >= lo && (uint64_t)v <= hi, QT_E_CONFIG);
    *out = (uint64_t)v;
    return QT_OK;
}

qt_rc
qt_dev_spec_double(const char *val, size_t len, double lo, double hi, double *out)
{
    char tmp[64];
    char *end = NULL;
    double v;

    QT_ENSURE_REF(val);
    QT_ENSURE_REF(out);
    QT_TRY(copy_val(val, len, tmp, sizeof(tmp)));
    /* Plain decimal only: digits, one '.', an optional exponent, a leading
     * sign.  This rules out strtod's whitespace, hex floats, inf and nan. */
    for (const char *c = tmp; *c != '\0'; c++) {
        QT_ENSURE(isdigit((unsigned char)*c) || *c == '.' || *c == 'e' || *c == 'E' ||
                      *c == '+' || *c == '-',
                  QT_E_CONFIG);
    }
    errno = 0;
    v = strtod(tmp, &end);
    QT_ENSURE(errno == 0 && end != tmp && *end == '\0', QT_E_CONFIG);
    QT_ENSURE(isfinite(v) && v >= lo && v <= hi, QT_E_CONFIG);
    *out = v;
    return QT_OK;
}

qt_rc
qt_dev_spec_fd(const char *args, char *path, size_t path_size, unsigned *bits, double *h)
{
    struct qt_dev_spec_cur cur;
    const char *comma;
    const char *val;
    char key[QT_DEV_KEY_MAX];
    size_t plen;
    size_t vlen;
    uint64_t b = 8;
    double hv = 0.0;
    int have_bits = 0;
    int have_h = 0;
    int done = 0;

    QT_ENSURE_REF(args);
    QT_ENSURE_REF(path);
    comma = strchr(args, ',');
    plen = comma != NULL ? (size_t)(comma - args) : strlen(args);
    QT_ENSURE(plen > 0 && plen < path_size, QT_E_CONFIG);
    memcpy(path, args, plen);
    path[plen] = '\0';
    QT_ENSURE(comma != NULL, QT_E_CONFIG); /* h= is required: entropy is declared */
    cur.p = comma + 1;
    QT_ENSURE(*cur.p != '\0', QT_E_CONFIG);
    for (;;) {
        QT_TRY(qt_dev_spec_next(&cur, key, &val, &vlen, &done));
        if (done) {
            break;
        }
        if (strcmp(key, "bits") == 0 && !have_bits) {
            QT_TRY(qt_dev_spec_u64(val, vlen, 1, 16, &b));
            have_bits = 1;
        } else if (strcmp(key, "h") == 0 && !have_h) {
            QT_TRY(qt_dev_spec_double(val, vlen, 0.0, 16.0, &hv));
            have_h = 1;
        } else {
            return QT_E_CONFIG; /* unknown or repeated key */
        }
    }
    QT_ENSURE(have_h && hv > 0.0 && hv <= (double)b, QT_E_CONFIG);
    *bits = (unsigned)b;
    *h = hv;
    return QT_OK;
}

uint64_t
qt_dev_fnv1a64(const char *s)
{
    uint64_t x = 0xcbf29ce484222325ULL;

    for (; *s != '\0'; s++) {
        x ^= (uint8_t)*s;
        x *= 0x100000001b3ULL;
    }
    return x;
}
