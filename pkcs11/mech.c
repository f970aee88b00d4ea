/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mechanism table: every mechanism the token implements, with the
 * CK_MECHANISM_INFO it reports (key sizes in the units PKCS#11 3.0 gives
 * for each family: bits for RSA, EC and generic secrets, bytes for AES) and
 * no CKF_HW (the crypto is OpenSSL in software; only the randomness is
 * hardware).  C_GetMechanismList/Info read it; every *Init checks against
 * it, and CKA_ALLOWED_MECHANISMS is enforced here.
 */
#include <string.h>
#include "p11.h"

#define EC_FLAGS (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)
#define SV (CKF_SIGN | CKF_VERIFY)
#define ED (CKF_ENCRYPT | CKF_DECRYPT)
#define WU (CKF_WRAP | CKF_UNWRAP)

static const struct qt_mech_info table[] = {
    /* key generation */
    {CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 8192, CKF_GENERATE_KEY_PAIR},
    {CKM_EC_KEY_PAIR_GEN, 256, 521, CKF_GENERATE_KEY_PAIR | EC_FLAGS},
    {CKM_EC_EDWARDS_KEY_PAIR_GEN, 255, 448, CKF_GENERATE_KEY_PAIR | CKF_EC_NAMEDCURVE},
    {CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE},
    {CKM_GENERIC_SECRET_KEY_GEN, 8, 32768, CKF_GENERATE},
    /* RSA */
    {CKM_RSA_PKCS, 2048, 8192, SV | ED | WU},
    {CKM_RSA_X_509, 2048, 8192, SV | ED},
    {CKM_RSA_PKCS_OAEP, 2048, 8192, ED | WU},
    {CKM_RSA_PKCS_PSS, 2048, 8192, SV},
    {CKM_SHA1_RSA_PKCS, 2048, 8192, SV},
    {CKM_SHA224_RSA_PKCS, 2048, 8192, SV},
    {CKM_SHA256_RSA_PKCS, 2048, 8192, SV},
    {CKM_SHA384_RSA_PKCS, 2048, 8192, SV},
    {CKM_SHA512_RSA_PKCS, 2048, 8192, SV},
    {CKM_SHA1_RSA_PKCS_PSS, 2048, 8192, SV},
    {CKM_SHA224_RSA_PKCS_PSS, 2048, 8192, SV},
    {CKM_SHA256_RSA_PKCS_PSS, 2048, 8192, SV},
    {CKM_SHA384_RSA_PKCS_PSS, 2048, 8192, SV},
    {CKM_SHA512_RSA_PKCS_PSS, 2048, 8192, SV},
    /* EC */
    {CKM_ECDSA, 256, 521, SV | EC_FLAGS},
    {CKM_ECDSA_SHA1, 256, 521, SV | EC_FLAGS},
    {CKM_ECDSA_SHA224, 256, 521, SV | EC_FLAGS},
    {CKM_ECDSA_SHA256, 256, 521, SV | EC_FLAGS},
    {CKM_ECDSA_SHA384, 256, 521, SV | EC_FLAGS},
    {CKM_ECDSA_SHA512, 256, 521, SV | EC_FLAGS},
    {CKM_ECDH1_DERIVE, 256, 521, CKF_DERIVE | EC_FLAGS},
    {CKM_EDDSA, 255, 448, SV | CKF_EC_NAMEDCURVE},
    /* AES */
    {CKM_AES_ECB, 16, 32, ED | WU},
    {CKM_AES_CBC, 16, 32, ED | WU},
    {CKM_AES_CBC_PAD, 16, 32, ED | WU},
    {CKM_AES_CTR, 16, 32, ED},
    {CKM_AES_GCM, 16, 32, ED},
    {CKM_AES_KEY_WRAP, 16, 32, ED | WU},
    {CKM_AES_KEY_WRAP_PAD, 16, 32, ED | WU},
    /* digests and HMAC (HMAC key sizes in bytes) */
    {CKM_SHA_1, 0, 0, CKF_DIGEST},
    {CKM_SHA224, 0, 0, CKF_DIGEST},
    {CKM_SHA256, 0, 0, CKF_DIGEST},
    {CKM_SHA384, 0, 0, CKF_DIGEST},
    {CKM_SHA512, 0, 0, CKF_DIGEST},
    {CKM_SHA_1_HMAC, 1, 4096, SV},
    {CKM_SHA224_HMAC, 1, 4096, SV},
    {CKM_SHA256_HMAC, 1, 4096, SV},
    {CKM_SHA384_HMAC, 1, 4096, SV},
    {CKM_SHA512_HMAC, 1, 4096, SV},
    {CKM_SHA_1_HMAC_GENERAL, 1, 4096, SV},
    {CKM_SHA224_HMAC_GENERAL, 1, 4096, SV},
    {CKM_SHA256_HMAC_GENERAL, 1, 4096, SV},
    {CKM_SHA384_HMAC_GENERAL, 1, 4096, SV},
    {CKM_SHA512_HMAC_GENERAL, 1, 4096, SV},
};

