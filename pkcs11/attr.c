/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attributes: the one table of which attribute belongs to which object class
 * and key type, with the footnotes of the PKCS#11 2.40/3.0 attribute tables
 * ("Common footnotes for object attribute tables"): must / must not be given
 * on create, generate, unwrap; sensitive; modifiable; only-to-TRUE /
 * only-to-FALSE; SO-only.  From it follow template validation on every
 * object-making path, the defaults every object gets (so that each object
 * carries its complete attribute set), C_SetAttributeValue / C_CopyObject
 * modifiability, C_GetAttributeValue's per-attribute rules and template
 * matching for C_FindObjects.
 *
 * Values are kept as the caller's bytes: CK_BBOOL and CK_ULONG in native
 * form, attribute arrays (CKA_WRAP_TEMPLATE ...) serialised as
 * [u32 count] then per entry [u64 type][u32 len][bytes] (big-endian).
 */
#include <stdlib.h>
#include <string.h>
#include "../src/common/buf.h"
#include "../src/common/mem.h"
#include "p11.h"

/* ****************************************************************
 * The rule table
 * ****************************************************************/

/* object classes */
#define C_DATA (1u << 0)
#define C_CERT (1u << 1)
#define C_PUB (1u << 2)
#define C_PRIV (1u << 3)
#define C_SEC (1u << 4)
#define C_KEY (C_PUB | C_PRIV | C_SEC)
#define C_ALL (C_DATA | C_CERT | C_KEY)

/* key types (0 in a rule: any) */
#define K_RSA (1u << 0)
#define K_EC (1u << 1)
#define K_EDW (1u << 2)
#define K_AES (1u << 3)
#define K_GEN (1u << 4)
#define K_ASYM (K_RSA | K_EC | K_EDW)

enum kind { T_BYTES = 0, T_BOOL, T_ULONG, T_DATE, T_TMPL, T_MECHS };

/* footnotes */
#define F_REQ_CREATE (1u << 0)   /* 1: must be given to C_CreateObject */
#define F_NO_CREATE (1u << 1)    /* 2: must not be given to C_CreateObject */
#define F_NO_GEN (1u << 2)       /* 4: must not be given when generating */
#define F_NO_UNWRAP (1u << 3)    /* 6: must not be given when unwrapping */
#define F_SENSITIVE (1u << 4)    /* 7: not revealed if sensitive/unextractable */
#define F_MODIFIABLE (1u << 5)   /* 8: C_SetAttributeValue / C_CopyObject may change it */
#define F_SO_ONLY_TRUE (1u << 6) /* 10: only the SO may set it to TRUE */
#define F_ONLY_TRUE (1u << 7)    /* 11: once TRUE, read-only */
#define F_ONLY_FALSE (1u << 8)   /* 12: once FALSE, read-only */
#define F_COMPUTED (1u << 9)     /* set by the token only (CKA_LOCAL ...): READ_ONLY if given */
#define F_NO_ALL (F_NO_CREATE | F_NO_GEN | F_NO_UNWRAP)

struct rule {
    CK_ATTRIBUTE_TYPE type;
    unsigned classes;
    unsigned ktypes;
    enum kind kind;
    unsigned flags;
};

