/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 3.0 5.7 "Object management functions": create, copy, destroy,
 * size, attribute read and write, and search.  The attribute rules are in
 * attr.c, storage and visibility in object.c; this file is the state checks
 * and the glue.  A search is a snapshot taken at C_FindObjectsInit.
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

/* ---- C_CreateObject ---------------------------------------------------- */

static CK_RV
create_object(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
    struct qt_session *s;
    struct qt_attrs a;
    OSSL_LIB_CTX *lc;
    CK_RV rv;

    qt_attrs_init(&a);
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if ((tmpl == NULL && n > 0) || out == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = qt_attr_build(QT_ORIGIN_CREATE, NULL, tmpl, n, so_session(s), &a)) != CKR_OK) {
        goto out;
    }
    if ((rv = qt_attr_finish_key(&a, QT_ORIGIN_CREATE, CK_UNAVAILABLE_INFORMATION)) != CKR_OK) {
        goto out;
    }
    if (qt_attrs_class(&a) == CKO_PUBLIC_KEY || qt_attrs_class(&a) == CKO_PRIVATE_KEY ||
        qt_attrs_class(&a) == CKO_SECRET_KEY) {
        if ((rv = qt_key_libctx_inlock(&lc)) != CKR_OK ||
            (rv = qt_key_complete_import(lc, &a)) != CKR_OK) {
            goto out;
        }
        rv = qt_object_create_event_inlock(s, &a, QT_EVENT_KEY_IMPORT, CK_UNAVAILABLE_INFORMATION,
                                           out);
        goto out;
    }
    rv = qt_object_create_inlock(s, &a, out);
out:
    qt_attrs_clear(&a);
    qt_unlock();
    return rv;
}

CK_RV
qt_C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                  CK_OBJECT_HANDLE_PTR phObject)
{
    QT_ENTRY("C_CreateObject", create_object(hSession, pTemplate, ulCount, phObject),
             "session=%lu count=%lu", (unsigned long)hSession, (unsigned long)ulCount);
}

/* ---- C_CopyObject ------------------------------------------------------ */

static CK_RV
copy_object(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE src, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
            CK_OBJECT_HANDLE_PTR out)
{
    struct qt_attrs cur, next;
    struct qt_session *s;
    struct qt_object *o;
    CK_RV rv;

    qt_attrs_init(&cur);
    qt_attrs_init(&next);
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if ((tmpl == NULL && n > 0) || out == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = qt_object_get_inlock(s, src, &o)) != CKR_OK ||
        (rv = qt_object_attrs_inlock(o, &cur)) != CKR_OK) {
        goto out;
    }
    if (!qt_attrs_bool(&cur, CKA_COPYABLE, 1)) {
        rv = CKR_ACTION_PROHIBITED;
        goto out;
    }
    if ((rv = qt_attr_modify(&cur, tmpl, n, 1, so_session(s), &next)) != CKR_OK) {
        goto out;
    }
    rv = qt_object_create_inlock(s, &next, out);
out:
    qt_attrs_clear(&cur);
    qt_attrs_clear(&next);
    qt_unlock();
    return rv;
}

CK_RV
qt_C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject)
{
    QT_ENTRY("C_CopyObject", copy_object(hSession, hObject, pTemplate, ulCount, phNewObject),
             "session=%lu object=%lu", (unsigned long)hSession, (unsigned long)hObject);
}

/* ---- C_DestroyObject --------------------------------------------------- */

static CK_RV
destroy_object(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh)
{
    struct qt_session *s;
    struct qt_object *o;
    struct qt_attrs cur;
    struct qt_slot *slot;
    int token, key;
    CK_RV rv;
    qt_rc rc;

    qt_attrs_init(&cur);
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if ((rv = qt_object_get_inlock(s, oh, &o)) != CKR_OK ||
        (rv = qt_object_attrs_inlock(o, &cur)) != CKR_OK) {
        goto out;
    }
    if ((rv = qt_object_writable_inlock(s, o)) != CKR_OK) {
        goto out;
    }
    if (!qt_attrs_bool(&cur, CKA_DESTROYABLE, 1)) {
        rv = CKR_ACTION_PROHIBITED;
        goto out;
    }
    slot = o->slot;
    token = o->owner == 0;
    key = qt_attrs_class(&cur) == CKO_PRIVATE_KEY || qt_attrs_class(&cur) == CKO_SECRET_KEY ||
          qt_attrs_class(&cur) == CKO_PUBLIC_KEY;
    if (!token || !key) {
        rv = qt_object_destroy_inlock(o);
        goto out;
    }
    /* a token key: the destruction and its attestation record commit together */
    if ((rc = qt_ks_txn_begin(slot->tok)) != QT_OK) {
        rv = qt_rv(rc);
        goto out;
    }
    if ((rc = qt_event_record(slot, QT_EVENT_KEY_DESTROY, CK_UNAVAILABLE_INFORMATION, &cur)) !=
            QT_OK ||
        (rv = qt_object_destroy_inlock(o)) != CKR_OK) {
        qt_ks_txn_rollback(slot->tok);
        rv = rc != QT_OK ? qt_rv(rc) : rv;
        goto out;
    }
    rv = qt_rv(qt_ks_txn_commit(slot->tok));
out:
    qt_attrs_clear(&cur);
    qt_unlock();
    return rv;
}

CK_RV
qt_C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
    QT_ENTRY("C_DestroyObject", destroy_object(hSession, hObject), "session=%lu object=%lu",
             (unsigned long)hSession, (unsigned long)hObject);
}

/* ---- C_GetObjectSize --------------------------------------------------- */

