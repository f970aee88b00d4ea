/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key objects: CKA_EC_PARAMS parsing in every accepted form, CKA_EC_POINT
 * wrapped/raw, EC/EdDSA/RSA import and export round trips, generation,
 * secret keys, check values, SPKI and fingerprint, ECDH (RFC 5903 vector).
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>

#include "crypto_test.h"

TestSuite(crypto_key, .init = crypto_setup, .fini = crypto_teardown);

static const uint8_t p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

/* ************************************************************************* */
/* CKA_EC_PARAMS                                                             */
/* ************************************************************************* */

Test(crypto_key, ec_params_named_oids)
{
    static const struct {
        const char *hex;
        enum qt_crypto_curve c;
    } v[] = {
        {"06082a8648ce3d030107", QT_CRYPTO_CURVE_P256},
        {"06052b81040022", QT_CRYPTO_CURVE_P384},
        {"06052b81040023", QT_CRYPTO_CURVE_P521},
        {"06052b8104000a", QT_CRYPTO_CURVE_SECP256K1},
        {"06032b6570", QT_CRYPTO_CURVE_ED25519},
        {"06032b6571", QT_CRYPTO_CURVE_ED448},
        {"06092b06010401da470f01", QT_CRYPTO_CURVE_ED25519}, /* GnuPG OID */
        /* pkcs11-tool 0.23 sends this PrintableString for EC:edwards25519 */
        {"130c656477617264733235353139", QT_CRYPTO_CURVE_ED25519},
        {"130a65647761726473343438", QT_CRYPTO_CURVE_ED448},
        {"0c0745643235353139", QT_CRYPTO_CURVE_ED25519}, /* UTF8String "Ed25519" */
        {"130a7072696d653235367631", QT_CRYPTO_CURVE_P256}, /* "prime256v1" */
        {"1305502d333834", QT_CRYPTO_CURVE_P384},           /* "P-384" */
    };
    uint8_t der[64];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        enum qt_crypto_curve c = QT_CRYPTO_CURVE_NONE;
        size_t n = unhex(v[i].hex, der, sizeof(der));

        cr_assert_eq(qt_crypto_ec_params_parse(der, n, &c), QT_OK, "vector %zu", i);
        cr_assert_eq(c, v[i].c, "vector %zu", i);
    }
}

Test(crypto_key, ec_params_rejects)
{
    static const struct {
        const char *hex;
        qt_rc rc;
    } v[] = {
        {"06082a8648ce3d030101", QT_E_UNSUPPORTED},         /* P-192 */
        {"130b63757276653235353139", QT_E_FORMAT},          /* OpenSC's mis-sized "curve25519" */
        {"130a63757276653235353139", QT_E_UNSUPPORTED},     /* X25519 is not a signing curve */
        {"06082a8648ce3d03010700", QT_E_FORMAT},            /* trailing byte */
        {"06092a8648ce3d030107", QT_E_FORMAT},              /* length overruns */
        {"0500", QT_E_UNSUPPORTED},                         /* implicitlyCA */
        {"3003020101", QT_E_UNSUPPORTED},                   /* explicit parameters */
        {"0481", QT_E_FORMAT},
        {"06", QT_E_FORMAT},
        {"068100", QT_E_FORMAT},                            /* non-minimal length */
    };
    uint8_t der[64];
    enum qt_crypto_curve c;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = unhex(v[i].hex, der, sizeof(der));

        cr_assert_eq(qt_crypto_ec_params_parse(der, n, &c), v[i].rc, "vector %zu", i);
    }
    cr_assert_eq(qt_crypto_ec_params_parse(NULL, 0, &c), QT_E_FORMAT);
    cr_assert_eq(qt_crypto_ec_params_parse(p256_oid, sizeof(p256_oid), NULL), QT_E_ARG);
}

Test(crypto_key, ec_params_der_canonical)
{
    struct qt_buf b = {0};
    enum qt_crypto_curve c;

    cr_assert_eq(qt_crypto_ec_params_der(QT_CRYPTO_CURVE_P256, &b), QT_OK);
    cr_assert_eq(b.len, sizeof(p256_oid));
    assert_bytes(b.p, p256_oid, b.len);
    qt_buf_clear(&b);
    cr_assert_eq(qt_crypto_ec_params_der(QT_CRYPTO_CURVE_ED25519, &b), QT_OK);
    cr_assert_eq(qt_crypto_ec_params_parse(b.p, b.len, &c), QT_OK);
    cr_assert_eq(c, QT_CRYPTO_CURVE_ED25519);
    cr_assert_eq(b.len, 5); /* 1.3.101.112, not the string form */
    qt_buf_clear(&b);
    cr_assert_eq(qt_crypto_ec_params_der(QT_CRYPTO_CURVE_NONE, &b), QT_E_ARG);
}

