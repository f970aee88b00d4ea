/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signatures and MACs: known answers (RSA PKCS#1 v1.5 over a fixed key,
 * RFC 8032 Ed25519, RFC 4231/2202 HMAC), cross-checks against OpenSSL's own
 * EVP calls in both directions (PSS, ECDSA on every curve, Ed448, X.509),
 * the r||s <-> DER conversion, the two-call length convention, the error
 * paths, and the key's prepared contexts (setups of one key kept apart,
 * more setups than templates).
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>

#include "crypto_test.h"

TestSuite(crypto_sign, .init = crypto_setup, .fini = crypto_teardown);

static const char *vf = "crypto_rsa2048.txt";

static struct qt_crypto_key *
rsa_key(int priv)
{
    static uint8_t n[256], e[3], d[256], p[128], q[128], dp[128], dq[128], qi[128];
    struct qt_crypto_rsa_parts parts;
    struct qt_crypto_key *k = NULL;

    memset(&parts, 0, sizeof(parts));
    parts.n = (struct qt_crypto_span){n, vec_get(vf, "n", n, sizeof(n))};
    parts.e = (struct qt_crypto_span){e, vec_get(vf, "e", e, sizeof(e))};
    if (priv) {
        parts.d = (struct qt_crypto_span){d, vec_get(vf, "d", d, sizeof(d))};
        parts.p = (struct qt_crypto_span){p, vec_get(vf, "p", p, sizeof(p))};
        parts.q = (struct qt_crypto_span){q, vec_get(vf, "q", q, sizeof(q))};
        parts.dp = (struct qt_crypto_span){dp, vec_get(vf, "dp", dp, sizeof(dp))};
        parts.dq = (struct qt_crypto_span){dq, vec_get(vf, "dq", dq, sizeof(dq))};
        parts.qinv = (struct qt_crypto_span){qi, vec_get(vf, "qinv", qi, sizeof(qi))};
        cr_assert_eq(qt_crypto_key_rsa_private(lc, &parts, &k), QT_OK);
    } else {
        cr_assert_eq(qt_crypto_key_rsa_public(lc, &parts, &k), QT_OK);
    }
    return k;
}

/* Signs data in one update (or two halves if split) and returns the length. */
static size_t
do_sign(const struct qt_crypto_mech *m, const struct qt_crypto_key *k, const uint8_t *data,
        size_t len, int split, uint8_t *sig, size_t cap)
{
    struct qt_crypto_sign *s = NULL;
    size_t sl = cap;

    cr_assert_eq(qt_crypto_sign_new(m, k, 0, &s), QT_OK);
    if (split && len > 1) {
        cr_assert_eq(qt_crypto_sign_update(s, data, len / 2), QT_OK);
        cr_assert_eq(qt_crypto_sign_update(s, data + len / 2, len - len / 2), QT_OK);
    } else {
        cr_assert_eq(qt_crypto_sign_update(s, data, len), QT_OK);
    }
    cr_assert_eq(qt_crypto_sign_final(s, sig, &sl), QT_OK);
    cr_assert_eq(sl, qt_crypto_sign_len(s));
    qt_crypto_sign_free(s);
    return sl;
}

static qt_rc
do_verify(const struct qt_crypto_mech *m, const struct qt_crypto_key *k, const uint8_t *data,
          size_t len, const uint8_t *sig, size_t sl)
{
    struct qt_crypto_sign *s = NULL;
    qt_rc rc;

    cr_assert_eq(qt_crypto_sign_new(m, k, 1, &s), QT_OK);
    rc = qt_crypto_sign_update(s, data, len);
    if (rc == QT_OK) {
        rc = qt_crypto_verify_final(s, sig, sl);
    }
    qt_crypto_sign_free(s);
    return rc;
}

static EVP_PKEY *
spki_pkey(const struct qt_crypto_key *k)
{
    struct qt_buf spki = {0};
    const unsigned char *p;
    EVP_PKEY *pk;

    cr_assert_eq(qt_crypto_key_spki(k, &spki), QT_OK);
    p = spki.p;
    pk = d2i_PUBKEY_ex(NULL, &p, (long)spki.len, lc, NULL);
    cr_assert_not_null(pk);
    qt_buf_clear(&spki);
    return pk;
}

/* ************************************************************************* */
/* RSA                                                                       */
/* ************************************************************************* */

Test(crypto_sign, rsa_pkcs_sha256_known_answer)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_RSA_PKCS, .hash = QT_CRYPTO_HASH_SHA256};
    struct qt_crypto_key *k = rsa_key(1), *pub = rsa_key(0);
    uint8_t exp[256], sig[300];
    size_t n = vec_get(vf, "sig_sha256_abc", exp, sizeof(exp));

    cr_assert_eq(do_sign(&m, k, (const uint8_t *)"abc", 3, 0, sig, sizeof(sig)), 256);
    assert_bytes(sig, exp, n);
    cr_assert_eq(do_sign(&m, k, (const uint8_t *)"abc", 3, 1, sig, sizeof(sig)), 256);
    assert_bytes(sig, exp, n);
    cr_assert_eq(do_verify(&m, pub, (const uint8_t *)"abc", 3, sig, 256), QT_OK);
    cr_assert_eq(do_verify(&m, k, (const uint8_t *)"abc", 3, sig, 256), QT_OK);
    cr_assert_eq(do_verify(&m, pub, (const uint8_t *)"abd", 3, sig, 256), QT_E_SIGNATURE);
    sig[100] ^= 1;
    cr_assert_eq(do_verify(&m, pub, (const uint8_t *)"abc", 3, sig, 256), QT_E_SIGNATURE);
    cr_assert_eq(do_verify(&m, pub, (const uint8_t *)"abc", 3, sig, 255), QT_E_RANGE);
    qt_crypto_key_free(k);
    qt_crypto_key_free(pub);
}

