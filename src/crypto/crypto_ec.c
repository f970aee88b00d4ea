/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Elliptic-curve keys (ECDSA/ECDH curves P-256, P-384, P-521, secp256k1 and
 * the EdDSA curves Ed25519, Ed448): the curve table, CKA_EC_PARAMS parsing
 * (named OIDs and the curve-name strings PKCS#11 3.0 and pkcs11-tool 0.23
 * use), CKA_EC_POINT in both the DER-wrapped and the raw form, import,
 * generation, export, ECDH (CKD_NULL) and the ECDSA r||s <-> DER conversion.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <string.h>

#include "../common/check.h"
#include "crypto_int.h"

#define TAG_OCTET_STRING 0x04
#define TAG_OID 0x06
#define TAG_UTF8_STRING 0x0c
#define TAG_PRINTABLE_STRING 0x13

/* ************************************************************************* */
/* Curve table                                                               */
/* ************************************************************************* */

static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t oid_k256[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a};
static const uint8_t oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
static const uint8_t oid_ed448[] = {0x06, 0x03, 0x2b, 0x65, 0x71};
/* GnuPG's 1.3.6.1.4.1.11591.15.1 "Ed25519", which older clients send. */
static const uint8_t oid_ed25519_gnu[] = {0x06, 0x09, 0x2b, 0x06, 0x01, 0x04,
                                          0x01, 0xda, 0x47, 0x0f, 0x01};

static const struct qt_crypto_curve_info curves[] = {
    {QT_CRYPTO_CURVE_P256, "P-256", oid_p256, sizeof(oid_p256), 256, 32, 32, 64, 0},
    {QT_CRYPTO_CURVE_P384, "P-384", oid_p384, sizeof(oid_p384), 384, 48, 48, 96, 0},
    {QT_CRYPTO_CURVE_P521, "P-521", oid_p521, sizeof(oid_p521), 521, 66, 66, 132, 0},
    {QT_CRYPTO_CURVE_SECP256K1, "secp256k1", oid_k256, sizeof(oid_k256), 256, 32, 32, 64, 0},
    {QT_CRYPTO_CURVE_ED25519, "ED25519", oid_ed25519, sizeof(oid_ed25519), 255, 32, 32, 64, 1},
    {QT_CRYPTO_CURVE_ED448, "ED448", oid_ed448, sizeof(oid_ed448), 448, 57, 57, 114, 1},
};

/* Curve names accepted in a PrintableString/UTF8String CKA_EC_PARAMS:
 * PKCS#11 3.0 names the Edwards curves "edwards25519"/"edwards448"; the rest
 * are the spellings clients use on their command lines. */
static const struct {
    const char *name;
    enum qt_crypto_curve curve;
} curve_names[] = {
    {"edwards25519", QT_CRYPTO_CURVE_ED25519}, {"ed25519", QT_CRYPTO_CURVE_ED25519},
    {"edwards448", QT_CRYPTO_CURVE_ED448},     {"ed448", QT_CRYPTO_CURVE_ED448},
    {"prime256v1", QT_CRYPTO_CURVE_P256},      {"secp256r1", QT_CRYPTO_CURVE_P256},
    {"P-256", QT_CRYPTO_CURVE_P256},           {"secp384r1", QT_CRYPTO_CURVE_P384},
    {"P-384", QT_CRYPTO_CURVE_P384},           {"secp521r1", QT_CRYPTO_CURVE_P521},
    {"P-521", QT_CRYPTO_CURVE_P521},           {"secp256k1", QT_CRYPTO_CURVE_SECP256K1},
};

const struct qt_crypto_curve_info *
qt_crypto_curve_info(enum qt_crypto_curve c)
{
    for (size_t i = 0; i < QT_ARRAY_LEN(curves); i++) {
        if (curves[i].curve == c) {
            return &curves[i];
        }
    }
    return NULL;
}

size_t
qt_crypto_curve_bits(enum qt_crypto_curve c)
{
    const struct qt_crypto_curve_info *ci = qt_crypto_curve_info(c);

    return ci == NULL ? 0 : ci->bits;
}

