/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The token database: one SQLite file per token ("tok-<serial>.db" in the
 * store directory).  This file owns opening (WAL, busy timeout, secure
 * delete, defensive mode, mode 0600), the schema and its migrations, the
 * token record and its MAC, transactions (nestable through savepoints),
 * creating, deleting and describing tokens.  Listing and the store lock are
 * in ks_store.c, the log table in ks_log.c, PINs in ks_pin.c, objects in
 * ks_object.c, backup/restore/check in ks_backup.c.
 *
 * All SQL text is a string constant; values are always bound parameters.
 * Every change is one transaction; reads that
 * span several statements run in one read transaction, so they see one
 * snapshot of a database other processes are writing.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/common/check.h"
#include "../src/common/conf.h"
#include "../src/common/log.h"
#include "../src/common/mem.h"
#include "ks_int.h"
#include "ks_sqlite.h"

/* ************************************************************************
 * Schema.  Version 1 lacked the indexes and the attestation log; version 2
 * adds them (FORMAT.md).  A new version appends one step to `migrations`.
 */

static const char schema_v2[] =
    "CREATE TABLE token ("
    " k INTEGER PRIMARY KEY CHECK (k = 1),"
    " label TEXT NOT NULL, serial TEXT NOT NULL, flags INTEGER NOT NULL,"
    " kdf_m INTEGER NOT NULL, kdf_t INTEGER NOT NULL, kdf_p INTEGER NOT NULL,"
    " mk_gen INTEGER NOT NULL,"
    " so_salt BLOB NOT NULL, so_wrap BLOB NOT NULL, so_gen INTEGER NOT NULL,"
    " so_fail INTEGER NOT NULL,"
    " user_salt BLOB, user_wrap BLOB, user_gen INTEGER NOT NULL, user_fail INTEGER NOT NULL,"
    " mac BLOB NOT NULL);"
    "CREATE TABLE mk_chain (gen INTEGER PRIMARY KEY, wrap BLOB NOT NULL);"
    "CREATE TABLE objects ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " ver INTEGER NOT NULL, private INTEGER NOT NULL,"
    " cls BLOB, ckaid BLOB, label BLOB, attrs BLOB, sealed BLOB, mac BLOB NOT NULL);"
    "CREATE INDEX objects_class ON objects(cls);"
    "CREATE INDEX objects_ckaid ON objects(ckaid);"
    "CREATE INDEX objects_label ON objects(label);"
    "CREATE TABLE attest_log (seq INTEGER PRIMARY KEY, jws TEXT NOT NULL);"
    "PRAGMA user_version = 2;";

/* migrations[v - 1] upgrades version v to v + 1. */
static const char *const migrations[] = {
    "CREATE INDEX IF NOT EXISTS objects_class ON objects(cls);"
    "CREATE INDEX IF NOT EXISTS objects_ckaid ON objects(ckaid);"
    "CREATE INDEX IF NOT EXISTS objects_label ON objects(label);"
    "CREATE TABLE IF NOT EXISTS attest_log (seq INTEGER PRIMARY KEY, jws TEXT NOT NULL);"
    "PRAGMA user_version = 2;",
};

/* ************************************************************************
 * SQLite helpers
 */

qt_rc
qt_ks_sqlite_rc(struct qt_ks_token *t, int src)
{
    switch (src & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return QT_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        qt_log(QT_LOG_ERROR, "keystore: database busy beyond %d ms", KS_BUSY_MS);
        return QT_E_TIMEOUT;
    case SQLITE_NOMEM:
        return QT_E_NOMEM;
    case SQLITE_CONSTRAINT:
        return QT_E_EXISTS;
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        qt_log(QT_LOG_ERROR, "keystore: %s", t != NULL && t->db != NULL
                                                  ? sqlite3_errmsg(t->db)
                                                  : sqlite3_errstr(src));
        return QT_E_IO;
    default:
        qt_log(QT_LOG_ERROR, "keystore: sqlite: %s", t != NULL && t->db != NULL
                                                          ? sqlite3_errmsg(t->db)
                                                          : sqlite3_errstr(src));
        return QT_E_DB;
    }
}

qt_rc
qt_ks_sqlite_exec(struct qt_ks_token *t, const char *sql)
{
    QT_ENSURE(t != NULL && t->db != NULL && sql != NULL, QT_E_ARG);
    return qt_ks_sqlite_rc(t, sqlite3_exec(t->db, sql, NULL, NULL, NULL));
}

