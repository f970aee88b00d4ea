/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keystore's cryptography: PIN keys (Argon2id), key derivation (HKDF-
 * SHA-256), row MACs (HMAC-SHA-256), seals (AES-256-GCM, 12-byte random IV,
 * 128-bit tag), the installation device key, and the attribute-list encoding
 * that seals sensitive values one by one.
 *
 * Theory of operation
 * -------------------
 * A token has a random 256-bit master key MK.  It is never stored in clear:
 * each role (SO, user) has a salt and an Argon2id-derived KEK, and the token
 * record holds GCM(KEK, MK).  From MK, HKDF derives the seal key of private
 * objects.  Public objects must be readable without a PIN, so their MAC and
 * the seals of their sensitive values use keys derived from the device key,
 * 32 random bytes kept in the installation directory outside the token
 * database: a copied database alone opens nothing.  Every seal binds the
 * token serial, the object id, the attribute type and the record version as
 * associated data, so a sealed value moved to another row, attribute or
 * version does not open.  Which attribute types are sensitive is decided
 * here (qt_ks_wrap_is_sensitive), from the object class.
 */
#include <argon2.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/common/check.h"
#include "../src/common/conf.h"
#include "../src/common/devkey.h"
#include "../src/common/log.h"
#include "../src/common/mem.h"
#include "ks_int.h"

/* ************************************************************************
 * Primitives
 */

qt_rc
qt_ks_wrap_kek(const uint8_t *pin, size_t pin_len, const uint8_t salt[KS_SALT],
               const struct qt_ks_kdf_params *kdf, uint8_t out[KS_KEY])
{
    int r;

    QT_ENSURE(pin != NULL && salt != NULL && kdf != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(pin_len > 0 && pin_len <= QT_KS_PIN_MAX, QT_E_PIN_INVALID);
    r = argon2id_hash_raw(kdf->passes, kdf->memory_kib, kdf->lanes, pin, pin_len, salt, KS_SALT,
                          out, KS_KEY);
    if (r != ARGON2_OK) {
        qt_log(QT_LOG_ERROR, "keystore: argon2id: %s", argon2_error_message(r));
        qt_wipe(out, KS_KEY);
        return r == ARGON2_MEMORY_ALLOCATION_ERROR ? QT_E_NOMEM : QT_E_CRYPTO;
    }
    return QT_OK;
}

qt_rc
qt_ks_wrap_hkdf(const uint8_t key[KS_KEY], const char *salt, const char *info,
                uint8_t out[KS_KEY])
{
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *ctx = NULL;
    OSSL_PARAM params[5];
    qt_rc rc = QT_E_CRYPTO;

    QT_ENSURE(key != NULL && salt != NULL && info != NULL && out != NULL, QT_E_ARG);
    ERR_set_mark();
    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL || (ctx = EVP_KDF_CTX_new(kdf)) == NULL) {
        goto out;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, KS_KEY);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
                                                  strlen(salt));
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
                                                  strlen(info));
    params[4] = OSSL_PARAM_construct_end();
    rc = qt_ossl(EVP_KDF_derive(ctx, out, KS_KEY, params), QT_E_CRYPTO);
