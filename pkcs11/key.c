/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Between PKCS#11 key objects (attribute lists) and src/crypto key objects:
 * importing the key material of an object (cached per object behind a
 * reference count, so an operation keeps its key alive even if the object
 * is destroyed meanwhile), completing and checking imported keys
 * (C_CreateObject, C_UnwrapKey: CKA_MODULUS_BITS, CKA_VALUE_LEN, canonical
 * CKA_EC_PARAMS and DER CKA_EC_POINT, CKA_PUBLIC_KEY_INFO, CKA_CHECK_VALUE),
 * and writing the attributes of generated keys.
 *
 * Reference counts are atomic: an operation drops its key outside the
 * module lock (p11.h, lock order).
 */
#include <stdlib.h>
#include <string.h>
#include "../src/crypto/crypto.h"
#include "../src/drbg/drbg.h"
#include "key.h"

void
qt_key_ref_put(struct qt_key_ref *r)
{
    if (r == NULL) {
        return;
    }
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        qt_crypto_key_free(r->key);
        free(r);
    }
}

struct qt_key_ref *
qt_key_ref_get(struct qt_key_ref *r)
{
    __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
    return r;
}

static struct qt_crypto_span
span(const struct qt_attrs *a, CK_ATTRIBUTE_TYPE t)
{
    const struct qt_attr *x = qt_attrs_find(a, t);
    struct qt_crypto_span s = {NULL, 0};

    if (x != NULL && x->len > 0) {
        s.p = x->val;
        s.n = x->len;
    }
    return s;
}

CK_RV
qt_key_libctx_inlock(OSSL_LIB_CTX **lc)
{
    struct qt_drbg *d;
    CK_RV rv;

    if ((rv = qt_module_drbg_inlock(&d)) != CKR_OK) {
        return rv;
    }
    *lc = qt_drbg_libctx(d);
    return CKR_OK;
}

/* The crypto room's import errors, in the context of reading attributes. */
static CK_RV
import_rv(qt_rc rc)
{
    switch (rc) {
    case QT_OK:
        return CKR_OK;
    case QT_E_UNSUPPORTED:
        return CKR_CURVE_NOT_SUPPORTED;
    case QT_E_ARG:
    case QT_E_RANGE:
    case QT_E_FORMAT:
        return CKR_ATTRIBUTE_VALUE_INVALID;
    default:
        return qt_rv(rc);
    }
}

CK_RV
qt_key_import(OSSL_LIB_CTX *lc, const struct qt_attrs *a, struct qt_crypto_key **out)
{
    CK_ULONG cls = qt_attrs_class(a), kt = qt_attrs_key_type(a);
    struct qt_crypto_span x, y;
    qt_rc rc;

    *out = NULL;
    switch (kt) {
    case CKK_RSA: {
        struct qt_crypto_rsa_parts p = {
            .n = span(a, CKA_MODULUS),
            .e = span(a, CKA_PUBLIC_EXPONENT),
            .d = span(a, CKA_PRIVATE_EXPONENT),
            .p = span(a, CKA_PRIME_1),
            .q = span(a, CKA_PRIME_2),
            .dp = span(a, CKA_EXPONENT_1),
            .dq = span(a, CKA_EXPONENT_2),
            .qinv = span(a, CKA_COEFFICIENT),
        };

        if (p.n.p == NULL || (cls == CKO_PUBLIC_KEY && p.e.p == NULL) ||
            (cls == CKO_PRIVATE_KEY && (p.d.p == NULL || p.e.p == NULL))) {
            return CKR_TEMPLATE_INCOMPLETE;
        }
        rc = cls == CKO_PUBLIC_KEY ? qt_crypto_key_rsa_public(lc, &p, out)
                                   : qt_crypto_key_rsa_private(lc, &p, out);
        return import_rv(rc);
    }
    case CKK_EC:
    case CKK_EC_EDWARDS:
        x = span(a, CKA_EC_PARAMS);
        y = span(a, cls == CKO_PUBLIC_KEY ? CKA_EC_POINT : CKA_VALUE);
        if (x.p == NULL || y.p == NULL) {
            return CKR_TEMPLATE_INCOMPLETE;
        }
        rc = cls == CKO_PUBLIC_KEY ? qt_crypto_key_ec_public(lc, x.p, x.n, y.p, y.n, out)
                                   : qt_crypto_key_ec_private(lc, x.p, x.n, y.p, y.n, out);
        if (rc == QT_OK) {
            enum qt_crypto_curve c = qt_crypto_key_curve(*out);
            int edw = c == QT_CRYPTO_CURVE_ED25519 || c == QT_CRYPTO_CURVE_ED448;

            if (edw != (kt == CKK_EC_EDWARDS)) {
                /* a Weierstrass curve on an Edwards key or the reverse */
                qt_crypto_key_free(*out);
                *out = NULL;
                return CKR_TEMPLATE_INCONSISTENT;
            }
        }
        return import_rv(rc);
    case CKK_AES:
    case CKK_GENERIC_SECRET:
        x = span(a, CKA_VALUE);
        if (x.p == NULL) {
            return CKR_TEMPLATE_INCOMPLETE;
        }
        rc = qt_crypto_key_secret(lc, kt == CKK_AES ? QT_CRYPTO_KEY_AES
                                                    : QT_CRYPTO_KEY_GENERIC_SECRET,
                                  x.p, x.n, out);
        return import_rv(rc);
    default:
        return CKR_KEY_TYPE_INCONSISTENT;
    }
}