qt_rc
qt_crypto_ec_params_parse(const uint8_t *der, size_t len, enum qt_crypto_curve *curve)
{
    const uint8_t *p = der;
    const uint8_t *end;
    size_t clen;

    QT_ENSURE(curve != NULL && (der != NULL || len == 0), QT_E_ARG);
    QT_ENSURE(len >= 2, QT_E_FORMAT);
    end = der + len;

    if (der[0] == TAG_OID) {
        QT_TRY(qt_crypto_der_read(&p, end, TAG_OID, &clen));
        QT_ENSURE(p + clen == end && clen > 0, QT_E_FORMAT);
        for (size_t i = 0; i < QT_ARRAY_LEN(curves); i++) {
            if (curves[i].oid_len == len && memcmp(curves[i].oid, der, len) == 0) {
                *curve = curves[i].curve;
                return QT_OK;
            }
        }
        if (len == sizeof(oid_ed25519_gnu) && memcmp(oid_ed25519_gnu, der, len) == 0) {
            *curve = QT_CRYPTO_CURVE_ED25519;
            return QT_OK;
        }
        return QT_E_UNSUPPORTED;
    }
    if (der[0] == TAG_PRINTABLE_STRING || der[0] == TAG_UTF8_STRING) {
        QT_TRY(qt_crypto_der_read(&p, end, der[0], &clen));
        QT_ENSURE(p + clen == end, QT_E_FORMAT);
        for (size_t i = 0; i < QT_ARRAY_LEN(curve_names); i++) {
            if (strlen(curve_names[i].name) == clen &&
                OPENSSL_strncasecmp(curve_names[i].name, (const char *)p, clen) == 0) {
                *curve = curve_names[i].curve;
                return QT_OK;
            }
        }
        return QT_E_UNSUPPORTED;
    }
    /* SEQUENCE (explicit parameters) or NULL (implicitlyCA): well-formed
     * ECParameters choices we do not support. */
    if (der[0] == 0x30 || der[0] == 0x05) {
        QT_TRY(qt_crypto_der_read(&p, end, der[0], &clen));
        QT_ENSURE(p + clen == end, QT_E_FORMAT);
        return QT_E_UNSUPPORTED;
    }
    return QT_E_FORMAT;
}

qt_rc
qt_crypto_ec_params_der(enum qt_crypto_curve c, struct qt_buf *out)
{
    const struct qt_crypto_curve_info *ci = qt_crypto_curve_info(c);
    qt_rc rc;

    QT_ENSURE(ci != NULL && out != NULL, QT_E_ARG);
    qt_buf_init(out);
    if ((rc = qt_buf_put(out, ci->oid, ci->oid_len)) != QT_OK) {
        qt_buf_clear(out);
    }
    return rc;
}

/* ************************************************************************* */
/* Points                                                                    */
/* ************************************************************************* */

static int
raw_len_ok(const struct qt_crypto_curve_info *ci, const uint8_t *p, size_t n)
{
    if (ci->edwards) {
        return n == ci->field_len;
    }
    if (n == 1 + 2 * ci->field_len) {
        return p[0] == 0x04 || p[0] == 0x06 || p[0] == 0x07; /* uncompressed, hybrid */
    }
    if (n == 1 + ci->field_len) {
        return p[0] == 0x02 || p[0] == 0x03; /* compressed */
    }
    return 0;
}

qt_rc
qt_crypto_ec_point_unwrap(const struct qt_crypto_curve_info *ci, const uint8_t *p, size_t n,
                          const uint8_t **raw, size_t *raw_len)
{
    const uint8_t *c = p;
    size_t clen;

    QT_ENSURE(ci != NULL && raw != NULL && raw_len != NULL, QT_E_ARG);
    QT_ENSURE(p != NULL && n > 0, QT_E_FORMAT);
    /* DER OCTET STRING whose content is a point of the right size first; a
     * raw point that happens to parse as a header has a content length that
     * cannot be a valid point size, so the two forms do not collide. */
    if (qt_crypto_der_read(&c, p + n, TAG_OCTET_STRING, &clen) == QT_OK && c + clen == p + n &&
        clen > 0 && raw_len_ok(ci, c, clen)) {
        *raw = c;
        *raw_len = clen;
        return QT_OK;
    }
    QT_ENSURE(raw_len_ok(ci, p, n), QT_E_FORMAT);
    *raw = p;
    *raw_len = n;
    return QT_OK;
}

