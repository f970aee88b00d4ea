/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the byte parsers of src/crypto.  The first input byte picks
 * the parser, the second is a parameter (curve, half length), the rest is
 * the data:
 *
 *   0  qt_crypto_ec_params_parse (CKA_EC_PARAMS); an accepted curve's
 *      canonical encoding parses to the same curve
 *   1  CKA_EC_POINT for a curve: qt_crypto_ec_point_unwrap (the raw point
 *      lies inside the input, with a valid SEC1/RFC 8032 size), then
 *      qt_crypto_key_ec_public; an imported key exports a point that
 *      imports again to the same key
 *   2  qt_crypto_ecdsa_der_to_rs; accepted DER converts back to itself
 *   3  qt_crypto_ecdsa_rs_to_der; the DER converts back to the same r||s
 *   4  qt_crypto_der_read over a sequence of TLVs
 *   5  CKA_VALUE of an EC/EdDSA private key: qt_crypto_key_ec_private;
 *      the exported value is the input left-padded (Weierstrass)
 *   6  RSA public key from CKA_MODULUS || CKA_PUBLIC_EXPONENT (the second
 *      byte is the exponent length)
 *   7  CKA_EC_PARAMS and CKA_EC_POINT both from the input (the second byte
 *      is the params length)
 * Keys are made in the default library context (NULL), as in the unit tests.
 */
#include <string.h>

#include "../../src/crypto/crypto_int.h"
#include "fuzz.h"

#define N_CURVES 6 /* QT_CRYPTO_CURVE_P256 .. QT_CRYPTO_CURVE_ED448 */

static void
ec_params(const uint8_t *d, size_t n)
{
    enum qt_crypto_curve c = QT_CRYPTO_CURVE_NONE;
    enum qt_crypto_curve c2 = QT_CRYPTO_CURVE_NONE;
    struct qt_buf der;
    qt_rc rc;

    rc = qt_crypto_ec_params_parse(d, n, &c);
    if (rc != QT_OK) {
        fuzz_check(rc == QT_E_FORMAT || rc == QT_E_UNSUPPORTED);
        return;
    }
    fuzz_check(qt_crypto_curve_info(c) != NULL && qt_crypto_curve_bits(c) > 0);
    fuzz_check(qt_crypto_ec_params_der(c, &der) == QT_OK);
    fuzz_check(qt_crypto_ec_params_parse(der.p, der.len, &c2) == QT_OK && c2 == c);
    qt_buf_clear(&der);
}

static void
check_export_roundtrip(const struct qt_crypto_key *k)
{
    struct qt_crypto_ec_attrs a;
    struct qt_crypto_ec_attrs b;
    struct qt_crypto_key *k2 = NULL;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    fuzz_check(qt_crypto_ec_export(k, &a) == QT_OK);
    fuzz_check(qt_crypto_key_ec_public(NULL, a.params.p, a.params.len, a.point.p, a.point.len,
                                       &k2) == QT_OK);
    fuzz_check(qt_crypto_key_curve(k2) == qt_crypto_key_curve(k));
    fuzz_check(qt_crypto_ec_export(k2, &b) == QT_OK);
    fuzz_check(a.point.len == b.point.len && memcmp(a.point.p, b.point.p, a.point.len) == 0);
    qt_crypto_key_free(k2);
    qt_crypto_ec_attrs_clear(&a);
    qt_crypto_ec_attrs_clear(&b);
}

static void
ec_point(enum qt_crypto_curve c, const uint8_t *d, size_t n)
{
    const struct qt_crypto_curve_info *ci = qt_crypto_curve_info(c);
    struct qt_crypto_key *k = NULL;
    const uint8_t *raw = NULL;
    size_t raw_len = 0;
    qt_rc rc;

    fuzz_check(ci != NULL);
    rc = qt_crypto_ec_point_unwrap(ci, d, n, &raw, &raw_len);
    if (rc != QT_OK) {
        fuzz_check(rc == QT_E_FORMAT);
    } else {
        fuzz_check(raw >= d && raw_len > 0 && raw_len <= n && raw + raw_len == d + n);
        fuzz_check(ci->edwards ? raw_len == ci->field_len
                               : raw_len == 1 + ci->field_len || raw_len == 1 + 2 * ci->field_len);
    }
    rc = qt_crypto_key_ec_public(NULL, ci->oid, ci->oid_len, d, n, &k);
    if (rc == QT_OK) {
        fuzz_check(qt_crypto_key_curve(k) == c && !qt_crypto_key_is_private(k));
        check_export_roundtrip(k);
    } else {
        fuzz_check(k == NULL);
    }
    qt_crypto_key_free(k);
}

static void
ec_params_point(size_t plen, const uint8_t *d, size_t n)
{
    struct qt_crypto_key *k = NULL;

    if (plen > n) {
        plen = n;
    }
    if (qt_crypto_key_ec_public(NULL, d, plen, d + plen, n - plen, &k) == QT_OK) {
        check_export_roundtrip(k);
    }
    qt_crypto_key_free(k);
}

