/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 API suite, cryptographic operations, each cross-checked with
 * OpenSSL: ECDSA (raw and SHA-2), RSA PKCS#1 v1.5, PSS, OAEP (with label),
 * X.509 raw, EdDSA, AES ECB/CBC/CBC-PAD/CTR/GCM, AES key wrap (with and
 * without padding), SHA digests, HMAC; the operation state rules (active,
 * not initialised, length query, buffer too small, single/multi-part
 * mixing, error ends the operation); key checks (handle, type, usage,
 * CKA_ALLOWED_MECHANISMS); wrap/unwrap with CKA_WRAP_WITH_TRUSTED,
 * CKA_TRUSTED and templates; ECDH derive.
 */
#include <dlfcn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <string.h>
#include "../../pkcs11/pkcs11-3.h"
#include "p11test.h"

TestSuite(crypto, .init = p11t_setup_token, .fini = p11t_teardown, .timeout = 120);

static const unsigned char msg[] = "the quick brown fox jumps over the lazy dog";

/* Signs msg with (mech, key) through the token, two-call convention. */
static CK_ULONG
sign(CK_SESSION_HANDLE h, CK_MECHANISM *m, CK_OBJECT_HANDLE k, const unsigned char *d, size_t dl,
     unsigned char *sig)
{
    CK_ULONG n = 0;

    CK_OK(F->C_SignInit(h, m, k));
    CK_OK(F->C_Sign(h, (CK_BYTE *)d, dl, NULL, &n));
    CK_OK(F->C_Sign(h, (CK_BYTE *)d, dl, sig, &n));
    return n;
}

static int
ossl_verify(EVP_PKEY *k, const char *md, int pad, int salt, const unsigned char *sig, size_t sl)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    int ok;

    cr_assert(EVP_DigestVerifyInit_ex(c, &pc, md, NULL, NULL, k, NULL));
    if (pad != 0) {
        cr_assert(EVP_PKEY_CTX_set_rsa_padding(pc, pad) > 0);
        if (pad == RSA_PKCS1_PSS_PADDING) {
            cr_assert(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, salt) > 0);
        }
    }
    ok = EVP_DigestVerify(c, sig, sl, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

/* r||s -> DER for OpenSSL */
static size_t
rs_to_der(const unsigned char *rs, size_t n, unsigned char *out)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    unsigned char *p = out;
    int len;

    ECDSA_SIG_set0(s, BN_bin2bn(rs, (int)n / 2, NULL), BN_bin2bn(rs + n / 2, (int)n / 2, NULL));
    len = i2d_ECDSA_SIG(s, &p);
    ECDSA_SIG_free(s);
    return (size_t)len;
}

Test(crypto, ecdsa_sha256_and_raw_vs_openssl)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv;
    CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0}, raw = {CKM_ECDSA, NULL, 0};
    unsigned char sig[132], der[160], dg[32];
    CK_ULONG n;
    EVP_PKEY *k;

    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub, &priv);
    k = p11t_pubkey(h, pub);
    n = sign(h, &m, priv, msg, sizeof(msg), sig);
    cr_assert_eq(n, 64);
    cr_assert(ossl_verify(k, "SHA256", 0, 0, der, rs_to_der(sig, n, der)));
    /* the token verifies its own and rejects a flipped bit */
    CK_OK(F->C_VerifyInit(h, &m, pub));
    CK_OK(F->C_Verify(h, (CK_BYTE *)msg, sizeof(msg), sig, n));
    sig[5] ^= 1;
    CK_OK(F->C_VerifyInit(h, &m, pub));
    CK_RV_EQ(F->C_Verify(h, (CK_BYTE *)msg, sizeof(msg), sig, n), CKR_SIGNATURE_INVALID);
    CK_OK(F->C_VerifyInit(h, &m, pub));
    CK_RV_EQ(F->C_Verify(h, (CK_BYTE *)msg, sizeof(msg), sig, n - 1), CKR_SIGNATURE_LEN_RANGE);
    /* multi-part == single-part (verify the multi-part signature) */
    CK_OK(F->C_SignInit(h, &m, priv));
    CK_OK(F->C_SignUpdate(h, (CK_BYTE *)msg, 10));
    CK_OK(F->C_SignUpdate(h, (CK_BYTE *)msg + 10, sizeof(msg) - 10));
    n = sizeof(sig);
    CK_OK(F->C_SignFinal(h, sig, &n));
    cr_assert(ossl_verify(k, "SHA256", 0, 0, der, rs_to_der(sig, n, der)));
    /* raw ECDSA over a digest */
    EVP_Digest(msg, sizeof(msg), dg, NULL, EVP_sha256(), NULL);
    n = sign(h, &raw, priv, dg, sizeof(dg), sig);
    cr_assert(ossl_verify(k, "SHA256", 0, 0, der, rs_to_der(sig, n, der)));
    EVP_PKEY_free(k);
}

Test(crypto, rsa_pkcs_pss_x509_vs_openssl)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv;
    CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
    CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA384, CKG_MGF1_SHA384, 48};
    CK_MECHANISM pss = {CKM_SHA384_RSA_PKCS_PSS, &pp, sizeof(pp)};
    CK_MECHANISM badpss = {CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp)};
    CK_MECHANISM x509 = {CKM_RSA_X_509, NULL, 0};
    unsigned char sig[256], block[256];
    CK_ULONG n;
    EVP_PKEY *k;

    p11t_rsa(h, 2048, 0, &pub, &priv);
    k = p11t_pubkey(h, pub);
    n = sign(h, &m, priv, msg, sizeof(msg), sig);
    cr_assert_eq(n, 256);
    cr_assert(ossl_verify(k, "SHA256", RSA_PKCS1_PADDING, 0, sig, n));
    n = sign(h, &pss, priv, msg, sizeof(msg), sig);
    cr_assert(ossl_verify(k, "SHA384", RSA_PKCS1_PSS_PADDING, 48, sig, n));
    /* PSS hash parameter must match the mechanism's hash */
    CK_RV_EQ(F->C_SignInit(h, &badpss, priv), CKR_MECHANISM_PARAM_INVALID);
    pss.ulParameterLen = 3;
    CK_RV_EQ(F->C_SignInit(h, &pss, priv), CKR_MECHANISM_PARAM_INVALID);
    /* raw RSA: the token's result equals the public operation's inverse */
    memset(block, 0x11, sizeof(block));
    block[0] = 0;
    n = sign(h, &x509, priv, block, sizeof(block), sig);
    CK_OK(F->C_VerifyInit(h, &x509, pub));
    CK_OK(F->C_Verify(h, block, sizeof(block), sig, n));
    EVP_PKEY_free(k);
}