qt_rc
qt_ks_sqlite_prepare(struct qt_ks_token *t, const char *sql, sqlite3_stmt **st)
{
    QT_ENSURE(t != NULL && t->db != NULL && sql != NULL && st != NULL, QT_E_ARG);
    *st = NULL;
    return qt_ks_sqlite_rc(t, sqlite3_prepare_v2(t->db, sql, -1, st, NULL));
}

qt_rc
qt_ks_sqlite_int64(struct qt_ks_token *t, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int src;
    qt_rc rc;

    QT_ENSURE(out != NULL, QT_E_ARG);
    QT_TRY(qt_ks_sqlite_prepare(t, sql, &st));
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = QT_OK;
    } else {
        rc = src == SQLITE_DONE ? QT_E_FORMAT : qt_ks_sqlite_rc(t, src);
    }
    (void)sqlite3_finalize(st);
    return rc;
}

qt_rc
qt_ks_sqlite_bind_blob(struct qt_ks_token *t, sqlite3_stmt *st, int i, const void *p, size_t n)
{
    if (p == NULL) {
        return qt_ks_sqlite_rc(t, sqlite3_bind_null(st, i));
    }
    QT_ENSURE(n <= INT32_MAX, QT_E_RANGE);
    /* A zero-length blob must stay a blob, not NULL: bind a non-NULL pointer. */
    return qt_ks_sqlite_rc(t, sqlite3_bind_blob(st, i, n > 0 ? p : "", (int)n, SQLITE_TRANSIENT));
}

/* ************************************************************************
 * Transactions
 */

/* Hands the queued tamper notifications to the handle's hook once no
 * transaction is open; the hook may run transactions of its own on t
 * (which end here again: tamper_delivering keeps them from re-entering). */
static void
deliver_tamper(struct qt_ks_token *t)
{
    uint64_t ids[KS_TAMPER_PENDING];
    size_t n;

    if (t->txn_depth != 0 || t->tamper_delivering || t->n_tamper_pending == 0 ||
        t->after_tamper == NULL) {
        return;
    }
    n = t->n_tamper_pending;
    memcpy(ids, t->tamper_pending, n * sizeof(ids[0]));
    t->n_tamper_pending = 0;
    t->tamper_delivering = 1;
    for (size_t i = 0; i < n; i++) {
        t->after_tamper(t->after_tamper_ctx, t, ids[i]);
    }
    t->tamper_delivering = 0;
}

