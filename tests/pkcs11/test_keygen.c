/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 API suite, key generation: AES, generic secrets, RSA, EC (P-256,
 * P-384, P-521, secp256k1), Edwards (Ed25519, Ed448; CKA_EC_PARAMS as OID
 * and as the "edwards25519" string pkcs11-tool 0.23 sends), the derived
 * attributes, the template errors, the RSA size policy, and the device in
 * error (CKR_DEVICE_ERROR, no key made).  Public values are checked with
 * OpenSSL (CKA_PUBLIC_KEY_INFO parses and matches CKA_MODULUS/CKA_EC_POINT).
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>
#include "p11test.h"

TestSuite(keygen, .init = p11t_setup_token, .fini = p11t_teardown, .timeout = 120);

static EVP_PKEY *
spki(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
    unsigned char buf[2048];
    const unsigned char *p = buf;
    CK_ULONG n = p11t_attr(h, o, CKA_PUBLIC_KEY_INFO, buf, sizeof(buf));
    EVP_PKEY *k;

    cr_assert(n > 0 && n != CK_UNAVAILABLE_INFORMATION);
    k = d2i_PUBKEY(NULL, &p, (long)n);
    cr_assert_not_null(k, "CKA_PUBLIC_KEY_INFO parses as SubjectPublicKeyInfo");
    return k;
}

static void
check_generated(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE priv, CK_MECHANISM_TYPE mech)
{
    cr_assert_eq(p11t_bool(h, priv, CKA_LOCAL), CK_TRUE);
    cr_assert_eq(p11t_ulong(h, priv, CKA_KEY_GEN_MECHANISM), mech);
    cr_assert_eq(p11t_bool(h, priv, CKA_ALWAYS_SENSITIVE), p11t_bool(h, priv, CKA_SENSITIVE));
    cr_assert_eq(p11t_bool(h, priv, CKA_NEVER_EXTRACTABLE),
                 !p11t_bool(h, priv, CKA_EXTRACTABLE));
}

Test(keygen, aes_keys)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ULONG len = 24, bad = 20;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_SENSITIVE, &yes, 1}};
    CK_ATTRIBUTE tbad[] = {{CKA_VALUE_LEN, &bad, sizeof(bad)}};
    CK_ATTRIBUTE tval[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_VALUE, "x", 1}};
    CK_ATTRIBUTE tcls[] = {{CKA_VALUE_LEN, &len, sizeof(len)},
                           {CKA_CLASS, &(CK_OBJECT_CLASS){CKO_DATA}, sizeof(CK_OBJECT_CLASS)}};
    CK_OBJECT_HANDLE k;
    unsigned char v[32];

    for (CK_ULONG l = 16; l <= 32; l += 8) {
        len = l;
        CK_OK(F->C_GenerateKey(h, &m, t, 2, &k));
        cr_assert_eq(p11t_ulong(h, k, CKA_VALUE_LEN), l);
        cr_assert_eq(p11t_ulong(h, k, CKA_KEY_TYPE), CKK_AES);
        cr_assert_eq(p11t_ulong(h, k, CKA_CLASS), CKO_SECRET_KEY);
        cr_assert_eq(p11t_bool(h, k, CKA_PRIVATE), CK_TRUE);
        cr_assert_eq(p11t_attr(h, k, CKA_VALUE, v, sizeof(v)), CK_UNAVAILABLE_INFORMATION);
        check_generated(h, k, CKM_AES_KEY_GEN);
        cr_assert_eq(p11t_bool(h, k, CKA_ALWAYS_SENSITIVE), CK_TRUE);
    }
    CK_RV_EQ(F->C_GenerateKey(h, &m, NULL, 0, &k), CKR_TEMPLATE_INCOMPLETE);
    CK_RV_EQ(F->C_GenerateKey(h, &m, tbad, 1, &k), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_RV_EQ(F->C_GenerateKey(h, &m, tval, 2, &k), CKR_TEMPLATE_INCONSISTENT);
    CK_RV_EQ(F->C_GenerateKey(h, &m, tcls, 2, &k), CKR_TEMPLATE_INCONSISTENT);
    CK_RV_EQ(F->C_GenerateKey(h, NULL, t, 1, &k), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(F->C_GenerateKey(h, &m, t, 1, NULL), CKR_ARGUMENTS_BAD);
    m.mechanism = CKM_DES3_KEY_GEN;
    CK_RV_EQ(F->C_GenerateKey(h, &m, t, 1, &k), CKR_MECHANISM_INVALID);
    m.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
    CK_RV_EQ(F->C_GenerateKey(h, &m, t, 1, &k), CKR_MECHANISM_INVALID);
    m = (CK_MECHANISM){CKM_AES_KEY_GEN, &len, sizeof(len)};
    CK_RV_EQ(F->C_GenerateKey(h, &m, t, 1, &k), CKR_MECHANISM_PARAM_INVALID);
}

Test(keygen, generic_secret_and_login)
{
    CK_SESSION_HANDLE h = p11t_open(p11t_slot, 1);
    CK_MECHANISM m = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE pub[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_PRIVATE, &no, 1}};
    CK_OBJECT_HANDLE k;

    /* silent template: private, so the user must be logged in */
    CK_RV_EQ(F->C_GenerateKey(h, &m, t, 2, &k), CKR_USER_NOT_LOGGED_IN);
    CK_OK(F->C_GenerateKey(h, &m, pub, 2, &k));
    CK_OK(F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, 6));
    CK_OK(F->C_GenerateKey(h, &m, t, 2, &k));
    cr_assert_eq(p11t_ulong(h, k, CKA_KEY_TYPE), CKK_GENERIC_SECRET);
    cr_assert_eq(p11t_bool(h, k, CKA_TOKEN), CK_TRUE);
    check_generated(h, k, CKM_GENERIC_SECRET_KEY_GEN);
    {
        CK_SESSION_HANDLE ro = p11t_open(p11t_slot, 0);

        CK_RV_EQ(F->C_GenerateKey(ro, &m, t, 2, &k), CKR_SESSION_READ_ONLY);
    }
}

