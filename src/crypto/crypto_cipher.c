/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encryption, decryption, key wrapping: AES ECB, CBC, CBC-PAD, CTR, GCM,
 * KW (RFC 3394) and KWP (RFC 5649); RSA PKCS#1 v1.5, OAEP and raw X.509.
 *
 * The PKCS#11 two-call convention needs the output length of a call before
 * any state moves.  Block modes therefore keep their own partial block (EVP
 * only ever sees whole blocks, padding off), so the output of an update is
 * a pure function of (buffered, input).  CBC-PAD decryption holds back the
 * last block until final.  Where the length is known only after decrypting
 * (CBC-PAD final, RSA decryption, unwrapping), the result is computed once
 * into a private cache and handed out when the caller's buffer fits.
 *
 * An AES context starts as a copy of the key's template for its mode and
 * direction (crypto_tmpl.c): cipher fetched and key schedule made once per
 * key, only the IV set per operation.  A GCM context that finished goes
 * back to the template, and the next GCM operation of the key in that
 * direction restarts it with its own IV length, IV and AAD (GCM always has
 * an IV, so nothing of the previous message is left).
 */
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "../common/check.h"
#include "crypto_int.h"

#define AES_BLOCK 16
#define GCM_IV_MAX 128                   /* OpenSSL 3.0 provider limit */
#define GCM_BUF_MAX ((size_t)256 << 20)  /* buffered GCM ciphertext on decrypt */
#define UPDATE_MAX ((size_t)INT_MAX - 2 * AES_BLOCK)

enum {
    ST_FRESH = 0,   /* no data call yet */
    ST_MULTI = 1,   /* update called */
    ST_DONE = 2,
    ST_ERROR = -1
};

struct qt_crypto_cipher {
    enum qt_crypto_mech_type type;
    int enc;
    int state;
    const struct qt_crypto_key *key;
    EVP_CIPHER_CTX *ctx;
    struct qt_crypto_tmpl *tmpl; /* GCM: where ctx came from */
    /* block modes: partial (or held-back) block */
    uint8_t part[AES_BLOCK];
    size_t part_len;
    /* CTR: bytes left before the counter would wrap */
    uint64_t ctr_left;
    int ctr_limited;
    /* GCM */
    size_t tag_len;
    uint8_t *acc; /* decrypt: all ciphertext || tag */
    size_t acc_len;
    size_t acc_cap;
    /* result computed ahead of the caller's buffer (exact length needed) */
    uint8_t *cache;
    size_t cache_len;
    size_t cache_cap;
    int cached;
    /* RSA */
    enum qt_crypto_hash oaep_hash;
    enum qt_crypto_hash mgf1_hash;
    uint8_t *label;
    size_t label_len;
};

/* ************************************************************************* */
/* Setup                                                                     */
/* ************************************************************************* */

static int
is_rsa(enum qt_crypto_mech_type t)
{
    return t == QT_CRYPTO_MECH_RSA_PKCS || t == QT_CRYPTO_MECH_RSA_OAEP ||
           t == QT_CRYPTO_MECH_RSA_X509;
}

static int
is_wrap(enum qt_crypto_mech_type t)
{
    return t == QT_CRYPTO_MECH_AES_KEY_WRAP || t == QT_CRYPTO_MECH_AES_KEY_WRAP_PAD;
}

static int
is_block(enum qt_crypto_mech_type t)
{
    return t == QT_CRYPTO_MECH_AES_ECB || t == QT_CRYPTO_MECH_AES_CBC ||
           t == QT_CRYPTO_MECH_AES_CBC_PAD;
}

