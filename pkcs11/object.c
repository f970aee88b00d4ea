/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Objects and their handles.  Session objects live here, in memory, owned by
 * the session that created them and visible to every session of this process
 * on the same slot; token objects live in the keystore and get a handle the
 * first time this process sees their row id (C_FindObjects, creation), kept
 * until the module is finalised, the object destroyed, or (for private
 * objects) the user logs out.  Reads of a token object go to the keystore
 * each time, so a change made by another process is seen at once.
 *
 * Visibility (PKCS#11 3.0 4.4 and 5.6): private objects exist for a session
 * only while the normal user is logged in; otherwise their handles are
 * CKR_OBJECT_HANDLE_INVALID.  Token objects need a RW session to be created,
 * changed or destroyed (CKR_SESSION_READ_ONLY); private objects need the
 * user (CKR_USER_NOT_LOGGED_IN).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include "../src/common/osrand.h"
#include "key.h"

static uint64_t
token_key(const struct qt_slot *s, uint64_t id)
{
    return ((uint64_t)(s->id + 1) << 48) ^ id;
}

static void
object_free(struct qt_object *o)
{
    if (o == NULL) {
        return;
    }
    qt_attrs_clear(&o->attrs);
    qt_key_ref_put(o->key);
    free(o);
}

/* Removes o from the tables and frees it. */
static void
object_drop_inlock(struct qt_object *o)
{
    qt_map_del(&qt_mod->objects, (uint64_t)o->handle);
    if (o->owner == 0) {
        qt_map_del(&qt_mod->token_handles, token_key(o->slot, o->ks_id));
    }
    object_free(o);
}

static CK_RV
object_register_inlock(struct qt_object *o)
{
    CK_RV rv;

    o->handle = qt_mod->next_object++;
    if ((rv = qt_map_put(&qt_mod->objects, (uint64_t)o->handle, o)) != CKR_OK) {
        return rv;
    }
    if (o->owner == 0) {
        rv = qt_map_put(&qt_mod->token_handles, token_key(o->slot, o->ks_id), o);
        if (rv != CKR_OK) {
            qt_map_del(&qt_mod->objects, (uint64_t)o->handle);
        }
    }
    return rv;
}

CK_RV
qt_object_token_handle_inlock(struct qt_slot *s, uint64_t id, int is_private,
                              CK_OBJECT_HANDLE *out)
{
    struct qt_object *o = qt_map_get(&qt_mod->token_handles, token_key(s, id));
    CK_RV rv;

    if (o != NULL) {
        *out = o->handle;
        return CKR_OK;
    }
    if ((o = calloc(1, sizeof(*o))) == NULL) {
        return CKR_HOST_MEMORY;
    }
    o->slot = s;
    o->ks_id = id;
    o->is_private = is_private;
    if ((rv = object_register_inlock(o)) != CKR_OK) {
        free(o);
        return rv;
    }
    *out = o->handle;
    return CKR_OK;
}

CK_RV
qt_object_get_inlock(struct qt_session *s, CK_OBJECT_HANDLE h, struct qt_object **out)
{
    struct qt_object *o = qt_map_get(&qt_mod->objects, (uint64_t)h);

    if (o == NULL || o->slot != s->slot) {
        return CKR_OBJECT_HANDLE_INVALID;
    }
    if (o->is_private && s->slot->login != CKU_USER) {
        return CKR_OBJECT_HANDLE_INVALID;
    }
    *out = o;
    return CKR_OK;
}

/* Whether two attribute lists hold the same attributes in the same order
 * (the keystore returns them in a stable order). */
static int
attrs_same(const struct qt_attrs *a, const struct qt_attrs *b)
{
    if (a->n != b->n) {
        return 0;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].type != b->v[i].type || a->v[i].len != b->v[i].len ||
            (a->v[i].len > 0 && memcmp(a->v[i].val, b->v[i].val, a->v[i].len) != 0)) {
            return 0;
        }
    }
    return 1;
}

/* How old a token's data version may be when a cached token object is
 * used.  Reading it is an SQLite read transaction, ~2.5 us of fcntl locks,
 * as much as a third of an ECDSA signature; read at most once a
 * millisecond, another process's change is seen by every call that starts
 * at least 1 ms after it committed (nothing orders calls of two processes
 * closer than that anyway: a change committed during a call may or may not
 * count for it).  This process's own changes drop the cache at once. */
#define VERSION_MAX_AGE_NS 1000000LL

