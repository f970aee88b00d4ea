/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 API suite, the per-key caches behind the operations: a key object
 * imports its key once, and the key keeps prepared OpenSSL contexts per
 * setup (mechanism and parameters), some of them handed back for reuse
 * when an operation ends (HMAC).  What must hold, each result
 * cross-checked with OpenSSL:
 *  - setups of one key never mix (HMAC digests and truncations, RSA PKCS
 *    and PSS salts past the per-key template limit, AES-GCM IV lengths and
 *    tags, other AES modes), and a reused context starts clean after
 *    finished, abandoned and failed operations;
 *  - the checks still run on every Init: CKA_SIGN set to false refuses the
 *    key (key material itself is read-only); a destroyed key or a private key after C_Logout is an invalid
 *    handle (an operation already under way finishes with the key it had);
 *  - threads on sessions of their own share one key's contexts;
 *  - a forked child that initialises again works with its own keys;
 *  - every data and Init call refuses a forked child and a finalised module
 *    (their shell in op.h leaves that check to qt_lock).
 */
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "p11test.h"

TestSuite(keycache, .init = p11t_setup_token, .fini = p11t_teardown, .timeout = 240);

static const unsigned char hkey[40] = {0x4b, 0x65, 0x79, 0x21, 7, 8, 9, 10, 11, 12};
static const unsigned char akey[32] = {0xa5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static CK_OBJECT_HANDLE
secret(CK_SESSION_HANDLE h, CK_KEY_TYPE kt, const unsigned char *v, CK_ULONG len, CK_BBOOL token,
       CK_BBOOL priv)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_VALUE, (void *)v, len},    {CKA_TOKEN, &token, 1},
                        {CKA_PRIVATE, &priv, 1},        {CKA_SIGN, &yes, 1},
                        {CKA_VERIFY, &yes, 1},          {CKA_ENCRYPT, &yes, 1},
                        {CKA_DECRYPT, &yes, 1}};
    CK_OBJECT_HANDLE o;

    CK_OK(F->C_CreateObject(h, t, 9, &o));
    return o;
}

/* HMAC through the token (single-part or in two updates) == OpenSSL's. */
static void
check_hmac(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k, CK_MECHANISM_TYPE mt, CK_ULONG glen,
           const EVP_MD *md, const unsigned char *d, size_t dl, int split)
{
    CK_MECHANISM m = {mt, glen ? &glen : NULL, glen ? sizeof(glen) : 0};
    unsigned char out[64], want[64];
    unsigned int wl = 0;
    CK_ULONG n = sizeof(out);

    HMAC(md, hkey, sizeof(hkey), d, dl, want, &wl);
    CK_OK(F->C_SignInit(h, &m, k));
    if (split) {
        CK_OK(F->C_SignUpdate(h, (CK_BYTE *)d, 3));
        CK_OK(F->C_SignUpdate(h, (CK_BYTE *)d + 3, dl - 3));
        CK_OK(F->C_SignFinal(h, out, &n));
    } else {
        CK_OK(F->C_Sign(h, (CK_BYTE *)d, dl, out, &n));
    }
    cr_assert_eq(n, glen ? glen : wl);
    cr_assert_eq(memcmp(out, want, n), 0, "HMAC mechanism 0x%lx over %zu bytes", mt, dl);
    /* and the token verifies it (the verify setups are separate ones) */
    CK_OK(F->C_VerifyInit(h, &m, k));
    CK_OK(F->C_Verify(h, (CK_BYTE *)d, dl, out, n));
}

