/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keystore/ks_object.c: object create/get/update/destroy/find, visibility
 * rules, the index-backed lookup, tamper detection on disk, AAD binding,
 * and that no plaintext key or PIN byte reaches the database files.
 */
#include "ks_fixture.h"

#include "../../../keystore/ks_int.h"

TestSuite(ks_object, .init = fx_setup, .fini = fx_teardown);

Test(ks_object, create_get_update_destroy_public)
{
    struct qt_ks_token *t = fx_token("crud");
    struct fx_tmpl d;
    struct qt_attr *a = NULL;
    size_t n = 0;
    uint64_t id, id2;

    fx_data(&d, "one");
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id2), QT_OK);
    cr_assert_gt(id2, id);
    cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_OK);
    cr_assert_eq(n, d.n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(a[i].type, d.a[i].type);
        cr_assert_eq(a[i].len, d.a[i].len);
        cr_assert_eq(memcmp(a[i].val, d.a[i].val, a[i].len), 0);
    }
    qt_ks_attrs_free(a, n);

    fx_data(&d, "renamed");
    cr_assert_eq(qt_ks_obj_update(t, id, d.a, d.n), QT_OK);
    cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_OK);
    cr_assert_eq(fx_get(a, n, CKA_LABEL)->len, 7);
    cr_assert_eq(memcmp(fx_get(a, n, CKA_LABEL)->val, "renamed", 7), 0);
    qt_ks_attrs_free(a, n);

    cr_assert_eq(qt_ks_obj_destroy(t, id), QT_OK);
    cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_E_NOTFOUND);
    cr_assert_eq(qt_ks_obj_destroy(t, id), QT_E_NOTFOUND);
    cr_assert_eq(qt_ks_obj_update(t, id, d.a, d.n), QT_E_NOTFOUND);
    qt_ks_token_close(t);
}

Test(ks_object, class_is_required)
{
    struct qt_ks_token *t = fx_token("cls");
    struct fx_tmpl d = {0};
    uint64_t id;

    fx_str(&d, CKA_LABEL, "no class");
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id), QT_E_ARG);
    qt_ks_token_close(t);
}

Test(ks_object, private_objects_need_user_login_and_are_invisible_otherwise)
{
    struct qt_ks_token *t = fx_user_token("priv"), *pub = NULL;
    struct fx_tmpl k = {0};
    uint8_t val[32];
    struct qt_attr *a = NULL;
    size_t n = 0;
    uint64_t id, *ids = NULL;

    /* CKA_PRIVATE absent on a secret key: private by default */
    fx_rng(NULL, val, sizeof(val));
    fx_ulong(&k, CKA_CLASS, CKO_SECRET_KEY);
    fx_str(&k, CKA_LABEL, "default-private");
    fx_add(&k, CKA_VALUE, val, 32);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &id), QT_OK);

    cr_assert_eq(qt_ks_token_open(&fx_env, qt_ks_token_path(t), &pub), QT_OK);
    cr_assert_eq(qt_ks_obj_create(pub, k.a, k.n, &id), QT_E_NOT_LOGGED_IN);
    cr_assert_eq(qt_ks_obj_get(pub, id, &a, &n), QT_E_NOTFOUND);
    cr_assert_eq(qt_ks_obj_destroy(pub, id), QT_E_NOTFOUND);
    cr_assert_eq(qt_ks_obj_find(pub, NULL, 0, &ids, &n), QT_OK);
    cr_assert_eq(n, 0);
    /* the SO is not the user */
    cr_assert_eq(qt_ks_login(pub, QT_KS_SO, FX_SO_PIN, FX_SO_LEN), QT_OK);
    cr_assert_eq(qt_ks_obj_get(pub, id, &a, &n), QT_E_NOTFOUND);
    cr_assert_eq(qt_ks_obj_find(pub, NULL, 0, &ids, &n), QT_OK);
    cr_assert_eq(n, 0);

    cr_assert_eq(qt_ks_obj_find(t, NULL, 0, &ids, &n), QT_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], id);
    free(ids);
    cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_OK);
    cr_assert_eq(memcmp(fx_get(a, n, CKA_VALUE)->val, val, 32), 0);
    qt_ks_attrs_free(a, n);
    qt_ks_token_close(t);
    qt_ks_token_close(pub);
}

