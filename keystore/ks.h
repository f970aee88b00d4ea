/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The token store: one SQLite database per token under the store directory.
 * Contract between keystore/ and its users (pkcs11/, the CLI).  The file
 * format and its guarantees are described in keystore/FORMAT.md.
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
 * PKCS#11 module lock); distinct handles (even on the same file) may be used
 * from distinct threads at once.  Many processes may open the same file at
 * once: every call reads the database, so objects created or destroyed by
 * another handle or process are seen by the next call, and a wait for the
 * write lock shorter than the busy timeout (10 s) never surfaces as an error.
 *
 * Errors common to most calls: QT_E_ARG (NULL/oversized argument), QT_E_DB
 * (SQLite failure), QT_E_TAMPER (a seal or MAC did not verify: the row was
 * changed on disk), QT_E_NOT_LOGGED_IN (a private object or the master key
 * was needed), QT_E_IO (file system), QT_E_CRYPTO (OpenSSL failure).
 */
#ifndef QT_KEYSTORE_KS_H
#define QT_KEYSTORE_KS_H

#include <stddef.h>
#include <stdint.h>
#include "../src/common/devkey.h"
#include "../src/common/err.h"

typedef qt_rc (*qt_ks_rng_fn)(void *ctx, uint8_t *out, size_t n);

/* The environment is copied by qt_ks_token_create/open/restore: the strings
 * need not outlive the call; rng_ctx must outlive every handle. */
struct qt_ks_env {
    const char *store_dir;     /* directory holding token databases */
    const char *install_dir;   /* installation state dir (device key lives here) */
    qt_ks_rng_fn rng;          /* required */
    void *rng_ctx;
    unsigned pin_max_failures; /* 0 means the default, 10 */
    /* Optional: told about each object that fails its MAC or seal when
     * qt_ks_obj_get refuses it or qt_ks_obj_find skips it (path of the
     * token file, object id).  Called inside the keystore's read
     * transaction: it must not call back into the same handle; queue the
     * event (e.g. an attestation record) and write it afterwards. */
    void (*on_tamper)(void *ctx, const char *path, uint64_t id);
    void *tamper_ctx;
};

#define QT_KS_DEFAULT_MAX_FAILURES 10u
#define QT_KS_DEFAULT_MEMORY_KIB 65536u
#define QT_KS_DEFAULT_PASSES 3u
#define QT_KS_DEFAULT_LANES 1u
#define QT_KS_LABEL_MAX 32u        /* bytes, like CK_TOKEN_INFO.label */
#define QT_KS_PIN_MAX 255u         /* bytes; 0-length PINs are QT_E_PIN_INVALID */
#define QT_KS_DEVICE_KEY_FILE QT_DEVKEY_FILE /* src/common/devkey.h */

struct qt_ks_kdf_params {
    uint32_t memory_kib;       /* Argon2id m (default 65536) */
    uint32_t passes;           /* t (default 3) */
    uint32_t lanes;            /* p (default 1) */
};

/* Fills p with the defaults above. */
void qt_ks_kdf_defaults(struct qt_ks_kdf_params *p);

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
    /* Consecutive failed logins since the last success; locked means
     * failures >= max_failures.  CKF_*_PIN_COUNT_LOW: failures > 0;
     * CKF_*_PIN_FINAL_TRY: failures == max_failures - 1. */
    unsigned user_failures, so_failures, max_failures;
    struct qt_ks_kdf_params kdf;
    uint64_t mk_generation;    /* 1 at creation, +1 per qt_ks_rekey */
    uint64_t objects;          /* rows in the object table (public and private) */
};

/* One attribute.  val is owned by whoever allocated the array. */
struct qt_attr {
    unsigned long type;        /* CK_ATTRIBUTE_TYPE */
    uint8_t *val;
    size_t len;
};

struct qt_ks_token;

/* Lists token database paths in env->store_dir (files "tok-<serial>.db",
 * sorted by label; the "installation" directory and unfinished creations are
 * skipped).  A missing store_dir is an empty list.  *paths is a malloc'ed
 * array of malloc'ed strings: free with qt_ks_free_list. */
qt_rc qt_ks_list(const struct qt_ks_env *env, char ***paths, size_t *n) QT_MUST_CHECK;
void qt_ks_free_list(char **paths, size_t n);

