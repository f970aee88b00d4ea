/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signatures and MACs: RSA PKCS#1 v1.5, PSS and X.509 (raw and
 * hash-then-sign), ECDSA (raw and hash-then-sign, PKCS#11 r||s format),
 * EdDSA (pure, buffered) and HMAC, behind one update/final context.
 *
 * Hash-then-sign mechanisms stream through EVP_DigestSign*; raw mechanisms
 * buffer their input (bounded by what the mechanism can take) and sign it with
 * EVP_PKEY_sign at final; HMAC streams through EVP_MAC.  The signature length
 * is known when the context is made, so the two-call length convention never
 * needs to run OpenSSL.
 *
 * The OpenSSL contexts come from the key's prepared templates
 * (crypto_tmpl.c), one per setup (sign_id): duplicated per operation, so
 * no algorithm is fetched and no key is re-initialised per signature.  An
 * HMAC context that finished is handed back to its template and the next
 * operation re-initialises it with the key it already holds.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <string.h>

#include "../common/check.h"
#include "crypto_int.h"

/* EdDSA signs the whole message at once: buffer at most this much. */
#define EDDSA_BUF_MAX ((size_t)1 << 20)
/* Largest DER Ecdsa-Sig-Value: P-521, two 66-byte integers plus headers. */
#define ECDSA_DER_MAX 160

struct qt_crypto_sign {
    enum qt_crypto_mech_type type;
    enum qt_crypto_hash hash;
    enum qt_crypto_hash pss_hash;
    enum qt_crypto_hash mgf1_hash;
    size_t salt_len;
    const struct qt_crypto_key *key;
    struct qt_crypto_tmpl *tmpl; /* HMAC: where s->mac came from */
    int verify;
    int state;        /* 0 active, 1 finished, -1 error */
    size_t sig_len;   /* exact output length */
    size_t half;      /* ECDSA: bytes of r and of s */
    EVP_MD_CTX *md;   /* hash-then-sign */
    EVP_MAC_CTX *mac; /* HMAC */
    uint8_t *buf;     /* raw mechanisms: buffered data */
    size_t buf_len;
    size_t buf_cap;
    size_t buf_max;   /* QT_E_RANGE beyond this (raw ECDSA: keep, ignore rest) */
};

/* ************************************************************************* */
/* Setup                                                                     */
/* ************************************************************************* */

static int
is_raw(const struct qt_crypto_sign *s)
{
    return s->type != QT_CRYPTO_MECH_HMAC && s->hash == QT_CRYPTO_HASH_NONE;
}

/* Padding and PSS parameters on an RSA operation context. */
static qt_rc
rsa_setup(const struct qt_crypto_sign *s, EVP_PKEY_CTX *pctx)
{
    int pad = s->type == QT_CRYPTO_MECH_RSA_PSS    ? RSA_PKCS1_PSS_PADDING
              : s->type == QT_CRYPTO_MECH_RSA_X509 ? RSA_NO_PADDING
                                                   : RSA_PKCS1_PADDING;

    if (EVP_PKEY_CTX_set_rsa_padding(pctx, pad) <= 0) {
        return QT_E_CRYPTO;
    }
    if (s->type != QT_CRYPTO_MECH_RSA_PSS) {
        return QT_OK;
    }
    if (s->hash == QT_CRYPTO_HASH_NONE) {
        /* Raw PSS: the input is a digest of this hash. */
        OSSL_PARAM p[2];

        p[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                                (char *)qt_crypto_hash_name(s->pss_hash), 0);
        p[1] = OSSL_PARAM_construct_end();
        if (EVP_PKEY_CTX_set_params(pctx, p) <= 0) {
            return QT_E_CRYPTO;
        }
    }
    if (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int)s->salt_len) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, qt_crypto_hash_name(s->mgf1_hash), NULL) <= 0) {
        return QT_E_CRYPTO;
    }
    return QT_OK;
}