qt_rc
qt_ks_txn_begin(struct qt_ks_token *t)
{
    QT_ENSURE_REF(t);
    /* IMMEDIATE takes the write lock now, waiting through the busy handler;
     * a deferred transaction that later upgrades can fail at once with
     * SQLITE_BUSY in WAL mode, which the busy timeout would not cover. */
    QT_TRY(qt_ks_sqlite_exec(t, t->txn_depth == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT ks"));
    t->txn_depth++;
    return QT_OK;
}

qt_rc
qt_ks_sqlite_read_begin(struct qt_ks_token *t)
{
    QT_ENSURE_REF(t);
    QT_TRY(qt_ks_sqlite_exec(t, t->txn_depth == 0 ? "BEGIN DEFERRED" : "SAVEPOINT ks"));
    t->txn_depth++;
    return QT_OK;
}

qt_rc
qt_ks_txn_commit(struct qt_ks_token *t)
{
    qt_rc rc;

    QT_ENSURE_REF(t);
    QT_ENSURE(t->txn_depth > 0, QT_E_STATE);
    rc = qt_ks_sqlite_exec(t, t->txn_depth == 1 ? "COMMIT" : "RELEASE ks");
    if (rc != QT_OK) {
        qt_ks_txn_rollback(t);
        return rc;
    }
    t->txn_depth--;
    deliver_tamper(t);
    return QT_OK;
}

void
qt_ks_txn_rollback(struct qt_ks_token *t)
{
    if (t == NULL || t->txn_depth == 0) {
        return;
    }
    if (t->txn_depth == 1) {
        if (sqlite3_get_autocommit(t->db) == 0) {
            (void)sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
        }
    } else {
        (void)sqlite3_exec(t->db, "ROLLBACK TO ks; RELEASE ks", NULL, NULL, NULL);
    }
    t->txn_depth--;
    deliver_tamper(t);
}

void
qt_ks_sqlite_note_tamper(struct qt_ks_token *t, uint64_t id)
{
    if (t->on_tamper != NULL) {
        t->on_tamper(t->tamper_ctx, t->path, id);
    }
    if (t->after_tamper == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n_tamper_pending; i++) {
        if (t->tamper_pending[i] == id) {
            return;
        }
    }
    if (t->n_tamper_pending >= KS_TAMPER_PENDING) {
        qt_log(QT_LOG_ERROR, "keystore: tamper hook queue full: object %llu not reported",
               (unsigned long long)id);
        return;
    }
    t->tamper_pending[t->n_tamper_pending++] = id;
}

void
qt_ks_token_set_tamper_hook(struct qt_ks_token *t, qt_ks_tamper_fn fn, void *ctx)
{
    if (t == NULL) {
        return;
    }
    t->after_tamper = fn;
    t->after_tamper_ctx = ctx;
    if (fn == NULL) {
        t->n_tamper_pending = 0;
    }
}

/* ************************************************************************
 * Token record
 */

static qt_rc
tokrow_mac(struct qt_ks_token *t, const struct ks_tokrow *r, const uint8_t key[KS_KEY],
           uint8_t out[KS_KEY])
{
    struct qt_buf b;
    qt_rc rc;

    qt_buf_init(&b);
    if ((rc = qt_buf_put(&b, "qtoken token v2", 15)) != QT_OK ||
        (rc = qt_buf_put_lv(&b, r->label, strlen(r->label))) != QT_OK ||
        (rc = qt_buf_put(&b, t->serial, KS_SERIAL_LEN)) != QT_OK ||
        (rc = qt_buf_put_u32(&b, r->flags)) != QT_OK ||
        (rc = qt_buf_put_u32(&b, r->kdf.memory_kib)) != QT_OK ||
        (rc = qt_buf_put_u32(&b, r->kdf.passes)) != QT_OK ||
        (rc = qt_buf_put_u32(&b, r->kdf.lanes)) != QT_OK ||
        (rc = qt_buf_put_u64(&b, r->mk_gen)) != QT_OK) {
        goto out;
    }
    for (int who = 0; who < 2; who++) {
        const struct ks_pinrow *p = &r->pin[who];

        if ((rc = qt_buf_put_u8(&b, (uint8_t)p->set)) != QT_OK ||
            (rc = qt_buf_put(&b, p->salt, sizeof(p->salt))) != QT_OK ||
            (rc = qt_buf_put(&b, p->wrap, sizeof(p->wrap))) != QT_OK ||
            (rc = qt_buf_put_u64(&b, p->gen)) != QT_OK ||
            (rc = qt_buf_put_u32(&b, p->fail)) != QT_OK) {
            goto out;
        }
    }
    rc = qt_ks_wrap_hmac(key, b.p, b.len, out);
out:
    qt_buf_clear(&b);
    return rc;
}

static qt_rc
col_fixed(sqlite3_stmt *st, int col, uint8_t *out, size_t n)
{
    if (sqlite3_column_type(st, col) != SQLITE_BLOB || (size_t)sqlite3_column_bytes(st, col) != n) {
        return QT_E_TAMPER;
    }
    memcpy(out, sqlite3_column_blob(st, col), n);
    return QT_OK;
}

qt_rc
qt_ks_sqlite_tokrow_read(struct qt_ks_token *t, struct ks_tokrow *r, int verify)
{
    sqlite3_stmt *st = NULL;
    uint8_t mac[KS_KEY], want[KS_KEY];
    const unsigned char *label;
    int src;
    qt_rc rc;

    QT_ENSURE(t != NULL && r != NULL, QT_E_ARG);
    memset(r, 0, sizeof(*r));
    QT_TRY(qt_ks_sqlite_prepare(t,
                                "SELECT label, serial, flags, kdf_m, kdf_t, kdf_p, mk_gen,"
                                " so_salt, so_wrap, so_gen, so_fail,"
                                " user_salt, user_wrap, user_gen, user_fail, mac"
                                " FROM token WHERE k = 1",
                                &st));
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? QT_E_FORMAT : qt_ks_sqlite_rc(t, src);
        goto out;
    }
    label = sqlite3_column_text(st, 0);
    rc = QT_E_TAMPER;
    if (label == NULL || strlen((const char *)label) > QT_KS_LABEL_MAX ||
        sqlite3_column_text(st, 1) == NULL ||
        strcmp((const char *)sqlite3_column_text(st, 1), t->serial) != 0) {
        goto out;
    }
    memcpy(r->label, label, strlen((const char *)label) + 1);
    r->flags = (uint32_t)sqlite3_column_int64(st, 2);
    r->kdf.memory_kib = (uint32_t)sqlite3_column_int64(st, 3);
    r->kdf.passes = (uint32_t)sqlite3_column_int64(st, 4);
    r->kdf.lanes = (uint32_t)sqlite3_column_int64(st, 5);
    r->mk_gen = (uint64_t)sqlite3_column_int64(st, 6);
    for (int who = 0; who < 2; who++) {
        struct ks_pinrow *p = &r->pin[who];
        int c = 7 + who * 4;

        p->set = sqlite3_column_type(st, c + 1) != SQLITE_NULL;
        if (p->set && ((rc = col_fixed(st, c, p->salt, sizeof(p->salt))) != QT_OK ||
                       (rc = col_fixed(st, c + 1, p->wrap, sizeof(p->wrap))) != QT_OK)) {
            goto out;
        }
        p->gen = (uint64_t)sqlite3_column_int64(st, c + 2);
        p->fail = (uint32_t)sqlite3_column_int64(st, c + 3);
    }
    if ((rc = col_fixed(st, 15, mac, sizeof(mac))) != QT_OK) {
        goto out;
    }
    if (verify) {
        if ((rc = tokrow_mac(t, r, ks_sec(t)->keys.bmac, want)) != QT_OK) {
            goto out;
        }
        if (CRYPTO_memcmp(mac, want, sizeof(mac)) != 0) {
            qt_log(QT_LOG_ERROR, "keystore: %s: token record MAC mismatch", t->path);
            rc = QT_E_TAMPER;
            goto out;
        }
    }
    rc = QT_OK;
out:
    (void)sqlite3_finalize(st);
    return rc;
}

qt_rc
qt_ks_sqlite_tokrow_write(struct qt_ks_token *t, const struct ks_tokrow *r, int insert)
{
    sqlite3_stmt *st = NULL;
    uint8_t mac[KS_KEY];
    int src;
    qt_rc rc;

    QT_ENSURE(t != NULL && r != NULL, QT_E_ARG);
    QT_TRY(tokrow_mac(t, r, ks_sec(t)->keys.bmac, mac));
    QT_TRY(qt_ks_sqlite_prepare(
        t,
        insert ? "INSERT INTO token (label, serial, flags, kdf_m, kdf_t, kdf_p, mk_gen,"
                 " so_salt, so_wrap, so_gen, so_fail, user_salt, user_wrap, user_gen, user_fail,"
                 " mac, k) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                 " ?14, ?15, ?16, 1)"
               : "UPDATE token SET label = ?1, serial = ?2, flags = ?3, kdf_m = ?4, kdf_t = ?5,"
                 " kdf_p = ?6, mk_gen = ?7, so_salt = ?8, so_wrap = ?9, so_gen = ?10,"
                 " so_fail = ?11, user_salt = ?12, user_wrap = ?13, user_gen = ?14,"
                 " user_fail = ?15, mac = ?16 WHERE k = 1",
        &st));
    if ((rc = qt_ks_sqlite_rc(t, sqlite3_bind_text(st, 1, r->label, -1, SQLITE_TRANSIENT))) !=
            QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_text(st, 2, t->serial, -1, SQLITE_TRANSIENT))) !=
            QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 3, r->flags))) != QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 4, r->kdf.memory_kib))) != QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 5, r->kdf.passes))) != QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 6, r->kdf.lanes))) != QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 7, (sqlite3_int64)r->mk_gen))) != QT_OK) {
        goto out;
    }
    for (int who = 0; who < 2; who++) {
        const struct ks_pinrow *p = &r->pin[who];
        int c = 8 + who * 4;

        if ((rc = qt_ks_sqlite_bind_blob(t, st, c, p->set ? p->salt : NULL, sizeof(p->salt))) !=
                QT_OK ||
            (rc = qt_ks_sqlite_bind_blob(t, st, c + 1, p->set ? p->wrap : NULL, sizeof(p->wrap))) !=
                QT_OK ||
            (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, c + 2, (sqlite3_int64)p->gen))) !=
                QT_OK ||
            (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, c + 3, p->fail))) != QT_OK) {
            goto out;
        }
    }
    if ((rc = qt_ks_sqlite_bind_blob(t, st, 16, mac, sizeof(mac))) != QT_OK) {
        goto out;
    }
    src = sqlite3_step(st);
    rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src);
    if (rc == QT_OK && sqlite3_changes(t->db) != 1) {
        rc = QT_E_FORMAT;
    }
