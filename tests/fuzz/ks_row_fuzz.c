/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the keystore's stored attribute list decoder
 * (qt_ks_wrap_decode_attrs, the "attrs" column of an object row, FORMAT.md):
 * u32 count, then per attribute u64 type, u8 kind (0 clear, 1 sealed),
 * u32 length, bytes.  The input is decoded with and without a row key.  A
 * list that decodes is encoded again as a private key's row (sensitive
 * values sealed with AES-256-GCM under the row key, AAD binding serial, id,
 * type and version) and must decode to the same attributes; under another
 * object id or version, or without the key, a sealed value must not open.
 * The fuzzer cannot forge a GCM tag, so that round trip is what reaches the
 * sealed-value path with valid tags.
 */
#include <p11-kit/pkcs11.h>
#include <string.h>

#include "../../keystore/ks_int.h"
#include "fuzz.h"

#define ROW_ID 42u
#define ROW_VER 7u

static const uint8_t row_key[KS_KEY] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

/* Deterministic IVs (a counter) so that a crash replays exactly. */
static qt_rc
counter_rng(void *ctx, uint8_t *out, size_t n)
{
    uint64_t *ctr = ctx;

    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(*ctr >> (8 * (i % 8)));
    }
    (*ctr)++;
    return QT_OK;
}

static int
same_attrs(const struct qt_attr *a, size_t an, const struct qt_attr *b, size_t bn)
{
    if (an != bn) {
        return 0;
    }
    for (size_t i = 0; i < an; i++) {
        if (a[i].type != b[i].type || a[i].len != b[i].len ||
            (a[i].len > 0 && memcmp(a[i].val, b[i].val, a[i].len) != 0)) {
            return 0;
        }
    }
    return 1;
}

static void
round_trip(struct qt_ks_token *t, const struct qt_attr *attrs, size_t n)
{
    struct qt_attr *back = NULL;
    struct qt_attr *other = NULL;
    size_t bn = 0;
    size_t on = 0;
    struct qt_buf enc;
    int sealed = 0;
    qt_rc rc;

    for (size_t i = 0; i < n; i++) {
        sealed |= qt_ks_wrap_is_sensitive(CKO_PRIVATE_KEY, attrs[i].type);
    }
    qt_buf_init(&enc);
    rc = qt_ks_wrap_encode_attrs(t, attrs, n, CKO_PRIVATE_KEY, row_key, ROW_ID, ROW_VER, &enc);
    if (rc != QT_OK) {
        /* Only an over-long value may be refused; the decoder caps it lower. */
        fuzz_check(rc == QT_E_RANGE || rc == QT_E_NOMEM);
        goto out;
    }
    fuzz_check(qt_ks_wrap_decode_attrs(t, enc.p, enc.len, row_key, ROW_ID, ROW_VER, &back, &bn) ==
               QT_OK);
    fuzz_check(same_attrs(attrs, n, back, bn));
    rc = qt_ks_wrap_decode_attrs(t, enc.p, enc.len, row_key, ROW_ID + 1, ROW_VER, &other, &on);
    fuzz_check(sealed ? rc == QT_E_TAMPER : rc == QT_OK);
    qt_ks_attrs_free(other, on);
    other = NULL;
    on = 0;
    rc = qt_ks_wrap_decode_attrs(t, enc.p, enc.len, row_key, ROW_ID, ROW_VER + 1, &other, &on);
    fuzz_check(sealed ? rc == QT_E_TAMPER : rc == QT_OK);
    qt_ks_attrs_free(other, on);
    other = NULL;
    on = 0;
    rc = qt_ks_wrap_decode_attrs(t, enc.p, enc.len, NULL, ROW_ID, ROW_VER, &other, &on);
    fuzz_check(sealed ? rc == QT_E_NOT_LOGGED_IN : rc == QT_OK);
    qt_ks_attrs_free(other, on);
out:
    qt_ks_attrs_free(back, bn);
    qt_buf_clear(&enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qt_ks_token t;
    struct qt_attr *attrs = NULL;
    size_t n = 0;
    uint64_t ctr = 0;
    qt_rc rc;

    memset(&t, 0, sizeof(t));
    memcpy(t.serial, "0123456789abcdef", KS_SERIAL_LEN + 1);
    t.rng = counter_rng;
    t.rng_ctx = &ctr;
    t.who = -1;

    rc = qt_ks_wrap_decode_attrs(&t, data, size, NULL, ROW_ID, ROW_VER, &attrs, &n);
    if (rc == QT_OK) {
        fuzz_check(n <= KS_MAX_ATTRS && (attrs != NULL || n == 0));
        round_trip(&t, attrs, n);
        qt_ks_attrs_free(attrs, n);
    } else {
        fuzz_check(rc == QT_E_FORMAT || rc == QT_E_NOT_LOGGED_IN || rc == QT_E_NOMEM);
    }
    attrs = NULL;
    n = 0;
    rc = qt_ks_wrap_decode_attrs(&t, data, size, row_key, ROW_ID, ROW_VER, &attrs, &n);
    if (rc == QT_OK) {
        fuzz_check(n <= KS_MAX_ATTRS);
        qt_ks_attrs_free(attrs, n);
    } else {
        fuzz_check(rc == QT_E_FORMAT || rc == QT_E_TAMPER || rc == QT_E_NOMEM);
    }
    return 0;
}
