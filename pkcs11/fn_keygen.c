/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 3.0 5.14 "Key management functions": C_GenerateKey,
 * C_GenerateKeyPair.
 *
 * Every key generation starts with a reseed of the whole DRBG chain from the
 * QRNG (prediction resistance): if the entropy source is in error the call
 * fails with CKR_DEVICE_ERROR before any key material exists.  A token key
 * and its attestation event are committed in one keystore transaction; a
 * session key's record is written before the key is handed out, or, with
 * [attest] session_keys = batch (the default), queued and written with
 * others as one record (events.c).
 *
 * Wrapping, unwrapping and derivation are in fn_wrap.c.
 */
#include <stdlib.h>
#include <string.h>
#include "../src/common/log.h"
#include "../src/drbg/drbg.h"
#include "fn.h"
#include "key.h"

static int
so_session(const struct qt_session *s)
{
    return s->slot->login == CKU_SO;
}

static CK_RV
base_attrs(struct qt_attrs *b, CK_OBJECT_CLASS cls, CK_KEY_TYPE kt)
{
    CK_RV rv;

    qt_attrs_init(b);
    if ((rv = qt_attrs_set_ulong(b, CKA_CLASS, cls)) == CKR_OK) {
        rv = qt_attrs_set_ulong(b, CKA_KEY_TYPE, kt);
    }
    return rv;
}

/* Reseeds the DRBG chain from the QRNG (prediction resistance: fresh QRNG
 * entropy for every key) and returns the libctx.  Called without the module
 * lock: key generation (seconds for RSA-4096) does not stop other threads;
 * d stays valid until C_Finalize. */
/* QRNG bits the last key-generation reseed of this thread drew: read by the
 * attestation record of that key (events.c), made in the same thread. */
static _Thread_local uint64_t keygen_bits_drawn;

uint64_t
qt_keygen_bits_drawn(void)
{
    return keygen_bits_drawn;
}

static CK_RV
fresh_libctx(struct qt_drbg *d, OSSL_LIB_CTX **lc)
{
    uint64_t before = qt_drbg_thread_seed_bytes();
    qt_rc rc;

    keygen_bits_drawn = 0;
    rc = qt_drbg_reseed(d);
    keygen_bits_drawn = (qt_drbg_thread_seed_bytes() - before) * 8;
    if ((rc != QT_OK || qt_module_health_failed()) && qt_lock() == CKR_OK) {
        qt_module_note_entropy_inlock(rc);
        qt_unlock();
    }
    if (rc != QT_OK) {
        qt_log(QT_LOG_WARN, "pkcs11: key generation refused: reseed failed: %s",
               qt_rc_str(rc));
        return rc == QT_E_NOMEM ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
    }
    *lc = qt_drbg_libctx(d);
    return CKR_OK;
}

/* Takes the module lock back after a generation and finds the session again
 * (it may have been closed, or the user logged out, meanwhile). */
static CK_RV
relock(CK_SESSION_HANDLE h, struct qt_session **s, int *locked, const struct qt_attrs *a,
       const struct qt_attrs *b)
{
    CK_RV rv;

    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    *locked = 1;
    if ((rv = qt_session_get_inlock(h, s)) != CKR_OK ||
        (rv = qt_object_may_create_inlock(*s, a)) != CKR_OK) {
        return rv;
    }
    return b != NULL ? qt_object_may_create_inlock(*s, b) : CKR_OK;
}

/* The crypto room's key-generation errors. */
static CK_RV
keygen_rv(qt_rc rc)
{
    switch (rc) {
    case QT_E_RANGE:
        return CKR_KEY_SIZE_RANGE;
    case QT_E_ARG:
    case QT_E_FORMAT:
        return CKR_ATTRIBUTE_VALUE_INVALID;
    case QT_E_UNSUPPORTED:
        return CKR_CURVE_NOT_SUPPORTED;
    default:
        return qt_rv(rc);
    }
}

/* Stores one or two new key objects (pub may be NULL) with their
 * KEY_GENERATE record: for token objects in one transaction; for session
 * objects the record written now ([attest] session_keys = each) or queued
 * (batch, events.c). */
