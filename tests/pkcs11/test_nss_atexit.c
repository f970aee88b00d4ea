/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#11 API suite, exit-time teardown in a crowded process: a child
 * process that has NSS initialised and used (NSS_NoDB_Init,
 * PK11_GenerateRandom) and OpenSSL used (an EVP digest) loads our module
 * with dlopen, initialises it, makes a token, generates and uses a key, and
 * leaves everything open; C_Finalize then runs from an atexit handler while
 * the process exits through exit(0).  The parent asserts that the child
 * exited with status 0 (no signal) and that C_Finalize returned CKR_OK.
 *
 * Variants, by the order of the exit handlers (atexit runs them in reverse
 * order of registration):
 *   - ours first, then OpenSSL's cleanup; NSS never shut down;
 *   - NSS_Shutdown from a handler that runs before ours;
 *   - ours registered before OpenSSL initialised, so OpenSSL's cleanup runs
 *     first (the module must notice and leave OpenSSL's freed state alone);
 *   - after a direct use finalised by us, NSS itself loads our module
 *     (SECMOD_LoadUserModule, NSS's own C_Initialize arguments) and draws
 *     random bytes from the token made before; an exit
 *     handler's NSS_Shutdown finalises it, and our later handler then finds
 *     it finalised (CKR_CRYPTOKI_NOT_INITIALIZED: one module instance per
 *     process, so this also proves NSS's C_Finalize reached us).
 * The handler reports through a pipe whether OpenSSL was still alive when
 * it ran, so each variant is checked to have really run in its order.
 *
 * The child is a fresh process: the test binary re-executed with
 * QT_NSS_ATEXIT_CHILD set, caught by a constructor before Criterion's main
 * (a forked Criterion worker may have OpenSSL initialised already, which
 * would fix the order of OpenSSL's exit handler before the test runs).
 *
 * This file uses NSS's PKCS#11 headers (not p11-kit's, which would clash
 * with them), and so not p11test.h.
 */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <ftw.h>
#include <nss.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pk11pub.h>
#include <pkcs11.h> /* NSS's: struct CK_FUNCTION_LIST */
#include <secmod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef QT_P11_MODULE
#error "QT_P11_MODULE must name the built libqtoken-pkcs11.so"
#endif

#define SO_PIN "12345678"
#define USER_PIN "123456"

enum variant {
    V_OURS_FIRST = 0,
    V_NSS_SHUTDOWN_FIRST,
    V_OPENSSL_CLEANUP_FIRST,
    V_NSS_LOADS_MODULE,
};

/* What the exit handler reports to the parent. */
struct report {
    CK_RV finalize_rv;
    int openssl_alive;   /* OpenSSL's exit cleanup had not run yet */
    int nss_initialized; /* NSS_IsInitialized() when our handler ran */
};

static char dir[64];
static CK_FUNCTION_LIST_PTR fl;
static int report_fd = -1;

/* LeakSanitizer (ASan builds): what NSS allocated and never freed in the
 * variants where the host does not call NSS_Shutdown is the host's leak,
 * not ours.  Any leak in a stack without NSS is still reported.  (Visible:
 * the sanitizer runtime looks the hook up by name.) */
const char *__lsan_default_suppressions(void) __attribute__((visibility("default")));
const char *
__lsan_default_suppressions(void)
{
    return "leak:libnss3.so\nleak:libnspr4.so\nleak:libsoftokn3.so\nleak:libfreeblpriv3.so\n";
}

/* ---- the child ------------------------------------------------------------- */

static void
finalize_handler(void)
{
    struct report r;

    memset(&r, 0, sizeof(r));
    r.finalize_rv = fl->C_Finalize(NULL);
    r.openssl_alive = OPENSSL_init_crypto(0, NULL) == 1;
    r.nss_initialized = NSS_IsInitialized() ? 1 : 0;
    if (write(report_fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
        _exit(9);
    }
    close(report_fd);
}

static void
nss_shutdown_handler(void)
{
    if (NSS_Shutdown() != SECSuccess) {
        _exit(8);
    }
}

/* NSS in use: initialised without a database, random bytes from its
 * internal token. */
static int
use_nss(void)
{
    unsigned char r[32];

    if (NSS_NoDB_Init(NULL) != SECSuccess) {
        return -1;
    }
    if (PK11_GenerateRandom(r, sizeof(r)) != SECSuccess) {
        return -1;
    }
    return 0;
}

/* OpenSSL in use: a SHA-256 digest (initialises libcrypto and registers its
 * exit handler). */
static int
use_openssl(void)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest("abc", 3, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        return -1;
    }
    return 0;
}

static CK_SLOT_ID
empty_slot(void)
{
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16;

    if (fl->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK) {
        return (CK_SLOT_ID)-1;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;

        if (fl->C_GetTokenInfo(slots[i], &ti) == CKR_OK && !(ti.flags & CKF_TOKEN_INITIALIZED)) {
            return slots[i];
        }
    }
    return (CK_SLOT_ID)-1;
}

/* Our module's function list (no C_Initialize). */
static int
load_module(void)
{
    CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
    void *dl;

    dl = dlopen(QT_P11_MODULE, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        return -1;
    }
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    if (get == NULL || get(&fl) != CKR_OK) {
        return -1;
    }
    return 0;
}

/* Our module used directly: a token, a logged-in session, a token EC key
 * pair, a signature checked; everything left open for C_Finalize. */
static int
use_module(void)
{
    static const unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, ecdsa = {CKM_ECDSA, NULL, 0};
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pub_t[] = {
        {CKA_EC_PARAMS, (void *)p256, sizeof(p256)},
        {CKA_TOKEN, &yes, sizeof(yes)},
    };
    CK_ATTRIBUTE priv_t[] = {
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_SIGN, &yes, sizeof(yes)},
    };
    CK_UTF8CHAR label[32];
    CK_OBJECT_HANDLE pub, priv;
    CK_SESSION_HANDLE h;
    CK_SLOT_ID slot;
    unsigned char msg[32], sig[128];
    CK_ULONG siglen = sizeof(sig);

    if (load_module() != 0 || fl->C_Initialize(NULL) != CKR_OK) {
        return -2;
    }
    if ((slot = empty_slot()) == (CK_SLOT_ID)-1) {
        return -3;
    }
    memset(label, ' ', sizeof(label));
    memcpy(label, "nssexit", 7);
    if (fl->C_InitToken(slot, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN), label) != CKR_OK ||
        fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h) != CKR_OK ||
        fl->C_Login(h, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, strlen(SO_PIN)) != CKR_OK ||
        fl->C_InitPIN(h, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)) != CKR_OK ||
        fl->C_Logout(h) != CKR_OK ||
        fl->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)) != CKR_OK) {
        return -4;
    }
    if (fl->C_GenerateKeyPair(h, &gen, pub_t, 2, priv_t, 2, &pub, &priv) != CKR_OK) {
        return -5;
    }
    if (fl->C_GenerateRandom(h, msg, sizeof(msg)) != CKR_OK ||
        fl->C_SignInit(h, &ecdsa, priv) != CKR_OK ||
        fl->C_Sign(h, msg, sizeof(msg), sig, &siglen) != CKR_OK ||
        fl->C_VerifyInit(h, &ecdsa, pub) != CKR_OK ||
        fl->C_Verify(h, msg, sizeof(msg), sig, siglen) != CKR_OK) {
        return -6;
    }
    /* an operation left active too */
    if (fl->C_SignInit(h, &ecdsa, priv) != CKR_OK) {
        return -7;
    }
    return 0;
}