Test(ks_object, public_key_object_usable_without_login_value_sealed)
{
    struct qt_ks_token *t = fx_user_token("pubkey"), *anon = NULL;
    struct fx_tmpl k;
    uint8_t val[32];
    struct qt_attr *a = NULL;
    size_t n = 0;
    uint64_t id;
    char p[1300];

    fx_rng(NULL, val, sizeof(val));
    fx_secret(&k, "public-secret", val, 0);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &id), QT_OK);
    cr_assert_eq(qt_ks_token_open(&fx_env, qt_ks_token_path(t), &anon), QT_OK);
    cr_assert_eq(qt_ks_obj_get(anon, id, &a, &n), QT_OK);
    cr_assert_eq(memcmp(fx_get(a, n, CKA_VALUE)->val, val, 32), 0);
    qt_ks_attrs_free(a, n);
    qt_ks_token_close(anon);
    qt_ks_token_close(t);
    /* never in clear in the file */
    const char *sfx[] = {"", "-wal", "-shm"};
    char **paths = NULL;
    cr_assert_eq(qt_ks_list(&fx_env, &paths, &n), QT_OK);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", paths[0], sfx[i]);
        cr_assert_eq(fx_file_contains(p, val, sizeof(val)), 0, "key value in clear in %s", p);
    }
    qt_ks_free_list(paths, n);
}

