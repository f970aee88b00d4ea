/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RSA keys: generation in the token's libctx, building an EVP_PKEY from the
 * big-endian components PKCS#11 stores (OSSL_PARAM + EVP_PKEY_fromdata),
 * exporting those components back (EVP_PKEY_get_bn_param), and the RSA
 * encryption primitives (PKCS#1 v1.5, OAEP, raw) behind crypto_cipher.c.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <string.h>

#include "../common/check.h"
#include "crypto_int.h"

#define RSA_GEN_MIN_BITS 2048
#define RSA_GEN_MAX_BITS 8192
#define RSA_IMPORT_MIN_BITS 1024
#define RSA_IMPORT_MAX_BITS 16384

size_t
qt_crypto_rsa_k(const struct qt_crypto_key *k)
{
    return (k->bits + 7) / 8;
}

qt_rc
qt_crypto_rsa_x509_block(const struct qt_crypto_key *k, const uint8_t *in, size_t in_len,
                         uint8_t *block, size_t k_len)
{
    BIGNUM *n = NULL;
    BIGNUM *v = NULL;
    qt_rc rc = QT_E_CRYPTO;

    QT_ENSURE(in_len <= k_len, QT_E_RANGE);
    memset(block, 0, k_len - in_len);
    if (in_len > 0) {
        memcpy(block + k_len - in_len, in, in_len);
    }
    if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &n) &&
        (v = BN_bin2bn(block, (int)k_len, NULL)) != NULL) {
        rc = BN_ucmp(v, n) < 0 ? QT_OK : QT_E_RANGE;
    }
    BN_clear_free(v);
    BN_free(n);
    return rc;
}

static int
span_set(const struct qt_crypto_span *s)
{
    return s->p != NULL && s->n > 0;
}

/* Pushes a big-endian span as an unsigned BIGNUM.  Secret components go
 * through a secure BIGNUM cleared on free. */
static qt_rc
push_bn(OSSL_PARAM_BLD *bld, const char *key, const struct qt_crypto_span *s, BIGNUM **keep,
        int secret)
{
    BIGNUM *bn = secret ? BN_secure_new() : BN_new();

    if (bn == NULL) {
        return QT_E_NOMEM;
    }
    *keep = bn; /* freed by the caller after the build */
    if (BN_bin2bn(s->p, (int)s->n, bn) == NULL || !OSSL_PARAM_BLD_push_BN(bld, key, bn)) {
        return QT_E_CRYPTO;
    }
    return QT_OK;
}

static qt_rc
rsa_fromdata(OSSL_LIB_CTX *lc, const struct qt_crypto_rsa_parts *c, int priv,
             struct qt_crypto_key **out)
{
    static const char *const crt_names[5] = {
        OSSL_PKEY_PARAM_RSA_FACTOR1,    OSSL_PKEY_PARAM_RSA_FACTOR2,
        OSSL_PKEY_PARAM_RSA_EXPONENT1,  OSSL_PKEY_PARAM_RSA_EXPONENT2,
        OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
    };
    const struct qt_crypto_span *crt[5] = {&c->p, &c->q, &c->dp, &c->dq, &c->qinv};
    BIGNUM *bns[8] = {NULL};
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;
    size_t ncrt = 0;
    int bits;
    qt_rc rc;

    for (size_t i = 0; i < 5; i++) {
        ncrt += span_set(crt[i]) ? 1 : 0;
    }
    QT_ENSURE(span_set(&c->n) && span_set(&c->e), QT_E_ARG);
    QT_ENSURE(!priv || span_set(&c->d), QT_E_ARG);
    QT_ENSURE(!priv || ncrt == 0 || ncrt == 5, QT_E_ARG);
    QT_ENSURE(c->n.n <= RSA_IMPORT_MAX_BITS / 8 + 1 && c->e.n <= 64, QT_E_RANGE);
    /* n and e odd, e > 1: even moduli and exponent 1 are not RSA keys. */
    QT_ENSURE((c->n.p[c->n.n - 1] & 1) && (c->e.p[c->e.n - 1] & 1), QT_E_FORMAT);

