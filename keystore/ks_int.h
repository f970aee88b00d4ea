/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the keystore's files (never included outside
 * keystore/): the token handle, the key set held after login, the row crypto
 * of ks_wrap.c and the object code of ks_object.c.  FORMAT.md describes the
 * bytes these produce.
 */
#ifndef QT_KEYSTORE_KS_INT_H
#define QT_KEYSTORE_KS_INT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/common/buf.h"
#include "../src/common/err.h"
#include "../src/common/mem.h"
#include "ks.h"

#define KS_KEY 32u
#define KS_IV 12u
#define KS_TAG 16u
#define KS_SALT 16u
#define KS_SEAL_OVERHEAD (KS_IV + KS_TAG)
#define KS_WRAP_LEN (KS_IV + KS_KEY + KS_TAG)
#define KS_SERIAL_LEN 16u
#define KS_SCHEMA_VERSION 2
#define KS_MAX_ATTRS 1024u
#define KS_MAX_VALUE (1024u * 1024u)
#define KS_WHOLE_OBJECT UINT64_MAX /* "attribute type" in the AAD of a whole-object seal */
#define KS_BUSY_MS 10000
#define KS_TAMPER_PENDING 64u

/* token.flags bits */
#define KS_FLAG_PORTABLE 1u /* a backup: bound keys derive from the master key */

/* Keys that seal and authenticate rows.  "bound" keys are derived from the
 * installation's device key (or, in a backup, from the master key). */
struct ks_keyset {
    uint8_t seal[KS_KEY];  /* HKDF(master): private objects and their attributes */
    uint8_t bseal[KS_KEY]; /* bound: sensitive values of public objects */
    uint8_t bmac[KS_KEY];  /* bound: MAC of every row and of the token record */
};

/* Secret state of a handle, in one qt_secret block. */
struct ks_secrets {
    uint8_t mk[KS_KEY];     /* master key (valid when logged in) */
    uint8_t kek[KS_KEY];    /* the logged-in role's PIN key */
    uint8_t devkey[KS_KEY]; /* installation device key */
    struct ks_keyset keys;
};

struct qt_ks_token {
    sqlite3 *db;
    char *path;
    char *store_dir;
    char *install_dir;
    qt_ks_rng_fn rng;
    void *rng_ctx;
    unsigned max_failures;
    void (*on_tamper)(void *ctx, const char *path, uint64_t id);
    void *tamper_ctx;
    qt_ks_tamper_fn after_tamper; /* qt_ks_token_set_tamper_hook */
    void *after_tamper_ctx;
    uint64_t tamper_pending[KS_TAMPER_PENDING];
    size_t n_tamper_pending;
    int tamper_delivering;
    char serial[KS_SERIAL_LEN + 1];
    uint32_t flags;
    int who;         /* -1 logged out, else enum qt_ks_user */
    uint64_t mk_gen; /* generation of sec->mk when logged in */
    int txn_depth;
    struct qt_secret sec; /* struct ks_secrets */
    sqlite3_stmt *st_version; /* PRAGMA data_version, prepared once */
};

static inline struct ks_secrets *
ks_sec(struct qt_ks_token *t)
{
    return (struct ks_secrets *)(void *)t->sec.p;
}

/* ks_wrap.c: primitives */
qt_rc qt_ks_wrap_kek(const uint8_t *pin, size_t pin_len, const uint8_t salt[KS_SALT],
                     const struct qt_ks_kdf_params *kdf, uint8_t out[KS_KEY]) QT_MUST_CHECK;
qt_rc qt_ks_wrap_hkdf(const uint8_t key[KS_KEY], const char *salt, const char *info,
                      uint8_t out[KS_KEY]) QT_MUST_CHECK;
qt_rc qt_ks_wrap_hmac(const uint8_t key[KS_KEY], const uint8_t *p, size_t n,
                      uint8_t out[KS_KEY]) QT_MUST_CHECK;
/* Appends IV || ciphertext || tag to out. */
qt_rc qt_ks_wrap_seal(struct qt_ks_token *t, const uint8_t key[KS_KEY], const uint8_t *aad,
                      size_t aad_len, const uint8_t *pt, size_t n,
                      struct qt_buf *out) QT_MUST_CHECK;
