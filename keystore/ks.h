/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The token store: one SQLite database per token under the store directory.
 * DRAFT CONTRACT written before the implementation; keystore/ owns it and may
 * extend it, but keeps these names and meanings so pkcs11/ can build on it.
 *
 * Objects are attribute lists (CK_ATTRIBUTE_TYPE, bytes).  The keystore
 * decides from the attribute types what is sealed (CKA_VALUE of secret and
 * private keys, private-key components, every attribute of a private object)
 * and what is MAC-authenticated (policy attributes: class, key type, private,
 * sensitive, extractable, modifiable, copyable, destroyable, always-sensitive,
 * never-extractable, local, allowed mechanisms, wrap/unwrap templates).
 *
 * Randomness (master keys, IVs, salts) comes from the caller's rng callback,
 * which pkcs11/ points at the QRNG DRBG; keystore/ never picks a source.
 *
 * Threading: one struct qt_ks_token is used under the caller's lock (the
 * PKCS#11 module lock).  Many processes may open the same file at once.
 */
#ifndef QT_KEYSTORE_KS_H
#define QT_KEYSTORE_KS_H

#include <stddef.h>
#include <stdint.h>
#include "../src/common/err.h"

typedef qt_rc (*qt_ks_rng_fn)(void *ctx, uint8_t *out, size_t n);

struct qt_ks_env {
    const char *store_dir;     /* directory holding token databases */
    const char *install_dir;   /* installation state dir (device key lives here) */
    qt_ks_rng_fn rng;          /* required */
    void *rng_ctx;
    unsigned pin_max_failures; /* default 10 */
};

struct qt_ks_kdf_params {
    uint32_t memory_kib;       /* Argon2id m (default 65536) */
    uint32_t passes;           /* t (default 3) */
    uint32_t lanes;            /* p (default 1) */
};

enum qt_ks_user {
    QT_KS_SO = 0,
    QT_KS_USER = 1,
};

struct qt_ks_token_info {
    char label[33];            /* NUL-terminated, not padded */
    char serial[17];
    char path[1024];
    int user_pin_initialized;
    int user_pin_locked, so_pin_locked;
    unsigned user_failures, so_failures, max_failures;
    struct qt_ks_kdf_params kdf;
};

/* One attribute.  val is owned by whoever allocated the array. */
struct qt_attr {
    unsigned long type;        /* CK_ATTRIBUTE_TYPE */
    uint8_t *val;
    size_t len;
};

struct qt_ks_token;

/* Lists token database paths in env->store_dir (sorted by label). *paths is a
 * malloc'ed array of malloc'ed strings: free with qt_ks_free_list. */
qt_rc qt_ks_list(const struct qt_ks_env *env, char ***paths, size_t *n) QT_MUST_CHECK;
void qt_ks_free_list(char **paths, size_t n);

/* Creates a new token (QT_E_EXISTS if label taken): master key drawn from
 * env->rng, wrapped under the SO PIN. */
qt_rc qt_ks_token_create(const struct qt_ks_env *env, const char *label, const uint8_t *so_pin,
                         size_t so_pin_len, const struct qt_ks_kdf_params *kdf,
                         struct qt_ks_token **out) QT_MUST_CHECK;
qt_rc qt_ks_token_open(const struct qt_ks_env *env, const char *path,
                       struct qt_ks_token **out) QT_MUST_CHECK;
void qt_ks_token_close(struct qt_ks_token *t); /* NULL-safe; wipes the master key */
qt_rc qt_ks_token_info(struct qt_ks_token *t, struct qt_ks_token_info *out) QT_MUST_CHECK;

/* Login: counter persisted before the check.  QT_E_PIN_INCORRECT, QT_E_PIN_LOCKED. */
qt_rc qt_ks_login(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t *pin,
                  size_t pin_len) QT_MUST_CHECK;
void qt_ks_logout(struct qt_ks_token *t);
int qt_ks_logged_in(const struct qt_ks_token *t); /* -1 none, else enum qt_ks_user */
/* SO logged in: (re)sets the user PIN, unlocks it, resets its counter. */
qt_rc qt_ks_init_pin(struct qt_ks_token *t, const uint8_t *pin, size_t pin_len) QT_MUST_CHECK;
/* Re-wraps the master key under new PIN (who is the logged-in user, or the
 * user whose old PIN is checked). */
qt_rc qt_ks_set_pin(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t *old_pin,
                    size_t old_len, const uint8_t *new_pin, size_t new_len) QT_MUST_CHECK;
/* New master key; re-seals every object in one transaction (needs login). */
qt_rc qt_ks_rekey(struct qt_ks_token *t) QT_MUST_CHECK;

/* Objects.  ids are stable 64-bit row ids.  Creating/reading private objects
 * needs a logged-in user. */
qt_rc qt_ks_obj_create(struct qt_ks_token *t, const struct qt_attr *attrs, size_t n,
                       uint64_t *id) QT_MUST_CHECK;
qt_rc qt_ks_obj_get(struct qt_ks_token *t, uint64_t id, struct qt_attr **attrs,
                    size_t *n) QT_MUST_CHECK;
qt_rc qt_ks_obj_update(struct qt_ks_token *t, uint64_t id, const struct qt_attr *attrs,
                       size_t n) QT_MUST_CHECK; /* replaces the attribute set */
qt_rc qt_ks_obj_destroy(struct qt_ks_token *t, uint64_t id) QT_MUST_CHECK;
/* Ids of objects matching every attribute in tmpl (n may be 0); private
 * objects only when logged in as user.  *ids malloc'ed (free()). */
qt_rc qt_ks_obj_find(struct qt_ks_token *t, const struct qt_attr *tmpl, size_t n, uint64_t **ids,
                     size_t *count) QT_MUST_CHECK;
/* Wipes and frees an attribute array from qt_ks_obj_get. NULL-safe. */
void qt_ks_attrs_free(struct qt_attr *attrs, size_t n);

/* Transactions: calls between begin and commit are atomic (nestable via
 * savepoints).  Used to append the attestation record with its event. */
qt_rc qt_ks_txn_begin(struct qt_ks_token *t) QT_MUST_CHECK;
qt_rc qt_ks_txn_commit(struct qt_ks_token *t) QT_MUST_CHECK;
void qt_ks_txn_rollback(struct qt_ks_token *t);

/* Attestation log storage (records are built and signed by attest/).
 * tail: the last record's seq and text (seq 0 / NULL when empty). */
qt_rc qt_ks_log_append(struct qt_ks_token *t, uint64_t seq, const char *jws) QT_MUST_CHECK;
qt_rc qt_ks_log_tail(struct qt_ks_token *t, uint64_t *seq, char **jws) QT_MUST_CHECK;
/* Calls fn for each record in seq order; stops on non-QT_OK and returns it. */
qt_rc qt_ks_log_each(struct qt_ks_token *t, qt_rc (*fn)(void *ctx, uint64_t seq, const char *jws),
                     void *ctx) QT_MUST_CHECK;

/* Verifies every seal and MAC; calls report for each damaged object.
 * Returns QT_OK if none, QT_E_TAMPER otherwise. */
qt_rc qt_ks_check(struct qt_ks_token *t, void (*report)(void *ctx, uint64_t id, const char *what),
                  void *ctx) QT_MUST_CHECK;

#endif