Test(ks_object, find_by_indexed_and_other_attributes)
{
    struct qt_ks_token *t = fx_user_token("find");
    struct fx_tmpl k, d, q;
    uint8_t val[32] = {1};
    uint64_t kid, did, *ids = NULL;
    size_t n = 0;

    fx_secret(&k, "shared", val, 1);
    fx_data(&d, "shared");
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &kid), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &did), QT_OK);

    memset(&q, 0, sizeof(q));
    fx_str(&q, CKA_LABEL, "shared");
    cr_assert_eq(qt_ks_obj_find(t, q.a, q.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(ids[0], kid);
    cr_assert_eq(ids[1], did);
    free(ids);

    fx_ulong(&q, CKA_CLASS, CKO_DATA);
    cr_assert_eq(qt_ks_obj_find(t, q.a, q.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], did);
    free(ids);

    memset(&q, 0, sizeof(q));
    fx_ulong(&q, CKA_KEY_TYPE, CKK_AES); /* not indexed: decoded and compared */
    cr_assert_eq(qt_ks_obj_find(t, q.a, q.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], kid);
    free(ids);

    memset(&q, 0, sizeof(q));
    fx_add(&q, CKA_ID, "\x01\x02", 2);
    fx_bool(&q, CKA_EXTRACTABLE, 1);
    cr_assert_eq(qt_ks_obj_find(t, q.a, q.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 1);
    free(ids);

    memset(&q, 0, sizeof(q));
    fx_str(&q, CKA_LABEL, "nothing");
    cr_assert_eq(qt_ks_obj_find(t, q.a, q.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 0);
    free(ids);
    qt_ks_token_close(t);
}

Test(ks_object, objects_of_another_handle_are_seen_without_reopen)
{
    struct qt_ks_token *a = fx_user_token("shared"), *b = NULL;
    struct fx_tmpl d;
    uint64_t id, *ids = NULL;
    size_t n = 0;

    cr_assert_eq(qt_ks_token_open(&fx_env, qt_ks_token_path(a), &b), QT_OK);
    fx_data(&d, "late");
    cr_assert_eq(qt_ks_obj_find(b, d.a, d.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(qt_ks_obj_create(a, d.a, d.n, &id), QT_OK);
    cr_assert_eq(qt_ks_obj_find(b, d.a, d.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], id);
    free(ids);
    cr_assert_eq(qt_ks_obj_destroy(b, id), QT_OK);
    cr_assert_eq(qt_ks_obj_find(a, d.a, d.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 0);
    qt_ks_token_close(a);
    qt_ks_token_close(b);
}

/* Flips the byte of CKA_EXTRACTABLE's value inside the stored attribute
 * list of object id (public row), through SQLite directly. */
static void
flip_extractable(const char *path, uint64_t id)
{
    sqlite3 *db = fx_raw(path);
    sqlite3_stmt *s;
    uint8_t buf[4096];
    int len;

    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT attrs FROM objects WHERE id = ?1", -1, &s, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    len = sqlite3_column_bytes(s, 0);
    cr_assert_lt(len, (int)sizeof(buf));
    memcpy(buf, sqlite3_column_blob(s, 0), (size_t)len);
    sqlite3_finalize(s);
    /* encoding: u32 count, then u64 type, u8 kind, u32 len, value */
    size_t off = 4;
    int done = 0;
    while (off + 13 <= (size_t)len && !done) {
        uint64_t type = 0;
        uint32_t vlen = 0;
        for (int i = 0; i < 8; i++) {
            type = type << 8 | buf[off + i];
        }
        for (int i = 0; i < 4; i++) {
            vlen = vlen << 8 | buf[off + 9 + i];
        }
        if (type == CKA_EXTRACTABLE) {
            cr_assert_eq(vlen, 1);
            cr_assert_eq(buf[off + 13], CK_FALSE);
            buf[off + 13] = CK_TRUE;
            done = 1;
        }
        off += 13 + vlen;
    }
    cr_assert(done, "CKA_EXTRACTABLE not found in the row");
    cr_assert_eq(
        sqlite3_prepare_v2(db, "UPDATE objects SET attrs = ?1 WHERE id = ?2", -1, &s, NULL),
        SQLITE_OK);
    sqlite3_bind_blob(s, 1, buf, len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)id);
    cr_assert_eq(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

struct reports {
    int n;
    uint64_t id;
};

static void
on_report(void *ctx, uint64_t id, const char *what)
{
    struct reports *r = ctx;

    (void)what;
    r->n++;
    r->id = id;
}

static void
on_tamper_hook(void *ctx, const char *path, uint64_t id)
{
    struct reports *r = ctx;

    cr_assert_not_null(path);
    r->n++;
    r->id = id;
}

Test(ks_object, flipped_policy_attribute_on_disk_is_refused)
{
    struct qt_ks_token *t = fx_token("tamper");
    struct fx_tmpl k = {0}, q = {0};
    uint8_t val[32] = {7};
    struct qt_attr *a = NULL;
    size_t n = 0;
    uint64_t id, good, *ids = NULL;
    struct reports r = {0};

    /* a public, non-extractable secret key (value device-sealed) */
    fx_ulong(&k, CKA_CLASS, CKO_SECRET_KEY);
    fx_str(&k, CKA_LABEL, "locked");
    fx_bool(&k, CKA_PRIVATE, 0);
    fx_bool(&k, CKA_EXTRACTABLE, 0);
    fx_add(&k, CKA_VALUE, val, 32);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &id), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &good), QT_OK);
    cr_assert_eq(qt_ks_check(t, NULL, NULL), QT_OK);

    flip_extractable(qt_ks_token_path(t), id);

    cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_E_TAMPER);
    cr_assert_eq(qt_ks_obj_update(t, id, k.a, k.n), QT_E_TAMPER);
    fx_str(&q, CKA_LABEL, "locked");
    cr_assert_eq(qt_ks_obj_find(t, q.a, q.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 1, "the edited object must not be found");
    cr_assert_eq(ids[0], good);
    free(ids);
    cr_assert_eq(qt_ks_check(t, on_report, &r), QT_E_TAMPER);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.id, id);
    qt_ks_token_close(t);

    /* the env's tamper hook hears of each refusal (for an attested event) */
    struct qt_ks_token *u = NULL;
    char **paths = NULL;
    size_t pn = 0;
    struct reports hook = {0};
    fx_env.on_tamper = on_tamper_hook;
    fx_env.tamper_ctx = &hook;
    cr_assert_eq(qt_ks_list(&fx_env, &paths, &pn), QT_OK);
    cr_assert_eq(qt_ks_token_open(&fx_env, paths[0], &u), QT_OK);
    qt_ks_free_list(paths, pn);
    cr_assert_eq(qt_ks_obj_find(u, q.a, q.n, &ids, &n), QT_OK);
    free(ids);
    cr_assert_eq(qt_ks_obj_get(u, id, &a, &n), QT_E_TAMPER);
    cr_assert_eq(hook.n, 2);
    cr_assert_eq(hook.id, id);
    qt_ks_token_close(u);
}

/* The per-handle hook runs after the transaction, once per pending row,
 * and may write to the handle (here: a log record per refused row). */
struct after_seen {
    unsigned n;
    uint64_t ids[8];
};

static void
after_tamper(void *ctx, struct qt_ks_token *t, uint64_t id)
{
    struct after_seen *s = ctx;
    uint64_t seq = 0;
    char *tail = NULL;

    cr_assert_lt(s->n, 8);
    s->ids[s->n++] = id;
    cr_assert_eq(qt_ks_txn_begin(t), QT_OK);
    cr_assert_eq(qt_ks_log_tail(t, &seq, &tail), QT_OK);
    free(tail);
    cr_assert_eq(qt_ks_log_append(t, seq + 1, "tamper"), QT_OK);
    cr_assert_eq(qt_ks_txn_commit(t), QT_OK);
}

Test(ks_object, tamper_hook_runs_after_the_transaction_and_may_write)
{
    struct qt_ks_token *t = fx_token("tamper2");
    struct fx_tmpl k = {0}, q = {0};
    uint8_t val[32] = {7};
    struct qt_attr *a = NULL;
    size_t n = 0;
    uint64_t id, good, *ids = NULL, seq = 0;
    char *tail = NULL;
    struct after_seen s = {0};

    fx_ulong(&k, CKA_CLASS, CKO_SECRET_KEY);
    fx_str(&k, CKA_LABEL, "locked");
    fx_bool(&k, CKA_PRIVATE, 0);
    fx_bool(&k, CKA_EXTRACTABLE, 0);
    fx_add(&k, CKA_VALUE, val, 32);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &id), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &good), QT_OK);
    flip_extractable(qt_ks_token_path(t), id);
    qt_ks_token_set_tamper_hook(t, after_tamper, &s);

    fx_str(&q, CKA_LABEL, "locked");
    cr_assert_eq(qt_ks_obj_find(t, q.a, q.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 1);
    free(ids);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.ids[0], id);
    /* inside a caller's transaction: queued until it ends, even by rollback */
    cr_assert_eq(qt_ks_txn_begin(t), QT_OK);
    cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_E_TAMPER);
    cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_E_TAMPER);
    cr_assert_eq(s.n, 1);
    qt_ks_txn_rollback(t);
    cr_assert_eq(s.n, 2, "duplicates within one transaction are merged");
    cr_assert_eq(s.ids[1], id);
    cr_assert_eq(qt_ks_log_tail(t, &seq, &tail), QT_OK);
    cr_assert_eq(seq, 2);
    cr_assert_str_eq(tail, "tamper");
    free(tail);
    /* removed: no more calls */
    qt_ks_token_set_tamper_hook(t, NULL, NULL);
    cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_E_TAMPER);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(qt_ks_obj_get(t, good, &a, &n), QT_OK);
    qt_ks_attrs_free(a, n);
    qt_ks_token_close(t);
}

