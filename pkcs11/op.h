/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The machinery shared by the cryptographic operation chapters
 * (fn_crypto.c: encryption/decryption, fn_digest.c, fn_sign.c): an
 * operation's context (the crypto room's context and a key reference),
 * *Init with every key and mechanism check, entering a data call (session
 * looked up, its operation lock taken, the module lock dropped: p11.h lock
 * order), the rule that errors end an operation, and the qt_rc -> CK_RV
 * maps of the data paths.  Internal to pkcs11/.
 */
#ifndef QT_PKCS11_OP_H
#define QT_PKCS11_OP_H

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

/* Frees an op_ctx (NULL-safe); the free_ctx of struct qt_op. */
void qt_opctx_free(void *p);
/* C_*Init for `kind` with mechanism mech and key hk (CK_INVALID_HANDLE for
 * digests): every check of the spec, then the crypto context. */
CK_RV qt_opctx_init(CK_SESSION_HANDLE h, enum qt_op_kind kind, CK_MECHANISM_PTR mech,
                    CK_OBJECT_HANDLE hk);
/* Finds session h's active `kind` operation, takes its operation lock and
 * drops the module lock; CKR_OPERATION_NOT_INITIALIZED if none. */
CK_RV qt_opctx_enter(CK_SESSION_HANDLE h, enum qt_op_kind kind, struct qt_session **s,
                     struct qt_op **op, struct op_ctx **c);
/* qt_opctx_enter, then the checks that open every data call, in this
 * order; a refusal ends the operation, drops the session again and is
 * returned:
 *  - args_ok false: CKR_ARGUMENTS_BAD;
 *  - a multi-part call (multi: Update, Final) on a single-part-only
 *    mechanism: CKR_FUNCTION_NOT_SUPPORTED;
 *  - mixed styles, a multi-part call after a single-part length query or a
 *    single-part call after an update: CKR_OPERATION_ACTIVE.
 * On CKR_OK the caller holds the operation and releases it with
 * qt_opctx_leave. */
CK_RV qt_opctx_enter_call(CK_SESSION_HANDLE h, enum qt_op_kind kind, int multi, int args_ok,
                          struct qt_session **s, struct qt_op **op, struct op_ctx **c);
void qt_opctx_leave(struct qt_session *s);
/* Ends op unless rv keeps it (CKR_BUFFER_TOO_SMALL; CKR_OK with keep). */
CK_RV qt_opctx_after(struct qt_op *op, CK_RV rv, int keep);
/* Data-path errors: encrypt/decrypt, and sign/verify/digest. */
CK_RV qt_opctx_enc_rv(qt_rc rc, int encrypt);
CK_RV qt_opctx_sig_rv(qt_rc rc);

/* QT_ENTRY (fn.h) for the data and Init calls, traced with their session.
 * (The module check costs no system call: module.c counts forks.) */
#define ENTRY(name, call, ...)                                                                     \
    QT_ENTRY(name, call(__VA_ARGS__), "session=%lu", (unsigned long)hSession)

#endif