out:
    (void)sqlite3_finalize(st);
    return rc;
}

qt_rc
qt_ks_sqlite_check_gen(struct qt_ks_token *t)
{
    int64_t gen = 0;
    qt_rc rc;

    QT_ENSURE_REF(t);
    QT_ENSURE(t->who >= 0, QT_E_NOT_LOGGED_IN);
    if ((rc = qt_ks_sqlite_int64(t, "SELECT mk_gen FROM token WHERE k = 1", &gen)) != QT_OK) {
        return rc;
    }
    if ((uint64_t)gen != t->mk_gen) {
        /* Another handle rotated the master key: ours opens nothing now. */
        qt_log(QT_LOG_WARN, "keystore: master key rotated elsewhere; logged out");
        qt_ks_logout(t);
        rc = QT_E_NOT_LOGGED_IN;
    }
    return rc;
}

/* ************************************************************************
 * Opening and creating
 */

static qt_rc
read_user_version(struct qt_ks_token *t, int *v)
{
    int64_t x = 0;

    QT_TRY(qt_ks_sqlite_int64(t, "PRAGMA user_version", &x));
    *v = (int)x;
    return QT_OK;
}

/* Upgrades an older schema in one transaction; the re-read under the write
 * lock makes two processes opening an old file at once harmless. */
