/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mechanism parameters: CK_MECHANISM (type + parameter block) to the crypto
 * room's struct qt_crypto_mech, with the checks PKCS#11 3.0 puts on each
 * parameter block (length of the block, IV lengths, PSS/OAEP hashes and MGF,
 * OAEP source, GCM tag length, CTR counter bits, HMAC_GENERAL output length).
 * A malformed block is CKR_MECHANISM_PARAM_INVALID, a missing one for a
 * mechanism that needs it too.
 */
#include <stddef.h>
#include <string.h>
#include "key.h"

/* PKCS#11 3.0 CK_EDDSA_PARAMS (absent from the 2.40 header) */
struct qt_eddsa_params {
    CK_BBOOL phFlag;
    CK_ULONG ulContextDataLen;
    CK_BYTE_PTR pContextData;
};

enum qt_crypto_hash
qt_params_hash_of_mech(CK_MECHANISM_TYPE t)
{
    switch (t) {
    case CKM_SHA_1:
        return QT_CRYPTO_HASH_SHA1;
    case CKM_SHA224:
        return QT_CRYPTO_HASH_SHA224;
    case CKM_SHA256:
        return QT_CRYPTO_HASH_SHA256;
    case CKM_SHA384:
        return QT_CRYPTO_HASH_SHA384;
    case CKM_SHA512:
        return QT_CRYPTO_HASH_SHA512;
    default:
        return QT_CRYPTO_HASH_NONE;
    }
}

enum qt_crypto_hash
qt_params_hash_of_mgf(CK_RSA_PKCS_MGF_TYPE g)
{
    switch (g) {
    case CKG_MGF1_SHA1:
        return QT_CRYPTO_HASH_SHA1;
    case CKG_MGF1_SHA224:
        return QT_CRYPTO_HASH_SHA224;
    case CKG_MGF1_SHA256:
        return QT_CRYPTO_HASH_SHA256;
    case CKG_MGF1_SHA384:
        return QT_CRYPTO_HASH_SHA384;
    case CKG_MGF1_SHA512:
        return QT_CRYPTO_HASH_SHA512;
    default:
        return QT_CRYPTO_HASH_NONE;
    }
}

static int
no_params(const CK_MECHANISM *mech)
{
    return mech->ulParameterLen == 0;
}

/* Parameter blocks are copied out before use: the caller's memory carries
 * no alignment promise. */
static int
param_copy(const CK_MECHANISM *mech, void *dst, size_t n)
{
    if (mech->pParameter == NULL || mech->ulParameterLen != n) {
        return 0;
    }
    memcpy(dst, mech->pParameter, n);
    return 1;
}

static CK_RV
pss(const CK_MECHANISM *mech, enum qt_crypto_hash hash, struct qt_crypto_mech *m)
{
    CK_RSA_PKCS_PSS_PARAMS pb, *p = &pb;

    if (!param_copy(mech, &pb, sizeof(pb))) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    m->type = QT_CRYPTO_MECH_RSA_PSS;
    m->hash = hash;
    m->pss_hash = qt_params_hash_of_mech(p->hashAlg);
    m->mgf1_hash = qt_params_hash_of_mgf(p->mgf);
    m->salt_len = (size_t)p->sLen;
    if (m->pss_hash == QT_CRYPTO_HASH_NONE || m->mgf1_hash == QT_CRYPTO_HASH_NONE ||
        (hash != QT_CRYPTO_HASH_NONE && hash != m->pss_hash) || p->sLen > 1024) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    return CKR_OK;
}