Test(crypto_key, curve_bits)
{
    cr_assert_eq(qt_crypto_curve_bits(QT_CRYPTO_CURVE_P256), 256);
    cr_assert_eq(qt_crypto_curve_bits(QT_CRYPTO_CURVE_P521), 521);
    cr_assert_eq(qt_crypto_curve_bits(QT_CRYPTO_CURVE_ED25519), 255);
    cr_assert_eq(qt_crypto_curve_bits(QT_CRYPTO_CURVE_ED448), 448);
    cr_assert_eq(qt_crypto_curve_bits(QT_CRYPTO_CURVE_NONE), 0);
}

/* ************************************************************************* */
/* EC keys                                                                   */
/* ************************************************************************* */

/* RFC 5903 8.1 (ECDH with P-256): i, g^i, r, g^r and g^ir. */
static const char *rfc5903_i = "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433";
static const char *rfc5903_gi = "04DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"
                                "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3";
static const char *rfc5903_r = "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53";
static const char *rfc5903_gr = "04D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
                                "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB";
static const char *rfc5903_gir = "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE";

Test(crypto_key, ec_private_import_computes_public)
{
    struct qt_crypto_key *k = NULL;
    struct qt_crypto_ec_attrs a = {0};
    uint8_t d[32], gi[65];

    unhex(rfc5903_i, d, sizeof(d));
    unhex(rfc5903_gi, gi, sizeof(gi));
    cr_assert_eq(qt_crypto_key_ec_private(lc, p256_oid, sizeof(p256_oid), d, 32, &k), QT_OK);
    cr_assert_eq(qt_crypto_key_type(k), QT_CRYPTO_KEY_EC);
    cr_assert_eq(qt_crypto_key_curve(k), QT_CRYPTO_CURVE_P256);
    cr_assert(qt_crypto_key_is_private(k));
    cr_assert_eq(qt_crypto_key_bits(k), 256);
    cr_assert_eq(qt_crypto_ec_export(k, &a), QT_OK);
    cr_assert_eq(a.point.len, 67);
    cr_assert_eq(a.point.p[0], 0x04);
    cr_assert_eq(a.point.p[1], 65);
    assert_bytes(a.point.p + 2, gi, 65);
    cr_assert_eq(a.value.n, 32);
    assert_bytes(a.value.p, d, 32);
    assert_bytes(a.params.p, p256_oid, sizeof(p256_oid));
    qt_crypto_ec_attrs_clear(&a);
    qt_crypto_key_free(k);
}

Test(crypto_key, ecdh_rfc5903)
{
    struct qt_crypto_key *ki = NULL, *kr = NULL;
    struct qt_secret z1 = {0}, z2 = {0};
    uint8_t i[32], r[32], gi[67], gr[65], gir[32];

    unhex(rfc5903_i, i, sizeof(i));
    unhex(rfc5903_r, r, sizeof(r));
    unhex(rfc5903_gr, gr, sizeof(gr));
    gi[0] = 0x04; /* DER-wrapped form for the other side */
    gi[1] = 65;
    unhex(rfc5903_gi, gi + 2, 65);
    unhex(rfc5903_gir, gir, sizeof(gir));
    cr_assert_eq(qt_crypto_key_ec_private(lc, p256_oid, sizeof(p256_oid), i, 32, &ki), QT_OK);
    cr_assert_eq(qt_crypto_key_ec_private(lc, p256_oid, sizeof(p256_oid), r, 32, &kr), QT_OK);
    cr_assert_eq(qt_crypto_ecdh_derive(ki, gr, sizeof(gr), &z1), QT_OK); /* raw peer */
    cr_assert_eq(qt_crypto_ecdh_derive(kr, gi, sizeof(gi), &z2), QT_OK); /* wrapped peer */
    cr_assert_eq(z1.n, 32);
    assert_bytes(z1.p, gir, 32);
    assert_bytes(z2.p, gir, 32);
    qt_secret_clear(&z1);
    /* A point not on the curve, a truncated point, an EdDSA key. */
    gr[64] ^= 1;
    cr_assert_eq(qt_crypto_ecdh_derive(ki, gr, sizeof(gr), &z1), QT_E_FORMAT);
    cr_assert_null(z1.p);
    cr_assert_eq(qt_crypto_ecdh_derive(ki, gr, 40, &z1), QT_E_FORMAT);
    qt_secret_clear(&z2);
    {
        struct qt_crypto_key *ed = NULL, *p384 = NULL, *pub = NULL;
        struct qt_crypto_ec_attrs a = {0};

        cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_ED25519, &ed), QT_OK);
        cr_assert_eq(qt_crypto_ecdh_derive(ed, gi, sizeof(gi), &z1), QT_E_ARG);
        /* a P-384 point offered to a P-256 key */
        cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_P384, &p384), QT_OK);
        cr_assert_eq(qt_crypto_ec_export(p384, &a), QT_OK);
        cr_assert_eq(qt_crypto_ecdh_derive(ki, a.point.p, a.point.len, &z1), QT_E_FORMAT);
        /* a public key cannot derive */
        cr_assert_eq(qt_crypto_key_ec_public(lc, p256_oid, sizeof(p256_oid), gi, sizeof(gi), &pub),
                     QT_OK);
        cr_assert_eq(qt_crypto_ecdh_derive(pub, gr, 65, &z1), QT_E_ARG);
        qt_crypto_ec_attrs_clear(&a);
        qt_crypto_key_free(ed);
        qt_crypto_key_free(p384);
        qt_crypto_key_free(pub);
    }
    qt_crypto_key_free(ki);
    qt_crypto_key_free(kr);
}