Test(keygen, rsa_2048)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_OBJECT_HANDLE pub, priv;
    unsigned char n[512], e[8];
    CK_ULONG nl, el;
    EVP_PKEY *k;
    BIGNUM *bn = NULL, *mine;

    p11t_rsa(h, 2048, 1, &pub, &priv);
    cr_assert_eq(p11t_ulong(h, pub, CKA_MODULUS_BITS), 2048);
    nl = p11t_attr(h, pub, CKA_MODULUS, n, sizeof(n));
    cr_assert_eq(nl, 256);
    el = p11t_attr(h, pub, CKA_PUBLIC_EXPONENT, e, sizeof(e));
    cr_assert_eq(el, 3);
    cr_assert_eq(memcmp(e, "\x01\x00\x01", 3), 0);
    cr_assert_eq(p11t_attr(h, priv, CKA_MODULUS, n + 256, 256), 256);
    cr_assert_eq(memcmp(n, n + 256, 256), 0);
    cr_assert_eq(p11t_attr(h, priv, CKA_PRIVATE_EXPONENT, e, sizeof(e)),
                 CK_UNAVAILABLE_INFORMATION, "private exponent is sensitive");
    check_generated(h, priv, CKM_RSA_PKCS_KEY_PAIR_GEN);
    cr_assert_eq(p11t_bool(h, priv, CKA_SENSITIVE), CK_TRUE, "private keys sensitive by default");
    cr_assert_eq(p11t_bool(h, pub, CKA_LOCAL), CK_TRUE);
    k = spki(h, pub);
    cr_assert(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &bn));
    mine = BN_bin2bn(n, 256, NULL);
    cr_assert_eq(BN_cmp(bn, mine), 0, "SPKI and CKA_MODULUS agree");
    BN_free(bn);
    BN_free(mine);
    EVP_PKEY_free(k);
    EVP_PKEY_free(spki(h, priv)); /* the private key carries the public key info too */
}

