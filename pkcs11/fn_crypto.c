/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 3.0 5.8 and 5.9: encryption and decryption, single- and
 * multi-part, on the crypto room's cipher contexts.
 * The operation rules and the Init checks are in op.c.
 */
#include "op.h"

/* ---- encrypt / decrypt ------------------------------------------------- */

static CK_RV
cipher_single(CK_SESSION_HANDLE h, enum qt_op_kind kind, CK_BYTE_PTR in, CK_ULONG inlen,
              CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    size_t n;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_opctx_enter_call(h, kind, 0, (in != NULL || inlen == 0) && outlen != NULL, &s, &op,
                                  &c)) != CKR_OK) {
        return rv;
    }
    n = out == NULL ? 0 : (size_t)*outlen;
    rc = qt_crypto_cipher_oneshot(c->cipher, in, (size_t)inlen, out, &n);
    if (rc == QT_OK || rc == QT_E_BUFFER_TOO_SMALL) {
        *outlen = (CK_ULONG)n;
    }
    if (rc == QT_OK && out == NULL) {
        op->stage = QT_STAGE_SINGLE; /* a length query: the operation goes on */
        goto out;
    }
    rv = qt_opctx_after(op, qt_opctx_enc_rv(rc, kind == QT_OP_ENCRYPT), 0);
    if (rv == CKR_BUFFER_TOO_SMALL) {
        op->stage = QT_STAGE_SINGLE;
    }
out:
    qt_opctx_leave(s);
    return rv;
}

static CK_RV
cipher_update(CK_SESSION_HANDLE h, enum qt_op_kind kind, CK_BYTE_PTR in, CK_ULONG inlen,
              CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    size_t n;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_opctx_enter_call(h, kind, 1, (in != NULL || inlen == 0) && outlen != NULL, &s, &op,
                                  &c)) != CKR_OK) {
        return rv;
    }
    n = out == NULL ? 0 : (size_t)*outlen;
    rc = qt_crypto_cipher_update(c->cipher, in, (size_t)inlen, out, &n);
    if (rc == QT_OK || rc == QT_E_BUFFER_TOO_SMALL) {
        *outlen = (CK_ULONG)n;
    }
    if (rc == QT_OK && out != NULL) {
        op->stage = QT_STAGE_UPDATE;
    }
    rv = qt_opctx_after(op, qt_opctx_enc_rv(rc, kind == QT_OP_ENCRYPT), 1);
    qt_opctx_leave(s);
    return rv;
}

static CK_RV
cipher_final(CK_SESSION_HANDLE h, enum qt_op_kind kind, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    size_t n;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_opctx_enter_call(h, kind, 1, outlen != NULL, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    n = out == NULL ? 0 : (size_t)*outlen;
    rc = qt_crypto_cipher_final(c->cipher, out, &n);
    if (rc == QT_OK || rc == QT_E_BUFFER_TOO_SMALL) {
        *outlen = (CK_ULONG)n;
    }
    if (rc == QT_OK && out == NULL) {
        op->stage = QT_STAGE_UPDATE;
        goto out;
    }
    rv = qt_opctx_after(op, qt_opctx_enc_rv(rc, kind == QT_OP_ENCRYPT), 0);
out:
    qt_opctx_leave(s);
    return rv;
}

CK_RV
qt_C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    ENTRY("C_EncryptInit", qt_opctx_init, hSession, QT_OP_ENCRYPT, pMechanism, hKey);
}

CK_RV
qt_C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
             CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen)
{
    ENTRY("C_Encrypt", cipher_single, hSession, QT_OP_ENCRYPT, pData, ulDataLen, pEncryptedData,
          pulEncryptedDataLen);
}

CK_RV
qt_C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                   CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
    ENTRY("C_EncryptUpdate", cipher_update, hSession, QT_OP_ENCRYPT, pPart, ulPartLen,
          pEncryptedPart, pulEncryptedPartLen);
}

CK_RV
qt_C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
                  CK_ULONG_PTR pulLastEncryptedPartLen)
{
    ENTRY("C_EncryptFinal", cipher_final, hSession, QT_OP_ENCRYPT, pLastEncryptedPart,
          pulLastEncryptedPartLen);
}

CK_RV
qt_C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    ENTRY("C_DecryptInit", qt_opctx_init, hSession, QT_OP_DECRYPT, pMechanism, hKey);
}

CK_RV
qt_C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
             CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
    ENTRY("C_Decrypt", cipher_single, hSession, QT_OP_DECRYPT, pEncryptedData, ulEncryptedDataLen,
          pData, pulDataLen);
}

CK_RV
qt_C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                   CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
    ENTRY("C_DecryptUpdate", cipher_update, hSession, QT_OP_DECRYPT, pEncryptedPart,
          ulEncryptedPartLen, pPart, pulPartLen);
}

CK_RV
qt_C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen)
{
    ENTRY("C_DecryptFinal", cipher_final, hSession, QT_OP_DECRYPT, pLastPart, pulLastPartLen);
}