Test(crypto_sign, rsa_pkcs_raw_known_answer)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_RSA_PKCS};
    struct qt_crypto_key *k = rsa_key(1), *pub = rsa_key(0);
    struct qt_crypto_sign *s = NULL;
    uint8_t msg[64], exp[256], sig[256], big[246] = {0};
    size_t ml = vec_get(vf, "raw_msg", msg, sizeof(msg));

    vec_get(vf, "sig_raw", exp, sizeof(exp));
    cr_assert_eq(do_sign(&m, k, msg, ml, 0, sig, sizeof(sig)), 256);
    assert_bytes(sig, exp, 256);
    cr_assert_eq(do_verify(&m, pub, msg, ml, sig, 256), QT_OK);
    cr_assert_eq(do_verify(&m, pub, msg, ml - 1, sig, 256), QT_E_SIGNATURE);
    /* k - 11 = 245 bytes is the most PKCS#1 v1.5 can carry */
    cr_assert_eq(do_sign(&m, k, big, 245, 0, sig, sizeof(sig)), 256);
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_OK);
    cr_assert_eq(qt_crypto_sign_update(s, big, 246), QT_E_RANGE);
    cr_assert_eq(qt_crypto_sign_update(s, big, 1), QT_E_STATE); /* error ended it */
    qt_crypto_sign_free(s);
    qt_crypto_key_free(k);
    qt_crypto_key_free(pub);
}

Test(crypto_sign, rsa_pss_cross_check_with_openssl)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_RSA_PSS,
                               .hash = QT_CRYPTO_HASH_SHA256,
                               .pss_hash = QT_CRYPTO_HASH_SHA256,
                               .mgf1_hash = QT_CRYPTO_HASH_SHA1,
                               .salt_len = 20};
    struct qt_crypto_mech raw = m;
    struct qt_crypto_key *k = rsa_key(1);
    EVP_PKEY *pk = spki_pkey(k);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t data[1000], sig[256], hash[32];

    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 7);
    }
    /* ours -> OpenSSL */
    cr_assert_eq(do_sign(&m, k, data, sizeof(data), 1, sig, sizeof(sig)), 256);
    cr_assert(EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", lc, NULL, pk, NULL));
    cr_assert(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING));
    cr_assert(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 20));
    cr_assert(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA1", NULL));
    cr_assert_eq(EVP_DigestVerify(md, sig, 256, data, sizeof(data)), 1);
    EVP_MD_CTX_free(md);
    /* raw PSS over the digest verifies the same signature, and vice versa */
    cr_assert_eq(qt_crypto_digest(lc, QT_CRYPTO_HASH_SHA256, data, sizeof(data), hash, 32), QT_OK);
    raw.hash = QT_CRYPTO_HASH_NONE;
    cr_assert_eq(do_verify(&raw, k, hash, 32, sig, 256), QT_OK);
    cr_assert_eq(do_sign(&raw, k, hash, 32, 0, sig, sizeof(sig)), 256);
    cr_assert_eq(do_verify(&m, k, data, sizeof(data), sig, 256), QT_OK);
    /* Salt length must match: 21 does not verify a 20-byte-salt signature. */
    m.salt_len = 21;
    cr_assert_eq(do_verify(&m, k, data, sizeof(data), sig, 256), QT_E_SIGNATURE);
    EVP_PKEY_free(pk);
    qt_crypto_key_free(k);
}

Test(crypto_sign, rsa_pss_openssl_signs_we_verify)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_RSA_PSS,
                               .hash = QT_CRYPTO_HASH_SHA384,
                               .pss_hash = QT_CRYPTO_HASH_SHA384,
                               .mgf1_hash = QT_CRYPTO_HASH_SHA384,
                               .salt_len = 48};
    struct qt_crypto_key *pub = rsa_key(0);
    EVP_PKEY *sk = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t sig[256];
    size_t sl = sizeof(sig);

    /* Build OpenSSL's own private key through our import, sign with EVP. */
    {
        struct qt_crypto_key *k = rsa_key(1);
        struct qt_crypto_rsa_attrs a = {0};
        BIGNUM *n, *e, *d;
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM *p;
        EVP_PKEY_CTX *fctx = EVP_PKEY_CTX_new_from_name(lc, "RSA", NULL);

        cr_assert_eq(qt_crypto_rsa_export(k, &a), QT_OK);
        n = BN_bin2bn(a.n.p, (int)a.n.len, NULL);
        e = BN_bin2bn(a.e.p, (int)a.e.len, NULL);
        d = BN_bin2bn(a.d.p, (int)a.d.n, NULL);
        cr_assert(OSSL_PARAM_BLD_push_BN(bld, "n", n) && OSSL_PARAM_BLD_push_BN(bld, "e", e) &&
                  OSSL_PARAM_BLD_push_BN(bld, "d", d));
        p = OSSL_PARAM_BLD_to_param(bld);
        cr_assert(EVP_PKEY_fromdata_init(fctx) > 0);
        cr_assert(EVP_PKEY_fromdata(fctx, &sk, EVP_PKEY_KEYPAIR, p) > 0);
        OSSL_PARAM_free(p);
        OSSL_PARAM_BLD_free(bld);
        BN_free(n);
        BN_free(e);
        BN_free(d);
        EVP_PKEY_CTX_free(fctx);
        qt_crypto_rsa_attrs_clear(&a);
        qt_crypto_key_free(k);
    }
    cr_assert(EVP_DigestSignInit_ex(md, &pctx, "SHA384", lc, NULL, sk, NULL));
    cr_assert(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING));
    cr_assert(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48));
    cr_assert(EVP_DigestSign(md, sig, &sl, (const uint8_t *)"message", 7));
    cr_assert_eq(do_verify(&m, pub, (const uint8_t *)"message", 7, sig, sl), QT_OK);
    cr_assert_eq(do_verify(&m, pub, (const uint8_t *)"messagE", 7, sig, sl), QT_E_SIGNATURE);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(sk);
    qt_crypto_key_free(pub);
}