/* Creates a new token (QT_E_EXISTS if label taken): master key drawn from
 * env->rng, wrapped under the SO PIN.  kdf NULL: defaults.  The user PIN is
 * not initialised (qt_ks_init_pin).  The file appears atomically: a crash
 * leaves no half-made token.  *out is a handle, not logged in. */
qt_rc qt_ks_token_create(const struct qt_ks_env *env, const char *label, const uint8_t *so_pin,
                         size_t so_pin_len, const struct qt_ks_kdf_params *kdf,
                         struct qt_ks_token **out) QT_MUST_CHECK;
/* Opens the token at path (migrating an older schema in place), verifies the
 * token record's MAC.  QT_E_NOTFOUND: no such file; QT_E_UNSUPPORTED: schema
 * newer than this code; QT_E_STATE: the file is a backup (qt_ks_restore). */
qt_rc qt_ks_token_open(const struct qt_ks_env *env, const char *path,
                       struct qt_ks_token **out) QT_MUST_CHECK;
/* Opens the token whose label is label; QT_E_NOTFOUND if none. */
qt_rc qt_ks_token_open_label(const struct qt_ks_env *env, const char *label,
                             struct qt_ks_token **out) QT_MUST_CHECK;
/* Re-initialises the token (PKCS#11 C_InitToken on an initialised token):
 * checks so_pin (counted like a login), destroys every object, removes the
 * user PIN, sets the new label (QT_E_EXISTS if another token has it), all in
 * one transaction.  The attestation log is kept.  The handle ends logged out. */
qt_rc qt_ks_token_reinit(struct qt_ks_token *t, const uint8_t *so_pin, size_t so_pin_len,
                         const char *label) QT_MUST_CHECK;
/* Removes the token's files (database, -wal, -shm).  Consumes t. */
qt_rc qt_ks_token_delete(struct qt_ks_token *t) QT_MUST_CHECK;
void qt_ks_token_close(struct qt_ks_token *t); /* NULL-safe; wipes the master key */

/* SQLite's PRAGMA data_version for t's connection: the value changes
 * whenever another connection (another process, or another handle on the
 * same file) has committed to the database since the previous call; this
 * handle's own commits do not change it.  A prepared statement, a few
 * hundred nanoseconds: callers that keep what they read from this handle
 * (the module's token-object attributes) re-read when it changes. */
qt_rc qt_ks_data_version(struct qt_ks_token *t, uint64_t *out) QT_MUST_CHECK;
qt_rc qt_ks_token_info(struct qt_ks_token *t, struct qt_ks_token_info *out) QT_MUST_CHECK;

/* Login: the failure counter is verified (MAC) and incremented on disk before
 * the PIN is checked, reset on success.  QT_E_PIN_INCORRECT, QT_E_PIN_LOCKED
 * (failures >= max: nothing checked), QT_E_PIN_INVALID (length 0 or > 255),
 * QT_E_STATE (user PIN not initialised).  The wrong PIN that reaches the
 * limit returns QT_E_PIN_INCORRECT; the next attempt QT_E_PIN_LOCKED.
 * Already logged in as who: re-checks the PIN (CKU_CONTEXT_SPECIFIC), counted
 * the same way, and stays logged in whatever the outcome; logged in as the
 * other role: QT_E_STATE. */
qt_rc qt_ks_login(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t *pin,
                  size_t pin_len) QT_MUST_CHECK;
/* Told about a wrong PIN: failures is who's counter after this attempt (the
 * attempt that reaches max_failures locks the PIN).  Called inside a write
 * transaction on the handle (it may append log records to it: they commit
 * together with the counter's re-verification, or not at all). */
typedef qt_rc (*qt_ks_fail_fn)(void *ctx, enum qt_ks_user who, unsigned failures,
                               unsigned max_failures);
/* qt_ks_login, and on QT_E_PIN_INCORRECT: after the counter was incremented
 * and committed (before the PIN check, as above) and the PIN found wrong,
 * one transaction re-reads and verifies (MAC) the counter row and calls
 * on_fail (may be NULL) with its value.  If on_fail or that transaction
 * fails, its writes are rolled back and its error is returned instead of
 * QT_E_PIN_INCORRECT (the counter stays incremented).  A process killed
 * during the PIN check leaves the increment without the callback. */