static const char *
aes_name(enum qt_crypto_mech_type t, size_t key_len)
{
    static const char *const names[][3] = {
        {"AES-128-ECB", "AES-192-ECB", "AES-256-ECB"},
        {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"},
        {"AES-128-CTR", "AES-192-CTR", "AES-256-CTR"},
        {"AES-128-GCM", "AES-192-GCM", "AES-256-GCM"},
        {"AES-128-WRAP", "AES-192-WRAP", "AES-256-WRAP"},
        {"AES-128-WRAP-PAD", "AES-192-WRAP-PAD", "AES-256-WRAP-PAD"},
    };
    size_t col = key_len == 16 ? 0 : key_len == 24 ? 1 : 2;
    size_t row;

    switch (t) {
    case QT_CRYPTO_MECH_AES_ECB:
        row = 0;
        break;
    case QT_CRYPTO_MECH_AES_CBC:
    case QT_CRYPTO_MECH_AES_CBC_PAD:
        row = 1;
        break;
    case QT_CRYPTO_MECH_AES_CTR:
        row = 2;
        break;
    case QT_CRYPTO_MECH_AES_GCM:
        row = 3;
        break;
    case QT_CRYPTO_MECH_AES_KEY_WRAP:
        row = 4;
        break;
    case QT_CRYPTO_MECH_AES_KEY_WRAP_PAD:
        row = 5;
        break;
    default:
        return NULL;
    }
    return names[row][col];
}

/* Bytes that may be processed before the low ctr_bits of the counter block
 * wrap (PKCS#11 CK_AES_CTR_PARAMS.ulCounterBits).  Counts above 2^59 blocks
 * are treated as unlimited: no caller can process 2^63 bytes. */
static void
ctr_limit(struct qt_crypto_cipher *c, const uint8_t iv[AES_BLOCK], size_t bits)
{
    size_t m = bits < 59 ? bits : 59;
    uint64_t low = 0;
    uint64_t remaining;

    for (size_t i = bits; i-- > 59;) {
        if (!(iv[AES_BLOCK - 1 - i / 8] & (1u << (i % 8)))) {
            c->ctr_limited = 0; /* a zero above bit 59: >= 2^59 blocks left */
            return;
        }
    }
    for (size_t i = 8; i < AES_BLOCK; i++) {
        low = (low << 8) | iv[i];
    }
    low &= ((uint64_t)1 << m) - 1;
    remaining = ((uint64_t)1 << m) - low;
    c->ctr_limited = 1;
    c->ctr_left = remaining * AES_BLOCK;
}

static qt_rc
check_params(const struct qt_crypto_mech *m, const struct qt_crypto_key *k, int enc)
{
    QT_ENSURE(m->iv != NULL || m->iv_len == 0, QT_E_ARG);
    QT_ENSURE(m->aad != NULL || m->aad_len == 0, QT_E_ARG);
    QT_ENSURE(m->label != NULL || m->label_len == 0, QT_E_ARG);

    if (is_rsa(m->type)) {
        QT_ENSURE(k->type == QT_CRYPTO_KEY_RSA && k->pkey != NULL, QT_E_ARG);
        QT_ENSURE(enc || k->priv, QT_E_ARG);
        QT_ENSURE(m->hash == QT_CRYPTO_HASH_NONE, QT_E_ARG);
        if (m->type == QT_CRYPTO_MECH_RSA_OAEP) {
            QT_ENSURE(qt_crypto_hash_len(m->pss_hash) != 0, QT_E_ARG);
            QT_ENSURE(m->mgf1_hash == QT_CRYPTO_HASH_NONE ||
                          qt_crypto_hash_len(m->mgf1_hash) != 0,
                      QT_E_ARG);
            QT_ENSURE(m->label_len <= INT_MAX, QT_E_ARG);
            /* RFC 8017 7.1.1: k >= 2hLen + 2 (and room for at least 1 byte) */
            QT_ENSURE(qt_crypto_rsa_k(k) > 2 * qt_crypto_hash_len(m->pss_hash) + 2, QT_E_RANGE);
        }
        return QT_OK;
    }
    QT_ENSURE(k->type == QT_CRYPTO_KEY_AES && k->secret.p != NULL, QT_E_ARG);
    switch (m->type) {
    case QT_CRYPTO_MECH_AES_ECB:
        return QT_OK;
    case QT_CRYPTO_MECH_AES_CBC:
    case QT_CRYPTO_MECH_AES_CBC_PAD:
        QT_ENSURE(m->iv_len == AES_BLOCK, QT_E_ARG);
        return QT_OK;
    case QT_CRYPTO_MECH_AES_CTR:
        QT_ENSURE(m->iv_len == AES_BLOCK && m->ctr_bits >= 1 && m->ctr_bits <= 128, QT_E_ARG);
        return QT_OK;
    case QT_CRYPTO_MECH_AES_GCM:
        QT_ENSURE(m->iv_len >= 1 && m->iv_len <= GCM_IV_MAX, QT_E_ARG);
        QT_ENSURE(m->tag_bits >= 96 && m->tag_bits <= 128 && m->tag_bits % 8 == 0, QT_E_ARG);
        QT_ENSURE(m->aad_len <= INT_MAX, QT_E_ARG);
        return QT_OK;
    case QT_CRYPTO_MECH_AES_KEY_WRAP:
        QT_ENSURE(m->iv_len == 0 || m->iv_len == 8, QT_E_ARG);
        return QT_OK;
    case QT_CRYPTO_MECH_AES_KEY_WRAP_PAD:
        QT_ENSURE(m->iv_len == 0 || m->iv_len == 4, QT_E_ARG);
        return QT_OK;
    default:
        return QT_E_ARG;
    }
}

/* The template id of an AES setup: the mode and the direction (the key
 * size is the key's; IV, counter, tag and AAD are set per operation). */
static uint64_t
aes_id(const struct qt_crypto_cipher *c)
{
    return (uint64_t)2 << 60 | (uint64_t)c->enc << 56 | (uint64_t)c->type << 48;
}

/* qt_crypto_tmpl_make_fn: an AES context keyed with k, no IV yet. */
static qt_rc
make_aes(const struct qt_crypto_key *k, const void *arg, void **ctx)
{
    const struct qt_crypto_cipher *c = arg;
    EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *x;
    int ok;

    if ((*ctx = x = EVP_CIPHER_CTX_new()) == NULL) {
        return QT_E_NOMEM;
    }
    if ((cipher = EVP_CIPHER_fetch(k->lc, aes_name(c->type, k->secret.n), NULL)) == NULL) {
        return QT_E_CRYPTO;
    }
    /* OpenSSL 3.0 refuses wrap modes through EVP unless this flag is set. */
    EVP_CIPHER_CTX_set_flags(x, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ok = EVP_CipherInit_ex2(x, cipher, k->secret.p, NULL, c->enc, NULL) &&
         ((!is_block(c->type) && c->type != QT_CRYPTO_MECH_AES_CTR) ||
          EVP_CIPHER_CTX_set_padding(x, 0));
    EVP_CIPHER_free(cipher); /* the context holds its own reference */
    return ok ? QT_OK : QT_E_CRYPTO;
}

/* A copy of the key's AES template, then this operation's IV (GCM: its
 * length first), AAD and counter limit. */
static qt_rc
aes_init(struct qt_crypto_cipher *c, const struct qt_crypto_mech *m)
{
    struct qt_crypto_tmpl *t;
    OSSL_PARAM p[2];
    int outl = 0;
    void *ctx;
    qt_rc rc;

    if (c->type == QT_CRYPTO_MECH_AES_GCM) {
        /* a finished GCM context of this key: the IV below restarts it */
        c->tmpl = qt_crypto_tmpl_find(c->key, aes_id(c));
        c->ctx = qt_crypto_tmpl_take_idle(c->tmpl);
    }
    if (c->ctx == NULL) {
        if ((rc = qt_crypto_tmpl_ctx(c->key, aes_id(c), QT_CRYPTO_TMPL_CIPHER, make_aes, c, &ctx,
                                     &t)) != QT_OK) {
            return rc;
        }
        c->ctx = ctx;
        c->tmpl = t;
    }
    if (c->type == QT_CRYPTO_MECH_AES_GCM) {
        size_t ivlen = m->iv_len;

        p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen);
        p[1] = OSSL_PARAM_construct_end();
        if (!EVP_CIPHER_CTX_set_params(c->ctx, p)) {
            return QT_E_CRYPTO;
        }
        c->tag_len = m->tag_bits / 8;
    }
    if (m->iv_len > 0 && !EVP_CipherInit_ex2(c->ctx, NULL, NULL, m->iv, c->enc, NULL)) {
        return QT_E_CRYPTO;
    }
    if (c->type == QT_CRYPTO_MECH_AES_GCM && m->aad_len > 0 &&
        !EVP_CipherUpdate(c->ctx, NULL, &outl, m->aad, (int)m->aad_len)) {
        return QT_E_CRYPTO;
    }
    if (c->type == QT_CRYPTO_MECH_AES_CTR) {
        ctr_limit(c, m->iv, m->ctr_bits);
    }
    return QT_OK;
}

qt_rc
qt_crypto_cipher_new(const struct qt_crypto_mech *m, const struct qt_crypto_key *k, int encrypt,
                     struct qt_crypto_cipher **out)
{
    struct qt_crypto_cipher *c;
    qt_rc rc = QT_OK;

    QT_ENSURE(m != NULL && k != NULL && out != NULL, QT_E_ARG);
    QT_TRY(check_params(m, k, encrypt));

    if ((c = OPENSSL_zalloc(sizeof(*c))) == NULL) {
        return QT_E_NOMEM;
    }
    ERR_set_mark();
    c->type = m->type;
    c->enc = encrypt ? 1 : 0;
    c->key = k;
    if (is_rsa(c->type)) {
        c->oaep_hash = m->pss_hash;
        c->mgf1_hash = m->mgf1_hash != QT_CRYPTO_HASH_NONE ? m->mgf1_hash : m->pss_hash;
        if (m->label_len > 0) {
            if ((c->label = OPENSSL_memdup(m->label, m->label_len)) == NULL) {
                rc = QT_E_NOMEM;
                goto out;
            }
            c->label_len = m->label_len;
        }
    } else if ((rc = aes_init(c, m)) != QT_OK) {
        goto out;
    }
    *out = c;
    c = NULL;
out:
    qt_crypto_cipher_free(c);
    ERR_pop_to_mark();
    return rc;
}

void
qt_crypto_cipher_free(struct qt_crypto_cipher *c)
{
    if (c == NULL) {
        return;
    }
    if (c->type != QT_CRYPTO_MECH_AES_GCM || c->state != ST_DONE ||
        !qt_crypto_tmpl_give_idle(c->tmpl, c->ctx)) {
        EVP_CIPHER_CTX_free(c->ctx);
    }
    OPENSSL_clear_free(c->acc, c->acc_cap);
    OPENSSL_clear_free(c->cache, c->cache_cap);
    OPENSSL_free(c->label);
    OPENSSL_clear_free(c, sizeof(*c));
}

/* ************************************************************************* */
/* Helpers                                                                   */
/* ************************************************************************* */

static qt_rc
evp_update(struct qt_crypto_cipher *c, uint8_t *out, const uint8_t *in, size_t len)
{
    int outl = 0;

    if (len == 0) {
        return QT_OK;
    }
    if (!EVP_CipherUpdate(c->ctx, out, &outl, in, (int)len) || (size_t)outl != len) {
        return QT_E_CRYPTO;
    }
    return QT_OK;
}

/* size_check's answer to a NULL-buffer length query; never leaves this file. */
#define SIZE_QUERY 1

/* Length check shared by every data call: NULL out = query (SIZE_QUERY, with
 * *out_len set); short = QT_E_BUFFER_TOO_SMALL; QT_OK = go ahead. */
static qt_rc
size_check(uint8_t *out, size_t *out_len, size_t need)
{
    if (out == NULL) {
        *out_len = need;
        return SIZE_QUERY;
    }
    if (*out_len < need) {
        *out_len = need;
        return QT_E_BUFFER_TOO_SMALL;
    }
    return QT_OK;
}

static qt_rc
cache_alloc(struct qt_crypto_cipher *c, size_t n)
{
    c->cache_cap = n > 0 ? n : 1;
    c->cache = OPENSSL_malloc(c->cache_cap);
    return c->cache != NULL ? QT_OK : QT_E_NOMEM;
}

/* Hands out the cached result under the length convention. */
static qt_rc
cache_deliver(struct qt_crypto_cipher *c, uint8_t *out, size_t *out_len)
{
    qt_rc rc = size_check(out, out_len, c->cache_len);

    if (rc != QT_OK) {
        return rc;
    }
    if (c->cache_len > 0) {
        memcpy(out, c->cache, c->cache_len);
    }
    *out_len = c->cache_len;
    OPENSSL_clear_free(c->cache, c->cache_cap);
    c->cache = NULL;
    c->cache_cap = c->cache_len = 0;
    c->cached = 0;
    c->state = ST_DONE;
    return QT_OK;
}

/* ************************************************************************* */
/* Multi-part AES                                                            */
/* ************************************************************************* */

static int
holds_last_block(const struct qt_crypto_cipher *c)
{
    return c->type == QT_CRYPTO_MECH_AES_CBC_PAD && !c->enc;
}

/* Output of update(in_len) for the current state; QT_E_RANGE if illegal. */
static qt_rc
update_len(const struct qt_crypto_cipher *c, size_t in_len, size_t *need)
{
    size_t total;

    QT_ENSURE(in_len <= UPDATE_MAX, QT_E_RANGE);
    if (is_block(c->type)) {
        total = c->part_len + in_len;
        if (holds_last_block(c)) {
            *need = total > 0 ? (total - 1) / AES_BLOCK * AES_BLOCK : 0;
        } else {
            *need = total - total % AES_BLOCK;
        }
    } else if (c->type == QT_CRYPTO_MECH_AES_CTR) {
        QT_ENSURE(!c->ctr_limited || in_len <= c->ctr_left, QT_E_RANGE);
        *need = in_len;
    } else if (c->enc) { /* GCM encrypt streams */
        *need = in_len;
    } else {             /* GCM decrypt buffers until the tag is checked */
        QT_ENSURE(in_len <= GCM_BUF_MAX - c->acc_len, QT_E_RANGE);
        *need = 0;
    }
    return QT_OK;
}

/* Block modes: feed EVP whole blocks only, keep the rest in part. */
static qt_rc
block_update(struct qt_crypto_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
             size_t emit)
{
    size_t done = 0;
    size_t used = 0;
    size_t fill;

    if (emit > 0 && c->part_len > 0) {
        fill = AES_BLOCK - c->part_len;
        memcpy(c->part + c->part_len, in, fill);
        used = fill;
        QT_TRY(evp_update(c, out, c->part, AES_BLOCK));
        done = AES_BLOCK;
        c->part_len = 0;
    }
    QT_TRY(evp_update(c, out + done, in + used, emit - done));
    used += emit - done;
    if (in_len > used) {
        memcpy(c->part + c->part_len, in + used, in_len - used);
        c->part_len += in_len - used;
    }
    return QT_OK;
}

static qt_rc
gcm_buffer(struct qt_crypto_cipher *c, const uint8_t *in, size_t in_len)
{
    size_t ncap;
    uint8_t *nb;

    if (in_len == 0) {
        return QT_OK;
    }
    if (in_len > c->acc_cap - c->acc_len) {
        ncap = c->acc_cap > 0 ? c->acc_cap : 256;
        while (ncap - c->acc_len < in_len) {
            ncap *= 2;
        }
        if ((nb = OPENSSL_clear_realloc(c->acc, c->acc_cap, ncap)) == NULL) {
            return QT_E_NOMEM;
        }
        c->acc = nb;
        c->acc_cap = ncap;
    }
    memcpy(c->acc + c->acc_len, in, in_len);
    c->acc_len += in_len;
    return QT_OK;
}

static qt_rc
do_update(struct qt_crypto_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
          size_t emit)
{
    if (is_block(c->type)) {
        return block_update(c, in, in_len, out, emit);
    }
    if (c->type == QT_CRYPTO_MECH_AES_CTR) {
        c->ctr_left -= c->ctr_limited ? in_len : 0;
        return evp_update(c, out, in, in_len);
    }
    if (c->enc) {
        return evp_update(c, out, in, in_len);
    }
    return gcm_buffer(c, in, in_len);
}

/* Exact output of final; for CBC-PAD decrypt this decrypts into the cache. */
static qt_rc
final_len(struct qt_crypto_cipher *c, size_t *need)
{
    uint8_t block[AES_BLOCK];
    size_t pad;
    unsigned bad;
    qt_rc rc;

    switch (c->type) {
    case QT_CRYPTO_MECH_AES_ECB:
    case QT_CRYPTO_MECH_AES_CBC:
        QT_ENSURE(c->part_len == 0, QT_E_RANGE);
        *need = 0;
        return QT_OK;
    case QT_CRYPTO_MECH_AES_CBC_PAD:
        if (c->enc) {
            *need = AES_BLOCK;
            return QT_OK;
        }
        if (c->cached) {
            *need = c->cache_len;
            return QT_OK;
        }
        QT_ENSURE(c->part_len == AES_BLOCK, QT_E_RANGE);
        QT_TRY(cache_alloc(c, AES_BLOCK));
        if ((rc = evp_update(c, block, c->part, AES_BLOCK)) != QT_OK) {
            qt_wipe(block, sizeof(block));
            return rc;
        }
        /* PKCS#7: last byte p in 1..16, last p bytes all p.  Checked
         * without an early exit over the whole block. */
        pad = block[AES_BLOCK - 1];
        bad = (unsigned)(pad == 0) | (unsigned)(pad > AES_BLOCK);
        for (size_t i = 0; i < AES_BLOCK; i++) {
            unsigned in_pad = (unsigned)(i >= AES_BLOCK - pad);
            bad |= in_pad & (unsigned)(block[i] != pad);
        }
        if (bad) {
            qt_wipe(block, sizeof(block));
            return QT_E_FORMAT;
        }
        memcpy(c->cache, block, AES_BLOCK - pad);
        qt_wipe(block, sizeof(block));
        c->cache_len = AES_BLOCK - pad;
        c->cached = 1;
        *need = c->cache_len;
        return QT_OK;
    case QT_CRYPTO_MECH_AES_CTR:
        *need = 0;
        return QT_OK;
    case QT_CRYPTO_MECH_AES_GCM:
        if (c->enc) {
            *need = c->tag_len;
        } else {
            QT_ENSURE(c->acc_len >= c->tag_len, QT_E_RANGE);
            *need = c->acc_len - c->tag_len;
        }
        return QT_OK;
    default:
        return QT_E_INTERNAL;
    }
}

static qt_rc
do_final(struct qt_crypto_cipher *c, uint8_t *out, size_t need)
{
    uint8_t padded[AES_BLOCK];
    size_t ct_len;
    int outl = 0;
    qt_rc rc = QT_E_CRYPTO;

    if (c->type == QT_CRYPTO_MECH_AES_CBC_PAD) {
        if (!c->enc) {
            if (need > 0) {
                memcpy(out, c->cache, need);
            }
            return QT_OK;
        }
        memcpy(padded, c->part, c->part_len);
        memset(padded + c->part_len, (int)(AES_BLOCK - c->part_len), AES_BLOCK - c->part_len);
        rc = evp_update(c, out, padded, AES_BLOCK);
        qt_wipe(padded, sizeof(padded));
        return rc;
    }
    if (c->type != QT_CRYPTO_MECH_AES_GCM) {
        return QT_OK; /* ECB/CBC/CTR: nothing left */
    }
    if (c->enc) {
        if (EVP_EncryptFinal_ex(c->ctx, out, &outl) && outl == 0 &&
            EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_AEAD_GET_TAG, (int)c->tag_len, out)) {
            rc = QT_OK;
        }
        return rc;
    }
    ct_len = c->acc_len - c->tag_len;
    if (!EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_AEAD_SET_TAG, (int)c->tag_len,
                             c->acc + ct_len)) {
        return QT_E_CRYPTO;
    }
    if (ct_len > UPDATE_MAX || (rc = evp_update(c, out, c->acc, ct_len)) != QT_OK) {
        qt_wipe(out, need);
        return QT_E_CRYPTO;
    }
    if (!EVP_DecryptFinal_ex(c->ctx, out + ct_len, &outl) || outl != 0) {
        /* Tag mismatch: no plaintext leaves (PKCS#11 3.0 AES-GCM). */
        qt_wipe(out, need);
        return QT_E_SIGNATURE;
    }
    return QT_OK;
}