    ERR_set_mark();
    rc = QT_E_NOMEM;
    if ((bld = OSSL_PARAM_BLD_new()) == NULL) {
        goto out;
    }
    if ((rc = push_bn(bld, OSSL_PKEY_PARAM_RSA_N, &c->n, &bns[0], 0)) != QT_OK ||
        (rc = push_bn(bld, OSSL_PKEY_PARAM_RSA_E, &c->e, &bns[1], 0)) != QT_OK) {
        goto out;
    }
    rc = QT_E_RANGE;
    bits = BN_num_bits(bns[0]);
    if (bits < RSA_IMPORT_MIN_BITS || bits > RSA_IMPORT_MAX_BITS) {
        goto out;
    }
    rc = QT_E_FORMAT;
    if (BN_is_one(bns[1])) {
        goto out;
    }
    if (priv) {
        if ((rc = push_bn(bld, OSSL_PKEY_PARAM_RSA_D, &c->d, &bns[2], 1)) != QT_OK) {
            goto out;
        }
        for (size_t i = 0; i < ncrt; i++) {
            if ((rc = push_bn(bld, crt_names[i], crt[i], &bns[3 + i], 1)) != QT_OK) {
                goto out;
            }
        }
    }
    rc = QT_E_CRYPTO;
    if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (pctx = EVP_PKEY_CTX_new_from_name(lc, QT_CRYPTO_KM_RSA, NULL)) == NULL ||
        EVP_PKEY_fromdata_init(pctx) <= 0 ||
        EVP_PKEY_fromdata(pctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params) <= 0) {
        goto out;
    }
    rc = qt_crypto_key_from_pkey(lc, pkey, priv, out);
    pkey = NULL;
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params); /* OSSL_PARAM_BLD clears secure BN copies on free */
    OSSL_PARAM_BLD_free(bld);
    for (size_t i = 0; i < QT_ARRAY_LEN(bns); i++) {
        BN_clear_free(bns[i]);
    }
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_crypto_key_rsa_public(OSSL_LIB_CTX *lc, const struct qt_crypto_rsa_parts *c,
                         struct qt_crypto_key **out)
{
    QT_ENSURE(c != NULL && out != NULL, QT_E_ARG);
    return rsa_fromdata(lc, c, 0, out);
}

qt_rc
qt_crypto_key_rsa_private(OSSL_LIB_CTX *lc, const struct qt_crypto_rsa_parts *c,
                          struct qt_crypto_key **out)
{
    QT_ENSURE(c != NULL && out != NULL, QT_E_ARG);
    return rsa_fromdata(lc, c, 1, out);
}

qt_rc
qt_crypto_rsa_generate(OSSL_LIB_CTX *lc, size_t bits, const uint8_t *pub_exp, size_t pub_exp_len,
                       struct qt_crypto_key **out)
{
    static const uint8_t f4[3] = {0x01, 0x00, 0x01};
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *e = NULL;
    qt_rc rc = QT_E_NOMEM;

    QT_ENSURE_REF(out);
    QT_ENSURE(bits >= RSA_GEN_MIN_BITS && bits <= RSA_GEN_MAX_BITS && bits % 8 == 0, QT_E_RANGE);
    if (pub_exp == NULL || pub_exp_len == 0) {
        pub_exp = f4;
        pub_exp_len = sizeof(f4);
    }
    /* Odd, >= 3, at most 64 bits (OpenSSL's limit for RSA keygen). */
    QT_ENSURE(pub_exp_len <= 8 && (pub_exp[pub_exp_len - 1] & 1), QT_E_ARG);

    ERR_set_mark();
    if ((e = BN_bin2bn(pub_exp, (int)pub_exp_len, NULL)) == NULL) {
        goto out;
    }
    rc = QT_E_ARG;
    if (BN_is_one(e)) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    if ((pctx = EVP_PKEY_CTX_new_from_name(lc, QT_CRYPTO_KM_RSA, NULL)) == NULL ||
        EVP_PKEY_keygen_init(pctx) <= 0 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(pctx, (int)bits) <= 0 ||
        EVP_PKEY_CTX_set1_rsa_keygen_pubexp(pctx, e) <= 0 ||
        EVP_PKEY_generate(pctx, &pkey) <= 0) {
        goto out;
    }
    rc = qt_crypto_key_from_pkey(lc, pkey, 1, out);
    pkey = NULL;
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(pctx);
    BN_free(e);
    ERR_pop_to_mark();
    return rc;
}

/* ************************************************************************* */
/* Export                                                                    */
/* ************************************************************************* */