Test(crypto_sign, rsa_pss_parameter_errors)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_RSA_PSS,
                               .pss_hash = QT_CRYPTO_HASH_SHA256,
                               .mgf1_hash = QT_CRYPTO_HASH_SHA256,
                               .salt_len = 32};
    struct qt_crypto_key *k = rsa_key(1);
    struct qt_crypto_sign *s = NULL;
    uint8_t h[33] = {0}, sig[256];
    size_t sl = sizeof(sig);

    /* raw PSS: exactly one digest */
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_OK);
    cr_assert_eq(qt_crypto_sign_update(s, h, 31), QT_OK);
    cr_assert_eq(qt_crypto_sign_final(s, sig, &sl), QT_E_RANGE);
    qt_crypto_sign_free(s);
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_OK);
    cr_assert_eq(qt_crypto_sign_update(s, h, 33), QT_E_RANGE);
    qt_crypto_sign_free(s);
    /* verify: data length checked before signature length */
    cr_assert_eq(qt_crypto_sign_new(&m, k, 1, &s), QT_OK);
    cr_assert_eq(qt_crypto_sign_update(s, h, 31), QT_OK);
    cr_assert_eq(qt_crypto_verify_final(s, sig, 256), QT_E_RANGE);
    qt_crypto_sign_free(s);
    /* salt too long for a 2048-bit key: emLen 256 >= 32 + 223 + 2 fails */
    m.salt_len = 223;
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_E_RANGE);
    m.salt_len = 222;
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_OK);
    qt_crypto_sign_free(s);
    /* SHA384_RSA_PKCS_PSS with hashAlg SHA-256 */
    m.hash = QT_CRYPTO_HASH_SHA384;
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_E_ARG);
    /* no hash at all */
    m.hash = m.pss_hash = QT_CRYPTO_HASH_NONE;
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_E_ARG);
    qt_crypto_key_free(k);
}

Test(crypto_sign, rsa_x509_raw)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_RSA_X509};
    struct qt_crypto_key *k = rsa_key(1), *pub = rsa_key(0);
    struct qt_crypto_sign *s = NULL;
    EVP_PKEY *pk = spki_pkey(pub);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(lc, pk, NULL);
    uint8_t data[20], sig[256], rec[256], n[256];
    size_t rl = sizeof(rec), sl = sizeof(sig);

    memset(data, 0x5a, sizeof(data));
    cr_assert_eq(do_sign(&m, k, data, sizeof(data), 0, sig, sizeof(sig)), 256);
    /* sig^e mod n recovers the zero-padded data */
    cr_assert(EVP_PKEY_verify_recover_init(pctx) > 0);
    cr_assert(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_NO_PADDING) > 0);
    cr_assert(EVP_PKEY_verify_recover(pctx, rec, &rl, sig, 256) > 0);
    cr_assert_eq(rl, 256);
    for (size_t i = 0; i < 236; i++) {
        cr_assert_eq(rec[i], 0);
    }
    assert_bytes(rec + 236, data, 20);
    cr_assert_eq(do_verify(&m, pub, data, sizeof(data), sig, 256), QT_OK);
    data[0] ^= 1;
    cr_assert_eq(do_verify(&m, pub, data, sizeof(data), sig, 256), QT_E_SIGNATURE);
    /* the modulus itself is not below n */
    vec_get(vf, "n", n, sizeof(n));
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_OK);
    cr_assert_eq(qt_crypto_sign_update(s, n, 256), QT_OK);
    cr_assert_eq(qt_crypto_sign_final(s, sig, &sl), QT_E_RANGE);
    qt_crypto_sign_free(s);
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_OK);
    cr_assert_eq(qt_crypto_sign_update(s, n, 255), QT_OK);
    cr_assert_eq(qt_crypto_sign_update(s, n, 2), QT_E_RANGE); /* 257 > k */
    qt_crypto_sign_free(s);
    m.hash = QT_CRYPTO_HASH_SHA256;
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_E_ARG);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pk);
    qt_crypto_key_free(k);
    qt_crypto_key_free(pub);
}

