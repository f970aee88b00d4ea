/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the token record and the SQLite helpers of ks_sqlite.c shared
 * with ks_pin.c, ks_object.c and ks_backup.c.  Never included outside
 * keystore/.
 */
#ifndef QT_KEYSTORE_KS_SQLITE_H
#define QT_KEYSTORE_KS_SQLITE_H

#include "ks_int.h"

/* One role's PIN state in the token record. */
struct ks_pinrow {
    int set;                  /* 0: no PIN (user PIN not initialised) */
    uint8_t salt[KS_SALT];
    uint8_t wrap[KS_WRAP_LEN]; /* GCM(KEK, master key of generation gen) */
    uint64_t gen;
    uint32_t fail;            /* consecutive failed attempts */
};

/* The token record (table token, one row), authenticated by its MAC. */
struct ks_tokrow {
    char label[QT_KS_LABEL_MAX + 1];
    uint32_t flags;
    struct qt_ks_kdf_params kdf;
    uint64_t mk_gen;
    struct ks_pinrow pin[2];  /* indexed by enum qt_ks_user */
};

qt_rc qt_ks_sqlite_exec(struct qt_ks_token *t, const char *sql) QT_MUST_CHECK;
qt_rc qt_ks_sqlite_prepare(struct qt_ks_token *t, const char *sql,
                           sqlite3_stmt **st) QT_MUST_CHECK;
/* The first column of the one row sql returns (an aggregate, a pragma, a
 * single-row table): QT_E_FORMAT when it returns none. */
qt_rc qt_ks_sqlite_int64(struct qt_ks_token *t, const char *sql, int64_t *out) QT_MUST_CHECK;
/* Binds p (NULL: SQL NULL; n == 0: an empty blob). */
qt_rc qt_ks_sqlite_bind_blob(struct qt_ks_token *t, sqlite3_stmt *st, int i, const void *p,
                             size_t n) QT_MUST_CHECK;
/* Reads the record; verify: check its MAC under the handle's bound MAC key. */
qt_rc qt_ks_sqlite_tokrow_read(struct qt_ks_token *t, struct ks_tokrow *r,
                               int verify) QT_MUST_CHECK;
/* Writes the record with a fresh MAC (insert: the first time). */
qt_rc qt_ks_sqlite_tokrow_write(struct qt_ks_token *t, const struct ks_tokrow *r,
                                int insert) QT_MUST_CHECK;
qt_rc qt_ks_sqlite_open_ex(const struct qt_ks_env *env, const char *path, int allow_portable,
                           struct qt_ks_token **out) QT_MUST_CHECK;
/* Store-wide lock (flock on <store>/.lock) around label checks and renames. */
qt_rc qt_ks_store_lock(const char *store_dir, int *fd) QT_MUST_CHECK;
void qt_ks_store_unlock(int fd);
qt_rc qt_ks_store_label_free(const char *store_dir, const char *label, const char *serial,
                              const char *skip_path) QT_MUST_CHECK;
qt_rc qt_ks_sqlite_check_kdf(const struct qt_ks_kdf_params *k) QT_MUST_CHECK;
qt_rc qt_ks_sqlite_fsync_dir(const char *dir) QT_MUST_CHECK;
qt_rc qt_ks_sqlite_create_file(struct qt_ks_token *t) QT_MUST_CHECK;

/* ks_pin.c */
/* New salt and KEK for pin; wraps mk (generation gen) into *p (fail = 0).
 * kek_out (may be NULL) receives the KEK. */
qt_rc qt_ks_pin_make_wrap(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t *pin,
                          size_t pin_len, const struct qt_ks_kdf_params *kdf,
                          const uint8_t mk[KS_KEY], uint64_t gen, struct ks_pinrow *p,
                          uint8_t *kek_out) QT_MUST_CHECK;
/* Uncounted: derives the KEK from pin, opens who's wrap and follows the key
 * chain to r->mk_gen.  QT_E_PIN_INCORRECT if the wrap does not open. */
qt_rc qt_ks_pin_unwrap(struct qt_ks_token *t, const struct ks_tokrow *r, enum qt_ks_user who,
                       const uint8_t *pin, size_t pin_len, uint8_t mk[KS_KEY],
                       uint8_t kek[KS_KEY]) QT_MUST_CHECK;
/* Sets the handle's logged-in state from mk/kek. */
qt_rc qt_ks_pin_set_login(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t mk[KS_KEY],
                          const uint8_t kek[KS_KEY], uint64_t gen) QT_MUST_CHECK;

#endif