static qt_rc
get_public(const EVP_PKEY *pkey, const char *name, struct qt_buf *b)
{
    BIGNUM *bn = NULL;
    uint8_t *tmp = NULL;
    int len;
    qt_rc rc = QT_E_CRYPTO;

    if (!EVP_PKEY_get_bn_param(pkey, name, &bn)) {
        goto out;
    }
    len = BN_num_bytes(bn);
    rc = QT_E_NOMEM;
    if ((tmp = OPENSSL_malloc(len > 0 ? (size_t)len : 1)) == NULL) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    if (BN_bn2bin(bn, tmp) != len) {
        goto out;
    }
    qt_buf_init(b);
    rc = qt_buf_put(b, tmp, (size_t)len);
out:
    OPENSSL_free(tmp);
    BN_free(bn);
    return rc;
}

/* A private component into locked memory; a missing CRT part leaves s empty. */
static qt_rc
get_secret(const EVP_PKEY *pkey, const char *name, struct qt_secret *s, int optional)
{
    BIGNUM *bn = NULL;
    int len;
    qt_rc rc;

    if (!EVP_PKEY_get_bn_param(pkey, name, &bn)) {
        return optional ? QT_OK : QT_E_CRYPTO;
    }
    len = BN_num_bytes(bn);
    if ((rc = qt_secret_init(s, len > 0 ? (size_t)len : 1)) != QT_OK) {
        goto out;
    }
    if (BN_bn2binpad(bn, s->p, (int)s->n) < 0) {
        rc = QT_E_CRYPTO;
        qt_secret_clear(s);
    }
out:
    BN_clear_free(bn);
    return rc;
}

qt_rc
qt_crypto_rsa_export(const struct qt_crypto_key *k, struct qt_crypto_rsa_attrs *out)
{
    qt_rc rc;

    QT_ENSURE(k != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(k->type == QT_CRYPTO_KEY_RSA, QT_E_ARG);

    ERR_set_mark();
    if ((rc = get_public(k->pkey, OSSL_PKEY_PARAM_RSA_N, &out->n)) != QT_OK ||
        (rc = get_public(k->pkey, OSSL_PKEY_PARAM_RSA_E, &out->e)) != QT_OK) {
        goto out;
    }
    if (k->priv) {
        if ((rc = get_secret(k->pkey, OSSL_PKEY_PARAM_RSA_D, &out->d, 0)) != QT_OK ||
            (rc = get_secret(k->pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &out->p, 1)) != QT_OK ||
            (rc = get_secret(k->pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, &out->q, 1)) != QT_OK ||
            (rc = get_secret(k->pkey, OSSL_PKEY_PARAM_RSA_EXPONENT1, &out->dp, 1)) != QT_OK ||
            (rc = get_secret(k->pkey, OSSL_PKEY_PARAM_RSA_EXPONENT2, &out->dq, 1)) != QT_OK ||
            (rc = get_secret(k->pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, &out->qinv, 1)) !=
                QT_OK) {
            goto out;
        }
    }
out:
    if (rc != QT_OK) {
        qt_crypto_rsa_attrs_clear(out);
    }
    ERR_pop_to_mark();
    return rc;
}

void
qt_crypto_rsa_attrs_clear(struct qt_crypto_rsa_attrs *a)
{
    if (a == NULL) {
        return;
    }
    qt_buf_clear(&a->n);
    qt_buf_clear(&a->e);
    qt_secret_clear(&a->d);
    qt_secret_clear(&a->p);
    qt_secret_clear(&a->q);
    qt_secret_clear(&a->dp);
    qt_secret_clear(&a->dq);
    qt_secret_clear(&a->qinv);
}

/* ************************************************************************* */
/* Encryption (single-part; crypto_cipher.c owns the length convention)      */
/* ************************************************************************* */

static qt_rc
rsa_enc_ctx(const struct qt_crypto_key *k, const struct qt_crypto_rsa_enc *p, int enc,
            EVP_PKEY_CTX **out)
{
    EVP_PKEY_CTX *pctx;
    OSSL_PARAM op[4];
    size_t i = 0;
    int pad = p->type == QT_CRYPTO_MECH_RSA_OAEP   ? RSA_PKCS1_OAEP_PADDING
              : p->type == QT_CRYPTO_MECH_RSA_X509 ? RSA_NO_PADDING
                                                   : RSA_PKCS1_PADDING;

    if ((pctx = EVP_PKEY_CTX_new_from_pkey(k->lc, k->pkey, NULL)) == NULL) {
        return QT_E_NOMEM;
    }
    if ((enc ? EVP_PKEY_encrypt_init(pctx) : EVP_PKEY_decrypt_init(pctx)) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, pad) <= 0) {
        EVP_PKEY_CTX_free(pctx);
        return QT_E_CRYPTO;
    }
    if (p->type == QT_CRYPTO_MECH_RSA_OAEP) {
        /* The label is passed by reference; the provider keeps its own copy. */
        op[i++] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST,
                                                   (char *)qt_crypto_hash_name(p->oaep_hash), 0);
        op[i++] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST,
                                                   (char *)qt_crypto_hash_name(p->mgf1_hash), 0);
        if (p->label_len > 0) {
            op[i++] = OSSL_PARAM_construct_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL,
                                                        (void *)p->label, p->label_len);
        }
        op[i] = OSSL_PARAM_construct_end();
        if (EVP_PKEY_CTX_set_params(pctx, op) <= 0) {
            EVP_PKEY_CTX_free(pctx);
            return QT_E_CRYPTO;
        }
    }
    *out = pctx;
    return QT_OK;
}

