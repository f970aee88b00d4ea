/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token objects: create, read, replace, destroy, find, and the per-row
 * verification used by qt_ks_check and the re-sealing used by rekey and
 * backup/restore.
 *
 * A row (table objects) holds: id, record version, the private flag, the
 * plain CKA_CLASS / CKA_ID / CKA_LABEL values (index columns: these are not
 * secret), and either
 *   - attrs:  the attribute list of a public object, its sensitive values
 *             sealed under the bound (device) key, or
 *   - sealed: GCM(seal key from the master key, attribute list), the whole
 *             private object, whose sensitive values are sealed again inside;
 * and mac: HMAC-SHA-256 under the bound key over all of the above, so a row
 * edited on disk (a policy attribute flipped, private cleared, a column
 * swapped) is refused before anything in it is used.  The index columns
 * must also equal the authenticated attribute values.
 */
#include <openssl/crypto.h>
#include <p11-kit/pkcs11.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/check.h"
#include "../src/common/log.h"
#include "../src/common/mem.h"
#include "ks_int.h"
#include "ks_sqlite.h"

#define ROW_COLS "id, ver, private, cls, ckaid, label, attrs, sealed, mac"

/* A row as read from a statement: blobs borrowed from the statement. */
struct row {
    uint64_t id, ver;
    int priv;
    const uint8_t *col[5]; /* cls, ckaid, label, attrs, sealed (NULL: SQL NULL) */
    size_t len[5];
    const uint8_t *mac;
    size_t mac_len;
};

enum { C_CLS = 0, C_ID = 1, C_LABEL = 2, C_ATTRS = 3, C_SEALED = 4 };

static void
row_from_stmt(sqlite3_stmt *st, struct row *r)
{
    r->id = (uint64_t)sqlite3_column_int64(st, 0);
    r->ver = (uint64_t)sqlite3_column_int64(st, 1);
    r->priv = sqlite3_column_int(st, 2) != 0;
    for (int i = 0; i < 5; i++) {
        if (sqlite3_column_type(st, 3 + i) == SQLITE_NULL) {
            r->col[i] = NULL;
            r->len[i] = 0;
        } else {
            /* blob before bytes: the order SQLite documents as safe */
            r->col[i] = sqlite3_column_blob(st, 3 + i);
            r->len[i] = (size_t)sqlite3_column_bytes(st, 3 + i);
            if (r->col[i] == NULL) {
                r->col[i] = (const uint8_t *)""; /* zero-length blob */
            }
        }
    }
    r->mac = sqlite3_column_blob(st, 8);
    r->mac_len = (size_t)sqlite3_column_bytes(st, 8);
}

static qt_rc
row_mac(struct qt_ks_token *t, const uint8_t key[KS_KEY], const struct row *r,
        uint8_t out[KS_KEY])
{
    struct qt_buf b;
    qt_rc rc;

    qt_buf_init(&b);
    if ((rc = qt_buf_put(&b, "qtoken object v2", 16)) != QT_OK ||
        (rc = qt_buf_put(&b, t->serial, KS_SERIAL_LEN)) != QT_OK ||
        (rc = qt_buf_put_u64(&b, r->id)) != QT_OK || (rc = qt_buf_put_u64(&b, r->ver)) != QT_OK ||
        (rc = qt_buf_put_u8(&b, (uint8_t)r->priv)) != QT_OK) {
        goto out;
    }
    for (int i = 0; i < 5; i++) {
        if ((rc = qt_buf_put_u8(&b, r->col[i] != NULL)) != QT_OK ||
            (rc = qt_buf_put_lv(&b, r->col[i], r->len[i])) != QT_OK) {
            goto out;
        }
    }
    rc = qt_ks_wrap_hmac(key, b.p, b.len, out);
out:
    qt_buf_clear(&b);
    return rc;
}

static const struct qt_attr *
attr_find(const struct qt_attr *a, size_t n, unsigned long type)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].type == type) {
            return &a[i];
        }
    }
    return NULL;
}

