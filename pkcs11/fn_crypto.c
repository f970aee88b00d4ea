/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 3.0 5.8-5.13: encryption, decryption, message digests, signatures
 * and MACs, verification.  One operation of each kind per session
 * (struct qt_op), holding the crypto room's context and a reference to the
 * key, so the key outlives the operation even if its object is destroyed.
 *
 * Operation rules (PKCS#11 3.0 5.2 and the per-function text):
*  - An Init call while that operation is active: CKR_OPERATION_ACTIVE.
 *  - Any call that fails ends the operation, except CKR_BUFFER_TOO_SMALL
 *    and a successful length query (output pointer NULL).
 *  - A single-part call after an update, or an update/final after a
 *    single-part length query, mixes the two styles: CKR_OPERATION_ACTIVE.
 *  - Mechanisms the spec makes single-part only (raw RSA, raw ECDSA, EdDSA,
 *    OAEP, raw PSS, key wrap) refuse the Update and Final calls with
 *    CKR_FUNCTION_NOT_SUPPORTED.
 */
#include <stdlib.h>
#include <string.h>
#include "../src/common/log.h"
#include "fn.h"
#include "key.h"

struct op_ctx {
    struct qt_crypto_sign *sign;
    struct qt_crypto_cipher *cipher;
    struct qt_crypto_digest *digest;
    struct qt_key_ref *key;
    int single_only;
};

static void
op_ctx_free(void *p)
{
    struct op_ctx *c = p;

    if (c == NULL) {
        return;
    }
    qt_crypto_sign_free(c->sign);
    qt_crypto_cipher_free(c->cipher);
    qt_crypto_digest_free(c->digest);
    qt_key_ref_put(c->key);
    free(c);
}

static int
single_part_only(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_RSA_PKCS:
    case CKM_RSA_X_509:
    case CKM_RSA_PKCS_PSS:
    case CKM_RSA_PKCS_OAEP:
    case CKM_ECDSA:
    case CKM_EDDSA:
    case CKM_AES_KEY_WRAP:
    case CKM_AES_KEY_WRAP_PAD:
        return 1;
    default:
        return 0;
    }
}

static CK_FLAGS
kind_flag(enum qt_op_kind k)
{
    switch (k) {
    case QT_OP_ENCRYPT:
        return CKF_ENCRYPT;
    case QT_OP_DECRYPT:
        return CKF_DECRYPT;
    case QT_OP_SIGN:
        return CKF_SIGN;
    case QT_OP_VERIFY:
        return CKF_VERIFY;
    default:
        return CKF_DIGEST;
    }
}

static CK_ATTRIBUTE_TYPE
kind_usage(enum qt_op_kind k)
{
    switch (k) {
    case QT_OP_ENCRYPT:
        return CKA_ENCRYPT;
    case QT_OP_DECRYPT:
        return CKA_DECRYPT;
    case QT_OP_SIGN:
        return CKA_SIGN;
    default:
        return CKA_VERIFY;
    }
}

/* Which key classes an operation takes: secret keys for symmetric
 * mechanisms, public keys to encrypt/verify, private keys to decrypt/sign. */
static int
class_fits(enum qt_op_kind k, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt)
{
    if (kt == CKK_AES || kt == CKK_GENERIC_SECRET) {
        return cls == CKO_SECRET_KEY;
    }
    if (k == QT_OP_ENCRYPT || k == QT_OP_VERIFY) {
        return cls == CKO_PUBLIC_KEY;
    }
    return cls == CKO_PRIVATE_KEY;
}

/* ---- *Init ------------------------------------------------------------- */