Test(crypto_key, ec_private_scalar_range)
{
    /* P-256 order n; n and 0 are out of range, n-1 is fine; leading zeros ok. */
    static const char *n_hex = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
    struct qt_crypto_key *k = NULL;
    uint8_t v[40] = {0};

    cr_assert_eq(qt_crypto_key_ec_private(lc, p256_oid, sizeof(p256_oid), v, 32, &k),
                 QT_E_RANGE);
    unhex(n_hex, v, 32);
    cr_assert_eq(qt_crypto_key_ec_private(lc, p256_oid, sizeof(p256_oid), v, 32, &k),
                 QT_E_RANGE);
    v[31] -= 1;
    cr_assert_eq(qt_crypto_key_ec_private(lc, p256_oid, sizeof(p256_oid), v, 32, &k), QT_OK);
    qt_crypto_key_free(k);
    memset(v, 0, sizeof(v));
    v[33] = 7; /* 34 bytes with two leading zeros */
    cr_assert_eq(qt_crypto_key_ec_private(lc, p256_oid, sizeof(p256_oid), v, 34, &k), QT_OK);
    qt_crypto_key_free(k);
    cr_assert_eq(qt_crypto_key_ec_private(lc, p256_oid, sizeof(p256_oid), v, 0, &k), QT_E_RANGE);
}

Test(crypto_key, ec_public_import_forms)
{
    struct qt_crypto_key *k = NULL;
    struct qt_crypto_ec_attrs a = {0};
    uint8_t gi[67], comp[33];

    gi[0] = 0x04;
    gi[1] = 65;
    unhex(rfc5903_gi, gi + 2, 65);
    /* wrapped */
    cr_assert_eq(qt_crypto_key_ec_public(lc, p256_oid, sizeof(p256_oid), gi, 67, &k), QT_OK);
    cr_assert_not(qt_crypto_key_is_private(k));
    qt_crypto_key_free(k);
    /* raw */
    cr_assert_eq(qt_crypto_key_ec_public(lc, p256_oid, sizeof(p256_oid), gi + 2, 65, &k), QT_OK);
    qt_crypto_key_free(k);
    /* compressed raw: y of g^i ends in 0xB3, odd -> 03; exported uncompressed */
    comp[0] = 0x03;
    memcpy(comp + 1, gi + 3, 32);
    cr_assert_eq(qt_crypto_key_ec_public(lc, p256_oid, sizeof(p256_oid), comp, 33, &k), QT_OK);
    cr_assert_eq(qt_crypto_ec_export(k, &a), QT_OK);
    cr_assert_eq(a.point.len, 67);
    assert_bytes(a.point.p, gi, 67);
    cr_assert_null(a.value.p);
    qt_crypto_ec_attrs_clear(&a);
    qt_crypto_key_free(k);
    /* not on the curve, wrong sizes, bad wrapping */
    gi[66] ^= 1;
    cr_assert_eq(qt_crypto_key_ec_public(lc, p256_oid, sizeof(p256_oid), gi, 67, &k),
                 QT_E_FORMAT);
    cr_assert_eq(qt_crypto_key_ec_public(lc, p256_oid, sizeof(p256_oid), gi, 66, &k),
                 QT_E_FORMAT);
    gi[1] = 66;
    cr_assert_eq(qt_crypto_key_ec_public(lc, p256_oid, sizeof(p256_oid), gi, 67, &k),
                 QT_E_FORMAT);
    cr_assert_eq(qt_crypto_key_ec_public(lc, p256_oid, sizeof(p256_oid), NULL, 0, &k),
                 QT_E_FORMAT);
}

/* RFC 8032 7.1 TEST 1 */
static const char *ed_sk = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char *ed_pk = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