static const struct rule rules[] = {
    /* common object / storage attributes */
    {CKA_CLASS, C_ALL, 0, T_ULONG, F_REQ_CREATE},
    {CKA_TOKEN, C_ALL, 0, T_BOOL, 0},
    {CKA_PRIVATE, C_ALL, 0, T_BOOL, 0},
    {CKA_MODIFIABLE, C_ALL, 0, T_BOOL, 0},
    {CKA_COPYABLE, C_ALL, 0, T_BOOL, F_MODIFIABLE | F_ONLY_FALSE},
    {CKA_DESTROYABLE, C_ALL, 0, T_BOOL, F_MODIFIABLE | F_ONLY_FALSE},
    {CKA_LABEL, C_ALL, 0, T_BYTES, F_MODIFIABLE},
    /* data objects */
    {CKA_APPLICATION, C_DATA, 0, T_BYTES, 0},
    {CKA_OBJECT_ID, C_DATA, 0, T_BYTES, 0},
    {CKA_VALUE, C_DATA, 0, T_BYTES, 0},
    /* certificates (X.509 only) */
    {CKA_CERTIFICATE_TYPE, C_CERT, 0, T_ULONG, F_REQ_CREATE},
    {CKA_TRUSTED, C_CERT | C_PUB | C_SEC, 0, T_BOOL, F_SO_ONLY_TRUE},
    {CKA_CERTIFICATE_CATEGORY, C_CERT, 0, T_ULONG, 0},
    {CKA_CHECK_VALUE, C_CERT | C_SEC, 0, T_BYTES, 0},
    {CKA_START_DATE, C_CERT | C_KEY, 0, T_DATE, F_MODIFIABLE},
    {CKA_END_DATE, C_CERT | C_KEY, 0, T_DATE, F_MODIFIABLE},
    {CKA_PUBLIC_KEY_INFO, C_CERT | C_PUB | C_PRIV, 0, T_BYTES, 0},
    {CKA_SUBJECT, C_CERT, 0, T_BYTES, F_REQ_CREATE},
    {CKA_ID, C_CERT | C_KEY, 0, T_BYTES, F_MODIFIABLE},
    {CKA_ISSUER, C_CERT, 0, T_BYTES, F_MODIFIABLE},
    {CKA_SERIAL_NUMBER, C_CERT, 0, T_BYTES, F_MODIFIABLE},
    {CKA_VALUE, C_CERT, 0, T_BYTES, F_REQ_CREATE},
    {CKA_URL, C_CERT, 0, T_BYTES, 0},
    {CKA_HASH_OF_SUBJECT_PUBLIC_KEY, C_CERT, 0, T_BYTES, 0},
    {CKA_HASH_OF_ISSUER_PUBLIC_KEY, C_CERT, 0, T_BYTES, 0},
    {CKA_JAVA_MIDP_SECURITY_DOMAIN, C_CERT, 0, T_ULONG, 0},
    {CKA_NAME_HASH_ALGORITHM, C_CERT, 0, T_ULONG, 0},
    /* every key */
    {CKA_KEY_TYPE, C_KEY, 0, T_ULONG, F_REQ_CREATE},
    {CKA_DERIVE, C_KEY, 0, T_BOOL, F_MODIFIABLE},
    /* PKCS#11 3.0 4.4: assigned by the token at creation, never changed */
    {CKA_UNIQUE_ID, C_ALL, 0, T_BYTES, F_NO_ALL | F_COMPUTED},
    {CKA_LOCAL, C_KEY, 0, T_BOOL, F_NO_ALL | F_COMPUTED},
    {CKA_KEY_GEN_MECHANISM, C_KEY, 0, T_ULONG, F_NO_ALL | F_COMPUTED},
    {CKA_ALLOWED_MECHANISMS, C_KEY, 0, T_MECHS, 0},
    /* public keys */
    {CKA_SUBJECT, C_PUB | C_PRIV, 0, T_BYTES, F_MODIFIABLE},
    {CKA_ENCRYPT, C_PUB | C_SEC, 0, T_BOOL, F_MODIFIABLE},
    {CKA_VERIFY, C_PUB | C_SEC, 0, T_BOOL, F_MODIFIABLE},
    {CKA_VERIFY_RECOVER, C_PUB, 0, T_BOOL, F_MODIFIABLE},
    {CKA_WRAP, C_PUB | C_SEC, 0, T_BOOL, F_MODIFIABLE},
    {CKA_WRAP_TEMPLATE, C_PUB | C_SEC, 0, T_TMPL, 0},
    /* private and secret keys */
    {CKA_SENSITIVE, C_PRIV | C_SEC, 0, T_BOOL, F_MODIFIABLE | F_ONLY_TRUE},
    {CKA_DECRYPT, C_PRIV | C_SEC, 0, T_BOOL, F_MODIFIABLE},
    {CKA_SIGN, C_PRIV | C_SEC, 0, T_BOOL, F_MODIFIABLE},
    {CKA_SIGN_RECOVER, C_PRIV, 0, T_BOOL, F_MODIFIABLE},
    {CKA_UNWRAP, C_PRIV | C_SEC, 0, T_BOOL, F_MODIFIABLE},
    {CKA_EXTRACTABLE, C_PRIV | C_SEC, 0, T_BOOL, F_MODIFIABLE | F_ONLY_FALSE},
    {CKA_ALWAYS_SENSITIVE, C_PRIV | C_SEC, 0, T_BOOL, F_NO_ALL | F_COMPUTED},
    {CKA_NEVER_EXTRACTABLE, C_PRIV | C_SEC, 0, T_BOOL, F_NO_ALL | F_COMPUTED},
    {CKA_WRAP_WITH_TRUSTED, C_PRIV | C_SEC, 0, T_BOOL, F_MODIFIABLE | F_ONLY_TRUE},
    {CKA_UNWRAP_TEMPLATE, C_PRIV | C_SEC, 0, T_TMPL, 0},
    {CKA_ALWAYS_AUTHENTICATE, C_PRIV, 0, T_BOOL, 0},
    /* RSA */
    {CKA_MODULUS, C_PUB, K_RSA, T_BYTES, F_REQ_CREATE | F_NO_GEN},
    {CKA_MODULUS_BITS, C_PUB, K_RSA, T_ULONG, F_NO_CREATE | F_NO_UNWRAP},
    {CKA_PUBLIC_EXPONENT, C_PUB, K_RSA, T_BYTES, F_REQ_CREATE},
    {CKA_MODULUS, C_PRIV, K_RSA, T_BYTES, F_REQ_CREATE | F_NO_GEN | F_NO_UNWRAP},
    {CKA_PUBLIC_EXPONENT, C_PRIV, K_RSA, T_BYTES, F_NO_GEN | F_NO_UNWRAP},
    {CKA_PRIVATE_EXPONENT, C_PRIV, K_RSA, T_BYTES,
     F_REQ_CREATE | F_NO_GEN | F_NO_UNWRAP | F_SENSITIVE},
    {CKA_PRIME_1, C_PRIV, K_RSA, T_BYTES, F_NO_GEN | F_NO_UNWRAP | F_SENSITIVE},
    {CKA_PRIME_2, C_PRIV, K_RSA, T_BYTES, F_NO_GEN | F_NO_UNWRAP | F_SENSITIVE},
    {CKA_EXPONENT_1, C_PRIV, K_RSA, T_BYTES, F_NO_GEN | F_NO_UNWRAP | F_SENSITIVE},
    {CKA_EXPONENT_2, C_PRIV, K_RSA, T_BYTES, F_NO_GEN | F_NO_UNWRAP | F_SENSITIVE},
    {CKA_COEFFICIENT, C_PRIV, K_RSA, T_BYTES, F_NO_GEN | F_NO_UNWRAP | F_SENSITIVE},
    /* EC and Edwards */
    {CKA_EC_PARAMS, C_PUB, K_EC | K_EDW, T_BYTES, F_REQ_CREATE},
    {CKA_EC_POINT, C_PUB, K_EC | K_EDW, T_BYTES, F_REQ_CREATE | F_NO_GEN},
    {CKA_EC_PARAMS, C_PRIV, K_EC | K_EDW, T_BYTES, F_REQ_CREATE | F_NO_GEN | F_NO_UNWRAP},
    {CKA_VALUE, C_PRIV, K_EC | K_EDW, T_BYTES,
     F_REQ_CREATE | F_NO_GEN | F_NO_UNWRAP | F_SENSITIVE},
    /* secret keys */
    {CKA_VALUE, C_SEC, K_AES | K_GEN, T_BYTES,
     F_REQ_CREATE | F_NO_GEN | F_NO_UNWRAP | F_SENSITIVE},
    {CKA_VALUE_LEN, C_SEC, K_AES | K_GEN, T_ULONG, 0},
};

