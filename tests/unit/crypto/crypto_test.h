/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers for the src/crypto unit tests: a private library context with the
 * default libctx poisoned (the "null" provider is loaded into it, so any
 * OpenSSL call that silently falls back to the default libctx fails the
 * test), hex decoding, and "name = hex" vector files in tests/vectors/.
 */
#ifndef QT_TEST_CRYPTO_TEST_H
#define QT_TEST_CRYPTO_TEST_H

#include <criterion/criterion.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../src/crypto/crypto.h"

static OSSL_LIB_CTX *lc;
static OSSL_PROVIDER *null_prov;

static void
crypto_setup(void)
{
    /* Poison the default libctx: our code must never use it implicitly. */
    null_prov = OSSL_PROVIDER_load(NULL, "null");
    cr_assert_not_null(null_prov);
    lc = OSSL_LIB_CTX_new();
    cr_assert_not_null(lc);
}

static void
crypto_teardown(void)
{
    OSSL_LIB_CTX_free(lc);
    OSSL_PROVIDER_unload(null_prov);
    lc = NULL;
}

static __attribute__((unused)) size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;

    while (hex[0] != '\0' && hex[1] != '\0') {
        unsigned v;

        if (hex[0] == ' ' || hex[0] == '\n') {
            hex++;
            continue;
        }
        cr_assert(sscanf(hex, "%2x", &v) == 1, "bad hex at %s", hex);
        cr_assert(n < cap, "hex too long");
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

/* Reads `key = hex` from tests/vectors/<file>; returns the length. */
static __attribute__((unused)) size_t
vec_get(const char *file, const char *key, uint8_t *out, size_t cap)
{
    char path[512];
    char line[8192];
    size_t klen = strlen(key);
    size_t n = 0;
    int found = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", QT_TEST_VECTORS, file);
    f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, klen) == 0 && strncmp(line + klen, " = ", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            n = unhex(line + klen + 3, out, cap);
            found = 1;
            break;
        }
    }
    fclose(f);
    cr_assert(found, "%s not in %s", key, file);
    return n;
}

#define assert_bytes(got, exp, n) cr_assert(memcmp((got), (exp), (n)) == 0, "bytes differ")

#endif