Test(keygen, rsa_errors)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ULONG bits = 1024;
    CK_ATTRIBUTE small[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}};
    CK_ATTRIBUTE modulus[] = {{CKA_MODULUS, "x", 1}};
    CK_ATTRIBUTE evenexp[] = {{CKA_MODULUS_BITS, &(CK_ULONG){2048}, sizeof(CK_ULONG)},
                              {CKA_PUBLIC_EXPONENT, "\x01\x00\x00", 3}};
    CK_OBJECT_HANDLE pub, priv;

    CK_RV_EQ(F->C_GenerateKeyPair(h, &m, NULL, 0, NULL, 0, &pub, &priv), CKR_TEMPLATE_INCOMPLETE);
    CK_RV_EQ(F->C_GenerateKeyPair(h, &m, small, 1, NULL, 0, &pub, &priv), CKR_KEY_SIZE_RANGE);
    CK_RV_EQ(F->C_GenerateKeyPair(h, &m, modulus, 1, NULL, 0, &pub, &priv),
             CKR_TEMPLATE_INCONSISTENT);
    CK_RV_EQ(F->C_GenerateKeyPair(h, &m, evenexp, 2, NULL, 0, &pub, &priv),
             CKR_ATTRIBUTE_VALUE_INVALID);
    CK_RV_EQ(F->C_GenerateKeyPair(h, &m, small, 1, NULL, 0, NULL, &priv), CKR_ARGUMENTS_BAD);
}

static void
ec_case(CK_SESSION_HANDLE h, const unsigned char *params, size_t plen, CK_MECHANISM_TYPE mech,
        const char *ossl_group, size_t point_len)
{
    CK_OBJECT_HANDLE pub, priv;
    unsigned char pt[200], par[64];
    CK_ULONG n;
    EVP_PKEY *k;

    p11t_ec(h, params, plen, mech, 1, &pub, &priv);
    size_t hdr = point_len < 128 ? 2 : 3;

    n = p11t_attr(h, pub, CKA_EC_POINT, pt, sizeof(pt));
    cr_assert_eq(n, point_len + hdr, "CKA_EC_POINT is a DER OCTET STRING");
    cr_assert_eq(pt[0], 0x04);
    cr_assert_eq(pt[hdr - 1], point_len);
    if (hdr == 3) {
        cr_assert_eq(pt[1], 0x81);
    }
    n = p11t_attr(h, pub, CKA_EC_PARAMS, par, sizeof(par));
    cr_assert_eq(par[0], 0x06, "CKA_EC_PARAMS written out as a named-curve OID");
    cr_assert_eq(p11t_attr(h, priv, CKA_EC_PARAMS, par + 32, 32), n);
    cr_assert_eq(memcmp(par, par + 32, n), 0);
    check_generated(h, priv, mech);
    k = spki(h, pub);
    if (ossl_group != NULL) {
        char g[64];
        unsigned char enc[200];
        size_t gl = 0, el = 0;

        cr_assert(EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof(g), &gl));
        cr_assert_str_eq(g, ossl_group);
        cr_assert(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, enc,
                                                  sizeof(enc), &el));
        cr_assert_eq(el, point_len);
        cr_assert_eq(memcmp(enc, pt + hdr, el), 0, "SPKI and CKA_EC_POINT agree");
    }
    EVP_PKEY_free(k);
}

Test(keygen, ec_curves)
{
    CK_SESSION_HANDLE h = p11t_user_session();

    ec_case(h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, "prime256v1", 65);
    ec_case(h, P11T_P384, sizeof(P11T_P384), CKM_EC_KEY_PAIR_GEN, "secp384r1", 97);
    ec_case(h, P11T_P521, sizeof(P11T_P521), CKM_EC_KEY_PAIR_GEN, "secp521r1", 133);
    ec_case(h, P11T_K256, sizeof(P11T_K256), CKM_EC_KEY_PAIR_GEN, "secp256k1", 65);
}

