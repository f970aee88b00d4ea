/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keystore/ks_pin.c: login, the persisted and authenticated failure
 * counter, lockout and unlock, C_SetPIN (re-wrap only), master-key rotation.
 */
#include "ks_fixture.h"

TestSuite(ks_pin, .init = fx_setup, .fini = fx_teardown);

static struct qt_ks_token_info
info(struct qt_ks_token *t)
{
    struct qt_ks_token_info i;

    cr_assert_eq(qt_ks_token_info(t, &i), QT_OK);
    return i;
}

Test(ks_pin, login_logout_states)
{
    struct qt_ks_token *t = fx_token("login");
    struct qt_ks_token_info i;

    cr_assert_eq(qt_ks_logged_in(t), -1);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_OK);
    cr_assert_eq(qt_ks_logged_in(t), QT_KS_USER);
    cr_assert_eq(qt_ks_login(t, QT_KS_SO, FX_SO_PIN, FX_SO_LEN), QT_E_STATE);
    /* re-check while logged in (CKU_CONTEXT_SPECIFIC): counted, stays in */
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, (const uint8_t *)"bad", 3), QT_E_PIN_INCORRECT);
    cr_assert_eq(qt_ks_logged_in(t), QT_KS_USER);
    cr_assert_eq(qt_ks_token_info(t, &i), QT_OK);
    cr_assert_eq(i.user_failures, 1);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_OK);
    cr_assert_eq(qt_ks_token_info(t, &i), QT_OK);
    cr_assert_eq(i.user_failures, 0);
    qt_ks_logout(t);
    cr_assert_eq(qt_ks_login(t, QT_KS_SO, FX_SO_PIN, FX_SO_LEN), QT_OK);
    cr_assert_eq(qt_ks_logged_in(t), QT_KS_SO);
    qt_ks_logout(t);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, 0), QT_E_PIN_INVALID);
    qt_ks_token_close(t);
}

Test(ks_pin, user_pin_not_initialised_is_state)
{
    struct qt_ks_token *t = NULL;

    cr_assert_eq(qt_ks_token_create(&fx_env, "nouser", FX_SO_PIN, FX_SO_LEN, &fx_kdf, &t), QT_OK);
    cr_assert_eq(info(t).user_pin_initialized, 0);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_E_STATE);
    cr_assert_eq(qt_ks_init_pin(t, FX_USER_PIN, FX_USER_LEN), QT_E_NOT_LOGGED_IN);
    qt_ks_token_close(t);
}

Test(ks_pin, failures_counted_persisted_locked_and_unlocked_by_so)
{
    struct qt_ks_token *t = fx_token("lock"), *u = NULL;
    struct qt_ks_token_info i;

    /* max 3 (fixture): two failures, then counts visible from another handle */
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, (const uint8_t *)"bad", 3), QT_E_PIN_INCORRECT);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, (const uint8_t *)"bad", 3), QT_E_PIN_INCORRECT);
    cr_assert_eq(qt_ks_token_open(&fx_env, qt_ks_token_path(t), &u), QT_OK);
    i = info(u);
    cr_assert_eq(i.user_failures, 2);      /* CKF_USER_PIN_FINAL_TRY: == max - 1 */
    cr_assert_eq(i.user_pin_locked, 0);
    cr_assert_eq(i.so_failures, 0);
    /* a success resets */
    cr_assert_eq(qt_ks_login(u, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_OK);
    qt_ks_logout(u);
    cr_assert_eq(info(t).user_failures, 0);
    /* three failures lock; then even the right PIN is refused unchecked */
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(qt_ks_login(t, QT_KS_USER, (const uint8_t *)"bad", 3), QT_E_PIN_INCORRECT);
    }
    i = info(u);
    cr_assert_eq(i.user_failures, 3);
    cr_assert_eq(i.user_pin_locked, 1);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_E_PIN_LOCKED);
    cr_assert_eq(qt_ks_set_pin(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN, (const uint8_t *)"n", 1),
                 QT_E_PIN_LOCKED);
    /* SO unlocks by setting the user PIN */
    cr_assert_eq(qt_ks_login(u, QT_KS_SO, FX_SO_PIN, FX_SO_LEN), QT_OK);
    cr_assert_eq(qt_ks_init_pin(u, (const uint8_t *)"fresh", 5), QT_OK);
    i = info(t);
    cr_assert_eq(i.user_pin_locked, 0);
    cr_assert_eq(i.user_failures, 0);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_E_PIN_INCORRECT);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, (const uint8_t *)"fresh", 5), QT_OK);
    qt_ks_token_close(t);
    qt_ks_token_close(u);
}