Test(crypto_key, ed25519_import_export)
{
    static const uint8_t oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
    static const uint8_t str[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's',
                                  '2',  '5',  '5', '1', '9'};
    struct qt_crypto_key *k = NULL;
    struct qt_crypto_ec_attrs a = {0};
    uint8_t sk[32], pk[34];

    unhex(ed_sk, sk, 32);
    pk[0] = 0x04;
    pk[1] = 32;
    unhex(ed_pk, pk + 2, 32);
    cr_assert_eq(qt_crypto_key_ec_private(lc, str, sizeof(str), sk, 32, &k), QT_OK);
    cr_assert_eq(qt_crypto_key_type(k), QT_CRYPTO_KEY_EC_EDWARDS);
    cr_assert_eq(qt_crypto_key_bits(k), 255);
    cr_assert_eq(qt_crypto_ec_export(k, &a), QT_OK);
    cr_assert_eq(a.point.len, 34);
    assert_bytes(a.point.p, pk, 34);
    cr_assert_eq(a.value.n, 32);
    assert_bytes(a.value.p, sk, 32);
    cr_assert_eq(a.params.len, sizeof(oid)); /* written out as the named OID */
    assert_bytes(a.params.p, oid, sizeof(oid));
    qt_crypto_ec_attrs_clear(&a);
    qt_crypto_key_free(k);
    /* public: wrapped and raw */
    cr_assert_eq(qt_crypto_key_ec_public(lc, oid, sizeof(oid), pk, 34, &k), QT_OK);
    qt_crypto_key_free(k);
    cr_assert_eq(qt_crypto_key_ec_public(lc, oid, sizeof(oid), pk + 2, 32, &k), QT_OK);
    qt_crypto_key_free(k);
    cr_assert_eq(qt_crypto_key_ec_public(lc, oid, sizeof(oid), pk + 2, 31, &k), QT_E_FORMAT);
    cr_assert_eq(qt_crypto_key_ec_private(lc, oid, sizeof(oid), sk, 31, &k), QT_E_RANGE);
}

Test(crypto_key, ec_generate_all_curves)
{
    static const enum qt_crypto_curve cs[] = {
        QT_CRYPTO_CURVE_P256,    QT_CRYPTO_CURVE_P384,  QT_CRYPTO_CURVE_P521,
        QT_CRYPTO_CURVE_SECP256K1, QT_CRYPTO_CURVE_ED25519, QT_CRYPTO_CURVE_ED448,
    };
    static const size_t point_len[] = {67, 99, 136, 67, 34, 59}; /* 136: 04 81 85 ... */
    static const size_t value_len[] = {32, 48, 66, 32, 32, 57};

    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
        struct qt_crypto_key *k = NULL, *back = NULL, *pub = NULL;
        struct qt_crypto_ec_attrs a = {0}, b = {0};
        struct qt_buf spki = {0};
        const unsigned char *sp;
        EVP_PKEY *pk;

        cr_assert_eq(qt_crypto_ec_generate(lc, cs[i], &k), QT_OK, "curve %zu", i);
        cr_assert_eq(qt_crypto_key_curve(k), cs[i]);
        cr_assert_eq(qt_crypto_ec_export(k, &a), QT_OK);
        cr_assert_eq(a.point.len, point_len[i], "curve %zu: %zu", i, a.point.len);
        cr_assert_eq(a.value.n, value_len[i]);
        /* Rebuild from the stored attributes and compare. */
        cr_assert_eq(qt_crypto_key_ec_private(lc, a.params.p, a.params.len, a.value.p, a.value.n,
                                              &back),
                     QT_OK, "curve %zu", i);
        cr_assert_eq(qt_crypto_ec_export(back, &b), QT_OK);
        cr_assert_eq(b.point.len, a.point.len);
        assert_bytes(b.point.p, a.point.p, a.point.len);
        cr_assert_eq(qt_crypto_key_ec_public(lc, a.params.p, a.params.len, a.point.p, a.point.len,
                                             &pub),
                     QT_OK);
        /* SPKI parses with OpenSSL in our libctx. */
        cr_assert_eq(qt_crypto_key_spki(pub, &spki), QT_OK);
        sp = spki.p;
        pk = d2i_PUBKEY_ex(NULL, &sp, (long)spki.len, lc, NULL);
        cr_assert_not_null(pk);
        cr_assert_eq(sp, spki.p + spki.len);
        /* byte for byte what OpenSSL's own encoder writes */
        {
            unsigned char *der = NULL;
            int der_len = i2d_PUBKEY(pk, &der);
            cr_assert_gt(der_len, 0);
            cr_assert_eq((size_t)der_len, spki.len, "curve %zu: %d vs %zu", i, der_len,
                         spki.len);
            assert_bytes(spki.p, der, spki.len);
            OPENSSL_free(der);
            qt_buf_clear(&spki);
            cr_assert_eq(qt_crypto_key_spki(k, &spki), QT_OK); /* the private key's too */
            cr_assert_eq(spki.len, (size_t)der_len);
        }
        EVP_PKEY_free(pk);
        qt_buf_clear(&spki);
        qt_crypto_ec_attrs_clear(&a);
        qt_crypto_ec_attrs_clear(&b);
        qt_crypto_key_free(k);
        qt_crypto_key_free(back);
        qt_crypto_key_free(pub);
    }
    cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_NONE, &(struct qt_crypto_key *){0}),
                 QT_E_UNSUPPORTED);
}