Test(crypto, rsa_oaep_with_label_vs_openssl)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv;
    CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, "lbl", 3};
    CK_MECHANISM m = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)};
    unsigned char ct[256], pt[256];
    size_t ctl = sizeof(ct);
    CK_ULONG ptl = 0;
    EVP_PKEY *k;
    EVP_PKEY_CTX *c;
    unsigned char *label = OPENSSL_memdup("lbl", 3);

    p11t_rsa(h, 2048, 0, &pub, &priv);
    k = p11t_pubkey(h, pub);
    c = EVP_PKEY_CTX_new(k, NULL);
    cr_assert(EVP_PKEY_encrypt_init(c) > 0);
    cr_assert(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) > 0);
    cr_assert(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) > 0);
    cr_assert(EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) > 0);
    cr_assert(EVP_PKEY_CTX_set0_rsa_oaep_label(c, label, 3) > 0);
    cr_assert(EVP_PKEY_encrypt(c, ct, &ctl, msg, sizeof(msg)) > 0);
    EVP_PKEY_CTX_free(c);
    CK_OK(F->C_DecryptInit(h, &m, priv));
    CK_OK(F->C_Decrypt(h, ct, (CK_ULONG)ctl, NULL, &ptl));
    cr_assert_geq(ptl, sizeof(msg));
    CK_OK(F->C_Decrypt(h, ct, (CK_ULONG)ctl, pt, &ptl));
    cr_assert_eq(ptl, sizeof(msg));
    cr_assert_eq(memcmp(pt, msg, ptl), 0);
    /* a wrong label does not decrypt */
    op.pSourceData = "LBL";
    CK_OK(F->C_DecryptInit(h, &m, priv));
    ptl = sizeof(pt);
    CK_RV_EQ(F->C_Decrypt(h, ct, (CK_ULONG)ctl, pt, &ptl), CKR_ENCRYPTED_DATA_INVALID);
    /* bad parameter blocks */
    op.pSourceData = NULL;
    CK_RV_EQ(F->C_DecryptInit(h, &m, priv), CKR_MECHANISM_PARAM_INVALID);
    op = (CK_RSA_PKCS_OAEP_PARAMS){CKM_SHA256, 77, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_RV_EQ(F->C_DecryptInit(h, &m, priv), CKR_MECHANISM_PARAM_INVALID);
    m.pParameter = NULL;
    CK_RV_EQ(F->C_DecryptInit(h, &m, priv), CKR_MECHANISM_PARAM_INVALID);
    EVP_PKEY_free(k);
}

Test(crypto, eddsa_vs_openssl)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv;
    CK_MECHANISM m = {CKM_EDDSA, NULL, 0};
    unsigned char sig[114];
    CK_ULONG n;
    EVP_PKEY *k;
    EVP_MD_CTX *c = EVP_MD_CTX_new();

    p11t_ec(h, P11T_ED25519, sizeof(P11T_ED25519), CKM_EC_EDWARDS_KEY_PAIR_GEN, 0, &pub, &priv);
    k = p11t_pubkey(h, pub);
    n = sign(h, &m, priv, msg, sizeof(msg), sig);
    cr_assert_eq(n, 64);
    cr_assert(EVP_DigestVerifyInit(c, NULL, NULL, NULL, k));
    cr_assert_eq(EVP_DigestVerify(c, sig, n, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    /* EdDSA is single-part in PKCS#11 */
    CK_OK(F->C_SignInit(h, &m, priv));
    CK_RV_EQ(F->C_SignUpdate(h, (CK_BYTE *)msg, 4), CKR_FUNCTION_NOT_SUPPORTED);
    CK_RV_EQ(F->C_Sign(h, (CK_BYTE *)msg, 4, sig, &n), CKR_OPERATION_NOT_INITIALIZED);
}

static CK_OBJECT_HANDLE
aes_import(CK_SESSION_HANDLE h, const unsigned char *key, CK_ULONG len)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_VALUE, (void *)key, len}, {CKA_EXTRACTABLE, &yes, 1}};
    CK_OBJECT_HANDLE o;

    CK_OK(F->C_CreateObject(h, t, 4, &o));
    return o;
}

static size_t
ossl_cipher(const EVP_CIPHER *ci, const unsigned char *key, const unsigned char *iv, int pad,
            const unsigned char *in, size_t inl, unsigned char *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int a = 0, b = 0;

    cr_assert(EVP_EncryptInit_ex(c, ci, NULL, key, iv));
    EVP_CIPHER_CTX_set_padding(c, pad);
    cr_assert(EVP_EncryptUpdate(c, out, &a, in, (int)inl));
    cr_assert(EVP_EncryptFinal_ex(c, out + a, &b));
    EVP_CIPHER_CTX_free(c);
    return (size_t)(a + b);
}