Test(ks_object, private_flag_or_index_column_edits_are_refused)
{
    struct qt_ks_token *t = fx_user_token("cols");
    struct fx_tmpl k, d;
    uint8_t val[32] = {9};
    struct qt_attr *a = NULL;
    size_t n = 0;
    uint64_t kid, did;
    sqlite3 *db;
    char sql[200];

    fx_secret(&k, "k", val, 1);
    fx_data(&d, "d");
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &kid), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &did), QT_OK);
    db = fx_raw(qt_ks_token_path(t));
    snprintf(sql, sizeof(sql), "UPDATE objects SET private = 0 WHERE id = %llu",
             (unsigned long long)kid);
    fx_exec(db, sql);
    snprintf(sql, sizeof(sql), "UPDATE objects SET label = x'6576696c' WHERE id = %llu",
             (unsigned long long)did);
    fx_exec(db, sql);
    sqlite3_close(db);
    cr_assert_eq(qt_ks_obj_get(t, kid, &a, &n), QT_E_TAMPER);
    cr_assert_eq(qt_ks_obj_get(t, did, &a, &n), QT_E_TAMPER);
    qt_ks_token_close(t);
}

Test(ks_object, sealed_value_moved_to_another_row_does_not_open)
{
    struct qt_ks_token *t = fx_user_token("swap");
    struct fx_tmpl k1, k2;
    uint8_t v1[32] = {1}, v2[32] = {2};
    struct qt_attr *a = NULL;
    size_t n = 0;
    uint64_t id1, id2;
    sqlite3 *db;
    char sql[300];

    fx_secret(&k1, "a", v1, 1);
    fx_secret(&k2, "a", v2, 1);
    cr_assert_eq(qt_ks_obj_create(t, k1.a, k1.n, &id1), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, k2.a, k2.n, &id2), QT_OK);
    /* copy row 1's seal and MAC over row 2 */
    db = fx_raw(qt_ks_token_path(t));
    snprintf(sql, sizeof(sql),
             "UPDATE objects SET sealed = (SELECT sealed FROM objects WHERE id = %llu),"
             " mac = (SELECT mac FROM objects WHERE id = %llu) WHERE id = %llu",
             (unsigned long long)id1, (unsigned long long)id1, (unsigned long long)id2);
    fx_exec(db, sql);
    sqlite3_close(db);
    cr_assert_eq(qt_ks_obj_get(t, id2, &a, &n), QT_E_TAMPER);
    cr_assert_eq(qt_ks_obj_get(t, id1, &a, &n), QT_OK);
    qt_ks_attrs_free(a, n);
    qt_ks_token_close(t);
}