static CK_RV
store_keys(struct qt_session *s, CK_MECHANISM_TYPE mech, struct qt_attrs *pub,
           struct qt_attrs *priv, CK_OBJECT_HANDLE *hpub, CK_OBJECT_HANDLE *hpriv)
{
    struct qt_slot *slot = s->slot;
    struct qt_attrs evattrs;
    int txn = 0, token, batch;
    CK_RV rv;
    qt_rc rc;

    qt_attrs_init(&evattrs);
    token = (pub != NULL && qt_attrs_bool(pub, CKA_TOKEN, 0)) || qt_attrs_bool(priv, CKA_TOKEN, 0);
    batch = !token && qt_mod->conf.attest_session_keys == QT_ATTEST_SESSION_BATCH;
    /* the record sees the private (or secret) key's attributes: its policy
     * (sensitive, extractable ...) and CKA_PUBLIC_KEY_INFO; attest/ never
     * reads secret values */
    if (batch) {
        /* described now: the objects take priv */
        if ((rc = qt_event_session_key_prepare_inlock(slot, mech, priv)) != QT_OK) {
            rv = qt_rv(rc);
            goto out;
        }
    } else if ((rv = qt_attrs_copy(&evattrs, priv)) != CKR_OK) {
        goto out;
    }
    if (token) {
        /* session keys queued before this one come first in the log, in a
         * transaction of their own */
        if ((rc = qt_event_flush_inlock(slot)) != QT_OK ||
            (rc = qt_ks_txn_begin(slot->tok)) != QT_OK) {
            rv = qt_rv(rc);
            goto out;
        }
        txn = 1;
    }
    if (pub != NULL && (rv = qt_object_create_inlock(s, pub, hpub)) != CKR_OK) {
        goto out;
    }
    if ((rv = qt_object_create_inlock(s, priv, hpriv)) != CKR_OK) {
        goto undo_pub;
    }
    rc = batch ? qt_event_session_key_commit_inlock(slot)
               : qt_event_record(slot, QT_EVENT_KEY_GENERATE, mech, &evattrs);
    if (rc != QT_OK) {
        rv = qt_rv(rc);
        goto undo_priv;
    }
    if (txn && (rc = qt_ks_txn_commit(slot->tok)) != QT_OK) {
        rv = qt_rv(rc);
        txn = 0;
        goto undo_priv;
    }
    txn = 0;
    goto out;
undo_priv:
    {
        struct qt_object *o;

        if (qt_object_get_inlock(s, *hpriv, &o) == CKR_OK) {
            (void)qt_object_destroy_inlock(o);
        }
    }
undo_pub:
    if (pub != NULL) {
        struct qt_object *o;

        if (qt_object_get_inlock(s, *hpub, &o) == CKR_OK) {
            (void)qt_object_destroy_inlock(o);
        }
    }
out:
    if (txn) {
        qt_ks_txn_rollback(slot->tok);
    }
    qt_attrs_clear(&evattrs);
    return rv;
}

/* ---- C_GenerateKey ----------------------------------------------------- */