Test(crypto, aes_modes_vs_openssl)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    static const unsigned char key[32] = {0x42, 1, 2,  3,  4,  5,  6,  7,  8,
                                          9,    10, 11, 12, 13, 14, 15, 16};
    unsigned char iv[16] = {7, 6, 5, 4, 3, 2, 1};
    unsigned char data[64], want[96], got[96];
    CK_OBJECT_HANDLE k = aes_import(h, key, 32);
    CK_MECHANISM cbc = {CKM_AES_CBC, iv, 16}, pad = {CKM_AES_CBC_PAD, iv, 16},
                 ecb = {CKM_AES_ECB, NULL, 0};
    CK_AES_CTR_PARAMS cp = {128, {0}};
    CK_MECHANISM ctr = {CKM_AES_CTR, &cp, sizeof(cp)};
    CK_ULONG n, a, b;
    size_t wl;

    memcpy(cp.cb, iv, 16);
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (unsigned char)(i * 7);
    }
    /* CBC */
    wl = ossl_cipher(EVP_aes_256_cbc(), key, iv, 0, data, 64, want);
    CK_OK(F->C_EncryptInit(h, &cbc, k));
    n = sizeof(got);
    CK_OK(F->C_Encrypt(h, data, 64, got, &n));
    cr_assert_eq(n, wl);
    cr_assert_eq(memcmp(got, want, n), 0);
    /* CBC without padding refuses a partial block */
    CK_OK(F->C_EncryptInit(h, &cbc, k));
    n = sizeof(got);
    CK_RV_EQ(F->C_Encrypt(h, data, 63, got, &n), CKR_DATA_LEN_RANGE);
    /* CBC-PAD, multi-part encrypt, single-part decrypt */
    wl = ossl_cipher(EVP_aes_256_cbc(), key, iv, 1, data, 50, want);
    CK_OK(F->C_EncryptInit(h, &pad, k));
    a = sizeof(got);
    CK_OK(F->C_EncryptUpdate(h, data, 20, got, &a));
    b = sizeof(got) - a;
    CK_OK(F->C_EncryptUpdate(h, data + 20, 30, got + a, &b));
    a += b;
    b = sizeof(got) - a;
    CK_OK(F->C_EncryptFinal(h, got + a, &b));
    cr_assert_eq(a + b, wl);
    cr_assert_eq(memcmp(got, want, wl), 0);
    CK_OK(F->C_DecryptInit(h, &pad, k));
    n = sizeof(got);
    CK_OK(F->C_Decrypt(h, want, (CK_ULONG)wl, got, &n));
    cr_assert_eq(n, 50);
    cr_assert_eq(memcmp(got, data, 50), 0);
    /* a corrupted pad */
    want[wl - 1] ^= 0x55;
    CK_OK(F->C_DecryptInit(h, &pad, k));
    n = sizeof(got);
    CK_RV_EQ(F->C_Decrypt(h, want, (CK_ULONG)wl, got, &n), CKR_ENCRYPTED_DATA_INVALID);
    /* ECB and CTR */
    wl = ossl_cipher(EVP_aes_256_ecb(), key, NULL, 0, data, 64, want);
    CK_OK(F->C_EncryptInit(h, &ecb, k));
    n = sizeof(got);
    CK_OK(F->C_Encrypt(h, data, 64, got, &n));
    cr_assert_eq(memcmp(got, want, wl), 0);
    wl = ossl_cipher(EVP_aes_256_ctr(), key, iv, 0, data, 61, want);
    CK_OK(F->C_EncryptInit(h, &ctr, k));
    n = sizeof(got);
    CK_OK(F->C_Encrypt(h, data, 61, got, &n));
    cr_assert_eq(n, 61);
    cr_assert_eq(memcmp(got, want, wl), 0);
    /* bad IVs */
    cbc.ulParameterLen = 15;
    CK_RV_EQ(F->C_EncryptInit(h, &cbc, k), CKR_MECHANISM_PARAM_INVALID);
    cbc.pParameter = NULL;
    cbc.ulParameterLen = 0;
    CK_RV_EQ(F->C_EncryptInit(h, &cbc, k), CKR_MECHANISM_PARAM_INVALID);
    cp.ulCounterBits = 0;
    CK_RV_EQ(F->C_EncryptInit(h, &ctr, k), CKR_MECHANISM_PARAM_INVALID);
}

Test(crypto, aes_gcm_vs_openssl)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    static const unsigned char key[32] = {3};
    unsigned char iv[12], aad[5] = "head", out[128], pt[128], tag[16];
    CK_GCM_PARAMS gp = {iv, 12, 96, aad, 5, 128};
    CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
    CK_OBJECT_HANDLE k = aes_import(h, key, 32);
    CK_ULONG n = 0;
    EVP_CIPHER_CTX *c;
    int l = 0;
    unsigned char iv_copy[12];

    CK_OK(F->C_GenerateRandom(h, iv, sizeof(iv)));
    memcpy(iv_copy, iv, 12);
    CK_OK(F->C_EncryptInit(h, &m, k));
    CK_OK(F->C_Encrypt(h, (CK_BYTE *)msg, sizeof(msg), NULL, &n));
    cr_assert_eq(n, sizeof(msg) + 16);
    CK_OK(F->C_Encrypt(h, (CK_BYTE *)msg, sizeof(msg), out, &n));
    cr_assert_eq(memcmp(iv, iv_copy, 12), 0, "the caller's IV is left untouched");
    /* OpenSSL decrypts and authenticates it */
    c = EVP_CIPHER_CTX_new();
    cr_assert(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL));
    cr_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL));
    cr_assert(EVP_DecryptInit_ex(c, NULL, NULL, key, iv));
    cr_assert(EVP_DecryptUpdate(c, NULL, &l, aad, 5));
    cr_assert(EVP_DecryptUpdate(c, pt, &l, out, (int)sizeof(msg)));
    memcpy(tag, out + sizeof(msg), 16);
    cr_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag));
    cr_assert_eq(EVP_DecryptFinal_ex(c, pt + l, &l), 1);
    EVP_CIPHER_CTX_free(c);
    cr_assert_eq(memcmp(pt, msg, sizeof(msg)), 0);
    /* the token decrypts; a flipped tag bit fails */
    CK_OK(F->C_DecryptInit(h, &m, k));
    n = sizeof(pt);
    CK_OK(F->C_Decrypt(h, out, sizeof(msg) + 16, pt, &n));
    cr_assert_eq(n, sizeof(msg));
    out[sizeof(msg) + 3] ^= 1;
    CK_OK(F->C_DecryptInit(h, &m, k));
    n = sizeof(pt);
    CK_RV_EQ(F->C_Decrypt(h, out, sizeof(msg) + 16, pt, &n), CKR_ENCRYPTED_DATA_INVALID);
    /* parameter checks */
    gp.ulTagBits = 64;
    CK_RV_EQ(F->C_EncryptInit(h, &m, k), CKR_MECHANISM_PARAM_INVALID);
    gp.ulTagBits = 128;
    gp.ulIvLen = 0;
    CK_RV_EQ(F->C_EncryptInit(h, &m, k), CKR_MECHANISM_PARAM_INVALID);
    m.ulParameterLen = 4;
    CK_RV_EQ(F->C_EncryptInit(h, &m, k), CKR_MECHANISM_PARAM_INVALID);
}