static unsigned
class_bit(CK_ULONG cls)
{
    switch (cls) {
    case CKO_DATA:
        return C_DATA;
    case CKO_CERTIFICATE:
        return C_CERT;
    case CKO_PUBLIC_KEY:
        return C_PUB;
    case CKO_PRIVATE_KEY:
        return C_PRIV;
    case CKO_SECRET_KEY:
        return C_SEC;
    default:
        return 0;
    }
}

static unsigned
ktype_bit(CK_ULONG kt)
{
    switch (kt) {
    case CKK_RSA:
        return K_RSA;
    case CKK_EC:
        return K_EC;
    case CKK_EC_EDWARDS:
        return K_EDW;
    case CKK_AES:
        return K_AES;
    case CKK_GENERIC_SECRET:
        return K_GEN;
    default:
        return 0;
    }
}

/* The rule for type on an object of class cb / key type kb, or NULL. */
static const struct rule *
rule_for(CK_ATTRIBUTE_TYPE type, unsigned cb, unsigned kb)
{
    for (size_t i = 0; i < QT_ARRAY_LEN(rules); i++) {
        const struct rule *r = &rules[i];

        if (r->type == type && (r->classes & cb) && (r->ktypes == 0 || (r->ktypes & kb))) {
            return r;
        }
    }
    return NULL;
}

static const struct rule *
rule_of(const struct qt_attrs *a, CK_ATTRIBUTE_TYPE type)
{
    return rule_for(type, class_bit(qt_attrs_class(a)), ktype_bit(qt_attrs_key_type(a)));
}

/* ****************************************************************
 * Value checks
 * ****************************************************************/

CK_RV
qt_attr_template_check(const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
    if (tmpl == NULL && n > 0) {
        return CKR_ARGUMENTS_BAD;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        if (tmpl[i].pValue == NULL && tmpl[i].ulValueLen > 0) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        if (tmpl[i].ulValueLen > (1ul << 20) && tmpl[i].ulValueLen != CK_UNAVAILABLE_INFORMATION) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
    }
    return CKR_OK;
}

/* The i-th entry of a caller's nested CK_ATTRIBUTE array, copied out: the
 * caller's bytes carry no alignment promise. */
static CK_ATTRIBUTE
nested_at(const void *p, CK_ULONG i)
{
    CK_ATTRIBUTE a;

    memcpy(&a, (const unsigned char *)p + i * sizeof(CK_ATTRIBUTE), sizeof(a));
    return a;
}