static CK_RV
op_init(CK_SESSION_HANDLE h, enum qt_op_kind kind, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE hk)
{
    const struct qt_mech_info *mi;
    struct qt_crypto_mech m;
    struct op_ctx *c = NULL;
    struct qt_session *s, *locked = NULL;
    struct qt_object *o;
    struct qt_attrs a;
    struct qt_op *op;
    CK_RV rv;
    qt_rc rc;

    qt_attrs_init(&a);
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (mech == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    qt_session_ops_lock(s);
    locked = s;
    if ((rv = qt_op_begin(s, kind, &op)) != CKR_OK) {
        goto out;
    }
    if ((mi = qt_mech_find(mech->mechanism)) == NULL || !(mi->flags & kind_flag(kind))) {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    c->single_only = single_part_only(mech->mechanism);
    if (kind == QT_OP_DIGEST) {
        OSSL_LIB_CTX *lc;

        if (mech->ulParameterLen != 0) {
            rv = CKR_MECHANISM_PARAM_INVALID;
            goto out;
        }
        if ((rv = qt_key_libctx_inlock(&lc)) != CKR_OK) {
            goto out;
        }
        rc = qt_crypto_digest_new(lc, qt_params_hash_of_mech(mech->mechanism), &c->digest);
        if (rc != QT_OK) {
            rv = qt_rv(rc);
            goto out;
        }
    } else {
        CK_KEY_TYPE want = qt_mech_key_type(mech->mechanism);

        if ((rv = qt_params_map(mech, &m)) != CKR_OK) {
            goto out;
        }
        if (qt_object_get_inlock(s, hk, &o) != CKR_OK ||
            qt_object_attrs_inlock(o, &a) != CKR_OK) {
            rv = CKR_KEY_HANDLE_INVALID;
            goto out;
        }
        if (qt_attrs_class(&a) != CKO_PUBLIC_KEY && qt_attrs_class(&a) != CKO_PRIVATE_KEY &&
            qt_attrs_class(&a) != CKO_SECRET_KEY) {
            rv = CKR_KEY_HANDLE_INVALID; /* not a key at all */
            goto out;
        }
        if (qt_attrs_key_type(&a) != want || !class_fits(kind, qt_attrs_class(&a), want)) {
            rv = CKR_KEY_TYPE_INCONSISTENT;
            goto out;
        }
        if (!qt_attrs_bool(&a, kind_usage(kind), 0)) {
            rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
            goto out;
        }
        if (!qt_mech_allowed(&a, mech->mechanism)) {
            rv = CKR_MECHANISM_INVALID; /* CKA_ALLOWED_MECHANISMS */
            goto out;
        }
        if ((rv = qt_key_get_inlock(o, &a, &c->key)) != CKR_OK) {
            goto out;
        }
        if (kind == QT_OP_SIGN || kind == QT_OP_VERIFY) {
            rc = qt_crypto_sign_new(&m, c->key->key, kind == QT_OP_VERIFY, &c->sign);
        } else {
            rc = qt_crypto_cipher_new(&m, c->key->key, kind == QT_OP_ENCRYPT, &c->cipher);
        }
        if (rc != QT_OK) {
            rv = rc == QT_E_ARG     ? CKR_MECHANISM_PARAM_INVALID
                 : rc == QT_E_RANGE ? CKR_KEY_SIZE_RANGE
                                    : qt_rv(rc);
            goto out;
        }
    }
    op->stage = QT_STAGE_INIT;
    op->mech = mech->mechanism;
    op->key = hk;
    op->ctx = c;
    op->free_ctx = op_ctx_free;
    c = NULL;
out:
    if (locked != NULL) {
        qt_session_ops_unlock(locked);
    }
    op_ctx_free(c);
    qt_attrs_clear(&a);
    qt_unlock();
    return rv;
}

/* Looks up session h's active operation of `kind` and takes the session's
 * operation lock, then drops the module lock: the data calls run with only
 * the session locked (p11.h, lock order).  Release with op_leave. */
static CK_RV
op_enter(CK_SESSION_HANDLE h, enum qt_op_kind kind, struct qt_session **s, struct qt_op **op,
         struct op_ctx **c)
{
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, s)) == CKR_OK) {
        qt_session_ops_lock(*s);
        if ((*s)->ops[kind].stage == QT_STAGE_NONE) {
            qt_session_ops_unlock(*s);
            rv = CKR_OPERATION_NOT_INITIALIZED;
        } else {
            *op = &(*s)->ops[kind];
            *c = (*op)->ctx;
        }
    }
    qt_unlock();
    return rv;
}