Test(ks_pin, so_pin_locks_too)
{
    struct qt_ks_token *t = fx_token("solock");

    for (int k = 0; k < 3; k++) {
        cr_assert_eq(qt_ks_login(t, QT_KS_SO, (const uint8_t *)"bad", 3), QT_E_PIN_INCORRECT);
    }
    cr_assert_eq(info(t).so_pin_locked, 1);
    cr_assert_eq(qt_ks_login(t, QT_KS_SO, FX_SO_PIN, FX_SO_LEN), QT_E_PIN_LOCKED);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_OK);
    qt_ks_token_close(t);
}

Test(ks_pin, counter_reset_on_disk_is_tamper)
{
    struct qt_ks_token *t = fx_token("ctr");
    sqlite3 *db;

    for (int k = 0; k < 3; k++) {
        cr_assert_eq(qt_ks_login(t, QT_KS_USER, (const uint8_t *)"bad", 3), QT_E_PIN_INCORRECT);
    }
    /* An attacker resets the counter in the file: the record MAC refuses it. */
    db = fx_raw(qt_ks_token_path(t));
    fx_exec(db, "UPDATE token SET user_fail = 0");
    sqlite3_close(db);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_E_TAMPER);
    qt_ks_token_close(t);
}

Test(ks_pin, counter_is_written_before_the_pin_is_checked)
{
    struct qt_ks_token *t = fx_token("before");
    sqlite3 *db;
    sqlite3_stmt *s;

    /* The increment is its own committed transaction, visible in the file
     * to another connection right after the failed attempt. */
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, (const uint8_t *)"bad", 3), QT_E_PIN_INCORRECT);
    db = fx_raw(qt_ks_token_path(t));
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT user_fail FROM token", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(s, 0), 1);
    sqlite3_finalize(s);
    sqlite3_close(db);
    qt_ks_token_close(t);
}

static void
read_rows(const char *path, char *out, size_t outlen)
{
    sqlite3 *db = fx_raw(path);
    sqlite3_stmt *s;
    size_t off = 0;

    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT hex(sealed) || hex(attrs) || hex(mac) FROM objects"
                                        " ORDER BY id",
                                    -1, &s, NULL),
                 SQLITE_OK);
    out[0] = '\0';
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(s, 0);
        size_t n = r != NULL ? strlen(r) : 0;
        cr_assert_lt(off + n, outlen);
        memcpy(out + off, r, n);
        off += n;
        out[off] = '\0';
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
}

Test(ks_pin, set_pin_rewraps_without_touching_objects)
{
    struct qt_ks_token *t = fx_user_token("setpin");
    struct fx_tmpl k;
    uint8_t val[32];
    uint64_t id;
    static char before[65536], after[65536];
    struct qt_attr *a = NULL;
    size_t n = 0;

    fx_rng(NULL, val, sizeof(val));
    fx_secret(&k, "k", val, 1);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &id), QT_OK);
    read_rows(qt_ks_token_path(t), before, sizeof(before));
    cr_assert_eq(
        qt_ks_set_pin(t, QT_KS_USER, (const uint8_t *)"wrong", 5, (const uint8_t *)"new", 3),
        QT_E_PIN_INCORRECT);
    cr_assert_eq(qt_ks_set_pin(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN, (const uint8_t *)"new", 3),
                 QT_OK);
    read_rows(qt_ks_token_path(t), after, sizeof(after));
    cr_assert_str_eq(before, after, "objects were re-encrypted by set_pin");
    qt_ks_logout(t);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_E_PIN_INCORRECT);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, (const uint8_t *)"new", 3), QT_OK);
    cr_assert_eq(qt_ks_obj_get(t, id, &a, &n), QT_OK);
    cr_assert_eq(memcmp(fx_get(a, n, CKA_VALUE)->val, val, 32), 0);
    qt_ks_attrs_free(a, n);
    /* SO PIN change too */
    cr_assert_eq(qt_ks_set_pin(t, QT_KS_SO, FX_SO_PIN, FX_SO_LEN, (const uint8_t *)"so2", 3),
                 QT_OK);
    qt_ks_logout(t);
    cr_assert_eq(qt_ks_login(t, QT_KS_SO, (const uint8_t *)"so2", 3), QT_OK);
    qt_ks_token_close(t);
}

