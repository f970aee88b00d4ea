/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keystore/ks_sqlite.c: token files (creation, listing, modes, WAL), the
 * token record MAC, schema migrations, transactions, busy waits and the
 * attestation log table.  All against real SQLite files in a temp dir.
 */
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "ks_fixture.h"

TestSuite(ks_sqlite, .init = fx_setup, .fini = fx_teardown);

Test(ks_sqlite, create_list_info_sorted_by_label)
{
    struct qt_ks_token *a = fx_token("zulu"), *b = fx_token("alpha");
    struct qt_ks_token_info ia, ib;
    char **paths = NULL;
    size_t n = 0;

    cr_assert_eq(qt_ks_list(&fx_env, &paths, &n), QT_OK);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(paths[0], qt_ks_token_path(b));
    cr_assert_str_eq(paths[1], qt_ks_token_path(a));
    qt_ks_free_list(paths, n);

    cr_assert_eq(qt_ks_token_info(a, &ia), QT_OK);
    cr_assert_eq(qt_ks_token_info(b, &ib), QT_OK);
    cr_assert_str_eq(ia.label, "zulu");
    cr_assert_eq(strlen(ia.serial), 16);
    cr_assert_str_neq(ia.serial, ib.serial);
    cr_assert_eq(ia.user_pin_initialized, 1);
    cr_assert_eq(ia.kdf.memory_kib, fx_kdf.memory_kib);
    cr_assert_eq(ia.max_failures, 3);
    cr_assert_eq(ia.mk_generation, 1);
    cr_assert_eq(ia.objects, 0);
    qt_ks_token_close(a);
    qt_ks_token_close(b);
}

Test(ks_sqlite, empty_or_missing_store_lists_nothing)
{
    char **paths = NULL;
    size_t n = 7;

    cr_assert_eq(qt_ks_list(&fx_env, &paths, &n), QT_OK);
    cr_assert_eq(n, 0);
    cr_assert_null(paths);
}

Test(ks_sqlite, label_taken_is_exists_and_open_label_finds)
{
    struct qt_ks_token *a = fx_token("same"), *b = NULL, *c = NULL;
    struct qt_ks_token_info i;

    cr_assert_eq(qt_ks_token_create(&fx_env, "same", FX_SO_PIN, FX_SO_LEN, &fx_kdf, &b),
                 QT_E_EXISTS);
    cr_assert_null(b);
    cr_assert_eq(qt_ks_token_open_label(&fx_env, "same", &c), QT_OK);
    cr_assert_eq(qt_ks_token_info(c, &i), QT_OK);
    cr_assert_str_eq(i.path, qt_ks_token_path(a));
    cr_assert_eq(qt_ks_token_open_label(&fx_env, "other", &b), QT_E_NOTFOUND);
    cr_assert_eq(qt_ks_token_create(&fx_env, "123456789012345678901234567890123", FX_SO_PIN,
                                    FX_SO_LEN, &fx_kdf, &b),
                 QT_E_RANGE);
    cr_assert_eq(qt_ks_token_create(&fx_env, "x", FX_SO_PIN, 0, &fx_kdf, &b), QT_E_PIN_INVALID);
    qt_ks_token_close(a);
    qt_ks_token_close(c);
}

Test(ks_sqlite, files_are_0600_wal_and_device_key_0600)
{
    struct qt_ks_token *t = fx_user_token("modes");
    struct fx_tmpl d;
    struct stat st;
    char p[1200];
    uint64_t id;
    sqlite3 *db;
    sqlite3_stmt *s;

    fx_data(&d, "x");
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id), QT_OK);
    const char *path = qt_ks_token_path(t);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        cr_assert_eq(stat(p, &st), 0, "%s missing", p);
        cr_assert_eq(st.st_mode & 0777, 0600, "%s mode %o", p, st.st_mode & 0777);
    }
    snprintf(p, sizeof(p), "%s/device.key", fx_inst);
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(st.st_size, 32);
    cr_assert_eq(stat(fx_inst, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);

    db = fx_raw(path);
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
    qt_ks_token_close(t);
}

Test(ks_sqlite, device_key_world_readable_is_refused)
{
    struct qt_ks_token *t = fx_token("dk"), *u = NULL;
    char p[1200], path[1200];

    snprintf(path, sizeof(path), "%s", qt_ks_token_path(t));
    qt_ks_token_close(t);
    snprintf(p, sizeof(p), "%s/device.key", fx_inst);
    cr_assert_eq(chmod(p, 0644), 0);
    cr_assert_neq(qt_ks_token_open(&fx_env, path, &u), QT_OK);
    cr_assert_null(u);
}