/* Keys from kept generation contexts (qt_crypto_gen): every curve, several
 * keys per context, each a new key whose stored private value rebuilds its
 * own public point. */
static void
gen_check(struct qt_crypto_gen *g, enum qt_crypto_curve c, struct qt_buf *point)
{
    struct qt_crypto_key *k = NULL, *back = NULL;
    struct qt_crypto_ec_attrs a = {0}, b = {0};

    cr_assert_eq(qt_crypto_gen_ec(g, c, &k), QT_OK, "curve %d", (int)c);
    cr_assert_eq(qt_crypto_key_curve(k), c);
    cr_assert_eq(qt_crypto_ec_export(k, &a), QT_OK);
    cr_assert_eq(qt_crypto_key_ec_private(lc, a.params.p, a.params.len, a.value.p, a.value.n,
                                          &back),
                 QT_OK);
    cr_assert_eq(qt_crypto_ec_export(back, &b), QT_OK);
    cr_assert_eq(b.point.len, a.point.len);
    assert_bytes(b.point.p, a.point.p, a.point.len);
    qt_buf_init(point);
    cr_assert_eq(qt_buf_put(point, a.point.p, a.point.len), QT_OK);
    qt_crypto_ec_attrs_clear(&a);
    qt_crypto_ec_attrs_clear(&b);
    qt_crypto_key_free(k);
    qt_crypto_key_free(back);
}

Test(crypto_key, gen_contexts_make_new_keys)
{
    static const enum qt_crypto_curve cs[] = {
        QT_CRYPTO_CURVE_P256,    QT_CRYPTO_CURVE_P384,  QT_CRYPTO_CURVE_P521,
        QT_CRYPTO_CURVE_SECP256K1, QT_CRYPTO_CURVE_ED25519, QT_CRYPTO_CURVE_ED448,
    };
    struct qt_crypto_gen *g = NULL;

    cr_assert_eq(qt_crypto_gen_new(lc, &g), QT_OK);
    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
        struct qt_buf pt[3];

        for (size_t j = 0; j < 3; j++) {
            gen_check(g, cs[i], &pt[j]);
            for (size_t m = 0; m < j; m++) {
                cr_assert(pt[m].len != pt[j].len || memcmp(pt[m].p, pt[j].p, pt[j].len) != 0,
                          "curve %zu: key %zu repeats key %zu", i, j, m);
            }
        }
        for (size_t j = 0; j < 3; j++) {
            qt_buf_clear(&pt[j]);
        }
    }
    cr_assert_eq(qt_crypto_gen_ec(g, QT_CRYPTO_CURVE_NONE, &(struct qt_crypto_key *){0}),
                 QT_E_UNSUPPORTED);
    cr_assert_eq(qt_crypto_gen_ec(g, (enum qt_crypto_curve)99, &(struct qt_crypto_key *){0}),
                 QT_E_UNSUPPORTED);
    cr_assert_eq(qt_crypto_gen_ec(NULL, QT_CRYPTO_CURVE_P256, &(struct qt_crypto_key *){0}),
                 QT_E_ARG);
    cr_assert_eq(qt_crypto_gen_ec(g, QT_CRYPTO_CURVE_P256, NULL), QT_E_ARG);
    qt_crypto_gen_free(g);
    qt_crypto_gen_free(NULL);
}

#define GEN_THREADS 4
#define GEN_PER_THREAD 40

struct gen_arg {
    struct qt_crypto_gen *g;
    uint8_t x[GEN_PER_THREAD][32]; /* each key's x coordinate */
    int failed;
};

static void *
gen_loop(void *p)
{
    struct gen_arg *a = p;

    for (size_t i = 0; i < GEN_PER_THREAD; i++) {
        struct qt_crypto_key *k = NULL;
        struct qt_crypto_ec_attrs e = {0};

        if (qt_crypto_gen_ec(a->g, QT_CRYPTO_CURVE_P256, &k) != QT_OK ||
            qt_crypto_ec_export(k, &e) != QT_OK || e.point.len != 67) {
            a->failed = 1;
        } else {
            memcpy(a->x[i], e.point.p + 3, 32); /* 04 41 04 x y */
        }
        qt_crypto_ec_attrs_clear(&e);
        qt_crypto_key_free(k);
    }
    return NULL;
}

/* Threads share one qt_crypto_gen: every generation has a context of its
 * own (no failure), and no two keys are the same. */