qt_rc
qt_crypto_rsa_enc_check(const struct qt_crypto_key *k, const struct qt_crypto_rsa_enc *p,
                        const uint8_t *in, size_t in_len)
{
    size_t k_len = qt_crypto_rsa_k(k);
    uint8_t block[RSA_IMPORT_MAX_BITS / 8];
    size_t max;
    qt_rc rc;

    switch (p->type) {
    case QT_CRYPTO_MECH_RSA_PKCS:
        max = k_len - 11; /* RFC 8017 7.2.1 */
        break;
    case QT_CRYPTO_MECH_RSA_OAEP:
        max = k_len - 2 - 2 * qt_crypto_hash_len(p->oaep_hash); /* RFC 8017 7.1.1 */
        break;
    default:
        max = k_len;
        break;
    }
    QT_ENSURE(in_len <= max && k_len <= sizeof(block), QT_E_RANGE);
    if (p->type != QT_CRYPTO_MECH_RSA_X509) {
        return QT_OK;
    }
    rc = qt_crypto_rsa_x509_block(k, in, in_len, block, k_len);
    qt_wipe(block, k_len);
    return rc;
}

qt_rc
qt_crypto_rsa_encrypt(const struct qt_crypto_key *k, const struct qt_crypto_rsa_enc *p,
                      const uint8_t *in, size_t in_len, uint8_t *out)
{
    size_t k_len = qt_crypto_rsa_k(k);
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t block[RSA_IMPORT_MAX_BITS / 8];
    size_t len = k_len;
    qt_rc rc;

    QT_TRY(qt_crypto_rsa_enc_check(k, p, in, in_len));

    ERR_set_mark();
    if (p->type == QT_CRYPTO_MECH_RSA_X509) {
        /* RSA_NO_PADDING takes exactly k bytes: left-pad (PKCS#11 X.509) */
        if ((rc = qt_crypto_rsa_x509_block(k, in, in_len, block, k_len)) != QT_OK) {
            goto out;
        }
        in = block;
        in_len = k_len;
    }
    if ((rc = rsa_enc_ctx(k, p, 1, &pctx)) != QT_OK) {
        goto out;
    }
    rc = QT_E_CRYPTO;
    if (EVP_PKEY_encrypt(pctx, out, &len, in, in_len) > 0 && len == k_len) {
        rc = QT_OK;
    }
out:
    qt_wipe(block, sizeof(block));
    EVP_PKEY_CTX_free(pctx);
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_crypto_rsa_decrypt(const struct qt_crypto_key *k, const struct qt_crypto_rsa_enc *p,
                      const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
    size_t k_len = qt_crypto_rsa_k(k);
    EVP_PKEY_CTX *pctx = NULL;
    size_t len = k_len;
    qt_rc rc;

    QT_ENSURE(in_len == k_len, QT_E_RANGE);
    QT_ENSURE(k->priv, QT_E_ARG);

    ERR_set_mark();
    if ((rc = rsa_enc_ctx(k, p, 0, &pctx)) != QT_OK) {
        goto out;
    }
    /* Bad padding, or a ciphertext not below n.  OpenSSL 3.0 has no implicit
     * rejection for PKCS#1 v1.5: the error itself is the (documented) signal. */
    rc = QT_E_FORMAT;
    if (EVP_PKEY_decrypt(pctx, out, &len, in, in_len) > 0 && len <= k_len) {
        *out_len = len;
        rc = QT_OK;
    }
out:
    EVP_PKEY_CTX_free(pctx);
    ERR_pop_to_mark();
    return rc;
}