const struct qt_mech_info *
qt_mech_table(size_t *n)
{
    *n = QT_ARRAY_LEN(table);
    return table;
}

const struct qt_mech_info *
qt_mech_find(CK_MECHANISM_TYPE type)
{
    for (size_t i = 0; i < QT_ARRAY_LEN(table); i++) {
        if (table[i].type == type) {
            return &table[i];
        }
    }
    return NULL;
}

CK_KEY_TYPE
qt_mech_key_type(CK_MECHANISM_TYPE mech)
{
    switch (mech) {
    case CKM_RSA_PKCS_KEY_PAIR_GEN:
    case CKM_RSA_PKCS:
    case CKM_RSA_X_509:
    case CKM_RSA_PKCS_OAEP:
    case CKM_RSA_PKCS_PSS:
    case CKM_SHA1_RSA_PKCS:
    case CKM_SHA224_RSA_PKCS:
    case CKM_SHA256_RSA_PKCS:
    case CKM_SHA384_RSA_PKCS:
    case CKM_SHA512_RSA_PKCS:
    case CKM_SHA1_RSA_PKCS_PSS:
    case CKM_SHA224_RSA_PKCS_PSS:
    case CKM_SHA256_RSA_PKCS_PSS:
    case CKM_SHA384_RSA_PKCS_PSS:
    case CKM_SHA512_RSA_PKCS_PSS:
        return CKK_RSA;
    case CKM_EC_KEY_PAIR_GEN:
    case CKM_ECDSA:
    case CKM_ECDSA_SHA1:
    case CKM_ECDSA_SHA224:
    case CKM_ECDSA_SHA256:
    case CKM_ECDSA_SHA384:
    case CKM_ECDSA_SHA512:
    case CKM_ECDH1_DERIVE:
        return CKK_EC;
    case CKM_EC_EDWARDS_KEY_PAIR_GEN:
    case CKM_EDDSA:
        return CKK_EC_EDWARDS;
    case CKM_AES_KEY_GEN:
    case CKM_AES_ECB:
    case CKM_AES_CBC:
    case CKM_AES_CBC_PAD:
    case CKM_AES_CTR:
    case CKM_AES_GCM:
    case CKM_AES_KEY_WRAP:
    case CKM_AES_KEY_WRAP_PAD:
        return CKK_AES;
    case CKM_GENERIC_SECRET_KEY_GEN:
    case CKM_SHA_1_HMAC:
    case CKM_SHA224_HMAC:
    case CKM_SHA256_HMAC:
    case CKM_SHA384_HMAC:
    case CKM_SHA512_HMAC:
    case CKM_SHA_1_HMAC_GENERAL:
    case CKM_SHA224_HMAC_GENERAL:
    case CKM_SHA256_HMAC_GENERAL:
    case CKM_SHA384_HMAC_GENERAL:
    case CKM_SHA512_HMAC_GENERAL:
        return CKK_GENERIC_SECRET;
    default:
        return CK_UNAVAILABLE_INFORMATION;
    }
}

int
qt_mech_allowed(const struct qt_attrs *key, CK_MECHANISM_TYPE mech)
{
    const struct qt_attr *a = qt_attrs_find(key, CKA_ALLOWED_MECHANISMS);
    size_t n;

    /* PKCS#11 3.0 4.7: absent or empty means no restriction */
    if (a == NULL || a->len == 0) {
        return 1;
    }
    n = a->len / sizeof(CK_MECHANISM_TYPE);
    for (size_t i = 0; i < n; i++) {
        CK_MECHANISM_TYPE m;

        memcpy(&m, a->val + i * sizeof(m), sizeof(m));
        if (m == mech) {
            return 1;
        }
    }
    return 0;
}
