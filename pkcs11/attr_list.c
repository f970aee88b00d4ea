/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attribute lists (struct qt_attrs): the growable arrays of (type, bytes)
 * that hold every object's attributes in this layer and in the keystore's
 * calls.  Values are heap copies owned by the list and wiped when replaced
 * or freed.  The rules of which attribute belongs where are in attr.c.
 */
#include <stdlib.h>
#include <string.h>
#include "p11.h"

/* ****************************************************************
 * Attribute lists
 * ****************************************************************/

void
qt_attrs_init(struct qt_attrs *a)
{
    memset(a, 0, sizeof(*a));
}

void
qt_attrs_clear(struct qt_attrs *a)
{
    if (a == NULL) {
        return;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].val != NULL) {
            qt_wipe(a->v[i].val, a->v[i].len);
            free(a->v[i].val);
        }
    }
    free(a->v);
    memset(a, 0, sizeof(*a));
}

void
qt_attrs_take(struct qt_attrs *dst, struct qt_attr *v, size_t n)
{
    dst->v = v;
    dst->n = n;
    dst->cap = n;
}

static struct qt_attr *
find_mut(struct qt_attrs *a, CK_ATTRIBUTE_TYPE type)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].type == type) {
            return &a->v[i];
        }
    }
    return NULL;
}

const struct qt_attr *
qt_attrs_find(const struct qt_attrs *a, CK_ATTRIBUTE_TYPE type)
{
    return find_mut((struct qt_attrs *)a, type);
}

CK_RV
qt_attrs_set(struct qt_attrs *a, CK_ATTRIBUTE_TYPE type, const void *val, size_t len)
{
    struct qt_attr *cur = find_mut(a, type);
    uint8_t *copy;

    /* malloc(0) may return NULL: keep one byte so a present empty value is
     * still distinguishable from allocation failure */
    if ((copy = malloc(len ? len : 1)) == NULL) {
        return CKR_HOST_MEMORY;
    }
    if (len > 0) {
        memcpy(copy, val, len);
    }
    if (cur == NULL) {
        if (a->n == a->cap) {
            size_t ncap = a->cap ? a->cap * 2 : 16;
            struct qt_attr *v = realloc(a->v, ncap * sizeof(*v));

            if (v == NULL) {
                free(copy);
                return CKR_HOST_MEMORY;
            }
            a->v = v;
            a->cap = ncap;
        }
        cur = &a->v[a->n++];
        cur->type = type;
    } else if (cur->val != NULL) {
        qt_wipe(cur->val, cur->len);
        free(cur->val);
    }
    cur->val = copy;
    cur->len = len;
    return CKR_OK;
}

CK_RV
qt_attrs_set_bool(struct qt_attrs *a, CK_ATTRIBUTE_TYPE type, int v)
{
    CK_BBOOL b = v ? CK_TRUE : CK_FALSE;

    return qt_attrs_set(a, type, &b, sizeof(b));
}

CK_RV
qt_attrs_set_ulong(struct qt_attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
    return qt_attrs_set(a, type, &v, sizeof(v));
}

void
qt_attrs_del(struct qt_attrs *a, CK_ATTRIBUTE_TYPE type)
{
    struct qt_attr *cur = find_mut(a, type);

    if (cur == NULL) {
        return;
    }
    if (cur->val != NULL) {
        qt_wipe(cur->val, cur->len);
        free(cur->val);
    }
    *cur = a->v[--a->n];
}

int
qt_attrs_bool(const struct qt_attrs *a, CK_ATTRIBUTE_TYPE type, int dflt)
{
    const struct qt_attr *x = qt_attrs_find(a, type);

    if (x == NULL || x->len != sizeof(CK_BBOOL)) {
        return dflt;
    }
    return x->val[0] != CK_FALSE;
}

int
qt_attrs_ulong(const struct qt_attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG *v)
{
    const struct qt_attr *x = qt_attrs_find(a, type);

    if (x == NULL || x->len != sizeof(CK_ULONG)) {
        return 0;
    }
    memcpy(v, x->val, sizeof(*v));
    return 1;
}

CK_ULONG
qt_attrs_class(const struct qt_attrs *a)
{
    CK_ULONG v = CK_UNAVAILABLE_INFORMATION;

    (void)qt_attrs_ulong(a, CKA_CLASS, &v);
    return v;
}

CK_ULONG
qt_attrs_key_type(const struct qt_attrs *a)
{
    CK_ULONG v = CK_UNAVAILABLE_INFORMATION;

    (void)qt_attrs_ulong(a, CKA_KEY_TYPE, &v);
    return v;
}

CK_RV
qt_attrs_copy(struct qt_attrs *dst, const struct qt_attrs *src)
{
    CK_RV rv = CKR_OK;

    qt_attrs_init(dst);
    for (size_t i = 0; i < src->n && rv == CKR_OK; i++) {
        rv = qt_attrs_set(dst, src->v[i].type, src->v[i].val, src->v[i].len);
    }
    if (rv != CKR_OK) {
        qt_attrs_clear(dst);
    }
    return rv;
}