static int
slot_data_version(struct qt_slot *s, uint64_t *ver)
{
    struct timespec ts;
    int64_t now;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return qt_ks_data_version(s->tok, ver) == QT_OK;
    }
    now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    if (s->ver_at_ns != 0 && now - s->ver_at_ns < VERSION_MAX_AGE_NS) {
        *ver = s->ver;
        return 1;
    }
    if (qt_ks_data_version(s->tok, ver) != QT_OK) {
        s->ver_at_ns = 0;
        return 0;
    }
    s->ver = *ver;
    s->ver_at_ns = now;
    return 1;
}

static void
cache_drop(struct qt_object *o)
{
    qt_attrs_clear(&o->attrs);
    o->cached = 0;
}

/* A token object's attributes into its cache: kept while the token's data
 * version is the one they were read at (no other process committed since;
 * this process's own changes drop the cache themselves).  Re-reading goes
 * through the keystore's checks (unseal, policy MAC, tamper report); a
 * re-read that finds the object changed drops the imported key too (a
 * row id reused by another process for another object). */
static CK_RV
cache_refresh(struct qt_object *o)
{
    struct qt_attrs fresh;
    struct qt_attr *v = NULL;
    uint64_t ver = 0;
    size_t n = 0;
    int have_ver;
    qt_rc rc;

    have_ver = slot_data_version(o->slot, &ver);
    if (o->cached && have_ver && ver == o->cache_ver) {
        return CKR_OK;
    }
    rc = qt_ks_obj_get(o->slot->tok, o->ks_id, &v, &n);
    if (rc == QT_E_NOTFOUND || rc == QT_E_NOT_LOGGED_IN) {
        /* destroyed by another process (or no longer visible) */
        if (rc == QT_E_NOTFOUND) {
            object_drop_inlock(o);
        } else {
            cache_drop(o);
        }
        return CKR_OBJECT_HANDLE_INVALID;
    }
    if (rc != QT_OK) {
        cache_drop(o);
        return qt_rv(rc);
    }
    qt_attrs_init(&fresh);
    qt_attrs_take(&fresh, v, n);
    if (o->key != NULL && (!o->cached || !attrs_same(&fresh, &o->attrs))) {
        qt_key_ref_put(o->key);
        o->key = NULL;
    }
    qt_attrs_clear(&o->attrs);
    o->attrs = fresh;
    o->cached = have_ver;
    o->cache_ver = ver;
    return CKR_OK;
}

CK_RV
qt_object_attrs_ref_inlock(struct qt_object *o, const struct qt_attrs **out)
{
    CK_RV rv;

    if (o->owner == 0 && (rv = cache_refresh(o)) != CKR_OK) {
        return rv;
    }
    *out = &o->attrs;
    return CKR_OK;
}

CK_RV
qt_object_attrs_inlock(struct qt_object *o, struct qt_attrs *out)
{
    const struct qt_attrs *a;
    CK_RV rv;

    qt_attrs_init(out);
    if ((rv = qt_object_attrs_ref_inlock(o, &a)) != CKR_OK) {
        return rv;
    }
    return qt_attrs_copy(out, a);
}

CK_RV
qt_object_writable_inlock(struct qt_session *s, struct qt_object *o)
{
    if (o->owner == 0 && !(s->flags & CKF_RW_SESSION)) {
        return CKR_SESSION_READ_ONLY;
    }
    if (o->is_private && s->slot->login != CKU_USER) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    return CKR_OK;
}

CK_RV
qt_object_may_create_inlock(const struct qt_session *s, const struct qt_attrs *a)
{
    if (qt_attrs_bool(a, CKA_TOKEN, 0) && !(s->flags & CKF_RW_SESSION)) {
        return CKR_SESSION_READ_ONLY;
    }
    if (qt_attrs_bool(a, CKA_PRIVATE, 0) && s->slot->login != CKU_USER) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    return CKR_OK;
}

/* CKA_UNIQUE_ID (PKCS#11 3.0 4.4): 128 random bits from the OS as 32
 * lowercase hex characters, set on every object this module creates (a
 * copy gets its own).  An identifier, not a secret: it does not draw on the
 * QRNG, so storing a certificate never fails because the entropy source is
 * unhealthy; 2^-64 collision odds at 2^32 objects.  The bytes come from a
 * pool refilled by one getrandom(2) per 32 objects (a system call per
 * object was ~5% of an AES session-key generation); the pool belongs to
 * this C_Initialize's module state, so a forked child draws its own. */