/* Checks the mechanism against the key and fills lengths; nothing acquired. */
static qt_rc
check_params(struct qt_crypto_sign *s, const struct qt_crypto_mech *m,
             const struct qt_crypto_key *k)
{
    const struct qt_crypto_curve_info *ci;
    size_t k_len, hlen, em_len;

    switch (m->type) {
    case QT_CRYPTO_MECH_RSA_PKCS:
    case QT_CRYPTO_MECH_RSA_X509:
    case QT_CRYPTO_MECH_RSA_PSS:
        QT_ENSURE(k->type == QT_CRYPTO_KEY_RSA, QT_E_ARG);
        QT_ENSURE(m->type != QT_CRYPTO_MECH_RSA_X509 || m->hash == QT_CRYPTO_HASH_NONE, QT_E_ARG);
        QT_ENSURE(m->hash == QT_CRYPTO_HASH_NONE || qt_crypto_hash_len(m->hash) != 0, QT_E_ARG);
        k_len = qt_crypto_rsa_k(k);
        s->sig_len = k_len;
        if (m->type == QT_CRYPTO_MECH_RSA_PKCS) {
            s->buf_max = k_len - 11; /* RFC 8017 8.2.1: mLen <= k - 11 */
        } else if (m->type == QT_CRYPTO_MECH_RSA_X509) {
            s->buf_max = k_len;
        } else {
            s->pss_hash = m->pss_hash != QT_CRYPTO_HASH_NONE ? m->pss_hash : m->hash;
            s->mgf1_hash = m->mgf1_hash != QT_CRYPTO_HASH_NONE ? m->mgf1_hash : s->pss_hash;
            hlen = qt_crypto_hash_len(s->pss_hash);
            QT_ENSURE(hlen != 0 && qt_crypto_hash_len(s->mgf1_hash) != 0, QT_E_ARG);
            /* PKCS#11: for SHA*_RSA_PKCS_PSS hashAlg must be the mechanism's. */
            QT_ENSURE(m->hash == QT_CRYPTO_HASH_NONE || m->hash == s->pss_hash, QT_E_ARG);
            /* RFC 8017 9.1.1: emLen >= hLen + sLen + 2, emLen = ceil((modBits-1)/8) */
            em_len = (k->bits - 1 + 7) / 8;
            QT_ENSURE(m->salt_len <= em_len && hlen + m->salt_len + 2 <= em_len, QT_E_RANGE);
            s->salt_len = m->salt_len;
            s->buf_max = hlen;
        }
        return QT_OK;
    case QT_CRYPTO_MECH_ECDSA:
        QT_ENSURE(k->type == QT_CRYPTO_KEY_EC, QT_E_ARG);
        QT_ENSURE(m->hash == QT_CRYPTO_HASH_NONE || qt_crypto_hash_len(m->hash) != 0, QT_E_ARG);
        ci = qt_crypto_curve_info(k->curve);
        QT_ENSURE(ci != NULL, QT_E_INTERNAL);
        s->half = ci->scalar_len;
        s->sig_len = 2 * ci->scalar_len;
        /* FIPS 186-4 6.4: only the leftmost order-length bits of a longer
         * hash are used, so only the first half bytes need keeping. */
        s->buf_max = ci->scalar_len;
        return QT_OK;
    case QT_CRYPTO_MECH_EDDSA:
        QT_ENSURE(k->type == QT_CRYPTO_KEY_EC_EDWARDS, QT_E_ARG);
        QT_ENSURE(m->hash == QT_CRYPTO_HASH_NONE, QT_E_ARG);
        ci = qt_crypto_curve_info(k->curve);
        QT_ENSURE(ci != NULL, QT_E_INTERNAL);
        s->sig_len = ci->sig_len;
        s->buf_max = EDDSA_BUF_MAX;
        return QT_OK;
    case QT_CRYPTO_MECH_HMAC:
        QT_ENSURE(k->type == QT_CRYPTO_KEY_GENERIC_SECRET || k->type == QT_CRYPTO_KEY_AES,
                  QT_E_ARG);
        hlen = qt_crypto_hash_len(m->hash);
        QT_ENSURE(hlen != 0 && m->mac_len <= hlen, QT_E_ARG);
        s->sig_len = m->mac_len != 0 ? m->mac_len : hlen;
        return QT_OK;
    default:
        return QT_E_ARG;
    }
}

/* The template id of s's setup: everything that makes its OpenSSL context
 * (the signature length and the raw buffer limits are not part of it). */
static uint64_t
sign_id(const struct qt_crypto_sign *s)
{
    return (uint64_t)1 << 60 | (uint64_t)s->verify << 56 | (uint64_t)s->type << 48 |
           (uint64_t)s->hash << 40 | (uint64_t)s->pss_hash << 32 | (uint64_t)s->mgf1_hash << 24 |
           (uint64_t)(s->salt_len & 0xffffff);
}