static CK_RV
oaep(const CK_MECHANISM *mech, struct qt_crypto_mech *m)
{
    CK_RSA_PKCS_OAEP_PARAMS pb, *p = &pb;

    if (!param_copy(mech, &pb, sizeof(pb))) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    m->type = QT_CRYPTO_MECH_RSA_OAEP;
    m->pss_hash = qt_params_hash_of_mech(p->hashAlg);
    m->mgf1_hash = qt_params_hash_of_mgf(p->mgf);
    if (m->pss_hash == QT_CRYPTO_HASH_NONE || m->mgf1_hash == QT_CRYPTO_HASH_NONE) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    /* PKCS#11 3.0 2.1.8: the source is CKZ_DATA_SPECIFIED (0 tolerated with
     * no data, as several clients send it) */
    if (p->source != CKZ_DATA_SPECIFIED && !(p->source == 0 && p->ulSourceDataLen == 0)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if ((p->pSourceData == NULL && p->ulSourceDataLen > 0) || p->ulSourceDataLen > 65536) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    m->label = p->pSourceData;
    m->label_len = (size_t)p->ulSourceDataLen;
    return CKR_OK;
}

static CK_RV
iv16(const CK_MECHANISM *mech, enum qt_crypto_mech_type t, struct qt_crypto_mech *m)
{
    if (mech->pParameter == NULL || mech->ulParameterLen != 16) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    m->type = t;
    m->iv = mech->pParameter;
    m->iv_len = 16;
    return CKR_OK;
}

static CK_RV
gcm(const CK_MECHANISM *mech, struct qt_crypto_mech *m)
{
    CK_GCM_PARAMS pb, *p = &pb;

    if (!param_copy(mech, &pb, sizeof(pb))) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (p->pIv == NULL || p->ulIvLen < 1 || p->ulIvLen > 128 ||
        (p->ulIvBits != 0 && p->ulIvBits != p->ulIvLen * 8) ||
        (p->pAAD == NULL && p->ulAADLen > 0) || p->ulTagBits < 96 || p->ulTagBits > 128 ||
        p->ulTagBits % 8 != 0) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    m->type = QT_CRYPTO_MECH_AES_GCM;
    m->iv = p->pIv;
    m->iv_len = (size_t)p->ulIvLen;
    m->aad = p->pAAD;
    m->aad_len = (size_t)p->ulAADLen;
    m->tag_bits = (size_t)p->ulTagBits;
    return CKR_OK;
}

static CK_RV
hmac(const CK_MECHANISM *mech, enum qt_crypto_hash h, int general, struct qt_crypto_mech *m)
{
    m->type = QT_CRYPTO_MECH_HMAC;
    m->hash = h;
    if (!general) {
        return no_params(mech) ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
    }
    {
        CK_ULONG len;

        if (!param_copy(mech, &len, sizeof(len))) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        m->mac_len = (size_t)len;
    }
    if (m->mac_len < 1 || m->mac_len > qt_crypto_hash_len(h)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    return CKR_OK;
}

static CK_RV
simple(const CK_MECHANISM *mech, enum qt_crypto_mech_type t, enum qt_crypto_hash h,
       struct qt_crypto_mech *m)
{
    m->type = t;
    m->hash = h;
    return no_params(mech) ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
}

CK_RV
qt_params_map(const CK_MECHANISM *mech, struct qt_crypto_mech *m)
{
    memset(m, 0, sizeof(*m));
    if (mech->pParameter == NULL && mech->ulParameterLen > 0) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    switch (mech->mechanism) {
    case CKM_RSA_PKCS:
        return simple(mech, QT_CRYPTO_MECH_RSA_PKCS, QT_CRYPTO_HASH_NONE, m);
    case CKM_SHA1_RSA_PKCS:
        return simple(mech, QT_CRYPTO_MECH_RSA_PKCS, QT_CRYPTO_HASH_SHA1, m);
    case CKM_SHA224_RSA_PKCS:
        return simple(mech, QT_CRYPTO_MECH_RSA_PKCS, QT_CRYPTO_HASH_SHA224, m);
    case CKM_SHA256_RSA_PKCS:
        return simple(mech, QT_CRYPTO_MECH_RSA_PKCS, QT_CRYPTO_HASH_SHA256, m);
    case CKM_SHA384_RSA_PKCS:
        return simple(mech, QT_CRYPTO_MECH_RSA_PKCS, QT_CRYPTO_HASH_SHA384, m);
    case CKM_SHA512_RSA_PKCS:
        return simple(mech, QT_CRYPTO_MECH_RSA_PKCS, QT_CRYPTO_HASH_SHA512, m);
    case CKM_RSA_X_509:
        return simple(mech, QT_CRYPTO_MECH_RSA_X509, QT_CRYPTO_HASH_NONE, m);
    case CKM_RSA_PKCS_PSS:
        return pss(mech, QT_CRYPTO_HASH_NONE, m);
    case CKM_SHA1_RSA_PKCS_PSS:
        return pss(mech, QT_CRYPTO_HASH_SHA1, m);
    case CKM_SHA224_RSA_PKCS_PSS:
        return pss(mech, QT_CRYPTO_HASH_SHA224, m);
    case CKM_SHA256_RSA_PKCS_PSS:
        return pss(mech, QT_CRYPTO_HASH_SHA256, m);
    case CKM_SHA384_RSA_PKCS_PSS:
        return pss(mech, QT_CRYPTO_HASH_SHA384, m);
    case CKM_SHA512_RSA_PKCS_PSS:
        return pss(mech, QT_CRYPTO_HASH_SHA512, m);
    case CKM_RSA_PKCS_OAEP:
        return oaep(mech, m);
    case CKM_ECDSA:
        return simple(mech, QT_CRYPTO_MECH_ECDSA, QT_CRYPTO_HASH_NONE, m);
    case CKM_ECDSA_SHA1:
        return simple(mech, QT_CRYPTO_MECH_ECDSA, QT_CRYPTO_HASH_SHA1, m);
    case CKM_ECDSA_SHA224:
        return simple(mech, QT_CRYPTO_MECH_ECDSA, QT_CRYPTO_HASH_SHA224, m);
    case CKM_ECDSA_SHA256:
        return simple(mech, QT_CRYPTO_MECH_ECDSA, QT_CRYPTO_HASH_SHA256, m);
    case CKM_ECDSA_SHA384:
        return simple(mech, QT_CRYPTO_MECH_ECDSA, QT_CRYPTO_HASH_SHA384, m);
    case CKM_ECDSA_SHA512:
        return simple(mech, QT_CRYPTO_MECH_ECDSA, QT_CRYPTO_HASH_SHA512, m);
    case CKM_EDDSA:
        m->type = QT_CRYPTO_MECH_EDDSA;
        if (mech->ulParameterLen != 0) {
            struct qt_eddsa_params p;

            /* pure EdDSA only: no prehash, no context */
            if (!param_copy(mech, &p, sizeof(p)) || p.phFlag != CK_FALSE ||
                p.ulContextDataLen != 0) {
                return CKR_MECHANISM_PARAM_INVALID;
            }
        }
        return CKR_OK;
    case CKM_SHA_1_HMAC:
        return hmac(mech, QT_CRYPTO_HASH_SHA1, 0, m);
    case CKM_SHA224_HMAC:
        return hmac(mech, QT_CRYPTO_HASH_SHA224, 0, m);
    case CKM_SHA256_HMAC:
        return hmac(mech, QT_CRYPTO_HASH_SHA256, 0, m);
    case CKM_SHA384_HMAC:
        return hmac(mech, QT_CRYPTO_HASH_SHA384, 0, m);
    case CKM_SHA512_HMAC:
        return hmac(mech, QT_CRYPTO_HASH_SHA512, 0, m);
    case CKM_SHA_1_HMAC_GENERAL:
        return hmac(mech, QT_CRYPTO_HASH_SHA1, 1, m);
    case CKM_SHA224_HMAC_GENERAL:
        return hmac(mech, QT_CRYPTO_HASH_SHA224, 1, m);
    case CKM_SHA256_HMAC_GENERAL:
        return hmac(mech, QT_CRYPTO_HASH_SHA256, 1, m);
    case CKM_SHA384_HMAC_GENERAL:
        return hmac(mech, QT_CRYPTO_HASH_SHA384, 1, m);
    case CKM_SHA512_HMAC_GENERAL:
        return hmac(mech, QT_CRYPTO_HASH_SHA512, 1, m);
    case CKM_AES_ECB:
        return simple(mech, QT_CRYPTO_MECH_AES_ECB, QT_CRYPTO_HASH_NONE, m);
    case CKM_AES_CBC:
        return iv16(mech, QT_CRYPTO_MECH_AES_CBC, m);
    case CKM_AES_CBC_PAD:
        return iv16(mech, QT_CRYPTO_MECH_AES_CBC_PAD, m);
    case CKM_AES_CTR: {
        CK_AES_CTR_PARAMS p;

        if (!param_copy(mech, &p, sizeof(p)) || p.ulCounterBits < 1 || p.ulCounterBits > 128) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        m->type = QT_CRYPTO_MECH_AES_CTR;
        /* the counter block, borrowed from the caller's parameter bytes */
        m->iv = (const uint8_t *)mech->pParameter + offsetof(CK_AES_CTR_PARAMS, cb);
        m->iv_len = sizeof(p.cb);
        m->ctr_bits = (size_t)p.ulCounterBits;
        return CKR_OK;
    }
    case CKM_AES_GCM:
        return gcm(mech, m);
    case CKM_AES_KEY_WRAP:
    case CKM_AES_KEY_WRAP_PAD: {
        size_t want = mech->mechanism == CKM_AES_KEY_WRAP ? 8 : 4;

        m->type = mech->mechanism == CKM_AES_KEY_WRAP ? QT_CRYPTO_MECH_AES_KEY_WRAP
                                                      : QT_CRYPTO_MECH_AES_KEY_WRAP_PAD;
        if (mech->ulParameterLen != 0 && mech->ulParameterLen != want) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        m->iv = mech->pParameter;
        m->iv_len = (size_t)mech->ulParameterLen;
        return CKR_OK;
    }
    default:
        return CKR_MECHANISM_INVALID;
    }
}
