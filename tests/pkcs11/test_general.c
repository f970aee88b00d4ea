/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 API suite, general-purpose functions: the function tables (every
 * slot filled), the 3.0 interfaces, C_Initialize argument rules, calls
 * before initialisation, concurrent C_Initialize, fork, C_Finalize from an
 * atexit handler and a process that never finalises.
 */
#include <dlfcn.h>
#include <openssl/crypto.h>
#include <pthread.h>
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
    CK_RV_EQ(F->C_Initialize(&a), CKR_CANT_LOCK); /* only the caller's locks allowed */
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