/* ************************************************************************* */
/* Import                                                                    */
/* ************************************************************************* */

static const char *
keymgmt_name(const struct qt_crypto_curve_info *ci)
{
    if (!ci->edwards) {
        return QT_CRYPTO_KM_EC;
    }
    return ci->curve == QT_CRYPTO_CURVE_ED25519 ? QT_CRYPTO_KM_ED25519 : QT_CRYPTO_KM_ED448;
}

static qt_rc
fromdata(OSSL_LIB_CTX *lc, const struct qt_crypto_curve_info *ci, const OSSL_PARAM *params,
         int selection, EVP_PKEY **pkey)
{
    EVP_PKEY_CTX *pctx;
    qt_rc rc = QT_E_CRYPTO;

    pctx = EVP_PKEY_CTX_new_from_name(lc, keymgmt_name(ci), NULL);
    if (pctx != NULL && EVP_PKEY_fromdata_init(pctx) > 0 &&
        EVP_PKEY_fromdata(pctx, pkey, selection, (OSSL_PARAM *)params) > 0) {
        rc = QT_OK;
    }
    EVP_PKEY_CTX_free(pctx);
    return rc;
}

/* EVP_PKEY for a public point given raw (already unwrapped). */
static qt_rc
public_pkey(OSSL_LIB_CTX *lc, const struct qt_crypto_curve_info *ci, const uint8_t *raw,
            size_t raw_len, EVP_PKEY **pkey)
{
    OSSL_PARAM params[3];
    size_t i = 0;

    if (!ci->edwards) {
        params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                       (char *)ci->group, 0);
    }
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)raw, raw_len);
    params[i] = OSSL_PARAM_construct_end();
    /* EC import decodes the point and rejects one that is not on the curve. */
    return fromdata(lc, ci, params, EVP_PKEY_PUBLIC_KEY, pkey) == QT_OK ? QT_OK : QT_E_FORMAT;
}

qt_rc
qt_crypto_key_ec_public(OSSL_LIB_CTX *lc, const uint8_t *params, size_t params_len,
                        const uint8_t *point, size_t point_len, struct qt_crypto_key **out)
{
    const struct qt_crypto_curve_info *ci;
    enum qt_crypto_curve curve;
    const uint8_t *raw;
    size_t raw_len;
    EVP_PKEY *pkey = NULL;
    qt_rc rc;

    QT_ENSURE_REF(out);
    QT_TRY(qt_crypto_ec_params_parse(params, params_len, &curve));
    ci = qt_crypto_curve_info(curve);
    QT_TRY(qt_crypto_ec_point_unwrap(ci, point, point_len, &raw, &raw_len));

    ERR_set_mark();
    if ((rc = public_pkey(lc, ci, raw, raw_len, &pkey)) == QT_OK) {
        rc = qt_crypto_key_from_pkey(lc, pkey, 0, out);
    }
    ERR_pop_to_mark();
    return rc;
}