static int
column_matches(const struct row *r, int c, const struct qt_attr *a)
{
    if (a == NULL) {
        return r->col[c] == NULL;
    }
    return r->col[c] != NULL && r->len[c] == a->len &&
           (a->len == 0 || memcmp(r->col[c], a->val, a->len) == 0);
}

/* Class and privacy of an attribute list (ks.h: "An object is private ..."). */
static qt_rc
classify(const struct qt_attr *attrs, size_t n, unsigned long *cls, int *priv)
{
    const struct qt_attr *c = attr_find(attrs, n, CKA_CLASS);
    const struct qt_attr *p = attr_find(attrs, n, CKA_PRIVATE);
    CK_OBJECT_CLASS v;

    QT_ENSURE(c != NULL && c->val != NULL && c->len == sizeof(v), QT_E_ARG);
    memcpy(&v, c->val, sizeof(v));
    *cls = v;
    if (p != NULL) {
        QT_ENSURE(p->val != NULL && p->len == sizeof(CK_BBOOL), QT_E_ARG);
        *priv = p->val[0] != CK_FALSE;
    } else {
        *priv = v == CKO_PRIVATE_KEY || v == CKO_SECRET_KEY;
    }
    return QT_OK;
}

/* Verifies r's MAC under keys and opens it.  keys->seal is used only for
 * private rows, which need have_mk. */
static qt_rc
row_open(struct qt_ks_token *t, const struct ks_keyset *keys, int have_mk, const struct row *r,
         struct qt_attr **attrs, size_t *n)
{
    uint8_t mac[KS_KEY], aad[KS_SERIAL_LEN + 24];
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    struct qt_attr *a = NULL;
    size_t an = 0;
    unsigned long cls;
    int priv;
    qt_rc rc;

    QT_TRY(row_mac(t, keys->bmac, r, mac));
    QT_ENSURE(r->mac != NULL && r->mac_len == KS_KEY && CRYPTO_memcmp(mac, r->mac, KS_KEY) == 0,
              QT_E_TAMPER);
    if (!r->priv) {
        QT_ENSURE(r->col[C_ATTRS] != NULL && r->col[C_SEALED] == NULL, QT_E_TAMPER);
        QT_TRY(qt_ks_wrap_decode_attrs(t, r->col[C_ATTRS], r->len[C_ATTRS], keys->bseal, r->id,
                                       r->ver, &a, &an));
    } else {
        QT_ENSURE(have_mk, QT_E_NOT_LOGGED_IN);
        QT_ENSURE(r->col[C_SEALED] != NULL && r->col[C_ATTRS] == NULL &&
                      r->len[C_SEALED] >= KS_SEAL_OVERHEAD,
                  QT_E_TAMPER);
        pt_len = r->len[C_SEALED] - KS_SEAL_OVERHEAD;
        pt = malloc(pt_len > 0 ? pt_len : 1);
        QT_ENSURE(pt != NULL, QT_E_NOMEM);
        if ((rc = qt_ks_wrap_aad(t->serial, r->id, KS_WHOLE_OBJECT, r->ver, aad)) != QT_OK ||
            (rc = qt_ks_wrap_open(keys->seal, aad, sizeof(aad), r->col[C_SEALED],
                                  r->len[C_SEALED], pt)) != QT_OK ||
            (rc = qt_ks_wrap_decode_attrs(t, pt, pt_len, keys->seal, r->id, r->ver, &a, &an)) !=
                QT_OK) {
            goto out;
        }
    }
    /* The index columns and the private flag must say what the attributes say. */
    if ((rc = classify(a, an, &cls, &priv)) != QT_OK || priv != r->priv ||
        !column_matches(r, C_CLS, attr_find(a, an, CKA_CLASS)) ||
        !column_matches(r, C_ID, attr_find(a, an, CKA_ID)) ||
        !column_matches(r, C_LABEL, attr_find(a, an, CKA_LABEL))) {
        rc = QT_E_TAMPER;
        goto out;
    }
    *attrs = a;
    *n = an;
    a = NULL;
    rc = QT_OK;
out:
    qt_ks_attrs_free(a, an);
    if (pt != NULL) {
        qt_wipe(pt, pt_len);
        free(pt);
    }
    return rc;
}