CK_RV
qt_key_get_inlock(struct qt_object *o, const struct qt_attrs *a, struct qt_key_ref **out)
{
    struct qt_crypto_key *k = NULL;
    struct qt_key_ref *r;
    OSSL_LIB_CTX *lc;
    CK_RV rv;

    if (o->key == NULL) {
        if ((rv = qt_key_libctx_inlock(&lc)) != CKR_OK) {
            return rv;
        }
        if ((rv = qt_key_import(lc, a, &k)) != CKR_OK) {
            return rv;
        }
        if ((r = calloc(1, sizeof(*r))) == NULL) {
            qt_crypto_key_free(k);
            return CKR_HOST_MEMORY;
        }
        r->key = k;
        r->refs = 1; /* the object's reference */
        o->key = r;
    }
    *out = qt_key_ref_get(o->key);
    return CKR_OK;
}

static CK_RV
set_buf(struct qt_attrs *a, CK_ATTRIBUTE_TYPE t, const struct qt_buf *b)
{
    return qt_attrs_set(a, t, b->p, b->len);
}

static CK_RV
set_secret(struct qt_attrs *a, CK_ATTRIBUTE_TYPE t, const struct qt_secret *s)
{
    return qt_attrs_set(a, t, s->p, s->n);
}

static CK_RV
set_spki(struct qt_attrs *a, const struct qt_crypto_key *k)
{
    struct qt_buf b = {0};
    CK_RV rv;

    if (qt_crypto_key_spki(k, &b) != QT_OK) {
        return CKR_OK; /* e.g. an RSA private key without its public exponent */
    }
    rv = set_buf(a, CKA_PUBLIC_KEY_INFO, &b);
    qt_buf_clear(&b);
    return rv;
}

/* Writes the key material of k into a (class from a). */
static CK_RV
write_material(struct qt_attrs *a, const struct qt_crypto_key *k, int with_private)
{
    enum qt_crypto_key_type t = qt_crypto_key_type(k);
    CK_RV rv = CKR_OK;

    if (t == QT_CRYPTO_KEY_RSA) {
        struct qt_crypto_rsa_attrs r = {0};

        if (qt_crypto_rsa_export(k, &r) != QT_OK) {
            return CKR_FUNCTION_FAILED;
        }
        rv = set_buf(a, CKA_MODULUS, &r.n);
        if (rv == CKR_OK) {
            rv = set_buf(a, CKA_PUBLIC_EXPONENT, &r.e);
        }
        if (rv == CKR_OK && with_private) {
            rv = set_secret(a, CKA_PRIVATE_EXPONENT, &r.d);
            if (rv == CKR_OK && r.p.n > 0) {
                rv = set_secret(a, CKA_PRIME_1, &r.p);
                if (rv == CKR_OK) {
                    rv = set_secret(a, CKA_PRIME_2, &r.q);
                }
                if (rv == CKR_OK) {
                    rv = set_secret(a, CKA_EXPONENT_1, &r.dp);
                }
                if (rv == CKR_OK) {
                    rv = set_secret(a, CKA_EXPONENT_2, &r.dq);
                }
                if (rv == CKR_OK) {
                    rv = set_secret(a, CKA_COEFFICIENT, &r.qinv);
                }
            }
        }
        qt_crypto_rsa_attrs_clear(&r);
        return rv;
    }
    if (t == QT_CRYPTO_KEY_EC || t == QT_CRYPTO_KEY_EC_EDWARDS) {
        struct qt_crypto_ec_attrs e = {0};

        if (qt_crypto_ec_export(k, &e) != QT_OK) {
            return CKR_FUNCTION_FAILED;
        }
        rv = set_buf(a, CKA_EC_PARAMS, &e.params);
        if (rv == CKR_OK && !with_private) {
            rv = set_buf(a, CKA_EC_POINT, &e.point);
        }
        if (rv == CKR_OK && with_private) {
            rv = set_secret(a, CKA_VALUE, &e.value);
        }
        qt_crypto_ec_attrs_clear(&e);
        return rv;
    }
    {
        struct qt_secret s = {0};
        uint8_t cv[3];

        if (qt_crypto_secret_export(k, &s) != QT_OK) {
            return CKR_FUNCTION_FAILED;
        }
        rv = set_secret(a, CKA_VALUE, &s);
        if (rv == CKR_OK) {
            rv = qt_attrs_set_ulong(a, CKA_VALUE_LEN, (CK_ULONG)s.n);
        }
        qt_secret_clear(&s);
        if (rv == CKR_OK && qt_crypto_key_check_value(k, cv) == QT_OK) {
            rv = qt_attrs_set(a, CKA_CHECK_VALUE, cv, sizeof(cv));
        }
        return rv;
    }
}