Test(crypto, digest_and_hmac_vs_openssl)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_MECHANISM d = {CKM_SHA256, NULL, 0}, d5 = {CKM_SHA512, NULL, 0};
    CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0};
    CK_ULONG glen = 16;
    CK_MECHANISM hg = {CKM_SHA256_HMAC_GENERAL, &glen, sizeof(glen)};
    unsigned char out[64], want[64], key[32] = {0x0b};
    unsigned int wl = 0;
    CK_ULONG n = 0;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_VALUE, key, sizeof(key)}};
    CK_OBJECT_HANDLE k;

    EVP_Digest(msg, sizeof(msg), want, &wl, EVP_sha256(), NULL);
    CK_OK(F->C_DigestInit(h, &d));
    CK_RV_EQ(F->C_DigestInit(h, &d), CKR_OPERATION_ACTIVE);
    CK_OK(F->C_Digest(h, (CK_BYTE *)msg, sizeof(msg), NULL, &n));
    cr_assert_eq(n, 32);
    n = 31;
    CK_RV_EQ(F->C_Digest(h, (CK_BYTE *)msg, sizeof(msg), out, &n), CKR_BUFFER_TOO_SMALL);
    cr_assert_eq(n, 32);
    CK_OK(F->C_Digest(h, (CK_BYTE *)msg, sizeof(msg), out, &n));
    cr_assert_eq(memcmp(out, want, 32), 0);
    /* multi-part SHA-512 */
    EVP_Digest(msg, sizeof(msg), want, &wl, EVP_sha512(), NULL);
    CK_OK(F->C_DigestInit(h, &d5));
    CK_OK(F->C_DigestUpdate(h, (CK_BYTE *)msg, 7));
    CK_OK(F->C_DigestUpdate(h, (CK_BYTE *)msg + 7, sizeof(msg) - 7));
    n = sizeof(out);
    CK_OK(F->C_DigestFinal(h, out, &n));
    cr_assert_eq(n, 64);
    cr_assert_eq(memcmp(out, want, 64), 0);
    /* HMAC-SHA256 and its _GENERAL truncation */
    CK_OK(F->C_CreateObject(h, t, 3, &k));
    HMAC(EVP_sha256(), key, sizeof(key), msg, sizeof(msg), want, &wl);
    n = sign(h, &hm, k, msg, sizeof(msg), out);
    cr_assert_eq(n, 32);
    cr_assert_eq(memcmp(out, want, 32), 0);
    n = sign(h, &hg, k, msg, sizeof(msg), out);
    cr_assert_eq(n, 16);
    cr_assert_eq(memcmp(out, want, 16), 0);
    CK_OK(F->C_VerifyInit(h, &hg, k));
    CK_OK(F->C_Verify(h, (CK_BYTE *)msg, sizeof(msg), out, 16));
    glen = 33;
    CK_RV_EQ(F->C_SignInit(h, &hg, k), CKR_MECHANISM_PARAM_INVALID);
}

Test(crypto, operation_state_rules)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv;
    CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
    unsigned char sig[64];
    CK_ULONG n;

    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub, &priv);
    n = sizeof(sig);
    CK_RV_EQ(F->C_Sign(h, (CK_BYTE *)msg, 4, sig, &n), CKR_OPERATION_NOT_INITIALIZED);
    CK_RV_EQ(F->C_SignFinal(h, sig, &n), CKR_OPERATION_NOT_INITIALIZED);
    CK_OK(F->C_SignInit(h, &m, priv));
    CK_RV_EQ(F->C_SignInit(h, &m, priv), CKR_OPERATION_ACTIVE);
    /* length query and too-small buffer keep the operation */
    n = 0;
    CK_OK(F->C_Sign(h, (CK_BYTE *)msg, 4, NULL, &n));
    cr_assert_eq(n, 64);
    n = 10;
    CK_RV_EQ(F->C_Sign(h, (CK_BYTE *)msg, 4, sig, &n), CKR_BUFFER_TOO_SMALL);
    cr_assert_eq(n, 64);
    CK_OK(F->C_Sign(h, (CK_BYTE *)msg, 4, sig, &n));
    /* a successful sign ends it */
    CK_RV_EQ(F->C_Sign(h, (CK_BYTE *)msg, 4, sig, &n), CKR_OPERATION_NOT_INITIALIZED);
    /* multi-part then single-part: CKR_OPERATION_ACTIVE, and the operation ends */
    CK_OK(F->C_SignInit(h, &m, priv));
    CK_OK(F->C_SignUpdate(h, (CK_BYTE *)msg, 4));
    CK_RV_EQ(F->C_Sign(h, (CK_BYTE *)msg, 4, sig, &n), CKR_OPERATION_ACTIVE);
    CK_RV_EQ(F->C_SignFinal(h, sig, &n), CKR_OPERATION_NOT_INITIALIZED);
    /* single-part length query then update: mixing */
    CK_OK(F->C_SignInit(h, &m, priv));
    CK_OK(F->C_Sign(h, (CK_BYTE *)msg, 4, NULL, &n));
    CK_RV_EQ(F->C_SignUpdate(h, (CK_BYTE *)msg, 4), CKR_OPERATION_ACTIVE);
    /* an argument error ends the operation */
    CK_OK(F->C_SignInit(h, &m, priv));
    CK_RV_EQ(F->C_Sign(h, (CK_BYTE *)msg, 4, sig, NULL), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_SignFinal(h, sig, &n), CKR_OPERATION_NOT_INITIALIZED);
    /* SignFinal two-call */
    CK_OK(F->C_SignInit(h, &m, priv));
    CK_OK(F->C_SignUpdate(h, (CK_BYTE *)msg, sizeof(msg)));
    n = 0;
    CK_OK(F->C_SignFinal(h, NULL, &n));
    n = 3;
    CK_RV_EQ(F->C_SignFinal(h, sig, &n), CKR_BUFFER_TOO_SMALL);
    CK_OK(F->C_SignFinal(h, sig, &n));
    cr_assert_eq(n, 64);
    /* encrypt, decrypt and digest are separate operations: all can be active */
    {
        static const unsigned char key[16] = {1};
        CK_OBJECT_HANDLE k = aes_import(h, key, 16);
        CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0}, d = {CKM_SHA256, NULL, 0};

        CK_OK(F->C_EncryptInit(h, &ecb, k));
        CK_OK(F->C_DecryptInit(h, &ecb, k));
        CK_OK(F->C_DigestInit(h, &d));
        CK_OK(F->C_SignInit(h, &m, priv));
        CK_RV_EQ(F->C_EncryptInit(h, &ecb, k), CKR_OPERATION_ACTIVE);
    }
}