Test(ks_object, label_lookup_is_one_indexed_query)
{
    struct qt_ks_token *t = fx_token("plan");
    sqlite3 *db;
    sqlite3_stmt *s;
    char plan[1024] = "";

    qt_ks_token_close(t);
    char **paths = NULL;
    size_t n = 0;
    cr_assert_eq(qt_ks_list(&fx_env, &paths, &n), QT_OK);
    db = fx_raw(paths[0]);
    /* The statements qt_ks_obj_find really runs, for each indexed attribute
     * combination: every one with an indexed attribute is a single index
     * search, without a scan or a sort. */
    static const char *const want[8] = {
        NULL,
        "USING INDEX objects_class (cls=?)",
        "USING INDEX objects_ckaid (ckaid=?)",
        "USING INDEX objects_",
        "USING INDEX objects_label (label=?)",
        "USING INDEX objects_",
        "USING INDEX objects_",
        "USING INDEX objects_",
    };
    for (unsigned mask = 1; mask < 8; mask++) {
        char sql[1024];

        plan[0] = '\0';
        snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", qt_ks_object_find_sql(mask));
        cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sql);
        while (sqlite3_step(s) == SQLITE_ROW) {
            strncat(plan, (const char *)sqlite3_column_text(s, 3),
                    sizeof(plan) - strlen(plan) - 2);
            strcat(plan, ";");
        }
        sqlite3_finalize(s);
        cr_assert(strstr(plan, want[mask]) != NULL, "mask %u plan: %s", mask, plan);
        cr_assert(strstr(plan, "SCAN") == NULL, "mask %u plan scans: %s", mask, plan);
        cr_assert(strstr(plan, "TEMP B-TREE") == NULL, "mask %u plan sorts: %s", mask, plan);
    }
    sqlite3_close(db);
    qt_ks_free_list(paths, n);
}

Test(ks_object, label_lookup_among_10000_objects)
{
    struct qt_ks_token *t = fx_token("many");
    struct fx_tmpl d, q = {0};
    char label[32];
    uint64_t id, want = 0, *ids = NULL;
    size_t n = 0;

    cr_assert_eq(qt_ks_txn_begin(t), QT_OK);
    for (int i = 0; i < 10000; i++) {
        snprintf(label, sizeof(label), "obj-%05d", i);
        fx_data(&d, label);
        cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id), QT_OK);
        if (i == 7777) {
            want = id;
        }
    }
    cr_assert_eq(qt_ks_txn_commit(t), QT_OK);
    fx_str(&q, CKA_LABEL, "obj-07777");
    cr_assert_eq(qt_ks_obj_find(t, q.a, q.n, &ids, &n), QT_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], want);
    free(ids);
    qt_ks_token_close(t);
}

Test(ks_object, no_plaintext_key_or_pin_in_any_file)
{
    struct qt_ks_token *t = fx_user_token("scan");
    struct fx_tmpl k;
    uint8_t val[32];
    struct qt_attr *a = NULL;
    size_t n = 0;
    uint64_t id, id2;
    char p[1300];
    char **paths = NULL;
    size_t pn = 0;

    fx_rng(NULL, val, sizeof(val));
    fx_secret(&k, "extractable", val, 1);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &id), QT_OK);
    fx_secret(&k, "public-one", val, 0);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &id2), QT_OK);
    cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_OK);
    cr_assert_eq(memcmp(fx_get(a, n, CKA_VALUE)->val, val, 32), 0);
    qt_ks_attrs_free(a, n);
    /* destroyed values must not linger either (secure_delete) */
    cr_assert_eq(qt_ks_obj_destroy(t, id2), QT_OK);
    cr_assert_eq(qt_ks_set_pin(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN, FX_USER_PIN, FX_USER_LEN),
                 QT_OK);

    cr_assert_eq(qt_ks_list(&fx_env, &paths, &pn), QT_OK);
    cr_assert_eq(pn, 1);
    const char *sfx[] = {"", "-wal", "-shm", "-journal"};
    int scanned = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s%s", paths[0], sfx[i]);
        if (access(p, F_OK) == 0) {
            scanned++;
        }
        cr_assert_eq(fx_file_contains(p, val, sizeof(val)), 0, "key bytes in %s", p);
        cr_assert_eq(fx_file_contains(p, val, 8), 0, "key prefix in %s", p);
        cr_assert_eq(fx_file_contains(p, FX_USER_PIN, FX_USER_LEN), 0, "user PIN in %s", p);
        cr_assert_eq(fx_file_contains(p, FX_SO_PIN, FX_SO_LEN), 0, "SO PIN in %s", p);
    }
    cr_assert_geq(scanned, 2, "database and WAL should both exist while open");
    qt_ks_free_list(paths, pn);
    qt_ks_token_close(t);
}