static CK_RV
generate_key(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
             CK_OBJECT_HANDLE_PTR out)
{
    struct qt_crypto_key *k = NULL;
    struct qt_attrs base, a;
    struct qt_session *s;
    struct qt_drbg *d;
    OSSL_LIB_CTX *lc;
    CK_KEY_TYPE kt;
    CK_ULONG len = 0;
    int locked = 1;
    CK_RV rv;
    qt_rc rc;

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
    if (mech->mechanism == CKM_AES_KEY_GEN) {
        kt = CKK_AES;
    } else if (mech->mechanism == CKM_GENERIC_SECRET_KEY_GEN) {
        kt = CKK_GENERIC_SECRET;
    } else {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    if (mech->ulParameterLen != 0) {
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    if ((rv = base_attrs(&base, CKO_SECRET_KEY, kt)) != CKR_OK ||
        (rv = qt_attr_build(QT_ORIGIN_GENERATE, &base, tmpl, n, so_session(s), &a)) != CKR_OK) {
        goto out;
    }
    if (!qt_attrs_ulong(&a, CKA_VALUE_LEN, &len)) {
        rv = CKR_TEMPLATE_INCOMPLETE;
        goto out;
    }
    if ((kt == CKK_AES && len != 16 && len != 24 && len != 32) ||
        (kt == CKK_GENERIC_SECRET && (len < 1 || len > 4096))) {
        rv = CKR_ATTRIBUTE_VALUE_INVALID;
        goto out;
    }
    if ((rv = qt_object_may_create_inlock(s, &a)) != CKR_OK ||
        (rv = qt_module_drbg_inlock(&d)) != CKR_OK) {
        goto out;
    }
    qt_unlock();
    locked = 0;
    if ((rv = fresh_libctx(d, &lc)) != CKR_OK) {
        goto out;
    }
    rc = qt_crypto_secret_generate(lc, kt == CKK_AES ? QT_CRYPTO_KEY_AES
                                                     : QT_CRYPTO_KEY_GENERIC_SECRET,
                                   (size_t)len, &k);
    if (rc != QT_OK) {
        rv = keygen_rv(rc);
        goto out;
    }
    if ((rv = qt_key_write_generated(&a, k)) != CKR_OK ||
        (rv = qt_attr_finish_key(&a, QT_ORIGIN_GENERATE, mech->mechanism)) != CKR_OK ||
        (rv = relock(h, &s, &locked, &a, NULL)) != CKR_OK) {
        goto out;
    }
    rv = store_keys(s, mech->mechanism, NULL, &a, NULL, out);
out:
    qt_crypto_key_free(k);
    qt_attrs_clear(&base);
    qt_attrs_clear(&a);
    if (locked) {
        qt_unlock();
    }
    return rv;
}

CK_RV
qt_C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                 CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
    QT_ENTRY("C_GenerateKey", generate_key(hSession, pMechanism, pTemplate, ulCount, phKey),
             "session=%lu", (unsigned long)hSession);
}

/* ---- C_GenerateKeyPair ------------------------------------------------- */

static CK_RV
generate_pair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR ptmpl, CK_ULONG pn,
              CK_ATTRIBUTE_PTR stmpl, CK_ULONG sn, CK_OBJECT_HANDLE_PTR hpub,
              CK_OBJECT_HANDLE_PTR hpriv)
{
    struct qt_crypto_key *k = NULL;
    struct qt_attrs pbase, sbase, pub, priv;
    struct qt_session *s;
    struct qt_drbg *d;
    OSSL_LIB_CTX *lc;
    CK_KEY_TYPE kt;
    int locked = 1;
    CK_RV rv;
    qt_rc rc;

    qt_attrs_init(&pbase);
    qt_attrs_init(&sbase);
    qt_attrs_init(&pub);
    qt_attrs_init(&priv);
    if ((rv = qt_lock()) != CKR_OK) {
        return rv;
    }
    if ((rv = qt_session_get_inlock(h, &s)) != CKR_OK) {
        goto out;
    }
    if (mech == NULL || hpub == NULL || hpriv == NULL || (ptmpl == NULL && pn > 0) ||
        (stmpl == NULL && sn > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    switch (mech->mechanism) {
    case CKM_RSA_PKCS_KEY_PAIR_GEN:
        kt = CKK_RSA;
        break;
    case CKM_EC_KEY_PAIR_GEN:
        kt = CKK_EC;
        break;
    case CKM_EC_EDWARDS_KEY_PAIR_GEN:
        kt = CKK_EC_EDWARDS;
        break;
    default:
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    if (mech->ulParameterLen != 0) {
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    if ((rv = base_attrs(&pbase, CKO_PUBLIC_KEY, kt)) != CKR_OK ||
        (rv = base_attrs(&sbase, CKO_PRIVATE_KEY, kt)) != CKR_OK ||
        (rv = qt_attr_build(QT_ORIGIN_GENERATE, &pbase, ptmpl, pn, so_session(s), &pub)) !=
            CKR_OK ||
        (rv = qt_attr_build(QT_ORIGIN_GENERATE, &sbase, stmpl, sn, so_session(s), &priv)) !=
            CKR_OK) {
        goto out;
    }
    if ((rv = qt_object_may_create_inlock(s, &pub)) != CKR_OK ||
        (rv = qt_object_may_create_inlock(s, &priv)) != CKR_OK) {
        goto out;
    }
    if (kt == CKK_RSA) {
        const struct qt_attr *e = qt_attrs_find(&pub, CKA_PUBLIC_EXPONENT);
        CK_ULONG bits = 0, min = 2048;

        if (!qt_attrs_ulong(&pub, CKA_MODULUS_BITS, &bits)) {
            rv = CKR_TEMPLATE_INCOMPLETE;
            goto out;
        }
        if (qt_mod->conf.min_rsa_bits > min) {
            min = qt_mod->conf.min_rsa_bits; /* the token's policy */
        }
        if (bits < min || bits > 8192 || bits % 8 != 0) {
            rv = CKR_KEY_SIZE_RANGE;
            goto out;
        }
        if ((rv = qt_module_drbg_inlock(&d)) != CKR_OK) {
            goto out;
        }
        qt_unlock();
        locked = 0;
        if ((rv = fresh_libctx(d, &lc)) != CKR_OK) {
            goto out;
        }
        rc = qt_crypto_rsa_generate(lc, (size_t)bits, e ? e->val : NULL, e ? e->len : 0, &k);
        if (rc != QT_OK) {
            rv = rc == QT_E_ARG ? CKR_ATTRIBUTE_VALUE_INVALID : keygen_rv(rc);
            goto out;
        }
    } else {
        const struct qt_attr *p = qt_attrs_find(&pub, CKA_EC_PARAMS);
        struct qt_crypto_gen *g;
        enum qt_crypto_curve c;
        int edw;

        if (p == NULL || p->len == 0) {
            rv = CKR_TEMPLATE_INCOMPLETE;
            goto out;
        }
        if ((rc = qt_crypto_ec_params_parse(p->val, p->len, &c)) != QT_OK) {
            rv = rc == QT_E_UNSUPPORTED ? CKR_CURVE_NOT_SUPPORTED : CKR_ATTRIBUTE_VALUE_INVALID;
            goto out;
        }
        edw = c == QT_CRYPTO_CURVE_ED25519 || c == QT_CRYPTO_CURVE_ED448;
        if (edw != (kt == CKK_EC_EDWARDS)) {
            rv = CKR_CURVE_NOT_SUPPORTED; /* this mechanism does not make that curve */
            goto out;
        }
        if ((rv = qt_module_drbg_inlock(&d)) != CKR_OK) {
            goto out;
        }
        g = qt_mod->gen; /* lives with d */
        qt_unlock();
        locked = 0;
        if ((rv = fresh_libctx(d, &lc)) != CKR_OK) {
            goto out;
        }
        if ((rc = qt_crypto_gen_ec(g, c, &k)) != QT_OK) {
            rv = keygen_rv(rc);
            goto out;
        }
    }
    if ((rv = qt_key_write_generated(&pub, k)) != CKR_OK ||
        (rv = qt_key_write_generated(&priv, k)) != CKR_OK ||
        (rv = qt_attr_finish_key(&pub, QT_ORIGIN_GENERATE, mech->mechanism)) != CKR_OK ||
        (rv = qt_attr_finish_key(&priv, QT_ORIGIN_GENERATE, mech->mechanism)) != CKR_OK ||
        (rv = relock(h, &s, &locked, &pub, &priv)) != CKR_OK) {
        goto out;
    }
    rv = store_keys(s, mech->mechanism, &pub, &priv, hpub, hpriv);
out:
    qt_crypto_key_free(k);
    qt_attrs_clear(&pbase);
    qt_attrs_clear(&sbase);
    qt_attrs_clear(&pub);
    qt_attrs_clear(&priv);
    if (locked) {
        qt_unlock();
    }
    return rv;
}

CK_RV
qt_C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                     CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                     CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                     CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey)
{
    QT_ENTRY("C_GenerateKeyPair",
             generate_pair(hSession, pMechanism, pPublicKeyTemplate, ulPublicKeyAttributeCount,
                           pPrivateKeyTemplate, ulPrivateKeyAttributeCount, phPublicKey,
                           phPrivateKey),
             "session=%lu", (unsigned long)hSession);
}
