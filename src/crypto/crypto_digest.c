/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message digests (CKM_SHA_1, CKM_SHA224/256/384/512): a multi-part context
 * whose final honours the two-call length convention, and a one-call helper.
 */
#include <openssl/err.h>
#include <openssl/evp.h>

#include "../common/check.h"
#include "crypto_int.h"

struct qt_crypto_digest {
    EVP_MD_CTX *ctx;
    size_t len;
    int state; /* 0 active, 1 finished, -1 error */
};

qt_rc
qt_crypto_digest_new(OSSL_LIB_CTX *lc, enum qt_crypto_hash h, struct qt_crypto_digest **out)
{
    struct qt_crypto_digest *d = NULL;
    EVP_MD *md = NULL;
    qt_rc rc = QT_E_NOMEM;

    QT_ENSURE_REF(out);
    QT_ENSURE(qt_crypto_hash_len(h) != 0, QT_E_ARG);

    ERR_set_mark();
    if ((d = OPENSSL_zalloc(sizeof(*d))) == NULL || (d->ctx = EVP_MD_CTX_new()) == NULL) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    if ((md = qt_crypto_md_fetch(lc, h)) == NULL || !EVP_DigestInit_ex2(d->ctx, md, NULL)) {
        goto out;
    }
    d->len = qt_crypto_hash_len(h);
    *out = d;
    d = NULL;
    rc = QT_OK;
out:
    EVP_MD_free(md);
    qt_crypto_digest_free(d);
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_crypto_digest_update(struct qt_crypto_digest *d, const uint8_t *in, size_t len)
{
    qt_rc rc;

    QT_ENSURE_REF(d);
    QT_ENSURE(d->state == 0, QT_E_STATE);
    QT_ENSURE(in != NULL || len == 0, QT_E_ARG);

    ERR_set_mark();
    rc = qt_ossl(EVP_DigestUpdate(d->ctx, in, len), QT_E_CRYPTO);
    ERR_pop_to_mark();
    if (rc != QT_OK) {
        d->state = -1;
    }
    return rc;
}

qt_rc
qt_crypto_digest_final(struct qt_crypto_digest *d, uint8_t *out, size_t *out_len)
{
    unsigned int n = 0;
    qt_rc rc;

    QT_ENSURE(d != NULL && out_len != NULL, QT_E_ARG);
    QT_ENSURE(d->state == 0, QT_E_STATE);
    if (out == NULL) {
        *out_len = d->len;
        return QT_OK;
    }
    if (*out_len < d->len) {
        *out_len = d->len;
        return QT_E_BUFFER_TOO_SMALL;
    }

    ERR_set_mark();
    rc = qt_ossl(EVP_DigestFinal_ex(d->ctx, out, &n), QT_E_CRYPTO);
    ERR_pop_to_mark();
    d->state = rc == QT_OK ? 1 : -1;
    if (rc == QT_OK) {
        *out_len = n;
    }
    return rc;
}

void
qt_crypto_digest_free(struct qt_crypto_digest *d)
{
    if (d == NULL) {
        return;
    }
    EVP_MD_CTX_free(d->ctx);
    OPENSSL_free(d);
}

qt_rc
qt_crypto_digest(OSSL_LIB_CTX *lc, enum qt_crypto_hash h, const uint8_t *in, size_t len,
                 uint8_t *out, size_t out_cap)
{
    EVP_MD *md = NULL;
    qt_rc rc = QT_E_CRYPTO;

    QT_ENSURE(out != NULL && (in != NULL || len == 0), QT_E_ARG);
    QT_ENSURE(qt_crypto_hash_len(h) != 0, QT_E_ARG);
    QT_ENSURE(out_cap >= qt_crypto_hash_len(h), QT_E_BUFFER_TOO_SMALL);

    ERR_set_mark();
    if ((md = qt_crypto_md_fetch(lc, h)) != NULL && EVP_Digest(in, len, out, NULL, md, NULL)) {
        rc = QT_OK;
    }
    EVP_MD_free(md);
    ERR_pop_to_mark();
    return rc;
}