static qt_rc
migrate(struct qt_ks_token *t)
{
    int v = 0;
    qt_rc rc;

    QT_TRY(read_user_version(t, &v));
    QT_ENSURE(v >= 1, QT_E_FORMAT);
    QT_ENSURE(v <= KS_SCHEMA_VERSION, QT_E_UNSUPPORTED);
    if (v == KS_SCHEMA_VERSION) {
        return QT_OK;
    }
    QT_TRY(qt_ks_txn_begin(t));
    if ((rc = read_user_version(t, &v)) != QT_OK) {
        goto out;
    }
    while (v < KS_SCHEMA_VERSION) {
        qt_log(QT_LOG_INFO, "keystore: %s: schema %d -> %d", t->path, v, v + 1);
        if ((rc = qt_ks_sqlite_exec(t, migrations[v - 1])) != QT_OK ||
            (rc = read_user_version(t, &v)) != QT_OK) {
            goto out;
        }
    }
    rc = qt_ks_txn_commit(t);
out:
    if (rc != QT_OK) {
        qt_ks_txn_rollback(t);
    }
    return rc;
}

static qt_rc
set_connection(struct qt_ks_token *t)
{
    sqlite3_stmt *st = NULL;
    int src;
    qt_rc rc;

    (void)sqlite3_extended_result_codes(t->db, 1);
    QT_TRY(qt_ks_sqlite_rc(t, sqlite3_busy_timeout(t->db, KS_BUSY_MS)));
    QT_TRY(qt_ks_sqlite_rc(t, sqlite3_db_config(t->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL)));
    QT_TRY(qt_ks_sqlite_rc(t, sqlite3_db_config(t->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL)));
    QT_TRY(qt_ks_sqlite_exec(t, "PRAGMA secure_delete = ON; PRAGMA synchronous = FULL;"
                                " PRAGMA foreign_keys = ON; PRAGMA cell_size_check = ON;"));
    QT_TRY(qt_ks_sqlite_prepare(t, "PRAGMA journal_mode = WAL", &st));
    src = sqlite3_step(st);
    rc = src == SQLITE_ROW ? QT_OK : qt_ks_sqlite_rc(t, src);
    if (rc == QT_OK && (sqlite3_column_text(st, 0) == NULL ||
                        strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0)) {
        rc = QT_E_DB;
    }
    (void)sqlite3_finalize(st);
    return rc;
}

static qt_rc
handle_new(const struct qt_ks_env *env, const char *path, struct qt_ks_token **out)
{
    struct qt_ks_token *t;
    char inst[1100];
    int n;
    qt_rc rc = QT_E_NOMEM;

    QT_ENSURE(env != NULL && env->rng != NULL && env->store_dir != NULL && path != NULL,
              QT_E_ARG);
    t = calloc(1, sizeof(*t));
    QT_ENSURE(t != NULL, QT_E_NOMEM);
    t->who = -1;
    t->rng = env->rng;
    t->rng_ctx = env->rng_ctx;
    t->on_tamper = env->on_tamper;
    t->tamper_ctx = env->tamper_ctx;
    t->max_failures = env->pin_max_failures > 0 ? env->pin_max_failures
                                                : QT_KS_DEFAULT_MAX_FAILURES;
    if (env->install_dir != NULL) {
        n = snprintf(inst, sizeof(inst), "%s", env->install_dir);
    } else {
        n = snprintf(inst, sizeof(inst), "%s/installation", env->store_dir);
    }
    if (n <= 0 || (size_t)n >= sizeof(inst)) {
        rc = QT_E_RANGE;
        goto out;
    }
    if ((t->path = strdup(path)) == NULL || (t->store_dir = strdup(env->store_dir)) == NULL ||
        (t->install_dir = strdup(inst)) == NULL) {
        goto out;
    }
    if ((rc = qt_secret_init(&t->sec, sizeof(struct ks_secrets))) != QT_OK) {
        goto out;
    }
    *out = t;
    t = NULL;
    rc = QT_OK;
out:
    qt_ks_token_close(t);
    return rc;
}