/* d*G as an uncompressed point into pub (1 + 2*field_len bytes). */
static qt_rc
ec_public_from_private(OSSL_LIB_CTX *lc, const struct qt_crypto_curve_info *ci, const BIGNUM *d,
                       uint8_t *pub, size_t pub_len)
{
    EC_GROUP *group = NULL;
    EC_POINT *pt = NULL;
    BN_CTX *bnctx = NULL;
    qt_rc rc = QT_E_CRYPTO;
    int nid = EC_curve_nist2nid(ci->group);

    if (nid == NID_undef) {
        nid = OBJ_sn2nid(ci->group);
    }
    /* The BN_CTX carries lc: coordinate blinding draws random numbers, which
     * must not come from the default libctx. */
    if ((bnctx = BN_CTX_secure_new_ex(lc)) == NULL ||
        (group = EC_GROUP_new_by_curve_name_ex(lc, NULL, nid)) == NULL) {
        goto out;
    }
    rc = QT_E_RANGE;
    if (BN_is_zero(d) || BN_is_negative(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    if ((pt = EC_POINT_new(group)) == NULL || !EC_POINT_mul(group, pt, d, NULL, NULL, bnctx) ||
        EC_POINT_point2oct(group, pt, POINT_CONVERSION_UNCOMPRESSED, pub, pub_len, bnctx) !=
            pub_len) {
        goto out;
    }
    rc = QT_OK;
out:
    EC_POINT_clear_free(pt);
    EC_GROUP_free(group);
    BN_CTX_free(bnctx);
    return rc;
}

qt_rc
qt_crypto_key_ec_private(OSSL_LIB_CTX *lc, const uint8_t *params, size_t params_len,
                         const uint8_t *value, size_t value_len, struct qt_crypto_key **out)
{
    const struct qt_crypto_curve_info *ci;
    enum qt_crypto_curve curve;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *op = NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *d = NULL;
    uint8_t pub[1 + 2 * 66];
    qt_rc rc = QT_E_NOMEM;

    QT_ENSURE_REF(out);
    QT_ENSURE(value != NULL && value_len > 0, QT_E_RANGE);
    QT_TRY(qt_crypto_ec_params_parse(params, params_len, &curve));
    ci = qt_crypto_curve_info(curve);
    QT_ENSURE(!ci->edwards || value_len == ci->scalar_len, QT_E_RANGE);
    QT_ENSURE(value_len <= 2 * ci->scalar_len, QT_E_RANGE); /* leading zeros, bounded */

    ERR_set_mark();
    if ((bld = OSSL_PARAM_BLD_new()) == NULL) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    if (ci->edwards) {
        /* The provider derives the public key from the private one.  The
         * parameter points at the caller's bytes: a builder would copy them
         * into ordinary heap that OSSL_PARAM_free does not cleanse. */
        OSSL_PARAM ed[2];

        ed[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, (void *)value,
                                                  value_len);
        ed[1] = OSSL_PARAM_construct_end();
        rc = fromdata(lc, ci, ed, EVP_PKEY_KEYPAIR, &pkey);
    } else {
        size_t pub_len = 1 + 2 * ci->field_len;

        if ((d = BN_secure_new()) == NULL || BN_bin2bn(value, (int)value_len, d) == NULL) {
            goto out;
        }
        if ((rc = ec_public_from_private(lc, ci, d, pub, pub_len)) != QT_OK) {
            goto out;
        }
        rc = QT_E_CRYPTO;
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, ci->group, 0) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len)) {
            goto out;
        }
        /* d is a secure BIGNUM, so the builder puts it in the block that
         * OSSL_PARAM_free cleanses. */
        if ((op = OSSL_PARAM_BLD_to_param(bld)) != NULL) {
            rc = fromdata(lc, ci, op, EVP_PKEY_KEYPAIR, &pkey);
        }
    }
    if (rc != QT_OK) {
        goto out;
    }
    rc = qt_crypto_key_from_pkey(lc, pkey, 1, out);
    pkey = NULL;
out:
    EVP_PKEY_free(pkey);
    OSSL_PARAM_free(op);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    ERR_pop_to_mark();
    return rc;
}

/* ************************************************************************* */
/* Generation and export                                                     */
/* ************************************************************************* */

/* Prepared key-generation contexts (crypto.h).  A context set up from a
 * group name makes OpenSSL build that group (its Montgomery constants and
 * generator) again for every EVP_PKEY_CTX, which costs more than the P-256
 * key itself; a context kept after EVP_PKEY_keygen_init keeps its group and
 * serves any number of keys.  Contexts cannot be duplicated for key
 * generation (OpenSSL 3.0 has no gen_dupctx), so each curve has a few idle
 * ones, moved with atomic exchanges (qt_crypto_tmpl_take_idle): one
 * generation owns a context at a time.  They hold domain parameters only:
 * a key's randomness comes from the library context's DRBG at
 * EVP_PKEY_generate time, as with a new context. */