static CK_RV
check_tmpl_value(const void *p, CK_ULONG len, int depth)
{
    CK_ULONG n;

    if (len % sizeof(CK_ATTRIBUTE) != 0 || depth > 0 || len / sizeof(CK_ATTRIBUTE) > 1024) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    n = len / sizeof(CK_ATTRIBUTE);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_ATTRIBUTE t = nested_at(p, i);

        if ((t.pValue == NULL && t.ulValueLen > 0) || (t.type & CKF_ARRAY_ATTRIBUTE) ||
            t.ulValueLen > (1ul << 20)) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
    }
    return CKR_OK;
}

static CK_RV
check_value(const struct rule *r, const void *p, CK_ULONG len)
{
    switch (r->kind) {
    case T_BOOL:
        if (len != sizeof(CK_BBOOL) || (*(const CK_BBOOL *)p != CK_TRUE &&
                                        *(const CK_BBOOL *)p != CK_FALSE)) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        return CKR_OK;
    case T_ULONG:
        return len == sizeof(CK_ULONG) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case T_DATE:
        if (len == 0) {
            return CKR_OK;
        }
        if (len != sizeof(CK_DATE)) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        for (size_t i = 0; i < sizeof(CK_DATE); i++) {
            unsigned char c = ((const unsigned char *)p)[i];

            if (c < '0' || c > '9') {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
        }
        return CKR_OK;
    case T_MECHS:
        return len % sizeof(CK_MECHANISM_TYPE) == 0 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case T_TMPL:
        return check_tmpl_value(p, len, 0);
    default:
        return CKR_OK;
    }
}

/* Serialises a caller's CK_ATTRIBUTE array value into stored form. */
static CK_RV
tmpl_encode(const void *p, CK_ULONG n, struct qt_buf *out)
{
    qt_rc rc;

    qt_buf_init(out);
    rc = qt_buf_put_u32(out, (uint32_t)n);
    for (CK_ULONG i = 0; i < n && rc == QT_OK; i++) {
        CK_ATTRIBUTE t = nested_at(p, i);

        rc = qt_buf_put_u64(out, (uint64_t)t.type);
        if (rc == QT_OK) {
            rc = qt_buf_put_lv(out, t.pValue, (size_t)t.ulValueLen);
        }
    }
    if (rc != QT_OK) {
        qt_buf_clear(out);
        return CKR_HOST_MEMORY;
    }
    return CKR_OK;
}

CK_RV
qt_attr_template_decode(const struct qt_attr *a, CK_ATTRIBUTE **out, CK_ULONG *n)
{
    struct qt_buf b;
    CK_ATTRIBUTE *t = NULL;
    uint32_t cnt = 0;

    *out = NULL;
    *n = 0;
    qt_buf_wrap(&b, a->val, a->len, a->len);
    if (a->len == 0) {
        return CKR_OK;
    }
    if (qt_buf_get_u32(&b, &cnt) != QT_OK || cnt > 1024) {
        return CKR_GENERAL_ERROR;
    }
    if (cnt > 0 && (t = calloc(cnt, sizeof(*t))) == NULL) {
        return CKR_HOST_MEMORY;
    }
    for (uint32_t i = 0; i < cnt; i++) {
        uint64_t type;
        const uint8_t *p;
        size_t len;

        if (qt_buf_get_u64(&b, &type) != QT_OK ||
            qt_buf_get_lv(&b, &p, &len, 1u << 20) != QT_OK) {
            free(t);
            return CKR_GENERAL_ERROR;
        }
        t[i].type = (CK_ATTRIBUTE_TYPE)type;
        t[i].pValue = (void *)p;
        t[i].ulValueLen = (CK_ULONG)len;
    }
    *out = t;
    *n = cnt;
    return CKR_OK;
}

/* Stores one validated template entry into a. */
static CK_RV
store_value(struct qt_attrs *a, const struct rule *r, const CK_ATTRIBUTE *t)
{
    struct qt_buf b;
    CK_RV rv;

    if (r->kind != T_TMPL) {
        return qt_attrs_set(a, t->type, t->pValue, (size_t)t->ulValueLen);
    }
    if ((rv = tmpl_encode(t->pValue, t->ulValueLen / sizeof(CK_ATTRIBUTE), &b)) != CKR_OK) {
        return rv;
    }
    rv = qt_attrs_set(a, t->type, b.p, b.len);
    qt_buf_clear(&b);
    return rv;
}

/* ****************************************************************
 * Building new objects
 * ****************************************************************/

static int
same_value(const struct qt_attr *x, const CK_ATTRIBUTE *t)
{
    return x->len == t->ulValueLen && (x->len == 0 || memcmp(x->val, t->pValue, x->len) == 0);
}

static const CK_ATTRIBUTE *
tmpl_find(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; i < n; i++) {
        if (tmpl[i].type == type) {
            return &tmpl[i];
        }
    }
    return NULL;
}

static CK_RV
set_default(struct qt_attrs *a, CK_ATTRIBUTE_TYPE type, const struct rule *r)
{
    if (qt_attrs_find(a, type) != NULL) {
        return CKR_OK;
    }
    switch (r->kind) {
    case T_BOOL:
        return CKR_OK; /* booleans get explicit defaults below */
    case T_ULONG:
        return CKR_OK;
    default:
        return qt_attrs_set(a, type, "", 0);
    }
}