qt_rc
qt_crypto_cipher_update(struct qt_crypto_cipher *c, const uint8_t *in, size_t in_len,
                        uint8_t *out, size_t *out_len)
{
    size_t need = 0;
    qt_rc rc;

    QT_ENSURE(c != NULL && out_len != NULL, QT_E_ARG);
    QT_ENSURE(in != NULL || in_len == 0, QT_E_ARG);
    QT_ENSURE(!is_rsa(c->type) && !is_wrap(c->type), QT_E_UNSUPPORTED);
    QT_ENSURE(c->state == ST_FRESH || c->state == ST_MULTI, QT_E_STATE);
    QT_ENSURE(!(c->state == ST_FRESH && c->cached), QT_E_STATE); /* one-shot pending */

    if ((rc = update_len(c, in_len, &need)) != QT_OK) {
        c->state = ST_ERROR;
        return rc;
    }
    if ((rc = size_check(out, out_len, need)) != QT_OK) {
        return rc == SIZE_QUERY ? QT_OK : rc;
    }
    ERR_set_mark();
    rc = do_update(c, in, in_len, out, need);
    ERR_pop_to_mark();
    c->state = rc == QT_OK ? ST_MULTI : ST_ERROR;
    if (rc == QT_OK) {
        *out_len = need;
    }
    return rc;
}