/* NSS loads our module as one of its own PKCS#11 modules and draws random
 * bytes from the token "nssexit" (NSS ignores uninitialised tokens). */
static int
nss_load_module(void)
{
    char spec[512];
    SECMODModule *mod;
    unsigned char r[16];
    int ok = 0;

    snprintf(spec, sizeof(spec), "library=\"%s\" name=\"qtoken-test\"", QT_P11_MODULE);
    mod = SECMOD_LoadUserModule(spec, NULL, PR_FALSE);
    if (mod == NULL || !mod->loaded) {
        return -1;
    }
    for (int i = 0; i < mod->slotCount; i++) {
        if (strcmp(PK11_GetTokenName(mod->slots[i]), "nssexit") == 0) {
            ok = PK11_GenerateRandomOnSlot(mod->slots[i], r, sizeof(r)) == SECSuccess;
        }
    }
    SECMOD_DestroyModule(mod); /* NSS keeps its own reference until NSS_Shutdown */
    return ok ? 0 : -2;
}

static void
child(enum variant v, int fd)
{
    report_fd = fd;
    if (v == V_OPENSSL_CLEANUP_FIRST) {
        /* before anything initialises OpenSSL in this process: its exit
         * handler, registered later, runs before ours */
        atexit(finalize_handler);
    }
    if (use_nss() != 0) {
        _exit(2);
    }
    if (use_openssl() != 0) {
        _exit(3);
    }
    if (use_module() != 0) {
        _exit(5);
    }
    if (v == V_NSS_LOADS_MODULE) {
        /* our use ends; NSS's begins on the same module instance */
        if (fl->C_Finalize(NULL) != CKR_OK || nss_load_module() != 0) {
            _exit(4);
        }
    }
    if (v != V_OPENSSL_CLEANUP_FIRST) {
        atexit(finalize_handler);
    }
    if (v == V_NSS_SHUTDOWN_FIRST || v == V_NSS_LOADS_MODULE) {
        atexit(nss_shutdown_handler); /* runs before finalize_handler */
    }
    exit(0);
}