/* ************************************************************************* */
/* ECDSA                                                                     */
/* ************************************************************************* */

Test(crypto_sign, ecdsa_cross_check_all_curves)
{
    static const enum qt_crypto_curve cs[] = {QT_CRYPTO_CURVE_P256, QT_CRYPTO_CURVE_P384,
                                              QT_CRYPTO_CURVE_P521, QT_CRYPTO_CURVE_SECP256K1};
    static const enum qt_crypto_hash hs[] = {QT_CRYPTO_HASH_SHA1, QT_CRYPTO_HASH_SHA224,
                                             QT_CRYPTO_HASH_SHA256, QT_CRYPTO_HASH_SHA384,
                                             QT_CRYPTO_HASH_SHA512};
    uint8_t data[300];

    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i ^ 0xa5);
    }
    for (size_t c = 0; c < sizeof(cs) / sizeof(cs[0]); c++) {
        struct qt_crypto_key *k = NULL;
        EVP_PKEY *pk;
        size_t half;

        cr_assert_eq(qt_crypto_ec_generate(lc, cs[c], &k), QT_OK);
        pk = spki_pkey(k);
        half = (qt_crypto_curve_bits(cs[c]) + 7) / 8;
        for (size_t h = 0; h < sizeof(hs) / sizeof(hs[0]); h++) {
            struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_ECDSA, .hash = hs[h]};
            const char *mdname = qt_crypto_hash_name(hs[h]);
            EVP_MD_CTX *md = EVP_MD_CTX_new();
            struct qt_buf der = {0};
            uint8_t sig[132];

            /* ours -> OpenSSL */
            cr_assert_eq(do_sign(&m, k, data, sizeof(data), 1, sig, sizeof(sig)), 2 * half);
            cr_assert_eq(qt_crypto_ecdsa_rs_to_der(sig, 2 * half, &der), QT_OK);
            cr_assert(EVP_DigestVerifyInit_ex(md, NULL, mdname, lc, NULL, pk, NULL));
            cr_assert_eq(EVP_DigestVerify(md, der.p, der.len, data, sizeof(data)), 1,
                         "curve %zu hash %zu", c, h);
            qt_buf_clear(&der);
            EVP_MD_CTX_free(md);
            /* OpenSSL -> ours is ecdsa_openssl_signs_we_verify */
            cr_assert_eq(do_verify(&m, k, data, sizeof(data), sig, 2 * half), QT_OK);
            sig[3] ^= 0x10;
            cr_assert_eq(do_verify(&m, k, data, sizeof(data), sig, 2 * half), QT_E_SIGNATURE);
            cr_assert_eq(do_verify(&m, k, data, sizeof(data), sig, 2 * half - 1), QT_E_RANGE);
        }
        EVP_PKEY_free(pk);
        qt_crypto_key_free(k);
    }
}

/* An OpenSSL-made ECDSA signature (DER) verifies through our r||s path. */
Test(crypto_sign, ecdsa_openssl_signs_we_verify)
{
    static const uint8_t oid[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}; /* P-521 */
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_ECDSA, .hash = QT_CRYPTO_HASH_SHA512};
    struct qt_crypto_key *k = NULL, *pub = NULL;
    struct qt_crypto_ec_attrs a = {0};
    EVP_PKEY_CTX *gctx = EVP_PKEY_CTX_new_from_name(lc, "EC", NULL);
    EVP_PKEY *sk = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[160], rs[132], point[140];
    size_t dl = sizeof(der), pl = 0;

    cr_assert(EVP_PKEY_keygen_init(gctx) > 0);
    cr_assert(EVP_PKEY_CTX_set_group_name(gctx, "P-521") > 0);
    cr_assert(EVP_PKEY_generate(gctx, &sk) > 0);
    cr_assert(EVP_PKEY_get_octet_string_param(sk, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point),
                                              &pl));
    cr_assert_eq(qt_crypto_key_ec_public(lc, oid, sizeof(oid), point, pl, &pub), QT_OK);
    cr_assert(EVP_DigestSignInit_ex(md, NULL, "SHA512", lc, NULL, sk, NULL));
    cr_assert(EVP_DigestSign(md, der, &dl, (const uint8_t *)"hello", 5));
    cr_assert_eq(qt_crypto_ecdsa_der_to_rs(der, dl, 66, rs, sizeof(rs)), QT_OK);
    cr_assert_eq(do_verify(&m, pub, (const uint8_t *)"hello", 5, rs, 132), QT_OK);
    cr_assert_eq(do_verify(&m, pub, (const uint8_t *)"hellO", 5, rs, 132), QT_E_SIGNATURE);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(sk);
    EVP_PKEY_CTX_free(gctx);
    qt_crypto_ec_attrs_clear(&a);
    qt_crypto_key_free(k);
    qt_crypto_key_free(pub);
}