/* qt_crypto_tmpl_make_fn: an HMAC context keyed with k. */
static qt_rc
make_mac(const struct qt_crypto_key *k, const void *arg, void **ctx)
{
    const struct qt_crypto_sign *s = arg;
    EVP_MAC *mac;
    EVP_MAC_CTX *m;
    OSSL_PARAM p[2];

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                            (char *)qt_crypto_hash_name(s->hash), 0);
    p[1] = OSSL_PARAM_construct_end();
    if ((mac = EVP_MAC_fetch(k->lc, "HMAC", NULL)) == NULL) {
        return QT_E_CRYPTO;
    }
    m = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context holds its own reference */
    if ((*ctx = m) == NULL) {
        return QT_E_NOMEM;
    }
    return qt_ossl(EVP_MAC_init(m, k->secret.p, k->secret.n, p), QT_E_CRYPTO);
}

/* qt_crypto_tmpl_make_fn: EVP_DigestSign/VerifyInit with k (hash-then-sign,
 * and EdDSA, which has no digest). */
static qt_rc
make_md(const struct qt_crypto_key *k, const void *arg, void **ctx)
{
    const struct qt_crypto_sign *s = arg;
    EVP_PKEY_CTX *pctx = NULL; /* owned by md */
    const char *mdname = qt_crypto_hash_name(s->hash);
    EVP_MD_CTX *md;
    int ok;

    if ((*ctx = md = EVP_MD_CTX_new()) == NULL) {
        return QT_E_NOMEM;
    }
    if (s->verify) {
        ok = EVP_DigestVerifyInit_ex(md, &pctx, mdname, k->lc, NULL, k->pkey, NULL);
    } else {
        ok = EVP_DigestSignInit_ex(md, &pctx, mdname, k->lc, NULL, k->pkey, NULL);
    }
    if (ok <= 0) {
        return QT_E_CRYPTO;
    }
    return k->type == QT_CRYPTO_KEY_RSA ? rsa_setup(s, pctx) : QT_OK;
}

/* qt_crypto_tmpl_make_fn: EVP_PKEY_sign/verify_init with k (raw mechanisms
 * but EdDSA). */
static qt_rc
make_pkey(const struct qt_crypto_key *k, const void *arg, void **ctx)
{
    const struct qt_crypto_sign *s = arg;
    EVP_PKEY_CTX *pctx;

    if ((*ctx = pctx = EVP_PKEY_CTX_new_from_pkey(k->lc, k->pkey, NULL)) == NULL) {
        return QT_E_CRYPTO;
    }
    if ((s->verify ? EVP_PKEY_verify_init(pctx) : EVP_PKEY_sign_init(pctx)) <= 0) {
        return QT_E_CRYPTO;
    }
    return k->type == QT_CRYPTO_KEY_RSA ? rsa_setup(s, pctx) : QT_OK;
}

/* The HMAC context: an idle one of the template, restarted (EVP_MAC_init
 * with a NULL key keeps the key it holds and starts a new MAC), else a new
 * copy of the template. */
static qt_rc
init_hmac(struct qt_crypto_sign *s)
{
    uint64_t id = sign_id(s);
    EVP_MAC_CTX *m;
    void *ctx;
    qt_rc rc;

    s->tmpl = qt_crypto_tmpl_find(s->key, id);
    if ((m = qt_crypto_tmpl_take_idle(s->tmpl)) != NULL) {
        if (EVP_MAC_init(m, NULL, 0, NULL)) {
            s->mac = m;
            return QT_OK;
        }
        EVP_MAC_CTX_free(m);
    }
    rc = qt_crypto_tmpl_ctx(s->key, id, QT_CRYPTO_TMPL_MAC, make_mac, s, &ctx, &s->tmpl);
    s->mac = ctx;
    return rc;
}

static qt_rc
init_digest_sign(struct qt_crypto_sign *s)
{
    struct qt_crypto_tmpl *t;
    void *md;
    qt_rc rc;

    if ((rc = qt_crypto_tmpl_ctx(s->key, sign_id(s), QT_CRYPTO_TMPL_MD, make_md, s, &md, &t)) !=
        QT_OK) {
        return rc;
    }
    s->md = md;
    return QT_OK;
}

