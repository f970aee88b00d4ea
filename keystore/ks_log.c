/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attestation log table (attest_log): append-only storage of the JWS
 * records that attest/ builds and signs.  An append joins the caller's
 * transaction (a savepoint), so the record commits with its event.
 */
#include <stdlib.h>
#include <string.h>

#include "../src/common/check.h"
#include "ks_int.h"
#include "ks_sqlite.h"

static qt_rc
log_tail_seq(struct qt_ks_token *t, uint64_t *seq)
{
    int64_t v = 0;

    QT_TRY(qt_ks_sqlite_int64(t, "SELECT coalesce(max(seq), 0) FROM attest_log", &v));
    *seq = (uint64_t)v;
    return QT_OK;
}

qt_rc
qt_ks_log_append(struct qt_ks_token *t, uint64_t seq, const char *jws)
{
    sqlite3_stmt *st = NULL;
    uint64_t last = 0;
    int src;
    qt_rc rc;

    QT_ENSURE(t != NULL && jws != NULL && seq > 0 && seq <= INT64_MAX, QT_E_ARG);
    QT_TRY(qt_ks_txn_begin(t));
    if ((rc = log_tail_seq(t, &last)) != QT_OK) {
        goto out;
    }
    if (seq != last + 1) {
        rc = QT_E_STATE;
        goto out;
    }
    if ((rc = qt_ks_sqlite_prepare(t, "INSERT INTO attest_log (seq, jws) VALUES (?1, ?2)", &st)) !=
            QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 1, (sqlite3_int64)seq))) != QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_text(st, 2, jws, -1, SQLITE_STATIC))) != QT_OK) {
        goto out;
    }
    src = sqlite3_step(st);
    rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src);
out:
    (void)sqlite3_finalize(st);
    if (rc == QT_OK) {
        rc = qt_ks_txn_commit(t);
    } else {
        qt_ks_txn_rollback(t);
    }
    return rc;
}

qt_rc
qt_ks_log_tail(struct qt_ks_token *t, uint64_t *seq, char **jws)
{
    sqlite3_stmt *st = NULL;
    int src;
    qt_rc rc;

    QT_ENSURE(t != NULL && seq != NULL && jws != NULL, QT_E_ARG);
    *seq = 0;
    *jws = NULL;
    QT_TRY(qt_ks_sqlite_prepare(t, "SELECT seq, jws FROM attest_log ORDER BY seq DESC LIMIT 1",
                                &st));
    src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = QT_OK;
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = qt_ks_sqlite_rc(t, src);
        goto out;
    }
    if ((*jws = strdup((const char *)sqlite3_column_text(st, 1))) == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    *seq = (uint64_t)sqlite3_column_int64(st, 0);
    rc = QT_OK;
out:
    (void)sqlite3_finalize(st);
    return rc;
}

qt_rc
qt_ks_log_each(struct qt_ks_token *t, qt_rc (*fn)(void *ctx, uint64_t seq, const char *jws),
               void *ctx)
{
    sqlite3_stmt *st = NULL;
    int src;
    qt_rc rc = QT_OK;

    QT_ENSURE(t != NULL && fn != NULL, QT_E_ARG);
    QT_TRY(qt_ks_sqlite_read_begin(t));
    if ((rc = qt_ks_sqlite_prepare(t, "SELECT seq, jws FROM attest_log ORDER BY seq", &st)) !=
        QT_OK) {
        goto out;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *j = sqlite3_column_text(st, 1);

        rc = fn(ctx, (uint64_t)sqlite3_column_int64(st, 0), j != NULL ? (const char *)j : "");
        if (rc != QT_OK) {
            goto out;
        }
    }
    rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src);
out:
    (void)sqlite3_finalize(st);
    if (rc == QT_OK) {
        rc = qt_ks_txn_commit(t);
    } else {
        qt_ks_txn_rollback(t);
    }
    return rc;
}
