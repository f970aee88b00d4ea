/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key object shared by every family: allocation, the accessors, secret
 * keys (AES and generic: import, generation from the libctx DRBG, export,
 * check value), the SubjectPublicKeyInfo and its SHA-256 fingerprint, the
 * hash table and the two DER helpers the EC and ECDSA code needs.
 */
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/rand.h>
#include <string.h>

#include "../common/check.h"
#include "crypto_int.h"

/* PKCS#11 does not bound generic secrets; 4096 bytes is far above any HMAC
 * key anyone uses and keeps a hostile template from costing memory. */
#define QT_CRYPTO_SECRET_MAX 4096

/* ************************************************************************* */
/* Hashes                                                                    */
/* ************************************************************************* */

size_t
qt_crypto_hash_len(enum qt_crypto_hash h)
{
    switch (h) {
    case QT_CRYPTO_HASH_SHA1:
        return 20;
    case QT_CRYPTO_HASH_SHA224:
        return 28;
    case QT_CRYPTO_HASH_SHA256:
        return 32;
    case QT_CRYPTO_HASH_SHA384:
        return 48;
    case QT_CRYPTO_HASH_SHA512:
        return 64;
    case QT_CRYPTO_HASH_NONE:
    default:
        return 0;
    }
}

const char *
qt_crypto_hash_name(enum qt_crypto_hash h)
{
    switch (h) {
    case QT_CRYPTO_HASH_SHA1:
        return "SHA1";
    case QT_CRYPTO_HASH_SHA224:
        return "SHA2-224";
    case QT_CRYPTO_HASH_SHA256:
        return "SHA2-256";
    case QT_CRYPTO_HASH_SHA384:
        return "SHA2-384";
    case QT_CRYPTO_HASH_SHA512:
        return "SHA2-512";
    case QT_CRYPTO_HASH_NONE:
    default:
        return NULL;
    }
}

EVP_MD *
qt_crypto_md_fetch(OSSL_LIB_CTX *lc, enum qt_crypto_hash h)
{
    const char *name = qt_crypto_hash_name(h);

    return name == NULL ? NULL : EVP_MD_fetch(lc, name, NULL);
}

/* ************************************************************************* */
/* DER helpers                                                               */
/* ************************************************************************* */

qt_rc
qt_crypto_der_header(struct qt_buf *b, uint8_t tag, size_t len)
{
    uint8_t h[4];
    size_t n = 0;

    QT_ENSURE(len < 65536, QT_E_RANGE);
    h[n++] = tag;
    if (len < 128) {
        h[n++] = (uint8_t)len;
    } else if (len < 256) {
        h[n++] = 0x81;
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = 0x82;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    }
    return qt_buf_put(b, h, n);
}

qt_rc
qt_crypto_der_read(const uint8_t **p, const uint8_t *end, uint8_t tag, size_t *len)
{
    const uint8_t *c = *p;
    size_t l;

    QT_ENSURE(end - c >= 2 && c[0] == tag, QT_E_FORMAT);
    if (c[1] < 0x80) {
        l = c[1];
        c += 2;
    } else if (c[1] == 0x81) {
        QT_ENSURE(end - c >= 3 && c[2] >= 0x80, QT_E_FORMAT);
        l = c[2];
        c += 3;
    } else if (c[1] == 0x82) {
        QT_ENSURE(end - c >= 4 && c[2] != 0, QT_E_FORMAT);
        l = ((size_t)c[2] << 8) | c[3];
        c += 4;
    } else {
        return QT_E_FORMAT;
    }
    QT_ENSURE((size_t)(end - c) >= l, QT_E_FORMAT);
    *p = c;
    *len = l;
    return QT_OK;
}

/* ************************************************************************* */
/* Key object                                                                */
/* ************************************************************************* */

struct qt_crypto_key *
qt_crypto_key_alloc(OSSL_LIB_CTX *lc, enum qt_crypto_key_type type)
{
    struct qt_crypto_key *k = OPENSSL_zalloc(sizeof(*k));

    if (k != NULL) {
        k->type = type;
        k->lc = lc;
    }
    return k;
}