qt_rc
qt_crypto_cipher_final(struct qt_crypto_cipher *c, uint8_t *out, size_t *out_len)
{
    size_t need = 0;
    qt_rc rc;

    QT_ENSURE(c != NULL && out_len != NULL, QT_E_ARG);
    QT_ENSURE(!is_rsa(c->type) && !is_wrap(c->type), QT_E_UNSUPPORTED);
    QT_ENSURE(c->state == ST_FRESH || c->state == ST_MULTI, QT_E_STATE);
    QT_ENSURE(!(c->state == ST_FRESH && c->cached), QT_E_STATE); /* one-shot pending */

    ERR_set_mark();
    if ((rc = final_len(c, &need)) != QT_OK) {
        c->state = ST_ERROR;
        goto out;
    }
    if ((rc = size_check(out, out_len, need)) != QT_OK) {
        rc = rc == SIZE_QUERY ? QT_OK : rc;
        goto out;
    }
    rc = do_final(c, out, need);
    c->state = rc == QT_OK ? ST_DONE : ST_ERROR;
    if (rc == QT_OK) {
        *out_len = need;
    }
out:
    ERR_pop_to_mark();
    return rc;
}

/* ************************************************************************* */
/* Single-part                                                               */
/* ************************************************************************* */

static struct qt_crypto_rsa_enc
rsa_params(const struct qt_crypto_cipher *c)
{
    struct qt_crypto_rsa_enc p = {c->type, c->oaep_hash, c->mgf1_hash, c->label, c->label_len};

    return p;
}