Test(crypto, key_checks)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv, data;
    CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0}, r = {CKM_SHA256_RSA_PKCS, NULL, 0};
    CK_MECHANISM allowed_list[] = {{CKM_ECDSA_SHA384, NULL, 0}};
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE nosign = {CKA_SIGN, &no, 1};
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE dt[] = {{CKA_CLASS, &cls, sizeof(cls)}};
    CK_MECHANISM_TYPE only = CKM_ECDSA_SHA384;
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, (void *)P11T_P256, sizeof(P11T_P256)}};
    CK_ATTRIBUTE st[] = {{CKA_ALLOWED_MECHANISMS, &only, sizeof(only)}};
    CK_OBJECT_HANDLE pub2, priv2;

    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub, &priv);
    CK_OK(F->C_CreateObject(h, dt, 1, &data));
    CK_RV_EQ(F->C_SignInit(h, NULL, priv), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_SignInit(h, &m, priv + 1000), CKR_KEY_HANDLE_INVALID);
    CK_RV_EQ(F->C_SignInit(h, &m, data), CKR_KEY_HANDLE_INVALID);
    CK_RV_EQ(F->C_SignInit(h, &r, priv), CKR_KEY_TYPE_INCONSISTENT);
    CK_RV_EQ(F->C_SignInit(h, &m, pub), CKR_KEY_TYPE_INCONSISTENT);
    m.mechanism = 0x80001234UL;
    CK_RV_EQ(F->C_SignInit(h, &m, priv), CKR_MECHANISM_INVALID);
    m.mechanism = CKM_SHA256; /* a digest, not a signature */
    CK_RV_EQ(F->C_SignInit(h, &m, priv), CKR_MECHANISM_INVALID);
    m.mechanism = CKM_ECDSA_SHA256;
    CK_OK(F->C_SetAttributeValue(h, priv, &nosign, 1));
    CK_RV_EQ(F->C_SignInit(h, &m, priv), CKR_KEY_FUNCTION_NOT_PERMITTED);
    /* CKA_ALLOWED_MECHANISMS */
    CK_OK(F->C_GenerateKeyPair(h, &mech, pt, 1, st, 1, &pub2, &priv2));
    CK_RV_EQ(F->C_SignInit(h, &m, priv2), CKR_MECHANISM_INVALID);
    CK_OK(F->C_SignInit(h, &allowed_list[0], priv2));
}

Test(crypto, wrap_unwrap_rules)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE kek = p11t_aes(h, 32, 0, 0), target = p11t_aes(h, 16, 0, 1),
                     locked = p11t_aes(h, 16, 0, 0), uk;
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0}, kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
    unsigned char wrapped[64], v1[16], v2[16], want[64];
    CK_ULONG n = 0;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE ut[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
                         {CKA_EXTRACTABLE, &yes, 1}};
    CK_ATTRIBUTE wwt = {CKA_WRAP_WITH_TRUSTED, &yes, 1};
    EVP_CIPHER_CTX *c;
    int l1 = 0, l2 = 0;
    unsigned char kekv[32];

    CK_OK(F->C_WrapKey(h, &kw, kek, target, NULL, &n));
    cr_assert_eq(n, 24);
    n = 8;
    CK_RV_EQ(F->C_WrapKey(h, &kw, kek, target, wrapped, &n), CKR_BUFFER_TOO_SMALL);
    CK_OK(F->C_WrapKey(h, &kw, kek, target, wrapped, &n));
    CK_OK(F->C_UnwrapKey(h, &kw, kek, wrapped, n, ut, 3, &uk));
    cr_assert_eq(p11t_attr(h, uk, CKA_VALUE, v1, sizeof(v1)), 16);
    cr_assert_eq(p11t_attr(h, target, CKA_VALUE, v2, sizeof(v2)), 16);
    cr_assert_eq(memcmp(v1, v2, 16), 0);
    cr_assert_eq(p11t_bool(h, uk, CKA_LOCAL), CK_FALSE);
    cr_assert_eq(p11t_bool(h, uk, CKA_NEVER_EXTRACTABLE), CK_FALSE);
    /* OpenSSL agrees on RFC 3394 with an extractable KEK */
    {
        CK_OBJECT_HANDLE k2 = p11t_aes(h, 32, 0, 1);

        cr_assert_eq(p11t_attr(h, k2, CKA_VALUE, kekv, sizeof(kekv)), 32);
        n = sizeof(wrapped);
        CK_OK(F->C_WrapKey(h, &kwp, k2, target, wrapped, &n));
        c = EVP_CIPHER_CTX_new();
        EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        cr_assert(EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, kekv, NULL));
        cr_assert(EVP_EncryptUpdate(c, want, &l1, v2, 16));
        cr_assert(EVP_EncryptFinal_ex(c, want + l1, &l2));
        EVP_CIPHER_CTX_free(c);
        cr_assert_eq(n, (CK_ULONG)(l1 + l2));
        cr_assert_eq(memcmp(wrapped, want, n), 0);
    }
    /* rules */
    n = sizeof(wrapped);
    CK_RV_EQ(F->C_WrapKey(h, &kw, kek, locked, wrapped, &n), CKR_KEY_UNEXTRACTABLE);
    CK_RV_EQ(F->C_WrapKey(h, &kw, kek + 1000, target, wrapped, &n),
             CKR_WRAPPING_KEY_HANDLE_INVALID);
    CK_RV_EQ(F->C_WrapKey(h, &kw, kek, target + 1000, wrapped, &n), CKR_KEY_HANDLE_INVALID);
    CK_RV_EQ(F->C_WrapKey(h, &sha, kek, target, wrapped, &n), CKR_MECHANISM_INVALID);
    CK_RV_EQ(F->C_WrapKey(h, &kw, kek, target, wrapped, NULL), CKR_ARGUMENTS_BAD);
    CK_OK(F->C_SetAttributeValue(h, target, &wwt, 1));
    CK_RV_EQ(F->C_WrapKey(h, &kw, kek, target, wrapped, &n), CKR_KEY_NOT_WRAPPABLE);
    wrapped[3] ^= 1;
    CK_RV_EQ(F->C_UnwrapKey(h, &kw, kek, wrapped, 24, ut, 3, &uk), CKR_WRAPPED_KEY_INVALID);
    CK_RV_EQ(F->C_UnwrapKey(h, &kw, kek, wrapped, 20, ut, 3, &uk), CKR_WRAPPED_KEY_LEN_RANGE);
    CK_RV_EQ(F->C_UnwrapKey(h, &kw, kek + 1000, wrapped, 24, ut, 3, &uk),
             CKR_UNWRAPPING_KEY_HANDLE_INVALID);
}