/* Opens path (which must exist) as the handle's connection. */
static qt_rc
open_db(struct qt_ks_token *t)
{
    struct stat st;

    if (lstat(t->path, &st) != 0) {
        return errno == ENOENT ? QT_E_NOTFOUND : QT_E_IO;
    }
    QT_ENSURE(S_ISREG(st.st_mode), QT_E_FORMAT);
    QT_TRY(qt_ks_sqlite_rc(t, sqlite3_open_v2(t->path, &t->db,
                                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                                                  SQLITE_OPEN_NOFOLLOW,
                                              NULL)));
    return set_connection(t);
}

/* Reads the serial and flags (not yet authenticated) to derive the keys that
 * authenticate them. */
static qt_rc
read_identity(struct qt_ks_token *t)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *s;
    int src;
    qt_rc rc;

    QT_TRY(qt_ks_sqlite_prepare(t, "SELECT serial, flags FROM token WHERE k = 1", &st));
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? QT_E_FORMAT : qt_ks_sqlite_rc(t, src);
        goto out;
    }
    s = sqlite3_column_text(st, 0);
    rc = QT_E_FORMAT;
    if (s == NULL || strlen((const char *)s) != KS_SERIAL_LEN) {
        goto out;
    }
    memcpy(t->serial, s, KS_SERIAL_LEN + 1);
    t->flags = (uint32_t)sqlite3_column_int64(st, 1);
    rc = QT_OK;
out:
    (void)sqlite3_finalize(st);
    return rc;
}

qt_rc
qt_ks_sqlite_open_ex(const struct qt_ks_env *env, const char *path, int allow_portable,
                     struct qt_ks_token **out)
{
    struct qt_ks_token *t = NULL;
    struct ks_tokrow row;
    qt_rc rc;

    QT_ENSURE(out != NULL, QT_E_ARG);
    *out = NULL;
    QT_TRY(handle_new(env, path, &t));
    if ((rc = open_db(t)) != QT_OK || (rc = migrate(t)) != QT_OK ||
        (rc = read_identity(t)) != QT_OK) {
        goto out;
    }
    if ((t->flags & KS_FLAG_PORTABLE) != 0) {
        /* A backup: its MACs need the master key (qt_ks_restore). */
        rc = allow_portable ? QT_OK : QT_E_STATE;
        if (rc == QT_OK) {
            *out = t;
            t = NULL;
        }
        goto out;
    }
    if ((rc = qt_ks_wrap_device_key(t->install_dir, t->rng, t->rng_ctx, ks_sec(t)->devkey)) !=
            QT_OK ||
        (rc = qt_ks_wrap_bound_keys(t->serial, ks_sec(t)->devkey, 0, &ks_sec(t)->keys)) != QT_OK ||
        (rc = qt_ks_sqlite_tokrow_read(t, &row, 1)) != QT_OK) {
        goto out;
    }
    *out = t;
    t = NULL;
out:
    qt_ks_token_close(t);
    return rc;
}

qt_rc
qt_ks_token_open(const struct qt_ks_env *env, const char *path, struct qt_ks_token **out)
{
    return qt_ks_sqlite_open_ex(env, path, 0, out);
}

qt_rc
qt_ks_data_version(struct qt_ks_token *t, uint64_t *out)
{
    int r;

    QT_ENSURE(t != NULL && t->db != NULL && out != NULL, QT_E_ARG);
    if (t->st_version == NULL) {
        QT_TRY(qt_ks_sqlite_prepare(t, "PRAGMA data_version", &t->st_version));
    }
    r = sqlite3_step(t->st_version);
    if (r == SQLITE_ROW) {
        *out = (uint64_t)sqlite3_column_int64(t->st_version, 0);
    }
    (void)sqlite3_reset(t->st_version);
    return r == SQLITE_ROW ? QT_OK : qt_ks_sqlite_rc(t, r);
}

void
qt_ks_token_close(struct qt_ks_token *t)
{
    if (t == NULL) {
        return;
    }
    t->after_tamper = NULL; /* no hook on a handle being closed */
    while (t->txn_depth > 0) {
        qt_ks_txn_rollback(t);
    }
    (void)sqlite3_finalize(t->st_version);
    if (t->db != NULL) {
        (void)sqlite3_close_v2(t->db);
    }
    qt_secret_clear(&t->sec);
    free(t->path);
    free(t->store_dir);
    free(t->install_dir);
    free(t);
}

