/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 3.0 5.14 (continued): C_WrapKey, C_UnwrapKey and C_DeriveKey
 * (CKM_ECDH1_DERIVE).  Wrapping covers secret keys (their CKA_VALUE) and
 * private keys (their PKCS#8 PrivateKeyInfo DER, PKCS#11 3.0 5.18: key
 * migration and backup to another HSM), each only when CKA_EXTRACTABLE is
 * TRUE: keys generated with the default EXTRACTABLE FALSE never leave.
 * CKA_WRAP_WITH_TRUSTED / CKA_TRUSTED and the wrapping key's
 * CKA_WRAP_TEMPLATE / CKA_UNWRAP_TEMPLATE are honoured.
 */
#include <stdlib.h>
#include <string.h>
#include "../src/common/log.h"
#include "fn.h"
#include "key.h"

static int
so_session(const struct qt_session *s)
{
    return s->slot->login == CKU_SO;
}

/* ---- wrapping ---------------------------------------------------------- */

/* Looks up a wrapping/unwrapping/base key and its attributes and checks it
 * may be used with mech for `usage` (CKA_WRAP, CKA_UNWRAP, CKA_DERIVE). */
static CK_RV
usable_key(struct qt_session *s, CK_OBJECT_HANDLE h, const CK_MECHANISM *mech,
           CK_ATTRIBUTE_TYPE usage, CK_RV bad_handle, CK_RV bad_type, struct qt_object **o,
           struct qt_attrs *a)
{
    CK_KEY_TYPE want = qt_mech_key_type(mech->mechanism);
    CK_RV rv;