static qt_rc
rsa_encrypt(struct qt_crypto_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
            size_t *out_len)
{
    struct qt_crypto_rsa_enc p = rsa_params(c);
    size_t k_len = qt_crypto_rsa_k(c->key);
    qt_rc rc;

    /* The input is judged before the length query is answered. */
    QT_TRY(qt_crypto_rsa_enc_check(c->key, &p, in, in_len));
    if ((rc = size_check(out, out_len, k_len)) != QT_OK) {
        return rc;
    }
    QT_TRY(qt_crypto_rsa_encrypt(c->key, &p, in, in_len, out));
    *out_len = k_len;
    return QT_OK;
}

static qt_rc
rsa_decrypt_to_cache(struct qt_crypto_cipher *c, const uint8_t *in, size_t in_len)
{
    struct qt_crypto_rsa_enc p = rsa_params(c);

    QT_ENSURE(in_len == qt_crypto_rsa_k(c->key), QT_E_RANGE);
    QT_TRY(cache_alloc(c, in_len));
    QT_TRY(qt_crypto_rsa_decrypt(c->key, &p, in, in_len, c->cache, &c->cache_len));
    c->cached = 1;
    return QT_OK;
}

/* CBC-PAD decrypt of a whole message: all blocks but the last into a new
 * buffer, the unpadded last block (final_len puts it in the cache) after
 * them; the buffer becomes the cache. */
