/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keystore/ks_backup.c: qt_ks_check, and backup/restore onto a fresh
 * installation (another device key) that needs the PIN.
 */
#include <sys/stat.h>

#include "ks_fixture.h"

TestSuite(ks_backup, .init = fx_setup, .fini = fx_teardown);

Test(ks_backup, check_counts_unverified_private_objects_when_logged_out)
{
    struct qt_ks_token *t = fx_user_token("chk"), *anon = NULL;
    struct fx_tmpl k, d;
    uint8_t val[32] = {3};
    uint64_t id, unv = 9;

    fx_secret(&k, "k", val, 1);
    fx_data(&d, "d");
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &id), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id), QT_OK);
    cr_assert_eq(qt_ks_check_ex(t, NULL, NULL, &unv), QT_OK);
    cr_assert_eq(unv, 0);
    cr_assert_eq(qt_ks_token_open(&fx_env, qt_ks_token_path(t), &anon), QT_OK);
    cr_assert_eq(qt_ks_check_ex(anon, NULL, NULL, &unv), QT_OK);
    cr_assert_eq(unv, 1);
    qt_ks_token_close(anon);
    qt_ks_token_close(t);
}

Test(ks_backup, check_finds_damaged_seal_with_login_and_log_gaps)
{
    struct qt_ks_token *t = fx_user_token("seal");
    struct fx_tmpl k;
    uint8_t val[32] = {4};
    uint64_t id;
    sqlite3 *db;
    char sql[256];

    fx_secret(&k, "k", val, 1);
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &id), QT_OK);
    cr_assert_eq(qt_ks_log_append(t, 1, "a"), QT_OK);
    cr_assert_eq(qt_ks_log_append(t, 2, "b"), QT_OK);
    cr_assert_eq(qt_ks_check(t, NULL, NULL), QT_OK);
    db = fx_raw(qt_ks_token_path(t));
    fx_exec(db, "DELETE FROM attest_log WHERE seq = 1");
    sqlite3_close(db);
    cr_assert_eq(qt_ks_check(t, NULL, NULL), QT_E_TAMPER);
    db = fx_raw(qt_ks_token_path(t));
    fx_exec(db, "INSERT INTO attest_log VALUES (1, 'a')");
    /* byte 21 of the seal changed for sure: set to 0x00 it was a no-op
     * whenever it already was 0x00 (1 run in 256) */
    snprintf(sql, sizeof(sql),
             "UPDATE objects SET sealed = substr(sealed, 1, 20) ||"
             " CASE WHEN substr(sealed, 21, 1) = x'00' THEN x'01' ELSE x'00' END ||"
             " substr(sealed, 22) WHERE id = %llu",
             (unsigned long long)id);
    fx_exec(db, sql);
    sqlite3_close(db);
    cr_assert_eq(qt_ks_check(t, NULL, NULL), QT_E_TAMPER);
    qt_ks_token_close(t);
}