Test(ks_sqlite, token_record_edit_is_tamper)
{
    struct qt_ks_token *t = fx_token("honest"), *u = NULL;
    char path[1200];
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s", qt_ks_token_path(t));
    qt_ks_token_close(t);
    db = fx_raw(path);
    fx_exec(db, "UPDATE token SET label = 'evil'");
    sqlite3_close(db);
    cr_assert_eq(qt_ks_token_open(&fx_env, path, &u), QT_E_TAMPER);
    cr_assert_null(u);
}

Test(ks_sqlite, copied_database_without_device_key_opens_nothing)
{
    struct qt_ks_token *t = fx_token("copy"), *u = NULL;
    char path[1200], p[1200];

    snprintf(path, sizeof(path), "%s", qt_ks_token_path(t));
    qt_ks_token_close(t);
    /* Another installation: a different (new) device key. */
    snprintf(p, sizeof(p), "%s/device.key", fx_inst);
    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(qt_ks_token_open(&fx_env, path, &u), QT_E_TAMPER);
    cr_assert_null(u);
}

Test(ks_sqlite, open_missing_is_notfound_newer_schema_unsupported)
{
    struct qt_ks_token *t = fx_token("newer"), *u = NULL;
    char path[1200], p[1200];
    sqlite3 *db;

    snprintf(p, sizeof(p), "%s/tok-0000000000000000.db", fx_store);
    cr_assert_eq(qt_ks_token_open(&fx_env, p, &u), QT_E_NOTFOUND);
    snprintf(path, sizeof(path), "%s", qt_ks_token_path(t));
    qt_ks_token_close(t);
    db = fx_raw(path);
    fx_exec(db, "PRAGMA user_version = 99");
    sqlite3_close(db);
    cr_assert_eq(qt_ks_token_open(&fx_env, path, &u), QT_E_UNSUPPORTED);
}

/* The version-1 schema, written out by hand: no indexes, no attestation log. */
static const char v1_schema[] =
    "CREATE TABLE token (k INTEGER PRIMARY KEY CHECK (k = 1), label TEXT NOT NULL,"
    " serial TEXT NOT NULL, flags INTEGER NOT NULL, kdf_m INTEGER NOT NULL,"
    " kdf_t INTEGER NOT NULL, kdf_p INTEGER NOT NULL, mk_gen INTEGER NOT NULL,"
    " so_salt BLOB NOT NULL, so_wrap BLOB NOT NULL, so_gen INTEGER NOT NULL,"
    " so_fail INTEGER NOT NULL, user_salt BLOB, user_wrap BLOB, user_gen INTEGER NOT NULL,"
    " user_fail INTEGER NOT NULL, mac BLOB NOT NULL);"
    "CREATE TABLE mk_chain (gen INTEGER PRIMARY KEY, wrap BLOB NOT NULL);"
    "CREATE TABLE objects (id INTEGER PRIMARY KEY AUTOINCREMENT, ver INTEGER NOT NULL,"
    " private INTEGER NOT NULL, cls BLOB, ckaid BLOB, label BLOB, attrs BLOB, sealed BLOB,"
    " mac BLOB NOT NULL);"
    "PRAGMA user_version = 1;";

static int
count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    int n;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return n;
}

Test(ks_sqlite, version_1_file_is_migrated_on_open)
{
    struct qt_ks_token *t = fx_user_token("old");
    struct fx_tmpl d, k;
    uint8_t val[32];
    uint64_t pub_id, key_id, seq;
    char path[1200], v1[1300], sql[1500];
    struct qt_attr *a = NULL;
    size_t n = 0;
    char *jws = NULL;
    sqlite3 *db;

    fx_data(&d, "pub");
    fx_rng(NULL, val, sizeof(val));
    fx_secret(&k, "key", val, 1);
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &pub_id), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &key_id), QT_OK);
    snprintf(path, sizeof(path), "%s", qt_ks_token_path(t));
    qt_ks_token_close(t);

    /* Build a version-1 file holding the same rows, then put it in place. */
    snprintf(v1, sizeof(v1), "%s/v1.db", fx_root);
    cr_assert_eq(sqlite3_open_v2(v1, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                 SQLITE_OK);
    fx_exec(db, v1_schema);
    snprintf(sql, sizeof(sql), "ATTACH '%s' AS cur", path);
    fx_exec(db, sql);
    fx_exec(db, "INSERT INTO token SELECT * FROM cur.token;"
                "INSERT INTO mk_chain SELECT * FROM cur.mk_chain;"
                "INSERT INTO objects SELECT * FROM cur.objects;");
    fx_exec(db, "DETACH cur");
    cr_assert_eq(count_rows(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                " AND name LIKE 'objects_%'"),
                 0);
    sqlite3_close(db);
    cr_assert_eq(rename(v1, path), 0);
    snprintf(sql, sizeof(sql), "%s-wal", path);
    (void)unlink(sql);
    snprintf(sql, sizeof(sql), "%s-shm", path);
    (void)unlink(sql);

    cr_assert_eq(qt_ks_token_open(&fx_env, path, &t), QT_OK);
    db = fx_raw(path);
    cr_assert_eq(count_rows(db, "PRAGMA user_version"), 2);
    cr_assert_eq(count_rows(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                " AND name LIKE 'objects_%'"),
                 3);
    sqlite3_close(db);
    /* Data survived: public object before login, private after. */
    cr_assert_eq(qt_ks_obj_get(t, pub_id, &a, &n), QT_OK);
    qt_ks_attrs_free(a, n);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_OK);
    cr_assert_eq(qt_ks_obj_get(t, key_id, &a, &n), QT_OK);
    cr_assert_eq(memcmp(fx_get(a, n, CKA_VALUE)->val, val, 32), 0);
    qt_ks_attrs_free(a, n);
    /* The new table works. */
    cr_assert_eq(qt_ks_log_append(t, 1, "r1"), QT_OK);
    cr_assert_eq(qt_ks_log_tail(t, &seq, &jws), QT_OK);
    cr_assert_eq(seq, 1);
    free(jws);
    qt_ks_token_close(t);
}