qt_rc
qt_crypto_sign_new(const struct qt_crypto_mech *m, const struct qt_crypto_key *k, int verify,
                   struct qt_crypto_sign **out)
{
    struct qt_crypto_sign *s;
    qt_rc rc = QT_E_NOMEM;

    QT_ENSURE(m != NULL && k != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(verify || k->priv, QT_E_ARG);
    QT_ENSURE(m->type != QT_CRYPTO_MECH_HMAC || k->secret.p != NULL, QT_E_ARG);
    QT_ENSURE(m->type == QT_CRYPTO_MECH_HMAC || k->pkey != NULL, QT_E_ARG);

    if ((s = OPENSSL_zalloc(sizeof(*s))) == NULL) {
        return QT_E_NOMEM;
    }
    ERR_set_mark();
    s->type = m->type;
    s->hash = m->hash;
    s->key = k;
    s->verify = verify ? 1 : 0;
    if ((rc = check_params(s, m, k)) != QT_OK) {
        goto out;
    }
    if (s->type == QT_CRYPTO_MECH_HMAC) {
        rc = init_hmac(s);
    } else if (!is_raw(s)) {
        rc = init_digest_sign(s);
    } else {
        /* Raw: buffer; EdDSA grows on demand, the others have a small bound. */
        s->buf_cap = s->type == QT_CRYPTO_MECH_EDDSA ? 256 : s->buf_max + 1;
        rc = (s->buf = OPENSSL_malloc(s->buf_cap)) != NULL ? QT_OK : QT_E_NOMEM;
    }
    if (rc != QT_OK) {
        goto out;
    }
    *out = s;
    s = NULL;
out:
    qt_crypto_sign_free(s);
    ERR_pop_to_mark();
    return rc;
}

size_t
qt_crypto_sign_len(const struct qt_crypto_sign *s)
{
    return s == NULL ? 0 : s->sig_len;
}

void
qt_crypto_sign_free(struct qt_crypto_sign *s)
{
    if (s == NULL) {
        return;
    }
    EVP_MD_CTX_free(s->md);
    /* a finished MAC goes back to its template for the next operation */
    if (s->state != 1 || !qt_crypto_tmpl_give_idle(s->tmpl, s->mac)) {
        EVP_MAC_CTX_free(s->mac);
    }
    OPENSSL_clear_free(s->buf, s->buf_cap);
    OPENSSL_clear_free(s, sizeof(*s));
}

/* ************************************************************************* */
/* Update                                                                    */
/* ************************************************************************* */

static qt_rc
buffer_data(struct qt_crypto_sign *s, const uint8_t *data, size_t len)
{
    size_t keep = len;
    uint8_t *nb;
    size_t ncap;

    if (s->type == QT_CRYPTO_MECH_ECDSA) {
        /* Raw ECDSA takes any length; bytes past the order length are
         * truncated away by the algorithm, so they are not kept. */
        keep = s->buf_len < s->buf_max ? s->buf_max - s->buf_len : 0;
        keep = keep < len ? keep : len;
    } else if (len > s->buf_max - s->buf_len) {
        return QT_E_RANGE;
    }
    if (keep > s->buf_cap - s->buf_len) {
        ncap = s->buf_cap;
        while (ncap - s->buf_len < keep) {
            ncap = ncap > s->buf_max / 2 ? s->buf_max : ncap * 2;
        }
        if ((nb = OPENSSL_clear_realloc(s->buf, s->buf_cap, ncap)) == NULL) {
            return QT_E_NOMEM;
        }
        s->buf = nb;
        s->buf_cap = ncap;
    }
    if (keep > 0) {
        memcpy(s->buf + s->buf_len, data, keep);
        s->buf_len += keep;
    }
    return QT_OK;
}

qt_rc
qt_crypto_sign_update(struct qt_crypto_sign *s, const uint8_t *data, size_t len)
{
    qt_rc rc;

    QT_ENSURE_REF(s);
    QT_ENSURE(s->state == 0, QT_E_STATE);
    QT_ENSURE(data != NULL || len == 0, QT_E_ARG);

    ERR_set_mark();
    if (s->mac != NULL) {
        rc = qt_ossl(EVP_MAC_update(s->mac, data, len), QT_E_CRYPTO);
    } else if (s->md != NULL) {
        rc = s->verify ? qt_ossl(EVP_DigestVerifyUpdate(s->md, data, len), QT_E_CRYPTO)
                       : qt_ossl(EVP_DigestSignUpdate(s->md, data, len), QT_E_CRYPTO);
    } else {
        rc = buffer_data(s, data, len);
    }
    ERR_pop_to_mark();
    if (rc != QT_OK) {
        s->state = -1;
    }
    return rc;
}

/* ************************************************************************* */
/* Final                                                                     */
/* ************************************************************************* */

/* Raw data length check at final: PSS raw takes exactly one digest. */
static qt_rc
check_raw_len(const struct qt_crypto_sign *s)
{
    if (s->type == QT_CRYPTO_MECH_RSA_PSS && is_raw(s) && s->buf_len != s->buf_max) {
        return QT_E_RANGE;
    }
    return QT_OK;
}

/* Sign (sig != NULL, room for sig_len) or verify (vsig) the buffered data
 * with EVP_PKEY_sign/verify; EdDSA with the one-shot EVP_DigestSign. */
static qt_rc
raw_op(struct qt_crypto_sign *s, uint8_t *sig, const uint8_t *vsig)
{
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *mctx = NULL;
    struct qt_crypto_tmpl *t;
    void *ctx;
    struct qt_buf der = {0};
    uint8_t block[2048]; /* 16384-bit modulus */
    uint8_t dsig[ECDSA_DER_MAX];
    const uint8_t *tbs = s->buf;
    size_t tbs_len = s->buf_len;
    size_t len;
    int ok;
    qt_rc rc = QT_E_CRYPTO;

    if (s->type == QT_CRYPTO_MECH_EDDSA) {
        if ((rc = qt_crypto_tmpl_ctx(s->key, sign_id(s), QT_CRYPTO_TMPL_MD, make_md, s, &ctx,
                                     &t)) != QT_OK) {
            goto out;
        }
        mctx = ctx;
        if (s->verify) {
            ok = EVP_DigestVerify(mctx, vsig, s->sig_len, tbs, tbs_len) == 1;
            rc = ok ? QT_OK : QT_E_SIGNATURE;
        } else {
            len = s->sig_len;
            ok = EVP_DigestSign(mctx, sig, &len, tbs, tbs_len) > 0 && len == s->sig_len;
            rc = ok ? QT_OK : QT_E_CRYPTO;
        }
        goto out;
    }

    if (s->type == QT_CRYPTO_MECH_RSA_X509) {
        if (s->sig_len > sizeof(block)) {
            goto out;
        }
        if ((rc = qt_crypto_rsa_x509_block(s->key, s->buf, s->buf_len, block, s->sig_len)) !=
            QT_OK) {
            goto out;
        }
        rc = QT_E_CRYPTO;
        tbs = block;
        tbs_len = s->sig_len;
    }
    if ((rc = qt_crypto_tmpl_ctx(s->key, sign_id(s), QT_CRYPTO_TMPL_PKEY, make_pkey, s, &ctx,
                                 &t)) != QT_OK) {
        goto out;
    }
    pctx = ctx;
    rc = QT_E_CRYPTO;
    if (s->type == QT_CRYPTO_MECH_ECDSA) {
        if (s->verify) {
            if ((rc = qt_crypto_ecdsa_rs_to_der(vsig, s->sig_len, &der)) != QT_OK) {
                goto out;
            }
            ok = EVP_PKEY_verify(pctx, der.p, der.len, tbs, tbs_len) == 1;
            rc = ok ? QT_OK : QT_E_SIGNATURE;
        } else {
            len = sizeof(dsig);
            if (EVP_PKEY_sign(pctx, dsig, &len, tbs, tbs_len) > 0) {
                rc = qt_crypto_ecdsa_der_to_rs(dsig, len, s->half, sig, s->sig_len);
            }
        }
    } else if (s->verify) {
        ok = EVP_PKEY_verify(pctx, vsig, s->sig_len, tbs, tbs_len) == 1;
        rc = ok ? QT_OK : QT_E_SIGNATURE;
    } else {
        len = s->sig_len;
        if (EVP_PKEY_sign(pctx, sig, &len, tbs, tbs_len) > 0 && len == s->sig_len) {
            rc = QT_OK;
        }
    }
out:
    qt_wipe(block, sizeof(block));
    qt_buf_clear(&der);
    EVP_PKEY_CTX_free(pctx);
    EVP_MD_CTX_free(mctx);
    return rc;
}

static qt_rc
digest_sign_final(struct qt_crypto_sign *s, uint8_t *sig)
{
    uint8_t dsig[ECDSA_DER_MAX];
    size_t len;

    if (s->type == QT_CRYPTO_MECH_ECDSA) {
        len = sizeof(dsig);
        if (EVP_DigestSignFinal(s->md, dsig, &len) <= 0) {
            return QT_E_CRYPTO;
        }
        return qt_crypto_ecdsa_der_to_rs(dsig, len, s->half, sig, s->sig_len);
    }
    len = s->sig_len;
    if (EVP_DigestSignFinal(s->md, sig, &len) <= 0 || len != s->sig_len) {
        return QT_E_CRYPTO;
    }
    return QT_OK;
}

static qt_rc
digest_verify_final(struct qt_crypto_sign *s, const uint8_t *sig)
{
    struct qt_buf der = {0};
    qt_rc rc;

    if (s->type != QT_CRYPTO_MECH_ECDSA) {
        return EVP_DigestVerifyFinal(s->md, sig, s->sig_len) == 1 ? QT_OK : QT_E_SIGNATURE;
    }
    QT_TRY(qt_crypto_ecdsa_rs_to_der(sig, s->sig_len, &der));
    rc = EVP_DigestVerifyFinal(s->md, der.p, der.len) == 1 ? QT_OK : QT_E_SIGNATURE;
    qt_buf_clear(&der);
    return rc;
}

static qt_rc
mac_final(struct qt_crypto_sign *s, uint8_t out[EVP_MAX_MD_SIZE])
{
    size_t len = 0;

    if (!EVP_MAC_final(s->mac, out, &len, EVP_MAX_MD_SIZE) || len < s->sig_len) {
        return QT_E_CRYPTO;
    }
    return QT_OK;
}

qt_rc
qt_crypto_sign_final(struct qt_crypto_sign *s, uint8_t *sig, size_t *sig_len)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    qt_rc rc;

