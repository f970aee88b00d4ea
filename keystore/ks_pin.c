/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PINs and the master key: login with a persisted, authenticated failure
 * counter, PIN lockout, C_InitPIN / C_SetPIN (re-wrap only), re-init, and
 * master-key rotation.
 *
 * The counter is part of the token record, whose MAC is keyed from the
 * installation device key, so it can be verified before any PIN is known.
 * A login first increments it in its own committed transaction, then runs
 * Argon2id (outside any lock), then resets it on success: killing the
 * process between the two steps can only count a failure, never forget one.
 *
 * Rotation (qt_ks_rekey) knows only the logged-in role's KEK.  The other
 * role's wrap still holds the previous master key; a chain record (table
 * mk_chain: generation g wrapped under a key derived from generation g - 1)
 * lets that role reach the current key at its next login, when its wrap is
 * re-made and the chain records no role needs any more are deleted.
 */
#include <openssl/crypto.h>
#include <string.h>

#include "../src/common/check.h"
#include "../src/common/log.h"
#include "../src/common/mem.h"
#include "ks_int.h"
#include "ks_sqlite.h"

#define WRAP_AAD_LEN (14 + KS_SERIAL_LEN + 1 + 8 + 12 + KS_SALT)
#define CHAIN_AAD_LEN (KS_SERIAL_LEN + 8)

static qt_rc
wrap_aad(struct qt_ks_token *t, enum qt_ks_user who, uint64_t gen,
         const struct qt_ks_kdf_params *kdf, const uint8_t salt[KS_SALT],
         uint8_t out[WRAP_AAD_LEN])
{
    struct qt_buf b;

    qt_buf_wrap(&b, out, 0, WRAP_AAD_LEN);
    QT_TRY(qt_buf_put(&b, "qtoken wrap v2", 14));
    QT_TRY(qt_buf_put(&b, t->serial, KS_SERIAL_LEN));
    QT_TRY(qt_buf_put_u8(&b, (uint8_t)who));
    QT_TRY(qt_buf_put_u64(&b, gen));
    QT_TRY(qt_buf_put_u32(&b, kdf->memory_kib));
    QT_TRY(qt_buf_put_u32(&b, kdf->passes));
    QT_TRY(qt_buf_put_u32(&b, kdf->lanes));
    return qt_buf_put(&b, salt, KS_SALT);
}

/* wrap = GCM(kek, mk) into p->wrap, bound to who, gen, kdf and p->salt. */
static qt_rc
wrap_with_kek(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t kek[KS_KEY],
              const struct qt_ks_kdf_params *kdf, const uint8_t mk[KS_KEY], uint64_t gen,
              struct ks_pinrow *p)
{
    uint8_t aad[WRAP_AAD_LEN];
    uint8_t space[KS_WRAP_LEN];
    struct qt_buf b;

    QT_TRY(wrap_aad(t, who, gen, kdf, p->salt, aad));
    qt_buf_wrap(&b, space, 0, sizeof(space));
    QT_TRY(qt_ks_wrap_seal(t, kek, aad, sizeof(aad), mk, KS_KEY, &b));
    QT_ENSURE(b.len == KS_WRAP_LEN, QT_E_INTERNAL);
    memcpy(p->wrap, space, KS_WRAP_LEN);
    p->gen = gen;
    p->set = 1;
    return QT_OK;
}