Test(crypto_sign, ecdsa_raw_truncates_long_input)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_ECDSA};
    struct qt_crypto_key *k = NULL;
    EVP_PKEY *pk;
    EVP_PKEY_CTX *pctx;
    struct qt_buf der = {0};
    uint8_t in[1000], sig[64];

    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(i * 13 + 1);
    }
    cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_P256, &k), QT_OK);
    pk = spki_pkey(k);
    /* 1000 bytes in many updates: same as signing the first 32 bytes */
    {
        struct qt_crypto_sign *s = NULL;
        size_t sl = sizeof(sig);

        cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_OK);
        for (size_t off = 0; off < sizeof(in); off += 100) {
            cr_assert_eq(qt_crypto_sign_update(s, in + off, 100), QT_OK);
        }
        cr_assert_eq(qt_crypto_sign_final(s, sig, &sl), QT_OK);
        qt_crypto_sign_free(s);
    }
    cr_assert_eq(qt_crypto_ecdsa_rs_to_der(sig, 64, &der), QT_OK);
    pctx = EVP_PKEY_CTX_new_from_pkey(lc, pk, NULL);
    cr_assert(EVP_PKEY_verify_init(pctx) > 0);
    cr_assert_eq(EVP_PKEY_verify(pctx, der.p, der.len, in, 32), 1);
    cr_assert_eq(EVP_PKEY_verify(pctx, der.p, der.len, in, 64), 1); /* OpenSSL truncates too */
    cr_assert_eq(do_verify(&m, k, in, sizeof(in), sig, 64), QT_OK);
    cr_assert_eq(do_verify(&m, k, in, 32, sig, 64), QT_OK);
    cr_assert_eq(do_verify(&m, k, in, 31, sig, 64), QT_E_SIGNATURE);
    /* a short hash (SHA-1 size) works as well */
    cr_assert_eq(do_sign(&m, k, in, 20, 0, sig, sizeof(sig)), 64);
    cr_assert_eq(do_verify(&m, k, in, 20, sig, 64), QT_OK);
    EVP_PKEY_CTX_free(pctx);
    qt_buf_clear(&der);
    EVP_PKEY_free(pk);
    qt_crypto_key_free(k);
}

Test(crypto_sign, ecdsa_der_rs_conversion)
{
    uint8_t rs[64], out[64];
    struct qt_buf der = {0};
    uint8_t d[80];
    size_t n;

    /* r = 1, s = 2 */
    memset(rs, 0, sizeof(rs));
    rs[31] = 1;
    rs[63] = 2;
    cr_assert_eq(qt_crypto_ecdsa_rs_to_der(rs, 64, &der), QT_OK);
    n = unhex("3006020101020102", d, sizeof(d));
    cr_assert_eq(der.len, n);
    assert_bytes(der.p, d, n);
    qt_buf_clear(&der);
    cr_assert_eq(qt_crypto_ecdsa_der_to_rs(d, n, 32, out, sizeof(out)), QT_OK);
    assert_bytes(out, rs, 64);
    /* high bit: a 0x00 is inserted, and removed on the way back */
    rs[0] = 0x80;
    cr_assert_eq(qt_crypto_ecdsa_rs_to_der(rs, 64, &der), QT_OK);
    cr_assert_eq(der.p[3], 33);
    cr_assert_eq(der.p[4], 0x00);
    cr_assert_eq(qt_crypto_ecdsa_der_to_rs(der.p, der.len, 32, out, sizeof(out)), QT_OK);
    assert_bytes(out, rs, 64);
    /* r wider than half */
    cr_assert_eq(qt_crypto_ecdsa_der_to_rs(der.p, der.len, 31, out, sizeof(out)), QT_E_FORMAT);
    cr_assert_eq(qt_crypto_ecdsa_der_to_rs(der.p, der.len, 32, out, 63), QT_E_BUFFER_TOO_SMALL);
    qt_buf_clear(&der);
    /* non-minimal integer, trailing garbage, negative, truncated; a third
     * element, an empty integer, a long-form length for a short sequence,
     * a redundant zero before a byte without its high bit */
    {
        static const char *const bad[] = {
            "300702020001020102", "300602010102010200", "3006020181020102",
            "30060201010201",     "3009020101020102020103", "30050200020102",
            "30810602010102010200", "3007020101020200 7f",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            n = unhex(bad[i], d, sizeof(d));
            cr_assert_eq(qt_crypto_ecdsa_der_to_rs(d, n, 32, out, sizeof(out)), QT_E_FORMAT,
                         "%s", bad[i]);
        }
    }
    /* zero is one 0x00 byte; r of exactly half bytes with its high bit set */
    n = unhex("3006020100020102", d, sizeof(d));
    cr_assert_eq(qt_crypto_ecdsa_der_to_rs(d, n, 32, out, sizeof(out)), QT_OK);
    memset(rs, 0, sizeof(rs));
    rs[63] = 2;
    assert_bytes(out, rs, 64);
    cr_assert_eq(qt_crypto_ecdsa_rs_to_der(rs, 63, &der), QT_E_RANGE);
}

/* ************************************************************************* */
/* EdDSA                                                                     */
/* ************************************************************************* */

static const uint8_t ed25519_oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};

static void
ed25519_kat(const char *skh, const char *msgh, const char *sigh)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_EDDSA};
    struct qt_crypto_key *k = NULL;
    uint8_t sk[32], msg[16], exp[64], sig[64];
    size_t ml = unhex(msgh, msg, sizeof(msg));

    unhex(skh, sk, sizeof(sk));
    unhex(sigh, exp, sizeof(exp));
    cr_assert_eq(qt_crypto_key_ec_private(lc, ed25519_oid, sizeof(ed25519_oid), sk, 32, &k),
                 QT_OK);
    cr_assert_eq(do_sign(&m, k, msg, ml, 1, sig, sizeof(sig)), 64);
    assert_bytes(sig, exp, 64);
    cr_assert_eq(do_verify(&m, k, msg, ml, sig, 64), QT_OK);
    sig[0] ^= 1;
    cr_assert_eq(do_verify(&m, k, msg, ml, sig, 64), QT_E_SIGNATURE);
    qt_crypto_key_free(k);
}