/* Opens IV || ct || tag into pt (capacity n - KS_SEAL_OVERHEAD).  QT_E_TAMPER. */
qt_rc qt_ks_wrap_open(const uint8_t key[KS_KEY], const uint8_t *aad, size_t aad_len,
                      const uint8_t *in, size_t n, uint8_t *pt) QT_MUST_CHECK;
/* Loads install_dir/device.key, creating it atomically on first use. */
qt_rc qt_ks_wrap_device_key(const char *install_dir, qt_ks_rng_fn rng, void *rng_ctx,
                            uint8_t out[KS_KEY]) QT_MUST_CHECK;
/* Derives keys->seal from mk. */
qt_rc qt_ks_wrap_master_keys(const char *serial, const uint8_t mk[KS_KEY],
                             struct ks_keyset *keys) QT_MUST_CHECK;
/* Derives keys->bseal/bmac from the device key, or from mk when portable. */
qt_rc qt_ks_wrap_bound_keys(const char *serial, const uint8_t key[KS_KEY], int portable,
                            struct ks_keyset *keys) QT_MUST_CHECK;
int qt_ks_wrap_is_sensitive(unsigned long cls, unsigned long type);

/* Attribute list encoding.  encode seals sensitive values under key (AAD =
 * serial || id || type || ver); decode opens them.  Decoded values are
 * malloc'ed; free with qt_ks_attrs_free. */
qt_rc qt_ks_wrap_encode_attrs(struct qt_ks_token *t, const struct qt_attr *attrs, size_t n,
                              unsigned long cls, const uint8_t key[KS_KEY], uint64_t id,
                              uint64_t ver, struct qt_buf *out) QT_MUST_CHECK;
qt_rc qt_ks_wrap_decode_attrs(struct qt_ks_token *t, const uint8_t *p, size_t len,
                              const uint8_t key[KS_KEY], uint64_t id, uint64_t ver,
                              struct qt_attr **attrs, size_t *n) QT_MUST_CHECK;
/* AAD of one seal: serial || u64 id || u64 type || u64 ver. */
qt_rc qt_ks_wrap_aad(const char *serial, uint64_t id, uint64_t type, uint64_t ver,
                     uint8_t out[KS_SERIAL_LEN + 24]) QT_MUST_CHECK;

/* ks_sqlite.c: helpers used by ks_object.c */
qt_rc qt_ks_sqlite_rc(struct qt_ks_token *t, int src);
/* Verifies that the handle's master key is the database's current one (a
 * rekey in another handle logs this one out).  Needs the caller's txn. */
qt_rc qt_ks_sqlite_check_gen(struct qt_ks_token *t) QT_MUST_CHECK;
qt_rc qt_ks_sqlite_read_begin(struct qt_ks_token *t) QT_MUST_CHECK;
/* An object failed its MAC or seal: env->on_tamper now, the handle's
 * tamper hook once the outermost transaction ends. */
void qt_ks_sqlite_note_tamper(struct qt_ks_token *t, uint64_t id);

/* ks_object.c: the SELECT used by qt_ks_obj_find for a template holding
 * CKA_CLASS (mask bit 0), CKA_ID (bit 1), CKA_LABEL (bit 2); for tests. */
const char *qt_ks_object_find_sql(unsigned mask);
/* ks_object.c: re-encodes every object row from one key set to another,
 * inside the caller's transaction; ver+1 for each row. */
qt_rc qt_ks_object_reseal_all(struct qt_ks_token *t, const struct ks_keyset *from,
                              const struct ks_keyset *to) QT_MUST_CHECK;
/* Verifies every row under keys; report as qt_ks_check. */
qt_rc qt_ks_object_check_all(struct qt_ks_token *t, const struct ks_keyset *keys, int have_mk,
                             void (*report)(void *ctx, uint64_t id, const char *what), void *ctx,
                             uint64_t *unverified, int *damaged) QT_MUST_CHECK;

#endif