qt_rc
qt_ks_pin_make_wrap(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t *pin,
                    size_t pin_len, const struct qt_ks_kdf_params *kdf, const uint8_t mk[KS_KEY],
                    uint64_t gen, struct ks_pinrow *p, uint8_t *kek_out)
{
    struct qt_secret kek = {0};
    qt_rc rc;

    QT_ENSURE(t != NULL && pin != NULL && kdf != NULL && mk != NULL && p != NULL, QT_E_ARG);
    QT_ENSURE(pin_len > 0 && pin_len <= QT_KS_PIN_MAX, QT_E_PIN_INVALID);
    memset(p, 0, sizeof(*p));
    QT_TRY(t->rng(t->rng_ctx, p->salt, sizeof(p->salt)));
    QT_TRY(qt_secret_init(&kek, KS_KEY));
    if ((rc = qt_ks_wrap_kek(pin, pin_len, p->salt, kdf, kek.p)) != QT_OK ||
        (rc = wrap_with_kek(t, who, kek.p, kdf, mk, gen, p)) != QT_OK) {
        goto out;
    }
    if (kek_out != NULL) {
        memcpy(kek_out, kek.p, KS_KEY);
    }
out:
    qt_secret_clear(&kek);
    return rc;
}

/* mk (generation from) -> generation to, through the mk_chain records. */
static qt_rc
follow_chain(struct qt_ks_token *t, uint8_t mk[KS_KEY], uint64_t from, uint64_t to)
{
    sqlite3_stmt *st = NULL;
    uint8_t ck[KS_KEY], aad[CHAIN_AAD_LEN], next[KS_KEY];
    struct qt_buf b;
    qt_rc rc = QT_OK;

    for (uint64_t g = from + 1; g <= to && rc == QT_OK; g++) {
        int src;

        (void)sqlite3_finalize(st);
        st = NULL;
        if ((rc = qt_ks_sqlite_prepare(t, "SELECT wrap FROM mk_chain WHERE gen = ?1", &st)) !=
                QT_OK ||
            (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 1, (sqlite3_int64)g))) != QT_OK) {
            break;
        }
        src = sqlite3_step(st);
        if (src != SQLITE_ROW || sqlite3_column_bytes(st, 0) != (int)KS_WRAP_LEN) {
            rc = src == SQLITE_ROW || src == SQLITE_DONE ? QT_E_TAMPER : qt_ks_sqlite_rc(t, src);
            break;
        }
        qt_buf_wrap(&b, aad, 0, sizeof(aad));
        if ((rc = qt_buf_put(&b, t->serial, KS_SERIAL_LEN)) != QT_OK ||
            (rc = qt_buf_put_u64(&b, g)) != QT_OK ||
            (rc = qt_ks_wrap_hkdf(mk, t->serial, "qtoken keystore v2 chain", ck)) != QT_OK ||
            (rc = qt_ks_wrap_open(ck, aad, sizeof(aad), sqlite3_column_blob(st, 0), KS_WRAP_LEN,
                                  next)) != QT_OK) {
            break;
        }
        memcpy(mk, next, KS_KEY);
    }
    qt_wipe(ck, sizeof(ck));
    qt_wipe(next, sizeof(next));
    (void)sqlite3_finalize(st);
    return rc;
}

static qt_rc
write_chain(struct qt_ks_token *t, const uint8_t old_mk[KS_KEY], const uint8_t new_mk[KS_KEY],
            uint64_t gen)
{
    sqlite3_stmt *st = NULL;
    uint8_t ck[KS_KEY], aad[CHAIN_AAD_LEN], space[KS_WRAP_LEN];
    struct qt_buf b, w;
    int src;
    qt_rc rc;

    qt_buf_wrap(&b, aad, 0, sizeof(aad));
    qt_buf_wrap(&w, space, 0, sizeof(space));
    if ((rc = qt_buf_put(&b, t->serial, KS_SERIAL_LEN)) != QT_OK ||
        (rc = qt_buf_put_u64(&b, gen)) != QT_OK ||
        (rc = qt_ks_wrap_hkdf(old_mk, t->serial, "qtoken keystore v2 chain", ck)) != QT_OK ||
        (rc = qt_ks_wrap_seal(t, ck, aad, sizeof(aad), new_mk, KS_KEY, &w)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_prepare(t, "INSERT INTO mk_chain (gen, wrap) VALUES (?1, ?2)", &st)) !=
            QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 1, (sqlite3_int64)gen))) != QT_OK ||
        (rc = qt_ks_sqlite_bind_blob(t, st, 2, space, w.len)) != QT_OK) {
        goto out;
    }
    src = sqlite3_step(st);
    rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src);