/* RFC 8032 7.1 TEST 1 and TEST 2 */
Test(crypto_sign, ed25519_rfc8032)
{
    ed25519_kat("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33b"
                "acc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    ed25519_kat("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e1599"
                "6e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
}

Test(crypto_sign, ed448_cross_check_multi_part)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_EDDSA};
    struct qt_crypto_key *k = NULL;
    EVP_PKEY *pk;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t data[5000], sig[114];

    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)i;
    }
    cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_ED448, &k), QT_OK);
    pk = spki_pkey(k);
    cr_assert_eq(do_sign(&m, k, data, sizeof(data), 1, sig, sizeof(sig)), 114);
    cr_assert(EVP_DigestVerifyInit_ex(md, NULL, NULL, lc, NULL, pk, NULL));
    cr_assert_eq(EVP_DigestVerify(md, sig, 114, data, sizeof(data)), 1);
    cr_assert_eq(do_verify(&m, k, data, sizeof(data), sig, 114), QT_OK);
    cr_assert_eq(do_verify(&m, k, data, sizeof(data) - 1, sig, 114), QT_E_SIGNATURE);
    /* EdDSA takes no prehash */
    m.hash = QT_CRYPTO_HASH_SHA256;
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &(struct qt_crypto_sign *){0}), QT_E_ARG);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    qt_crypto_key_free(k);
}

/* ************************************************************************* */
/* HMAC                                                                      */
/* ************************************************************************* */

static void
hmac_kat(enum qt_crypto_hash h, const uint8_t *key, size_t kl, const char *data,
         const char *exph)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_HMAC, .hash = h};
    struct qt_crypto_key *k = NULL;
    uint8_t exp[64], mac[64];
    size_t el = unhex(exph, exp, sizeof(exp));

    cr_assert_eq(qt_crypto_key_secret(lc, QT_CRYPTO_KEY_GENERIC_SECRET, key, kl, &k), QT_OK);
    cr_assert_eq(do_sign(&m, k, (const uint8_t *)data, strlen(data), 1, mac, sizeof(mac)), el);
    assert_bytes(mac, exp, el);
    cr_assert_eq(do_verify(&m, k, (const uint8_t *)data, strlen(data), exp, el), QT_OK);
    exp[el - 1] ^= 0x80;
    cr_assert_eq(do_verify(&m, k, (const uint8_t *)data, strlen(data), exp, el), QT_E_SIGNATURE);
    cr_assert_eq(do_verify(&m, k, (const uint8_t *)data, strlen(data), exp, el - 1), QT_E_RANGE);
    qt_crypto_key_free(k);
}

Test(crypto_sign, hmac_rfc4231_rfc2202)
{
    uint8_t k0b[20];

    memset(k0b, 0x0b, sizeof(k0b));
    /* RFC 4231 test case 1 */
    hmac_kat(QT_CRYPTO_HASH_SHA224, k0b, 20, "Hi There",
             "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22");
    hmac_kat(QT_CRYPTO_HASH_SHA256, k0b, 20, "Hi There",
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    hmac_kat(QT_CRYPTO_HASH_SHA384, k0b, 20, "Hi There",
             "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4a"
             "f152e8b2fa9cb6");
    hmac_kat(QT_CRYPTO_HASH_SHA512, k0b, 20, "Hi There",
             "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a70203"
             "8b274eaea3f4e4be9d914eeb61f1702e696c203a126854");
    /* RFC 4231 test case 2 */
    hmac_kat(QT_CRYPTO_HASH_SHA256, (const uint8_t *)"Jefe", 4, "what do ya want for nothing?",
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* RFC 4231 test case 6: a key longer than the block is hashed first */
    {
        uint8_t kaa[131];

        memset(kaa, 0xaa, sizeof(kaa));
        hmac_kat(QT_CRYPTO_HASH_SHA256, kaa, sizeof(kaa),
                 "Test Using Larger Than Block-Size Key - Hash Key First",
                 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }
    /* RFC 2202 test case 1 */
    hmac_kat(QT_CRYPTO_HASH_SHA1, k0b, 20, "Hi There",
             "b617318655057264e28bc0b6fb378c8ef146be00");
}

Test(crypto_sign, hmac_general_and_errors)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_HMAC,
                               .hash = QT_CRYPTO_HASH_SHA256,
                               .mac_len = 16};
    struct qt_crypto_key *k = NULL, *ec = NULL;
    struct qt_crypto_sign *s = NULL;
    uint8_t k0b[20], mac[32];
    static const char *full = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
    uint8_t exp[32];

    memset(k0b, 0x0b, sizeof(k0b));
    unhex(full, exp, sizeof(exp));
    cr_assert_eq(qt_crypto_key_secret(lc, QT_CRYPTO_KEY_GENERIC_SECRET, k0b, 20, &k), QT_OK);
    cr_assert_eq(do_sign(&m, k, (const uint8_t *)"Hi There", 8, 0, mac, sizeof(mac)), 16);
    assert_bytes(mac, exp, 16); /* leftmost bytes */
    cr_assert_eq(do_verify(&m, k, (const uint8_t *)"Hi There", 8, exp, 16), QT_OK);
    cr_assert_eq(do_verify(&m, k, (const uint8_t *)"Hi There", 8, exp, 32), QT_E_RANGE);
    m.mac_len = 33;
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_E_ARG);
    m.mac_len = 0;
    m.hash = QT_CRYPTO_HASH_NONE;
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_E_ARG);
    m.hash = QT_CRYPTO_HASH_SHA256;
    cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_P256, &ec), QT_OK);
    cr_assert_eq(qt_crypto_sign_new(&m, ec, 0, &s), QT_E_ARG);
    /* AES keys may key an HMAC as well */
    qt_crypto_key_free(k);
    cr_assert_eq(qt_crypto_key_secret(lc, QT_CRYPTO_KEY_AES, k0b, 16, &k), QT_OK);
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_OK);
    qt_crypto_sign_free(s);
    qt_crypto_key_free(ec);
    qt_crypto_key_free(k);
}