CK_RV
qt_key_write_generated(struct qt_attrs *a, const struct qt_crypto_key *k)
{
    CK_ULONG cls = qt_attrs_class(a);
    CK_RV rv;

    if ((rv = write_material(a, k, cls != CKO_PUBLIC_KEY)) != CKR_OK) {
        return rv;
    }
    if (cls == CKO_PUBLIC_KEY || cls == CKO_PRIVATE_KEY) {
        rv = set_spki(a, k);
    }
    if (rv == CKR_OK && cls == CKO_PUBLIC_KEY && qt_crypto_key_type(k) == QT_CRYPTO_KEY_RSA) {
        rv = qt_attrs_set_ulong(a, CKA_MODULUS_BITS, (CK_ULONG)qt_crypto_key_bits(k));
    }
    return rv;
}

CK_RV
qt_key_complete_import(OSSL_LIB_CTX *lc, struct qt_attrs *a)
{
    struct qt_crypto_key *k = NULL;
    CK_ULONG cls = qt_attrs_class(a), given;
    CK_RV rv;

    if (cls != CKO_PUBLIC_KEY && cls != CKO_PRIVATE_KEY && cls != CKO_SECRET_KEY) {
        return CKR_OK;
    }
    if ((rv = qt_key_import(lc, a, &k)) != CKR_OK) {
        return rv;
    }
    switch (qt_crypto_key_type(k)) {
    case QT_CRYPTO_KEY_RSA:
        if (cls == CKO_PUBLIC_KEY) {
            rv = qt_attrs_set_ulong(a, CKA_MODULUS_BITS, (CK_ULONG)qt_crypto_key_bits(k));
        }
        break;
    case QT_CRYPTO_KEY_EC:
    case QT_CRYPTO_KEY_EC_EDWARDS: {
        /* canonical named-curve params; the point as a DER OCTET STRING */
        struct qt_crypto_ec_attrs e = {0};

        if (qt_crypto_ec_export(k, &e) != QT_OK) {
            rv = CKR_FUNCTION_FAILED;
            break;
        }
        rv = set_buf(a, CKA_EC_PARAMS, &e.params);
        if (rv == CKR_OK && cls == CKO_PUBLIC_KEY) {
            rv = set_buf(a, CKA_EC_POINT, &e.point);
        }
        qt_crypto_ec_attrs_clear(&e);
        break;
    }
    default: {
        const struct qt_attr *v = qt_attrs_find(a, CKA_VALUE);
        const struct qt_attr *cvg = qt_attrs_find(a, CKA_CHECK_VALUE);
        uint8_t cv[3];

        if (qt_attrs_ulong(a, CKA_VALUE_LEN, &given) && given != v->len) {
            rv = CKR_TEMPLATE_INCONSISTENT;
            break;
        }
        rv = qt_attrs_set_ulong(a, CKA_VALUE_LEN, (CK_ULONG)v->len);
        if (rv == CKR_OK && qt_crypto_key_check_value(k, cv) == QT_OK) {
            if (cvg != NULL && cvg->len > 0 &&
                (cvg->len != sizeof(cv) || memcmp(cvg->val, cv, sizeof(cv)) != 0)) {
                rv = CKR_ATTRIBUTE_VALUE_INVALID;
                break;
            }
            rv = qt_attrs_set(a, CKA_CHECK_VALUE, cv, sizeof(cv));
        }
        break;
    }
    }
    if (rv == CKR_OK && cls != CKO_SECRET_KEY) {
        const struct qt_attr *pki = qt_attrs_find(a, CKA_PUBLIC_KEY_INFO);

        if (pki == NULL || pki->len == 0) {
            rv = set_spki(a, k);
        }
    }
    qt_crypto_key_free(k);
    return rv;
}