/* A trusted wrapping key (made by the SO) wraps a CKA_WRAP_WITH_TRUSTED key;
 * CKA_WRAP_TEMPLATE restricts what it wraps; CKA_UNWRAP_TEMPLATE is applied. */
Test(crypto, trusted_wrapping_and_templates)
{
    CK_SESSION_HANDLE so = p11t_open(p11t_slot, 1), h;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG sixteen = 16;
    CK_ATTRIBUTE wtmpl[] = {{CKA_VALUE_LEN, &sixteen, sizeof(sixteen)}};
    CK_ATTRIBUTE utmpl[] = {{CKA_SENSITIVE, &yes, 1}};
    CK_ATTRIBUTE kt_[] = {{CKA_CLASS, &cls, sizeof(cls)},
                          {CKA_KEY_TYPE, &kt, sizeof(kt)},
                          {CKA_VALUE, "0123456789abcdef0123456789abcdef", 32},
                          {CKA_PRIVATE, &no, 1},
                          {CKA_TOKEN, &yes, 1},
                          {CKA_TRUSTED, &yes, 1},
                          {CKA_WRAP_TEMPLATE, wtmpl, sizeof(wtmpl)},
                          {CKA_UNWRAP_TEMPLATE, utmpl, sizeof(utmpl)}};
    CK_ATTRIBUTE lbl = {CKA_TRUSTED, &yes, 1};
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
    CK_OBJECT_HANDLE kek, wwt, big, uk, found;
    CK_ATTRIBUTE wt = {CKA_WRAP_WITH_TRUSTED, &yes, 1};
    CK_ATTRIBUTE ut[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}};
    CK_ATTRIBUTE conflict[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
                               {CKA_SENSITIVE, &no, 1}};
    unsigned char wrapped[64], v[16];
    CK_ULONG n = sizeof(wrapped), cnt = 0;
    CK_ATTRIBUTE rt[2];

    CK_OK(F->C_Login(so, CKU_SO, (CK_UTF8CHAR *)SO_PIN, 8));
    CK_OK(F->C_CreateObject(so, kt_, 8, &kek));
    CK_OK(F->C_Logout(so));
    h = p11t_user_session();
    CK_OK(F->C_FindObjectsInit(h, &lbl, 1));
    CK_OK(F->C_FindObjects(h, &found, 1, &cnt));
    CK_OK(F->C_FindObjectsFinal(h));
    cr_assert_eq(cnt, 1);
    /* the nested template reads back with the two-call convention */
    rt[0] = (CK_ATTRIBUTE){CKA_WRAP_TEMPLATE, NULL, 0};
    CK_OK(F->C_GetAttributeValue(h, found, rt, 1));
    cr_assert_eq(rt[0].ulValueLen, sizeof(CK_ATTRIBUTE));
    wwt = p11t_aes(h, 16, 0, 1);
    CK_OK(F->C_SetAttributeValue(h, wwt, &wt, 1));
    big = p11t_aes(h, 32, 0, 1);
    CK_OK(F->C_WrapKey(h, &kw, found, wwt, wrapped, &n));
    n = sizeof(wrapped);
    CK_RV_EQ(F->C_WrapKey(h, &kw, found, big, wrapped, &n), CKR_KEY_NOT_WRAPPABLE);
    n = sizeof(wrapped);
    CK_OK(F->C_WrapKey(h, &kw, found, wwt, wrapped, &n));
    CK_OK(F->C_UnwrapKey(h, &kw, found, wrapped, n, ut, 2, &uk));
    cr_assert_eq(p11t_bool(h, uk, CKA_SENSITIVE), CK_TRUE, "the unwrap template applies");
    cr_assert_eq(p11t_attr(h, uk, CKA_VALUE, v, sizeof(v)), CK_UNAVAILABLE_INFORMATION);
    CK_RV_EQ(F->C_UnwrapKey(h, &kw, found, wrapped, n, conflict, 3, &uk),
             CKR_TEMPLATE_INCONSISTENT);
    (void)kek;
}