static CK_RV
set_unique_id(struct qt_attrs *a)
{
    char hex[33];

    if (qt_mod->uid_pos == 0 || qt_mod->uid_pos + 16 > sizeof(qt_mod->uid_pool)) {
        if (qt_os_random(qt_mod->uid_pool, sizeof(qt_mod->uid_pool)) != QT_OK) {
            return CKR_FUNCTION_FAILED;
        }
        qt_mod->uid_pos = 0;
    }
    qt_hex(hex, qt_mod->uid_pool + qt_mod->uid_pos, 16);
    qt_wipe(qt_mod->uid_pool + qt_mod->uid_pos, 16); /* each identifier used once */
    qt_mod->uid_pos += 16;
    if (qt_mod->uid_pos == sizeof(qt_mod->uid_pool)) {
        qt_mod->uid_pos = 0;
    }
    return qt_attrs_set(a, CKA_UNIQUE_ID, hex, 32);
}

CK_RV
qt_object_create_inlock(struct qt_session *s, struct qt_attrs *a, CK_OBJECT_HANDLE *out)
{
    int on_token = qt_attrs_bool(a, CKA_TOKEN, 0);
    int priv = qt_attrs_bool(a, CKA_PRIVATE, 0);
    struct qt_object *o = NULL;
    CK_RV rv;
    qt_rc rc;

    if ((rv = qt_object_may_create_inlock(s, a)) != CKR_OK ||
        (rv = set_unique_id(a)) != CKR_OK) {
        goto out;
    }
    if ((o = calloc(1, sizeof(*o))) == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    o->slot = s->slot;
    o->is_private = priv;
    if (on_token) {
        if ((rc = qt_ks_obj_create(s->slot->tok, a->v, a->n, &o->ks_id)) != QT_OK) {
            rv = qt_rv(rc);
            goto out;
        }
    } else {
        o->owner = s->handle;
        o->attrs = *a;
        qt_attrs_init(a);
    }
    if ((rv = object_register_inlock(o)) != CKR_OK) {
        if (on_token && qt_ks_obj_destroy(s->slot->tok, o->ks_id) != QT_OK) {
            rv = CKR_GENERAL_ERROR; /* the row stays, unreachable from here */
        }
        goto out;
    }
    *out = o->handle;
    o = NULL;
out:
    object_free(o);
    qt_attrs_clear(a);
    return rv;
}

CK_RV
qt_object_create_event_inlock(struct qt_session *s, struct qt_attrs *a, enum qt_event ev,
                              CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE *out)
{
    struct qt_attrs evattrs;
    struct qt_object *o;
    CK_RV rv;
    qt_rc rc;

    if (!qt_attrs_bool(a, CKA_TOKEN, 0)) {
        return qt_object_create_inlock(s, a, out); /* session objects are not logged */
    }
    if ((rv = qt_attrs_copy(&evattrs, a)) != CKR_OK) {
        qt_attrs_clear(a);
        return rv;
    }
    if ((rc = qt_ks_txn_begin(s->slot->tok)) != QT_OK) {
        rv = qt_rv(rc);
        qt_attrs_clear(a);
        goto out;
    }
    if ((rv = qt_object_create_inlock(s, a, out)) != CKR_OK) {
        qt_ks_txn_rollback(s->slot->tok);
        goto out;
    }
    if ((rc = qt_event_record(s->slot, ev, mech, &evattrs)) != QT_OK ||
        (rc = qt_ks_txn_commit(s->slot->tok)) != QT_OK) {
        qt_ks_txn_rollback(s->slot->tok);
        rv = qt_rv(rc);
        if (qt_object_get_inlock(s, *out, &o) == CKR_OK) {
            object_drop_inlock(o); /* its row went with the rollback */
        }
    }
out:
    qt_attrs_clear(&evattrs);
    return rv;
}

CK_RV
qt_object_update_inlock(struct qt_object *o, struct qt_attrs *a)
{
    CK_RV rv = CKR_OK;
    qt_rc rc;

    if (o->owner == 0) {
        if ((rc = qt_ks_obj_update(o->slot->tok, o->ks_id, a->v, a->n)) != QT_OK) {
            rv = rc == QT_E_NOTFOUND ? CKR_OBJECT_HANDLE_INVALID : qt_rv(rc);
        }
        qt_attrs_clear(a);
        cache_drop(o); /* re-read, with the keystore's checks, at next use */
    } else {
        qt_attrs_clear(&o->attrs);
        o->attrs = *a;
        qt_attrs_init(a);
    }
    if (rv == CKR_OK) {
        qt_key_ref_put(o->key);
        o->key = NULL;
    }
    return rv;
}

CK_RV
qt_object_destroy_inlock(struct qt_object *o)
{
    qt_rc rc;

    if (o->owner == 0) {
        rc = qt_ks_obj_destroy(o->slot->tok, o->ks_id);
        if (rc != QT_OK && rc != QT_E_NOTFOUND) {
            return qt_rv(rc);
        }
    }
    object_drop_inlock(o);
    return CKR_OK;
}

struct drop_ctx {
    struct qt_slot *slot;
    CK_SESSION_HANDLE owner;
    int private_only;
    int token_private; /* forget private token objects instead */
    struct qt_object **victims;
    size_t n;
};

static void
collect(void *val, void *ctx)
{
    struct qt_object *o = val;
    struct drop_ctx *d = ctx;

    if (o->slot != d->slot) {
        return;
    }
    if (d->token_private) {
        if (o->owner == 0 && o->is_private) {
            d->victims[d->n++] = o;
        }
        return;
    }
    if (o->owner == 0 || (d->owner != 0 && o->owner != d->owner)) {
        return;
    }
    if (d->private_only && !o->is_private) {
        return;
    }
    d->victims[d->n++] = o;
}

static void
drop_matching_inlock(struct drop_ctx *d)
{
    if (qt_mod->objects.n == 0) {
        return;
    }
    if ((d->victims = calloc(qt_mod->objects.n, sizeof(*d->victims))) == NULL) {
        return; /* under memory pressure the objects stay until finalize */
    }
    qt_map_each(&qt_mod->objects, collect, d);
    for (size_t i = 0; i < d->n; i++) {
        object_drop_inlock(d->victims[i]);
    }
    free(d->victims);
}

void
qt_object_drop_session_inlock(struct qt_slot *s, CK_SESSION_HANDLE h, int private_only)
{
    struct drop_ctx d = {.slot = s, .owner = h, .private_only = private_only};

    drop_matching_inlock(&d);
}

void
qt_object_forget_private_inlock(struct qt_slot *s)
{
    struct drop_ctx d = {.slot = s, .token_private = 1};

    drop_matching_inlock(&d);
}

static void
uncache_one(void *val, void *ctx)
{
    struct qt_object *o = val;

    if (o->owner == 0 && o->slot == ctx) {
        cache_drop(o);
    }
}

void
qt_object_uncache_token_inlock(struct qt_slot *s)
{
    qt_map_each(&qt_mod->objects, uncache_one, s);
}

static void
free_one(void *val, void *ctx)
{
    (void)ctx;
    object_free(val);
}

void
qt_objects_free_inlock(void)
{
    qt_map_each(&qt_mod->objects, free_one, NULL);
    qt_map_clear(&qt_mod->objects);
    qt_map_clear(&qt_mod->token_handles);
}

/* ---- C_FindObjects ----------------------------------------------------- */

struct find_ctx {
    struct qt_session *s;
    const CK_ATTRIBUTE *tmpl;
    CK_ULONG n;
    CK_OBJECT_HANDLE *out;
    size_t count, cap;
    CK_RV rv;
};

static void
find_session_obj(void *val, void *ctx)
{
    struct qt_object *o = val;
    struct find_ctx *f = ctx;

    if (f->rv != CKR_OK || o->owner == 0 || o->slot != f->s->slot) {
        return;
    }
    if (o->is_private && f->s->slot->login != CKU_USER) {
        return;
    }
    if (!qt_attr_match(&o->attrs, f->tmpl, f->n)) {
        return;
    }
    if (f->count == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 16;
        CK_OBJECT_HANDLE *v = realloc(f->out, ncap * sizeof(*v));

        if (v == NULL) {
            f->rv = CKR_HOST_MEMORY;
            return;
        }
        f->out = v;
        f->cap = ncap;
    }
    f->out[f->count++] = o->handle;
}

static int
tmpl_wants_session_only(const CK_ATTRIBUTE *tmpl, CK_ULONG n, int *token_only)
{
    *token_only = 0;
    for (CK_ULONG i = 0; i < n; i++) {
        if (tmpl[i].type == CKA_TOKEN && tmpl[i].ulValueLen == sizeof(CK_BBOOL)) {
            CK_BBOOL b = *(const CK_BBOOL *)tmpl[i].pValue;

            *token_only = b == CK_TRUE;
            return b == CK_FALSE;
        }
    }
    return 0;
}

static int
has_unknown_inlock(struct qt_slot *s, const uint64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (qt_map_get(&qt_mod->token_handles, token_key(s, ids[i])) == NULL) {
            return 1;
        }
    }
    return 0;
}