Test(keycache, hmac_setups_of_one_key_never_mix)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE k = secret(h, CKK_GENERIC_SECRET, hkey, sizeof(hkey), 0, 0);
    CK_MECHANISM m = {CKM_SHA256_HMAC, NULL, 0};
    unsigned char d[3][80], out[64];
    CK_ULONG n;

    for (int i = 0; i < 3; i++) {
        memset(d[i], 'a' + i, sizeof(d[i]));
    }
    for (int round = 0; round < 3; round++) {
        const unsigned char *x = d[round];

        check_hmac(h, k, CKM_SHA256_HMAC, 0, EVP_sha256(), x, 50 + round, round & 1);
        check_hmac(h, k, CKM_SHA384_HMAC, 0, EVP_sha384(), x, 80, 0);
        check_hmac(h, k, CKM_SHA256_HMAC_GENERAL, 16, EVP_sha256(), x, 7, 1);
        check_hmac(h, k, CKM_SHA512_HMAC_GENERAL, 33, EVP_sha512(), x, 64, 0);
        check_hmac(h, k, CKM_SHA_1_HMAC, 0, EVP_sha1(), x, 20, 0);
        /* an operation abandoned half-way (an argument error ends it) */
        CK_OK(F->C_SignInit(h, &m, k));
        CK_OK(F->C_SignUpdate(h, d[2], 40));
        CK_RV_EQ(F->C_SignFinal(h, out, NULL), CKR_ARGUMENTS_BAD);
        /* a failed verification */
        memset(out, 0, sizeof(out));
        CK_OK(F->C_VerifyInit(h, &m, k));
        CK_RV_EQ(F->C_Verify(h, d[1], 30, out, 32), CKR_SIGNATURE_INVALID);
        /* a length query, then the signature */
        CK_OK(F->C_SignInit(h, &m, k));
        n = 0;
        CK_OK(F->C_Sign(h, d[0], 10, NULL, &n));
        cr_assert_eq(n, 32);
        CK_OK(F->C_Sign(h, d[0], 10, out, &n));
        check_hmac(h, k, CKM_SHA256_HMAC, 0, EVP_sha256(), d[0], 10, 0);
    }
}

/* Whether an r||s ECDSA signature over SHA-256(d) verifies with OpenSSL. */
static int
ecdsa_ok(EVP_PKEY *k, const unsigned char *d, size_t dl, const unsigned char *rs, size_t n)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    unsigned char der[160], *p = der;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int len, ok;

    ECDSA_SIG_set0(s, BN_bin2bn(rs, (int)n / 2, NULL), BN_bin2bn(rs + n / 2, (int)n / 2, NULL));
    len = i2d_ECDSA_SIG(s, &p);
    ECDSA_SIG_free(s);
    ok = EVP_DigestVerifyInit_ex(c, NULL, "SHA256", NULL, NULL, k, NULL) == 1 &&
         EVP_DigestVerify(c, der, (size_t)len, d, dl) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

static CK_RV
ecdsa_sign(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k, const unsigned char *d, size_t dl,
           unsigned char *sig, CK_ULONG *n)
{
    CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
    CK_RV rv;

    *n = 64;
    if ((rv = F->C_SignInit(h, &m, k)) != CKR_OK) {
        return rv;
    }
    return F->C_Sign(h, (CK_BYTE *)d, dl, sig, n);
}

static CK_RV
hmac_sign(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k, const unsigned char *d, size_t dl,
          unsigned char *out)
{
    CK_MECHANISM m = {CKM_SHA256_HMAC, NULL, 0};
    CK_ULONG n = 32;
    CK_RV rv;

    if ((rv = F->C_SignInit(h, &m, k)) != CKR_OK) {
        return rv;
    }
    return F->C_Sign(h, (CK_BYTE *)d, dl, out, &n);
}

/* CKA_SIGN=false, then true again, on a key that has signed (session or
 * token object): the checks run on every Init, the cache changes nothing. */