out:
    qt_wipe(ck, sizeof(ck));
    (void)sqlite3_finalize(st);
    return rc;
}

/* Deletes chain records every role with a PIN has moved past. */
static qt_rc
prune_chain(struct qt_ks_token *t, const struct ks_tokrow *r)
{
    sqlite3_stmt *st = NULL;
    uint64_t low = r->pin[QT_KS_SO].gen;
    int src;
    qt_rc rc;

    if (r->pin[QT_KS_USER].set && r->pin[QT_KS_USER].gen < low) {
        low = r->pin[QT_KS_USER].gen;
    }
    QT_TRY(qt_ks_sqlite_prepare(t, "DELETE FROM mk_chain WHERE gen <= ?1", &st));
    rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 1, (sqlite3_int64)low));
    if (rc == QT_OK) {
        src = sqlite3_step(st);
        rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src);
    }
    (void)sqlite3_finalize(st);
    return rc;
}

qt_rc
qt_ks_pin_unwrap(struct qt_ks_token *t, const struct ks_tokrow *r, enum qt_ks_user who,
                 const uint8_t *pin, size_t pin_len, uint8_t mk[KS_KEY], uint8_t kek[KS_KEY])
{
    uint8_t aad[WRAP_AAD_LEN];
    const struct ks_pinrow *p;
    qt_rc rc;

    QT_ENSURE(t != NULL && r != NULL && pin != NULL && mk != NULL && kek != NULL, QT_E_ARG);
    QT_ENSURE(who == QT_KS_SO || who == QT_KS_USER, QT_E_ARG);
    p = &r->pin[who];
    QT_ENSURE(p->set, QT_E_STATE);
    QT_TRY(qt_ks_sqlite_check_kdf(&r->kdf));
    QT_TRY(wrap_aad(t, who, p->gen, &r->kdf, p->salt, aad));
    QT_TRY(qt_ks_wrap_kek(pin, pin_len, p->salt, &r->kdf, kek));
    rc = qt_ks_wrap_open(kek, aad, sizeof(aad), p->wrap, KS_WRAP_LEN, mk);
    if (rc == QT_E_TAMPER) {
        rc = QT_E_PIN_INCORRECT;
    }
    if (rc == QT_OK && p->gen < r->mk_gen) {
        rc = follow_chain(t, mk, p->gen, r->mk_gen);
    }
    if (rc != QT_OK) {
        qt_wipe(mk, KS_KEY);
        qt_wipe(kek, KS_KEY);
    }
    return rc;
}

/* After a wrong PIN: one transaction re-reads the (MAC-verified) counter
 * and hands its value to on_fail, whose writes commit with it.  Returns
 * QT_E_PIN_INCORRECT, or the error that rolled the transaction back. */
static qt_rc
fail_txn(struct qt_ks_token *t, enum qt_ks_user who, struct ks_tokrow *r, qt_ks_fail_fn on_fail,
         void *ctx)
{
    qt_rc rc;

    QT_TRY(qt_ks_txn_begin(t));
    if ((rc = qt_ks_sqlite_tokrow_read(t, r, 1)) != QT_OK ||
        (rc = on_fail(ctx, who, r->pin[who].fail, t->max_failures)) != QT_OK ||
        (rc = qt_ks_txn_commit(t)) != QT_OK) {
        qt_ks_txn_rollback(t);
        return rc;
    }
    return QT_E_PIN_INCORRECT;
}

/* The counted PIN check shared by login, set_pin and reinit.  On success mk
 * holds the current master key, kek who's PIN key, *gen its generation. */