/* Whether id is in the ascending array v (qt_ks_obj_find's order). */
static int
id_in(const uint64_t *v, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v[mid] == id) {
            return 1;
        }
        if (v[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return 0;
}

CK_RV
qt_object_find_inlock(struct qt_session *s, const CK_ATTRIBUTE *tmpl, CK_ULONG n,
                      CK_OBJECT_HANDLE **out, size_t *count)
{
    struct find_ctx f = {.s = s, .tmpl = tmpl, .n = n, .rv = CKR_OK};
    struct qt_attr *kt = NULL;
    uint64_t *ids = NULL, *pids = NULL;
    size_t nids = 0, npids = 0;
    int token_only = 0;
    int array_attr = 0;
    int recheck = 0;
    CK_RV rv = CKR_OK;
    qt_rc rc;

    for (CK_ULONG i = 0; i < n; i++) {
        if (tmpl[i].type & CKF_ARRAY_ATTRIBUTE) {
            array_attr = 1; /* nested templates are not compared: nothing matches */
        }
        switch (tmpl[i].type) {
        case CKA_VALUE:
        case CKA_PRIVATE_EXPONENT:
        case CKA_PRIME_1:
        case CKA_PRIME_2:
        case CKA_EXPONENT_1:
        case CKA_EXPONENT_2:
        case CKA_COEFFICIENT:
            recheck = 1; /* never match on a value that may be sensitive */
            break;
        default:
            break;
        }
    }
    if (array_attr) {
        goto done;
    }
    if (!tmpl_wants_session_only(tmpl, n, &token_only)) {
        if ((kt = calloc(n + 1, sizeof(*kt))) == NULL) {
            rv = CKR_HOST_MEMORY;
            goto done;
        }
        for (CK_ULONG i = 0; i < n; i++) {
            kt[i].type = tmpl[i].type;
            kt[i].val = tmpl[i].pValue;
            kt[i].len = (size_t)tmpl[i].ulValueLen;
        }
        if ((rc = qt_ks_obj_find(s->slot->tok, kt, (size_t)n, &ids, &nids)) != QT_OK) {
            rv = qt_rv(rc);
            goto done;
        }
        if (!recheck && s->slot->login == CKU_USER && has_unknown_inlock(s->slot, ids, nids)) {
            /* objects seen for the first time: which are private (their
             * handles die at logout)?  One indexed query instead of reading
             * each object (a first search among 10,000 stays fast). */
            static CK_BBOOL yes = CK_TRUE;

            kt[n].type = CKA_PRIVATE;
            kt[n].val = &yes;
            kt[n].len = sizeof(yes);
            if ((rc = qt_ks_obj_find(s->slot->tok, kt, (size_t)n + 1, &pids, &npids)) != QT_OK) {
                rv = qt_rv(rc);
                goto done;
            }
        }
        for (size_t i = 0; i < nids; i++) {
            CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
            struct qt_object *o = qt_map_get(&qt_mod->token_handles, token_key(s->slot, ids[i]));

            if (recheck) {
                /* secret attribute types in the template: match here,
                 * where sensitivity is known */
                struct qt_attr *v = NULL;
                size_t nv = 0;
                struct qt_attrs a;
                int match;

                if ((rc = qt_ks_obj_get(s->slot->tok, ids[i], &v, &nv)) != QT_OK) {
                    continue; /* destroyed meanwhile */
                }
                qt_attrs_take(&a, v, nv);
                match = qt_attr_match(&a, tmpl, n);
                rv = qt_object_token_handle_inlock(s->slot, ids[i],
                                                   qt_attrs_bool(&a, CKA_PRIVATE, 1), &h);
                qt_attrs_clear(&a);
                if (rv != CKR_OK) {
                    goto done;
                }
                if (!match) {
                    continue;
                }
            } else if (o == NULL) {
                rv = qt_object_token_handle_inlock(s->slot, ids[i],
                                                   id_in(pids, npids, ids[i]), &h);
                if (rv != CKR_OK) {
                    goto done;
                }
            } else {
                h = o->handle;
            }
            if (f.count == f.cap) {
                size_t ncap = f.cap ? f.cap * 2 : 16;
                CK_OBJECT_HANDLE *nv2 = realloc(f.out, ncap * sizeof(*nv2));

                if (nv2 == NULL) {
                    rv = CKR_HOST_MEMORY;
                    goto done;
                }
                f.out = nv2;
                f.cap = ncap;
            }
            f.out[f.count++] = h;
        }
    }
    if (!token_only) {
        qt_map_each(&qt_mod->objects, find_session_obj, &f);
        rv = f.rv;
    }
done:
    free(kt);
    free(ids);
    free(pids);
    if (rv != CKR_OK) {
        free(f.out);
        return rv;
    }
    *out = f.out;
    *count = f.count;
    return CKR_OK;
}