/* The re-executed child: runs the variant and exits (never returns). */
__attribute__((constructor)) static void
child_entry(void)
{
    const char *v = getenv("QT_NSS_ATEXIT_CHILD"), *fd = getenv("QT_NSS_ATEXIT_FD");

    if (v == NULL || fd == NULL) {
        return;
    }
    child((enum variant)atoi(v), atoi(fd));
}

/* ---- the parent ------------------------------------------------------------ */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
setup(void)
{
    char path[128], store[128];
    FILE *f;

    snprintf(dir, sizeof(dir), "/tmp/qt-nssexit-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/qtoken.conf", dir);
    snprintf(store, sizeof(store), "%s/store", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "[token]\nargon2_memory_kib = 64\nargon2_passes = 1\nargon2_lanes = 1\n");
    fclose(f);
    setenv("QTOKEN_CONF", path, 1);
    setenv("QTOKEN_STORE", store, 1);
    setenv("QTOKEN_DEVICE", "sim:seed=5", 1);
}

static void
teardown(void)
{
    if (dir[0] != '\0') {
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}

TestSuite(nss_atexit, .init = setup, .fini = teardown, .timeout = 60);

static void
run(enum variant v, CK_RV want_rv, struct report *r)
{
    int fds[2], status;
    ssize_t got;
    pid_t pid;

    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        char vs[16], fs[16];

        close(fds[0]);
        snprintf(vs, sizeof(vs), "%d", (int)v);
        snprintf(fs, sizeof(fs), "%d", fds[1]);
        setenv("QT_NSS_ATEXIT_CHILD", vs, 1);
        setenv("QT_NSS_ATEXIT_FD", fs, 1);
        execl("/proc/self/exe", "test_pkcs11_nss_atexit", (char *)NULL);
        _exit(7);
    }
    close(fds[1]);
    memset(r, 0, sizeof(*r));
    got = read(fds[0], r, sizeof(*r));
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(!WIFSIGNALED(status), "child killed by signal %d", WTERMSIG(status));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child exit status %d (2 NSS, 3 OpenSSL, 4 NSS loading the module, 5 our module, "
              "7 exec, 8 NSS_Shutdown, 9 report)",
              WEXITSTATUS(status));
    cr_assert_eq(got, (ssize_t)sizeof(*r), "the exit handler did not report (%zd)", got);
    cr_assert_eq(r->finalize_rv, want_rv, "C_Finalize at exit -> 0x%lx, want 0x%lx",
                 (unsigned long)r->finalize_rv, (unsigned long)want_rv);
}

Test(nss_atexit, finalize_before_openssl_cleanup_nss_live)
{
    struct report r;

    run(V_OURS_FIRST, CKR_OK, &r);
    cr_assert_eq(r.openssl_alive, 1, "our handler was to run before OpenSSL's cleanup");
    cr_assert_eq(r.nss_initialized, 1);
}

Test(nss_atexit, nss_shutdown_before_finalize)
{
    struct report r;

    run(V_NSS_SHUTDOWN_FIRST, CKR_OK, &r);
    cr_assert_eq(r.openssl_alive, 1);
    cr_assert_eq(r.nss_initialized, 0, "NSS_Shutdown was to run before our handler");
}

Test(nss_atexit, finalize_after_openssl_cleanup_nss_live)
{
    struct report r;

    run(V_OPENSSL_CLEANUP_FIRST, CKR_OK, &r);
    cr_assert_eq(r.openssl_alive, 0, "OpenSSL's cleanup was to run before our handler");
    cr_assert_eq(r.nss_initialized, 1);
}

Test(nss_atexit, nss_loads_module_too)
{
    struct report r;

    run(V_NSS_LOADS_MODULE, CKR_CRYPTOKI_NOT_INITIALIZED, &r);
    cr_assert_eq(r.openssl_alive, 1);
    cr_assert_eq(r.nss_initialized, 0);
}