/* Encodes attrs as row (id, ver) under keys and writes it (UPDATE). */
static qt_rc
row_write(struct qt_ks_token *t, const struct ks_keyset *keys, uint64_t id, uint64_t ver,
          const struct qt_attr *attrs, size_t n)
{
    struct qt_buf enc, sealed;
    struct row r;
    sqlite3_stmt *st = NULL;
    uint8_t mac[KS_KEY], aad[KS_SERIAL_LEN + 24];
    const struct qt_attr *a;
    unsigned long cls;
    int priv, src;
    qt_rc rc;

    QT_TRY(classify(attrs, n, &cls, &priv));
    qt_buf_init(&enc);
    qt_buf_init(&sealed);
    memset(&r, 0, sizeof(r));
    r.id = id;
    r.ver = ver;
    r.priv = priv;
    if ((rc = qt_ks_wrap_encode_attrs(t, attrs, n, cls, priv ? keys->seal : keys->bseal, id, ver,
                                      &enc)) != QT_OK) {
        goto out;
    }
    if (priv) {
        if ((rc = qt_ks_wrap_aad(t->serial, id, KS_WHOLE_OBJECT, ver, aad)) != QT_OK ||
            (rc = qt_ks_wrap_seal(t, keys->seal, aad, sizeof(aad), enc.p, enc.len, &sealed)) !=
                QT_OK) {
            goto out;
        }
        r.col[C_SEALED] = sealed.p;
        r.len[C_SEALED] = sealed.len;
    } else {
        r.col[C_ATTRS] = enc.p != NULL ? enc.p : (const uint8_t *)"";
        r.len[C_ATTRS] = enc.len;
    }
    if ((a = attr_find(attrs, n, CKA_CLASS)) != NULL) {
        r.col[C_CLS] = a->len > 0 ? a->val : (const uint8_t *)"";
        r.len[C_CLS] = a->len;
    }
    if ((a = attr_find(attrs, n, CKA_ID)) != NULL) {
        r.col[C_ID] = a->len > 0 ? a->val : (const uint8_t *)"";
        r.len[C_ID] = a->len;
    }
    if ((a = attr_find(attrs, n, CKA_LABEL)) != NULL) {
        r.col[C_LABEL] = a->len > 0 ? a->val : (const uint8_t *)"";
        r.len[C_LABEL] = a->len;
    }
    if ((rc = row_mac(t, keys->bmac, &r, mac)) != QT_OK ||
        (rc = qt_ks_sqlite_prepare(t,
                                   "UPDATE objects SET ver = ?1, private = ?2, cls = ?3,"
                                   " ckaid = ?4, label = ?5, attrs = ?6, sealed = ?7, mac = ?8"
                                   " WHERE id = ?9",
                                   &st)) != QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 1, (sqlite3_int64)ver))) != QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int(st, 2, priv))) != QT_OK) {
        goto out;
    }
    for (int i = 0; i < 5; i++) {
        if ((rc = qt_ks_sqlite_bind_blob(t, st, 3 + i, r.col[i], r.len[i])) != QT_OK) {
            goto out;
        }
    }
    if ((rc = qt_ks_sqlite_bind_blob(t, st, 8, mac, sizeof(mac))) != QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 9, (sqlite3_int64)id))) != QT_OK) {
        goto out;
    }
    src = sqlite3_step(st);
    rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src);
    if (rc == QT_OK && sqlite3_changes(t->db) != 1) {
        rc = QT_E_NOTFOUND;
    }
out:
    (void)sqlite3_finalize(st);
    qt_buf_clear(&enc);
    qt_buf_clear(&sealed);
    return rc;
}

/* Selects row id into *st (stepped to the row).  QT_E_NOTFOUND if none. */
static qt_rc
row_select(struct qt_ks_token *t, uint64_t id, sqlite3_stmt **st, struct row *r)
{
    int src;

    QT_TRY(qt_ks_sqlite_prepare(t, "SELECT " ROW_COLS " FROM objects WHERE id = ?1", st));
    QT_TRY(qt_ks_sqlite_rc(t, sqlite3_bind_int64(*st, 1, (sqlite3_int64)id)));
    src = sqlite3_step(*st);
    if (src == SQLITE_DONE) {
        return QT_E_NOTFOUND;
    }
    QT_ENSURE(src == SQLITE_ROW, qt_ks_sqlite_rc(t, src));
    row_from_stmt(*st, r);
    return QT_OK;
}