Test(crypto_key, gen_contexts_threads)
{
    static struct gen_arg a[GEN_THREADS];
    struct qt_crypto_gen *g = NULL;
    pthread_t t[GEN_THREADS];

    cr_assert_eq(qt_crypto_gen_new(lc, &g), QT_OK);
    for (size_t i = 0; i < GEN_THREADS; i++) {
        a[i].g = g;
        cr_assert_eq(pthread_create(&t[i], NULL, gen_loop, &a[i]), 0);
    }
    for (size_t i = 0; i < GEN_THREADS; i++) {
        cr_assert_eq(pthread_join(t[i], NULL), 0);
        cr_assert_eq(a[i].failed, 0, "thread %zu", i);
    }
    for (size_t i = 0; i < GEN_THREADS * GEN_PER_THREAD; i++) {
        for (size_t j = 0; j < i; j++) {
            cr_assert(memcmp(a[i / GEN_PER_THREAD].x[i % GEN_PER_THREAD],
                             a[j / GEN_PER_THREAD].x[j % GEN_PER_THREAD], 32) != 0,
                      "keys %zu and %zu are the same", i, j);
        }
    }
    qt_crypto_gen_free(g);
}

/* ************************************************************************* */
/* RSA keys                                                                  */
/* ************************************************************************* */

struct rsa_vec {
    uint8_t n[256], e[3], d[256], p[128], q[128], dp[128], dq[128], qinv[128];
    size_t nl, el, dl, pl, ql, dpl, dql, qil;
};

static void
rsa_vec_load(struct rsa_vec *v)
{
    const char *f = "crypto_rsa2048.txt";

    v->nl = vec_get(f, "n", v->n, sizeof(v->n));
    v->el = vec_get(f, "e", v->e, sizeof(v->e));
    v->dl = vec_get(f, "d", v->d, sizeof(v->d));
    v->pl = vec_get(f, "p", v->p, sizeof(v->p));
    v->ql = vec_get(f, "q", v->q, sizeof(v->q));
    v->dpl = vec_get(f, "dp", v->dp, sizeof(v->dp));
    v->dql = vec_get(f, "dq", v->dq, sizeof(v->dq));
    v->qil = vec_get(f, "qinv", v->qinv, sizeof(v->qinv));
}

Test(crypto_key, rsa_import_export_round_trip)
{
    struct rsa_vec v;
    struct qt_crypto_rsa_parts parts;
    struct qt_crypto_rsa_attrs a = {0};
    struct qt_crypto_key *k = NULL;

    rsa_vec_load(&v);
    parts = (struct qt_crypto_rsa_parts){
        {v.n, v.nl}, {v.e, v.el}, {v.d, v.dl},   {v.p, v.pl},
        {v.q, v.ql}, {v.dp, v.dpl}, {v.dq, v.dql}, {v.qinv, v.qil},
    };
    cr_assert_eq(qt_crypto_key_rsa_private(lc, &parts, &k), QT_OK);
    cr_assert_eq(qt_crypto_key_type(k), QT_CRYPTO_KEY_RSA);
    cr_assert_eq(qt_crypto_key_bits(k), 2048);
    cr_assert_eq(qt_crypto_rsa_export(k, &a), QT_OK);
    cr_assert_eq(a.n.len, v.nl);
    assert_bytes(a.n.p, v.n, v.nl);
    cr_assert_eq(a.e.len, 3);
    assert_bytes(a.e.p, v.e, 3);
    cr_assert_eq(a.d.n, v.dl);
    assert_bytes(a.d.p, v.d, v.dl);
    cr_assert_eq(a.qinv.n, v.qil);
    assert_bytes(a.qinv.p, v.qinv, v.qil);
    qt_crypto_rsa_attrs_clear(&a);
    qt_crypto_key_free(k);

    /* Private without CRT parts: works, exports no CRT parts. */
    parts.p = parts.q = parts.dp = parts.dq = parts.qinv = (struct qt_crypto_span){0};
    cr_assert_eq(qt_crypto_key_rsa_private(lc, &parts, &k), QT_OK);
    cr_assert_eq(qt_crypto_rsa_export(k, &a), QT_OK);
    cr_assert_not_null(a.d.p);
    cr_assert_null(a.p.p);
    qt_crypto_rsa_attrs_clear(&a);
    qt_crypto_key_free(k);

    /* Public: no private parts exported. */
    cr_assert_eq(qt_crypto_key_rsa_public(lc, &parts, &k), QT_OK);
    cr_assert_not(qt_crypto_key_is_private(k));
    cr_assert_eq(qt_crypto_rsa_export(k, &a), QT_OK);
    cr_assert_null(a.d.p);
    qt_crypto_rsa_attrs_clear(&a);
    cr_assert_eq(qt_crypto_ec_export(k, &(struct qt_crypto_ec_attrs){0}), QT_E_ARG);
    qt_crypto_key_free(k);
}