Test(keygen, edwards_curves)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    /* PrintableString "edwards25519", as pkcs11-tool 0.23 sends it */
    static const unsigned char name[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's',
                                         '2',  '5',  '5', '1', '9'};
    unsigned char par[16];
    CK_OBJECT_HANDLE pub, priv;

    ec_case(h, P11T_ED25519, sizeof(P11T_ED25519), CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 32);
    ec_case(h, P11T_ED448, sizeof(P11T_ED448), CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 57);
    p11t_ec(h, name, sizeof(name), CKM_EC_EDWARDS_KEY_PAIR_GEN, 0, &pub, &priv);
    cr_assert_eq(p11t_attr(h, pub, CKA_EC_PARAMS, par, sizeof(par)), sizeof(P11T_ED25519));
    cr_assert_eq(memcmp(par, P11T_ED25519, sizeof(P11T_ED25519)), 0,
                 "the curve name is replaced by the RFC 8410 OID");
    cr_assert_eq(p11t_ulong(h, priv, CKA_KEY_TYPE), CKK_EC_EDWARDS);
}

Test(keygen, curve_errors)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_MECHANISM ec = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, ed = {CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0};
    static const unsigned char unknown[] = {0x06, 0x03, 0x2b, 0x65, 0x6e}; /* X25519 */
    static const unsigned char junk[] = {0x06, 0x09, 0x2a};
    CK_ATTRIBUTE t[] = {{CKA_EC_PARAMS, (void *)P11T_ED25519, sizeof(P11T_ED25519)}};
    CK_ATTRIBUTE tp[] = {{CKA_EC_PARAMS, (void *)P11T_P256, sizeof(P11T_P256)}};
    CK_ATTRIBUTE tu[] = {{CKA_EC_PARAMS, (void *)unknown, sizeof(unknown)}};
    CK_ATTRIBUTE tj[] = {{CKA_EC_PARAMS, (void *)junk, sizeof(junk)}};
    CK_ATTRIBUTE privparams[] = {{CKA_EC_PARAMS, (void *)P11T_P256, sizeof(P11T_P256)}};
    CK_OBJECT_HANDLE pub, priv;

    CK_RV_EQ(F->C_GenerateKeyPair(h, &ec, t, 1, NULL, 0, &pub, &priv), CKR_CURVE_NOT_SUPPORTED);
    CK_RV_EQ(F->C_GenerateKeyPair(h, &ed, tp, 1, NULL, 0, &pub, &priv), CKR_CURVE_NOT_SUPPORTED);
    CK_RV_EQ(F->C_GenerateKeyPair(h, &ec, tu, 1, NULL, 0, &pub, &priv), CKR_CURVE_NOT_SUPPORTED);
    CK_RV_EQ(F->C_GenerateKeyPair(h, &ec, tj, 1, NULL, 0, &pub, &priv),
             CKR_ATTRIBUTE_VALUE_INVALID);
    CK_RV_EQ(F->C_GenerateKeyPair(h, &ec, NULL, 0, NULL, 0, &pub, &priv), CKR_TEMPLATE_INCOMPLETE);
    CK_RV_EQ(F->C_GenerateKeyPair(h, &ec, tp, 1, privparams, 1, &pub, &priv),
             CKR_TEMPLATE_INCONSISTENT);
}

static void
setup_policy(void)
{
    p11t_env(NULL, "min_rsa_bits = 3072");
    p11t_load();
    CK_OK(F->C_Initialize(NULL));
    p11t_slot = p11t_new_token("policy");
}

TestSuite(keygen_env, .fini = p11t_teardown, .timeout = 60);

Test(keygen_env, rsa_policy_minimum, .init = setup_policy)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ULONG bits = 2048;
    CK_ATTRIBUTE t[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}};
    CK_MECHANISM_INFO mi;
    CK_OBJECT_HANDLE pub, priv;

    CK_RV_EQ(F->C_GenerateKeyPair(h, &m, t, 1, NULL, 0, &pub, &priv), CKR_KEY_SIZE_RANGE);
    CK_OK(F->C_GetMechanismInfo(p11t_slot, CKM_RSA_PKCS_KEY_PAIR_GEN, &mi));
    cr_assert_eq(mi.ulMinKeySize, 3072);
}