struct qt_crypto_gen {
    OSSL_LIB_CTX *lc;
    struct qt_crypto_tmpl curve[QT_CRYPTO_CURVE_ED448 + 1];
};

qt_rc
qt_crypto_gen_new(OSSL_LIB_CTX *lc, struct qt_crypto_gen **out)
{
    QT_ENSURE_REF(out);
    if ((*out = OPENSSL_zalloc(sizeof(**out))) == NULL) {
        return QT_E_NOMEM;
    }
    (*out)->lc = lc;
    return QT_OK;
}

void
qt_crypto_gen_free(struct qt_crypto_gen *g)
{
    if (g == NULL) {
        return;
    }
    for (size_t c = 0; c < sizeof(g->curve) / sizeof(g->curve[0]); c++) {
        for (size_t i = 0; i < QT_CRYPTO_TMPL_IDLE; i++) {
            EVP_PKEY_CTX_free(g->curve[c].idle[i]);
        }
    }
    OPENSSL_free(g);
}

static qt_rc
ec_generate(OSSL_LIB_CTX *lc, struct qt_crypto_tmpl *idle, enum qt_crypto_curve c,
            struct qt_crypto_key **out)
{
    const struct qt_crypto_curve_info *ci = qt_crypto_curve_info(c);
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;
    qt_rc rc = QT_E_CRYPTO;

    QT_ENSURE_REF(out);
    QT_ENSURE(ci != NULL, QT_E_UNSUPPORTED);

    ERR_set_mark();
    if ((pctx = qt_crypto_tmpl_take_idle(idle)) == NULL &&
        ((pctx = EVP_PKEY_CTX_new_from_name(lc, keymgmt_name(ci), NULL)) == NULL ||
         EVP_PKEY_keygen_init(pctx) <= 0 ||
         (!ci->edwards && EVP_PKEY_CTX_set_group_name(pctx, ci->group) <= 0))) {
        goto out;
    }
    if (EVP_PKEY_generate(pctx, &pkey) <= 0) {
        goto out;
    }
    rc = qt_crypto_key_from_pkey(lc, pkey, 1, out);
    pkey = NULL;
    if (rc == QT_OK && !ci->edwards &&
        !EVP_PKEY_get_octet_string_param((*out)->pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                         (*out)->pub, sizeof((*out)->pub), &(*out)->pub_len)) {
        (*out)->pub_len = 0; /* not cached: read when needed */
    }
    if (rc == QT_OK && qt_crypto_tmpl_give_idle(idle, pctx)) {
        pctx = NULL; /* kept for the next key (only a context that served one) */
    }
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(pctx);
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_crypto_ec_generate(OSSL_LIB_CTX *lc, enum qt_crypto_curve c, struct qt_crypto_key **out)
{
    return ec_generate(lc, NULL, c, out);
}

qt_rc
qt_crypto_gen_ec(struct qt_crypto_gen *g, enum qt_crypto_curve c, struct qt_crypto_key **out)
{
    QT_ENSURE_REF(g);
    QT_ENSURE(c > QT_CRYPTO_CURVE_NONE && c <= QT_CRYPTO_CURVE_ED448, QT_E_UNSUPPORTED);
    return ec_generate(g->lc, &g->curve[c], c, out);
}

int
qt_crypto_ec_encoded_pub(const struct qt_crypto_key *k, uint8_t *buf, size_t cap, size_t *len)
{
    if (k->pub_len > 0) {
        if (k->pub_len > cap) {
            return 0;
        }
        memcpy(buf, k->pub, k->pub_len);
        *len = k->pub_len;
        return 1;
    }
    return EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, cap,
                                           len);
}

static qt_rc
export_point(const struct qt_crypto_key *k, const struct qt_crypto_curve_info *ci,
             struct qt_buf *out)
{
    uint8_t raw[1 + 2 * 66];
    size_t raw_len = 0;
    qt_rc rc;