/* The spec's defaults and qtoken's token-specific choices (footnote 9). */
static CK_RV
fill_defaults(struct qt_attrs *a, unsigned cb, unsigned kb)
{
    static const struct {
        CK_ATTRIBUTE_TYPE type;
        unsigned classes;
        int value;
    } bools[] = {
        {CKA_TOKEN, C_ALL, 0},
        {CKA_MODIFIABLE, C_ALL, 1},
        {CKA_COPYABLE, C_ALL, 1},
        {CKA_DESTROYABLE, C_ALL, 1},
        {CKA_TRUSTED, C_CERT | C_PUB | C_SEC, 0},
        {CKA_DERIVE, C_KEY, 0},
        {CKA_LOCAL, C_KEY, 0},
        {CKA_ENCRYPT, C_PUB | C_SEC, 1},
        {CKA_VERIFY, C_PUB | C_SEC, 1},
        {CKA_VERIFY_RECOVER, C_PUB, 0},
        {CKA_WRAP, C_PUB | C_SEC, 1},
        {CKA_DECRYPT, C_PRIV | C_SEC, 1},
        {CKA_SIGN, C_PRIV | C_SEC, 1},
        {CKA_SIGN_RECOVER, C_PRIV, 0},
        {CKA_UNWRAP, C_PRIV | C_SEC, 1},
        /* a private key is sensitive and not extractable unless asked;
         * secret keys follow the spec's CK_FALSE / token choice CK_TRUE */
        {CKA_SENSITIVE, C_PRIV, 1},
        {CKA_EXTRACTABLE, C_PRIV, 0},
        {CKA_SENSITIVE, C_SEC, 0},
        {CKA_EXTRACTABLE, C_SEC, 1},
        {CKA_WRAP_WITH_TRUSTED, C_PRIV | C_SEC, 0},
        {CKA_ALWAYS_AUTHENTICATE, C_PRIV, 0},
    };
    CK_RV rv = CKR_OK;

    /* DESIGN/issue 4: private and secret keys are private unless told */
    if (qt_attrs_find(a, CKA_PRIVATE) == NULL) {
        rv = qt_attrs_set_bool(a, CKA_PRIVATE, (cb & (C_PRIV | C_SEC)) != 0);
    }
    for (size_t i = 0; i < QT_ARRAY_LEN(bools) && rv == CKR_OK; i++) {
        if ((bools[i].classes & cb) && qt_attrs_find(a, bools[i].type) == NULL) {
            rv = qt_attrs_set_bool(a, bools[i].type, bools[i].value);
        }
    }
    if (rv == CKR_OK && (cb & C_KEY) && qt_attrs_find(a, CKA_KEY_GEN_MECHANISM) == NULL) {
        rv = qt_attrs_set_ulong(a, CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION);
    }
    if (rv == CKR_OK && (cb & C_CERT) && qt_attrs_find(a, CKA_CERTIFICATE_CATEGORY) == NULL) {
        rv = qt_attrs_set_ulong(a, CKA_CERTIFICATE_CATEGORY, 0);
    }
    if (rv == CKR_OK && (cb & C_CERT) && qt_attrs_find(a, CKA_JAVA_MIDP_SECURITY_DOMAIN) == NULL) {
        rv = qt_attrs_set_ulong(a, CKA_JAVA_MIDP_SECURITY_DOMAIN, 0);
    }
    /* byte-string attributes default to empty */
    for (size_t i = 0; i < QT_ARRAY_LEN(rules) && rv == CKR_OK; i++) {
        const struct rule *r = &rules[i];

        if (!(r->classes & cb) || (r->ktypes != 0 && !(r->ktypes & kb))) {
            continue;
        }
        if (r->flags & F_REQ_CREATE) {
            continue; /* required values are never defaulted */
        }
        if (r->type == CKA_VALUE_LEN || r->type == CKA_MODULUS_BITS ||
            r->type == CKA_CHECK_VALUE || r->type == CKA_PUBLIC_KEY_INFO ||
            r->kind == T_TMPL || (r->flags & F_SENSITIVE) || r->type == CKA_PUBLIC_EXPONENT ||
            r->type == CKA_EC_POINT || r->type == CKA_NAME_HASH_ALGORITHM) {
            continue; /* computed by the key code or absent when not given */
        }
        rv = set_default(a, r->type, r);
    }
    return rv;
}