static void
sign_flag_round(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE ec, EVP_PKEY *pub, CK_OBJECT_HANDLE mac)
{
    static const unsigned char d[] = "sign flag";
    unsigned char sig[64], want[32];
    unsigned int wl = 0;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ATTRIBUTE off = {CKA_SIGN, &no, 1}, on = {CKA_SIGN, &yes, 1};
    CK_ATTRIBUTE val = {CKA_VALUE, (void *)akey, 32};
    CK_ULONG n;

    HMAC(EVP_sha256(), hkey, sizeof(hkey), d, sizeof(d), want, &wl);
    CK_OK(ecdsa_sign(h, ec, d, sizeof(d), sig, &n));
    cr_assert(ecdsa_ok(pub, d, sizeof(d), sig, n));
    CK_OK(hmac_sign(h, mac, d, sizeof(d), sig));
    cr_assert_eq(memcmp(sig, want, 32), 0);
    /* what the cache relies on: key material never changes in place */
    CK_RV_EQ(F->C_SetAttributeValue(h, mac, &val, 1), CKR_ATTRIBUTE_READ_ONLY);
    CK_RV_EQ(F->C_SetAttributeValue(h, ec, &val, 1), CKR_ATTRIBUTE_READ_ONLY);
    CK_OK(F->C_SetAttributeValue(h, ec, &off, 1));
    CK_OK(F->C_SetAttributeValue(h, mac, &off, 1));
    CK_RV_EQ(ecdsa_sign(h, ec, d, sizeof(d), sig, &n), CKR_KEY_FUNCTION_NOT_PERMITTED);
    CK_RV_EQ(hmac_sign(h, mac, d, sizeof(d), sig), CKR_KEY_FUNCTION_NOT_PERMITTED);
    CK_OK(F->C_SetAttributeValue(h, ec, &on, 1));
    CK_OK(F->C_SetAttributeValue(h, mac, &on, 1));
    CK_OK(ecdsa_sign(h, ec, d, sizeof(d), sig, &n));
    cr_assert(ecdsa_ok(pub, d, sizeof(d), sig, n));
    CK_OK(hmac_sign(h, mac, d, sizeof(d), sig));
    cr_assert_eq(memcmp(sig, want, 32), 0);
}

Test(keycache, sign_false_refuses_a_cached_key)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv, tpub, tpriv;
    EVP_PKEY *k, *tk;

    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub, &priv);
    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 1, &tpub, &tpriv);
    k = p11t_pubkey(h, pub);
    tk = p11t_pubkey(h, tpub);
    sign_flag_round(h, priv, k, secret(h, CKK_GENERIC_SECRET, hkey, sizeof(hkey), 0, 0));
    sign_flag_round(h, tpriv, tk, secret(h, CKK_GENERIC_SECRET, hkey, sizeof(hkey), 1, 1));
    EVP_PKEY_free(k);
    EVP_PKEY_free(tk);
}

Test(keycache, destroyed_key_is_gone_but_a_started_operation_ends_well)
{
    static const unsigned char d[] = "destroyed";
    CK_SESSION_HANDLE h = p11t_user_session(), h2 = p11t_open(p11t_slot, 1);
    CK_OBJECT_HANDLE pub, priv, mac;
    CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0}, hm = {CKM_SHA256_HMAC, NULL, 0};
    unsigned char sig[64], want[32];
    unsigned int wl = 0;
    CK_ULONG n;
    EVP_PKEY *k;

    for (int token = 0; token < 2; token++) {
        p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, token, &pub, &priv);
        mac = secret(h, CKK_GENERIC_SECRET, hkey, sizeof(hkey), (CK_BBOOL)token, 1);
        k = p11t_pubkey(h, pub);
        CK_OK(ecdsa_sign(h2, priv, d, sizeof(d), sig, &n)); /* key and contexts cached */
        CK_OK(hmac_sign(h2, mac, d, sizeof(d), sig));
        /* operations started on h2, then both keys destroyed through h */
        CK_OK(F->C_SignInit(h2, &m, priv));
        CK_OK(F->C_SignUpdate(h2, (CK_BYTE *)d, 4));
        CK_OK(F->C_VerifyInit(h2, &hm, mac));
        CK_OK(F->C_DestroyObject(h, priv));
        CK_OK(F->C_DestroyObject(h, mac));
        CK_OK(F->C_SignUpdate(h2, (CK_BYTE *)d + 4, sizeof(d) - 4));
        n = sizeof(sig);
        CK_OK(F->C_SignFinal(h2, sig, &n));
        cr_assert(ecdsa_ok(k, d, sizeof(d), sig, n));
        HMAC(EVP_sha256(), hkey, sizeof(hkey), d, sizeof(d), want, &wl);
        CK_OK(F->C_Verify(h2, (CK_BYTE *)d, sizeof(d), want, 32));
        /* the handles are dead for new operations */
        CK_RV_EQ(ecdsa_sign(h2, priv, d, sizeof(d), sig, &n), CKR_KEY_HANDLE_INVALID);
        CK_RV_EQ(hmac_sign(h2, mac, d, sizeof(d), sig), CKR_KEY_HANDLE_INVALID);
        EVP_PKEY_free(k);
    }
}

