/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whole-token operations: qt_ks_check (integrity of the file, the token
 * record, every row and seal, the log numbering), qt_ks_backup and
 * qt_ks_restore.
 *
 * A backup is a copy taken with the SQLite online backup API (one consistent
 * snapshot while other processes keep writing), in which everything that was
 * bound to this installation's device key (row MACs, the token record MAC,
 * sealed values of public key objects) is re-done under keys derived from
 * the master key, and the token record is flagged portable.  So the backup
 * reveals nothing without a PIN, and needs nothing but a PIN on another
 * machine; restoring verifies every row under the master key and binds them
 * to the new installation's device key (FORMAT.md, "Backups").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/common/check.h"
#include "../src/common/log.h"
#include "../src/common/mem.h"
#include "ks_int.h"
#include "ks_sqlite.h"

static qt_rc
integrity(struct qt_ks_token *t, void (*report)(void *ctx, uint64_t id, const char *what),
          void *ctx, int *damaged)
{
    sqlite3_stmt *st = NULL;
    int src;
    qt_rc rc;

    QT_TRY(qt_ks_sqlite_prepare(t, "PRAGMA integrity_check", &st));
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *m = sqlite3_column_text(st, 0);

        if (m == NULL || strcmp((const char *)m, "ok") != 0) {
            *damaged = 1;
            if (report != NULL) {
                report(ctx, 0, m != NULL ? (const char *)m : "integrity_check failed");
            }
        }
    }
    rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src);
    if (rc == QT_E_DB) {
        /* SQLITE_CORRUPT and friends: the file itself is damaged. */
        *damaged = 1;
        if (report != NULL) {
            report(ctx, 0, sqlite3_errmsg(t->db));
        }
        rc = QT_OK;
    }
    (void)sqlite3_finalize(st);
    return rc;
}

static qt_rc
log_numbering(struct qt_ks_token *t, void (*report)(void *ctx, uint64_t id, const char *what),
              void *ctx, int *damaged)
{
    sqlite3_stmt *st = NULL;
    int src;
    qt_rc rc;

    QT_TRY(qt_ks_sqlite_prepare(
        t, "SELECT count(*), coalesce(max(seq), 0), coalesce(min(seq), 1) FROM attest_log", &st));
    src = sqlite3_step(st);
    rc = src == SQLITE_ROW ? QT_OK : qt_ks_sqlite_rc(t, src);
    if (rc == QT_OK &&
        (sqlite3_column_int64(st, 0) != sqlite3_column_int64(st, 1) ||
         sqlite3_column_int64(st, 2) != 1)) {
        *damaged = 1;
        if (report != NULL) {
            report(ctx, 0, "attestation log has gaps (records removed)");
        }
    }
    (void)sqlite3_finalize(st);
    return rc;
}

qt_rc
qt_ks_check_ex(struct qt_ks_token *t, void (*report)(void *ctx, uint64_t id, const char *what),
               void *ctx, uint64_t *unverified)
{
    struct ks_tokrow *r = NULL;
    int damaged = 0, have_mk;
    qt_rc rc;

    QT_ENSURE_REF(t);
    QT_ENSURE((t->flags & KS_FLAG_PORTABLE) == 0, QT_E_STATE);
    if (unverified != NULL) {
        *unverified = 0;
    }
    r = qt_secret_alloc(sizeof(*r));
    QT_ENSURE(r != NULL, QT_E_NOMEM);
    if ((rc = integrity(t, report, ctx, &damaged)) != QT_OK ||
        (rc = qt_ks_sqlite_read_begin(t)) != QT_OK) {
        goto out;
    }
    rc = qt_ks_sqlite_tokrow_read(t, r, 1);
    if (rc == QT_E_TAMPER || rc == QT_E_FORMAT) {
        damaged = 1;
        if (report != NULL) {
            report(ctx, 0, "token record MAC does not verify");
        }
        rc = QT_OK;
    }
    if (rc != QT_OK) {
        qt_ks_txn_rollback(t);
        goto out;
    }
    have_mk = t->who >= 0;
    if (have_mk && qt_ks_sqlite_check_gen(t) != QT_OK) {
        have_mk = 0;
    }
    if ((rc = qt_ks_object_check_all(t, &ks_sec(t)->keys, have_mk, report, ctx, unverified,
                                     &damaged)) != QT_OK ||
        (rc = log_numbering(t, report, ctx, &damaged)) != QT_OK) {
        qt_ks_txn_rollback(t);
        goto out;
    }
    if ((rc = qt_ks_txn_commit(t)) != QT_OK) {
        goto out;
    }
    rc = damaged ? QT_E_TAMPER : QT_OK;
out:
    qt_secret_free(r, sizeof(*r));
    return rc;
}