/* The token made with a healthy device, then used with one that fails at
 * once: no key may be generated, random fails, and nothing is stored. */
static void
setup_dead_device(void)
{
    p11t_setup_token();
    CK_OK(F->C_Finalize(NULL));
    setenv("QTOKEN_DEVICE", "sim:seed=3,fault=read-error@0", 1);
    CK_OK(F->C_Initialize(NULL));
}

Test(keygen_env, device_error_means_no_key, .init = setup_dead_device)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_MECHANISM me = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ULONG len = 32;
    CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof(len)}};
    CK_ATTRIBUTE tp[] = {{CKA_EC_PARAMS, (void *)P11T_P256, sizeof(P11T_P256)}};
    CK_OBJECT_HANDLE k = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
    unsigned char r[16] = {0};
    static const unsigned char zero[16] = {0};

    CK_RV_EQ(F->C_GenerateKey(h, &m, t, 1, &k), CKR_DEVICE_ERROR);
    cr_assert_eq(k, CK_INVALID_HANDLE);
    CK_RV_EQ(F->C_GenerateKeyPair(h, &me, tp, 1, NULL, 0, &pub, &priv), CKR_DEVICE_ERROR);
    CK_RV_EQ(F->C_GenerateRandom(h, r, sizeof(r)), CKR_DEVICE_ERROR);
    cr_assert_eq(memcmp(r, zero, sizeof(r)), 0, "nothing written on failure");
    cr_assert_eq(p11t_count(h, NULL, 0), 0, "no object was made");
}

/* The token made with a healthy device, then used with one that dies after
 * the start-up window (C_Initialize reads that window; login and the first
 * requests are served from it): key generation reseeds from a window read
 * during the call, so it fails and stores nothing. */
static void
setup_late_death(const char *device)
{
    p11t_setup_token();
    CK_OK(F->C_Finalize(NULL));
    setenv("QTOKEN_DEVICE", device, 1);
    CK_OK(F->C_Initialize(NULL));
}

static void
setup_late_stuck(void)
{
    setup_late_death("sim:seed=1,fault=stuck@66000");
}

static void
setup_late_dead(void)
{
    setup_late_death("sim:seed=1,fault=dead@66000");
}

static void
keygen_refused_after_late_death(void)
{
    CK_SESSION_HANDLE h = p11t_user_session();
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_MECHANISM me = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &yes, sizeof(yes)}};
    CK_ATTRIBUTE tp[] = {{CKA_EC_PARAMS, (void *)P11T_P256, sizeof(P11T_P256)}};
    CK_OBJECT_HANDLE k = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
    unsigned char r[16];
    CK_ULONG before = p11t_count(h, NULL, 0);
    struct p11t_log log;

    /* The start-up window is still buffered: ordinary random is served. */
    CK_OK(F->C_GenerateRandom(h, r, sizeof(r)));
    CK_RV_EQ(F->C_GenerateKey(h, &m, t, 2, &k), CKR_DEVICE_ERROR);
    cr_assert_eq(k, CK_INVALID_HANDLE);
    cr_assert_eq(p11t_count(h, NULL, 0), before, "no object was made");
    CK_RV_EQ(F->C_GenerateKeyPair(h, &me, tp, 1, NULL, 0, &pub, &priv), CKR_DEVICE_ERROR);
    cr_assert_eq(p11t_count(h, NULL, 0), before, "no object was made");
    /* The failure is attested (signed although the QRNG DRBG refuses), and
     * no key generation is. */
    p11t_read_log("test", &log);
    cr_assert_geq(p11t_count_with(&log, "\"event\":\"health-failure\"", NULL, NULL), 1);
    cr_assert_eq(p11t_count_with(&log, "generate\"", NULL, NULL), 0);
    p11t_free_log(&log);
}

Test(keygen_env, device_stuck_after_startup_means_no_key, .init = setup_late_stuck)
{
    keygen_refused_after_late_death();
}

Test(keygen_env, device_dead_after_startup_means_no_key, .init = setup_late_dead)
{
    keygen_refused_after_late_death();
}