qt_rc
qt_crypto_key_from_pkey(OSSL_LIB_CTX *lc, EVP_PKEY *pkey, int priv, struct qt_crypto_key **out)
{
    struct qt_crypto_key *k = NULL;
    qt_rc rc = QT_E_ARG;

    if (pkey == NULL || out == NULL) {
        goto out;
    }
    rc = QT_E_NOMEM;
    if ((k = qt_crypto_key_alloc(lc, QT_CRYPTO_KEY_NONE)) == NULL) {
        goto out;
    }
    k->priv = priv ? 1 : 0;
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        k->type = QT_CRYPTO_KEY_RSA;
        k->bits = (size_t)EVP_PKEY_get_bits(pkey);
    } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
        k->type = QT_CRYPTO_KEY_EC_EDWARDS;
        k->curve = QT_CRYPTO_CURVE_ED25519;
    } else if (EVP_PKEY_is_a(pkey, "ED448")) {
        k->type = QT_CRYPTO_KEY_EC_EDWARDS;
        k->curve = QT_CRYPTO_CURVE_ED448;
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[32];
        size_t glen = 0;
        static const struct {
            const char *name;
            enum qt_crypto_curve c;
        } names[] = {
            {"prime256v1", QT_CRYPTO_CURVE_P256}, {"P-256", QT_CRYPTO_CURVE_P256},
            {"secp384r1", QT_CRYPTO_CURVE_P384},  {"P-384", QT_CRYPTO_CURVE_P384},
            {"secp521r1", QT_CRYPTO_CURVE_P521},  {"P-521", QT_CRYPTO_CURVE_P521},
            {"secp256k1", QT_CRYPTO_CURVE_SECP256K1},
        };

        k->type = QT_CRYPTO_KEY_EC;
        rc = QT_E_UNSUPPORTED;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof(group), &glen)) {
            goto out;
        }
        for (size_t i = 0; i < QT_ARRAY_LEN(names); i++) {
            if (OPENSSL_strcasecmp(group, names[i].name) == 0) {
                k->curve = names[i].c;
            }
        }
        if (k->curve == QT_CRYPTO_CURVE_NONE) {
            goto out;
        }
    } else {
        rc = QT_E_UNSUPPORTED;
        goto out;
    }
    if (k->type != QT_CRYPTO_KEY_RSA) {
        k->bits = qt_crypto_curve_bits(k->curve);
    }
    k->pkey = pkey;
    pkey = NULL;
    *out = k;
    k = NULL;
    rc = QT_OK;
out:
    EVP_PKEY_free(pkey);
    qt_crypto_key_free(k);
    return rc;
}

void
qt_crypto_key_free(struct qt_crypto_key *k)
{
    if (k == NULL) {
        return;
    }
    qt_crypto_tmpl_free_all(k); /* before the key they refer to */
    EVP_PKEY_free(k->pkey);
    qt_secret_clear(&k->secret);
    OPENSSL_clear_free(k, sizeof(*k));
}

enum qt_crypto_key_type
qt_crypto_key_type(const struct qt_crypto_key *k)
{
    return k == NULL ? QT_CRYPTO_KEY_NONE : k->type;
}

enum qt_crypto_curve
qt_crypto_key_curve(const struct qt_crypto_key *k)
{
    return k == NULL ? QT_CRYPTO_CURVE_NONE : k->curve;
}

int
qt_crypto_key_is_private(const struct qt_crypto_key *k)
{
    return k != NULL && k->priv;
}

size_t
qt_crypto_key_bits(const struct qt_crypto_key *k)
{
    return k == NULL ? 0 : k->bits;
}

/* ************************************************************************* */
/* Secret keys                                                               */
/* ************************************************************************* */

static qt_rc
secret_len_ok(enum qt_crypto_key_type type, size_t len)
{
    if (type == QT_CRYPTO_KEY_AES) {
        return len == 16 || len == 24 || len == 32 ? QT_OK : QT_E_RANGE;
    }
    if (type == QT_CRYPTO_KEY_GENERIC_SECRET) {
        return len >= 1 && len <= QT_CRYPTO_SECRET_MAX ? QT_OK : QT_E_RANGE;
    }
    return QT_E_ARG;
}