qt_rc
qt_ks_check(struct qt_ks_token *t, void (*report)(void *ctx, uint64_t id, const char *what),
            void *ctx)
{
    return qt_ks_check_ex(t, report, ctx, NULL);
}

/* Copies database src into the new file at path (created 0600, O_EXCL). */
static qt_rc
copy_db(sqlite3 *src, const char *path)
{
    sqlite3 *dst = NULL;
    sqlite3_backup *bk = NULL;
    int fd, r;
    qt_rc rc = QT_E_DB;

    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    QT_ENSURE(fd >= 0, errno == EEXIST ? QT_E_EXISTS : QT_E_IO);
    (void)close(fd);
    if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        goto out;
    }
    (void)sqlite3_busy_timeout(dst, KS_BUSY_MS);
    if ((bk = sqlite3_backup_init(dst, "main", src, "main")) == NULL) {
        qt_log(QT_LOG_ERROR, "keystore: backup: %s", sqlite3_errmsg(dst));
        goto out;
    }
    /* All pages in one step: one snapshot of the source. */
    do {
        r = sqlite3_backup_step(bk, -1);
        if (r == SQLITE_BUSY || r == SQLITE_LOCKED) {
            sqlite3_sleep(20);
        }
    } while (r == SQLITE_OK || r == SQLITE_BUSY || r == SQLITE_LOCKED);
    r = sqlite3_backup_finish(bk) == SQLITE_OK && r == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    rc = r == SQLITE_OK ? QT_OK : QT_E_DB;
out:
    (void)sqlite3_close_v2(dst);
    return rc;
}

static void
unlink_db(const char *path)
{
    char side[1200];

    (void)unlink(path);
    if (snprintf(side, sizeof(side), "%s-wal", path) > 0) {
        (void)unlink(side);
    }
    if (snprintf(side, sizeof(side), "%s-shm", path) > 0) {
        (void)unlink(side);
    }
}

static qt_rc
dir_of(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    int n;

    if (slash == NULL) {
        n = snprintf(out, outlen, ".");
    } else if (slash == path) {
        n = snprintf(out, outlen, "/");
    } else {
        n = snprintf(out, outlen, "%.*s", (int)(slash - path), path);
    }
    QT_ENSURE(n > 0 && (size_t)n < outlen, QT_E_RANGE);
    return QT_OK;
}

/* Re-seals handle b's rows from keys `from` to `to`, sets or clears the
 * portable flag, resets the failure counters, in one transaction. */
static qt_rc
rebind(struct qt_ks_token *b, const struct ks_keyset *from, const struct ks_keyset *to,
       int portable)
{
    struct ks_tokrow *r = NULL;
    qt_rc rc;

    r = qt_secret_alloc(sizeof(*r));
    QT_ENSURE(r != NULL, QT_E_NOMEM);
    ks_sec(b)->keys = *from;
    if ((rc = qt_ks_txn_begin(b)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_tokrow_read(b, r, 1)) != QT_OK ||
        (rc = qt_ks_object_reseal_all(b, from, to)) != QT_OK) {
        goto fail;
    }
    r->flags = portable ? (r->flags | KS_FLAG_PORTABLE) : (r->flags & ~KS_FLAG_PORTABLE);
    r->pin[QT_KS_SO].fail = 0;
    r->pin[QT_KS_USER].fail = 0;
    ks_sec(b)->keys = *to;
    if ((rc = qt_ks_sqlite_tokrow_write(b, r, 0)) != QT_OK || (rc = qt_ks_txn_commit(b)) != QT_OK) {
        goto fail;
    }
    b->flags = r->flags;
    goto out;
fail:
    qt_ks_txn_rollback(b);
out:
    qt_secret_free(r, sizeof(*r));
    return rc;
}

