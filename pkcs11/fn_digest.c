/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 3.0 5.10: message digests (C_DigestKey digests the value of a
 * secret key that may be revealed).
 * The operation rules and the Init checks are in op.c.
 */
#include "op.h"

/* ---- digest ------------------------------------------------------------ */

static CK_RV
digest_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech)
{
    return qt_opctx_init(h, QT_OP_DIGEST, mech, CK_INVALID_HANDLE);
}

static CK_RV
digest_single(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,
              CK_ULONG_PTR outlen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    size_t need, n;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_opctx_enter_call(h, QT_OP_DIGEST, 0, (in != NULL || inlen == 0) && outlen != NULL,
                                  &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    need = qt_crypto_hash_len(qt_params_hash_of_mech(op->mech));
    if (out == NULL || *outlen < need) {
        rv = qt_out_len(out, outlen, need);
        op->stage = QT_STAGE_SINGLE;
        goto out;
    }
    n = (size_t)*outlen;
    if ((rc = qt_crypto_digest_update(c->digest, in, (size_t)inlen)) == QT_OK) {
        rc = qt_crypto_digest_final(c->digest, out, &n);
    }
    if (rc == QT_OK) {
        *outlen = (CK_ULONG)n;
    }
    rv = qt_opctx_after(op, qt_opctx_sig_rv(rc), 0);
out:
    qt_opctx_leave(s);
    return rv;
}

static CK_RV
digest_update(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    CK_RV rv;

    if ((rv = qt_opctx_enter_call(h, QT_OP_DIGEST, 1, in != NULL || inlen == 0, &s, &op, &c)) !=
        CKR_OK) {
        return rv;
    }
    op->stage = QT_STAGE_UPDATE;
    rv = qt_opctx_after(op, qt_opctx_sig_rv(qt_crypto_digest_update(c->digest, in, (size_t)inlen)),
                        1);
    qt_opctx_leave(s);
    return rv;
}

static CK_RV
digest_key(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE hk)
{
    struct qt_session *s, *locked = NULL;
    struct qt_object *o;
    const struct qt_attr *v;
    struct op_ctx *c;
    struct qt_op *op;
    struct qt_attrs a;
    CK_RV rv;

    qt_attrs_init(&a);
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    qt_session_ops_lock(s);
    locked = s;
    op = &s->ops[QT_OP_DIGEST];
    c = op->ctx;
    if (op->stage == QT_STAGE_NONE) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
        goto out;
    }
    if (op->stage == QT_STAGE_SINGLE) {
        rv = qt_opctx_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
    }
    if (qt_object_get_inlock(s, hk, &o) != CKR_OK || qt_object_attrs_inlock(o, &a) != CKR_OK) {
        rv = qt_opctx_after(op, CKR_KEY_HANDLE_INVALID, 0);
        goto out;
    }
    /* only the value of a secret key that may be revealed can be digested */
    if (qt_attrs_class(&a) != CKO_SECRET_KEY || qt_attr_is_sensitive(&a, CKA_VALUE) ||
        (v = qt_attrs_find(&a, CKA_VALUE)) == NULL) {
        rv = qt_opctx_after(op, CKR_KEY_INDIGESTIBLE, 0);
        goto out;
    }
    op->stage = QT_STAGE_UPDATE;
    rv = qt_opctx_after(op, qt_opctx_sig_rv(qt_crypto_digest_update(c->digest, v->val, v->len)), 1);
out:
    if (locked != NULL) {
        qt_session_ops_unlock(locked);
    }
    qt_attrs_clear(&a);
    qt_unlock();
    return rv;
}

static CK_RV
digest_final(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    size_t n;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_opctx_enter_call(h, QT_OP_DIGEST, 1, outlen != NULL, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    n = out == NULL ? 0 : (size_t)*outlen;
    rc = qt_crypto_digest_final(c->digest, out, &n);
    if (rc == QT_OK || rc == QT_E_BUFFER_TOO_SMALL) {
        *outlen = (CK_ULONG)n;
    }
    rv = qt_opctx_after(op, qt_opctx_sig_rv(rc), out == NULL);
    qt_opctx_leave(s);
    return rv;
}

CK_RV
qt_C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
    ENTRY("C_DigestInit", digest_init, hSession, pMechanism);
}

CK_RV
qt_C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest,
            CK_ULONG_PTR pulDigestLen)
{
    ENTRY("C_Digest", digest_single, hSession, pData, ulDataLen, pDigest, pulDigestLen);
}

CK_RV
qt_C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    ENTRY("C_DigestUpdate", digest_update, hSession, pPart, ulPartLen);
}

CK_RV
qt_C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
    ENTRY("C_DigestKey", digest_key, hSession, hKey);
}

CK_RV
qt_C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
    ENTRY("C_DigestFinal", digest_final, hSession, pDigest, pulDigestLen);
}