const char *
qt_ks_token_path(const struct qt_ks_token *t)
{
    return t != NULL ? t->path : NULL;
}


void
qt_ks_kdf_defaults(struct qt_ks_kdf_params *p)
{
    if (p != NULL) {
        p->memory_kib = QT_KS_DEFAULT_MEMORY_KIB;
        p->passes = QT_KS_DEFAULT_PASSES;
        p->lanes = QT_KS_DEFAULT_LANES;
    }
}

qt_rc
qt_ks_sqlite_check_kdf(const struct qt_ks_kdf_params *k)
{
    QT_ENSURE_REF(k);
    QT_ENSURE(k->lanes >= 1 && k->lanes <= 64 && k->passes >= 1 && k->passes <= 64, QT_E_RANGE);
    QT_ENSURE(k->memory_kib >= 8 * k->lanes && k->memory_kib <= 4u * 1024u * 1024u, QT_E_RANGE);
    return QT_OK;
}

qt_rc
qt_ks_sqlite_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    qt_rc rc;

    QT_ENSURE(fd >= 0, QT_E_IO);
    rc = fsync(fd) == 0 ? QT_OK : QT_E_IO;
    (void)close(fd);
    return rc;
}

/* Creates the database file for a new handle (mode 0600, never existing). */
qt_rc
qt_ks_sqlite_create_file(struct qt_ks_token *t)
{
    int fd;

    fd = open(t->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    QT_ENSURE(fd >= 0, errno == EEXIST ? QT_E_EXISTS : QT_E_IO);
    (void)close(fd);
    return QT_OK;
}

qt_rc
qt_ks_token_create(const struct qt_ks_env *env, const char *label, const uint8_t *so_pin,
                   size_t so_pin_len, const struct qt_ks_kdf_params *kdf,
                   struct qt_ks_token **out)
{
    struct qt_ks_kdf_params k;
    struct qt_ks_token *t = NULL;
    struct ks_tokrow *row = NULL;
    uint8_t sn[KS_SERIAL_LEN / 2];
    char serial[KS_SERIAL_LEN + 1], tmp[1100], final[1100];
    int lockfd = -1, n, created = 0;
    qt_rc rc;

    QT_ENSURE(env != NULL && env->store_dir != NULL && env->rng != NULL && label != NULL &&
                  out != NULL && so_pin != NULL,
              QT_E_ARG);
    QT_ENSURE(strlen(label) <= QT_KS_LABEL_MAX, QT_E_RANGE);
    QT_ENSURE(so_pin_len > 0 && so_pin_len <= QT_KS_PIN_MAX, QT_E_PIN_INVALID);
    *out = NULL;
    if (kdf != NULL) {
        k = *kdf;
    } else {
        qt_ks_kdf_defaults(&k);
    }
    QT_TRY(qt_ks_sqlite_check_kdf(&k));
    QT_TRY(env->rng(env->rng_ctx, sn, sizeof(sn)));
    qt_hex(serial, sn, sizeof(sn));
    n = snprintf(final, sizeof(final), "%s/tok-%s.db", env->store_dir, serial);
    QT_ENSURE(n > 0 && (size_t)n < sizeof(final), QT_E_RANGE);
    n = snprintf(tmp, sizeof(tmp), "%s/tok-%s.db.new", env->store_dir, serial);
    QT_ENSURE(n > 0 && (size_t)n < sizeof(tmp), QT_E_RANGE);

    QT_TRY(qt_ks_store_lock(env->store_dir, &lockfd));
    if ((rc = qt_ks_store_label_free(env->store_dir, label, serial, NULL)) != QT_OK ||
        (rc = handle_new(env, tmp, &t)) != QT_OK) {
        goto out;
    }
    row = qt_secret_alloc(sizeof(*row));
    if (row == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    memcpy(t->serial, serial, sizeof(serial));
    if ((rc = qt_ks_sqlite_create_file(t)) != QT_OK) {
        goto out;
    }
    created = 1;
    if ((rc = qt_ks_wrap_device_key(t->install_dir, t->rng, t->rng_ctx, ks_sec(t)->devkey)) !=
            QT_OK ||
        (rc = qt_ks_wrap_bound_keys(serial, ks_sec(t)->devkey, 0, &ks_sec(t)->keys)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_rc(t, sqlite3_open_v2(t->path, &t->db,
                                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                                                     SQLITE_OPEN_NOFOLLOW,
                                                 NULL))) != QT_OK ||
        (rc = set_connection(t)) != QT_OK) {
        goto out;
    }
    /* The master key and the SO wrap (ks_pin.c). */
    memcpy(row->label, label, strlen(label) + 1);
    row->kdf = k;
    row->mk_gen = 1;
    if ((rc = env->rng(env->rng_ctx, ks_sec(t)->mk, KS_KEY)) != QT_OK ||
        (rc = qt_ks_pin_make_wrap(t, QT_KS_SO, so_pin, so_pin_len, &k, ks_sec(t)->mk, 1,
                                  &row->pin[QT_KS_SO], NULL)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_txn_begin(t)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_exec(t, schema_v2)) != QT_OK ||
        (rc = qt_ks_sqlite_tokrow_write(t, row, 1)) != QT_OK ||
        (rc = qt_ks_txn_commit(t)) != QT_OK) {
        qt_ks_txn_rollback(t);
        goto out;
    }
    /* Close (checkpointing the WAL away), then move into place: a crash
     * before the rename leaves only a ".new" file that listing ignores. */
    (void)sqlite3_close_v2(t->db);
    t->db = NULL;
    if (rename(tmp, final) != 0) {
        rc = QT_E_IO;
        goto out;
    }
    created = 0;
    if ((rc = qt_ks_sqlite_fsync_dir(env->store_dir)) != QT_OK) {
        goto out;
    }
    qt_ks_token_close(t);
    t = NULL;
    rc = qt_ks_token_open(env, final, out);
out:
    if (created) {
        char side[1200];

        (void)unlink(tmp);
        if (snprintf(side, sizeof(side), "%s-wal", tmp) > 0) {
            (void)unlink(side);
        }
        if (snprintf(side, sizeof(side), "%s-shm", tmp) > 0) {
            (void)unlink(side);
        }
    }
    qt_secret_free(row, sizeof(*row));
    qt_ks_token_close(t);
    qt_ks_store_unlock(lockfd);
    return rc;
}

qt_rc
qt_ks_token_delete(struct qt_ks_token *t)
{
    char side[1200];
    qt_rc rc = QT_OK;

    QT_ENSURE_REF(t);
    while (t->txn_depth > 0) {
        qt_ks_txn_rollback(t);
    }
    (void)sqlite3_close_v2(t->db);
    t->db = NULL;
    if (unlink(t->path) != 0 && errno != ENOENT) {
        rc = QT_E_IO;
    }
    if (snprintf(side, sizeof(side), "%s-wal", t->path) > 0) {
        (void)unlink(side);
    }
    if (snprintf(side, sizeof(side), "%s-shm", t->path) > 0) {
        (void)unlink(side);
    }
    if (rc == QT_OK) {
        rc = qt_ks_sqlite_fsync_dir(t->store_dir);
    }
    qt_ks_token_close(t);
    return rc;
}

qt_rc
qt_ks_token_info(struct qt_ks_token *t, struct qt_ks_token_info *out)
{
    struct ks_tokrow *row = NULL;
    int64_t nobj = 0;
    qt_rc rc;

    QT_ENSURE(t != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE((t->flags & KS_FLAG_PORTABLE) == 0, QT_E_STATE);
    memset(out, 0, sizeof(*out));
    row = qt_secret_alloc(sizeof(*row));
    QT_ENSURE(row != NULL, QT_E_NOMEM);
    if ((rc = qt_ks_sqlite_read_begin(t)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_tokrow_read(t, row, 1)) != QT_OK ||
        (rc = qt_ks_sqlite_int64(t, "SELECT count(*) FROM objects", &nobj)) != QT_OK) {
        qt_ks_txn_rollback(t);
        goto out;
    }
    out->objects = (uint64_t)nobj;
    if ((rc = qt_ks_txn_commit(t)) != QT_OK) {
        goto out;
    }
    memcpy(out->label, row->label, sizeof(out->label));
    memcpy(out->serial, t->serial, sizeof(out->serial));
    (void)snprintf(out->path, sizeof(out->path), "%s", t->path);
    out->user_pin_initialized = row->pin[QT_KS_USER].set;
    out->user_failures = row->pin[QT_KS_USER].fail;
    out->so_failures = row->pin[QT_KS_SO].fail;
    out->max_failures = t->max_failures;
    out->user_pin_locked = out->user_failures >= t->max_failures;
    out->so_pin_locked = out->so_failures >= t->max_failures;
    out->kdf = row->kdf;
    out->mk_generation = row->mk_gen;
out:
    qt_secret_free(row, sizeof(*row));
    return rc;
}