/* ************************************************************************* */
/* Context rules                                                             */
/* ************************************************************************* */

Test(crypto_sign, two_call_convention_and_state)
{
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_ECDSA, .hash = QT_CRYPTO_HASH_SHA256};
    struct qt_crypto_key *k = NULL;
    struct qt_crypto_sign *s = NULL;
    uint8_t sig[96];
    size_t sl = 0;

    cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_P384, &k), QT_OK);
    cr_assert_eq(qt_crypto_sign_new(&m, k, 0, &s), QT_OK);
    cr_assert_eq(qt_crypto_sign_len(s), 96);
    cr_assert_eq(qt_crypto_sign_update(s, (const uint8_t *)"x", 1), QT_OK);
    cr_assert_eq(qt_crypto_sign_final(s, NULL, &sl), QT_OK);
    cr_assert_eq(sl, 96);
    sl = 95;
    cr_assert_eq(qt_crypto_sign_final(s, sig, &sl), QT_E_BUFFER_TOO_SMALL);
    cr_assert_eq(sl, 96);
    cr_assert_eq(qt_crypto_sign_update(s, (const uint8_t *)"y", 1), QT_OK); /* still active */
    cr_assert_eq(qt_crypto_sign_final(s, sig, &sl), QT_OK);
    cr_assert_eq(qt_crypto_sign_final(s, sig, &sl), QT_E_STATE);
    cr_assert_eq(qt_crypto_sign_update(s, (const uint8_t *)"z", 1), QT_E_STATE);
    cr_assert_eq(qt_crypto_verify_final(s, sig, sl), QT_E_STATE);
    qt_crypto_sign_free(s);
    cr_assert_eq(do_verify(&m, k, (const uint8_t *)"xy", 2, sig, 96), QT_OK);
    qt_crypto_sign_free(NULL);
    qt_crypto_key_free(k);
}

Test(crypto_sign, key_type_and_class_errors)
{
    struct qt_crypto_key *rsa = rsa_key(0), *ec = NULL, *ed = NULL;
    struct qt_crypto_sign *s = NULL;
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_RSA_PKCS};

    cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_P256, &ec), QT_OK);
    cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_ED25519, &ed), QT_OK);
    cr_assert_eq(qt_crypto_sign_new(&m, rsa, 0, &s), QT_E_ARG); /* public key cannot sign */
    cr_assert_eq(qt_crypto_sign_new(&m, ec, 0, &s), QT_E_ARG);
    m.type = QT_CRYPTO_MECH_ECDSA;
    cr_assert_eq(qt_crypto_sign_new(&m, ed, 0, &s), QT_E_ARG);
    m.type = QT_CRYPTO_MECH_EDDSA;
    cr_assert_eq(qt_crypto_sign_new(&m, ec, 0, &s), QT_E_ARG);
    m.type = QT_CRYPTO_MECH_AES_GCM; /* not a signature mechanism */
    cr_assert_eq(qt_crypto_sign_new(&m, ec, 0, &s), QT_E_ARG);
    m.type = QT_CRYPTO_MECH_ECDSA;
    m.hash = (enum qt_crypto_hash)99;
    cr_assert_eq(qt_crypto_sign_new(&m, ec, 0, &s), QT_E_ARG);
    cr_assert_eq(qt_crypto_sign_new(NULL, ec, 0, &s), QT_E_ARG);
    cr_assert_null(s);
    qt_crypto_key_free(rsa);
    qt_crypto_key_free(ec);
    qt_crypto_key_free(ed);
}

/* ************************************************************************* */
/* Threads: one key object, many concurrent operations                       */
/* ************************************************************************* */

struct thread_arg {
    const struct qt_crypto_key *k;
    int ok;
};