Test(crypto, ecdh_derive_vs_openssl)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE apub, apriv, bpub, bpriv, ka, kb;
    unsigned char ap[80], bp[80], va[32], vb[32], z[32];
    CK_ULONG apl, bpl;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}};
    CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, 0, NULL};
    CK_MECHANISM m = {CKM_ECDH1_DERIVE, &p, sizeof(p)};
    EVP_PKEY *pk;
    EVP_PKEY_CTX *c;
    size_t zl = sizeof(z);

    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &apub, &apriv);
    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &bpub, &bpriv);
    apl = p11t_attr(h, apub, CKA_EC_POINT, ap, sizeof(ap));
    bpl = p11t_attr(h, bpub, CKA_EC_POINT, bp, sizeof(bp));
    /* raw point for one side, DER for the other: both accepted */
    p.pPublicData = bp + 2;
    p.ulPublicDataLen = bpl - 2;
    CK_OK(F->C_DeriveKey(h, &m, apriv, t, 4, &ka));
    p.pPublicData = ap;
    p.ulPublicDataLen = apl;
    CK_OK(F->C_DeriveKey(h, &m, bpriv, t, 4, &kb));
    cr_assert_eq(p11t_attr(h, ka, CKA_VALUE, va, sizeof(va)), 32);
    cr_assert_eq(p11t_attr(h, kb, CKA_VALUE, vb, sizeof(vb)), 32);
    cr_assert_eq(memcmp(va, vb, 32), 0);
    cr_assert_eq(p11t_bool(h, ka, CKA_LOCAL), CK_FALSE);
    /* OpenSSL: an ephemeral key against b's public key gives what the token
     * derives from b's private key and the ephemeral public key */
    {
        EVP_PKEY *eph = EVP_EC_gen("P-256");
        unsigned char ep[80];
        size_t epl = 0;
        CK_OBJECT_HANDLE ke;

        cr_assert_not_null(eph);
        cr_assert(EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, ep,
                                                  sizeof(ep), &epl));
        pk = p11t_pubkey(h, bpub);
        c = EVP_PKEY_CTX_new(eph, NULL);
        cr_assert(EVP_PKEY_derive_init(c) > 0);
        cr_assert(EVP_PKEY_derive_set_peer(c, pk) > 0);
        cr_assert(EVP_PKEY_derive(c, z, &zl) > 0);
        EVP_PKEY_CTX_free(c);
        EVP_PKEY_free(pk);
        EVP_PKEY_free(eph);
        p.pPublicData = ep;
        p.ulPublicDataLen = (CK_ULONG)epl;
        CK_OK(F->C_DeriveKey(h, &m, bpriv, t, 4, &ke));
        cr_assert_eq(p11t_attr(h, ke, CKA_VALUE, va, sizeof(va)), 32);
        cr_assert_eq(memcmp(va, z, 32), 0);
    }
    /* parameter and key errors */
    p.kdf = CKD_SHA1_KDF + 100;
    CK_RV_EQ(F->C_DeriveKey(h, &m, apriv, t, 4, &ka), CKR_MECHANISM_PARAM_INVALID);
    p.kdf = CKD_NULL;
    p.pPublicData = (CK_BYTE *)"\x04\x01\x02";
    p.ulPublicDataLen = 3;
    CK_RV_EQ(F->C_DeriveKey(h, &m, apriv, t, 4, &ka), CKR_MECHANISM_PARAM_INVALID);
    p.pPublicData = ap;
    p.ulPublicDataLen = apl;
    CK_RV_EQ(F->C_DeriveKey(h, &m, apub, t, 4, &ka), CKR_KEY_FUNCTION_NOT_PERMITTED);
}

Test(crypto, more_mechanisms_and_rules)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv, k, epub, epriv;
    CK_MECHANISM rsa = {CKM_RSA_PKCS, NULL, 0}, ed = {CKM_EDDSA, NULL, 0};
    CK_MECHANISM sha = {CKM_SHA256, NULL, 0}, hm = {CKM_SHA256_HMAC, NULL, 0};
    unsigned char ct[256], pt[256], sig[128], dg[32], want[32];
    CK_ULONG n, m;
    EVP_PKEY *key;
    EVP_MD_CTX *c;
    static const unsigned char kv[16] = {5, 4, 3};
    unsigned int wl = 0;

    /* RSA PKCS#1 v1.5 encryption through the token, both ways */
    p11t_rsa(h, 2048, 0, &pub, &priv);
    CK_OK(F->C_EncryptInit(h, &rsa, pub));
    n = sizeof(ct);
    CK_OK(F->C_Encrypt(h, (CK_BYTE *)msg, sizeof(msg), ct, &n));
    CK_OK(F->C_DecryptInit(h, &rsa, priv));
    m = sizeof(pt);
    CK_OK(F->C_Decrypt(h, ct, n, pt, &m));
    cr_assert_eq(m, sizeof(msg));
    cr_assert_eq(memcmp(pt, msg, m), 0);
    /* single-part mechanisms refuse the multi-part calls (and end) */
    CK_OK(F->C_EncryptInit(h, &rsa, pub));
    n = sizeof(ct);
    CK_RV_EQ(F->C_EncryptUpdate(h, (CK_BYTE *)msg, 4, ct, &n), CKR_FUNCTION_NOT_SUPPORTED);
    CK_RV_EQ(F->C_Encrypt(h, (CK_BYTE *)msg, 4, ct, &n), CKR_OPERATION_NOT_INITIALIZED);
    /* data too long for RSA PKCS#1 */
    CK_OK(F->C_EncryptInit(h, &rsa, pub));
    n = sizeof(ct);
    CK_RV_EQ(F->C_Encrypt(h, ct, 250, ct, &n), CKR_DATA_LEN_RANGE);
    /* Ed448 vs OpenSSL */
    p11t_ec(h, P11T_ED448, sizeof(P11T_ED448), CKM_EC_EDWARDS_KEY_PAIR_GEN, 0, &epub, &epriv);
    CK_OK(F->C_SignInit(h, &ed, epriv));
    n = sizeof(sig);
    CK_OK(F->C_Sign(h, (CK_BYTE *)msg, sizeof(msg), sig, &n));
    cr_assert_eq(n, 114);
    key = p11t_pubkey(h, epub);
    c = EVP_MD_CTX_new();
    cr_assert(EVP_DigestVerifyInit(c, NULL, NULL, NULL, key));
    cr_assert_eq(EVP_DigestVerify(c, sig, n, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(key);
    /* C_DigestKey: a non-sensitive secret key's value is digested */
    k = aes_import(h, kv, 16);
    EVP_Digest(kv, 16, want, &wl, EVP_sha256(), NULL);
    CK_OK(F->C_DigestInit(h, &sha));
    CK_OK(F->C_DigestKey(h, k));
    n = sizeof(dg);
    CK_OK(F->C_DigestFinal(h, dg, &n));
    cr_assert_eq(memcmp(dg, want, 32), 0);
    CK_OK(F->C_DigestInit(h, &sha));
    CK_RV_EQ(F->C_DigestKey(h, epriv), CKR_KEY_INDIGESTIBLE);
    CK_OK(F->C_DigestInit(h, &sha));
    CK_RV_EQ(F->C_DigestKey(h, k + 5000), CKR_KEY_HANDLE_INVALID);
    /* HMAC verify of a wrong MAC, and a MAC of the wrong length */
    {
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
        CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
                            {CKA_VALUE, (void *)kv, 16}};
        CK_OBJECT_HANDLE mk;

        CK_OK(F->C_CreateObject(h, t, 3, &mk));
        CK_OK(F->C_SignInit(h, &hm, mk));
        n = sizeof(sig);
        CK_OK(F->C_Sign(h, (CK_BYTE *)msg, sizeof(msg), sig, &n));
        sig[0] ^= 0x80;
        CK_OK(F->C_VerifyInit(h, &hm, mk));
        CK_RV_EQ(F->C_Verify(h, (CK_BYTE *)msg, sizeof(msg), sig, n), CKR_SIGNATURE_INVALID);
        CK_OK(F->C_VerifyInit(h, &hm, mk));
        CK_OK(F->C_VerifyUpdate(h, (CK_BYTE *)msg, 3));
        CK_RV_EQ(F->C_VerifyFinal(h, sig, 31), CKR_SIGNATURE_LEN_RANGE);
        /* an AES key is not an HMAC key */
        CK_RV_EQ(F->C_SignInit(h, &hm, k), CKR_KEY_TYPE_INCONSISTENT);
    }
    /* multi-part AES-GCM equals single-part */
    {
        unsigned char iv[12] = {9}, a1[128], a2[128];
        CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
        CK_MECHANISM g = {CKM_AES_GCM, &gp, sizeof(gp)};
        CK_ULONG l1 = sizeof(a1), l2, l3;

        CK_OK(F->C_EncryptInit(h, &g, k));
        CK_OK(F->C_Encrypt(h, (CK_BYTE *)msg, sizeof(msg), a1, &l1));
        CK_OK(F->C_EncryptInit(h, &g, k));
        l2 = sizeof(a2);
        CK_OK(F->C_EncryptUpdate(h, (CK_BYTE *)msg, 10, a2, &l2));
        l3 = sizeof(a2) - l2;
        CK_OK(F->C_EncryptUpdate(h, (CK_BYTE *)msg + 10, sizeof(msg) - 10, a2 + l2, &l3));
        l2 += l3;
        l3 = sizeof(a2) - l2;
        CK_OK(F->C_EncryptFinal(h, a2 + l2, &l3));
        cr_assert_eq(l1, l2 + l3);
        cr_assert_eq(memcmp(a1, a2, l1), 0);
    }
}