static CK_RV
object_size(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ULONG_PTR size)
{
    struct qt_session *s;
    struct qt_object *o;
    const struct qt_attrs *cur;
    CK_ULONG total = 0;
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (size == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = qt_object_get_inlock(s, oh, &o)) != CKR_OK ||
        (rv = qt_object_attrs_ref_inlock(o, &cur)) != CKR_OK) {
        goto out;
    }
    /* an approximation of the storage it takes: every attribute's value and type */
    for (size_t i = 0; i < cur->n; i++) {
        total += (CK_ULONG)(cur->v[i].len + sizeof(CK_ATTRIBUTE_TYPE) + sizeof(CK_ULONG));
    }
    *size = total;
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
    QT_ENTRY("C_GetObjectSize", object_size(hSession, hObject, pulSize), "session=%lu object=%lu",
             (unsigned long)hSession, (unsigned long)hObject);
}

/* ---- C_GetAttributeValue / C_SetAttributeValue ------------------------ */

static CK_RV
get_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    struct qt_session *s;
    struct qt_object *o;
    const struct qt_attrs *cur;
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (tmpl == NULL && n > 0) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    /* read in place under the lock: no copy of every attribute (secrets
     * included) per call */
    if ((rv = qt_object_get_inlock(s, oh, &o)) != CKR_OK ||
        (rv = qt_object_attrs_ref_inlock(o, &cur)) != CKR_OK) {
        goto out;
    }
    rv = qt_attr_get(cur, tmpl, n);
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                       CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    QT_ENTRY("C_GetAttributeValue", get_attribute_value(hSession, hObject, pTemplate, ulCount),
             "session=%lu object=%lu count=%lu", (unsigned long)hSession, (unsigned long)hObject,
             (unsigned long)ulCount);
}

static CK_RV
set_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    struct qt_attrs cur, next;
    struct qt_session *s;
    struct qt_object *o;
    CK_RV rv;

    qt_attrs_init(&cur);
    qt_attrs_init(&next);
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (tmpl == NULL && n > 0) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = qt_object_get_inlock(s, oh, &o)) != CKR_OK ||
        (rv = qt_object_attrs_inlock(o, &cur)) != CKR_OK) {
        goto out;
    }
    if ((rv = qt_object_writable_inlock(s, o)) != CKR_OK) {
        goto out;
    }
    if (!qt_attrs_bool(&cur, CKA_MODIFIABLE, 1)) {
        rv = CKR_ACTION_PROHIBITED;
        goto out;
    }
    if ((rv = qt_attr_modify(&cur, tmpl, n, 0, so_session(s), &next)) != CKR_OK) {
        goto out;
    }
    rv = qt_object_update_inlock(o, &next);
out:
    qt_attrs_clear(&cur);
    qt_attrs_clear(&next);
    qt_unlock();
    return rv;
}

CK_RV
qt_C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                       CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    QT_ENTRY("C_SetAttributeValue", set_attribute_value(hSession, hObject, pTemplate, ulCount),
             "session=%lu object=%lu count=%lu", (unsigned long)hSession, (unsigned long)hObject,
             (unsigned long)ulCount);
}

/* ---- C_FindObjects* ---------------------------------------------------- */

struct find_state {
    CK_OBJECT_HANDLE *h;
    size_t n, pos;
};

static void
find_state_free(void *p)
{
    struct find_state *f = p;

    free(f->h);
    free(f);
}

static CK_RV
find_init(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    struct find_state *f = NULL;
    struct qt_session *s, *locked = NULL;
    struct qt_op *op;
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (tmpl == NULL && n > 0) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    qt_session_ops_lock(s);
    locked = s;
    if ((rv = qt_op_begin(s, QT_OP_FIND, &op)) != CKR_OK) {
        goto out;
    }
    if ((rv = qt_attr_template_check(tmpl, n)) != CKR_OK) {
        goto out;
    }
    if ((f = calloc(1, sizeof(*f))) == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if ((rv = qt_object_find_inlock(s, tmpl, n, &f->h, &f->n)) != CKR_OK) {
        goto out;
    }
    op->stage = QT_STAGE_INIT;
    op->ctx = f;
    op->free_ctx = find_state_free;
    f = NULL;
out:
    if (locked != NULL) {
        qt_session_ops_unlock(locked);
    }
    free(f);
    qt_unlock();
    return rv;
}

CK_RV
qt_C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    QT_ENTRY("C_FindObjectsInit", find_init(hSession, pTemplate, ulCount), "session=%lu count=%lu",
             (unsigned long)hSession, (unsigned long)ulCount);
}

static CK_RV
find_objects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count)
{
    struct qt_session *s;
    struct find_state *f;
    CK_ULONG k = 0;
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if ((out == NULL && max > 0) || count == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    qt_session_ops_lock(s);
    if (s->ops[QT_OP_FIND].stage == QT_STAGE_NONE) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else {
        f = s->ops[QT_OP_FIND].ctx;
        while (k < max && f->pos < f->n) {
            out[k++] = f->h[f->pos++];
        }
        *count = k;
    }
    qt_session_ops_unlock(s);
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                 CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
    QT_ENTRY("C_FindObjects", find_objects(hSession, phObject, ulMaxObjectCount, pulObjectCount),
             "session=%lu max=%lu", (unsigned long)hSession, (unsigned long)ulMaxObjectCount);
}

static CK_RV
find_final(CK_SESSION_HANDLE h)
{
    struct qt_session *s;
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    qt_session_ops_lock(s);
    if (s->ops[QT_OP_FIND].stage == QT_STAGE_NONE) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else {
        qt_op_end(&s->ops[QT_OP_FIND]);
    }
    qt_session_ops_unlock(s);
out:
    qt_unlock();
    return rv;
}

CK_RV
qt_C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
    QT_ENTRY("C_FindObjectsFinal", find_final(hSession), "session=%lu", (unsigned long)hSession);
}