/* Reads column col of object id into buf; returns its length (-1: NULL). */
static int
raw_get(sqlite3 *db, const char *col, uint64_t id, uint8_t *buf, size_t cap)
{
    char sql[128];
    sqlite3_stmt *s;
    int len = -1;

    snprintf(sql, sizeof(sql), "SELECT %s FROM objects WHERE id = ?1", col);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
        const void *p = sqlite3_column_blob(s, 0);
        len = sqlite3_column_bytes(s, 0);
        cr_assert_leq((size_t)len, cap);
        memcpy(buf, p, (size_t)len);
    }
    sqlite3_finalize(s);
    return len;
}

static void
raw_put(sqlite3 *db, const char *col, uint64_t id, const uint8_t *buf, int len)
{
    char sql[128];
    sqlite3_stmt *s;

    snprintf(sql, sizeof(sql), "UPDATE objects SET %s = ?1 WHERE id = ?2", col);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_blob(s, 1, buf, len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)id);
    cr_assert_eq(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
}

/* Property test over the row decoder: any single flipped bit in any stored
 * column of a public or private object is refused, never crashes, never
 * yields a changed attribute; restoring the byte restores the object. */
Test(ks_object, any_flipped_bit_in_any_column_is_refused)
{
    static const char *const cols[] = {"cls", "ckaid", "label", "attrs", "sealed", "mac"};
    struct qt_ks_token *t = fx_user_token("flips");
    struct fx_tmpl k, pk;
    uint8_t v1[32], v2[32], buf[4096], rnd[4];
    uint64_t ids[2];
    struct qt_attr *a = NULL;
    size_t n = 0;
    sqlite3 *db;
    int tried = 0;

    fx_rng(NULL, v1, sizeof(v1));
    fx_rng(NULL, v2, sizeof(v2));
    fx_secret(&k, "private-key", v1, 1);
    fx_secret(&pk, "public-key", v2, 0);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &ids[0]), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, pk.a, pk.n, &ids[1]), QT_OK);
    db = fx_raw(qt_ks_token_path(t));
    for (int round = 0; round < 300; round++) {
        fx_rng(NULL, rnd, sizeof(rnd));
        uint64_t id = ids[rnd[0] % 2];
        const char *col = cols[rnd[1] % 6];
        int len = raw_get(db, col, id, buf, sizeof(buf));
        if (len <= 0) {
            continue; /* NULL column (attrs of a private row, sealed of a public one) */
        }
        size_t pos = ((size_t)rnd[2] << 8 | rnd[3]) % (size_t)len;
        uint8_t bit = (uint8_t)(1u << (rnd[2] % 8));
        buf[pos] ^= bit;
        raw_put(db, col, id, buf, len);
        cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_E_TAMPER, "%s of %llu byte %zu", col,
                     (unsigned long long)id, pos);
        cr_assert_eq(qt_ks_check(t, NULL, NULL), QT_E_TAMPER);
        buf[pos] ^= bit;
        raw_put(db, col, id, buf, len);
        cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_OK);
        cr_assert_eq(memcmp(fx_get(a, n, CKA_VALUE)->val, id == ids[0] ? v1 : v2, 32), 0);
        qt_ks_attrs_free(a, n);
        tried++;
    }
    cr_assert_gt(tried, 150);
    sqlite3_close(db);
    cr_assert_eq(qt_ks_check(t, NULL, NULL), QT_OK);
    qt_ks_token_close(t);
}