    QT_ENSURE(s != NULL && sig_len != NULL, QT_E_ARG);
    QT_ENSURE(s->state == 0 && !s->verify, QT_E_STATE);
    if (sig == NULL) {
        *sig_len = s->sig_len;
        return QT_OK;
    }
    if (*sig_len < s->sig_len) {
        *sig_len = s->sig_len;
        return QT_E_BUFFER_TOO_SMALL;
    }

    ERR_set_mark();
    if ((rc = check_raw_len(s)) != QT_OK) {
        goto out;
    }
    if (s->mac != NULL) {
        if ((rc = mac_final(s, mac)) == QT_OK) {
            memcpy(sig, mac, s->sig_len); /* HMAC_GENERAL: leftmost bytes */
        }
    } else if (s->md != NULL) {
        rc = digest_sign_final(s, sig);
    } else {
        rc = raw_op(s, sig, NULL);
    }
out:
    qt_wipe(mac, sizeof(mac));
    s->state = rc == QT_OK ? 1 : -1;
    if (rc == QT_OK) {
        *sig_len = s->sig_len;
    }
    ERR_pop_to_mark();
    return rc;
}

qt_rc
qt_crypto_verify_final(struct qt_crypto_sign *s, const uint8_t *sig, size_t sig_len)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    qt_rc rc;

    QT_ENSURE_REF(s);
    QT_ENSURE(s->state == 0 && s->verify, QT_E_STATE);
    QT_ENSURE(sig != NULL || sig_len == 0, QT_E_ARG);

    ERR_set_mark();
    if ((rc = check_raw_len(s)) != QT_OK) {
        goto out;
    }
    if (sig_len != s->sig_len) {
        rc = QT_E_RANGE;
        goto out;
    }
    if (s->mac != NULL) {
        if ((rc = mac_final(s, mac)) == QT_OK) {
            rc = CRYPTO_memcmp(mac, sig, s->sig_len) == 0 ? QT_OK : QT_E_SIGNATURE;
        }
    } else if (s->md != NULL) {
        rc = digest_verify_final(s, sig);
    } else {
        rc = raw_op(s, NULL, sig);
    }
out:
    qt_wipe(mac, sizeof(mac));
    s->state = rc == QT_OK ? 1 : -1;
    ERR_pop_to_mark();
    return rc;
}
