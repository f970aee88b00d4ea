/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Operation contexts shared by the cryptographic chapters (see op.h):
 * PKCS#11 3.0 5.2 operation rules and the checks of every C_*Init.
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
#include "op.h"

void
qt_opctx_free(void *p)
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

/* The attributes of key object o for the Init checks, borrowed (they
 * change only under the module lock, which the caller holds until it is
 * done with them): a session object's own list, or a token object's
 * cached copy, re-read from the keystore when another process committed
 * since (so a change there counts at once). */
static CK_RV
key_attrs_inlock(struct qt_object *o, const struct qt_attrs **out)
{
    return qt_object_attrs_ref_inlock(o, out);
}

CK_RV
qt_opctx_init(CK_SESSION_HANDLE h, enum qt_op_kind kind, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE hk)
{
    const struct qt_mech_info *mi;
    struct qt_crypto_mech m;
    struct op_ctx *c = NULL;
    struct qt_session *s, *locked = NULL;
    struct qt_object *o;
    struct qt_attrs a;
    const struct qt_attrs *ka = &a; /* the key's attributes (a, or borrowed) */
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
        CK_OBJECT_CLASS cls;

        if ((rv = qt_params_map(mech, &m)) != CKR_OK) {
            goto out;
        }
        if (qt_object_get_inlock(s, hk, &o) != CKR_OK || key_attrs_inlock(o, &ka) != CKR_OK) {
            rv = CKR_KEY_HANDLE_INVALID;
            goto out;
        }
        cls = qt_attrs_class(ka);
        if (cls != CKO_PUBLIC_KEY && cls != CKO_PRIVATE_KEY && cls != CKO_SECRET_KEY) {
            rv = CKR_KEY_HANDLE_INVALID; /* not a key at all */
            goto out;
        }
        if (qt_attrs_key_type(ka) != want || !class_fits(kind, cls, want)) {
            rv = CKR_KEY_TYPE_INCONSISTENT;
            goto out;
        }
        if (!qt_attrs_bool(ka, kind_usage(kind), 0)) {
            rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
            goto out;
        }
        if (!qt_mech_allowed(ka, mech->mechanism)) {
            rv = CKR_MECHANISM_INVALID; /* CKA_ALLOWED_MECHANISMS */
            goto out;
        }
        if ((rv = qt_key_get_inlock(o, ka, &c->key)) != CKR_OK) {
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
    /* PKCS#11 3.0 4.9 CKA_ALWAYS_AUTHENTICATE: the user's PIN again, through
     * C_Login(CKU_CONTEXT_SPECIFIC), before each use of the key */
    op->auth_needed = (kind == QT_OP_SIGN || kind == QT_OP_DECRYPT) &&
                      qt_attrs_bool(ka, CKA_ALWAYS_AUTHENTICATE, 0);
    op->authed = 0;
    op->stage = QT_STAGE_INIT;
    op->mech = mech->mechanism;
    op->key = hk;
    op->ctx = c;
    op->free_ctx = qt_opctx_free;
    c = NULL;
out:
    if (locked != NULL) {
        qt_session_ops_unlock(locked);
    }
    qt_opctx_free(c);
    qt_attrs_clear(&a);
    qt_unlock();
    return rv;
}

/* Looks up session h's active operation of `kind` and takes the session's
 * operation lock, then drops the module lock: the data calls run with only
 * the session locked (p11.h, lock order).  Release with op_leave. */
CK_RV
qt_opctx_enter(CK_SESSION_HANDLE h, enum qt_op_kind kind, struct qt_session **s, struct qt_op **op,
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
        } else if ((*s)->ops[kind].auth_needed && !(*s)->ops[kind].authed) {
            /* no context-specific login after the Init: the operation ends */
            qt_op_end(&(*s)->ops[kind]);
            qt_session_ops_unlock(*s);
            rv = CKR_USER_NOT_LOGGED_IN;
        } else {
            *op = &(*s)->ops[kind];
            *c = (*op)->ctx;
        }
    }
    qt_unlock();
    return rv;
}

CK_RV
qt_opctx_enter_call(CK_SESSION_HANDLE h, enum qt_op_kind kind, int multi, int args_ok,
                    struct qt_session **s, struct qt_op **op, struct op_ctx **c)
{
    CK_RV rv;

    if ((rv = qt_opctx_enter(h, kind, s, op, c)) != CKR_OK) {
        return rv;
    }
    if (!args_ok) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (multi && (*c)->single_only) {
        rv = CKR_FUNCTION_NOT_SUPPORTED;
    } else if ((*op)->stage == (multi ? QT_STAGE_SINGLE : QT_STAGE_UPDATE)) {
        rv = CKR_OPERATION_ACTIVE;
    }
    if (rv != CKR_OK) {
        rv = qt_opctx_after(*op, rv, 0);
        qt_opctx_leave(*s);
    }
    return rv;
}

void
qt_opctx_leave(struct qt_session *s)
{
    qt_session_ops_unlock(s);
}

/* Ends the operation unless the result keeps it (5.2). */
CK_RV
qt_opctx_after(struct qt_op *op, CK_RV rv, int keep)
{
    if (!(rv == CKR_OK && keep) && rv != CKR_BUFFER_TOO_SMALL) {
        qt_op_end(op);
    }
    return rv;
}

/* ---- data-path error maps ---------------------------------------------- */

CK_RV
qt_opctx_enc_rv(qt_rc rc, int encrypt)
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

CK_RV
qt_opctx_sig_rv(qt_rc rc)
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