static CK_OBJECT_HANDLE
find_one(CK_SESSION_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG tn)
{
    CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
    CK_ULONG n = 0;

    CK_OK(F->C_FindObjectsInit(h, t, tn));
    CK_OK(F->C_FindObjects(h, &o, 1, &n));
    CK_OK(F->C_FindObjectsFinal(h));
    cr_assert_eq(n, 1);
    return o;
}

Test(keycache, logout_ends_private_keys)
{
    static const unsigned char d[] = "logout";
    static const char ml[] = "kc-token-mac", el[] = "kc-token-ec";
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv, tpub, tpriv, smac, tmac;
    CK_ATTRIBUTE mlt = {CKA_LABEL, (void *)ml, sizeof(ml) - 1};
    CK_ATTRIBUTE elt = {CKA_LABEL, (void *)el, sizeof(el) - 1};
    unsigned char sig[64], want[32];
    unsigned int wl = 0;
    CK_ULONG n;
    EVP_PKEY *k;

    HMAC(EVP_sha256(), hkey, sizeof(hkey), d, sizeof(d), want, &wl);
    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub, &priv);
    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 1, &tpub, &tpriv);
    cr_assert_eq(p11t_bool(h, priv, CKA_PRIVATE), CK_TRUE);
    cr_assert_eq(p11t_bool(h, tpriv, CKA_PRIVATE), CK_TRUE);
    smac = secret(h, CKK_GENERIC_SECRET, hkey, sizeof(hkey), 0, 1);
    tmac = secret(h, CKK_GENERIC_SECRET, hkey, sizeof(hkey), 1, 1);
    CK_OK(F->C_SetAttributeValue(h, tmac, &mlt, 1));
    CK_OK(F->C_SetAttributeValue(h, tpriv, &elt, 1));
    k = p11t_pubkey(h, tpub);
    CK_OK(ecdsa_sign(h, priv, d, sizeof(d), sig, &n));
    CK_OK(ecdsa_sign(h, tpriv, d, sizeof(d), sig, &n));
    CK_OK(hmac_sign(h, smac, d, sizeof(d), sig));
    CK_OK(hmac_sign(h, tmac, d, sizeof(d), sig));
    CK_OK(F->C_Logout(h));
    CK_RV_EQ(ecdsa_sign(h, priv, d, sizeof(d), sig, &n), CKR_KEY_HANDLE_INVALID);
    CK_RV_EQ(ecdsa_sign(h, tpriv, d, sizeof(d), sig, &n), CKR_KEY_HANDLE_INVALID);
    CK_RV_EQ(hmac_sign(h, smac, d, sizeof(d), sig), CKR_KEY_HANDLE_INVALID);
    CK_RV_EQ(hmac_sign(h, tmac, d, sizeof(d), sig), CKR_KEY_HANDLE_INVALID);
    /* logged in again: the private session objects are gone, the token
     * objects are found again and work */
    CK_OK(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, sizeof(USER_PIN) - 1));
    CK_RV_EQ(ecdsa_sign(h, priv, d, sizeof(d), sig, &n), CKR_KEY_HANDLE_INVALID);
    CK_RV_EQ(hmac_sign(h, smac, d, sizeof(d), sig), CKR_KEY_HANDLE_INVALID);
    tpriv = find_one(h, &elt, 1);
    tmac = find_one(h, &mlt, 1);
    CK_OK(ecdsa_sign(h, tpriv, d, sizeof(d), sig, &n));
    cr_assert(ecdsa_ok(k, d, sizeof(d), sig, n));
    CK_OK(hmac_sign(h, tmac, d, sizeof(d), sig));
    cr_assert_eq(memcmp(sig, want, 32), 0);
    EVP_PKEY_free(k);
}

/* Whether sig is an RSA signature over SHA-256(d) with PKCS#1 v1.5 (salt
 * < 0) or PSS with that salt length (MGF1-SHA-256). */
static int
rsa_ok(EVP_PKEY *k, int salt, const unsigned char *d, size_t dl, const unsigned char *sig,
       size_t sl)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    int ok = EVP_DigestVerifyInit_ex(c, &pc, "SHA256", NULL, NULL, k, NULL) == 1;

    if (ok && salt >= 0) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, salt) > 0;
    }
    ok = ok && EVP_DigestVerify(c, sig, sl, d, dl) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

