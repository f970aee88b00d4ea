/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 3.0 5.11 and 5.12: signatures and MACs, and their verification,
 * single- and multi-part (mechanisms the spec makes single-part refuse
 * the Update and Final calls).
 * The operation rules and the Init checks are in op.c.
 */
#include "op.h"

/* ---- sign / verify ----------------------------------------------------- */

static CK_RV
sign_single(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR sig,
            CK_ULONG_PTR siglen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    size_t need, n;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_opctx_enter_call(h, QT_OP_SIGN, 0, (in != NULL || inlen == 0) && siglen != NULL,
                                  &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    need = qt_crypto_sign_len(c->sign);
    if (sig == NULL || *siglen < need) {
        /* the data is not fed until the call that produces the signature */
        rv = qt_out_len(sig, siglen, need);
        op->stage = QT_STAGE_SINGLE;
        goto out;
    }
    n = (size_t)*siglen;
    if ((rc = qt_crypto_sign_update(c->sign, in, (size_t)inlen)) == QT_OK) {
        rc = qt_crypto_sign_final(c->sign, sig, &n);
    }
    if (rc == QT_OK) {
        *siglen = (CK_ULONG)n;
    }
    rv = qt_opctx_after(op, qt_opctx_sig_rv(rc), 0);
out:
    qt_opctx_leave(s);
    return rv;
}

static CK_RV
sv_update(CK_SESSION_HANDLE h, enum qt_op_kind kind, CK_BYTE_PTR in, CK_ULONG inlen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    CK_RV rv;

    if ((rv = qt_opctx_enter_call(h, kind, 1, in != NULL || inlen == 0, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    op->stage = QT_STAGE_UPDATE;
    rv = qt_opctx_after(op, qt_opctx_sig_rv(qt_crypto_sign_update(c->sign, in, (size_t)inlen)), 1);
    qt_opctx_leave(s);
    return rv;
}

static CK_RV
sign_final(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    size_t n;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_opctx_enter_call(h, QT_OP_SIGN, 1, siglen != NULL, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    n = sig == NULL ? 0 : (size_t)*siglen;
    rc = qt_crypto_sign_final(c->sign, sig, &n);
    if (rc == QT_OK || rc == QT_E_BUFFER_TOO_SMALL) {
        *siglen = (CK_ULONG)n;
    }
    rv = qt_opctx_after(op, qt_opctx_sig_rv(rc), sig == NULL);
    qt_opctx_leave(s);
    return rv;
}

/* The end of every verification: the signature's length, then the check;
 * the operation ends either way. */
static CK_RV
verify_end(struct qt_op *op, struct op_ctx *c, CK_BYTE_PTR sig, CK_ULONG siglen)
{
    if ((size_t)siglen != qt_crypto_sign_len(c->sign)) {
        return qt_opctx_after(op, CKR_SIGNATURE_LEN_RANGE, 0);
    }
    return qt_opctx_after(op, qt_opctx_sig_rv(qt_crypto_verify_final(c->sign, sig, (size_t)siglen)),
                          0);
}

static CK_RV
verify_single(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR sig,
              CK_ULONG siglen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_opctx_enter_call(h, QT_OP_VERIFY, 0, (in != NULL || inlen == 0) && sig != NULL, &s,
                                  &op, &c)) != CKR_OK) {
        return rv;
    }
    if ((rc = qt_crypto_sign_update(c->sign, in, (size_t)inlen)) != QT_OK) {
        rv = qt_opctx_after(op, qt_opctx_sig_rv(rc), 0);
        goto out;
    }
    rv = verify_end(op, c, sig, siglen);
out:
    qt_opctx_leave(s);
    return rv;
}

static CK_RV
verify_final(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    CK_RV rv;

    if ((rv = qt_opctx_enter_call(h, QT_OP_VERIFY, 1, sig != NULL, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    rv = verify_end(op, c, sig, siglen);
    qt_opctx_leave(s);
    return rv;
}

CK_RV
qt_C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    ENTRY("C_SignInit", qt_opctx_init, hSession, QT_OP_SIGN, pMechanism, hKey);
}

CK_RV
qt_C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
          CK_ULONG_PTR pulSignatureLen)
{
    ENTRY("C_Sign", sign_single, hSession, pData, ulDataLen, pSignature, pulSignatureLen);
}

CK_RV
qt_C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    ENTRY("C_SignUpdate", sv_update, hSession, QT_OP_SIGN, pPart, ulPartLen);
}

CK_RV
qt_C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    ENTRY("C_SignFinal", sign_final, hSession, pSignature, pulSignatureLen);
}

CK_RV
qt_C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    ENTRY("C_VerifyInit", qt_opctx_init, hSession, QT_OP_VERIFY, pMechanism, hKey);
}

CK_RV
qt_C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
            CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    ENTRY("C_Verify", verify_single, hSession, pData, ulDataLen, pSignature, ulSignatureLen);
}

CK_RV
qt_C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    ENTRY("C_VerifyUpdate", sv_update, hSession, QT_OP_VERIFY, pPart, ulPartLen);
}

CK_RV
qt_C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    ENTRY("C_VerifyFinal", verify_final, hSession, pSignature, ulSignatureLen);
}