CK_RV
qt_attr_build(enum qt_attr_origin origin, const struct qt_attrs *base, const CK_ATTRIBUTE *tmpl,
              CK_ULONG n, int so_session, struct qt_attrs *out)
{
    CK_ULONG cls = CK_UNAVAILABLE_INFORMATION, kt = CK_UNAVAILABLE_INFORMATION;
    const CK_ATTRIBUTE *t;
    unsigned cb, kb;
    CK_RV rv;

    qt_attrs_init(out);
    if ((rv = qt_attr_template_check(tmpl, n)) != CKR_OK) {
        return rv;
    }
    /* class and key type first: every other rule depends on them */
    if (base != NULL) {
        cls = qt_attrs_class(base);
        kt = qt_attrs_key_type(base);
    }
    if ((t = tmpl_find(tmpl, n, CKA_CLASS)) != NULL) {
        CK_ULONG v;

        if (t->ulValueLen != sizeof(CK_ULONG)) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        memcpy(&v, t->pValue, sizeof(v));
        if (cls != CK_UNAVAILABLE_INFORMATION && v != cls) {
            return CKR_TEMPLATE_INCONSISTENT;
        }
        cls = v;
    }
    if (cls == CK_UNAVAILABLE_INFORMATION) {
        return CKR_TEMPLATE_INCOMPLETE;
    }
    if ((cb = class_bit(cls)) == 0) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    if ((t = tmpl_find(tmpl, n, CKA_KEY_TYPE)) != NULL) {
        CK_ULONG v;

        if (!(cb & C_KEY)) {
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
        if (t->ulValueLen != sizeof(CK_ULONG)) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        memcpy(&v, t->pValue, sizeof(v));
        if (kt != CK_UNAVAILABLE_INFORMATION && v != kt) {
            return CKR_TEMPLATE_INCONSISTENT;
        }
        kt = v;
    }
    kb = 0;
    if (cb & C_KEY) {
        if (kt == CK_UNAVAILABLE_INFORMATION) {
            return CKR_TEMPLATE_INCOMPLETE;
        }
        kb = ktype_bit(kt);
        if (kb == 0 || ((cb & C_SEC) && !(kb & (K_AES | K_GEN))) ||
            ((cb & (C_PUB | C_PRIV)) && !(kb & K_ASYM))) {
            return base != NULL ? CKR_TEMPLATE_INCONSISTENT : CKR_ATTRIBUTE_VALUE_INVALID;
        }
    }
    if ((cb & C_CERT) && (t = tmpl_find(tmpl, n, CKA_CERTIFICATE_TYPE)) != NULL) {
        CK_ULONG v;

        if (t->ulValueLen != sizeof(CK_ULONG)) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        memcpy(&v, t->pValue, sizeof(v));
        if (v != CKC_X_509) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
    }

    /* every entry: known for this class/key type, well formed, allowed on
     * this path, not contradicting another entry */
    for (CK_ULONG i = 0; i < n; i++) {
        const struct rule *r = rule_for(tmpl[i].type, cb, kb);
        const CK_ATTRIBUTE *first = tmpl_find(tmpl, n, tmpl[i].type);

        if (r == NULL) {
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
        if ((rv = check_value(r, tmpl[i].pValue, tmpl[i].ulValueLen)) != CKR_OK) {
            return rv;
        }
        if (first != &tmpl[i] &&
            (first->ulValueLen != tmpl[i].ulValueLen ||
             (first->ulValueLen && memcmp(first->pValue, tmpl[i].pValue, first->ulValueLen)))) {
            return CKR_TEMPLATE_INCONSISTENT;
        }
        if (r->flags & F_COMPUTED) {
            return CKR_ATTRIBUTE_READ_ONLY;
        }
        if ((origin == QT_ORIGIN_CREATE && (r->flags & F_NO_CREATE)) ||
            (origin == QT_ORIGIN_GENERATE && (r->flags & F_NO_GEN)) ||
            ((origin == QT_ORIGIN_UNWRAP || origin == QT_ORIGIN_DERIVE) &&
             (r->flags & F_NO_UNWRAP))) {
            return CKR_TEMPLATE_INCONSISTENT;
        }
        if ((r->flags & F_SO_ONLY_TRUE) && !so_session && r->kind == T_BOOL &&
            *(const CK_BBOOL *)tmpl[i].pValue == CK_TRUE) {
            return CKR_ATTRIBUTE_READ_ONLY;
        }
        if (base != NULL) {
            const struct qt_attr *fixed = qt_attrs_find(base, tmpl[i].type);

            if (fixed != NULL && !same_value(fixed, &tmpl[i])) {
                return CKR_TEMPLATE_INCONSISTENT;
            }
        }
    }

    /* required on create */
    if (origin == QT_ORIGIN_CREATE) {
        for (size_t i = 0; i < QT_ARRAY_LEN(rules); i++) {
            const struct rule *r = &rules[i];

            if ((r->flags & F_REQ_CREATE) && (r->classes & cb) &&
                (r->ktypes == 0 || (r->ktypes & kb)) && tmpl_find(tmpl, n, r->type) == NULL) {
                return CKR_TEMPLATE_INCOMPLETE;
            }
        }
    }

    /* store: base first, then the template */
    if (base != NULL) {
        for (size_t i = 0; i < base->n; i++) {
            if ((rv = qt_attrs_set(out, base->v[i].type, base->v[i].val, base->v[i].len)) !=
                CKR_OK) {
                goto fail;
            }
        }
    }
    if ((rv = qt_attrs_set_ulong(out, CKA_CLASS, cls)) != CKR_OK) {
        goto fail;
    }
    if ((cb & C_KEY) && (rv = qt_attrs_set_ulong(out, CKA_KEY_TYPE, kt)) != CKR_OK) {
        goto fail;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        const struct rule *r = rule_for(tmpl[i].type, cb, kb);

        if ((rv = store_value(out, r, &tmpl[i])) != CKR_OK) {
            goto fail;
        }
    }
    if ((rv = fill_defaults(out, cb, kb)) != CKR_OK) {
        goto fail;
    }
    return CKR_OK;
fail:
    qt_attrs_clear(out);
    return rv;
}

CK_RV
qt_attr_finish_key(struct qt_attrs *a, enum qt_attr_origin origin, CK_MECHANISM_TYPE mech)
{
    unsigned cb = class_bit(qt_attrs_class(a));
    int local = origin == QT_ORIGIN_GENERATE;
    CK_RV rv;

    if (!(cb & C_KEY)) {
        return CKR_OK;
    }
    if ((rv = qt_attrs_set_bool(a, CKA_LOCAL, local)) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_attrs_set_ulong(a, CKA_KEY_GEN_MECHANISM,
                                 local ? mech : CK_UNAVAILABLE_INFORMATION)) != CKR_OK) {
        return rv;
    }
    if (cb & (C_PRIV | C_SEC)) {
        /* PKCS#11 3.0 4.9/4.10: ALWAYS_SENSITIVE / NEVER_EXTRACTABLE are TRUE
         * only for keys that were generated (or derived/unwrapped, from a
         * key that had them) with SENSITIVE TRUE / EXTRACTABLE FALSE; a key
         * imported in clear (C_CreateObject, C_UnwrapKey) had its value
         * outside the token. */
        int sensitive = qt_attrs_bool(a, CKA_SENSITIVE, 0);
        int extractable = qt_attrs_bool(a, CKA_EXTRACTABLE, 1);
        int gen = origin == QT_ORIGIN_GENERATE;

        if ((rv = qt_attrs_set_bool(a, CKA_ALWAYS_SENSITIVE, gen && sensitive)) != CKR_OK) {
            return rv;
        }
        if ((rv = qt_attrs_set_bool(a, CKA_NEVER_EXTRACTABLE, gen && !extractable)) != CKR_OK) {
            return rv;
        }
    }
    return CKR_OK;
}

/* ****************************************************************
 * Modification (C_SetAttributeValue, C_CopyObject)
 * ****************************************************************/

CK_RV
qt_attr_modify(const struct qt_attrs *cur, const CK_ATTRIBUTE *tmpl, CK_ULONG n, int copy,
               int so_session, struct qt_attrs *out)
{
    CK_RV rv;

    qt_attrs_init(out);
    if ((rv = qt_attr_template_check(tmpl, n)) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_attrs_copy(out, cur)) != CKR_OK) {
        return rv;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        const struct rule *r = rule_of(cur, tmpl[i].type);
        const struct qt_attr *old = qt_attrs_find(cur, tmpl[i].type);
        int allowed;

        if (r == NULL) {
            rv = CKR_ATTRIBUTE_TYPE_INVALID;
            goto fail;
        }
        if ((rv = check_value(r, tmpl[i].pValue, tmpl[i].ulValueLen)) != CKR_OK) {
            goto fail;
        }
        allowed = (r->flags & F_MODIFIABLE) != 0;
        if (copy && (tmpl[i].type == CKA_TOKEN || tmpl[i].type == CKA_PRIVATE ||
                     tmpl[i].type == CKA_MODIFIABLE)) {
            /* PKCS#11 3.0 5.7 C_CopyObject: the copy may change these */
            allowed = 1;
        }
        if ((r->flags & F_SO_ONLY_TRUE) && so_session) {
            allowed = 1;
        }
        if (!allowed) {
            if (old != NULL && r->kind != T_TMPL && same_value(old, &tmpl[i]) && copy) {
                continue; /* a copy template repeating the value changes nothing */
            }
            rv = CKR_ATTRIBUTE_READ_ONLY;
            goto fail;
        }
        if (r->kind == T_BOOL && old != NULL && old->len == 1) {
            int was = old->val[0] != CK_FALSE;
            int now = *(const CK_BBOOL *)tmpl[i].pValue != CK_FALSE;

            if (((r->flags & F_ONLY_TRUE) && was && !now) ||
                ((r->flags & F_ONLY_FALSE) && !was && now)) {
                rv = CKR_ATTRIBUTE_READ_ONLY;
                goto fail;
            }
            if ((r->flags & F_SO_ONLY_TRUE) && now && !so_session) {
                rv = CKR_ATTRIBUTE_READ_ONLY;
                goto fail;
            }
        }
        if ((rv = store_value(out, r, &tmpl[i])) != CKR_OK) {
            goto fail;
        }
    }
    return CKR_OK;
fail:
    qt_attrs_clear(out);
    return rv;
}