Test(ks_pin, rekey_reseals_all_and_other_role_follows_chain)
{
    struct qt_ks_token *t = fx_user_token("rekey"), *other = NULL;
    struct fx_tmpl k, d;
    uint8_t val[32];
    uint64_t kid, did;
    static char before[65536], after[65536];
    struct qt_attr *a = NULL;
    size_t n = 0;
    sqlite3 *db;

    cr_assert_eq(qt_ks_rekey(NULL), QT_E_ARG);
    fx_rng(NULL, val, sizeof(val));
    fx_secret(&k, "k", val, 1);
    fx_data(&d, "d");
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &kid), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &did), QT_OK);
    /* a second handle logged in under the old key */
    cr_assert_eq(qt_ks_token_open(&fx_env, qt_ks_token_path(t), &other), QT_OK);
    cr_assert_eq(qt_ks_login(other, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_OK);

    read_rows(qt_ks_token_path(t), before, sizeof(before));
    cr_assert_eq(qt_ks_rekey(t), QT_OK);
    read_rows(qt_ks_token_path(t), after, sizeof(after));
    cr_assert_str_neq(before, after);
    cr_assert_eq(info(t).mk_generation, 2);
    cr_assert_eq(qt_ks_obj_get(t, kid, &a, &n), QT_OK);
    cr_assert_eq(memcmp(fx_get(a, n, CKA_VALUE)->val, val, 32), 0);
    qt_ks_attrs_free(a, n);

    /* the stale handle is logged out rather than reading garbage */
    cr_assert_eq(qt_ks_obj_get(other, kid, &a, &n), QT_E_NOT_LOGGED_IN);
    cr_assert_eq(qt_ks_logged_in(other), -1);

    /* the SO (not logged in during rekey) reaches the new key via the chain */
    db = fx_raw(qt_ks_token_path(t));
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM mk_chain", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(s, 0), 1);
    sqlite3_finalize(s);
    cr_assert_eq(qt_ks_login(other, QT_KS_SO, FX_SO_PIN, FX_SO_LEN), QT_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM mk_chain", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(s, 0), 0, "chain record kept after both roles moved on");
    sqlite3_finalize(s);
    sqlite3_close(db);
    cr_assert_eq(qt_ks_rekey(other), QT_OK); /* SO may rotate too */
    qt_ks_logout(other);
    qt_ks_logout(t);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_OK);
    cr_assert_eq(qt_ks_obj_get(t, kid, &a, &n), QT_OK);
    cr_assert_eq(memcmp(fx_get(a, n, CKA_VALUE)->val, val, 32), 0);
    qt_ks_attrs_free(a, n);
    cr_assert_eq(qt_ks_check(t, NULL, NULL), QT_OK);
    qt_ks_token_close(t);
    qt_ks_token_close(other);
}

Test(ks_pin, rekey_needs_login)
{
    struct qt_ks_token *t = fx_token("nolog");

    cr_assert_eq(qt_ks_rekey(t), QT_E_NOT_LOGGED_IN);
    qt_ks_token_close(t);
}

/* The login failure hook: the counter as verified inside its transaction,
 * and a log record appended there commits with it. */
struct fail_seen {
    struct qt_ks_token *t;
    unsigned calls, failures, max;
    int who;
    qt_rc ret;
};

static qt_rc
on_fail(void *ctx, enum qt_ks_user who, unsigned failures, unsigned max)
{
    struct fail_seen *f = ctx;
    uint64_t seq = 0;
    char *tail = NULL;
    char rec[64];

    f->calls++;
    f->failures = failures;
    f->max = max;
    f->who = (int)who;
    if (f->ret != QT_OK) {
        return f->ret;
    }
    cr_assert_eq(qt_ks_log_tail(f->t, &seq, &tail), QT_OK);
    free(tail);
    snprintf(rec, sizeof(rec), "fail %s %u/%u", who == QT_KS_SO ? "so" : "user", failures, max);
    return qt_ks_log_append(f->t, seq + 1, rec);
}

static qt_rc
collect(void *ctx, uint64_t seq, const char *jws)
{
    char *out = ctx;

    (void)seq;
    strcat(out, jws);
    strcat(out, ";");
    return QT_OK;
}