Test(crypto_key, rsa_import_rejects)
{
    struct rsa_vec v;
    struct qt_crypto_rsa_parts parts;
    struct qt_crypto_key *k = NULL;
    uint8_t even[256];

    rsa_vec_load(&v);
    memset(&parts, 0, sizeof(parts));
    parts.n = (struct qt_crypto_span){v.n, v.nl};
    parts.e = (struct qt_crypto_span){v.e, v.el};
    parts.d = (struct qt_crypto_span){v.d, v.dl};
    parts.p = (struct qt_crypto_span){v.p, v.pl};
    /* some CRT parts but not all */
    cr_assert_eq(qt_crypto_key_rsa_private(lc, &parts, &k), QT_E_ARG);
    parts.p = (struct qt_crypto_span){0};
    parts.d = (struct qt_crypto_span){0};
    cr_assert_eq(qt_crypto_key_rsa_private(lc, &parts, &k), QT_E_ARG); /* no d */
    /* too small a modulus (512 bits) */
    parts.n.n = 64;
    cr_assert_eq(qt_crypto_key_rsa_public(lc, &parts, &k), QT_E_RANGE);
    /* even modulus, exponent 1 */
    memcpy(even, v.n, v.nl);
    even[v.nl - 1] &= 0xfe;
    parts.n = (struct qt_crypto_span){even, v.nl};
    cr_assert_eq(qt_crypto_key_rsa_public(lc, &parts, &k), QT_E_FORMAT);
    parts.n = (struct qt_crypto_span){v.n, v.nl};
    parts.e = (struct qt_crypto_span){(const uint8_t *)"\x01", 1};
    cr_assert_eq(qt_crypto_key_rsa_public(lc, &parts, &k), QT_E_FORMAT);
    cr_assert_eq(qt_crypto_key_rsa_public(lc, NULL, &k), QT_E_ARG);
}

Test(crypto_key, rsa_generate_2048, .timeout = 60)
{
    static const uint8_t e3[] = {0x03};
    struct qt_crypto_key *k = NULL;
    struct qt_crypto_rsa_attrs a = {0};

    cr_assert_eq(qt_crypto_rsa_generate(lc, 2048, e3, sizeof(e3), &k), QT_OK);
    cr_assert_eq(qt_crypto_key_bits(k), 2048);
    cr_assert_eq(qt_crypto_rsa_export(k, &a), QT_OK);
    cr_assert_eq(a.n.len, 256);
    cr_assert_eq(a.e.len, 1);
    cr_assert_eq(a.e.p[0], 3);
    cr_assert_eq(a.p.n, 128);
    cr_assert_eq(a.q.n, 128);
    cr_assert_not_null(a.dp.p);
    cr_assert_not_null(a.dq.p);
    cr_assert_not_null(a.qinv.p);
    qt_crypto_rsa_attrs_clear(&a);
    qt_crypto_key_free(k);
}

Test(crypto_key, rsa_generate_rejects)
{
    struct qt_crypto_key *k = NULL;
    static const uint8_t even[] = {0x01, 0x00, 0x00};
    static const uint8_t one[] = {0x01};
    static const uint8_t big[9] = {1, 0, 0, 0, 0, 0, 0, 0, 1};

    cr_assert_eq(qt_crypto_rsa_generate(lc, 1024, NULL, 0, &k), QT_E_RANGE);
    cr_assert_eq(qt_crypto_rsa_generate(lc, 8200, NULL, 0, &k), QT_E_RANGE);
    cr_assert_eq(qt_crypto_rsa_generate(lc, 2049, NULL, 0, &k), QT_E_RANGE);
    cr_assert_eq(qt_crypto_rsa_generate(lc, 2048, even, sizeof(even), &k), QT_E_ARG);
    cr_assert_eq(qt_crypto_rsa_generate(lc, 2048, one, sizeof(one), &k), QT_E_ARG);
    cr_assert_eq(qt_crypto_rsa_generate(lc, 2048, big, sizeof(big), &k), QT_E_ARG);
    cr_assert_eq(qt_crypto_rsa_generate(lc, 2048, NULL, 0, NULL), QT_E_ARG);
    cr_assert_null(k);
}

/* ************************************************************************* */
/* Secret keys, check values, fingerprints                                   */
/* ************************************************************************* */