Test(ks_backup, backup_needs_login_and_never_overwrites)
{
    struct qt_ks_token *t = fx_token("bk");
    char out[400];

    snprintf(out, sizeof(out), "%s/backup.qtb", fx_root);
    cr_assert_eq(qt_ks_backup(t, out), QT_E_NOT_LOGGED_IN);
    cr_assert_eq(qt_ks_login(t, QT_KS_USER, FX_USER_PIN, FX_USER_LEN), QT_OK);
    cr_assert_eq(qt_ks_backup(t, out), QT_OK);
    cr_assert_eq(qt_ks_backup(t, out), QT_E_EXISTS);
    struct stat st;
    cr_assert_eq(stat(out, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    /* a backup is not a token: it cannot be opened as one */
    struct qt_ks_token *u = NULL;
    cr_assert_eq(qt_ks_token_open(&fx_env, out, &u), QT_E_STATE);
    qt_ks_token_close(t);
}

Test(ks_backup, restore_on_fresh_installation_needs_the_pin)
{
    struct qt_ks_token *t = fx_user_token("travel"), *r = NULL;
    struct fx_tmpl k, pk, d;
    uint8_t priv_val[32], pub_val[32];
    uint64_t kid, pkid, did, *ids = NULL, seq;
    struct qt_attr *a = NULL;
    size_t n = 0;
    char out[400], store2[400], inst2[400], *jws = NULL;
    struct qt_ks_token_info i;

    fx_rng(NULL, priv_val, sizeof(priv_val));
    fx_rng(NULL, pub_val, sizeof(pub_val));
    fx_secret(&k, "private", priv_val, 1);
    fx_secret(&pk, "public", pub_val, 0);
    fx_data(&d, "data");
    cr_assert_eq(qt_ks_obj_create(t, k.a, k.n, &kid), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, pk.a, pk.n, &pkid), QT_OK);
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &did), QT_OK);
    cr_assert_eq(qt_ks_log_append(t, 1, "genesis"), QT_OK);
    snprintf(out, sizeof(out), "%s/backup.qtb", fx_root);
    cr_assert_eq(qt_ks_backup(t, out), QT_OK);
    qt_ks_token_close(t);
    /* the device-sealed public value is not in the backup in clear */
    cr_assert_eq(fx_file_contains(out, pub_val, sizeof(pub_val)), 0);
    cr_assert_eq(fx_file_contains(out, priv_val, sizeof(priv_val)), 0);

    /* a fresh machine: new store, new installation (new device key) */
    snprintf(store2, sizeof(store2), "%s/store2", fx_root);
    snprintf(inst2, sizeof(inst2), "%s/store2/installation", fx_root);
    fx_env.store_dir = store2;
    fx_env.install_dir = inst2;
    cr_assert_eq(qt_ks_restore(&fx_env, out, QT_KS_USER, (const uint8_t *)"wrong", 5, &r),
                 QT_E_PIN_INCORRECT);
    cr_assert_null(r);
    char **paths = NULL;
    cr_assert_eq(qt_ks_list(&fx_env, &paths, &n), QT_OK);
    cr_assert_eq(n, 0, "a failed restore left a token behind");
    cr_assert_eq(qt_ks_restore(&fx_env, out, QT_KS_USER, FX_USER_PIN, FX_USER_LEN, &r), QT_OK);
    cr_assert_eq(qt_ks_logged_in(r), QT_KS_USER);
    cr_assert_eq(qt_ks_obj_get(r, kid, &a, &n), QT_OK);
    cr_assert_eq(memcmp(fx_get(a, n, CKA_VALUE)->val, priv_val, 32), 0);
    qt_ks_attrs_free(a, n);
    cr_assert_eq(qt_ks_check(r, NULL, NULL), QT_OK);
    cr_assert_eq(qt_ks_token_info(r, &i), QT_OK);
    cr_assert_str_eq(i.label, "travel");
    qt_ks_token_close(r);

    /* reopened without login: public objects work under the new device key */
    cr_assert_eq(qt_ks_token_open_label(&fx_env, "travel", &r), QT_OK);
    cr_assert_eq(qt_ks_obj_get(r, pkid, &a, &n), QT_OK);
    cr_assert_eq(memcmp(fx_get(a, n, CKA_VALUE)->val, pub_val, 32), 0);
    qt_ks_attrs_free(a, n);
    cr_assert_eq(qt_ks_obj_find(r, NULL, 0, &ids, &n), QT_OK);
    cr_assert_eq(n, 2);
    free(ids);
    cr_assert_eq(qt_ks_log_tail(r, &seq, &jws), QT_OK);
    cr_assert_eq(seq, 1);
    cr_assert_str_eq(jws, "genesis");
    free(jws);
    /* restoring twice is refused */
    struct qt_ks_token *r2 = NULL;
    cr_assert_eq(qt_ks_restore(&fx_env, out, QT_KS_USER, FX_USER_PIN, FX_USER_LEN, &r2),
                 QT_E_EXISTS);
    qt_ks_token_close(r);
}

Test(ks_backup, tampered_backup_is_refused)
{
    struct qt_ks_token *t = fx_user_token("bad-bk"), *r = NULL;
    struct fx_tmpl d;
    uint64_t id;
    char out[400], store2[400], inst2[400];
    char **paths = NULL;
    size_t n = 0;
    sqlite3 *db;

    fx_data(&d, "data");
    cr_assert_eq(qt_ks_obj_create(t, d.a, d.n, &id), QT_OK);
    snprintf(out, sizeof(out), "%s/backup.qtb", fx_root);
    cr_assert_eq(qt_ks_backup(t, out), QT_OK);
    qt_ks_token_close(t);
    db = fx_raw(out);
    fx_exec(db, "UPDATE objects SET label = x'00'");
    sqlite3_close(db);
    snprintf(store2, sizeof(store2), "%s/store2", fx_root);
    snprintf(inst2, sizeof(inst2), "%s/store2/installation", fx_root);
    fx_env.store_dir = store2;
    fx_env.install_dir = inst2;
    cr_assert_eq(qt_ks_restore(&fx_env, out, QT_KS_USER, FX_USER_PIN, FX_USER_LEN, &r),
                 QT_E_TAMPER);
    cr_assert_eq(qt_ks_list(&fx_env, &paths, &n), QT_OK);
    cr_assert_eq(n, 0);
}