    if (ci->edwards) {
        if (!EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, raw, sizeof(raw),
                                             &raw_len) ||
            raw_len != ci->field_len) {
            return QT_E_CRYPTO;
        }
    } else {
        /* The encoded public key is uncompressed unless the key was made with
         * another point format; check, since CKA_EC_POINT must be uncompressed. */
        if (!qt_crypto_ec_encoded_pub(k, raw, sizeof(raw), &raw_len) ||
            raw_len != 1 + 2 * ci->field_len || raw[0] != 0x04) {
            return QT_E_CRYPTO;
        }
    }
    qt_buf_init(out);
    if ((rc = qt_crypto_der_header(out, TAG_OCTET_STRING, raw_len)) != QT_OK ||
        (rc = qt_buf_put(out, raw, raw_len)) != QT_OK) {
        qt_buf_clear(out);
    }
    return rc;
}

static qt_rc
export_value(const struct qt_crypto_key *k, const struct qt_crypto_curve_info *ci,
             struct qt_secret *out)
{
    BIGNUM *d = NULL;
    size_t len = 0;
    qt_rc rc;

    QT_TRY(qt_secret_init(out, ci->scalar_len));
    rc = QT_E_CRYPTO;
    if (ci->edwards) {
        if (EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, out->p, out->n,
                                            &len) &&
            len == ci->scalar_len) {
            rc = QT_OK;
        }
    } else if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) &&
               BN_bn2binpad(d, out->p, (int)out->n) == (int)out->n) {
        rc = QT_OK;
    }
    BN_clear_free(d);
    if (rc != QT_OK) {
        qt_secret_clear(out);
    }
    return rc;
}

