/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal declarations shared by the files of the PKCS#11 layer: the module
 * state (module.c), slots (slot.c), sessions (session.c), objects (object.c),
 * attribute rules (attr.c), the mechanism table (mech.c), the qt_rc -> CK_RV
 * map (rv.c) and the event hook (events.c).  Nothing outside pkcs11/ includes
 * this file; the module is used from outside only through its function list.
 *
 * Error convention: below pkcs11/ functions return qt_rc; inside pkcs11/ the
 * inner functions return CK_RV directly, because most of the spec's codes
 * (CKR_SESSION_HANDLE_INVALID, CKR_TEMPLATE_INCOMPLETE ...) have no meaning
 * below this layer.  A qt_rc from a lower room becomes a CK_RV only through
 * qt_rv() (rv.c).
 *
 * Locking: one module mutex (qt_lock/qt_unlock).  Functions whose name ends
 * in _inlock must be called with it held.  Every lock of the module is a
 * struct qt_mutex: a pthread mutex, or, when the application gave C_Initialize
 * its mutex callbacks without CKF_OS_LOCKING_OK, a mutex of the application
 * made and taken through those callbacks (PKCS#11 2.40 5.4).  Lock order,
 * outermost first:
 *   1. the module mutex (module.c)
 *   2. a session's operation mutex (struct qt_session.busy): guards the
 *      session's operations (s->ops).  Taken only while holding the module
 *      mutex, after looking the session up; the data calls of an operation
 *      (C_Sign, C_Encrypt ...) then drop the module mutex and run the crypto
 *      holding only this one, so threads on different sessions work in
 *      parallel.  Nothing holding it takes the module mutex.  A session is
 *      freed only under the module mutex after taking (waiting for) it.
 *   3. the entropy pipeline's own mutex and OpenSSL's DRBG locks (taken
 *      inside qt_drbg_* calls; they never call back into this layer)
 * Key references (struct qt_key_ref) are counted atomically, so an
 * operation can drop its key without the module mutex.
 */
#ifndef QT_PKCS11_P11_H
#define QT_PKCS11_P11_H

#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "../keystore/ks.h"
#include "../src/common/check.h"
#include "../src/common/mem.h"
#include "../src/common/conf.h"
#include "../src/common/err.h"
#include "pkcs11-3.h"

struct qt_att_key;

#define QT_P11_MANUFACTURER "qtoken"
#define QT_P11_MIN_PIN 4u
#define QT_P11_MAX_PIN 255u

/* ---- attribute lists (attr.c) ------------------------------------------ */

/* A growable attribute list; values are heap copies owned by the list. */
struct qt_attrs {
    struct qt_attr *v;
    size_t n, cap;
};

void qt_attrs_init(struct qt_attrs *a);
/* Wipes every value and frees. NULL-safe. */
void qt_attrs_clear(struct qt_attrs *a);
/* Sets (replaces or appends) type to a copy of val[0..len). */
CK_RV qt_attrs_set(struct qt_attrs *a, CK_ATTRIBUTE_TYPE type, const void *val, size_t len);
CK_RV qt_attrs_set_bool(struct qt_attrs *a, CK_ATTRIBUTE_TYPE type, int v);
CK_RV qt_attrs_set_ulong(struct qt_attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG v);
/* Removes type if present. */
void qt_attrs_del(struct qt_attrs *a, CK_ATTRIBUTE_TYPE type);
/* The attribute of that type, or NULL. Borrowed. */
const struct qt_attr *qt_attrs_find(const struct qt_attrs *a, CK_ATTRIBUTE_TYPE type);
/* Boolean value (dflt if absent or malformed). */
int qt_attrs_bool(const struct qt_attrs *a, CK_ATTRIBUTE_TYPE type, int dflt);
/* CK_ULONG value; returns 0 and leaves *v if absent or malformed. */
int qt_attrs_ulong(const struct qt_attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG *v);
/* Deep copy of src into dst (dst initialised by the callee). */
CK_RV qt_attrs_copy(struct qt_attrs *dst, const struct qt_attrs *src);
/* Takes ownership of an array from qt_ks_obj_get. */
void qt_attrs_take(struct qt_attrs *dst, struct qt_attr *v, size_t n);

/* Whether the caller's template entry is well formed: a NULL pValue with a
 * non-zero length is CKR_ATTRIBUTE_VALUE_INVALID (as the spec's templates
 * carry values). */
CK_RV qt_attr_template_check(const CK_ATTRIBUTE *tmpl, CK_ULONG n);

/* Why an object is being made: the spec's footnotes differ per path. */
enum qt_attr_origin {
    QT_ORIGIN_CREATE = 0,   /* C_CreateObject */
    QT_ORIGIN_GENERATE,     /* C_GenerateKey / C_GenerateKeyPair */
    QT_ORIGIN_UNWRAP,       /* C_UnwrapKey */
    QT_ORIGIN_DERIVE,       /* C_DeriveKey */
    QT_ORIGIN_COPY,         /* C_CopyObject (template over an existing object) */
};

/* Builds the attribute list of a new object from the caller's template:
 * validates every entry against the class/key-type rules (TYPE_INVALID,
 * VALUE_INVALID, READ_ONLY for attributes the caller may not give on this
 * path, INCONSISTENT, INCOMPLETE), then fills the spec's defaults.
 * `base` (may be NULL) holds attributes fixed by the mechanism (class, key
 * type) that the template may repeat but not contradict
 * (CKR_TEMPLATE_INCONSISTENT).  so_session: the SO is logged in (only the SO
 * may set CKA_TRUSTED). */
CK_RV qt_attr_build(enum qt_attr_origin origin, const struct qt_attrs *base,
                    const CK_ATTRIBUTE *tmpl, CK_ULONG n, int so_session,
                    struct qt_attrs *out);

/* After a key's value is set: the derived attributes (CKA_LOCAL,
 * CKA_KEY_GEN_MECHANISM, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE). */
CK_RV qt_attr_finish_key(struct qt_attrs *a, enum qt_attr_origin origin,
                         CK_MECHANISM_TYPE mech);

/* C_SetAttributeValue / C_CopyObject: applies tmpl to obj's attributes in a
 * copy (*out), per the modifiability rules. copy: C_CopyObject rules. */
CK_RV qt_attr_modify(const struct qt_attrs *cur, const CK_ATTRIBUTE *tmpl, CK_ULONG n,
                     int copy, int so_session, struct qt_attrs *out);

/* C_GetAttributeValue for one object: the per-attribute rules of PKCS#11
 * 3.0 5.7 (sensitive, invalid, length query, too small). */
CK_RV qt_attr_get(const struct qt_attrs *a, CK_ATTRIBUTE *tmpl, CK_ULONG n);

/* Whether every entry of tmpl is present in a with an equal value
 * (C_FindObjects, wrap templates). */
int qt_attr_match(const struct qt_attrs *a, const CK_ATTRIBUTE *tmpl, CK_ULONG n);
/* Same with a stored template (serialised CKA_WRAP_TEMPLATE). */
int qt_attr_match_stored(const struct qt_attrs *a, const struct qt_attr *tmpl);

/* Whether the attribute is sensitive for this object (not revealed). */
int qt_attr_is_sensitive(const struct qt_attrs *a, CK_ATTRIBUTE_TYPE type);

/* Parses a stored attribute-array value (CKA_WRAP/UNWRAP/DERIVE_TEMPLATE)
 * into a freshly allocated CK_ATTRIBUTE array pointing into the value.
 * *out free()d by the caller; values are borrowed from a. */
CK_RV qt_attr_template_decode(const struct qt_attr *a, CK_ATTRIBUTE **out, CK_ULONG *n);

/* CK_ULONG CKA_CLASS / CKA_KEY_TYPE helpers (CK_UNAVAILABLE_INFORMATION if absent). */
CK_ULONG qt_attrs_class(const struct qt_attrs *a);
CK_ULONG qt_attrs_key_type(const struct qt_attrs *a);

/* ---- mechanisms (mech.c) ----------------------------------------------- */

struct qt_mech_info {
    CK_MECHANISM_TYPE type;
    CK_ULONG min_size, max_size;   /* CK_MECHANISM_INFO units (bits or bytes) */
    CK_FLAGS flags;
};

const struct qt_mech_info *qt_mech_find(CK_MECHANISM_TYPE type);
/* The table, for C_GetMechanismList. */
const struct qt_mech_info *qt_mech_table(size_t *n);
/* Whether key (attrs) may be used with mech: CKA_ALLOWED_MECHANISMS. */
int qt_mech_allowed(const struct qt_attrs *key, CK_MECHANISM_TYPE mech);
/* The key type a mechanism works on (CKK_*), or CK_UNAVAILABLE_INFORMATION. */
CK_KEY_TYPE qt_mech_key_type(CK_MECHANISM_TYPE mech);

/* ---- the module (module.c) --------------------------------------------- */

struct qt_slot;
struct qt_session;
struct qt_object;
struct qt_ent_pipeline;
struct qt_drbg;
struct qt_crypto_gen;
struct qt_key_ref;

/* A small hash map from 64-bit keys to pointers (module.c). */
struct qt_map {
    uint64_t *keys;
    void **vals;
    size_t cap, n;
};
void *qt_map_get(const struct qt_map *m, uint64_t key);
CK_RV qt_map_put(struct qt_map *m, uint64_t key, void *val);
void qt_map_del(struct qt_map *m, uint64_t key);
void qt_map_clear(struct qt_map *m);
/* Calls fn(val, ctx) for each entry; fn must not change the map. */
void qt_map_each(const struct qt_map *m, void (*fn)(void *val, void *ctx), void *ctx);
/* Collects the values into a malloc'ed array (NULL when empty). */
CK_RV qt_map_values(const struct qt_map *m, void ***out, size_t *n);

/* The application's mutex callbacks (CK_C_INITIALIZE_ARGS); all NULL: the
 * module locks with pthreads. */
struct qt_mutex_ops {
    CK_CREATEMUTEX create;
    CK_DESTROYMUTEX destroy;
    CK_LOCKMUTEX lock;
    CK_UNLOCKMUTEX unlock;
};

/* One lock of the module (module.c).  ops == NULL or ops->create == NULL:
 * pt is the lock; else app, the application's mutex.  ops is borrowed from
 * the module (struct qt_module.mutex_ops), which outlives every mutex. */
struct qt_mutex {
    const struct qt_mutex_ops *ops;
    pthread_mutex_t pt;
    CK_VOID_PTR app;
};

/* Makes *mx with ops (NULL: pthreads).  CKR_OK, CKR_HOST_MEMORY, or
 * CKR_GENERAL_ERROR (the application's CreateMutex failed otherwise; its
 * code is logged). */
CK_RV qt_mutex_init(struct qt_mutex *mx, const struct qt_mutex_ops *ops) QT_MUST_CHECK;
/* Destroys a mutex made by qt_mutex_init (not held).  A failing
 * DestroyMutex is logged. */
void qt_mutex_clear(struct qt_mutex *mx);
/* CKR_OK once held; else CKR_HOST_MEMORY or CKR_GENERAL_ERROR (the
 * application's LockMutex failed: CKR_MUTEX_BAD ...; logged) and not held. */
CK_RV qt_mutex_lock(struct qt_mutex *mx) QT_MUST_CHECK;
/* Releases a held mutex; a failing UnlockMutex (CKR_MUTEX_NOT_LOCKED ...) is
 * logged, as there is nothing a caller could do about it. */
void qt_mutex_unlock(struct qt_mutex *mx);

struct qt_module {
    struct qt_mutex lock;       /* the module lock (qt_lock) */
    struct qt_mutex_ops mutex_ops; /* the application's callbacks, or all NULL */
    pid_t pid;                  /* the process that called C_Initialize */
    struct qt_conf conf;
    char install_dir[1024];
    struct qt_ks_env ksenv;
    struct qt_ent_pipeline *pipe; /* NULL while the device is unusable */
    int health_failed;            /* a health-failure record was written, no recovery yet */
    struct qt_drbg *drbg;         /* NULL while the device is unusable */
    struct qt_crypto_gen *gen;    /* key-generation contexts of drbg's libctx (with drbg) */
    struct qt_att_key *att_key;   /* attestation key, opened at the first event (events.c) */
    struct qt_slot **slots;
    size_t nslots;
    uint8_t uid_pool[512];        /* OS random bytes for CKA_UNIQUE_ID (object.c); per */
    size_t uid_pos;               /* C_Initialize, so a forked child never repeats them */
    struct qt_map sessions;      /* CK_SESSION_HANDLE -> struct qt_session */
    struct qt_map objects;       /* CK_OBJECT_HANDLE -> struct qt_object */
    struct qt_map token_handles; /* (slot index << 48) ^ ks id -> struct qt_object */
    CK_SESSION_HANDLE next_session;
    CK_OBJECT_HANDLE next_object;
};

/* The state of this process's initialised module, valid under the lock. */
extern struct qt_module *qt_mod;

/* CKR_OK if initialised in this process (not a forked child), else
 * CKR_CRYPTOKI_NOT_INITIALIZED.  Call before qt_lock. */
CK_RV qt_module_check(void);
/* The module lock. qt_lock returns CKR_CRYPTOKI_NOT_INITIALIZED if the
 * module was finalised meanwhile (the lock is then not held). */
CK_RV qt_lock(void);
void qt_unlock(void);

/* The DRBG, created on first use if the device was unusable before.
 * CKR_DEVICE_ERROR if the entropy source is in error. */
CK_RV qt_module_drbg_inlock(struct qt_drbg **out);
/* Notes the outcome of an entropy-dependent call: the first failure of the
 * source (QT_E_HEALTH and device errors) appends a health-failure record to
 * every token's attestation log, the first success after it a
 * health-recovery record (best effort: the call's own result stands). */
void qt_module_note_entropy_inlock(qt_rc rc);
/* Racy but harmless read of health_failed, to skip the lock when all is well. */
int qt_module_health_failed(void);
/* Random bytes for the keystore (its rng callback). */
qt_rc qt_module_ks_rng(void *ctx, uint8_t *out, size_t n);

/* ---- slots (slot.c) ---------------------------------------------------- */

struct qt_event_batch;

struct qt_slot {
    CK_SLOT_ID id;
    struct qt_ks_token *tok;    /* NULL: the empty slot where C_InitToken makes a token */
    char path[1024];            /* the token's database ("" for the empty slot) */
    CK_USER_TYPE login;         /* CKU_SO, CKU_USER, or QT_NOT_LOGGED_IN */
    unsigned long sessions, rw_sessions;
    struct qt_event_batch *batch; /* queued session-key records (events.c); NULL: none yet */
    uint64_t ver;                 /* the token's data version (object.c) ... */
    int64_t ver_at_ns;            /* ... read at this monotonic time; 0: never */
};
#define QT_NOT_LOGGED_IN ((CK_USER_TYPE)~0UL)

/* Opens every token of the store and adds the empty slot. */
CK_RV qt_slots_load_inlock(void);
/* Appends a new empty slot (after C_InitToken filled the previous one). */
CK_RV qt_slots_load_empty_inlock(void);
/* Adds slots for tokens created by other processes since the last scan. */
CK_RV qt_slots_rescan_inlock(void);
void qt_slots_free_inlock(void);
CK_RV qt_slot_get_inlock(CK_SLOT_ID id, struct qt_slot **out);
/* CK_TOKEN_INFO for a slot (also for the empty slot). */
CK_RV qt_slot_token_info_inlock(struct qt_slot *s, CK_TOKEN_INFO *info);
/* Logs the token out (last session closed, C_Logout): destroys private
 * session objects and forgets private token object handles. */
void qt_slot_logout_inlock(struct qt_slot *s);

/* ---- sessions (session.c) ---------------------------------------------- */

enum qt_op_kind {
    QT_OP_FIND = 0,
    QT_OP_ENCRYPT,
    QT_OP_DECRYPT,
    QT_OP_DIGEST,
    QT_OP_SIGN,
    QT_OP_VERIFY,
    QT_OP__COUNT
};

enum qt_op_stage {
    QT_STAGE_NONE = 0,   /* not active */
    QT_STAGE_INIT,       /* after *Init, before any data */
    QT_STAGE_UPDATE,     /* multi-part started */
    QT_STAGE_SINGLE,     /* a single-part length query happened */
};

struct qt_op {
    enum qt_op_stage stage;
    CK_MECHANISM_TYPE mech;
    CK_OBJECT_HANDLE key;
    void *ctx;                        /* the crypto room's context, or find state */
    void (*free_ctx)(void *ctx);      /* releases ctx; NULL-safe on NULL ctx */
    int auth_needed;                  /* key has CKA_ALWAYS_AUTHENTICATE (sign, decrypt) */
    int authed;                       /* C_Login(CKU_CONTEXT_SPECIFIC) done for it */
};

struct qt_session {
    struct qt_mutex busy;             /* guards ops (lock order: module, then this) */
    CK_SESSION_HANDLE handle;
    struct qt_slot *slot;
    CK_FLAGS flags;                   /* CKF_SERIAL_SESSION | CKF_RW_SESSION */
    struct qt_op ops[QT_OP__COUNT];
};

CK_RV qt_session_get_inlock(CK_SESSION_HANDLE h, struct qt_session **out);
CK_RV qt_session_open_inlock(struct qt_slot *slot, CK_FLAGS flags, CK_SESSION_HANDLE *out);
/* Ends every operation, destroys the session's objects; logs the token out
 * when it was the last session. */
void qt_session_close_inlock(struct qt_session *s);
/* Frees every session and its operations (C_Finalize). */
void qt_sessions_free_inlock(void);
/* CKS_* state from the slot's login and the session flags. */
CK_STATE qt_session_state(const struct qt_session *s);
/* The session's operation mutex (see the lock order at the top).  If the
 * application's LockMutex callback fails, the failure is logged and the
 * lock retried until it is held: callers have no error path here, and
 * going on without the lock would let two threads share s->ops. */
void qt_session_ops_lock(struct qt_session *s);
void qt_session_ops_unlock(struct qt_session *s);
/* Ends operation k (frees its context); needs the session's ops lock. */
void qt_op_end(struct qt_op *op);
/* Starts operation k: CKR_OPERATION_ACTIVE if one is active. */
CK_RV qt_op_begin(struct qt_session *s, enum qt_op_kind k, struct qt_op **out);

/* ---- events (events.c) ------------------------------------------------- */

enum qt_event {
    QT_EVENT_TOKEN_INIT = 0,
    QT_EVENT_KEY_GENERATE,
    QT_EVENT_KEY_DESTROY,
    QT_EVENT_KEY_IMPORT,
    QT_EVENT_PIN_INIT,
    QT_EVENT_PIN_CHANGE,
    QT_EVENT_LOGIN_FAILURE,
    QT_EVENT_HEALTH_FAILURE,
    QT_EVENT_HEALTH_RECOVERY,
    QT_EVENT_PIN_LOCKED,     /* qt_event_login_failure writes it */
    QT_EVENT_OBJECT_TAMPER,  /* qt_event_watch_tamper's hook writes it */
};

/* ---- objects (object.c) ------------------------------------------------ */

struct qt_object {
    CK_OBJECT_HANDLE handle;
    struct qt_slot *slot;
    CK_SESSION_HANDLE owner;  /* session objects: the creating session; 0 for token objects */
    uint64_t ks_id;           /* token objects: keystore row id */
    int is_private;           /* CKA_PRIVATE, cached */
    struct qt_attrs attrs;    /* session objects: theirs; token objects: a cached copy */
    struct qt_key_ref *key;   /* key material imported for operations, cached */
    /* token objects: attrs holds what the keystore returned while its data
     * version (qt_ks_data_version) was cache_ver; valid while no other
     * process has committed since and this one has not changed the object */
    int cached;
    uint64_t cache_ver;
};

/* Looks up a handle visible to session s (its slot, private only when the
 * user is logged in).  CKR_OBJECT_HANDLE_INVALID otherwise. */
CK_RV qt_object_get_inlock(struct qt_session *s, CK_OBJECT_HANDLE h, struct qt_object **out);
/* The attributes of obj (a copy; token objects: read from the keystore, or
 * from the object's cache while the token's data version is unchanged). */
CK_RV qt_object_attrs_inlock(struct qt_object *obj, struct qt_attrs *out);
/* obj's attributes in place (token objects: the refreshed cache), valid
 * until the module lock is released or the object changes. */
CK_RV qt_object_attrs_ref_inlock(struct qt_object *obj, const struct qt_attrs **out);
/* Drops the cached attributes of every token object of s: after this
 * process changed the token wholesale (re-initialisation), which the data
 * version does not show to the connection that did it. */
void qt_object_uncache_token_inlock(struct qt_slot *s);
/* The checks of qt_object_create_inlock, to make before costly work: token
 * object -> RW session (CKR_SESSION_READ_ONLY), private -> user logged in
 * (CKR_USER_NOT_LOGGED_IN). */
CK_RV qt_object_may_create_inlock(const struct qt_session *s, const struct qt_attrs *a);
/* Checks the session may create an object with these attributes (token ->
 * RW session, private -> user logged in) and stores it.  Takes ownership of
 * *a (cleared on return). */
CK_RV qt_object_create_inlock(struct qt_session *s, struct qt_attrs *a, CK_OBJECT_HANDLE *out);
/* As qt_object_create_inlock; for a token object the creation and the
 * attestation event ev commit in one keystore transaction. */
CK_RV qt_object_create_event_inlock(struct qt_session *s, struct qt_attrs *a, enum qt_event ev,
                                    CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE *out);
/* Replaces the attributes of obj with *a (takes ownership). */
CK_RV qt_object_update_inlock(struct qt_object *obj, struct qt_attrs *a);
/* Destroys obj (keystore row too); frees it. */
CK_RV qt_object_destroy_inlock(struct qt_object *obj);
/* The handle of token object id on slot s (registered on first sight). */
CK_RV qt_object_token_handle_inlock(struct qt_slot *s, uint64_t id, int is_private,
                                    CK_OBJECT_HANDLE *out);
/* Session-object cleanup: destroys every object owned by session h (h == 0:
 * every session object of slot s; private_only: only private ones). */
void qt_object_drop_session_inlock(struct qt_slot *s, CK_SESSION_HANDLE h, int private_only);
/* Forgets the handles of private token objects of slot s (logout). */
void qt_object_forget_private_inlock(struct qt_slot *s);
/* Frees every object (C_Finalize). */
void qt_objects_free_inlock(void);
/* Every object handle of session s's slot visible to it matching tmpl. */
CK_RV qt_object_find_inlock(struct qt_session *s, const CK_ATTRIBUTE *tmpl, CK_ULONG n,
                            CK_OBJECT_HANDLE **out, size_t *count);
/* Whether the session may modify/destroy obj (token -> RW session,
 * private -> user logged in). */
CK_RV qt_object_writable_inlock(struct qt_session *s, struct qt_object *obj);

/* ---- events (events.c), continued --------------------------------------- */

/* Appends the signed attestation record of event ev to slot s's token log;
 * called inside the keystore transaction of the change (see events.c).
 * Any error must abort that change. */
/* Fresh QRNG bits drawn by this thread's last key-generation reseed (fn_keygen.c). */
uint64_t qt_keygen_bits_drawn(void);
qt_rc qt_event_record(struct qt_slot *s, enum qt_event ev, CK_MECHANISM_TYPE mech,
                      const struct qt_attrs *obj) QT_MUST_CHECK;
/* A wrong PIN of who was counted (failures of limit): appends login-failure
 * and, when failures reached limit, pin-locked, both naming the user.  The
 * keystore's login hook (qt_ks_fail_fn, ctx = the slot): called inside the
 * transaction that re-verifies the counter. */
qt_rc qt_event_login_failure(void *slot, enum qt_ks_user who, unsigned failures,
                             unsigned limit) QT_MUST_CHECK;
/* [attest] session_keys = batch (events.c, "Session-key records in
 * batches"): the records of session-object key generations are queued per
 * slot and written as one session-keys record.
 *
 * prepare: before the objects of a session key generated on s are created,
 * describes the key (obj: the private or secret key's attributes; no secret
 * is read) into s's queue, not yet counted.  Any error: the generation must
 * fail.  commit: once the objects exist, counts the key, then writes the
 * queue if it holds 256 keys or its oldest key is 1 s old; if that write
 * fails the key is taken back out and the error returned: the generation
 * must fail and its objects be destroyed. */
qt_rc qt_event_session_key_prepare_inlock(struct qt_slot *s, CK_MECHANISM_TYPE mech,
                                          const struct qt_attrs *obj) QT_MUST_CHECK;
qt_rc qt_event_session_key_commit_inlock(struct qt_slot *s) QT_MUST_CHECK;
/* Writes s's queued session-key records now, as one record in a transaction
 * of its own (call outside any transaction, e.g. before a token key's).  On
 * error they stay queued and the error is returned. */
qt_rc qt_event_flush_inlock(struct qt_slot *s) QT_MUST_CHECK;
/* The same at C_CloseSession, C_CloseAllSessions and C_Logout (why names
 * the call): a failure is logged as an error with the number of records
 * lost, and the queue emptied. */
void qt_event_flush_or_drop_inlock(struct qt_slot *s, const char *why);
/* C_Finalize: flush_or_drop on every slot (write == 0, OpenSSL already
 * cleaned up: only log what is lost), then frees the queues. */
void qt_event_finalize_inlock(int write);
/* Every entry point, once it holds the module lock (qt_lock): writes each
 * slot's session-key queue whose oldest key is 1 s old, so a process that
 * keeps calling the module (signing, say) but makes no more keys still gets
 * its records within about a second.  A failure is logged and the queue
 * kept, to be tried at the next call; the caller's call is not affected. */
void qt_event_tick_inlock(void);
/* Installs on s->tok the keystore tamper hook that appends an object-tamper
 * record (once per object per process) when a read refuses or skips a
 * damaged object.  Idempotent; call with the module lock held whenever the
 * slot's token handle may be new (session open). */
void qt_event_watch_tamper(struct qt_slot *s);

/* ---- helpers (rv.c) ---------------------------------------------------- */

/* The only qt_rc -> CK_RV map. */
CK_RV qt_rv(qt_rc rc);
/* "CKR_OK", "CKR_ARGUMENTS_BAD" ... for traces. */
const char *qt_ckr_name(CK_RV rv);
/* Blank-pads s into a fixed-width CK_UTF8CHAR field (no NUL). */
void qt_pad(CK_UTF8CHAR *dst, size_t width, const char *s);
/* The two-call length convention: out == NULL -> *outlen = need, CKR_OK;
 * *outlen < need -> *outlen = need, CKR_BUFFER_TOO_SMALL; else *outlen =
 * need and CKR_OK (the caller then writes the output). */
CK_RV qt_out_len(CK_BYTE_PTR out, CK_ULONG_PTR outlen, size_t need);

#endif