static qt_rc
pin_verify(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t *pin, size_t pin_len,
           uint8_t mk[KS_KEY], uint8_t kek[KS_KEY], uint64_t *gen, qt_ks_fail_fn on_fail,
           void *fail_ctx)
{
    struct ks_tokrow *r = NULL, *r2 = NULL;
    qt_rc rc;

    QT_ENSURE(t != NULL && pin != NULL, QT_E_ARG);
    QT_ENSURE(who == QT_KS_SO || who == QT_KS_USER, QT_E_ARG);
    QT_ENSURE(pin_len > 0 && pin_len <= QT_KS_PIN_MAX, QT_E_PIN_INVALID);
    QT_ENSURE((t->flags & KS_FLAG_PORTABLE) == 0, QT_E_STATE);
    r = qt_secret_alloc(sizeof(*r));
    r2 = qt_secret_alloc(sizeof(*r2));
    if (r == NULL || r2 == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    /* 1. Verify and bump the counter, committed before the PIN is tried. */
    if ((rc = qt_ks_txn_begin(t)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_tokrow_read(t, r, 1)) != QT_OK) {
        qt_ks_txn_rollback(t);
        goto out;
    }
    if (!r->pin[who].set || r->pin[who].fail >= t->max_failures) {
        rc = !r->pin[who].set ? QT_E_STATE : QT_E_PIN_LOCKED;
        qt_ks_txn_rollback(t);
        goto out;
    }
    r->pin[who].fail++;
    if ((rc = qt_ks_sqlite_tokrow_write(t, r, 0)) != QT_OK || (rc = qt_ks_txn_commit(t)) != QT_OK) {
        qt_ks_txn_rollback(t);
        goto out;
    }
    /* 2. The expensive part, holding no lock. */
    if ((rc = qt_ks_pin_unwrap(t, r, who, pin, pin_len, mk, kek)) != QT_OK) {
        if (rc == QT_E_PIN_INCORRECT) {
            qt_log(QT_LOG_INFO, "keystore: %s PIN incorrect (%u of %u)",
                   who == QT_KS_SO ? "SO" : "user", r->pin[who].fail, t->max_failures);
            if (on_fail != NULL) {
                rc = fail_txn(t, who, r2, on_fail, fail_ctx);
            }
        }
        goto out;
    }
    /* 3. Reset the counter; bring who's wrap to the current generation. */
    if ((rc = qt_ks_txn_begin(t)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_tokrow_read(t, r2, 1)) != QT_OK) {
        goto fail3;
    }
    if (r2->mk_gen != r->mk_gen) {
        /* Rotated between steps 1 and 3: follow the new chain links. */
        if ((rc = follow_chain(t, mk, r->mk_gen, r2->mk_gen)) != QT_OK) {
            goto fail3;
        }
    }
    r2->pin[who].fail = 0;
    if (r2->pin[who].gen != r2->mk_gen &&
        memcmp(r2->pin[who].salt, r->pin[who].salt, KS_SALT) == 0) {
        if ((rc = wrap_with_kek(t, who, kek, &r2->kdf, mk, r2->mk_gen, &r2->pin[who])) != QT_OK ||
            (rc = prune_chain(t, r2)) != QT_OK) {
            goto fail3;
        }
    }
    if ((rc = qt_ks_sqlite_tokrow_write(t, r2, 0)) != QT_OK ||
        (rc = qt_ks_txn_commit(t)) != QT_OK) {
        goto fail3;
    }
    *gen = r2->mk_gen;
    goto out;
fail3:
    qt_ks_txn_rollback(t);
out:
    if (rc != QT_OK) {
        qt_wipe(mk, KS_KEY);
        qt_wipe(kek, KS_KEY);
    }
    qt_secret_free(r, sizeof(*r));
    qt_secret_free(r2, sizeof(*r2));
    return rc;
}

qt_rc
qt_ks_pin_set_login(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t mk[KS_KEY],
                    const uint8_t kek[KS_KEY], uint64_t gen)
{
    struct ks_secrets *s;

    QT_ENSURE(t != NULL && mk != NULL && kek != NULL, QT_E_ARG);
    s = ks_sec(t);
    memcpy(s->mk, mk, KS_KEY);
    memcpy(s->kek, kek, KS_KEY);
    if (qt_ks_wrap_master_keys(t->serial, s->mk, &s->keys) != QT_OK) {
        qt_ks_logout(t);
        return QT_E_CRYPTO;
    }
    t->mk_gen = gen;
    t->who = (int)who;
    return QT_OK;
}

qt_rc
qt_ks_login(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t *pin, size_t pin_len)
{
    return qt_ks_login_cb(t, who, pin, pin_len, NULL, NULL);
}

qt_rc
qt_ks_login_cb(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t *pin, size_t pin_len,
               qt_ks_fail_fn on_fail, void *ctx)
{
    struct qt_secret k = {0};
    uint64_t gen = 0;
    qt_rc rc;

    QT_ENSURE(t != NULL && pin != NULL, QT_E_ARG);
    /* Logged in as who already: a re-check of the PIN (PKCS#11
     * CKU_CONTEXT_SPECIFIC), counted like a login; a failure keeps the
     * session logged in. */
    QT_ENSURE(t->who < 0 || t->who == (int)who, QT_E_STATE);
    QT_TRY(qt_secret_init(&k, 2 * KS_KEY));
    rc = pin_verify(t, who, pin, pin_len, k.p, k.p + KS_KEY, &gen, on_fail, ctx);
    if (rc == QT_OK) {
        rc = qt_ks_pin_set_login(t, who, k.p, k.p + KS_KEY, gen);
    }
    qt_secret_clear(&k);
    return rc;
}

void
qt_ks_logout(struct qt_ks_token *t)
{
    struct ks_secrets *s;

    if (t == NULL || t->sec.p == NULL) {
        return;
    }
    s = ks_sec(t);
    qt_wipe(s->mk, sizeof(s->mk));
    qt_wipe(s->kek, sizeof(s->kek));
    qt_wipe(s->keys.seal, sizeof(s->keys.seal));
    t->who = -1;
    t->mk_gen = 0;
}

int
qt_ks_logged_in(const struct qt_ks_token *t)
{
    return t != NULL ? t->who : -1;
}

qt_rc
qt_ks_init_pin(struct qt_ks_token *t, const uint8_t *pin, size_t pin_len)
{
    struct ks_tokrow *r = NULL;
    struct ks_pinrow np;
    qt_rc rc;

    QT_ENSURE(t != NULL && pin != NULL, QT_E_ARG);
    QT_ENSURE(pin_len > 0 && pin_len <= QT_KS_PIN_MAX, QT_E_PIN_INVALID);
    QT_ENSURE(t->who == QT_KS_SO, QT_E_NOT_LOGGED_IN);
    r = qt_secret_alloc(sizeof(*r));
    QT_ENSURE(r != NULL, QT_E_NOMEM);
    if ((rc = qt_ks_sqlite_read_begin(t)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_check_gen(t)) != QT_OK ||
        (rc = qt_ks_sqlite_tokrow_read(t, r, 1)) != QT_OK) {
        goto fail;
    }
    qt_ks_txn_rollback(t);
    /* Argon2id outside the write lock, then re-check nothing moved. */
    if ((rc = qt_ks_pin_make_wrap(t, QT_KS_USER, pin, pin_len, &r->kdf, ks_sec(t)->mk, t->mk_gen,
                                  &np, NULL)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_txn_begin(t)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_check_gen(t)) != QT_OK ||
        (rc = qt_ks_sqlite_tokrow_read(t, r, 1)) != QT_OK) {
        goto fail;
    }
    r->pin[QT_KS_USER] = np;
    if ((rc = prune_chain(t, r)) != QT_OK || (rc = qt_ks_sqlite_tokrow_write(t, r, 0)) != QT_OK ||
        (rc = qt_ks_txn_commit(t)) != QT_OK) {
        goto fail;
    }
    goto out;
fail:
    qt_ks_txn_rollback(t);
out:
    qt_wipe(&np, sizeof(np));
    qt_secret_free(r, sizeof(*r));
    return rc;
}

qt_rc
qt_ks_set_pin(struct qt_ks_token *t, enum qt_ks_user who, const uint8_t *old_pin, size_t old_len,
              const uint8_t *new_pin, size_t new_len)
{
    struct ks_tokrow *r = NULL;
    struct ks_pinrow np;
    struct qt_secret k = {0};
    uint64_t gen = 0;
    qt_rc rc;

    QT_ENSURE(t != NULL && old_pin != NULL && new_pin != NULL, QT_E_ARG);
    QT_ENSURE(who == QT_KS_SO || who == QT_KS_USER, QT_E_ARG);
    QT_ENSURE(new_len > 0 && new_len <= QT_KS_PIN_MAX, QT_E_PIN_INVALID);
    QT_TRY(qt_secret_init(&k, 3 * KS_KEY));
    r = qt_secret_alloc(sizeof(*r));
    if (r == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if ((rc = pin_verify(t, who, old_pin, old_len, k.p, k.p + KS_KEY, &gen, NULL, NULL)) != QT_OK ||
        (rc = qt_ks_sqlite_tokrow_read(t, r, 1)) != QT_OK ||
        (rc = qt_ks_pin_make_wrap(t, who, new_pin, new_len, &r->kdf, k.p, gen, &np,
                                  k.p + 2 * KS_KEY)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_txn_begin(t)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_tokrow_read(t, r, 1)) != QT_OK) {
        goto fail;
    }
    if (r->mk_gen != gen) {
        rc = QT_E_STATE; /* rotated meanwhile: the caller retries */
        goto fail;
    }
    r->pin[who] = np;
    if ((rc = prune_chain(t, r)) != QT_OK || (rc = qt_ks_sqlite_tokrow_write(t, r, 0)) != QT_OK ||
        (rc = qt_ks_txn_commit(t)) != QT_OK) {
        goto fail;
    }
    if (t->who == (int)who) {
        memcpy(ks_sec(t)->kek, k.p + 2 * KS_KEY, KS_KEY);
    }
    goto out;
fail:
    qt_ks_txn_rollback(t);
out:
    qt_wipe(&np, sizeof(np));
    qt_secret_free(r, sizeof(*r));
    qt_secret_clear(&k);
    return rc;
}

qt_rc
qt_ks_rekey(struct qt_ks_token *t)
{
    return qt_ks_rekey_cb(t, NULL, NULL);
}

qt_rc
qt_ks_rekey_cb(struct qt_ks_token *t, qt_rc (*in_txn)(void *ctx, uint64_t generation), void *ctx)
{
    struct ks_tokrow *r = NULL;
    struct qt_secret k = {0};
    struct ks_keyset *to;
    uint8_t *mk;
    qt_rc rc;

    QT_ENSURE_REF(t);
    QT_ENSURE(t->who >= 0, QT_E_NOT_LOGGED_IN);
    QT_TRY(qt_secret_init(&k, KS_KEY + sizeof(struct ks_keyset)));
    mk = k.p;
    to = (struct ks_keyset *)(void *)(k.p + KS_KEY);
    r = qt_secret_alloc(sizeof(*r));
    if (r == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if ((rc = t->rng(t->rng_ctx, mk, KS_KEY)) != QT_OK) {
        goto out;
    }
    *to = ks_sec(t)->keys;
    if ((rc = qt_ks_wrap_master_keys(t->serial, mk, to)) != QT_OK ||
        (rc = qt_ks_txn_begin(t)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_check_gen(t)) != QT_OK ||
        (rc = qt_ks_sqlite_tokrow_read(t, r, 1)) != QT_OK ||
        (rc = qt_ks_object_reseal_all(t, &ks_sec(t)->keys, to)) != QT_OK ||
        (rc = write_chain(t, ks_sec(t)->mk, mk, r->mk_gen + 1)) != QT_OK) {
        goto fail;
    }
    r->mk_gen++;
    if ((rc = wrap_with_kek(t, (enum qt_ks_user)t->who, ks_sec(t)->kek, &r->kdf, mk, r->mk_gen,
                            &r->pin[t->who])) != QT_OK ||
        (rc = prune_chain(t, r)) != QT_OK || (rc = qt_ks_sqlite_tokrow_write(t, r, 0)) != QT_OK ||
        (in_txn != NULL && (rc = in_txn(ctx, r->mk_gen)) != QT_OK) ||
        (rc = qt_ks_txn_commit(t)) != QT_OK) {
        goto fail;
    }
    memcpy(ks_sec(t)->mk, mk, KS_KEY);
    ks_sec(t)->keys = *to;
    t->mk_gen = r->mk_gen;
    goto out;
fail:
    qt_ks_txn_rollback(t);
out:
    qt_secret_free(r, sizeof(*r));
    qt_secret_clear(&k);
    return rc;
}

qt_rc
qt_ks_token_reinit(struct qt_ks_token *t, const uint8_t *so_pin, size_t so_pin_len,
                   const char *label)
{
    struct ks_tokrow *r = NULL;
    struct qt_secret k = {0};
    uint64_t gen = 0;
    int lockfd = -1;
    qt_rc rc;

    QT_ENSURE(t != NULL && so_pin != NULL && label != NULL, QT_E_ARG);
    QT_ENSURE(strlen(label) <= QT_KS_LABEL_MAX, QT_E_RANGE);
    QT_ENSURE(t->txn_depth == 0, QT_E_STATE);
    QT_TRY(qt_secret_init(&k, 3 * KS_KEY));
    qt_ks_logout(t);
    r = qt_secret_alloc(sizeof(*r));
    if (r == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if ((rc = pin_verify(t, QT_KS_SO, so_pin, so_pin_len, k.p, k.p + KS_KEY, &gen, NULL,
                         NULL)) != QT_OK ||
        (rc = t->rng(t->rng_ctx, k.p + 2 * KS_KEY, KS_KEY)) != QT_OK ||
        (rc = qt_ks_store_lock(t->store_dir, &lockfd)) != QT_OK ||
        (rc = qt_ks_store_label_free(t->store_dir, label, NULL, t->path)) != QT_OK ||
        (rc = qt_ks_txn_begin(t)) != QT_OK) {
        goto out;
    }
    /* A fresh master key: nothing sealed before survives the re-init. */
    if ((rc = qt_ks_sqlite_tokrow_read(t, r, 1)) != QT_OK ||
        (rc = qt_ks_sqlite_exec(t, "DELETE FROM objects; DELETE FROM mk_chain;")) != QT_OK) {
        goto fail;
    }
    memset(r->label, 0, sizeof(r->label));
    memcpy(r->label, label, strlen(label));
    r->mk_gen++;
    memset(&r->pin[QT_KS_USER], 0, sizeof(r->pin[QT_KS_USER]));
    r->pin[QT_KS_SO].fail = 0;
    if ((rc = wrap_with_kek(t, QT_KS_SO, k.p + KS_KEY, &r->kdf, k.p + 2 * KS_KEY, r->mk_gen,
                            &r->pin[QT_KS_SO])) != QT_OK ||
        (rc = qt_ks_sqlite_tokrow_write(t, r, 0)) != QT_OK || (rc = qt_ks_txn_commit(t)) != QT_OK) {
        goto fail;
    }
    goto out;
fail:
    qt_ks_txn_rollback(t);
out:
    qt_ks_store_unlock(lockfd);
    qt_secret_free(r, sizeof(*r));
    qt_secret_clear(&k);
    return rc;
}
