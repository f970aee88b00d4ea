/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 API suite, wrapping private keys (PKCS#11 3.0 5.18): an
 * extractable RSA, EC or EdDSA private key wraps as its PKCS#8
 * PrivateKeyInfo under CKM_AES_KEY_WRAP_PAD; OpenSSL unwraps and parses
 * that independently and finds the same public key; C_UnwrapKey makes a
 * working private key of it (it signs what the original public key
 * verifies), not local, never always-sensitive; the rules: non-extractable
 * keys stay in, a public key is not wrappable, the template's key type must
 * be the wrapped key's, garbage is CKR_WRAPPED_KEY_INVALID.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>
#include "../../pkcs11/pkcs11-3.h"
#include "p11test.h"

TestSuite(wrap, .init = p11t_setup_token, .fini = p11t_teardown, .timeout = 120);

/* A key pair whose private half has CKA_EXTRACTABLE = extractable. */
static void
pair(CK_SESSION_HANDLE h, CK_KEY_TYPE kt, int extractable, CK_OBJECT_HANDLE *pub,
     CK_OBJECT_HANDLE *priv)
{
    CK_ULONG bits = 2048;
    CK_BBOOL ext = extractable ? CK_TRUE : CK_FALSE, yes = CK_TRUE;
    CK_MECHANISM m = {kt == CKK_RSA  ? CKM_RSA_PKCS_KEY_PAIR_GEN
                      : kt == CKK_EC ? CKM_EC_KEY_PAIR_GEN
                                     : CKM_EC_EDWARDS_KEY_PAIR_GEN,
                      NULL, 0};
    CK_ATTRIBUTE pt[] = {
        kt == CKK_RSA  ? (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)}
        : kt == CKK_EC ? (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)P11T_P256, sizeof(P11T_P256)}
                       : (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)P11T_ED25519, sizeof(P11T_ED25519)},
        {CKA_VERIFY, &yes, 1}};
    CK_ATTRIBUTE st[] = {{CKA_EXTRACTABLE, &ext, 1}, {CKA_SIGN, &yes, 1}};

    CK_OK(F->C_GenerateKeyPair(h, &m, pt, 2, st, 2, pub, priv));
}

/* An extractable AES-256 KEK and its value. */
static CK_OBJECT_HANDLE
kek(CK_SESSION_HANDLE h, unsigned char value[32])
{
    CK_OBJECT_HANDLE k = p11t_aes(h, 32, 0, 1);

    cr_assert_eq(p11t_attr(h, k, CKA_VALUE, value, 32), 32);
    return k;
}

static int
kwp(int enc, const unsigned char key[32], const unsigned char *in, int inl, unsigned char *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0, ok;

    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ok = EVP_CipherInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL, enc) &&
         EVP_CipherUpdate(c, out, &l1, in, inl) && EVP_CipherFinal_ex(c, out + l1, &l2);
    EVP_CIPHER_CTX_free(c);
    return ok ? l1 + l2 : -1;
}

static void
sign_with_unwrapped_verify_with_original(CK_SESSION_HANDLE h, CK_KEY_TYPE kt, CK_OBJECT_HANDLE priv,
                                         CK_OBJECT_HANDLE pub)
{
    CK_MECHANISM m = {kt == CKK_RSA  ? CKM_SHA256_RSA_PKCS
                      : kt == CKK_EC ? CKM_ECDSA_SHA256
                                     : CKM_EDDSA,
                      NULL, 0};
    unsigned char sig[512], msg[] = "wrapped and back";
    CK_ULONG sl = sizeof(sig);

    CK_OK(F->C_SignInit(h, &m, priv));
    CK_OK(F->C_Sign(h, msg, sizeof(msg), sig, &sl));
    CK_OK(F->C_VerifyInit(h, &m, pub));
    CK_OK(F->C_Verify(h, msg, sizeof(msg), sig, sl));
}