/* ****************************************************************
 * Reading (C_GetAttributeValue) and matching (C_FindObjects)
 * ****************************************************************/

int
qt_attr_is_sensitive(const struct qt_attrs *a, CK_ATTRIBUTE_TYPE type)
{
    const struct rule *r = rule_of(a, type);

    if (r == NULL || !(r->flags & F_SENSITIVE)) {
        return 0;
    }
    return qt_attrs_bool(a, CKA_SENSITIVE, 1) || !qt_attrs_bool(a, CKA_EXTRACTABLE, 0);
}

static CK_RV
get_template_value(const struct qt_attr *x, CK_ATTRIBUTE *t)
{
    CK_ATTRIBUTE *inner = NULL;
    void *dst;
    CK_ULONG cnt = 0;
    CK_RV rv, res = CKR_OK;

    if ((rv = qt_attr_template_decode(x, &inner, &cnt)) != CKR_OK) {
        return rv;
    }
    if (t->pValue == NULL) {
        t->ulValueLen = cnt * sizeof(CK_ATTRIBUTE);
        goto out;
    }
    if (t->ulValueLen < cnt * sizeof(CK_ATTRIBUTE)) {
        t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
        res = CKR_BUFFER_TOO_SMALL;
        goto out;
    }
    dst = t->pValue;
    for (CK_ULONG i = 0; i < cnt; i++) {
        CK_ATTRIBUTE d = nested_at(dst, i);

        d.type = inner[i].type;
        if (d.pValue == NULL) {
            d.ulValueLen = inner[i].ulValueLen;
        } else if (d.ulValueLen >= inner[i].ulValueLen) {
            memcpy(d.pValue, inner[i].pValue, inner[i].ulValueLen);
            d.ulValueLen = inner[i].ulValueLen;
        } else {
            d.ulValueLen = CK_UNAVAILABLE_INFORMATION;
            res = CKR_BUFFER_TOO_SMALL;
        }
        memcpy((unsigned char *)dst + i * sizeof(CK_ATTRIBUTE), &d, sizeof(d));
    }
    t->ulValueLen = cnt * sizeof(CK_ATTRIBUTE);
out:
    free(inner);
    return res;
}