    if ((rv = qt_object_get_inlock(s, h, o)) != CKR_OK) {
        return bad_handle;
    }
    if ((rv = qt_object_attrs_inlock(*o, a)) != CKR_OK) {
        return rv == CKR_OBJECT_HANDLE_INVALID ? bad_handle : rv;
    }
    if (qt_attrs_class(a) != CKO_SECRET_KEY && qt_attrs_class(a) != CKO_PUBLIC_KEY &&
        qt_attrs_class(a) != CKO_PRIVATE_KEY) {
        return bad_handle;
    }
    if (qt_attrs_key_type(a) != want) {
        return bad_type;
    }
    if (!qt_attrs_bool(a, usage, 0)) {
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    if (!qt_mech_allowed(a, mech->mechanism)) {
        return CKR_MECHANISM_INVALID;
    }
    return CKR_OK;
}

static CK_RV
cipher_rv(qt_rc rc, int wrap)
{
    switch (rc) {
    case QT_E_ARG:
        return CKR_MECHANISM_PARAM_INVALID;
    case QT_E_RANGE:
        return wrap ? CKR_KEY_SIZE_RANGE : CKR_WRAPPED_KEY_LEN_RANGE;
    case QT_E_FORMAT:
    case QT_E_SIGNATURE:
        return CKR_WRAPPED_KEY_INVALID;
    default:
        return qt_rv(rc);
    }
}

static CK_RV
wrap_key(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE hw, CK_OBJECT_HANDLE hk,
         CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    struct qt_crypto_cipher *c = NULL;
    struct qt_key_ref *wref = NULL, *kref = NULL;
    struct qt_secret p8 = {0};
    struct qt_attrs wa, ka;
    struct qt_object *wo, *ko;
    struct qt_session *s;
    struct qt_crypto_mech m;
    const struct qt_mech_info *mi;
    const struct qt_attr *val = NULL;
    size_t n;
    CK_RV rv;
    qt_rc rc;

    qt_attrs_init(&wa);
    qt_attrs_init(&ka);
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (mech == NULL || outlen == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((mi = qt_mech_find(mech->mechanism)) == NULL || !(mi->flags & CKF_WRAP)) {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    if ((rv = qt_params_map(mech, &m)) != CKR_OK) {
        goto out;
    }
    if ((rv = usable_key(s, hw, mech, CKA_WRAP, CKR_WRAPPING_KEY_HANDLE_INVALID,
                         CKR_WRAPPING_KEY_TYPE_INCONSISTENT, &wo, &wa)) != CKR_OK) {
        goto out;
    }
    if (qt_object_get_inlock(s, hk, &ko) != CKR_OK ||
        qt_object_attrs_inlock(ko, &ka) != CKR_OK) {
        rv = CKR_KEY_HANDLE_INVALID;
        goto out;
    }
    if (qt_attrs_class(&ka) != CKO_SECRET_KEY && qt_attrs_class(&ka) != CKO_PRIVATE_KEY) {
        rv = qt_attrs_class(&ka) == CKO_PUBLIC_KEY ? CKR_KEY_NOT_WRAPPABLE
                                                   : CKR_KEY_HANDLE_INVALID;
        goto out;
    }
    if (!qt_attrs_bool(&ka, CKA_EXTRACTABLE, 0)) {
        rv = CKR_KEY_UNEXTRACTABLE;
        goto out;
    }
    /* PKCS#11 3.0 4.10: CKA_WRAP_WITH_TRUSTED keys only under CKA_TRUSTED keys;
     * the wrapping key's CKA_WRAP_TEMPLATE must match the key */
    if (qt_attrs_bool(&ka, CKA_WRAP_WITH_TRUSTED, 0) && !qt_attrs_bool(&wa, CKA_TRUSTED, 0)) {
        rv = CKR_KEY_NOT_WRAPPABLE;
        goto out;
    }
    if (!qt_attr_match_stored(&ka, qt_attrs_find(&wa, CKA_WRAP_TEMPLATE))) {
        rv = CKR_KEY_NOT_WRAPPABLE;
        goto out;
    }
    if (qt_attrs_class(&ka) == CKO_PRIVATE_KEY) {
        /* the private key as PKCS#8 PrivateKeyInfo */
        if ((rv = qt_key_get_inlock(ko, &ka, &kref)) != CKR_OK) {
            goto out;
        }
        if ((rc = qt_crypto_key_pkcs8(kref->key, &p8)) != QT_OK) {
            rv = rc == QT_E_NOMEM ? CKR_HOST_MEMORY : CKR_KEY_NOT_WRAPPABLE;
            goto out;
        }
    } else if ((val = qt_attrs_find(&ka, CKA_VALUE)) == NULL) {
        rv = CKR_KEY_NOT_WRAPPABLE;
        goto out;
    }
    if ((rv = qt_key_get_inlock(wo, &wa, &wref)) != CKR_OK) {
        goto out;
    }
    if ((rc = qt_crypto_cipher_new(&m, wref->key, 1, &c)) != QT_OK) {
        rv = rc == QT_E_ARG ? CKR_WRAPPING_KEY_TYPE_INCONSISTENT : cipher_rv(rc, 1);
        goto out;
    }
    n = out == NULL ? 0 : (size_t)*outlen;
    rc = p8.p != NULL ? qt_crypto_cipher_oneshot(c, p8.p, p8.n, out, &n)
                      : qt_crypto_cipher_oneshot(c, val->val, val->len, out, &n);
    if (rc == QT_OK || rc == QT_E_BUFFER_TOO_SMALL) {
        *outlen = (CK_ULONG)n;
        rv = rc == QT_OK ? CKR_OK : CKR_BUFFER_TOO_SMALL;
        goto out;
    }
    rv = rc == QT_E_RANGE ? CKR_KEY_SIZE_RANGE : cipher_rv(rc, 1);
out:
    qt_secret_clear(&p8);
    qt_crypto_cipher_free(c);
    qt_key_ref_put(wref);
    qt_key_ref_put(kref);
    qt_attrs_clear(&wa);
    qt_attrs_clear(&ka);
    qt_unlock();
    return rv;
}

CK_RV
qt_C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
             CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
             CK_ULONG_PTR pulWrappedKeyLen)
{
    QT_ENTRY("C_WrapKey",
             wrap_key(hSession, pMechanism, hWrappingKey, hKey, pWrappedKey, pulWrappedKeyLen),
             "session=%lu", (unsigned long)hSession);
}

/* Caller template + the unwrapping key's CKA_UNWRAP_TEMPLATE (PKCS#11 3.0
 * 4.9: its attributes apply as if given; a conflict is inconsistent). */
static CK_RV
merge_template(const CK_ATTRIBUTE *tmpl, CK_ULONG n, const struct qt_attr *stored,
               CK_ATTRIBUTE **out, CK_ULONG *outn)
{
    CK_ATTRIBUTE *extra = NULL, *all;
    CK_ULONG en = 0, k;
    CK_RV rv;

    *out = NULL;
    *outn = 0;
    if (stored != NULL && (rv = qt_attr_template_decode(stored, &extra, &en)) != CKR_OK) {
        return rv;
    }
    if ((all = calloc(n + en + 1, sizeof(*all))) == NULL) {
        free(extra);
        return CKR_HOST_MEMORY;
    }
    memcpy(all, tmpl, n * sizeof(*all));
    k = n;
    for (CK_ULONG i = 0; i < en; i++) {
        int dup = 0;

        for (CK_ULONG j = 0; j < n; j++) {
            if (tmpl[j].type != extra[i].type) {
                continue;
            }
            if (tmpl[j].ulValueLen != extra[i].ulValueLen ||
                (tmpl[j].ulValueLen &&
                 memcmp(tmpl[j].pValue, extra[i].pValue, tmpl[j].ulValueLen) != 0)) {
                free(extra);
                free(all);
                return CKR_TEMPLATE_INCONSISTENT;
            }
            dup = 1;
        }
        if (!dup) {
            all[k++] = extra[i];
        }
    }
    /* values point into `stored`, which outlives the use; the array of
     * entries from `extra` is copied, so extra itself can go */
    free(extra);
    *out = all;
    *outn = k;
    return CKR_OK;
}

/* An unwrapped secret key: its value (block modes without padding may
 * carry trailing bytes: CKA_VALUE_LEN says how many belong to the key) and
 * the attributes the token computes from it. */
static CK_RV
unwrapped_secret(OSSL_LIB_CTX *lc, const uint8_t *val, size_t vlen, struct qt_attrs *a)
{
    CK_ULONG want = 0;
    CK_RV rv;

    if (qt_attrs_ulong(a, CKA_VALUE_LEN, &want)) {
        if (want > vlen || want == 0) {
            return CKR_WRAPPED_KEY_INVALID;
        }
        vlen = (size_t)want;
    }
    if ((rv = qt_attrs_set(a, CKA_VALUE, val, vlen)) != CKR_OK) {
        return rv;
    }
    rv = qt_key_complete_import(lc, a);
    return rv == CKR_ATTRIBUTE_VALUE_INVALID ? CKR_WRAPPED_KEY_INVALID : rv;
}

/* The CKK_* of a crypto key type (-1 for none). */
static CK_KEY_TYPE
ckk_of(enum qt_crypto_key_type t)
{
    switch (t) {
    case QT_CRYPTO_KEY_RSA:
        return CKK_RSA;
    case QT_CRYPTO_KEY_EC:
        return CKK_EC;
    case QT_CRYPTO_KEY_EC_EDWARDS:
        return CKK_EC_EDWARDS;
    default:
        return (CK_KEY_TYPE)-1;
    }
}

/* An unwrapped private key: der is its PKCS#8 PrivateKeyInfo; the key type
 * must be the template's; its material (and CKA_PUBLIC_KEY_INFO ...) is
 * written into a as for a generated key. */
static CK_RV
unwrapped_private(OSSL_LIB_CTX *lc, const uint8_t *der, size_t len, struct qt_attrs *a)
{
    struct qt_crypto_key *k = NULL;
    CK_RV rv;
    qt_rc rc;

    if ((rc = qt_crypto_key_from_pkcs8(lc, der, len, &k)) != QT_OK) {
        return rc == QT_E_NOMEM ? CKR_HOST_MEMORY : CKR_WRAPPED_KEY_INVALID;
    }
    if (ckk_of(qt_crypto_key_type(k)) != qt_attrs_key_type(a)) {
        rv = CKR_TEMPLATE_INCONSISTENT; /* e.g. an RSA key unwrapped as CKK_EC */
    } else {
        rv = qt_key_write_generated(a, k);
    }
    qt_crypto_key_free(k);
    return rv;
}

static CK_RV
unwrap_key(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE hu, CK_BYTE_PTR wrapped,
           CK_ULONG wlen, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
    struct qt_crypto_cipher *c = NULL;
    struct qt_key_ref *uref = NULL;
    struct qt_secret val = {0};
    struct qt_attrs ua, a;
    struct qt_object *uo;
    struct qt_session *s;
    struct qt_crypto_mech m;
    const struct qt_mech_info *mi;
    CK_ATTRIBUTE *all = NULL;
    CK_ULONG alln = 0;
    OSSL_LIB_CTX *lc;
    size_t vlen;
    CK_RV rv;
    qt_rc rc;

    qt_attrs_init(&ua);
    qt_attrs_init(&a);
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (mech == NULL || wrapped == NULL || out == NULL || (tmpl == NULL && n > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((mi = qt_mech_find(mech->mechanism)) == NULL || !(mi->flags & CKF_UNWRAP)) {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    if ((rv = qt_params_map(mech, &m)) != CKR_OK) {
        goto out;
    }
    if ((rv = usable_key(s, hu, mech, CKA_UNWRAP, CKR_UNWRAPPING_KEY_HANDLE_INVALID,
                         CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, &uo, &ua)) != CKR_OK) {
        goto out;
    }
    if ((rv = qt_attr_template_check(tmpl, n)) != CKR_OK ||
        (rv = merge_template(tmpl, n, qt_attrs_find(&ua, CKA_UNWRAP_TEMPLATE), &all, &alln)) !=
            CKR_OK) {
        goto out;
    }
    if ((rv = qt_attr_build(QT_ORIGIN_UNWRAP, NULL, all, alln, so_session(s), &a)) != CKR_OK) {
        goto out;
    }
    if (qt_attrs_class(&a) != CKO_SECRET_KEY && qt_attrs_class(&a) != CKO_PRIVATE_KEY) {
        rv = CKR_TEMPLATE_INCONSISTENT; /* secret keys and private keys are unwrapped */
        goto out;
    }
    if ((rv = qt_object_may_create_inlock(s, &a)) != CKR_OK) {
        goto out;
    }
    if ((rv = qt_key_get_inlock(uo, &ua, &uref)) != CKR_OK) {
        goto out;
    }
    if ((rc = qt_crypto_cipher_new(&m, uref->key, 0, &c)) != QT_OK) {
        rv = rc == QT_E_ARG ? CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT : cipher_rv(rc, 0);
        goto out;
    }
    vlen = (size_t)wlen + 64;
    if (qt_secret_init(&val, vlen) != QT_OK) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if ((rc = qt_crypto_cipher_oneshot(c, wrapped, (size_t)wlen, val.p, &vlen)) != QT_OK) {
        rv = cipher_rv(rc, 0);
        goto out;
    }
    if ((rv = qt_key_libctx_inlock(&lc)) != CKR_OK) {
        goto out;
    }
    rv = qt_attrs_class(&a) == CKO_PRIVATE_KEY ? unwrapped_private(lc, val.p, vlen, &a)
                                               : unwrapped_secret(lc, val.p, vlen, &a);
    if (rv != CKR_OK ||
        (rv = qt_attr_finish_key(&a, QT_ORIGIN_UNWRAP, CK_UNAVAILABLE_INFORMATION)) != CKR_OK) {
        goto out;
    }
    rv = qt_object_create_event_inlock(s, &a, QT_EVENT_KEY_IMPORT, mech->mechanism, out);
out:
    qt_secret_clear(&val);
    qt_crypto_cipher_free(c);
    qt_key_ref_put(uref);
    free(all);
    qt_attrs_clear(&ua);
    qt_attrs_clear(&a);
    qt_unlock();
    return rv;
}

CK_RV
qt_C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
               CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen,
               CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    QT_ENTRY("C_UnwrapKey",
             unwrap_key(hSession, pMechanism, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen,
                        pTemplate, ulAttributeCount, phKey),
             "session=%lu", (unsigned long)hSession);
}

/* ---- C_DeriveKey (CKM_ECDH1_DERIVE) ------------------------------------ */

static CK_RV
derive_key(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE hb, CK_ATTRIBUTE_PTR tmpl,
           CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
    CK_ECDH1_DERIVE_PARAMS pb;
    const CK_ECDH1_DERIVE_PARAMS *p;
    struct qt_key_ref *bref = NULL;
    struct qt_secret z = {0};
    struct qt_attrs ba, base, a;
    struct qt_object *bo;
    struct qt_session *s;
    CK_ULONG want = 0;
    OSSL_LIB_CTX *lc;
    size_t vlen;
    CK_RV rv;
    qt_rc rc;

    qt_attrs_init(&ba);
    qt_attrs_init(&base);
    qt_attrs_init(&a);
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (mech == NULL || out == NULL || (tmpl == NULL && n > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (mech->mechanism != CKM_ECDH1_DERIVE) {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    if (mech->pParameter == NULL || mech->ulParameterLen != sizeof(pb)) {
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    memcpy(&pb, mech->pParameter, sizeof(pb)); /* no alignment promise */
    p = &pb;
    if (p->kdf != CKD_NULL ||
        p->ulSharedDataLen != 0 || p->pPublicData == NULL || p->ulPublicDataLen == 0) {
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    if ((rv = usable_key(s, hb, mech, CKA_DERIVE, CKR_KEY_HANDLE_INVALID,
                         CKR_KEY_TYPE_INCONSISTENT, &bo, &ba)) != CKR_OK) {
        goto out;
    }
    if (qt_attrs_class(&ba) != CKO_PRIVATE_KEY) {
        rv = CKR_KEY_TYPE_INCONSISTENT;
        goto out;
    }
    if ((rv = qt_attrs_set_ulong(&base, CKA_CLASS, CKO_SECRET_KEY)) != CKR_OK ||
        (rv = qt_attr_build(QT_ORIGIN_DERIVE, &base, tmpl, n, so_session(s), &a)) != CKR_OK) {
        goto out;
    }
    if ((rv = qt_object_may_create_inlock(s, &a)) != CKR_OK ||
        (rv = qt_key_get_inlock(bo, &ba, &bref)) != CKR_OK) {
        goto out;
    }
    rc = qt_crypto_ecdh_derive(bref->key, p->pPublicData, (size_t)p->ulPublicDataLen, &z);
    if (rc != QT_OK) {
        rv = rc == QT_E_FORMAT || rc == QT_E_ARG ? CKR_MECHANISM_PARAM_INVALID : qt_rv(rc);
        goto out;
    }
    vlen = z.n;
    if (qt_attrs_ulong(&a, CKA_VALUE_LEN, &want)) {
        if (want == 0 || want > z.n) {
            rv = CKR_TEMPLATE_INCONSISTENT;
            goto out;
        }
        vlen = (size_t)want; /* the leading bytes of Z */
    }
    if ((rv = qt_attrs_set(&a, CKA_VALUE, z.p, vlen)) != CKR_OK ||
        (rv = qt_key_libctx_inlock(&lc)) != CKR_OK ||
        (rv = qt_key_complete_import(lc, &a)) != CKR_OK ||
        (rv = qt_attr_finish_key(&a, QT_ORIGIN_DERIVE, CK_UNAVAILABLE_INFORMATION)) != CKR_OK) {
        goto out;
    }
    /* PKCS#11 3.0 4.10: a derived key inherits "always sensitive" and "never
     * extractable" from its base key, if it is itself sensitive/unextractable */
    if ((rv = qt_attrs_set_bool(&a, CKA_ALWAYS_SENSITIVE,
                                qt_attrs_bool(&ba, CKA_ALWAYS_SENSITIVE, 0) &&
                                    qt_attrs_bool(&a, CKA_SENSITIVE, 0))) != CKR_OK ||
        (rv = qt_attrs_set_bool(&a, CKA_NEVER_EXTRACTABLE,
                                qt_attrs_bool(&ba, CKA_NEVER_EXTRACTABLE, 0) &&
                                    !qt_attrs_bool(&a, CKA_EXTRACTABLE, 1))) != CKR_OK) {
        goto out;
    }
    rv = qt_object_create_inlock(s, &a, out);
out:
    qt_secret_clear(&z);
    qt_key_ref_put(bref);
    qt_attrs_clear(&ba);
    qt_attrs_clear(&base);
    qt_attrs_clear(&a);
    qt_unlock();
    return rv;
}

CK_RV
qt_C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,
               CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    QT_ENTRY("C_DeriveKey",
             derive_key(hSession, pMechanism, hBaseKey, pTemplate, ulAttributeCount, phKey),
             "session=%lu", (unsigned long)hSession);
}