qt_rc qt_ks_login_cb(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t *pin,
                     size_t pin_len, qt_ks_fail_fn on_fail, void *ctx) QT_MUST_CHECK;
void qt_ks_logout(struct qt_ks_token *t);
int qt_ks_logged_in(const struct qt_ks_token *t); /* -1 none, else enum qt_ks_user */
/* SO logged in (else QT_E_NOT_LOGGED_IN): (re)sets the user PIN, unlocks it,
 * resets its counter. */
qt_rc qt_ks_init_pin(struct qt_ks_token *t, const uint8_t *pin, size_t pin_len) QT_MUST_CHECK;
/* Re-wraps the master key under new PIN (who is the logged-in user, or the
 * user whose old PIN is checked).  old_pin is always checked, counted like a
 * login (QT_E_PIN_INCORRECT / QT_E_PIN_LOCKED).  Objects are not touched. */
qt_rc qt_ks_set_pin(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t *old_pin,
                    size_t old_len, const uint8_t *new_pin, size_t new_len) QT_MUST_CHECK;
/* New master key from env->rng; re-seals every private object in one
 * transaction (needs login, user or SO).  The logged-in role's wrap is
 * re-made; the other role's PIN still opens the old key, which opens the new
 * one through a chain record until that role logs in once (FORMAT.md).
 * Other handles logged in under the old key get QT_E_NOT_LOGGED_IN. */
qt_rc qt_ks_rekey(struct qt_ks_token *t) QT_MUST_CHECK;
/* qt_ks_rekey calling in_txn (may be NULL) inside the rekey's transaction,
 * after every row was re-sealed and the token record written, before the
 * commit, with the new master-key generation: what in_txn writes to the
 * handle (e.g. the `rekey` attestation record) commits with the rotation;
 * an error from in_txn rolls the rotation back and is returned. */
qt_rc qt_ks_rekey_cb(struct qt_ks_token *t, qt_rc (*in_txn)(void *ctx, uint64_t generation),
                     void *ctx) QT_MUST_CHECK;

/* Objects.  ids are stable 64-bit row ids, never reused.  Creating/reading/
 * modifying/destroying private objects needs a logged-in user.  An object is
 * private when it has CKA_PRIVATE = CK_TRUE, or when CKA_PRIVATE is absent
 * and its class is CKO_PRIVATE_KEY or CKO_SECRET_KEY.  CKA_CLASS is required
 * (a CK_ULONG).  Values of CKA_VALUE, CKA_PRIVATE_EXPONENT, CKA_PRIME_1/2,
 * CKA_EXPONENT_1/2, CKA_COEFFICIENT (and vendor-defined attributes) of
 * private and secret keys are sealed on their own; a private object is also
 * sealed whole; a public key object's sensitive values are sealed under the
 * device key.  Limits: 1024 attributes, 1 MiB per value (QT_E_RANGE).
 * get: QT_E_NOTFOUND if id does not exist (or is private and the user is not
 * logged in: private objects are invisible then). */
qt_rc qt_ks_obj_create(struct qt_ks_token *t, const struct qt_attr *attrs, size_t n,
                       uint64_t *id) QT_MUST_CHECK;
qt_rc qt_ks_obj_get(struct qt_ks_token *t, uint64_t id, struct qt_attr **attrs,
                    size_t *n) QT_MUST_CHECK;
qt_rc qt_ks_obj_update(struct qt_ks_token *t, uint64_t id, const struct qt_attr *attrs,
                       size_t n) QT_MUST_CHECK; /* replaces the attribute set */
qt_rc qt_ks_obj_destroy(struct qt_ks_token *t, uint64_t id) QT_MUST_CHECK;
/* Ids of objects matching every attribute in tmpl (n may be 0); private
 * objects only when logged in as user.  *ids malloc'ed (free()), ascending;
 * *ids may be NULL when *count is 0.  CKA_CLASS, CKA_ID and CKA_LABEL in
 * tmpl are answered by an index.  A row that fails its MAC or seal is
 * skipped (and logged), never returned: qt_ks_check names it. */
qt_rc qt_ks_obj_find(struct qt_ks_token *t, const struct qt_attr *tmpl, size_t n, uint64_t **ids,
                     size_t *count) QT_MUST_CHECK;
/* Wipes and frees an attribute array from qt_ks_obj_get. NULL-safe. */
void qt_ks_attrs_free(struct qt_attr *attrs, size_t n);