/* 40 PSS salt lengths are 40 setups of one key: more than a key keeps
 * templates for (the rest are set up per operation); each signature must
 * carry its own salt length, hashed and raw, between PKCS#1 v1.5 ones. */
Test(keycache, rsa_setups_past_the_template_limit)
{
    static const unsigned char d[] = "salted";
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv;
    CK_MECHANISM v15 = {CKM_SHA256_RSA_PKCS, NULL, 0};
    CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 0};
    CK_MECHANISM pss = {CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp)};
    CK_MECHANISM raw = {CKM_RSA_PKCS_PSS, &pp, sizeof(pp)};
    unsigned char sig[256], dg[32];
    CK_ULONG n;
    EVP_PKEY *k;

    p11t_rsa(h, 2048, 0, &pub, &priv);
    k = p11t_pubkey(h, pub);
    EVP_Digest(d, sizeof(d), dg, NULL, EVP_sha256(), NULL);
    for (CK_ULONG salt = 0; salt < 40; salt++) {
        pp.sLen = salt;
        n = sizeof(sig);
        CK_OK(F->C_SignInit(h, &pss, priv));
        CK_OK(F->C_Sign(h, (CK_BYTE *)d, sizeof(d), sig, &n));
        cr_assert(rsa_ok(k, (int)salt, d, sizeof(d), sig, n), "PSS salt %lu", salt);
        if (salt % 13 == 0) {
            n = sizeof(sig);
            CK_OK(F->C_SignInit(h, &raw, priv));
            CK_OK(F->C_Sign(h, dg, sizeof(dg), sig, &n));
            cr_assert(rsa_ok(k, (int)salt, d, sizeof(d), sig, n), "raw PSS salt %lu", salt);
            n = sizeof(sig);
            CK_OK(F->C_SignInit(h, &v15, priv));
            CK_OK(F->C_Sign(h, (CK_BYTE *)d, sizeof(d), sig, &n));
            cr_assert(rsa_ok(k, -1, d, sizeof(d), sig, n));
            CK_OK(F->C_VerifyInit(h, &pss, pub));
            CK_RV_EQ(F->C_Verify(h, (CK_BYTE *)d, sizeof(d), sig, n), CKR_SIGNATURE_INVALID);
        }
    }
    EVP_PKEY_free(k);
}

/* AES-256-GCM through the token with iv (ivl bytes), aad, tag bits == OpenSSL. */
static void
check_gcm(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k, const unsigned char *iv, CK_ULONG ivl,
          const unsigned char *aad, CK_ULONG aadl, CK_ULONG tagbits, const unsigned char *d,
          size_t dl)
{
    CK_GCM_PARAMS p = {(CK_BYTE *)iv, ivl, ivl * 8, (CK_BYTE *)aad, aadl, tagbits};
    CK_MECHANISM m = {CKM_AES_GCM, &p, sizeof(p)};
    unsigned char ct[256], want[256], pt[256];
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    size_t tl = tagbits / 8;
    CK_ULONG n = sizeof(ct);
    int l = 0, f = 0;
    OSSL_PARAM ps[2];
    size_t ivlen = ivl;

    ps[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen);
    ps[1] = OSSL_PARAM_construct_end();
    cr_assert(EVP_EncryptInit_ex2(x, EVP_aes_256_gcm(), NULL, NULL, ps));
    cr_assert(EVP_EncryptInit_ex2(x, NULL, akey, iv, NULL));
    cr_assert(aadl == 0 || EVP_EncryptUpdate(x, NULL, &l, aad, (int)aadl));
    cr_assert(EVP_EncryptUpdate(x, want, &l, d, (int)dl));
    cr_assert(EVP_EncryptFinal_ex(x, want + l, &f));
    cr_assert(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, (int)tl, want + dl));
    EVP_CIPHER_CTX_free(x);
    CK_OK(F->C_EncryptInit(h, &m, k));
    CK_OK(F->C_Encrypt(h, (CK_BYTE *)d, dl, ct, &n));
    cr_assert_eq(n, dl + tl);
    cr_assert_eq(memcmp(ct, want, n), 0, "GCM iv %lu aad %lu tag %lu", ivl, aadl, tagbits);
    n = sizeof(pt);
    CK_OK(F->C_DecryptInit(h, &m, k));
    CK_OK(F->C_Decrypt(h, ct, dl + tl, pt, &n));
    cr_assert_eq(n, dl);
    cr_assert_eq(memcmp(pt, d, dl), 0);
    ct[0] ^= 1;
    n = sizeof(pt);
    CK_OK(F->C_DecryptInit(h, &m, k));
    CK_RV_EQ(F->C_Decrypt(h, ct, dl + tl, pt, &n), CKR_ENCRYPTED_DATA_INVALID);
}

