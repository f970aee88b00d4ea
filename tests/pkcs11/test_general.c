/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 API suite, general-purpose functions: the function tables (every
 * slot filled), the 3.0 interfaces, C_Initialize argument rules, calls
 * before initialisation, concurrent C_Initialize, the application's mutex
 * callbacks (used by four threads signing in parallel, and their failures),
 * fork, C_Finalize from an atexit handler and a process that never
 * finalises.
 */
#include <dlfcn.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../../pkcs11/pkcs11-3.h"
#include "p11test.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define NO_LEAK_CHECK() __lsan_disable()
#else
#define NO_LEAK_CHECK() ((void)0)
#endif

static void
setup_loaded(void)
{
    p11t_env(NULL, NULL);
    p11t_load();
}

TestSuite(general, .init = setup_loaded, .fini = p11t_teardown, .timeout = 60);

/* Every slot of a function list after its version is a non-NULL pointer. */
static void
check_table(const void *list, size_t size)
{
    const unsigned char *p = (const unsigned char *)list + sizeof(CK_VERSION);
    size_t off = sizeof(CK_VERSION);

    /* the first function pointer is aligned after the version */
    while (off % sizeof(void *) != 0) {
        off++;
        p++;
    }
    for (; off + sizeof(void *) <= size; off += sizeof(void *), p += sizeof(void *)) {
        void *fn;

        memcpy(&fn, p, sizeof(fn));
        cr_assert_not_null(fn, "function table slot at offset %zu is NULL", off);
    }
}

Test(general, function_list_is_complete)
{
    CK_FUNCTION_LIST *f2 = NULL;

    cr_assert_eq(F->version.major, 2);
    cr_assert_eq(F->version.minor, 40);
    check_table(F, sizeof(*F));
    CK_RV_EQ(F->C_GetFunctionList(NULL), CKR_ARGUMENTS_BAD);
    CK_OK(F->C_GetFunctionList(&f2));
    cr_assert_eq(f2, F);
}