static void
der_to_rs(size_t half, const uint8_t *d, size_t n)
{
    uint8_t rs[2 * 66];
    struct qt_buf der;
    qt_rc rc;

    rc = qt_crypto_ecdsa_der_to_rs(d, n, half, rs, sizeof(rs));
    if (rc != QT_OK) {
        fuzz_check(rc == QT_E_FORMAT || (n == 0 && rc == QT_E_ARG));
        return;
    }
    fuzz_check(qt_crypto_ecdsa_rs_to_der(rs, 2 * half, &der) == QT_OK);
    fuzz_check(der.len == n && memcmp(der.p, d, n) == 0);
    qt_buf_clear(&der);
}

static void
rs_to_der(const uint8_t *d, size_t n)
{
    uint8_t rs[2 * 66];
    struct qt_buf der;
    qt_rc rc;

    rc = qt_crypto_ecdsa_rs_to_der(d, n, &der);
    if (rc != QT_OK) {
        fuzz_check(rc == QT_E_RANGE || (n == 0 && rc == QT_E_ARG));
        fuzz_check(n < 2 || n % 2 != 0 || n > sizeof(rs));
        return;
    }
    fuzz_check(qt_crypto_ecdsa_der_to_rs(der.p, der.len, n / 2, rs, sizeof(rs)) == QT_OK);
    fuzz_check(memcmp(rs, d, n) == 0);
    qt_buf_clear(&der);
}

static void
der_walk(const uint8_t *d, size_t n)
{
    const uint8_t *p = d;
    const uint8_t *end = d + n;

    while (p < end) {
        const uint8_t *before = p;
        size_t len = 0;

        if (qt_crypto_der_read(&p, end, before[0], &len) != QT_OK) {
            fuzz_check(p == before);
            break;
        }
        fuzz_check(p > before && p <= end && len <= (size_t)(end - p));
        /* Minimal length form only. */
        fuzz_check(p - before == (len < 0x80 ? 2 : len < 0x100 ? 3 : 4));
        p += len;
    }
}

static void
ec_private(enum qt_crypto_curve c, const uint8_t *d, size_t n)
{
    const struct qt_crypto_curve_info *ci = qt_crypto_curve_info(c);
    struct qt_crypto_ec_attrs a;
    struct qt_crypto_key *k = NULL;
    qt_rc rc;

    if (n > 256) {
        return;
    }
    rc = qt_crypto_key_ec_private(NULL, ci->oid, ci->oid_len, d, n, &k);
    if (rc != QT_OK) {
        fuzz_check(k == NULL);
        return;
    }
    fuzz_check(qt_crypto_key_is_private(k) && qt_crypto_key_curve(k) == c);
    memset(&a, 0, sizeof(a));
    fuzz_check(qt_crypto_ec_export(k, &a) == QT_OK);
    fuzz_check(a.value.n == ci->scalar_len);
    if (a.value.n >= n) {
        size_t pad = a.value.n - n;

        for (size_t i = 0; i < pad; i++) {
            fuzz_check(a.value.p[i] == 0);
        }
        fuzz_check(memcmp(a.value.p + pad, d, n) == 0);
    } else {
        /* Longer input: only leading zeros may be dropped. */
        for (size_t i = 0; i < n - a.value.n; i++) {
            fuzz_check(d[i] == 0);
        }
        fuzz_check(memcmp(a.value.p, d + (n - a.value.n), a.value.n) == 0);
    }
    check_export_roundtrip(k);
    qt_crypto_ec_attrs_clear(&a);
    qt_crypto_key_free(k);
}

static void
rsa_public(size_t elen, const uint8_t *d, size_t n)
{
    struct qt_crypto_rsa_parts parts;
    struct qt_crypto_key *k = NULL;

    if (elen > n || n > 2100) {
        return;
    }
    memset(&parts, 0, sizeof(parts));
    parts.n.p = d + elen;
    parts.n.n = n - elen;
    parts.e.p = d;
    parts.e.n = elen;
    if (qt_crypto_key_rsa_public(NULL, &parts, &k) == QT_OK) {
        fuzz_check(qt_crypto_key_bits(k) >= 1024 && qt_crypto_key_bits(k) <= 16384);
        fuzz_check(!qt_crypto_key_is_private(k));
    } else {
        fuzz_check(k == NULL);
    }
    qt_crypto_key_free(k);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *d;
    size_t n;
    uint8_t arg;

    if (size < 2 || size > 4096) {
        return 0;
    }
    arg = data[1];
    d = data + 2;
    n = size - 2;
    switch (data[0] & 7u) {
    case 0:
        ec_params(d, n);
        break;
    case 1:
        ec_point((enum qt_crypto_curve)(1 + arg % N_CURVES), d, n);
        break;
    case 2:
        der_to_rs(1u + arg % 66u, d, n);
        break;
    case 3:
        rs_to_der(d, n);
        break;
    case 4:
        der_walk(d, n);
        break;
    case 5:
        ec_private((enum qt_crypto_curve)(1 + arg % N_CURVES), d, n);
        break;
    case 6:
        rsa_public(arg, d, n);
        break;
    default:
        ec_params_point(arg, d, n);
        break;
    }
    return 0;
}