qt_rc
qt_crypto_key_secret(OSSL_LIB_CTX *lc, enum qt_crypto_key_type type, const uint8_t *value,
                     size_t len, struct qt_crypto_key **out)
{
    struct qt_crypto_key *k;
    qt_rc rc;

    QT_ENSURE_REF(out);
    QT_ENSURE(value != NULL || len == 0, QT_E_ARG);
    QT_TRY(secret_len_ok(type, len));

    if ((k = qt_crypto_key_alloc(lc, type)) == NULL) {
        return QT_E_NOMEM;
    }
    if ((rc = qt_secret_init(&k->secret, len)) != QT_OK) {
        goto out;
    }
    memcpy(k->secret.p, value, len);
    k->priv = 1;
    k->bits = len * 8;
    *out = k;
    k = NULL;
out:
    qt_crypto_key_free(k);
    return rc;
}

qt_rc
qt_crypto_secret_generate(OSSL_LIB_CTX *lc, enum qt_crypto_key_type type, size_t len,
                          struct qt_crypto_key **out)
{
    struct qt_crypto_key *k;
    qt_rc rc;

    QT_ENSURE_REF(out);
    QT_TRY(secret_len_ok(type, len));

    ERR_set_mark();
    if ((k = qt_crypto_key_alloc(lc, type)) == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if ((rc = qt_secret_init(&k->secret, len)) != QT_OK) {
        goto out;
    }
    /* Key values come from the private libctx's DRBG (seeded by the QRNG). */
    if ((rc = qt_ossl(RAND_priv_bytes_ex(lc, k->secret.p, len, 0), QT_E_CRYPTO)) != QT_OK) {
        goto out;
    }
    k->priv = 1;
    k->bits = len * 8;
    *out = k;
    k = NULL;
out:
    qt_crypto_key_free(k);
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_crypto_secret_export(const struct qt_crypto_key *k, struct qt_secret *out)
{
    QT_ENSURE(k != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(k->secret.p != NULL, QT_E_ARG);

    QT_TRY(qt_secret_init(out, k->secret.n));
    memcpy(out->p, k->secret.p, k->secret.n);
    return QT_OK;
}

qt_rc
qt_crypto_key_check_value(const struct qt_crypto_key *k, uint8_t out[3])
{
    static const uint8_t zero[16] = {0};
    EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    EVP_MD *md = NULL;
    uint8_t block[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int outl = 0;
    qt_rc rc = QT_E_CRYPTO;

    QT_ENSURE(k != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(k->secret.p != NULL, QT_E_ARG);

    ERR_set_mark();
    if (k->type == QT_CRYPTO_KEY_AES) {
        /* PKCS#11 3.0 "AES secret key objects": first 3 bytes of the ECB
         * encryption of one block of zeros. */
        const char *name = k->secret.n == 16   ? "AES-128-ECB"
                           : k->secret.n == 24 ? "AES-192-ECB"
                                               : "AES-256-ECB";
        if ((cipher = EVP_CIPHER_fetch(k->lc, name, NULL)) == NULL ||
            (ctx = EVP_CIPHER_CTX_new()) == NULL ||
            !EVP_EncryptInit_ex2(ctx, cipher, k->secret.p, NULL, NULL) ||
            !EVP_CIPHER_CTX_set_padding(ctx, 0) ||
            !EVP_EncryptUpdate(ctx, block, &outl, zero, sizeof(zero)) || outl != 16) {
            goto out;
        }
    } else {
        /* PKCS#11 3.0 "Generic secret key objects": first 3 bytes of the
         * SHA-1 hash of CKA_VALUE. */
        if ((md = qt_crypto_md_fetch(k->lc, QT_CRYPTO_HASH_SHA1)) == NULL ||
            !EVP_Digest(k->secret.p, k->secret.n, block, &mdlen, md, NULL)) {
            goto out;
        }
    }
    memcpy(out, block, 3);
    rc = QT_OK;
out:
    qt_wipe(block, sizeof(block));
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    EVP_MD_free(md);
    ERR_pop_to_mark();
    return rc;
}

/* ************************************************************************* */
/* SubjectPublicKeyInfo                                                      */
/* ************************************************************************* */

/* SubjectPublicKeyInfo of an EC (named curve) or EdDSA key with the ASN.1
 * templates (X509_PUBKEY): the algorithm OID, the curve OID as parameters
 * (none for EdDSA, RFC 8410) and the encoded point or raw key.  OpenSSL
 * 3.0's provider encoder looks its encoders up by name at every call
 * (OSSL_ENCODER_CTX_new_for_pkey: ~40% of an EC session-key generation);
 * this path gives the same DER (checked against i2d_PUBKEY in the unit
 * tests).  QT_E_UNSUPPORTED for other keys: the encoder handles them. */
static qt_rc
spki_templates(const struct qt_crypto_key *k, struct qt_buf *out)
{
    EVP_PKEY *pkey = k->pkey;
    unsigned char pub[200], *der = NULL, *copy = NULL;
    char group[64];
    size_t pub_len = 0;
    X509_PUBKEY *xp = NULL;
    ASN1_OBJECT *alg;
    void *param = NULL;
    int ptype = V_ASN1_UNDEF, der_len;
    qt_rc rc = QT_E_UNSUPPORTED;

    if (EVP_PKEY_is_a(pkey, "EC")) {
        int nid;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof(group), NULL) ||
            (nid = OBJ_sn2nid(group)) == NID_undef) {
            nid = OBJ_txt2nid(group);
        }
        if (nid == NID_undef ||
            !qt_crypto_ec_encoded_pub(k, pub, sizeof(pub), &pub_len)) {
            return QT_E_UNSUPPORTED;
        }
        alg = OBJ_nid2obj(NID_X9_62_id_ecPublicKey);
        param = OBJ_nid2obj(nid);
        ptype = V_ASN1_OBJECT;
    } else if (EVP_PKEY_is_a(pkey, "ED25519") || EVP_PKEY_is_a(pkey, "ED448")) {
        pub_len = sizeof(pub);
        if (EVP_PKEY_get_raw_public_key(pkey, pub, &pub_len) != 1) {
            return QT_E_UNSUPPORTED;
        }
        alg = OBJ_nid2obj(EVP_PKEY_is_a(pkey, "ED25519") ? NID_ED25519 : NID_ED448);
    } else {
        return QT_E_UNSUPPORTED;
    }
    if (alg == NULL || (ptype == V_ASN1_OBJECT && param == NULL) ||
        (xp = X509_PUBKEY_new()) == NULL || (copy = OPENSSL_memdup(pub, pub_len)) == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if (X509_PUBKEY_set0_param(xp, alg, ptype, param, copy, (int)pub_len) != 1) {
        rc = QT_E_CRYPTO;
        goto out;
    }
    copy = NULL; /* owned by xp */
    if ((der_len = i2d_X509_PUBKEY(xp, &der)) <= 0) {
        rc = QT_E_CRYPTO;
        goto out;
    }
    qt_buf_init(out);
    if ((rc = qt_buf_put(out, der, (size_t)der_len)) != QT_OK) {
        qt_buf_clear(out);
    }
out:
    OPENSSL_free(copy);
    OPENSSL_free(der);
    X509_PUBKEY_free(xp);
    return rc;
}

qt_rc
qt_crypto_key_spki(const struct qt_crypto_key *k, struct qt_buf *out)
{
    OSSL_ENCODER_CTX *ectx = NULL;
    unsigned char *der = NULL;
    size_t der_len = 0;
    qt_rc rc = QT_E_CRYPTO;

    QT_ENSURE(k != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(k->pkey != NULL, QT_E_ARG);

    ERR_set_mark();
    if ((rc = spki_templates(k, out)) != QT_E_UNSUPPORTED) {
        ERR_pop_to_mark();
        return rc;
    }
    rc = QT_E_CRYPTO;
    ectx = OSSL_ENCODER_CTX_new_for_pkey(k->pkey, EVP_PKEY_PUBLIC_KEY, "DER",
                                         "SubjectPublicKeyInfo", NULL);
    if (ectx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0 ||
        !OSSL_ENCODER_to_data(ectx, &der, &der_len)) {
        goto out;
    }
    qt_buf_init(out);
    if ((rc = qt_buf_put(out, der, der_len)) != QT_OK) {
        qt_buf_clear(out);
    }
out:
    OPENSSL_free(der);
    OSSL_ENCODER_CTX_free(ectx);
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_crypto_key_fingerprint(const struct qt_crypto_key *k, uint8_t out[32])
{
    struct qt_buf spki = {0};
    qt_rc rc;

    QT_ENSURE(k != NULL && out != NULL, QT_E_ARG);
    QT_TRY(qt_crypto_key_spki(k, &spki));
    rc = qt_crypto_digest(k->lc, QT_CRYPTO_HASH_SHA256, spki.p, spki.len, out, 32);
    qt_buf_clear(&spki);
    return rc;
}