/* Transactions: calls between begin and commit are atomic (nestable via
 * savepoints).  Used to append the attestation record with its event.  The
 * outermost begin takes the write lock (BEGIN IMMEDIATE, waiting up to the
 * busy timeout); keep transactions short.  After a failed call inside a
 * transaction, roll back. */
qt_rc qt_ks_txn_begin(struct qt_ks_token *t) QT_MUST_CHECK;
qt_rc qt_ks_txn_commit(struct qt_ks_token *t) QT_MUST_CHECK;
void qt_ks_txn_rollback(struct qt_ks_token *t);

/* Attestation log storage (records are built and signed by attest/).
 * append: seq must be the tail's seq + 1 (1 for the first), else QT_E_STATE.
 * tail: the last record's seq and text (seq 0 / NULL when empty); *jws is
 * malloc'ed (free()). */
qt_rc qt_ks_log_append(struct qt_ks_token *t, uint64_t seq, const char *jws) QT_MUST_CHECK;
qt_rc qt_ks_log_tail(struct qt_ks_token *t, uint64_t *seq, char **jws) QT_MUST_CHECK;
/* Calls fn for each record in seq order; stops on non-QT_OK and returns it. */
qt_rc qt_ks_log_each(struct qt_ks_token *t, qt_rc (*fn)(void *ctx, uint64_t seq, const char *jws),
                     void *ctx) QT_MUST_CHECK;

/* Verifies the SQLite file (PRAGMA integrity_check), the token record, every
 * object's MAC, every seal it can open (private objects' seals only when
 * logged in; *unverified, if non-NULL, counts the private objects whose
 * seals were not opened), and the log's seq numbering.  Calls report (may
 * be NULL) for each problem; id 0 = not an object.  Returns QT_OK if none,
 * QT_E_TAMPER otherwise (other errors: the check could not run). */
qt_rc qt_ks_check(struct qt_ks_token *t, void (*report)(void *ctx, uint64_t id, const char *what),
                  void *ctx) QT_MUST_CHECK;
qt_rc qt_ks_check_ex(struct qt_ks_token *t,
                     void (*report)(void *ctx, uint64_t id, const char *what), void *ctx,
                     uint64_t *unverified) QT_MUST_CHECK;

/* Backup: needs login (user or SO).  Writes a consistent copy of the token to
 * out_path (SQLite online backup API, then re-sealed in the copy: values and
 * MACs that were under the device key are moved under keys derived from the
 * master key, so the copy is usable on another installation and opens only
 * with a PIN).  The file appears atomically (mode 0600); QT_E_EXISTS if
 * out_path exists. */
qt_rc qt_ks_backup(struct qt_ks_token *t, const char *out_path) QT_MUST_CHECK;
/* Restore: copies the backup at in_path into env->store_dir, logs in as who
 * with pin (no failure counter: the backup is an offline file), verifies every
 * record, re-seals device-bound values under this installation's device key.
 * QT_E_EXISTS if a token with the same serial or label is in the store;
 * QT_E_PIN_INCORRECT on a wrong PIN (nothing is written).  *out is the new
 * handle, logged in as who. */
qt_rc qt_ks_restore(const struct qt_ks_env *env, const char *in_path, enum qt_ks_user who,
                    const uint8_t *pin, size_t pin_len, struct qt_ks_token **out) QT_MUST_CHECK;

/* Optional, per handle (the PKCS#11 layer's attested tamper event): fn is
 * told about each object that qt_ks_obj_get refused or qt_ks_obj_find
 * skipped (as env->on_tamper), but only once the outermost transaction has
 * ended (the call's own read transaction, or the caller's when get/find
 * ran inside one), so fn may use the handle, e.g. append a record in its own
 * transaction.  Ids are queued per handle (duplicates merged; beyond 64
 * pending, more are dropped and logged); calls made by fn that end a
 * transaction do not re-enter fn.  fn NULL removes the hook. */
typedef void (*qt_ks_tamper_fn)(void *ctx, struct qt_ks_token *t, uint64_t id);
void qt_ks_token_set_tamper_hook(struct qt_ks_token *t, qt_ks_tamper_fn fn, void *ctx);

/* The handle's database path (borrowed, valid until close). */
const char *qt_ks_token_path(const struct qt_ks_token *t);

#endif