static qt_rc
pad_decrypt_to_cache(struct qt_crypto_cipher *c, const uint8_t *in, size_t in_len, size_t u)
{
    uint8_t *all;
    size_t f = 0;
    qt_rc rc;

    if ((all = OPENSSL_malloc(in_len)) == NULL) {
        return QT_E_NOMEM;
    }
    if ((rc = do_update(c, in, in_len, all, u)) != QT_OK || (rc = final_len(c, &f)) != QT_OK) {
        OPENSSL_clear_free(all, in_len);
        return rc;
    }
    memcpy(all + u, c->cache, f);
    OPENSSL_clear_free(c->cache, c->cache_cap);
    c->cache = all;
    c->cache_cap = in_len;
    c->cache_len = u + f;
    c->cached = 1;
    return QT_OK;
}

static qt_rc
wrap_len(const struct qt_crypto_cipher *c, size_t in_len, size_t *need)
{
    QT_ENSURE(in_len <= UPDATE_MAX, QT_E_RANGE);
    if (c->type == QT_CRYPTO_MECH_AES_KEY_WRAP) {
        /* RFC 3394 2.2.1: n >= 2 64-bit blocks; unwrap adds the IV block. */
        QT_ENSURE(in_len % 8 == 0 && in_len >= (c->enc ? 16u : 24u), QT_E_RANGE);
        *need = c->enc ? in_len + 8 : in_len - 8;
    } else {
        /* RFC 5649: any length >= 1; the wrapped form is at least 2 blocks. */
        if (c->enc) {
            QT_ENSURE(in_len >= 1, QT_E_RANGE);
            *need = (in_len + 7) / 8 * 8 + 8;
        } else {
            QT_ENSURE(in_len % 8 == 0 && in_len >= 16, QT_E_RANGE);
            *need = in_len - 8;
        }
    }
    return QT_OK;
}