CK_RV
qt_attr_get(const struct qt_attrs *a, CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
    CK_RV res = CKR_OK;

    for (CK_ULONG i = 0; i < n; i++) {
        CK_ATTRIBUTE *t = &tmpl[i];
        const struct rule *r = rule_of(a, t->type);
        const struct qt_attr *x = qt_attrs_find(a, t->type);

        /* PKCS#11 3.0 5.7 C_GetAttributeValue, cases 1-5, for each attribute */
        if (r != NULL && qt_attr_is_sensitive(a, t->type)) {
            t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            res = CKR_ATTRIBUTE_SENSITIVE;
            continue;
        }
        if (r == NULL) {
            t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            res = CKR_ATTRIBUTE_TYPE_INVALID;
            continue;
        }
        if (x == NULL) {
            /* valid for the object but never set (e.g. CKA_CHECK_VALUE of an
             * imported key): an empty value */
            t->ulValueLen = 0;
            continue;
        }
        if (r->kind == T_TMPL) {
            CK_RV rv = get_template_value(x, t);

            if (rv != CKR_OK) {
                res = rv;
            }
            continue;
        }
        if (t->pValue == NULL) {
            t->ulValueLen = (CK_ULONG)x->len;
        } else if (t->ulValueLen >= x->len) {
            if (x->len > 0) {
                memcpy(t->pValue, x->val, x->len);
            }
            t->ulValueLen = (CK_ULONG)x->len;
        } else {
            t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            res = CKR_BUFFER_TOO_SMALL;
        }
    }
    return res;
}

int
qt_attr_match(const struct qt_attrs *a, const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
    for (CK_ULONG i = 0; i < n; i++) {
        const struct qt_attr *x = qt_attrs_find(a, tmpl[i].type);

        if (x == NULL || qt_attr_is_sensitive(a, tmpl[i].type) || !same_value(x, &tmpl[i])) {
            return 0;
        }
    }
    return 1;
}

int
qt_attr_match_stored(const struct qt_attrs *a, const struct qt_attr *tmpl)
{
    CK_ATTRIBUTE *t = NULL;
    CK_ULONG n = 0;
    int ok;

    if (tmpl == NULL || tmpl->len == 0) {
        return 1;
    }
    if (qt_attr_template_decode(tmpl, &t, &n) != CKR_OK) {
        return 0;
    }
    ok = qt_attr_match(a, t, n);
    free(t);
    return ok;
}