out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_ks_wrap_hmac(const uint8_t key[KS_KEY], const uint8_t *p, size_t n, uint8_t out[KS_KEY])
{
    unsigned int len = 0;
    qt_rc rc;

    QT_ENSURE(key != NULL && (p != NULL || n == 0) && out != NULL, QT_E_ARG);
    ERR_set_mark();
    rc = HMAC(EVP_sha256(), key, (int)KS_KEY, p, n, out, &len) != NULL && len == KS_KEY
             ? QT_OK
             : QT_E_CRYPTO;
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_ks_wrap_seal(struct qt_ks_token *t, const uint8_t key[KS_KEY], const uint8_t *aad,
                size_t aad_len, const uint8_t *pt, size_t n, struct qt_buf *out)
{
    uint8_t iv[KS_IV];
    uint8_t tag[KS_TAG];
    uint8_t *ct = NULL;
    EVP_CIPHER_CTX *c = NULL;
    int len = 0, fin = 0;
    qt_rc rc;

    QT_ENSURE(t != NULL && key != NULL && out != NULL && (pt != NULL || n == 0), QT_E_ARG);
    QT_ENSURE(n <= INT32_MAX && aad_len <= INT32_MAX, QT_E_RANGE);
    QT_TRY(t->rng(t->rng_ctx, iv, sizeof(iv)));

    ERR_set_mark();
    rc = QT_E_NOMEM;
    if ((ct = malloc(n > 0 ? n : 1)) == NULL || (c = EVP_CIPHER_CTX_new()) == NULL) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)KS_IV, NULL) != 1 ||
        EVP_EncryptInit_ex(c, NULL, NULL, key, iv) != 1 ||
        (aad_len > 0 && EVP_EncryptUpdate(c, NULL, &len, aad, (int)aad_len) != 1) ||
        EVP_EncryptUpdate(c, ct, &len, pt, (int)n) != 1 ||
        EVP_EncryptFinal_ex(c, ct + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, (int)KS_TAG, tag) != 1) {
        goto out;
    }
    if ((rc = qt_buf_put(out, iv, sizeof(iv))) != QT_OK ||
        (rc = qt_buf_put(out, ct, n)) != QT_OK ||
        (rc = qt_buf_put(out, tag, sizeof(tag))) != QT_OK) {
        goto out;
    }
    rc = QT_OK;
out:
    EVP_CIPHER_CTX_free(c);
    free(ct);
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_ks_wrap_open(const uint8_t key[KS_KEY], const uint8_t *aad, size_t aad_len, const uint8_t *in,
                size_t n, uint8_t *pt)
{
    EVP_CIPHER_CTX *c = NULL;
    size_t ct_len;
    int len = 0, fin = 0;
    uint8_t tag[KS_TAG];
    qt_rc rc = QT_E_CRYPTO;

    QT_ENSURE(key != NULL && in != NULL, QT_E_ARG);
    QT_ENSURE(n >= KS_SEAL_OVERHEAD && n - KS_SEAL_OVERHEAD <= INT32_MAX, QT_E_TAMPER);
    ct_len = n - KS_SEAL_OVERHEAD;
    QT_ENSURE(pt != NULL || ct_len == 0, QT_E_ARG);
    memcpy(tag, in + KS_IV + ct_len, KS_TAG);

    ERR_set_mark();
    if ((c = EVP_CIPHER_CTX_new()) == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)KS_IV, NULL) != 1 ||
        EVP_DecryptInit_ex(c, NULL, NULL, key, in) != 1 ||
        (aad_len > 0 && EVP_DecryptUpdate(c, NULL, &len, aad, (int)aad_len) != 1) ||
        (ct_len > 0 && EVP_DecryptUpdate(c, pt, &len, in + KS_IV, (int)ct_len) != 1) ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, (int)KS_TAG, tag) != 1) {
        goto out;
    }
    if (EVP_DecryptFinal_ex(c, ct_len > 0 ? pt + len : tag, &fin) != 1) {
        /* Tag mismatch: wrong key, or the bytes were changed. */
        if (ct_len > 0) {
            qt_wipe(pt, ct_len);
        }
        rc = QT_E_TAMPER;
        goto out;
    }
    rc = QT_OK;
out:
    EVP_CIPHER_CTX_free(c);
    ERR_pop_to_mark();
    return rc;
}

/* ************************************************************************
 * Device key and derived key sets
 */

qt_rc
qt_ks_wrap_device_key(const char *install_dir, qt_ks_rng_fn rng, void *rng_ctx,
                      uint8_t out[KS_KEY])
{
    QT_ENSURE(install_dir != NULL && rng != NULL && out != NULL, QT_E_ARG);
    /* src/common/devkey.c: shared with attest/, which seals its key with it. */
    return qt_devkey_get(install_dir, rng, rng_ctx, out);
}