Test(crypto_key, secret_import_generate_export)
{
    static const uint8_t v[24] = {1, 2, 3};
    struct qt_crypto_key *k = NULL, *k2 = NULL;
    struct qt_secret s = {0}, s2 = {0};

    cr_assert_eq(qt_crypto_key_secret(lc, QT_CRYPTO_KEY_AES, v, 24, &k), QT_OK);
    cr_assert_eq(qt_crypto_key_bits(k), 192);
    cr_assert_eq(qt_crypto_secret_export(k, &s), QT_OK);
    cr_assert_eq(s.n, 24);
    assert_bytes(s.p, v, 24);
    qt_secret_clear(&s);
    qt_crypto_key_free(k);
    cr_assert_eq(qt_crypto_key_secret(lc, QT_CRYPTO_KEY_AES, v, 20, &k), QT_E_RANGE);
    cr_assert_eq(qt_crypto_key_secret(lc, QT_CRYPTO_KEY_GENERIC_SECRET, v, 0, &k), QT_E_RANGE);
    cr_assert_eq(qt_crypto_key_secret(lc, QT_CRYPTO_KEY_RSA, v, 16, &k), QT_E_ARG);

    cr_assert_eq(qt_crypto_secret_generate(lc, QT_CRYPTO_KEY_AES, 32, &k), QT_OK);
    cr_assert_eq(qt_crypto_secret_generate(lc, QT_CRYPTO_KEY_GENERIC_SECRET, 77, &k2), QT_OK);
    cr_assert_eq(qt_crypto_key_bits(k2), 77 * 8);
    cr_assert_eq(qt_crypto_secret_export(k, &s), QT_OK);
    cr_assert_eq(qt_crypto_secret_export(k2, &s2), QT_OK);
    cr_assert_eq(s.n, 32);
    cr_assert_eq(s2.n, 77);
    cr_assert_neq(memcmp(s.p, s2.p, 32), 0); /* two draws differ */
    qt_secret_clear(&s);
    qt_secret_clear(&s2);
    cr_assert_eq(qt_crypto_secret_generate(lc, QT_CRYPTO_KEY_AES, 17, &k), QT_E_RANGE);
    cr_assert_eq(qt_crypto_secret_generate(lc, QT_CRYPTO_KEY_GENERIC_SECRET, 4097, &k),
                 QT_E_RANGE);
    cr_assert_eq(qt_crypto_key_spki(k, &(struct qt_buf){0}), QT_E_ARG);
    qt_crypto_key_free(k);
    qt_crypto_key_free(k2);
}

Test(crypto_key, check_values)
{
    static const uint8_t zero[16] = {0};
    struct qt_crypto_key *k = NULL;
    uint8_t kcv[3];

    /* AES-128 with the zero key on the zero block: 66e94bd4ef8a2c3b... */
    cr_assert_eq(qt_crypto_key_secret(lc, QT_CRYPTO_KEY_AES, zero, 16, &k), QT_OK);
    cr_assert_eq(qt_crypto_key_check_value(k, kcv), QT_OK);
    assert_bytes(kcv, "\x66\xe9\x4b", 3);
    qt_crypto_key_free(k);
    /* Generic: SHA-1("abc") = a9993e36... */
    cr_assert_eq(qt_crypto_key_secret(lc, QT_CRYPTO_KEY_GENERIC_SECRET, (const uint8_t *)"abc", 3,
                                      &k),
                 QT_OK);
    cr_assert_eq(qt_crypto_key_check_value(k, kcv), QT_OK);
    assert_bytes(kcv, "\xa9\x99\x3e", 3);
    qt_crypto_key_free(k);
    cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_P256, &k), QT_OK);
    cr_assert_eq(qt_crypto_key_check_value(k, kcv), QT_E_ARG);
    qt_crypto_key_free(k);
}

Test(crypto_key, fingerprint_is_sha256_of_spki)
{
    struct qt_crypto_key *k = NULL;
    struct qt_buf spki = {0};
    uint8_t fp[32], exp[32];
    unsigned int n = 0;
    EVP_MD *md = EVP_MD_fetch(lc, "SHA256", NULL);

    cr_assert_eq(qt_crypto_ec_generate(lc, QT_CRYPTO_CURVE_ED25519, &k), QT_OK);
    cr_assert_eq(qt_crypto_key_fingerprint(k, fp), QT_OK);
    cr_assert_eq(qt_crypto_key_spki(k, &spki), QT_OK);
    cr_assert_eq(spki.len, 44); /* RFC 8410 Ed25519 SPKI */
    cr_assert(EVP_Digest(spki.p, spki.len, exp, &n, md, NULL));
    assert_bytes(fp, exp, 32);
    EVP_MD_free(md);
    qt_buf_clear(&spki);
    qt_crypto_key_free(k);
}

Test(crypto_key, null_safety)
{
    qt_crypto_key_free(NULL);
    qt_crypto_rsa_attrs_clear(NULL);
    qt_crypto_ec_attrs_clear(NULL);
    cr_assert_eq(qt_crypto_key_type(NULL), QT_CRYPTO_KEY_NONE);
    cr_assert_eq(qt_crypto_key_bits(NULL), 0);
    cr_assert_not(qt_crypto_key_is_private(NULL));
}