qt_rc
qt_ks_backup(struct qt_ks_token *t, const char *out_path)
{
    struct qt_ks_env env;
    struct qt_ks_token *b = NULL;
    struct qt_secret k = {0};
    struct ks_keyset *from, *to;
    char tmp[1100], dir[1100];
    int n, made = 0;
    qt_rc rc;

    QT_ENSURE(t != NULL && out_path != NULL, QT_E_ARG);
    QT_ENSURE(t->who >= 0, QT_E_NOT_LOGGED_IN);
    QT_ENSURE(t->txn_depth == 0, QT_E_STATE);
    QT_ENSURE(access(out_path, F_OK) != 0, QT_E_EXISTS);
    n = snprintf(tmp, sizeof(tmp), "%s.tmp", out_path);
    QT_ENSURE(n > 0 && (size_t)n < sizeof(tmp), QT_E_RANGE);
    QT_TRY(dir_of(out_path, dir, sizeof(dir)));
    QT_TRY(qt_ks_sqlite_read_begin(t));
    rc = qt_ks_sqlite_check_gen(t);
    qt_ks_txn_rollback(t);
    QT_TRY(rc);
    QT_TRY(qt_secret_init(&k, 2 * sizeof(struct ks_keyset)));
    from = (struct ks_keyset *)(void *)k.p;
    to = from + 1;
    *from = ks_sec(t)->keys;
    *to = ks_sec(t)->keys;
    if ((rc = qt_ks_wrap_bound_keys(t->serial, ks_sec(t)->mk, 1, to)) != QT_OK ||
        (rc = copy_db(t->db, tmp)) != QT_OK) {
        goto out;
    }
    made = 1;
    env = (struct qt_ks_env){.store_dir = t->store_dir,
                             .install_dir = t->install_dir,
                             .rng = t->rng,
                             .rng_ctx = t->rng_ctx,
                             .pin_max_failures = t->max_failures};
    if ((rc = qt_ks_sqlite_open_ex(&env, tmp, 0, &b)) != QT_OK ||
        (rc = rebind(b, from, to, 1)) != QT_OK) {
        goto out;
    }
    qt_ks_token_close(b);
    b = NULL;
    /* link() refuses to replace an existing file: no silent overwrite. */
    if (link(tmp, out_path) != 0) {
        rc = errno == EEXIST ? QT_E_EXISTS : QT_E_IO;
        goto out;
    }
    rc = qt_ks_sqlite_fsync_dir(dir);
out:
    qt_ks_token_close(b);
    if (made) {
        unlink_db(tmp);
    }
    qt_secret_clear(&k);
    return rc;
}