static qt_rc
wrap_op(struct qt_crypto_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
        size_t *outl)
{
    int n = 0;
    int m = 0;

    if (EVP_CipherUpdate(c->ctx, out, &n, in, (int)in_len) <= 0 || n < 0) {
        return c->enc ? QT_E_CRYPTO : QT_E_SIGNATURE; /* unwrap: integrity check */
    }
    if (EVP_CipherFinal_ex(c->ctx, out + n, &m) <= 0 || m != 0) {
        return c->enc ? QT_E_CRYPTO : QT_E_SIGNATURE;
    }
    *outl = (size_t)n;
    return QT_OK;
}

qt_rc
qt_crypto_cipher_oneshot(struct qt_crypto_cipher *c, const uint8_t *in, size_t in_len,
                         uint8_t *out, size_t *out_len)
{
    size_t u = 0;
    size_t f = 0;
    size_t n = 0;
    qt_rc rc;

    QT_ENSURE(c != NULL && out_len != NULL, QT_E_ARG);
    QT_ENSURE(in != NULL || in_len == 0, QT_E_ARG);
    QT_ENSURE(c->state == ST_FRESH, QT_E_STATE);

    ERR_set_mark();
    if (c->cached) {
        rc = cache_deliver(c, out, out_len);
        goto done;
    }
    if (is_rsa(c->type)) {
        if (c->enc) {
            rc = rsa_encrypt(c, in, in_len, out, out_len);
            goto done;
        }
        if ((rc = rsa_decrypt_to_cache(c, in, in_len)) == QT_OK) {
            rc = cache_deliver(c, out, out_len);
        }
        goto done;
    }
    if (is_wrap(c->type)) {
        if ((rc = wrap_len(c, in_len, &u)) != QT_OK) {
            goto done;
        }
        if (c->enc) {
            if ((rc = size_check(out, out_len, u)) == QT_OK &&
                (rc = wrap_op(c, in, in_len, out, &n)) == QT_OK) {
                rc = n == u ? QT_OK : QT_E_CRYPTO;
                *out_len = n;
            }
            goto done;
        }
        /* Unwrap: KWP's exact length is known only after the integrity check. */
        if ((rc = cache_alloc(c, in_len)) == QT_OK &&
            (rc = wrap_op(c, in, in_len, c->cache, &c->cache_len)) == QT_OK) {
            c->cached = 1;
            rc = cache_deliver(c, out, out_len);
        }
        goto done;
    }

    /* AES ECB/CBC/CBC_PAD/CTR/GCM: update + final on the whole input. */
    if (is_block(c->type) && !(c->type == QT_CRYPTO_MECH_AES_CBC_PAD && c->enc) &&
        (in_len % AES_BLOCK != 0 || (holds_last_block(c) && in_len == 0))) {
        rc = QT_E_RANGE; /* decided on the input alone, before any work */
        goto done;
    }
    if (c->type == QT_CRYPTO_MECH_AES_GCM && !c->enc && in_len < c->tag_len) {
        rc = QT_E_RANGE;
        goto done;
    }
    if ((rc = update_len(c, in_len, &u)) != QT_OK) {
        goto done;
    }
    if (holds_last_block(c)) {
        /* Plaintext length known only after unpadding: run it into the cache. */
        if ((rc = pad_decrypt_to_cache(c, in, in_len, u)) == QT_OK) {
            rc = cache_deliver(c, out, out_len);
        }
        goto done;
    }
    if (c->type == QT_CRYPTO_MECH_AES_GCM && !c->enc) {
        f = in_len - c->tag_len;
    } else if (c->type == QT_CRYPTO_MECH_AES_GCM || c->type == QT_CRYPTO_MECH_AES_CBC_PAD) {
        f = c->type == QT_CRYPTO_MECH_AES_GCM ? c->tag_len : AES_BLOCK;
    }
    if ((rc = size_check(out, out_len, u + f)) != QT_OK) {
        goto done;
    }
    if ((rc = do_update(c, in, in_len, out, u)) != QT_OK ||
        (rc = final_len(c, &f)) != QT_OK || (rc = do_final(c, out + u, f)) != QT_OK) {
        goto done;
    }
    *out_len = u + f;
    c->state = ST_DONE;
done:
    if (rc == SIZE_QUERY) {
        rc = QT_OK; /* a length query: nothing moved */
    } else if (rc == QT_OK) {
        c->state = ST_DONE;
    } else if (rc != QT_E_BUFFER_TOO_SMALL) {
        c->state = ST_ERROR;
    }
    ERR_pop_to_mark();
    return rc;
}