Test(crypto, login_user_3_0)
{
    CK_RV (*get)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS);
    CK_INTERFACE *itf;
    CK_FUNCTION_LIST_3_0 *f3;
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);

    *(void **)&get = dlsym(p11t_handle(), "C_GetInterface");
    CK_OK(get(NULL, NULL, &itf, 0));
    f3 = itf->pFunctionList;
    CK_RV_EQ(f3->C_LoginUser(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6, (CK_UTF8CHAR *)"bob", 3),
             CKR_ARGUMENTS_BAD);
    CK_OK(f3->C_LoginUser(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6, NULL, 0));
    CK_RV_EQ(f3->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6), CKR_USER_ALREADY_LOGGED_IN);
}

Test(crypto, always_authenticate_needs_context_login)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, m = {CKM_ECDSA_SHA256, NULL, 0};
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, (void *)P11T_P256, sizeof(P11T_P256)}};
    CK_ATTRIBUTE st[] = {{CKA_ALWAYS_AUTHENTICATE, &yes, 1}};
    CK_OBJECT_HANDLE pub, priv;
    unsigned char sig[64];
    CK_ULONG n = sizeof(sig);

    CK_OK(F->C_GenerateKeyPair(h, &gen, pt, 1, st, 1, &pub, &priv));
    cr_assert_eq(p11t_bool(h, priv, CKA_ALWAYS_AUTHENTICATE), CK_TRUE);
    CK_OK(F->C_SignInit(h, &m, priv));
    CK_RV_EQ(F->C_Sign(h, (CK_BYTE *)msg, 4, sig, &n), CKR_USER_NOT_LOGGED_IN);
    CK_RV_EQ(F->C_Sign(h, (CK_BYTE *)msg, 4, sig, &n), CKR_OPERATION_NOT_INITIALIZED);
    CK_OK(F->C_SignInit(h, &m, priv));
    CK_RV_EQ(F->C_Login(h, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR *)"000000", 6), CKR_PIN_INCORRECT);
    CK_OK(F->C_Login(h, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR *)USER_PIN, 6));
    n = sizeof(sig);
    CK_OK(F->C_Sign(h, (CK_BYTE *)msg, 4, sig, &n));
    /* each use needs its own login */
    CK_OK(F->C_SignInit(h, &m, priv));
    n = sizeof(sig);
    CK_RV_EQ(F->C_Sign(h, (CK_BYTE *)msg, 4, sig, &n), CKR_USER_NOT_LOGGED_IN);
    /* keys without the attribute: no context login to give */
    {
        CK_OBJECT_HANDLE p2, s2;

        p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &p2, &s2);
        CK_OK(F->C_SignInit(h, &m, s2));
        CK_RV_EQ(F->C_Login(h, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR *)USER_PIN, 6),
                 CKR_OPERATION_NOT_INITIALIZED);
    }
}

/* Mechanism parameter blocks in memory with no particular alignment are
 * copied out before use (UBSan checks the accesses). */
Test(crypto, unaligned_mechanism_parameters)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv;
    CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 32};
    unsigned char raw[sizeof(pp) + 1], sig[256];
    CK_MECHANISM m = {CKM_SHA256_RSA_PKCS_PSS, raw + 1, sizeof(pp)};
    CK_ULONG n = sizeof(sig);

    memcpy(raw + 1, &pp, sizeof(pp));
    p11t_rsa(h, 2048, 0, &pub, &priv);
    CK_OK(F->C_SignInit(h, &m, priv));
    CK_OK(F->C_Sign(h, (CK_BYTE *)msg, sizeof(msg), sig, &n));
    CK_OK(F->C_VerifyInit(h, &m, pub));
    CK_OK(F->C_Verify(h, (CK_BYTE *)msg, sizeof(msg), sig, n));
}