qt_rc
qt_ks_restore(const struct qt_ks_env *env, const char *in_path, enum qt_ks_user who,
              const uint8_t *pin, size_t pin_len, struct qt_ks_token **out)
{
    sqlite3 *src = NULL;
    struct qt_ks_token *b = NULL;
    struct ks_tokrow *r = NULL;
    struct qt_secret k = {0};
    struct ks_keyset *from, *to;
    uint8_t *mk, *kek;
    char serial[KS_SERIAL_LEN + 1], tmp[1100], final[1100];
    sqlite3_stmt *st = NULL;
    const unsigned char *s;
    int lockfd = -1, made = 0, n;
    qt_rc rc;

    QT_ENSURE(env != NULL && env->store_dir != NULL && in_path != NULL && pin != NULL &&
                  out != NULL,
              QT_E_ARG);
    QT_ENSURE(who == QT_KS_SO || who == QT_KS_USER, QT_E_ARG);
    QT_ENSURE(pin_len > 0 && pin_len <= QT_KS_PIN_MAX, QT_E_PIN_INVALID);
    *out = NULL;
    QT_TRY(qt_secret_init(&k, 2 * KS_KEY + 2 * sizeof(struct ks_keyset)));
    mk = k.p;
    kek = k.p + KS_KEY;
    from = (struct ks_keyset *)(void *)(k.p + 2 * KS_KEY);
    to = from + 1;
    r = qt_secret_alloc(sizeof(*r));
    if (r == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    rc = QT_E_FORMAT;
    if (sqlite3_open_v2(in_path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(src, "SELECT serial FROM token WHERE k = 1", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW || (s = sqlite3_column_text(st, 0)) == NULL ||
        strlen((const char *)s) != KS_SERIAL_LEN || strspn((const char *)s, "0123456789abcdef") !=
                                                        KS_SERIAL_LEN) {
        qt_log(QT_LOG_ERROR, "keystore: %s is not a token backup", in_path);
        goto out;
    }
    memcpy(serial, s, sizeof(serial));
    (void)sqlite3_finalize(st);
    st = NULL;
    n = snprintf(final, sizeof(final), "%s/tok-%s.db", env->store_dir, serial);
    if (n <= 0 || (size_t)n >= sizeof(final) ||
        snprintf(tmp, sizeof(tmp), "%s.new", final) >= (int)sizeof(tmp)) {
        rc = QT_E_RANGE;
        goto out;
    }
    if ((rc = qt_ks_store_lock(env->store_dir, &lockfd)) != QT_OK ||
        (rc = qt_ks_store_label_free(env->store_dir, NULL, serial, NULL)) != QT_OK) {
        goto out;
    }
    unlink_db(tmp); /* leftover of an interrupted restore */
    if ((rc = copy_db(src, tmp)) != QT_OK) {
        goto out;
    }
    made = 1;
    if ((rc = qt_ks_sqlite_open_ex(env, tmp, 1, &b)) != QT_OK) {
        goto out;
    }
    if ((b->flags & KS_FLAG_PORTABLE) == 0) {
        qt_log(QT_LOG_ERROR, "keystore: %s is a token database, not a backup", in_path);
        rc = QT_E_FORMAT;
        goto out;
    }
    /* The PIN opens the master key; the master key authenticates the rest. */
    if ((rc = qt_ks_sqlite_tokrow_read(b, r, 0)) != QT_OK ||
        (rc = qt_ks_pin_unwrap(b, r, who, pin, pin_len, mk, kek)) != QT_OK ||
        (rc = qt_ks_wrap_master_keys(serial, mk, from)) != QT_OK ||
        (rc = qt_ks_wrap_bound_keys(serial, mk, 1, from)) != QT_OK) {
        goto out;
    }
    ks_sec(b)->keys = *from;
    if ((rc = qt_ks_sqlite_tokrow_read(b, r, 1)) != QT_OK ||
        (rc = qt_ks_store_label_free(env->store_dir, r->label, NULL, NULL)) != QT_OK ||
        (rc = qt_ks_wrap_device_key(b->install_dir, b->rng, b->rng_ctx, ks_sec(b)->devkey)) !=
            QT_OK) {
        goto out;
    }
    *to = *from;
    if ((rc = qt_ks_wrap_bound_keys(serial, ks_sec(b)->devkey, 0, to)) != QT_OK ||
        (rc = rebind(b, from, to, 0)) != QT_OK) {
        goto out;
    }
    qt_ks_token_close(b);
    b = NULL;
    if (rename(tmp, final) != 0) {
        rc = QT_E_IO;
        goto out;
    }
    made = 0;
    if ((rc = qt_ks_sqlite_fsync_dir(env->store_dir)) != QT_OK ||
        (rc = qt_ks_token_open(env, final, &b)) != QT_OK ||
        (rc = qt_ks_pin_set_login(b, who, mk, kek, r->mk_gen)) != QT_OK) {
        goto out;
    }
    *out = b;
    b = NULL;
out:
    (void)sqlite3_finalize(st);
    (void)sqlite3_close_v2(src);
    qt_ks_token_close(b);
    if (made) {
        unlink_db(tmp);
    }
    qt_ks_store_unlock(lockfd);
    qt_secret_free(r, sizeof(*r));
    qt_secret_clear(&k);
    return rc;
}
