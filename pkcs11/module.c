/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The module's life cycle: C_Initialize and C_Finalize, the module's locks
 * (struct qt_mutex: pthreads, or the application's mutex callbacks), fork
 * detection, and the lazily created entropy pipeline and DRBG.
 *
 * We are a guest in someone else's process (STYLE.md 7): no constructors,
 * no atexit, no change to OpenSSL's default library context.  All state
 * hangs off one heap object, qt_mod, created by C_Initialize.
 *
 * Lock order (outermost first):
 *   0. init_owner, a spin lock that serialises C_Initialize/C_Finalize
 *      against each other.  It stores the holder's pid, so a child whose
 *      parent forked while another thread held it can break it (every thread
 *      of one process has the same pid; a different pid can only be a
 *      pre-fork holder).
 *   1. qt_mod->lock, the module mutex, held by every entry point while it
 *      looks up and changes module state (p11-kit trust/module.c discipline).
 *   2. a session's operation mutex (qt_session.busy), taken under 1 after
 *      the session lookup; the data calls of an operation and C_GenerateRandom
 *      then drop 1 and work holding only this one (and key generation holds
 *      neither while OpenSSL generates), so threads on different sessions
 *      run in parallel.
 *   3. locks inside the rooms below (entropy pipeline mutex, OpenSSL DRBG
 *      locks, SQLite); they never call back up.
 * p11.h repeats this order where the structures are declared.
 *
 * Whose mutexes (PKCS#11 2.40 5.4, C_Initialize): with CKF_OS_LOCKING_OK,
 * or with no callbacks, 1 and 2 are pthread mutexes.  With the four
 * callbacks and no CKF_OS_LOCKING_OK, "the library should use the supplied
 * function pointers for mutex handling": 1 and 2 are the application's
 * mutexes, made, taken and destroyed through its callbacks (struct
 * qt_mutex).  Lock 0 stays ours in every case: it is needed before the
 * callbacks are known and after they are forgotten.  The rooms below (3)
 * keep their own pthread locks; they are not the module's to hand over.
 *
 * Fork (PKCS#11 3.0 5.4, DESIGN.md): C_Initialize records getpid().  In a
 * child, every call except C_Initialize, C_GetFunctionList and
 * C_GetInterface* returns CKR_CRYPTOKI_NOT_INITIALIZED.  A C_Initialize in
 * the child abandons the inherited state without touching it (its mutex may
 * be held by a thread that does not exist here, its SQLite handles belong to
 * the parent, its DRBG state must never be reused) and builds its own: new
 * pipeline (device re-opened, start-up test re-run), new DRBG, new store
 * handles.  The abandoned memory is leaked on purpose; so the child never
 * writes the session-key records its parent had queued (events.c): the
 * parent writes them.
 *
 * C_Finalize at atexit time: if OpenSSL has already run OPENSSL_cleanup
 * (its atexit handler ran before ours), freeing our library context would
 * touch freed global state; OPENSSL_init_crypto() then reports 0 and we
 * leave OpenSSL objects alone (the process is exiting).
 */
#include <openssl/crypto.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../attest/att.h"
#include "../src/common/log.h"
#include "../src/crypto/crypto.h"
#include "../src/drbg/drbg.h"
#include "../src/entropy/ent.h"
#include "fn.h"

struct qt_module *qt_mod;

/* State deliberately left behind (after OPENSSL_cleanup, see
 * module_free_locked): kept reachable here, so that it stays what it is, the
 * process's memory at exit, and leak checkers of the host (LeakSanitizer,
 * valgrind) do not report it as lost. */
static struct qt_module *left_at_exit;

static atomic_int init_owner; /* 0 free, else pid of the holder */

static void
init_lock(void)
{
    int me = (int)getpid();

    for (;;) {
        int cur = 0;

        if (atomic_compare_exchange_weak(&init_owner, &cur, me)) {
            return;
        }
        if (cur != 0 && cur != me &&
            atomic_compare_exchange_strong(&init_owner, &cur, me)) {
            return; /* held across fork() by a thread of an ancestor */
        }
        sched_yield();
    }
}

static void
init_unlock(void)
{
    atomic_store(&init_owner, 0);
}

/* ---- struct qt_mutex ------------------------------------------------------ */

static int
mutex_uses_app(const struct qt_mutex *mx)
{
    return mx->ops != NULL && mx->ops->create != NULL;
}

/* An application callback's failure as a return value of ours: the
 * callbacks' own codes (CKR_MUTEX_BAD, CKR_MUTEX_NOT_LOCKED) are not among
 * the codes the Cryptoki functions may return; CKR_HOST_MEMORY is. */
static CK_RV
mutex_rv(CK_RV app_rv)
{
    return app_rv == CKR_HOST_MEMORY ? CKR_HOST_MEMORY : CKR_GENERAL_ERROR;
}

CK_RV
qt_mutex_init(struct qt_mutex *mx, const struct qt_mutex_ops *ops)
{
    CK_RV rv;

    mx->ops = ops;
    mx->app = NULL;
    if (!mutex_uses_app(mx)) {
        return pthread_mutex_init(&mx->pt, NULL) == 0 ? CKR_OK : CKR_HOST_MEMORY;
    }
    rv = ops->create(&mx->app);
    if (rv != CKR_OK) {
        qt_log(QT_LOG_ERROR, "pkcs11: the application's CreateMutex failed: %s",
               qt_ckr_name(rv));
        mx->app = NULL;
        return mutex_rv(rv);
    }
    return CKR_OK;
}

void
qt_mutex_clear(struct qt_mutex *mx)
{
    CK_RV rv;

    if (!mutex_uses_app(mx)) {
        pthread_mutex_destroy(&mx->pt);
        return;
    }
    rv = mx->ops->destroy(mx->app);
    if (rv != CKR_OK) {
        qt_log(QT_LOG_ERROR, "pkcs11: the application's DestroyMutex failed: %s",
               qt_ckr_name(rv));
    }
    mx->app = NULL;
}

CK_RV
qt_mutex_lock(struct qt_mutex *mx)
{
    CK_RV rv;

    if (!mutex_uses_app(mx)) {
        return pthread_mutex_lock(&mx->pt) == 0 ? CKR_OK : CKR_GENERAL_ERROR;
    }
    rv = mx->ops->lock(mx->app);
    if (rv != CKR_OK) {
        qt_log(QT_LOG_ERROR, "pkcs11: the application's LockMutex failed: %s", qt_ckr_name(rv));
        return mutex_rv(rv);
    }
    return CKR_OK;
}

void
qt_mutex_unlock(struct qt_mutex *mx)
{
    CK_RV rv;

    if (!mutex_uses_app(mx)) {
        pthread_mutex_unlock(&mx->pt);
        return;
    }
    rv = mx->ops->unlock(mx->app);
    if (rv != CKR_OK) {
        qt_log(QT_LOG_ERROR, "pkcs11: the application's UnlockMutex failed: %s",
               qt_ckr_name(rv));
    }
}

/* ---- the module ------------------------------------------------------------ */

static struct qt_module *
mod_current(void)
{
    return __atomic_load_n(&qt_mod, __ATOMIC_ACQUIRE);
}

/* Fork detection without a system call: glibc no longer caches getpid(2),
 * and the check runs on every entry point (twice per C_Sign).  A
 * pthread_atfork child handler counts forks; the module records the count
 * at C_Initialize.  Without the handler (registration failed) the pid is
 * compared as before. */
static atomic_uint fork_gen;
static atomic_int fork_hooked;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static atomic_uint init_gen;

static void
on_fork_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void
hook_fork(void)
{
    if (pthread_atfork(NULL, NULL, on_fork_child) == 0) {
        atomic_store(&fork_hooked, 1);
    }
}

static int
same_process(const struct qt_module *m)
{
    if (atomic_load(&fork_hooked) && atomic_load(&fork_gen) == atomic_load(&init_gen)) {
        return 1;
    }
    return m->pid == getpid();
}

CK_RV
qt_module_check(void)
{
    struct qt_module *m = mod_current();

    if (m == NULL || !same_process(m)) {
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    return CKR_OK;
}

CK_RV
qt_lock(void)
{
    struct qt_module *m = mod_current();
    CK_RV rv;

    if (m == NULL || !same_process(m)) {
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    if ((rv = qt_mutex_lock(&m->lock)) != CKR_OK) {
        return rv;
    }
    if (mod_current() != m) {
        /* C_Finalize ran while we waited (the application broke the rule
         * that no call may be in progress; fail cleanly if we can) */
        qt_mutex_unlock(&m->lock);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    qt_event_tick_inlock();
    return CKR_OK;
}

void
qt_unlock(void)
{
    qt_mutex_unlock(&qt_mod->lock);
}

/* Whether OpenSSL is still usable (OPENSSL_cleanup has not run).  With no
 * option bits on an initialised library the call returns 1 at once; after
 * OPENSSL_cleanup it returns 0 (its attempt to queue an error is a no-op
 * then, the error state being gone). */
static int
openssl_alive(void)
{
    return OPENSSL_init_crypto(0, NULL) == 1;
}

CK_RV
qt_module_drbg_inlock(struct qt_drbg **out)
{
    struct qt_module *m = qt_mod;
    qt_rc rc;

    if (m->drbg == NULL) {
        if (m->pipe == NULL) {
            rc = qt_ent_pipeline_new(m->conf.device_spec, &m->conf, &m->pipe);
            if (rc != QT_OK) {
                qt_log(QT_LOG_WARN, "pkcs11: entropy device '%s' unusable: %s",
                       m->conf.device_spec, qt_rc_str(rc));
                m->pipe = NULL;
                qt_module_note_entropy_inlock(rc == QT_E_NOMEM ? rc : QT_E_HEALTH);
                return CKR_DEVICE_ERROR;
            }
        }
        rc = qt_drbg_new(m->pipe, &m->conf, &m->drbg);
        if (rc == QT_OK && (rc = qt_crypto_gen_new(qt_drbg_libctx(m->drbg), &m->gen)) != QT_OK) {
            qt_drbg_free(m->drbg);
        }
        if (rc != QT_OK) {
            qt_log(QT_LOG_WARN, "pkcs11: DRBG unavailable: %s", qt_rc_str(rc));
            m->drbg = NULL;
            qt_module_note_entropy_inlock(rc);
            return rc == QT_E_NOMEM ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
        }
        qt_module_note_entropy_inlock(QT_OK);
    }
    *out = m->drbg;
    return CKR_OK;
}

static int
is_source_failure(qt_rc rc)
{
    return rc == QT_E_HEALTH || rc == QT_E_DEVICE || rc == QT_E_TIMEOUT || rc == QT_E_IO;
}

int
qt_module_health_failed(void)
{
    struct qt_module *m = mod_current();

    return m != NULL && __atomic_load_n(&m->health_failed, __ATOMIC_RELAXED);
}

void
qt_module_note_entropy_inlock(qt_rc rc)
{
    struct qt_module *m = qt_mod;
    enum qt_event ev;

    if (rc == QT_OK && m->health_failed) {
        ev = QT_EVENT_HEALTH_RECOVERY;
    } else if (is_source_failure(rc) && !m->health_failed) {
        ev = QT_EVENT_HEALTH_FAILURE;
    } else {
        return;
    }
    __atomic_store_n(&m->health_failed, ev == QT_EVENT_HEALTH_FAILURE, __ATOMIC_RELAXED);
    for (size_t i = 0; i < m->nslots; i++) {
        struct qt_slot *s = m->slots[i];
        qt_rc r;

        if (s->tok == NULL) {
            continue;
        }
        if ((r = qt_ks_txn_begin(s->tok)) == QT_OK) {
            if ((r = qt_event_record(s, ev, CK_UNAVAILABLE_INFORMATION, NULL)) == QT_OK) {
                r = qt_ks_txn_commit(s->tok);
            }
            if (r != QT_OK) {
                qt_ks_txn_rollback(s->tok);
            }
        }
        if (r != QT_OK) {
            qt_log(QT_LOG_WARN, "pkcs11: %s record not written on token %zu: %s",
                   ev == QT_EVENT_HEALTH_FAILURE ? "health-failure" : "health-recovery", i,
                   qt_rc_str(r));
        }
    }
}

qt_rc
qt_module_ks_rng(void *ctx, uint8_t *out, size_t n)
{
    struct qt_drbg *d;

    qt_rc rc;

    (void)ctx; /* always qt_mod; called by the keystore under the module lock */
    if (qt_module_drbg_inlock(&d) != CKR_OK) {
        return QT_E_HEALTH;
    }
    rc = qt_drbg_generate(d, out, n, 0, 0);
    if (rc != QT_OK) {
        /* no record here: we are inside a keystore call on some token; the
         * caller's CKR_DEVICE_ERROR path notes it */
        qt_log(QT_LOG_WARN, "pkcs11: keystore randomness: %s", qt_rc_str(rc));
    }
    return rc;
}

/* PKCS#11 2.40 / 3.0 5.4 C_Initialize: the mutex callbacks are all
 * supplied or none (else CKR_ARGUMENTS_BAD).  CKF_OS_LOCKING_OK or no
 * callbacks: we lock with pthreads (*ops all NULL).  Callbacks without
 * CKF_OS_LOCKING_OK: we must use theirs (*ops = the callbacks). */
static CK_RV
check_init_args(const CK_C_INITIALIZE_ARGS *a, struct qt_mutex_ops *ops)
{
    int given;

    memset(ops, 0, sizeof(*ops));
    if (a == NULL) {
        return CKR_OK;
    }
    if (a->pReserved != NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    given = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) + (a->LockMutex != NULL) +
            (a->UnlockMutex != NULL);
    if (given != 0 && given != 4) {
        return CKR_ARGUMENTS_BAD;
    }
    if (given == 4 && !(a->flags & CKF_OS_LOCKING_OK)) {
        ops->create = a->CreateMutex;
        ops->destroy = a->DestroyMutex;
        ops->lock = a->LockMutex;
        ops->unlock = a->UnlockMutex;
    }
    return CKR_OK;
}

/* Releases the resources of m, which is published as qt_mod and locked by
 * the caller (the _inlock helpers work on qt_mod).  Unpublishes it, unlocks
 * and frees it. */
static void
module_free_locked(struct qt_module *m)
{
    if (!openssl_alive()) {
        /* OpenSSL's atexit cleanup already ran: the process is exiting and
         * every object below holds OpenSSL state; leave it all. */
        qt_log(QT_LOG_DEBUG, "pkcs11: C_Finalize after OPENSSL_cleanup; state left to exit");
        qt_event_finalize_inlock(0);
        left_at_exit = m;
        __atomic_store_n(&qt_mod, NULL, __ATOMIC_RELEASE);
        qt_mutex_unlock(&m->lock);
        return;
    }
    /* queued session-key records: written before their sessions go */
    qt_event_finalize_inlock(1);
    qt_sessions_free_inlock();
    qt_objects_free_inlock();
    qt_slots_free_inlock();
    qt_map_clear(&m->sessions);
    qt_map_clear(&m->objects);
    qt_map_clear(&m->token_handles);
    qt_att_key_free(m->att_key);
    qt_crypto_gen_free(m->gen);
    qt_drbg_free(m->drbg);
    qt_ent_pipeline_free(m->pipe);
    __atomic_store_n(&qt_mod, NULL, __ATOMIC_RELEASE);
    qt_mutex_unlock(&m->lock);
    qt_mutex_clear(&m->lock);
    qt_wipe(m, sizeof(*m));
    free(m);
}

static CK_RV
initialize(const CK_C_INITIALIZE_ARGS *args)
{
    struct qt_module *m = NULL, *old;
    struct qt_mutex_ops ops;
    char err[256] = "";
    CK_RV rv;
    qt_rc rc;

    if ((rv = check_init_args(args, &ops)) != CKR_OK) {
        return rv;
    }
    init_lock();
    old = mod_current();
    if (old != NULL && old->pid == getpid()) {
        rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
        goto out;
    }
    if (old != NULL) {
        /* a forked child: abandon the parent's state (see the top comment) */
        __atomic_store_n(&qt_mod, NULL, __ATOMIC_RELEASE);
    }
    if ((m = calloc(1, sizeof(*m))) == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    m->mutex_ops = ops;
    if ((rv = qt_mutex_init(&m->lock, &m->mutex_ops)) != CKR_OK) {
        free(m);
        m = NULL;
        goto out;
    }
    pthread_once(&fork_once, hook_fork);
    atomic_store(&init_gen, atomic_load(&fork_gen));
    m->pid = getpid();
    m->next_session = 1;
    m->next_object = 1;
    if ((rc = qt_conf_load(&m->conf, err, sizeof(err))) != QT_OK) {
        qt_log(QT_LOG_ERROR, "pkcs11: configuration: %s", err[0] ? err : qt_rc_str(rc));
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    if ((rc = qt_conf_install_dir(&m->conf, m->install_dir, sizeof(m->install_dir))) != QT_OK) {
        qt_log(QT_LOG_WARN, "pkcs11: installation directory under '%s': %s",
               m->conf.store_path, qt_rc_str(rc));
        m->install_dir[0] = '\0';
    }
    m->ksenv.store_dir = m->conf.store_path;
    m->ksenv.install_dir = m->install_dir;
    m->ksenv.rng = qt_module_ks_rng;
    m->ksenv.rng_ctx = m;
    m->ksenv.pin_max_failures = m->conf.pin_max_failures;

    /* Published locked: a concurrent caller waits until the slots exist. */
    if ((rv = qt_mutex_lock(&m->lock)) != CKR_OK) {
        goto out;
    }
    __atomic_store_n(&qt_mod, m, __ATOMIC_RELEASE);
    if ((rv = qt_slots_load_inlock()) != CKR_OK) {
        module_free_locked(m);
        m = NULL;
        goto out;
    }
    {
        struct qt_drbg *d;

        (void)qt_module_drbg_inlock(&d); /* a dead device is retried on use */
    }
    qt_mutex_unlock(&m->lock);
    m = NULL;
    rv = CKR_OK;
out:
    if (m != NULL) {
        qt_mutex_clear(&m->lock);
        free(m);
    }
    init_unlock();
    return rv;
}

static CK_RV
finalize(void)
{
    struct qt_module *m;
    CK_RV rv = CKR_OK;

    init_lock();
    m = mod_current();
    if (m == NULL || m->pid != getpid()) {
        rv = CKR_CRYPTOKI_NOT_INITIALIZED;
        goto out;
    }
    if ((rv = qt_mutex_lock(&m->lock)) != CKR_OK) {
        goto out; /* the module stays initialised: the caller may retry */
    }
    module_free_locked(m);
out:
    init_unlock();
    return rv;
}

/* PKCS#11 3.0 5.4 "General-purpose functions" */
CK_RV
qt_C_Initialize(CK_VOID_PTR pInitArgs)
{
    CK_RV rv;

    qt_trace("C_Initialize args=%p", pInitArgs);
    rv = initialize((const CK_C_INITIALIZE_ARGS *)pInitArgs);
    qt_trace("C_Initialize -> %s", qt_ckr_name(rv));
    return rv;
}

CK_RV
qt_C_Finalize(CK_VOID_PTR pReserved)
{
    CK_RV rv;

    qt_trace("C_Finalize");
    if (pReserved != NULL) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        rv = finalize();
    }
    qt_trace("C_Finalize -> %s", qt_ckr_name(rv));
    return rv;
}