Test(general, interfaces_3_0)
{
    CK_RV (*list)(CK_INTERFACE_PTR, CK_ULONG_PTR);
    CK_RV (*get)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS);
    CK_INTERFACE ifs[4], *itf = NULL;
    CK_ULONG n = 0;
    CK_VERSION v240 = {2, 40}, v30 = {3, 0}, v99 = {9, 9};
    CK_FUNCTION_LIST_3_0 *f3;

    *(void **)&list = dlsym(p11t_handle(), "C_GetInterfaceList");
    *(void **)&get = dlsym(p11t_handle(), "C_GetInterface");
    cr_assert_not_null(list);
    cr_assert_not_null(get);
    /* nothing but the three entry points is exported */
    cr_assert_null(dlsym(p11t_handle(), "C_Initialize"));
    cr_assert_null(dlsym(p11t_handle(), "qt_C_Initialize"));

    CK_RV_EQ(list(NULL, NULL), CKR_ARGUMENTS_BAD);
    CK_OK(list(NULL, &n));
    cr_assert_eq(n, 2);
    n = 1;
    CK_RV_EQ(list(ifs, &n), CKR_BUFFER_TOO_SMALL);
    cr_assert_eq(n, 2);
    CK_OK(list(ifs, &n));
    cr_assert_str_eq((char *)ifs[0].pInterfaceName, "PKCS 11");

    CK_OK(get(NULL, NULL, &itf, 0));
    f3 = itf->pFunctionList;
    cr_assert_eq(f3->version.major, 3);
    cr_assert_eq(f3->version.minor, 0);
    check_table(f3, sizeof(*f3));
    CK_OK(get((CK_UTF8CHAR *)"PKCS 11", &v240, &itf, 0));
    cr_assert_eq(((CK_FUNCTION_LIST *)itf->pFunctionList)->version.minor, 40);
    CK_OK(get((CK_UTF8CHAR *)"PKCS 11", &v30, &itf, 0));
    CK_RV_EQ(get((CK_UTF8CHAR *)"Vendor X", NULL, &itf, 0), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(get(NULL, &v99, &itf, 0), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(get(NULL, NULL, &itf, CKF_INTERFACE_FORK_SAFE), CKR_ARGUMENTS_BAD);
    CK_RV_EQ(get(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);

    /* the 3.0 list works: message functions are not supported */
    CK_OK(f3->C_Initialize(NULL));
    CK_RV_EQ(f3->C_MessageEncryptInit(1, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    CK_RV_EQ(f3->C_SessionCancel(12345, CKF_SIGN), CKR_SESSION_HANDLE_INVALID);
    CK_OK(f3->C_Finalize(NULL));
}

Test(general, calls_before_initialize)
{
    CK_INFO info;
    CK_ULONG n = 0;
    CK_SESSION_HANDLE h;
    unsigned char buf[4];

    CK_RV_EQ(F->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
    CK_RV_EQ(F->C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
    CK_RV_EQ(F->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &h),
             CKR_CRYPTOKI_NOT_INITIALIZED);
    CK_RV_EQ(F->C_GenerateRandom(1, buf, sizeof(buf)), CKR_CRYPTOKI_NOT_INITIALIZED);
    CK_RV_EQ(F->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    CK_RV_EQ(F->C_SignRecoverInit(1, NULL, 0), CKR_CRYPTOKI_NOT_INITIALIZED);
}

Test(general, initialize_finalize_rules)
{
    CK_INFO info;

    CK_OK(F->C_Initialize(NULL));
    CK_RV_EQ(F->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    CK_RV_EQ(F->C_Finalize((void *)1), CKR_ARGUMENTS_BAD);
    memset(&info, 0xAA, sizeof(info));
    CK_RV_EQ(F->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
    CK_OK(F->C_GetInfo(&info));
    cr_assert_eq(info.cryptokiVersion.major, 3);
    cr_assert_eq(info.cryptokiVersion.minor, 0);
    cr_assert_eq(memcmp(info.manufacturerID, "qtoken ", 7), 0);
    cr_assert_eq(info.manufacturerID[31], ' ');
    cr_assert_eq(info.libraryDescription[31], ' ');
    cr_assert_eq(info.flags, 0);
    CK_OK(F->C_Finalize(NULL));
    CK_RV_EQ(F->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    /* and again: the module can be initialised after finalisation */
    CK_OK(F->C_Initialize(NULL));
    CK_OK(F->C_Finalize(NULL));
}

static CK_RV
m_create(void **m)
{
    *m = malloc(1);
    return *m ? CKR_OK : CKR_HOST_MEMORY;
}

static CK_RV
m_destroy(void *m)
{
    free(m);
    return CKR_OK;
}

static CK_RV
m_nop(void *m)
{
    (void)m;
    return CKR_OK;
}

Test(general, initialize_args)
{
    CK_C_INITIALIZE_ARGS a;

    memset(&a, 0, sizeof(a));
    a.CreateMutex = m_create; /* some callbacks but not all */
    CK_RV_EQ(F->C_Initialize(&a), CKR_ARGUMENTS_BAD);
    a.DestroyMutex = m_destroy;
    a.LockMutex = m_nop;
    a.UnlockMutex = m_nop;
    /* the caller's locks only (no CKF_OS_LOCKING_OK): the module uses them */
    CK_OK(F->C_Initialize(&a));
    CK_OK(F->C_Finalize(NULL));
    a.UnlockMutex = NULL; /* three of four */
    CK_RV_EQ(F->C_Initialize(&a), CKR_ARGUMENTS_BAD);
    a.UnlockMutex = m_nop;
    a.flags = CKF_OS_LOCKING_OK;
    CK_OK(F->C_Initialize(&a));
    CK_OK(F->C_Finalize(NULL));
    memset(&a, 0, sizeof(a));
    a.pReserved = &a;
    CK_RV_EQ(F->C_Initialize(&a), CKR_ARGUMENTS_BAD);
    a.pReserved = NULL;
    a.flags = CKF_OS_LOCKING_OK;
    CK_OK(F->C_Initialize(&a));
    CK_OK(F->C_Finalize(NULL));
}

/* ---- the application's mutex callbacks ---------------------------------- */

/* Counting callbacks over pthread mutexes.  Each mutex remembers its holder,
 * so an unlock by a thread that does not hold it (or of a mutex not held)
 * is counted as a misuse, and a lock that finds the mutex held by its own
 * thread (a self-deadlock with a real non-recursive mutex) too. */
struct app_mutex {
    pthread_mutex_t m;
    _Atomic(pthread_t *) holder; /* &holder_tid when held */
    pthread_t holder_tid;
    atomic_int held;
};

static atomic_long am_creates, am_destroys, am_locks, am_unlocks, am_misuse;
static atomic_int am_fail_create; /* CKR_* CreateMutex returns, 0: succeed */
static atomic_int am_fail_lock;   /* CKR_* LockMutex returns, 0: succeed */

static void
am_reset(void)
{
    am_creates = am_destroys = am_locks = am_unlocks = am_misuse = 0;
    am_fail_create = am_fail_lock = 0;
}

static CK_RV
am_create(void **out)
{
    struct app_mutex *m;

    if (am_fail_create != 0) {
        return (CK_RV)am_fail_create;
    }
    if ((m = calloc(1, sizeof(*m))) == NULL) {
        return CKR_HOST_MEMORY;
    }
    pthread_mutex_init(&m->m, NULL);
    am_creates++;
    *out = m;
    return CKR_OK;
}

static CK_RV
am_destroy(void *p)
{
    struct app_mutex *m = p;

    if (m == NULL) {
        return CKR_MUTEX_BAD;
    }
    if (m->held) {
        am_misuse++;
    }
    pthread_mutex_destroy(&m->m);
    free(m);
    am_destroys++;
    return CKR_OK;
}

static CK_RV
am_lock(void *p)
{
    struct app_mutex *m = p;

    if (m == NULL) {
        return CKR_MUTEX_BAD;
    }
    if (am_fail_lock != 0) {
        return (CK_RV)am_fail_lock;
    }
    if (m->held && pthread_equal(m->holder_tid, pthread_self())) {
        am_misuse++; /* would deadlock */
        return CKR_MUTEX_BAD;
    }
    pthread_mutex_lock(&m->m);
    if (m->held) {
        am_misuse++; /* two holders: no mutual exclusion */
    }
    m->holder_tid = pthread_self();
    m->held = 1;
    am_locks++;
    return CKR_OK;
}

static CK_RV
am_unlock(void *p)
{
    struct app_mutex *m = p;

    if (m == NULL) {
        return CKR_MUTEX_BAD;
    }
    if (!m->held || !pthread_equal(m->holder_tid, pthread_self())) {
        am_misuse++;
        return CKR_MUTEX_NOT_LOCKED;
    }
    m->held = 0;
    am_unlocks++;
    pthread_mutex_unlock(&m->m);
    return CKR_OK;
}

static void
am_args(CK_C_INITIALIZE_ARGS *a)
{
    memset(a, 0, sizeof(*a));
    a->CreateMutex = am_create;
    a->DestroyMutex = am_destroy;
    a->LockMutex = am_lock;
    a->UnlockMutex = am_unlock;
}

#define AM_THREADS 4
#define AM_ROUNDS 40

struct am_worker {
    CK_SLOT_ID slot;
    CK_OBJECT_HANDLE pub, priv;
    unsigned char first_rnd[32];
    int sigs_ok;   /* signatures made and verified */
    int rnd_ok;    /* C_GenerateRandom calls that returned CKR_OK */
    CK_RV bad_rv;  /* the first unexpected return value, CKR_OK if none */
};

static void *
am_work(void *arg)
{
    struct am_worker *w = arg;
    CK_SESSION_HANDLE h;
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    unsigned char msg[32], sig[128], prev[32] = {0};
    CK_RV rv;

    /* its own session (the key pair is a session object of the user session
     * the main thread keeps open, visible to every session of the slot) */
    if ((rv = F->C_OpenSession(w->slot, CKF_SERIAL_SESSION, NULL, NULL, &h)) != CKR_OK) {
        w->bad_rv = rv;
        return NULL;
    }
    for (int i = 0; i < AM_ROUNDS; i++) {
        CK_ULONG siglen = sizeof(sig);

        if ((rv = F->C_GenerateRandom(h, msg, sizeof(msg))) != CKR_OK) {
            goto bad;
        }
        if (i == 0) {
            memcpy(w->first_rnd, msg, sizeof(msg));
        } else if (memcmp(prev, msg, sizeof(msg)) == 0) {
            rv = CKR_GENERAL_ERROR; /* repeated output */
            goto bad;
        }
        memcpy(prev, msg, sizeof(msg));
        w->rnd_ok++;
        if ((rv = F->C_SignInit(h, &mech, w->priv)) != CKR_OK ||
            (rv = F->C_Sign(h, msg, sizeof(msg), sig, &siglen)) != CKR_OK ||
            (rv = F->C_VerifyInit(h, &mech, w->pub)) != CKR_OK ||
            (rv = F->C_Verify(h, msg, sizeof(msg), sig, siglen)) != CKR_OK) {
            goto bad;
        }
        msg[0] ^= 1; /* and a wrong message must not verify */
        if ((rv = F->C_VerifyInit(h, &mech, w->pub)) != CKR_OK) {
            goto bad;
        }
        if ((rv = F->C_Verify(h, msg, sizeof(msg), sig, siglen)) != CKR_SIGNATURE_INVALID) {
            rv = rv == CKR_OK ? CKR_GENERAL_ERROR : rv;
            goto bad;
        }
        w->sigs_ok++;
    }
    (void)F->C_CloseSession(h);
    return NULL;
bad:
    w->bad_rv = rv;
    (void)F->C_CloseSession(h);
    return NULL;
}

/* PKCS#11 2.40 5.4: callbacks without CKF_OS_LOCKING_OK -> the library uses
 * them.  Four threads sign and draw random bytes on their own sessions; every
 * lock the module takes is the application's, and C_Finalize destroys every
 * mutex it made. */
Test(general, app_mutex_callbacks_used_by_threads)
{
    CK_C_INITIALIZE_ARGS a;
    struct am_worker w[AM_THREADS];
    pthread_t t[AM_THREADS];
    CK_OBJECT_HANDLE pub, priv;
    CK_SESSION_HANDLE main_h;
    CK_SLOT_ID slot;
    long locks_before;

    am_reset();
    am_args(&a);
    CK_OK(F->C_Initialize(&a));
    cr_assert_geq(am_creates, 1, "the module mutex is the application's");
    slot = p11t_new_token("mutextok");
    main_h = p11t_open(slot, 1);
    CK_OK(F->C_Login(main_h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)));
    p11t_ec(main_h, P11T_P256, sizeof(P11T_P256), CKM_EC_KEY_PAIR_GEN, 0, &pub, &priv);
    locks_before = am_locks;
    for (size_t i = 0; i < AM_THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].slot = slot;
        w[i].pub = pub;
        w[i].priv = priv;
        cr_assert_eq(pthread_create(&t[i], NULL, am_work, &w[i]), 0);
    }
    for (size_t i = 0; i < AM_THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    for (size_t i = 0; i < AM_THREADS; i++) {
        cr_assert_eq(w[i].bad_rv, CKR_OK, "thread %zu: unexpected 0x%lx", i,
                     (unsigned long)w[i].bad_rv);
        cr_assert_eq(w[i].sigs_ok, AM_ROUNDS, "thread %zu: %d signatures", i, w[i].sigs_ok);
        cr_assert_eq(w[i].rnd_ok, AM_ROUNDS);
        for (size_t j = 0; j < i; j++) {
            cr_assert_neq(memcmp(w[i].first_rnd, w[j].first_rnd, 32), 0,
                          "threads %zu and %zu drew the same bytes", i, j);
        }
    }
    /* each round takes at least the module lock and the session lock, per
     * call: 6 calls of AM_ROUNDS rounds in AM_THREADS threads */
    cr_assert_geq(am_locks - locks_before, 2L * 6 * AM_ROUNDS * AM_THREADS,
                  "only %ld locks through the callbacks", am_locks - locks_before);
    /* one mutex per session: the main session, a token-init session and the
     * four workers at least, plus the module's */
    cr_assert_geq(am_creates, 1 + 1 + AM_THREADS, "creates %ld", (long)am_creates);
    CK_OK(F->C_CloseSession(main_h));
    CK_OK(F->C_Finalize(NULL));
    cr_assert_eq(am_creates, am_destroys, "created %ld, destroyed %ld", (long)am_creates,
                 (long)am_destroys);
    cr_assert_eq(am_locks, am_unlocks, "locked %ld, unlocked %ld", (long)am_locks,
                 (long)am_unlocks);
    cr_assert_eq(am_misuse, 0, "%ld misuses (double holder, foreign unlock)", (long)am_misuse);
}

/* With CKF_OS_LOCKING_OK the module may use its own locks: it does, and
 * never calls the callbacks. */
Test(general, app_mutex_callbacks_unused_with_os_locking)
{
    CK_C_INITIALIZE_ARGS a;
    CK_SESSION_HANDLE h;
    unsigned char r[16];

    am_reset();
    am_args(&a);
    a.flags = CKF_OS_LOCKING_OK;
    CK_OK(F->C_Initialize(&a));
    h = p11t_open(p11t_new_token("oslock"), 0);
    CK_OK(F->C_GenerateRandom(h, r, sizeof(r)));
    CK_OK(F->C_Finalize(NULL));
    cr_assert_eq(am_creates + am_locks + am_unlocks + am_destroys, 0);
}

/* A failing callback: CreateMutex's CKR_HOST_MEMORY passes through, other
 * failures become CKR_GENERAL_ERROR (CKR_MUTEX_BAD is a callback's code, not
 * one a Cryptoki function returns); nothing leaks or stays held. */
Test(general, app_mutex_callback_failures)
{
    CK_C_INITIALIZE_ARGS a;
    CK_SESSION_HANDLE h;
    CK_SLOT_ID slot;
    CK_ULONG n = 0;
    unsigned char r[16];

    am_reset();
    am_args(&a);
    am_fail_create = CKR_HOST_MEMORY;
    CK_RV_EQ(F->C_Initialize(&a), CKR_HOST_MEMORY);
    am_fail_create = CKR_GENERAL_ERROR;
    CK_RV_EQ(F->C_Initialize(&a), CKR_GENERAL_ERROR);
    CK_RV_EQ(F->C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
    am_fail_create = 0;
    am_fail_lock = CKR_MUTEX_BAD;
    CK_RV_EQ(F->C_Initialize(&a), CKR_GENERAL_ERROR); /* its first lock fails */
    cr_assert_eq(am_creates, am_destroys);
    am_fail_lock = 0;

    CK_OK(F->C_Initialize(&a));
    slot = p11t_new_token("failtok");
    h = p11t_open(slot, 0);
    am_fail_lock = CKR_MUTEX_BAD;
    CK_RV_EQ(F->C_GetSlotList(CK_FALSE, NULL, &n), CKR_GENERAL_ERROR);
    CK_RV_EQ(F->C_GenerateRandom(h, r, sizeof(r)), CKR_GENERAL_ERROR);
    CK_RV_EQ(F->C_Finalize(NULL), CKR_GENERAL_ERROR); /* still initialised */
    am_fail_lock = 0;
    CK_OK(F->C_GenerateRandom(h, r, sizeof(r)));
    am_fail_create = CKR_HOST_MEMORY; /* a session's mutex */
    CK_RV_EQ(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_HOST_MEMORY);
    am_fail_create = CKR_MUTEX_BAD;
    CK_RV_EQ(F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_GENERAL_ERROR);
    am_fail_create = 0;
    CK_OK(F->C_GenerateRandom(h, r, sizeof(r))); /* the open session is unharmed */
    CK_OK(F->C_Finalize(NULL));
    cr_assert_eq(am_creates, am_destroys, "created %ld, destroyed %ld", (long)am_creates,
                 (long)am_destroys);
    cr_assert_eq(am_locks, am_unlocks);
    cr_assert_eq(am_misuse, 0);
}

static CK_RV init_results[8];

static void *
init_thread(void *arg)
{
    CK_C_INITIALIZE_ARGS a;

    memset(&a, 0, sizeof(a));
    a.flags = CKF_OS_LOCKING_OK;
    init_results[(size_t)arg] = F->C_Initialize(&a);
    return NULL;
}

Test(general, concurrent_initialize)
{
    pthread_t t[8];
    int ok = 0, already = 0;

    for (size_t round = 0; round < 3; round++) {
        ok = already = 0;
        for (size_t i = 0; i < 8; i++) {
            cr_assert_eq(pthread_create(&t[i], NULL, init_thread, (void *)i), 0);
        }
        for (size_t i = 0; i < 8; i++) {
            pthread_join(t[i], NULL);
            ok += init_results[i] == CKR_OK;
            already += init_results[i] == CKR_CRYPTOKI_ALREADY_INITIALIZED;
        }
        cr_assert_eq(ok, 1, "exactly one C_Initialize wins (got %d)", ok);
        cr_assert_eq(already, 7);
        CK_OK(F->C_Finalize(NULL));
    }
}

/* Fork: the child sees CKR_CRYPTOKI_NOT_INITIALIZED until it initialises,
 * then has its own state and random stream; the parent is unaffected. */
Test(general, fork_child_must_initialize)
{
    CK_SESSION_HANDLE h;
    unsigned char parent_rnd[32], child_rnd[32];
    int fds[2], status;
    pid_t pid;
    CK_SLOT_ID slot;

    CK_OK(F->C_Initialize(NULL));
    slot = p11t_new_token("forktok");
    h = p11t_open(slot, 0);
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        CK_ULONG n = 0;
        CK_SESSION_HANDLE ch;
        int bad = 0;

        close(fds[0]);
        bad |= F->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_CRYPTOKI_NOT_INITIALIZED;
        bad |= F->C_GenerateRandom(h, child_rnd, 32) != CKR_CRYPTOKI_NOT_INITIALIZED;
        bad |= F->C_CloseSession(h) != CKR_CRYPTOKI_NOT_INITIALIZED;
        bad |= F->C_Finalize(NULL) != CKR_CRYPTOKI_NOT_INITIALIZED;
        bad |= F->C_Initialize(NULL) != CKR_OK;
        bad |= F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ch) != CKR_OK;
        bad |= F->C_GenerateRandom(ch, child_rnd, 32) != CKR_OK;
        bad |= write(fds[1], child_rnd, 32) != 32;
        bad |= F->C_Finalize(NULL) != CKR_OK;
        _exit(bad ? 3 : 0);
    }
    close(fds[1]);
    CK_OK(F->C_GenerateRandom(h, parent_rnd, 32));
    cr_assert_eq(read(fds[0], child_rnd, 32), 32);
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
    cr_assert_neq(memcmp(parent_rnd, child_rnd, 32), 0, "child repeated the parent's stream");
    /* the parent's session survived */
    CK_OK(F->C_GenerateRandom(h, parent_rnd, 32));
    CK_OK(F->C_CloseSession(h));
}

static void
finalize_at_exit(void)
{
    /* a 2-byte marker: the result of C_Finalize */
    CK_RV rv = F->C_Finalize(NULL);

    _exit(rv == CKR_OK ? 0 : 4);
}

Test(general, finalize_from_atexit)
{
    int status;
    pid_t pid = fork();

    cr_assert_neq(pid, -1);
    if (pid == 0) {
        CK_SESSION_HANDLE h;
        CK_SLOT_ID slot;
        unsigned char r[16];

        if (F->C_Initialize(NULL) != CKR_OK) {
            _exit(2);
        }
        slot = p11t_new_token("exittok");
        h = p11t_open(slot, 1);
        if (F->C_GenerateRandom(h, r, sizeof(r)) != CKR_OK) {
            _exit(2);
        }
        atexit(finalize_at_exit);
        exit(0); /* sessions left open: C_Finalize cleans up from atexit */
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
}

/* A C_Finalize that comes after OpenSSL's own exit-time cleanup (an atexit
 * handler registered before OpenSSL's, as hosts do): simulated by calling
 * OPENSSL_cleanup() first, as OpenSSL's handler would.  C_Finalize must
 * notice and not touch OpenSSL's freed state. */
Test(general, finalize_after_openssl_cleanup)
{
    int status;
    pid_t pid = fork();

    cr_assert_neq(pid, -1);
    if (pid == 0) {
        CK_SESSION_HANDLE h;
        CK_SLOT_ID slot;
        unsigned char r[16];
        CK_RV rv;

        if (F->C_Initialize(NULL) != CKR_OK) {
            _exit(2);
        }
        slot = p11t_new_token("latetok");
        h = p11t_open(slot, 1);
        if (F->C_GenerateRandom(h, r, sizeof(r)) != CKR_OK) {
            _exit(2);
        }
        OPENSSL_cleanup();
        rv = F->C_Finalize(NULL);
        _exit(rv == CKR_OK ? 0 : 4);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
}

Test(general, exit_without_finalize)
{
    int status;
    pid_t pid = fork();

    cr_assert_neq(pid, -1);
    if (pid == 0) {
        CK_SESSION_HANDLE h;
        CK_SLOT_ID slot;
        unsigned char r[16];

        if (F->C_Initialize(NULL) != CKR_OK) {
            _exit(2);
        }
        slot = p11t_new_token("nofinal");
        h = p11t_open(slot, 1);
        if (F->C_GenerateRandom(h, r, sizeof(r)) != CKR_OK) {
            _exit(2);
        }
        /* the module's state is deliberately left to the exit: what is
         * tested is that OpenSSL's exit handlers do not crash on it */
        NO_LEAK_CHECK();
        exit(0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
}

Test(general, legacy_and_unsupported)
{
    CK_SESSION_HANDLE h;
    CK_ULONG n = 0;
    CK_SLOT_ID slot;

    CK_OK(F->C_Initialize(NULL));
    slot = p11t_new_token("legacy");
    h = p11t_open(slot, 0);
    CK_RV_EQ(F->C_GetFunctionStatus(h), CKR_FUNCTION_NOT_PARALLEL);
    CK_RV_EQ(F->C_CancelFunction(h), CKR_FUNCTION_NOT_PARALLEL);
    CK_RV_EQ(F->C_GetOperationState(h, NULL, &n), CKR_FUNCTION_NOT_SUPPORTED);
    CK_RV_EQ(F->C_SignRecoverInit(h, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    CK_RV_EQ(F->C_DigestEncryptUpdate(h, NULL, 0, NULL, &n), CKR_FUNCTION_NOT_SUPPORTED);
    CK_OK(F->C_Finalize(NULL));
}
