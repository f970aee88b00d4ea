/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digests: FIPS 180 "abc" and the two-block message for every hash, single
 * and multi-part, the two-call length convention and the error paths; the
 * hash table helpers.
 */
#include "crypto_test.h"

TestSuite(crypto_digest, .init = crypto_setup, .fini = crypto_teardown);

static const struct {
    enum qt_crypto_hash h;
    const char *abc;
} kat[] = {
    {QT_CRYPTO_HASH_SHA1, "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {QT_CRYPTO_HASH_SHA224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"},
    {QT_CRYPTO_HASH_SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {QT_CRYPTO_HASH_SHA384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                            "8086072ba1e7cc2358baeca134c825a7"},
    {QT_CRYPTO_HASH_SHA512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
};

Test(crypto_digest, fips180_abc_single_and_multi_part)
{
    for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        struct qt_crypto_digest *d = NULL;
        uint8_t exp[64], out[64];
        size_t el = unhex(kat[i].abc, exp, sizeof(exp));
        size_t ol = 0;

        cr_assert_eq(qt_crypto_hash_len(kat[i].h), el);
        cr_assert_eq(qt_crypto_digest(lc, kat[i].h, (const uint8_t *)"abc", 3, out, sizeof(out)),
                     QT_OK);
        assert_bytes(out, exp, el);
        cr_assert_eq(qt_crypto_digest_new(lc, kat[i].h, &d), QT_OK);
        cr_assert_eq(qt_crypto_digest_update(d, (const uint8_t *)"a", 1), QT_OK);
        cr_assert_eq(qt_crypto_digest_update(d, NULL, 0), QT_OK);
        cr_assert_eq(qt_crypto_digest_update(d, (const uint8_t *)"bc", 2), QT_OK);
        cr_assert_eq(qt_crypto_digest_final(d, NULL, &ol), QT_OK);
        cr_assert_eq(ol, el);
        ol = el - 1;
        cr_assert_eq(qt_crypto_digest_final(d, out, &ol), QT_E_BUFFER_TOO_SMALL);
        cr_assert_eq(ol, el);
        memset(out, 0, sizeof(out));
        cr_assert_eq(qt_crypto_digest_final(d, out, &ol), QT_OK);
        assert_bytes(out, exp, el);
        cr_assert_eq(qt_crypto_digest_final(d, out, &ol), QT_E_STATE);
        cr_assert_eq(qt_crypto_digest_update(d, out, 1), QT_E_STATE);
        qt_crypto_digest_free(d);
    }
}

/* FIPS 180-2 / NIST example: the 56-byte two-block message */
Test(crypto_digest, sha256_two_blocks)
{
    static const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    uint8_t exp[32], out[32];

    unhex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", exp, sizeof(exp));
    cr_assert_eq(qt_crypto_digest(lc, QT_CRYPTO_HASH_SHA256, (const uint8_t *)msg, strlen(msg),
                                  out, sizeof(out)),
                 QT_OK);
    assert_bytes(out, exp, 32);
}

Test(crypto_digest, errors_and_names)
{
    struct qt_crypto_digest *d = NULL;
    uint8_t out[64];

    cr_assert_eq(qt_crypto_digest_new(lc, QT_CRYPTO_HASH_NONE, &d), QT_E_ARG);
    cr_assert_eq(qt_crypto_digest_new(lc, (enum qt_crypto_hash)77, &d), QT_E_ARG);
    cr_assert_eq(qt_crypto_digest_new(lc, QT_CRYPTO_HASH_SHA1, NULL), QT_E_ARG);
    cr_assert_null(d);
    cr_assert_eq(qt_crypto_digest(lc, QT_CRYPTO_HASH_SHA512, out, 1, out, 63),
                 QT_E_BUFFER_TOO_SMALL);
    cr_assert_eq(qt_crypto_digest(lc, QT_CRYPTO_HASH_SHA1, NULL, 1, out, 64), QT_E_ARG);
    cr_assert_eq(qt_crypto_digest_update(NULL, out, 1), QT_E_ARG);
    cr_assert_null(qt_crypto_hash_name(QT_CRYPTO_HASH_NONE));
    cr_assert_str_eq(qt_crypto_hash_name(QT_CRYPTO_HASH_SHA384), "SHA2-384");
    cr_assert_eq(qt_crypto_hash_len(QT_CRYPTO_HASH_NONE), 0);
    qt_crypto_digest_free(NULL);
}