qt_rc
qt_crypto_ec_export(const struct qt_crypto_key *k, struct qt_crypto_ec_attrs *out)
{
    const struct qt_crypto_curve_info *ci;
    qt_rc rc;

    QT_ENSURE(k != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(k->type == QT_CRYPTO_KEY_EC || k->type == QT_CRYPTO_KEY_EC_EDWARDS, QT_E_ARG);
    ci = qt_crypto_curve_info(k->curve);
    QT_ENSURE(ci != NULL, QT_E_INTERNAL);

    ERR_set_mark();
    if ((rc = qt_crypto_ec_params_der(k->curve, &out->params)) != QT_OK ||
        (rc = export_point(k, ci, &out->point)) != QT_OK) {
        goto out;
    }
    if (k->priv && (rc = export_value(k, ci, &out->value)) != QT_OK) {
        goto out;
    }
out:
    if (rc != QT_OK) {
        qt_crypto_ec_attrs_clear(out);
    }
    ERR_pop_to_mark();
    return rc;
}

void
qt_crypto_ec_attrs_clear(struct qt_crypto_ec_attrs *a)
{
    if (a == NULL) {
        return;
    }
    qt_buf_clear(&a->params);
    qt_buf_clear(&a->point);
    qt_secret_clear(&a->value);
}

/* ************************************************************************* */
/* ECDH                                                                      */
/* ************************************************************************* */

qt_rc
qt_crypto_ecdh_derive(const struct qt_crypto_key *k, const uint8_t *peer, size_t peer_len,
                      struct qt_secret *secret)
{
    const struct qt_crypto_curve_info *ci;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *peer_key = NULL;
    const uint8_t *raw;
    size_t raw_len;
    size_t len;
    qt_rc rc;

    QT_ENSURE(k != NULL && secret != NULL, QT_E_ARG);
    QT_ENSURE(k->type == QT_CRYPTO_KEY_EC && k->priv, QT_E_ARG);
    ci = qt_crypto_curve_info(k->curve);
    QT_ENSURE(ci != NULL, QT_E_INTERNAL);
    QT_TRY(qt_crypto_ec_point_unwrap(ci, peer, peer_len, &raw, &raw_len));

    ERR_set_mark();
    if ((rc = public_pkey(k->lc, ci, raw, raw_len, &peer_key)) != QT_OK ||
        (rc = qt_secret_init(secret, ci->field_len)) != QT_OK) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    len = secret->n;
    if ((pctx = EVP_PKEY_CTX_new_from_pkey(k->lc, k->pkey, NULL)) == NULL ||
        EVP_PKEY_derive_init(pctx) <= 0) {
        goto out;
    }
    rc = QT_E_FORMAT;
    if (EVP_PKEY_derive_set_peer_ex(pctx, peer_key, 1) <= 0) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    if (EVP_PKEY_derive(pctx, secret->p, &len) <= 0 || len != secret->n) {
        goto out;
    }
    rc = QT_OK;
out:
    if (rc != QT_OK) {
        qt_secret_clear(secret);
    }
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(peer_key);
    ERR_pop_to_mark();
    return rc;
}

/* ************************************************************************* */
/* ECDSA signature encoding                                                  */
/* ************************************************************************* */

/* One INTEGER of an Ecdsa-Sig-Value at *p, strict DER (X.690 8.3.2: no
 * redundant leading byte; non-negative), its value left-padded into
 * out[half]; QT_E_FORMAT if it is malformed or wider than half bytes. */
static qt_rc
der_uint(const uint8_t **p, const uint8_t *end, size_t half, uint8_t *out)
{
    const uint8_t *v;
    size_t len;

    QT_TRY(qt_crypto_der_read(p, end, 0x02, &len));
    v = *p;
    QT_ENSURE(len > 0 && !(v[0] & 0x80), QT_E_FORMAT);
    *p += len;
    if (v[0] == 0 && len > 1) {
        QT_ENSURE(v[1] & 0x80, QT_E_FORMAT); /* a redundant zero byte */
        v++;
        len--;
    }
    QT_ENSURE(len <= half, QT_E_FORMAT);
    memset(out, 0, half - len);
    memcpy(out + half - len, v, len);
    return QT_OK;
}

/* Parsed directly (no ECDSA_SIG, BIGNUMs or re-encoding): this runs after
 * every ECDSA signature. */
qt_rc
qt_crypto_ecdsa_der_to_rs(const uint8_t *der, size_t der_len, size_t half, uint8_t *rs,
                          size_t rs_cap)
{
    const uint8_t *p = der, *end;
    size_t len;
    qt_rc rc;

    QT_ENSURE(der != NULL && rs != NULL && half > 0 && half <= 66, QT_E_ARG);
    QT_ENSURE(rs_cap >= 2 * half, QT_E_BUFFER_TOO_SMALL);
    QT_ENSURE(der_len > 0 && der_len < 1024, QT_E_FORMAT);

    /* Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 2.2.3) */
    QT_TRY(qt_crypto_der_read(&p, der + der_len, 0x30, &len));
    QT_ENSURE(p + len == der + der_len, QT_E_FORMAT); /* nothing after it */
    end = p + len;
    if ((rc = der_uint(&p, end, half, rs)) == QT_OK) {
        rc = der_uint(&p, end, half, rs + half);
    }
    if (rc == QT_OK && p != end) {
        rc = QT_E_FORMAT; /* a third element */
    }
    if (rc != QT_OK) {
        qt_wipe(rs, 2 * half);
    }
    return rc;
}

qt_rc
qt_crypto_ecdsa_rs_to_der(const uint8_t *rs, size_t rs_len, struct qt_buf *der)
{
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *enc = NULL;
    int enc_len;
    qt_rc rc = QT_E_NOMEM;

    QT_ENSURE(rs != NULL && der != NULL, QT_E_ARG);
    QT_ENSURE(rs_len >= 2 && rs_len % 2 == 0 && rs_len <= 2 * 66, QT_E_RANGE);

    ERR_set_mark();
    if ((sig = ECDSA_SIG_new()) == NULL ||
        (r = BN_bin2bn(rs, (int)(rs_len / 2), NULL)) == NULL ||
        (s = BN_bin2bn(rs + rs_len / 2, (int)(rs_len / 2), NULL)) == NULL) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    if (!ECDSA_SIG_set0(sig, r, s)) {
        goto out;
    }
    r = s = NULL;
    if ((enc_len = i2d_ECDSA_SIG(sig, &enc)) <= 0) {
        goto out;
    }
    qt_buf_init(der);
    if ((rc = qt_buf_put(der, enc, (size_t)enc_len)) != QT_OK) {
        qt_buf_clear(der);
    }
out:
    OPENSSL_free(enc);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    ERR_pop_to_mark();
    return rc;
}