static int
user_in(const struct qt_ks_token *t)
{
    return t->who == QT_KS_USER;
}

qt_rc
qt_ks_obj_create(struct qt_ks_token *t, const struct qt_attr *attrs, size_t n, uint64_t *id)
{
    sqlite3_stmt *st = NULL;
    unsigned long cls;
    uint64_t nid = 0;
    int priv, src;
    qt_rc rc;

    QT_ENSURE(t != NULL && attrs != NULL && id != NULL, QT_E_ARG);
    QT_ENSURE((t->flags & KS_FLAG_PORTABLE) == 0, QT_E_STATE);
    QT_TRY(classify(attrs, n, &cls, &priv));
    QT_ENSURE(!priv || user_in(t), QT_E_NOT_LOGGED_IN);
    QT_TRY(qt_ks_txn_begin(t));
    if (priv && (rc = qt_ks_sqlite_check_gen(t)) != QT_OK) {
        goto out;
    }
    /* Reserve the id first: it is part of every seal's associated data. */
    if ((rc = qt_ks_sqlite_prepare(t, "INSERT INTO objects (ver, private, mac) VALUES (1, ?1, x'')",
                                   &st)) != QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int(st, 1, priv))) != QT_OK) {
        goto out;
    }
    src = sqlite3_step(st);
    if ((rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src)) != QT_OK) {
        goto out;
    }
    nid = (uint64_t)sqlite3_last_insert_rowid(t->db);
    if ((rc = row_write(t, &ks_sec(t)->keys, nid, 1, attrs, n)) != QT_OK) {
        goto out;
    }
    rc = qt_ks_txn_commit(t);
out:
    (void)sqlite3_finalize(st);
    if (rc != QT_OK) {
        qt_ks_txn_rollback(t);
    } else {
        *id = nid;
    }
    return rc;
}

qt_rc
qt_ks_obj_get(struct qt_ks_token *t, uint64_t id, struct qt_attr **attrs, size_t *n)
{
    sqlite3_stmt *st = NULL;
    struct row r;
    qt_rc rc;

    QT_ENSURE(t != NULL && attrs != NULL && n != NULL, QT_E_ARG);
    QT_ENSURE((t->flags & KS_FLAG_PORTABLE) == 0, QT_E_STATE);
    *attrs = NULL;
    *n = 0;
    QT_TRY(qt_ks_sqlite_read_begin(t));
    if ((rc = row_select(t, id, &st, &r)) != QT_OK) {
        goto out;
    }
    if (r.priv && !user_in(t)) {
        rc = QT_E_NOTFOUND; /* private objects are invisible when logged out */
        goto out;
    }
    if (r.priv && (rc = qt_ks_sqlite_check_gen(t)) != QT_OK) {
        goto out;
    }
    rc = row_open(t, &ks_sec(t)->keys, user_in(t), &r, attrs, n);
    if (rc == QT_E_TAMPER || rc == QT_E_FORMAT) {
        qt_log(QT_LOG_ERROR, "keystore: object %llu failed verification: refused",
               (unsigned long long)id);
        rc = QT_E_TAMPER;
        qt_ks_sqlite_note_tamper(t, id);
    }
out:
    (void)sqlite3_finalize(st);
    if (rc == QT_OK) {
        rc = qt_ks_txn_commit(t);
        if (rc != QT_OK) {
            qt_ks_attrs_free(*attrs, *n);
            *attrs = NULL;
            *n = 0;
        }
    } else {
        qt_ks_txn_rollback(t);
    }
    return rc;
}