static void
op_leave(struct qt_session *s)
{
    qt_session_ops_unlock(s);
}

/* Ends the operation unless the result keeps it (5.2). */
static CK_RV
op_after(struct qt_op *op, CK_RV rv, int keep)
{
    if (!(rv == CKR_OK && keep) && rv != CKR_BUFFER_TOO_SMALL) {
        qt_op_end(op);
    }
    return rv;
}

/* ---- data-path error maps ---------------------------------------------- */

static CK_RV
enc_rv(qt_rc rc, int encrypt)
{
    switch (rc) {
    case QT_OK:
        return CKR_OK;
    case QT_E_BUFFER_TOO_SMALL:
        return CKR_BUFFER_TOO_SMALL;
    case QT_E_RANGE:
        return encrypt ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
    case QT_E_FORMAT:
    case QT_E_SIGNATURE:
        return encrypt ? CKR_DATA_INVALID : CKR_ENCRYPTED_DATA_INVALID;
    case QT_E_STATE:
        return CKR_OPERATION_ACTIVE;
    case QT_E_UNSUPPORTED:
        return CKR_FUNCTION_NOT_SUPPORTED;
    default:
        return qt_rv(rc);
    }
}

static CK_RV
sig_rv(qt_rc rc)
{
    switch (rc) {
    case QT_OK:
        return CKR_OK;
    case QT_E_BUFFER_TOO_SMALL:
        return CKR_BUFFER_TOO_SMALL;
    case QT_E_RANGE:
        return CKR_DATA_LEN_RANGE;
    case QT_E_SIGNATURE:
        return CKR_SIGNATURE_INVALID;
    case QT_E_FORMAT:
        return CKR_DATA_INVALID;
    case QT_E_STATE:
        return CKR_OPERATION_ACTIVE;
    default:
        return qt_rv(rc);
    }
}

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

    if ((rv = op_enter(h, kind, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    if ((in == NULL && inlen > 0) || outlen == NULL) {
        rv = op_after(op, CKR_ARGUMENTS_BAD, 0);
        goto out;
    }
    if (op->stage == QT_STAGE_UPDATE) {
        rv = op_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
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
    rv = op_after(op, enc_rv(rc, kind == QT_OP_ENCRYPT), 0);
    if (rv == CKR_BUFFER_TOO_SMALL) {
        op->stage = QT_STAGE_SINGLE;
    }
out:
    op_leave(s);
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

    if ((rv = op_enter(h, kind, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    if ((in == NULL && inlen > 0) || outlen == NULL) {
        rv = op_after(op, CKR_ARGUMENTS_BAD, 0);
        goto out;
    }
    if (c->single_only) {
        rv = op_after(op, CKR_FUNCTION_NOT_SUPPORTED, 0);
        goto out;
    }
    if (op->stage == QT_STAGE_SINGLE) {
        rv = op_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
    }
    n = out == NULL ? 0 : (size_t)*outlen;
    rc = qt_crypto_cipher_update(c->cipher, in, (size_t)inlen, out, &n);
    if (rc == QT_OK || rc == QT_E_BUFFER_TOO_SMALL) {
        *outlen = (CK_ULONG)n;
    }
    if (rc == QT_OK && out != NULL) {
        op->stage = QT_STAGE_UPDATE;
    }
    rv = op_after(op, enc_rv(rc, kind == QT_OP_ENCRYPT), 1);
out:
    op_leave(s);
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

    if ((rv = op_enter(h, kind, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    if (outlen == NULL) {
        rv = op_after(op, CKR_ARGUMENTS_BAD, 0);
        goto out;
    }
    if (c->single_only) {
        rv = op_after(op, CKR_FUNCTION_NOT_SUPPORTED, 0);
        goto out;
    }
    if (op->stage == QT_STAGE_SINGLE) {
        rv = op_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
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
    rv = op_after(op, enc_rv(rc, kind == QT_OP_ENCRYPT), 0);
out:
    op_leave(s);
    return rv;
}

#define ENTRY(name, call, ...)                                                                     \
    do {                                                                                           \
        CK_RV rv_;                                                                                 \
        qt_trace(name " session=%lu", (unsigned long)hSession);                                   \
        if ((rv_ = qt_module_check()) == CKR_OK) {                                                 \
            rv_ = call(__VA_ARGS__);                                                               \
        }                                                                                          \
        qt_trace(name " -> %s", qt_ckr_name(rv_));                                                 \
        return rv_;                                                                                \
    } while (0)

CK_RV
qt_C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    ENTRY("C_EncryptInit", op_init, hSession, QT_OP_ENCRYPT, pMechanism, hKey);
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
    ENTRY("C_DecryptInit", op_init, hSession, QT_OP_DECRYPT, pMechanism, hKey);
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

/* ---- digest ------------------------------------------------------------ */

static CK_RV
digest_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech)
{
    return op_init(h, QT_OP_DIGEST, mech, CK_INVALID_HANDLE);
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

    if ((rv = op_enter(h, QT_OP_DIGEST, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    if ((in == NULL && inlen > 0) || outlen == NULL) {
        rv = op_after(op, CKR_ARGUMENTS_BAD, 0);
        goto out;
    }
    if (op->stage == QT_STAGE_UPDATE) {
        rv = op_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
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
    rv = op_after(op, sig_rv(rc), 0);
out:
    op_leave(s);
    return rv;
}

static CK_RV
digest_update(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    CK_RV rv;

    if ((rv = op_enter(h, QT_OP_DIGEST, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    if (in == NULL && inlen > 0) {
        rv = op_after(op, CKR_ARGUMENTS_BAD, 0);
        goto out;
    }
    if (op->stage == QT_STAGE_SINGLE) {
        rv = op_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
    }
    op->stage = QT_STAGE_UPDATE;
    rv = op_after(op, sig_rv(qt_crypto_digest_update(c->digest, in, (size_t)inlen)), 1);
out:
    op_leave(s);
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
        rv = op_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
    }
    if (qt_object_get_inlock(s, hk, &o) != CKR_OK || qt_object_attrs_inlock(o, &a) != CKR_OK) {
        rv = op_after(op, CKR_KEY_HANDLE_INVALID, 0);
        goto out;
    }
    /* only the value of a secret key that may be revealed can be digested */
    if (qt_attrs_class(&a) != CKO_SECRET_KEY || qt_attr_is_sensitive(&a, CKA_VALUE) ||
        (v = qt_attrs_find(&a, CKA_VALUE)) == NULL) {
        rv = op_after(op, CKR_KEY_INDIGESTIBLE, 0);
        goto out;
    }
    op->stage = QT_STAGE_UPDATE;
    rv = op_after(op, sig_rv(qt_crypto_digest_update(c->digest, v->val, v->len)), 1);
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

    if ((rv = op_enter(h, QT_OP_DIGEST, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    if (outlen == NULL) {
        rv = op_after(op, CKR_ARGUMENTS_BAD, 0);
        goto out;
    }
    if (op->stage == QT_STAGE_SINGLE) {
        rv = op_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
    }
    n = out == NULL ? 0 : (size_t)*outlen;
    rc = qt_crypto_digest_final(c->digest, out, &n);
    if (rc == QT_OK || rc == QT_E_BUFFER_TOO_SMALL) {
        *outlen = (CK_ULONG)n;
    }
    rv = op_after(op, sig_rv(rc), out == NULL);
out:
    op_leave(s);
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

    if ((rv = op_enter(h, QT_OP_SIGN, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    if ((in == NULL && inlen > 0) || siglen == NULL) {
        rv = op_after(op, CKR_ARGUMENTS_BAD, 0);
        goto out;
    }
    if (op->stage == QT_STAGE_UPDATE) {
        rv = op_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
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
    rv = op_after(op, sig_rv(rc), 0);
out:
    op_leave(s);
    return rv;
}

static CK_RV
sv_update(CK_SESSION_HANDLE h, enum qt_op_kind kind, CK_BYTE_PTR in, CK_ULONG inlen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    CK_RV rv;

    if ((rv = op_enter(h, kind, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    if (in == NULL && inlen > 0) {
        rv = op_after(op, CKR_ARGUMENTS_BAD, 0);
        goto out;
    }
    if (c->single_only) {
        rv = op_after(op, CKR_FUNCTION_NOT_SUPPORTED, 0);
        goto out;
    }
    if (op->stage == QT_STAGE_SINGLE) {
        rv = op_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
    }
    op->stage = QT_STAGE_UPDATE;
    rv = op_after(op, sig_rv(qt_crypto_sign_update(c->sign, in, (size_t)inlen)), 1);
out:
    op_leave(s);
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

    if ((rv = op_enter(h, QT_OP_SIGN, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    if (siglen == NULL) {
        rv = op_after(op, CKR_ARGUMENTS_BAD, 0);
        goto out;
    }
    if (c->single_only) {
        rv = op_after(op, CKR_FUNCTION_NOT_SUPPORTED, 0);
        goto out;
    }
    if (op->stage == QT_STAGE_SINGLE) {
        rv = op_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
    }
    n = sig == NULL ? 0 : (size_t)*siglen;
    rc = qt_crypto_sign_final(c->sign, sig, &n);
    if (rc == QT_OK || rc == QT_E_BUFFER_TOO_SMALL) {
        *siglen = (CK_ULONG)n;
    }
    rv = op_after(op, sig_rv(rc), sig == NULL);
out:
    op_leave(s);
    return rv;
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

    if ((rv = op_enter(h, QT_OP_VERIFY, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    if ((in == NULL && inlen > 0) || sig == NULL) {
        rv = op_after(op, CKR_ARGUMENTS_BAD, 0);
        goto out;
    }
    if (op->stage == QT_STAGE_UPDATE) {
        rv = op_after(op, CKR_OPERATION_ACTIVE, 0);
        goto out;
    }
    if ((rc = qt_crypto_sign_update(c->sign, in, (size_t)inlen)) != QT_OK) {
        rv = op_after(op, sig_rv(rc), 0);
        goto out;
    }
    if ((size_t)siglen != qt_crypto_sign_len(c->sign)) {
        rv = op_after(op, CKR_SIGNATURE_LEN_RANGE, 0);
        goto out;
    }
    rv = op_after(op, sig_rv(qt_crypto_verify_final(c->sign, sig, (size_t)siglen)), 0);
out:
    op_leave(s);
    return rv;
}

static CK_RV
verify_final(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
    struct qt_session *s;
    struct op_ctx *c;
    struct qt_op *op;
    CK_RV rv;

    if ((rv = op_enter(h, QT_OP_VERIFY, &s, &op, &c)) != CKR_OK) {
        return rv;
    }
    if (sig == NULL) {
        rv = op_after(op, CKR_ARGUMENTS_BAD, 0);
        goto out;
    }
    if (c->single_only) {
        rv = op_after(op, CKR_FUNCTION_NOT_SUPPORTED, 0);
        goto out;
    }
    if ((size_t)siglen != qt_crypto_sign_len(c->sign)) {
        rv = op_after(op, CKR_SIGNATURE_LEN_RANGE, 0);
        goto out;
    }
    rv = op_after(op, sig_rv(qt_crypto_verify_final(c->sign, sig, (size_t)siglen)), 0);
out:
    op_leave(s);
    return rv;
}

CK_RV
qt_C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    ENTRY("C_SignInit", op_init, hSession, QT_OP_SIGN, pMechanism, hKey);
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
    ENTRY("C_VerifyInit", op_init, hSession, QT_OP_VERIFY, pMechanism, hKey);
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