static void *
sign_loop(void *p)
{
    struct thread_arg *a = p;
    struct qt_crypto_mech m = {.type = QT_CRYPTO_MECH_ECDSA, .hash = QT_CRYPTO_HASH_SHA256};
    uint8_t data[16], sig[64];

    a->ok = 1;
    for (int i = 0; i < 50 && a->ok; i++) {
        struct qt_crypto_sign *s = NULL;
        size_t sl = sizeof(sig);

        memset(data, i, sizeof(data));
        if (qt_crypto_sign_new(&m, a->k, 0, &s) != QT_OK ||
            qt_crypto_sign_update(s, data, sizeof(data)) != QT_OK ||
            qt_crypto_sign_final(s, sig, &sl) != QT_OK) {
            a->ok = 0;
        }
        qt_crypto_sign_free(s);
        s = NULL;
        if (a->ok && (qt_crypto_sign_new(&m, a->k, 1, &s) != QT_OK ||
                      qt_crypto_sign_update(s, data, sizeof(data)) != QT_OK ||
                      qt_crypto_verify_final(s, sig, sl) != QT_OK)) {
            a->ok = 0;
        }
        qt_crypto_sign_free(s);
    }
    return NULL;
}

Test(crypto_sign, shared_key_across_threads)
{
    struct qt_crypto_key *k = NULL;
    pthread_t t[4];
    struct thread_arg a[4];

    cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_P256, &k), QT_OK);
    for (int i = 0; i < 4; i++) {
        a[i].k = k;
        cr_assert_eq(pthread_create(&t[i], NULL, sign_loop, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pthread_join(t[i], NULL), 0);
        cr_assert(a[i].ok, "thread %d", i);
    }
    qt_crypto_key_free(k);
}

/* ************************************************************************* */
/* Prepared contexts (crypto_tmpl.c)                                         */
/* ************************************************************************* */

/* One key, many setups: signing and verifying with the same private key,
 * raw and hashed ECDSA, HMAC digests, an abandoned HMAC in between, and
 * more PSS salt lengths than a key keeps templates for. */
Test(crypto_sign, prepared_contexts_keep_setups_apart)
{
    static const uint8_t hk[24] = {1, 2, 3};
    struct qt_crypto_mech raw = {.type = QT_CRYPTO_MECH_ECDSA};
    struct qt_crypto_mech hashed = {.type = QT_CRYPTO_MECH_ECDSA, .hash = QT_CRYPTO_HASH_SHA256};
    struct qt_crypto_mech pss = {.type = QT_CRYPTO_MECH_RSA_PSS, .hash = QT_CRYPTO_HASH_SHA256};
    struct qt_crypto_mech mac = {.type = QT_CRYPTO_MECH_HMAC};
    struct qt_crypto_key *ec = NULL, *sk = NULL, *rsa = rsa_key(1), *rsapub = rsa_key(0);
    struct qt_crypto_sign *s = NULL;
    uint8_t data[40], sig[256], want[64];
    size_t n, wl;

    cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_P256, &ec), QT_OK);
    cr_assert_eq(qt_crypto_key_secret(lc, QT_CRYPTO_KEY_GENERIC_SECRET, hk, sizeof(hk), &sk),
                 QT_OK);
    for (int round = 0; round < 3; round++) {
        memset(data, 'a' + round, sizeof(data));
        n = do_sign(&raw, ec, data, 32, 0, sig, sizeof(sig));
        cr_assert_eq(do_verify(&raw, ec, data, 32, sig, n), QT_OK);
        n = do_sign(&hashed, ec, data, sizeof(data), round & 1, sig, sizeof(sig));
        cr_assert_eq(do_verify(&hashed, ec, data, sizeof(data), sig, n), QT_OK);
        sig[3] ^= 1;
        cr_assert_eq(do_verify(&hashed, ec, data, sizeof(data), sig, n), QT_E_SIGNATURE);
        /* HMAC: an operation dropped unfinished, then two digests */
        mac.hash = QT_CRYPTO_HASH_SHA256;
        cr_assert_eq(qt_crypto_sign_new(&mac, sk, 0, &s), QT_OK);
        cr_assert_eq(qt_crypto_sign_update(s, data, 5), QT_OK);
        qt_crypto_sign_free(s);
        for (int i = 0; i < 2; i++) {
            size_t dl = sizeof(data) - (size_t)round;

            mac.hash = i == 0 ? QT_CRYPTO_HASH_SHA256 : QT_CRYPTO_HASH_SHA512;
            cr_assert_not_null(EVP_Q_mac(lc, "HMAC", NULL, qt_crypto_hash_name(mac.hash), NULL, hk,
                                         sizeof(hk), data, dl, want, sizeof(want), &wl));
            n = do_sign(&mac, sk, data, dl, round & 1, sig, sizeof(sig));
            cr_assert_eq(n, wl);
            assert_bytes(sig, want, n);
        }
    }
    for (size_t salt = 0; salt < 40; salt++) {
        pss.salt_len = salt;
        pss.pss_hash = QT_CRYPTO_HASH_SHA256;
        n = do_sign(&pss, rsa, data, sizeof(data), 0, sig, sizeof(sig));
        cr_assert_eq(do_verify(&pss, rsapub, data, sizeof(data), sig, n), QT_OK, "salt %zu", salt);
        if (salt > 0) {
            pss.salt_len = salt - 1;
            cr_assert_eq(do_verify(&pss, rsapub, data, sizeof(data), sig, n), QT_E_SIGNATURE);
        }
    }
    qt_crypto_key_free(ec);
    qt_crypto_key_free(sk);
    qt_crypto_key_free(rsa);
    qt_crypto_key_free(rsapub);
}