qt_rc
qt_ks_obj_update(struct qt_ks_token *t, uint64_t id, const struct qt_attr *attrs, size_t n)
{
    sqlite3_stmt *st = NULL;
    struct qt_attr *old = NULL;
    size_t old_n = 0;
    struct row r;
    unsigned long cls;
    uint64_t ver;
    int priv;
    qt_rc rc;

    QT_ENSURE(t != NULL && attrs != NULL, QT_E_ARG);
    QT_ENSURE((t->flags & KS_FLAG_PORTABLE) == 0, QT_E_STATE);
    QT_TRY(classify(attrs, n, &cls, &priv));
    QT_ENSURE(!priv || user_in(t), QT_E_NOT_LOGGED_IN);
    QT_TRY(qt_ks_txn_begin(t));
    if ((rc = row_select(t, id, &st, &r)) != QT_OK) {
        goto out;
    }
    if (r.priv && !user_in(t)) {
        rc = QT_E_NOTFOUND;
        goto out;
    }
    if ((r.priv || priv) && (rc = qt_ks_sqlite_check_gen(t)) != QT_OK) {
        goto out;
    }
    /* The row being replaced must itself be genuine. */
    if ((rc = row_open(t, &ks_sec(t)->keys, user_in(t), &r, &old, &old_n)) != QT_OK) {
        goto out;
    }
    ver = r.ver + 1;
    (void)sqlite3_finalize(st);
    st = NULL;
    if ((rc = row_write(t, &ks_sec(t)->keys, id, ver, attrs, n)) != QT_OK) {
        goto out;
    }
    rc = qt_ks_txn_commit(t);
out:
    qt_ks_attrs_free(old, old_n);
    (void)sqlite3_finalize(st);
    if (rc != QT_OK) {
        qt_ks_txn_rollback(t);
    }
    return rc;
}

qt_rc
qt_ks_obj_destroy(struct qt_ks_token *t, uint64_t id)
{
    sqlite3_stmt *st = NULL;
    struct row r;
    int src;
    qt_rc rc;

    QT_ENSURE_REF(t);
    QT_ENSURE((t->flags & KS_FLAG_PORTABLE) == 0, QT_E_STATE);
    QT_TRY(qt_ks_txn_begin(t));
    if ((rc = row_select(t, id, &st, &r)) != QT_OK) {
        goto out;
    }
    if (r.priv && !user_in(t)) {
        rc = QT_E_NOTFOUND;
        goto out;
    }
    (void)sqlite3_finalize(st);
    st = NULL;
    /* secure_delete overwrites the freed cells. */
    if ((rc = qt_ks_sqlite_prepare(t, "DELETE FROM objects WHERE id = ?1", &st)) != QT_OK ||
        (rc = qt_ks_sqlite_rc(t, sqlite3_bind_int64(st, 1, (sqlite3_int64)id))) != QT_OK) {
        goto out;
    }
    src = sqlite3_step(st);
    if ((rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src)) != QT_OK) {
        goto out;
    }
    rc = qt_ks_txn_commit(t);
out:
    (void)sqlite3_finalize(st);
    if (rc != QT_OK) {
        qt_ks_txn_rollback(t);
    }
    return rc;
}

/* One statement per combination of indexed attributes (bit 0 class, 1 id,
 * 2 label): constant SQL text, values bound. */
static const char *const find_sql[8] = {
    "SELECT " ROW_COLS " FROM objects WHERE (private = 0 OR ?4) ORDER BY id",
    "SELECT " ROW_COLS " FROM objects WHERE cls = ?1 AND (private = 0 OR ?4) ORDER BY id",
    "SELECT " ROW_COLS " FROM objects WHERE ckaid = ?2 AND (private = 0 OR ?4) ORDER BY id",
    "SELECT " ROW_COLS " FROM objects WHERE cls = ?1 AND ckaid = ?2 AND (private = 0 OR ?4)"
    " ORDER BY id",
    "SELECT " ROW_COLS " FROM objects WHERE label = ?3 AND (private = 0 OR ?4) ORDER BY id",
    "SELECT " ROW_COLS " FROM objects WHERE cls = ?1 AND label = ?3 AND (private = 0 OR ?4)"
    " ORDER BY id",
    "SELECT " ROW_COLS " FROM objects WHERE ckaid = ?2 AND label = ?3 AND (private = 0 OR ?4)"
    " ORDER BY id",
    "SELECT " ROW_COLS " FROM objects WHERE cls = ?1 AND ckaid = ?2 AND label = ?3"
    " AND (private = 0 OR ?4) ORDER BY id",
};