/* Another AES mode on the same key, through the token == OpenSSL. */
static void
check_mode(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k, CK_MECHANISM_TYPE mt, const EVP_CIPHER *c,
           const unsigned char *iv, const unsigned char *d, size_t dl)
{
    CK_AES_CTR_PARAMS ctr;
    CK_MECHANISM m = {mt, (void *)iv, iv != NULL ? 16 : 0};
    unsigned char out[256], want[256];
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    CK_ULONG n = sizeof(out);
    int l = 0, f = 0;

    if (mt == CKM_AES_CTR) {
        ctr.ulCounterBits = 128;
        memcpy(ctr.cb, iv, 16);
        m.pParameter = &ctr;
        m.ulParameterLen = sizeof(ctr);
    }
    cr_assert(EVP_EncryptInit_ex2(x, c, akey, iv, NULL));
    EVP_CIPHER_CTX_set_padding(x, mt == CKM_AES_CBC_PAD);
    cr_assert(EVP_EncryptUpdate(x, want, &l, d, (int)dl));
    cr_assert(EVP_EncryptFinal_ex(x, want + l, &f));
    EVP_CIPHER_CTX_free(x);
    CK_OK(F->C_EncryptInit(h, &m, k));
    CK_OK(F->C_Encrypt(h, (CK_BYTE *)d, dl, out, &n));
    cr_assert_eq(n, (CK_ULONG)(l + f));
    cr_assert_eq(memcmp(out, want, n), 0, "mechanism 0x%lx", mt);
    /* and back (a decryption key schedule differs from the encryption one) */
    n = sizeof(out);
    CK_OK(F->C_DecryptInit(h, &m, k));
    CK_OK(F->C_Decrypt(h, want, (CK_ULONG)(l + f), out, &n));
    cr_assert_eq(n, dl);
    cr_assert_eq(memcmp(out, d, dl), 0, "mechanism 0x%lx decrypt", mt);
}

Test(keycache, aes_setups_of_one_key_never_mix)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE k = secret(h, CKK_AES, akey, sizeof(akey), 0, 1);
    unsigned char iv[128], aad[40], d[96];
    static const CK_ULONG ivls[] = {12, 1, 16, 60, 128, 12};

    for (size_t i = 0; i < sizeof(iv); i++) {
        iv[i] = (unsigned char)(i * 7 + 1);
    }
    memset(aad, 0x33, sizeof(aad));
    memset(d, 0x5c, sizeof(d));
    for (size_t i = 0; i < sizeof(ivls) / sizeof(ivls[0]); i++) {
        iv[0]++; /* a new IV each time */
        check_gcm(h, k, iv, ivls[i], i % 2 ? aad : NULL, i % 2 ? sizeof(aad) : 0,
                  i % 3 == 2 ? 96 : 128, d, 17 + i * 13);
        check_mode(h, k, CKM_AES_CBC_PAD, EVP_aes_256_cbc(), iv, d, 33);
        check_mode(h, k, CKM_AES_CBC, EVP_aes_256_cbc(), iv + 16, d, 64);
        check_mode(h, k, CKM_AES_CTR, EVP_aes_256_ctr(), iv + 32, d, 45);
        check_mode(h, k, CKM_AES_ECB, EVP_aes_256_ecb(), NULL, d, 32);
    }
}

/* ---- threads ------------------------------------------------------------ */

#define KC_THREADS 8
#define KC_ROUNDS 150

struct kc_shared {
    pthread_barrier_t start;
    CK_OBJECT_HANDLE ec, mac, aes;
    EVP_PKEY *pub;
    int failures;
};