Test(ks_sqlite, log_append_tail_each_and_numbering)
{
    struct qt_ks_token *t = fx_token("log");
    uint64_t seq = 99;
    char *jws = NULL;

    cr_assert_eq(qt_ks_log_tail(t, &seq, &jws), QT_OK);
    cr_assert_eq(seq, 0);
    cr_assert_null(jws);
    cr_assert_eq(qt_ks_log_append(t, 2, "skip"), QT_E_STATE);
    cr_assert_eq(qt_ks_log_append(t, 1, "first"), QT_OK);
    cr_assert_eq(qt_ks_log_append(t, 1, "again"), QT_E_STATE);
    cr_assert_eq(qt_ks_log_append(t, 2, "second"), QT_OK);
    cr_assert_eq(qt_ks_log_tail(t, &seq, &jws), QT_OK);
    cr_assert_eq(seq, 2);
    cr_assert_str_eq(jws, "second");
    free(jws);
    qt_ks_token_close(t);
}

struct each_ctx {
    int n;
    char seen[64];
};

static qt_rc
each_fn(void *ctx, uint64_t seq, const char *jws)
{
    struct each_ctx *c = ctx;

    c->n++;
    strncat(c->seen, jws, sizeof(c->seen) - strlen(c->seen) - 1);
    return seq == 2 ? QT_E_STATE : QT_OK;
}

Test(ks_sqlite, log_each_in_order_and_stops_on_error)
{
    struct qt_ks_token *t = fx_token("each");
    struct each_ctx c = {0};

    cr_assert_eq(qt_ks_log_append(t, 1, "a"), QT_OK);
    cr_assert_eq(qt_ks_log_append(t, 2, "b"), QT_OK);
    cr_assert_eq(qt_ks_log_append(t, 3, "c"), QT_OK);
    cr_assert_eq(qt_ks_log_each(t, each_fn, &c), QT_E_STATE);
    cr_assert_eq(c.n, 2);
    cr_assert_str_eq(c.seen, "ab");
    qt_ks_token_close(t);
}

Test(ks_sqlite, nested_transaction_rolls_back_event_and_record_together)
{
    struct qt_ks_token *t = fx_token("txn");
    struct fx_tmpl d;
    uint64_t id1, id2, seq;
    uint64_t *ids = NULL;
    size_t n = 0;
    char *jws = NULL;

    fx_data(&d, "evt");
    /* committed pair */
    cr_assert_eq(qt_ks_txn_begin(t), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id1), QT_OK);
    cr_assert_eq(qt_ks_log_append(t, 1, "created 1"), QT_OK);
    cr_assert_eq(qt_ks_txn_commit(t), QT_OK);
    /* rolled-back pair, with an inner savepoint committed first */
    cr_assert_eq(qt_ks_txn_begin(t), QT_OK);
    cr_assert_eq(qt_ks_txn_begin(t), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id2), QT_OK);
    cr_assert_eq(qt_ks_txn_commit(t), QT_OK);
    cr_assert_eq(qt_ks_log_append(t, 2, "created 2"), QT_OK);
    qt_ks_txn_rollback(t);
    cr_assert_eq(qt_ks_txn_commit(t), QT_E_STATE);

    cr_assert_eq(qt_ks_obj_find(t, d.a, d.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], id1);
    free(ids);
    cr_assert_eq(qt_ks_log_tail(t, &seq, &jws), QT_OK);
    cr_assert_eq(seq, 1);
    free(jws);
    /* inner rollback keeps the outer work */
    cr_assert_eq(qt_ks_txn_begin(t), QT_OK);
    cr_assert_eq(qt_ks_log_append(t, 2, "kept"), QT_OK);
    cr_assert_eq(qt_ks_txn_begin(t), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id2), QT_OK);
    qt_ks_txn_rollback(t);
    cr_assert_eq(qt_ks_txn_commit(t), QT_OK);
    cr_assert_eq(qt_ks_obj_find(t, d.a, d.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 1);
    free(ids);
    cr_assert_eq(qt_ks_log_tail(t, &seq, &jws), QT_OK);
    cr_assert_eq(seq, 2);
    free(jws);
    qt_ks_token_close(t);
}