const char *
qt_ks_object_find_sql(unsigned mask)
{
    return mask < QT_ARRAY_LEN(find_sql) ? find_sql[mask] : NULL;
}

static int
template_matches(const struct qt_attr *tmpl, size_t tn, const struct qt_attr *a, size_t an)
{
    for (size_t i = 0; i < tn; i++) {
        const struct qt_attr *x = attr_find(a, an, tmpl[i].type);

        if (x == NULL || x->len != tmpl[i].len ||
            (x->len > 0 && memcmp(x->val, tmpl[i].val, x->len) != 0)) {
            return 0;
        }
    }
    return 1;
}

qt_rc
qt_ks_obj_find(struct qt_ks_token *t, const struct qt_attr *tmpl, size_t n, uint64_t **ids,
               size_t *count)
{
    static const unsigned long idx_type[3] = {CKA_CLASS, CKA_ID, CKA_LABEL};
    const struct qt_attr *idx[3] = {NULL, NULL, NULL};
    sqlite3_stmt *st = NULL;
    uint64_t *v = NULL, *nv;
    size_t cnt = 0, cap = 0;
    unsigned mask = 0;
    int src, priv_ok;
    qt_rc rc;

    QT_ENSURE(t != NULL && (tmpl != NULL || n == 0) && ids != NULL && count != NULL, QT_E_ARG);
    QT_ENSURE((t->flags & KS_FLAG_PORTABLE) == 0, QT_E_STATE);
    *ids = NULL;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        QT_ENSURE(tmpl[i].val != NULL || tmpl[i].len == 0, QT_E_ARG);
    }
    for (int k = 0; k < 3; k++) {
        idx[k] = attr_find(tmpl, n, idx_type[k]);
        mask |= idx[k] != NULL ? 1u << k : 0u;
    }
    QT_TRY(qt_ks_sqlite_read_begin(t));
    priv_ok = user_in(t);
    if (priv_ok && (rc = qt_ks_sqlite_check_gen(t)) != QT_OK) {
        goto out;
    }
    if ((rc = qt_ks_sqlite_prepare(t, find_sql[mask], &st)) != QT_OK) {
        goto out;
    }
    for (int k = 0; k < 3; k++) {
        if (idx[k] != NULL &&
            (rc = qt_ks_sqlite_bind_blob(t, st, k + 1, idx[k]->len > 0 ? idx[k]->val
                                                                       : (const uint8_t *)"",
                                         idx[k]->len)) != QT_OK) {
            goto out;
        }
    }
    if ((rc = qt_ks_sqlite_rc(t, sqlite3_bind_int(st, 4, priv_ok))) != QT_OK) {
        goto out;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        struct qt_attr *a = NULL;
        size_t an = 0;
        struct row r;
        int match;

        row_from_stmt(st, &r);
        rc = row_open(t, &ks_sec(t)->keys, priv_ok, &r, &a, &an);
        if (rc == QT_E_TAMPER || rc == QT_E_FORMAT) {
            qt_log(QT_LOG_ERROR, "keystore: object %llu failed verification: skipped",
                   (unsigned long long)r.id);
            qt_ks_sqlite_note_tamper(t, r.id);
            continue;
        }
        if (rc != QT_OK) {
            goto out;
        }
        match = template_matches(tmpl, n, a, an);
        qt_ks_attrs_free(a, an);
        if (!match) {
            continue;
        }
        if (cnt == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
                rc = QT_E_NOMEM;
                goto out;
            }
            v = nv;
        }
        v[cnt++] = r.id;
    }
    rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src);
out:
    (void)sqlite3_finalize(st);
    if (rc == QT_OK) {
        rc = qt_ks_txn_commit(t);
    } else {
        qt_ks_txn_rollback(t);
    }
    if (rc == QT_OK) {
        *ids = v;
        *count = cnt;
    } else {
        free(v);
    }
    return rc;
}