static void *
kc_thread(void *arg)
{
    struct kc_shared *sh = arg;
    unsigned char d[48], sig[64], want[32], ct[64], iv[12] = {0};
    CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, NULL, 0, 128};
    CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof(gp)};
    CK_SESSION_HANDLE h;
    unsigned int wl = 0;
    int bad = 0;
    CK_ULONG n;

    if (F->C_OpenSession(p11t_slot, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK) {
        __atomic_add_fetch(&sh->failures, 1, __ATOMIC_RELAXED);
        pthread_barrier_wait(&sh->start);
        return NULL;
    }
    pthread_barrier_wait(&sh->start); /* first uses at the same time */
    for (int i = 0; i < KC_ROUNDS && !bad; i++) {
        memset(d, i, sizeof(d));
        memcpy(d, &h, sizeof(h));
        HMAC(EVP_sha256(), hkey, sizeof(hkey), d, sizeof(d), want, &wl);
        bad |= hmac_sign(h, sh->mac, d, sizeof(d), sig) != CKR_OK || memcmp(sig, want, 32) != 0;
        if (i % 10 == 0) {
            bad |= ecdsa_sign(h, sh->ec, d, sizeof(d), sig, &n) != CKR_OK ||
                   !ecdsa_ok(sh->pub, d, sizeof(d), sig, n);
        }
        memcpy(iv, d, sizeof(iv));
        n = sizeof(ct);
        bad |= F->C_EncryptInit(h, &gcm, sh->aes) != CKR_OK ||
               F->C_Encrypt(h, d, 16, ct, &n) != CKR_OK || n != 32;
        n = sizeof(sig);
        bad |= F->C_DecryptInit(h, &gcm, sh->aes) != CKR_OK ||
               F->C_Decrypt(h, ct, 32, sig, &n) != CKR_OK || n != 16 || memcmp(sig, d, 16) != 0;
    }
    if (bad) {
        __atomic_add_fetch(&sh->failures, 1, __ATOMIC_RELAXED);
    }
    (void)F->C_CloseSession(h);
    return NULL;
}

Test(keycache, threads_share_one_keys_contexts)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    struct kc_shared sh = {.failures = 0};
    pthread_t t[KC_THREADS];
    CK_OBJECT_HANDLE pub;

    p11t_ec(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub, &sh.ec);
    sh.pub = p11t_pubkey(h, pub);
    sh.mac = secret(h, CKK_GENERIC_SECRET, hkey, sizeof(hkey), 0, 1);
    sh.aes = secret(h, CKK_AES, akey, sizeof(akey), 0, 1);
    cr_assert_eq(pthread_barrier_init(&sh.start, NULL, KC_THREADS), 0);
    for (int i = 0; i < KC_THREADS; i++) {
        cr_assert_eq(pthread_create(&t[i], NULL, kc_thread, &sh), 0);
    }
    for (int i = 0; i < KC_THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    pthread_barrier_destroy(&sh.start);
    EVP_PKEY_free(sh.pub);
    cr_assert_eq(sh.failures, 0, "%d threads saw a wrong result", sh.failures);
}

/* ---- fork --------------------------------------------------------------- */

Test(keycache, forked_child_uses_its_own_keys)
{
    static const unsigned char d[] = "fork";
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE mac = secret(h, CKK_GENERIC_SECRET, hkey, sizeof(hkey), 0, 0);
    unsigned char out[32], want[32];
    unsigned int wl = 0;
    int status;
    pid_t pid;

    HMAC(EVP_sha256(), hkey, sizeof(hkey), d, sizeof(d), want, &wl);
    CK_OK(hmac_sign(h, mac, d, sizeof(d), out)); /* prepared and idle contexts exist */
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        CK_SESSION_HANDLE ch;
        CK_OBJECT_HANDLE cmac;

        /* the parent's handles are not the child's until it initialises;
         * the exit status tells which step failed */
        if (hmac_sign(h, mac, d, sizeof(d), out) != CKR_CRYPTOKI_NOT_INITIALIZED) {
            _exit(3);
        }
        if (F->C_Initialize(NULL) != CKR_OK ||
            F->C_OpenSession(p11t_slot, CKF_SERIAL_SESSION, NULL, NULL, &ch) != CKR_OK) {
            _exit(4);
        }
        {
            CK_RV rv = hmac_sign(ch, mac, d, sizeof(d), out);

            if (rv != CKR_KEY_HANDLE_INVALID) {
                _exit(rv == CKR_OK ? 5 : 6);
            }
        }
        {
            CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
            CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
            CK_BBOOL no = CK_FALSE;
            CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                                {CKA_KEY_TYPE, &kt, sizeof(kt)},
                                {CKA_VALUE, (void *)hkey, sizeof(hkey)},
                                {CKA_PRIVATE, &no, 1}}; /* not logged in here */

            if (F->C_CreateObject(ch, t, 4, &cmac) != CKR_OK) {
                _exit(7);
            }
        }
        for (int i = 0; i < 3; i++) {
            if (hmac_sign(ch, cmac, d, sizeof(d), out) != CKR_OK || memcmp(out, want, 32) != 0) {
                _exit(8);
            }
        }
        _exit(F->C_Finalize(NULL) != CKR_OK ? 9 : 0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
    CK_OK(hmac_sign(h, mac, d, sizeof(d), out));
    cr_assert_eq(memcmp(out, want, 32), 0);
}

