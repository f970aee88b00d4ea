/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private keys in and out as PKCS#8 PrivateKeyInfo (RFC 5208 / 5958) DER:
 * what C_WrapKey encrypts for a private key and C_UnwrapKey decrypts, as
 * PKCS#11 3.0 (5.18, "wrapping private keys") and every peer HSM do.  The
 * DER lives in secret memory only; OpenSSL's own copies are cleansed
 * (PKCS8_PRIV_KEY_INFO's free callback cleanses its key octets; the i2d
 * output is freed with OPENSSL_clear_free).
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "../common/check.h"
#include "crypto_int.h"

qt_rc
qt_crypto_key_pkcs8(const struct qt_crypto_key *k, struct qt_secret *out)
{
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    unsigned char *der = NULL;
    int len = 0;
    qt_rc rc = QT_E_CRYPTO;

    QT_ENSURE(k != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(k->pkey != NULL && k->priv, QT_E_ARG);

    ERR_set_mark();
    if ((p8 = EVP_PKEY2PKCS8(k->pkey)) == NULL || (len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) <= 0) {
        goto out;
    }
    if ((rc = qt_secret_init(out, (size_t)len)) != QT_OK) {
        goto out;
    }
    memcpy(out->p, der, (size_t)len);
out:
    if (der != NULL) {
        OPENSSL_clear_free(der, (size_t)len);
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_crypto_key_from_pkcs8(OSSL_LIB_CTX *lc, const uint8_t *der, size_t len,
                         struct qt_crypto_key **out)
{
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    const unsigned char *p = der;
    EVP_PKEY *pkey = NULL;
    qt_rc rc = QT_E_FORMAT;

    QT_ENSURE(der != NULL && out != NULL, QT_E_ARG);
    *out = NULL;
    QT_ENSURE(len > 0 && len <= 65536, QT_E_FORMAT);

    ERR_set_mark();
    if ((p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len)) == NULL) {
        goto out;
    }
    /* block modes without padding (CKM_AES_KEY_WRAP) leave zero bytes after
     * the DER; anything else after it is not a key */
    for (const uint8_t *q = p; q < der + len; q++) {
        if (*q != 0) {
            goto out;
        }
    }
    if ((pkey = EVP_PKCS82PKEY_ex(p8, lc, NULL)) == NULL) {
        goto out;
    }
    rc = qt_crypto_key_from_pkey(lc, pkey, 1, out); /* takes pkey, also on failure */
    pkey = NULL;
    if (rc != QT_OK && rc != QT_E_NOMEM) {
        rc = QT_E_FORMAT; /* a key type or curve the token does not support */
    }
out:
    EVP_PKEY_free(pkey);
    PKCS8_PRIV_KEY_INFO_free(p8);
    ERR_pop_to_mark();
    return rc;
}