/* All object ids, ascending (inside the caller's transaction). */
static qt_rc
all_ids(struct qt_ks_token *t, uint64_t **ids, size_t *count)
{
    sqlite3_stmt *st = NULL;
    uint64_t *v = NULL, *nv;
    size_t cnt = 0, cap = 0;
    int src;
    qt_rc rc;

    QT_TRY(qt_ks_sqlite_prepare(t, "SELECT id FROM objects ORDER BY id", &st));
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap == 0 ? 64 : cap * 2;
            if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
                rc = QT_E_NOMEM;
                goto out;
            }
            v = nv;
        }
        v[cnt++] = (uint64_t)sqlite3_column_int64(st, 0);
    }
    rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src);
out:
    (void)sqlite3_finalize(st);
    if (rc == QT_OK) {
        *ids = v;
        *count = cnt;
    } else {
        free(v);
    }
    return rc;
}

qt_rc
qt_ks_object_reseal_all(struct qt_ks_token *t, const struct ks_keyset *from,
                        const struct ks_keyset *to)
{
    uint64_t *ids = NULL;
    size_t cnt = 0;
    qt_rc rc;

    QT_ENSURE(t != NULL && from != NULL && to != NULL && t->txn_depth > 0, QT_E_ARG);
    QT_TRY(all_ids(t, &ids, &cnt));
    rc = QT_OK;
    for (size_t i = 0; i < cnt && rc == QT_OK; i++) {
        sqlite3_stmt *st = NULL;
        struct qt_attr *a = NULL;
        size_t an = 0;
        struct row r;

        rc = row_select(t, ids[i], &st, &r);
        if (rc == QT_OK) {
            rc = row_open(t, from, 1, &r, &a, &an);
            if (rc == QT_E_TAMPER) {
                qt_log(QT_LOG_ERROR, "keystore: object %llu failed verification: not re-sealed",
                       (unsigned long long)ids[i]);
            }
        }
        (void)sqlite3_finalize(st);
        if (rc == QT_OK) {
            rc = row_write(t, to, r.id, r.ver + 1, a, an);
        }
        qt_ks_attrs_free(a, an);
    }
    free(ids);
    return rc;
}

qt_rc
qt_ks_object_check_all(struct qt_ks_token *t, const struct ks_keyset *keys, int have_mk,
                       void (*report)(void *ctx, uint64_t id, const char *what), void *ctx,
                       uint64_t *unverified, int *damaged)
{
    sqlite3_stmt *st = NULL;
    int src;
    qt_rc rc = QT_OK;

    QT_ENSURE(t != NULL && keys != NULL && damaged != NULL, QT_E_ARG);
    QT_TRY(qt_ks_sqlite_prepare(t, "SELECT " ROW_COLS " FROM objects ORDER BY id", &st));
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        struct qt_attr *a = NULL;
        size_t an = 0;
        struct row r;
        uint8_t mac[KS_KEY];

        row_from_stmt(st, &r);
        if (r.priv && !have_mk) {
            /* The MAC can still be checked; the seal needs the master key. */
            if ((rc = row_mac(t, keys->bmac, &r, mac)) != QT_OK) {
                goto out;
            }
            if (r.mac == NULL || r.mac_len != KS_KEY || CRYPTO_memcmp(mac, r.mac, KS_KEY) != 0) {
                *damaged = 1;
                if (report != NULL) {
                    report(ctx, r.id, "row MAC mismatch (edited on disk)");
                }
            } else if (unverified != NULL) {
                (*unverified)++;
            }
            continue;
        }
        rc = row_open(t, keys, 1, &r, &a, &an);
        qt_ks_attrs_free(a, an);
        if (rc == QT_E_TAMPER || rc == QT_E_FORMAT) {
            *damaged = 1;
            if (report != NULL) {
                report(ctx, r.id, "MAC or seal does not verify (edited on disk)");
            }
            rc = QT_OK;
            continue;
        }
        if (rc != QT_OK) {
            goto out;
        }
    }
    rc = src == SQLITE_DONE ? QT_OK : qt_ks_sqlite_rc(t, src);
out:
    (void)sqlite3_finalize(st);
    return rc;
}