qt_rc
qt_ks_wrap_master_keys(const char *serial, const uint8_t mk[KS_KEY], struct ks_keyset *keys)
{
    QT_ENSURE(serial != NULL && mk != NULL && keys != NULL, QT_E_ARG);
    return qt_ks_wrap_hkdf(mk, serial, "qtoken keystore v2 object seal", keys->seal);
}

qt_rc
qt_ks_wrap_bound_keys(const char *serial, const uint8_t key[KS_KEY], int portable,
                      struct ks_keyset *keys)
{
    QT_ENSURE(serial != NULL && key != NULL && keys != NULL, QT_E_ARG);
    if (portable) {
        QT_TRY(qt_ks_wrap_hkdf(key, serial, "qtoken keystore v2 portable seal", keys->bseal));
        return qt_ks_wrap_hkdf(key, serial, "qtoken keystore v2 portable mac", keys->bmac);
    }
    QT_TRY(qt_ks_wrap_hkdf(key, serial, "qtoken keystore v2 device seal", keys->bseal));
    return qt_ks_wrap_hkdf(key, serial, "qtoken keystore v2 device mac", keys->bmac);
}

/* ************************************************************************
 * Attribute lists
 */

/* Key material of CKO_PRIVATE_KEY / CKO_SECRET_KEY objects (PKCS#11 3.0,
 * 4.9 and 4.10 and the key-type sections): values whose disclosure reveals
 * the key.  Vendor-defined attributes are sealed too: we cannot tell. */
int
qt_ks_wrap_is_sensitive(unsigned long cls, unsigned long type)
{
    if (cls != CKO_PRIVATE_KEY && cls != CKO_SECRET_KEY) {
        return 0;
    }
    switch (type) {
    case CKA_VALUE:
    case CKA_PRIVATE_EXPONENT:
    case CKA_PRIME_1:
    case CKA_PRIME_2:
    case CKA_EXPONENT_1:
    case CKA_EXPONENT_2:
    case CKA_COEFFICIENT:
        return 1;
    default:
        return (type & CKA_VENDOR_DEFINED) != 0;
    }
}

qt_rc
qt_ks_wrap_aad(const char *serial, uint64_t id, uint64_t type, uint64_t ver,
               uint8_t out[KS_SERIAL_LEN + 24])
{
    struct qt_buf b;

    QT_ENSURE(serial != NULL && strlen(serial) == KS_SERIAL_LEN && out != NULL, QT_E_ARG);
    qt_buf_wrap(&b, out, 0, KS_SERIAL_LEN + 24);
    QT_TRY(qt_buf_put(&b, serial, KS_SERIAL_LEN));
    QT_TRY(qt_buf_put_u64(&b, id));
    QT_TRY(qt_buf_put_u64(&b, type));
    return qt_buf_put_u64(&b, ver);
}

/* Encoding: u32 count, then per attribute u64 type, u8 kind (0 clear,
 * 1 sealed), u32 length, bytes (sealed: IV || ct || tag). */
qt_rc
qt_ks_wrap_encode_attrs(struct qt_ks_token *t, const struct qt_attr *attrs, size_t n,
                        unsigned long cls, const uint8_t key[KS_KEY], uint64_t id, uint64_t ver,
                        struct qt_buf *out)
{
    uint8_t aad[KS_SERIAL_LEN + 24];
    struct qt_buf sealed;
    qt_rc rc = QT_OK;