struct holder {
    char path[1200];
    int locked;         /* set once the write lock is held */
    double released_at; /* CLOCK_MONOTONIC just before COMMIT */
};

static double
mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
hold_write_lock(void *arg)
{
    struct holder *h = arg;
    sqlite3 *db = fx_raw(h->path);
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 600000000L};

    fx_exec(db, "BEGIN IMMEDIATE");
    __atomic_store_n(&h->locked, 1, __ATOMIC_SEQ_CST);
    nanosleep(&ts, NULL);
    h->released_at = mono();
    fx_exec(db, "COMMIT");
    sqlite3_close(db);
    return NULL;
}

Test(ks_sqlite, busy_writer_waits_instead_of_failing)
{
    struct qt_ks_token *t = fx_token("busy");
    struct holder h = {.locked = 0};
    struct fx_tmpl d;
    pthread_t th;
    uint64_t id;
    double done;

    snprintf(h.path, sizeof(h.path), "%s", qt_ks_token_path(t));
    cr_assert_eq(pthread_create(&th, NULL, hold_write_lock, &h), 0);
    while (__atomic_load_n(&h.locked, __ATOMIC_SEQ_CST) == 0) {
        usleep(1000);
    }
    /* Another connection holds the write lock for 0.6 s: the create waits
     * in the busy handler and succeeds after the holder's COMMIT. */
    fx_data(&d, "waited");
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id), QT_OK);
    done = mono();
    pthread_join(th, NULL);
    cr_assert_gt(done, h.released_at, "the create finished while the lock was held");
    qt_ks_token_close(t);
}

Test(ks_sqlite, reinit_destroys_objects_and_user_pin)
{
    struct qt_ks_token *t = fx_user_token("before"), *other = fx_token("taken");
    struct qt_ks_token_info i;
    struct fx_tmpl d;
    uint64_t id, id2, *ids = NULL;
    size_t n = 0;

    fx_data(&d, "gone");
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id), QT_OK);
    cr_assert_eq(qt_ks_token_reinit(t, FX_USER_PIN, FX_USER_LEN, "after"), QT_E_PIN_INCORRECT);
    cr_assert_eq(qt_ks_token_reinit(t, FX_SO_PIN, FX_SO_LEN, "taken"), QT_E_EXISTS);
    cr_assert_eq(qt_ks_token_reinit(t, FX_SO_PIN, FX_SO_LEN, "after"), QT_OK);
    cr_assert_eq(qt_ks_logged_in(t), -1);
    cr_assert_eq(qt_ks_token_info(t, &i), QT_OK);
    cr_assert_str_eq(i.label, "after");
    cr_assert_eq(i.user_pin_initialized, 0);
    cr_assert_eq(i.objects, 0);
    cr_assert_eq(i.so_failures, 0);
    cr_assert_eq(qt_ks_obj_find(t, NULL, 0, &ids, &n), QT_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_E_STATE);
    cr_assert_eq(qt_ks_login(t, QT_KS_SO, FX_SO_PIN, FX_SO_LEN), QT_OK);
    /* ids are never reused */
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id2), QT_OK);
    cr_assert_gt(id2, id);
    qt_ks_token_close(t);
    qt_ks_token_close(other);
}

Test(ks_sqlite, delete_removes_files)
{
    struct qt_ks_token *t = fx_token("del");
    char path[1200];
    char **paths = NULL;
    size_t n = 0;

    snprintf(path, sizeof(path), "%s", qt_ks_token_path(t));
    cr_assert_eq(qt_ks_token_delete(t), QT_OK);
    cr_assert_neq(access(path, F_OK), 0);
    cr_assert_eq(qt_ks_list(&fx_env, &paths, &n), QT_OK);
    cr_assert_eq(n, 0);
}