Test(ks_pin, login_cb_records_each_counted_failure_in_its_transaction)
{
    struct qt_ks_token *t = fx_token("failcb");
    struct fail_seen f = {.t = t};
    static char log[4096];

    /* a right PIN: no callback */
    cr_assert_eq(qt_ks_login_cb(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN, on_fail, &f), QT_OK);
    cr_assert_eq(f.calls, 0);
    qt_ks_logout(t);
    for (unsigned k = 1; k <= 3; k++) {
        cr_assert_eq(qt_ks_login_cb(t, QT_KS_USER, (const uint8_t *)"bad", 3, on_fail, &f),
                     QT_E_PIN_INCORRECT);
        cr_assert_eq(f.calls, k);
        cr_assert_eq(f.failures, k);
        cr_assert_eq(f.max, 3);
        cr_assert_eq(f.who, QT_KS_USER);
    }
    /* locked: nothing checked, nothing counted, no callback */
    cr_assert_eq(qt_ks_login_cb(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN, on_fail, &f),
                 QT_E_PIN_LOCKED);
    cr_assert_eq(f.calls, 3);
    cr_assert_eq(qt_ks_login_cb(t, QT_KS_SO, (const uint8_t *)"bad", 3, on_fail, &f),
                 QT_E_PIN_INCORRECT);
    cr_assert_eq(f.who, QT_KS_SO);
    cr_assert_eq(f.failures, 1);
    log[0] = '\0';
    cr_assert_eq(qt_ks_log_each(t, collect, log), QT_OK);
    cr_assert_str_eq(log, "fail user 1/3;fail user 2/3;fail user 3/3;fail so 1/3;");

    /* a failing callback: its record rolled back, its error returned, the
     * counter (committed before the PIN check) still counts */
    f.ret = QT_E_CRYPTO;
    cr_assert_eq(qt_ks_login_cb(t, QT_KS_SO, (const uint8_t *)"bad", 3, on_fail, &f),
                 QT_E_CRYPTO);
    cr_assert_eq(info(t).so_failures, 2);
    log[0] = '\0';
    cr_assert_eq(qt_ks_log_each(t, collect, log), QT_OK);
    cr_assert_str_eq(log, "fail user 1/3;fail user 2/3;fail user 3/3;fail so 1/3;");
    qt_ks_token_close(t);
}

struct rekey_seen {
    struct qt_ks_token *t;
    uint64_t gen;
    qt_rc ret;
};

static qt_rc
on_rekey(void *ctx, uint64_t gen)
{
    struct rekey_seen *r = ctx;
    uint64_t seq = 0;
    char *tail = NULL;

    r->gen = gen;
    cr_assert_eq(qt_ks_log_tail(r->t, &seq, &tail), QT_OK);
    free(tail);
    cr_assert_eq(qt_ks_log_append(r->t, seq + 1, gen == 2 ? "rekey 2" : "rekey n"), QT_OK);
    return r->ret;
}

Test(ks_pin, rekey_cb_commits_with_the_rotation_or_rolls_it_back)
{
    struct qt_ks_token *t = fx_user_token("rekeycb");
    struct rekey_seen r = {.t = t, .ret = QT_E_IO};
    static char log[1024];
    struct fx_tmpl k;
    uint8_t val[32];
    uint64_t kid;
    struct qt_attr *a = NULL;
    size_t n = 0;

    fx_rng(NULL, val, sizeof(val));
    fx_secret(&k, "k", val, 1);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &kid), QT_OK);
    /* the hook fails: neither the rotation nor its record happened */
    cr_assert_eq(qt_ks_rekey_cb(t, on_rekey, &r), QT_E_IO);
    cr_assert_eq(r.gen, 2);
    cr_assert_eq(info(t).mk_generation, 1);
    log[0] = '\0';
    cr_assert_eq(qt_ks_log_each(t, collect, log), QT_OK);
    cr_assert_str_eq(log, "");
    cr_assert_eq(qt_ks_obj_get(t, kid, &a, &n), QT_OK);
    qt_ks_attrs_free(a, n);
    /* the hook succeeds: both */
    r.ret = QT_OK;
    cr_assert_eq(qt_ks_rekey_cb(t, on_rekey, &r), QT_OK);
    cr_assert_eq(info(t).mk_generation, 2);
    log[0] = '\0';
    cr_assert_eq(qt_ks_log_each(t, collect, log), QT_OK);
    cr_assert_str_eq(log, "rekey 2;");
    cr_assert_eq(qt_ks_obj_get(t, kid, &a, &n), QT_OK);
    cr_assert_eq(memcmp(fx_get(a, n, CKA_VALUE)->val, val, 32), 0);
    qt_ks_attrs_free(a, n);
    cr_assert_eq(qt_ks_check(t, NULL, NULL), QT_OK);
    qt_ks_token_close(t);
}