    QT_ENSURE(t != NULL && (attrs != NULL || n == 0) && key != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(n <= KS_MAX_ATTRS, QT_E_RANGE);
    QT_TRY(qt_buf_put_u32(out, (uint32_t)n));
    qt_buf_init(&sealed);
    for (size_t i = 0; i < n; i++) {
        const struct qt_attr *a = &attrs[i];

        if ((a->val == NULL && a->len != 0) || a->len > KS_MAX_VALUE) {
            rc = a->len > KS_MAX_VALUE ? QT_E_RANGE : QT_E_ARG;
            goto out;
        }
        if ((rc = qt_buf_put_u64(out, a->type)) != QT_OK) {
            goto out;
        }
        if (!qt_ks_wrap_is_sensitive(cls, a->type)) {
            if ((rc = qt_buf_put_u8(out, 0)) != QT_OK ||
                (rc = qt_buf_put_lv(out, a->val, a->len)) != QT_OK) {
                goto out;
            }
            continue;
        }
        qt_buf_clear(&sealed);
        if ((rc = qt_ks_wrap_aad(t->serial, id, a->type, ver, aad)) != QT_OK ||
            (rc = qt_ks_wrap_seal(t, key, aad, sizeof(aad), a->val, a->len, &sealed)) != QT_OK ||
            (rc = qt_buf_put_u8(out, 1)) != QT_OK ||
            (rc = qt_buf_put_lv(out, sealed.p, sealed.len)) != QT_OK) {
            goto out;
        }
    }
out:
    qt_buf_clear(&sealed);
    return rc;
}

qt_rc
qt_ks_wrap_decode_attrs(struct qt_ks_token *t, const uint8_t *p, size_t len,
                        const uint8_t key[KS_KEY], uint64_t id, uint64_t ver,
                        struct qt_attr **attrs, size_t *n)
{
    uint8_t aad[KS_SERIAL_LEN + 24];
    struct qt_buf b;
    struct qt_attr *v = NULL;
    uint32_t count = 0;
    size_t done = 0;
    qt_rc rc;

    QT_ENSURE(t != NULL && (p != NULL || len == 0) && attrs != NULL && n != NULL, QT_E_ARG);
    qt_buf_wrap(&b, (void *)p, len, len);
    QT_TRY(qt_buf_get_u32(&b, &count));
    QT_ENSURE(count <= KS_MAX_ATTRS, QT_E_FORMAT);
    v = calloc(count > 0 ? count : 1, sizeof(*v));
    QT_ENSURE(v != NULL, QT_E_NOMEM);
    for (done = 0; done < count; done++) {
        uint64_t type;
        uint8_t kind;
        const uint8_t *val;
        size_t vlen, plen;

        if ((rc = qt_buf_get_u64(&b, &type)) != QT_OK ||
            (rc = qt_buf_get_u8(&b, &kind)) != QT_OK ||
            (rc = qt_buf_get_lv(&b, &val, &vlen, KS_MAX_VALUE + KS_SEAL_OVERHEAD)) != QT_OK) {
            rc = QT_E_FORMAT;
            goto out;
        }
        v[done].type = (unsigned long)type;
        if (kind == 0) {
            plen = vlen;
        } else if (kind == 1 && key != NULL && vlen >= KS_SEAL_OVERHEAD) {
            plen = vlen - KS_SEAL_OVERHEAD;
        } else {
            rc = kind == 1 && key == NULL ? QT_E_NOT_LOGGED_IN : QT_E_FORMAT;
            goto out;
        }
        if ((v[done].val = malloc(plen > 0 ? plen : 1)) == NULL) {
            rc = QT_E_NOMEM;
            goto out;
        }
        v[done].len = plen;
        if (kind == 0) {
            if (plen > 0) {
                memcpy(v[done].val, val, plen);
            }
            continue;
        }
        if ((rc = qt_ks_wrap_aad(t->serial, id, type, ver, aad)) != QT_OK ||
            (rc = qt_ks_wrap_open(key, aad, sizeof(aad), val, vlen, v[done].val)) != QT_OK) {
            done++;
            goto out;
        }
    }
    if (qt_buf_remaining(&b) != 0) {
        rc = QT_E_FORMAT;
        goto out;
    }
    *attrs = v;
    *n = count;
    v = NULL;
    rc = QT_OK;
out:
    qt_ks_attrs_free(v, v != NULL ? count : 0);
    return rc;
}

void
qt_ks_attrs_free(struct qt_attr *attrs, size_t n)
{
    if (attrs == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (attrs[i].val != NULL) {
            qt_wipe(attrs[i].val, attrs[i].len);
            free(attrs[i].val);
        }
    }
    free(attrs);
}