/* ---- the data and Init calls' shell ------------------------------------- */

/* Every entry point of fn_sign.c, fn_crypto.c and fn_digest.c, with
 * well-formed arguments: the number not answering
 * CKR_CRYPTOKI_NOT_INITIALIZED. */
static int
op_calls_not_refused(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k)
{
    CK_MECHANISM m = {CKM_SHA256_HMAC, NULL, 0}, d = {CKM_SHA256, NULL, 0};
    unsigned char in[32] = {0}, out[64];
    CK_ULONG n = sizeof(out);
    CK_RV rv[21];
    int bad = 0;

    rv[0] = F->C_SignInit(h, &m, k);
    rv[1] = F->C_Sign(h, in, sizeof(in), out, &n);
    rv[2] = F->C_SignUpdate(h, in, sizeof(in));
    rv[3] = F->C_SignFinal(h, out, &n);
    rv[4] = F->C_VerifyInit(h, &m, k);
    rv[5] = F->C_Verify(h, in, sizeof(in), out, 32);
    rv[6] = F->C_VerifyUpdate(h, in, sizeof(in));
    rv[7] = F->C_VerifyFinal(h, out, 32);
    rv[8] = F->C_EncryptInit(h, &m, k);
    rv[9] = F->C_Encrypt(h, in, sizeof(in), out, &n);
    rv[10] = F->C_EncryptUpdate(h, in, sizeof(in), out, &n);
    rv[11] = F->C_EncryptFinal(h, out, &n);
    rv[12] = F->C_DecryptInit(h, &m, k);
    rv[13] = F->C_Decrypt(h, in, sizeof(in), out, &n);
    rv[14] = F->C_DecryptUpdate(h, in, sizeof(in), out, &n);
    rv[15] = F->C_DecryptFinal(h, out, &n);
    rv[16] = F->C_DigestInit(h, &d);
    rv[17] = F->C_Digest(h, in, sizeof(in), out, &n);
    rv[18] = F->C_DigestUpdate(h, in, sizeof(in));
    rv[19] = F->C_DigestKey(h, k);
    rv[20] = F->C_DigestFinal(h, out, &n);
    for (size_t i = 0; i < sizeof(rv) / sizeof(rv[0]); i++) {
        if (rv[i] != CKR_CRYPTOKI_NOT_INITIALIZED) {
            fprintf(stderr, "entry point %zu: 0x%lx\n", i, (unsigned long)rv[i]);
            bad++;
        }
    }
    return bad;
}

Test(keycache, op_calls_refuse_a_forked_child_and_a_finalized_module)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE mac = secret(h, CKK_GENERIC_SECRET, hkey, sizeof(hkey), 0, 0);
    CK_MECHANISM m = {CKM_SHA256_HMAC, NULL, 0}, d = {CKM_SHA256, NULL, 0};
    int status;
    pid_t pid;

    /* operations under way in the parent, which the child must not reach */
    CK_OK(F->C_SignInit(h, &m, mac));
    CK_OK(F->C_DigestInit(h, &d));
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        _exit(op_calls_not_refused(h, mac) == 0 ? 0 : 3);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
    CK_OK(F->C_Finalize(NULL));
    cr_assert_eq(op_calls_not_refused(h, mac), 0);
}
