/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test fixture for the keystore tests: a private temporary store and
 * installation directory, an OS-random rng callback, cheap Argon2id
 * parameters, attribute builders, and raw SQLite access to the token file
 * for tamper tests.  Header-only (static functions), test code only.
 */
#ifndef QT_TEST_KS_FIXTURE_H
#define QT_TEST_KS_FIXTURE_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <p11-kit/pkcs11.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../keystore/ks.h"
#include "../../../src/common/osrand.h"

static char fx_root[256];
static char fx_store[300];
static char fx_inst[300];
static struct qt_ks_env fx_env;
static const struct qt_ks_kdf_params fx_kdf = {.memory_kib = 64, .passes = 1, .lanes = 1};

static inline qt_rc
fx_rng(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    return qt_os_random(out, n);
}

static inline int
fx_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void
fx_setup(void)
{
    snprintf(fx_root, sizeof(fx_root), "/tmp/qt-ks-test-XXXXXX");
    cr_assert_not_null(mkdtemp(fx_root));
    snprintf(fx_store, sizeof(fx_store), "%s/store", fx_root);
    snprintf(fx_inst, sizeof(fx_inst), "%s/store/installation", fx_root);
    fx_env = (struct qt_ks_env){.store_dir = fx_store,
                                .install_dir = fx_inst,
                                .rng = fx_rng,
                                .rng_ctx = NULL,
                                .pin_max_failures = 3};
}

static inline void
fx_teardown(void)
{
    if (fx_root[0] != '\0') {
        (void)nftw(fx_root, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
    }
}

#define FX_SO_PIN ((const uint8_t *)"so-secret-PIN-4242")
#define FX_SO_LEN (sizeof("so-secret-PIN-4242") - 1)
#define FX_USER_PIN ((const uint8_t *)"user-PIN-31337")
#define FX_USER_LEN (sizeof("user-PIN-31337") - 1)

/* A token with both PINs set, handle logged out. */
static inline struct qt_ks_token *
fx_token(const char *label)
{
    struct qt_ks_token *t = NULL;

    cr_assert_eq(qt_ks_token_create(&fx_env, label, FX_SO_PIN, FX_SO_LEN, &fx_kdf, &t), QT_OK);
    cr_assert_eq(qt_ks_login(t, QT_KS_SO, FX_SO_PIN, FX_SO_LEN), QT_OK);
    cr_assert_eq(qt_ks_init_pin(t, FX_USER_PIN, FX_USER_LEN), QT_OK);
    qt_ks_logout(t);
    return t;
}

static inline struct qt_ks_token *
fx_user_token(const char *label)
{
    struct qt_ks_token *t = fx_token(label);

    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_OK);
    return t;
}

/* Attribute template builder: static storage, up to 16 attributes. */
struct fx_tmpl {
    struct qt_attr a[16];
    uint8_t store[16][64];
    size_t n;
};

static inline void
fx_add(struct fx_tmpl *t, unsigned long type, const void *p, size_t n)
{
    cr_assert_lt(t->n, 16);
    cr_assert_leq(n, 64);
    memcpy(t->store[t->n], p, n);
    t->a[t->n] = (struct qt_attr){.type = type, .val = t->store[t->n], .len = n};
    t->n++;
}

static inline void
fx_ulong(struct fx_tmpl *t, unsigned long type, CK_ULONG v)
{
    fx_add(t, type, &v, sizeof(v));
}

static inline void
fx_bool(struct fx_tmpl *t, unsigned long type, int v)
{
    CK_BBOOL b = v ? CK_TRUE : CK_FALSE;

    fx_add(t, type, &b, 1);
}

static inline void
fx_str(struct fx_tmpl *t, unsigned long type, const char *s)
{
    fx_add(t, type, s, strlen(s));
}

/* A secret key template: AES, value val (32 bytes), label, private flag. */
static inline void
fx_secret(struct fx_tmpl *t, const char *label, const uint8_t val[32], int priv)
{
    memset(t, 0, sizeof(*t));
    fx_ulong(t, CKA_CLASS, CKO_SECRET_KEY);
    fx_ulong(t, CKA_KEY_TYPE, CKK_AES);
    fx_str(t, CKA_LABEL, label);
    fx_add(t, CKA_ID, "\x01\x02", 2);
    fx_bool(t, CKA_PRIVATE, priv);
    fx_bool(t, CKA_SENSITIVE, 0);
    fx_bool(t, CKA_EXTRACTABLE, 1);
    fx_add(t, CKA_VALUE, val, 32);
}

/* A public data object with a label. */
static inline void
fx_data(struct fx_tmpl *t, const char *label)
{
    memset(t, 0, sizeof(*t));
    fx_ulong(t, CKA_CLASS, CKO_DATA);
    fx_str(t, CKA_LABEL, label);
    fx_bool(t, CKA_PRIVATE, 0);
    fx_str(t, CKA_VALUE, "public data");
}

static inline const struct qt_attr *
fx_get(const struct qt_attr *a, size_t n, unsigned long type)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].type == type) {
            return &a[i];
        }
    }
    return NULL;
}

/* Raw SQLite access to a token file (for tamper tests). */
static inline sqlite3 *
fx_raw(const char *path)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static inline void
fx_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;

    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql,
                 err != NULL ? err : "");
}

/* 1 if the n bytes at p occur in the file at path (or path does not exist: 0). */
static inline int
fx_file_contains(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;
    int found = 0;

    if (f == NULL) {
        return 0;
    }
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    cr_assert_eq(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)len + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    for (long i = 0; i + (long)n <= len && !found; i++) {
        found = memcmp(buf + i, p, n) == 0;
    }
    free(buf);
    return found;
}

#endif