Test(wrap, private_keys_round_trip_through_pkcs8)
{
    static const CK_KEY_TYPE types[] = {CKK_EC, CKK_EC_EDWARDS, CKK_RSA};
    CK_SESSION_HANDLE h = p11t_user_session();
    unsigned char kv[32];
    CK_OBJECT_HANDLE k = kek(h, kv);
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        CK_OBJECT_HANDLE pub, priv, un;
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_KEY_TYPE kt = types[i];
        CK_BBOOL yes = CK_TRUE;
        CK_ATTRIBUTE ut[] = {{CKA_CLASS, &cls, sizeof(cls)},
                             {CKA_KEY_TYPE, &kt, sizeof(kt)},
                             {CKA_SIGN, &yes, 1},
                             {CKA_SENSITIVE, &yes, 1}};
        unsigned char wrapped[4096], p8[4096], spki[1024], *der = NULL;
        const unsigned char *p;
        CK_ULONG wl = 0, spki_len;
        PKCS8_PRIV_KEY_INFO *inf;
        EVP_PKEY *pk;
        int p8l, dl;

        pair(h, kt, 1, &pub, &priv);
        CK_OK(F->C_WrapKey(h, &m, k, priv, NULL, &wl));
        cr_assert_gt(wl, 40);
        cr_assert_leq(wl, sizeof(wrapped));
        CK_OK(F->C_WrapKey(h, &m, k, priv, wrapped, &wl));
        /* OpenSSL alone: unwrap, parse PKCS#8, compare the public key */
        p8l = kwp(0, kv, wrapped, (int)wl, p8);
        cr_assert_gt(p8l, 0, "type %lu: OpenSSL cannot unwrap", (unsigned long)kt);
        p = p8;
        inf = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, p8l);
        cr_assert_not_null(inf, "type %lu: not PKCS#8", (unsigned long)kt);
        cr_assert_eq(p, p8 + p8l);
        pk = EVP_PKCS82PKEY(inf);
        cr_assert_not_null(pk);
        dl = i2d_PUBKEY(pk, &der);
        spki_len = p11t_attr(h, pub, CKA_PUBLIC_KEY_INFO, spki, sizeof(spki));
        cr_assert_eq((CK_ULONG)dl, spki_len, "type %lu", (unsigned long)kt);
        cr_assert_eq(memcmp(der, spki, spki_len), 0);
        OPENSSL_free(der);
        EVP_PKEY_free(pk);
        PKCS8_PRIV_KEY_INFO_free(inf);
        OPENSSL_cleanse(p8, sizeof(p8));
        /* back into the token */
        CK_OK(F->C_UnwrapKey(h, &m, k, wrapped, wl, ut, 4, &un));
        cr_assert_eq(p11t_ulong(h, un, CKA_CLASS), CKO_PRIVATE_KEY);
        cr_assert_eq(p11t_ulong(h, un, CKA_KEY_TYPE), kt);
        cr_assert_eq(p11t_bool(h, un, CKA_LOCAL), CK_FALSE);
        cr_assert_eq(p11t_bool(h, un, CKA_ALWAYS_SENSITIVE), CK_FALSE);
        cr_assert_eq(p11t_bool(h, un, CKA_NEVER_EXTRACTABLE), CK_FALSE);
        cr_assert_eq(p11t_attr(h, un, CKA_PUBLIC_KEY_INFO, p8, sizeof(p8)), spki_len);
        cr_assert_eq(memcmp(p8, spki, spki_len), 0);
        sign_with_unwrapped_verify_with_original(h, kt, un, pub);
    }
}

Test(wrap, private_key_rules)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    unsigned char kv[32], wrapped[4096], junk[200], p8[4096];
    CK_OBJECT_HANDLE k = kek(h, kv), pub, priv, locked_pub, locked, un;
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_KEY_TYPE rsa = CKK_RSA, ec = CKK_EC;
    CK_ATTRIBUTE as_rsa[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &rsa, sizeof(rsa)}};
    CK_ATTRIBUTE as_ec[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &ec, sizeof(ec)}};
    CK_ULONG wl = sizeof(wrapped);
    int jl, p8l;

    pair(h, CKK_EC, 1, &pub, &priv);
    pair(h, CKK_EC, 0, &locked_pub, &locked);
    CK_RV_EQ(F->C_WrapKey(h, &m, k, locked, wrapped, &wl), CKR_KEY_UNEXTRACTABLE);
    wl = sizeof(wrapped);
    CK_RV_EQ(F->C_WrapKey(h, &m, k, pub, wrapped, &wl), CKR_KEY_NOT_WRAPPABLE);
    wl = sizeof(wrapped);
    CK_OK(F->C_WrapKey(h, &m, k, priv, wrapped, &wl));
    /* an EC key unwrapped as RSA */
    CK_RV_EQ(F->C_UnwrapKey(h, &m, k, wrapped, wl, as_rsa, 2, &un), CKR_TEMPLATE_INCONSISTENT);
    /* properly wrapped bytes that are not PKCS#8 */
    memset(junk, 0x30, sizeof(junk));
    jl = kwp(1, kv, junk, (int)sizeof(junk), wrapped);
    cr_assert_gt(jl, 0);
    CK_RV_EQ(F->C_UnwrapKey(h, &m, k, wrapped, (CK_ULONG)jl, as_ec, 2, &un),
             CKR_WRAPPED_KEY_INVALID);
    /* PKCS#8 followed by a non-zero byte */
    wl = sizeof(wrapped);
    CK_OK(F->C_WrapKey(h, &m, k, priv, wrapped, &wl));
    p8l = kwp(0, kv, wrapped, (int)wl, p8);
    cr_assert_gt(p8l, 0);
    p8[p8l] = 0x01;
    jl = kwp(1, kv, p8, p8l + 1, wrapped);
    CK_RV_EQ(F->C_UnwrapKey(h, &m, k, wrapped, (CK_ULONG)jl, as_ec, 2, &un),
             CKR_WRAPPED_KEY_INVALID);
    /* ... and by a zero byte (what a block mode without padding leaves) */
    p8[p8l] = 0x00;
    jl = kwp(1, kv, p8, p8l + 1, wrapped);
    CK_OK(F->C_UnwrapKey(h, &m, k, wrapped, (CK_ULONG)jl, as_ec, 2, &un));
    OPENSSL_cleanse(p8, sizeof(p8));
}
