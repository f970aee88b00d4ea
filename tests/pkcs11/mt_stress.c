/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Threads on one module, for the sanitizers: a plain program, not a
 * Criterion suite, because Criterion's shared arena cannot be mapped under
 * ThreadSanitizer.  The test command runs it in the normal build, under
 * ASan+UBSan, and in a ThreadSanitizer build of the module (suite 'mt'),
 * where a data race in the module is a 'WARNING: ThreadSanitizer' report
 * that fails the run (scripts/summarize.py).
 *
 * Like the API suite it loads the built libqtoken-pkcs11.so (QT_P11_MODULE)
 * with dlopen and uses it only through its function list, on a token
 * initialised in a temp store.
 *
 * First the threads call C_Initialize at once, 20 times over: exactly one
 * CKR_OK each time, the rest CKR_CRYPTOKI_ALREADY_INITIALIZED, C_Finalize
 * between.  Then the workers run twice: with CKF_OS_LOCKING_OK, and with
 * the application's mutex callbacks (pthread mutexes the module sees only
 * through them).  Shared by every thread: a session EC key pair, the token
 * EC key pair (the keystore's attribute cache) and a session AES key.  Each
 * thread, on a session of its own, repeats: an EC P-256 and an AES-256
 * session key generation (the shared key-generation contexts, the
 * prediction-resistance reseed, the session-key attestation queue and its
 * batch writes), ECDSA with a shared key and the new one, each verified,
 * C_GenerateRandom, AES-CBC-PAD (its new or the shared key) and back,
 * C_FindObjects, and destruction of what it made.  An iteration passes when
 * every call returns CKR_OK and every round trip holds.  At the end, after
 * a new C_Initialize, the token holds exactly its one key pair: every
 * session object died with its session.
 *
 *   mt_stress [THREADS [ITERATIONS]]        (default 4 and 40)
 *
 * Last line: 'N passed, N failed': one check for the C_Initialize races, one
 * per thread and run (every iteration passed), one for the final count.
 */
#define _XOPEN_SOURCE 700
#include <dlfcn.h>
#include <ftw.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef QT_P11_MODULE
#error "QT_P11_MODULE must name the built libqtoken-pkcs11.so"
#endif

#define SO_PIN "12345678"
#define USER_PIN "123456"
#define MAX_THREADS 16

static CK_FUNCTION_LIST *F;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE shared_ec, shared_ec_pub, tok_ec, tok_ec_pub, shared_aes;
static atomic_int passed, failed;
static int iterations = 40;

static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

/* Calls f; on anything but CKR_OK reports it and makes *ok 0. */
#define CALL(ok, f)                                                                                \
    do {                                                                                           \
        CK_RV rv_ = (f);                                                                           \
        if (rv_ != CKR_OK) {                                                                       \
            fprintf(stderr, "mt_stress: line %d: %s -> 0x%lx\n", __LINE__, #f,                     \
                    (unsigned long)rv_);                                                           \
            *(ok) = 0;                                                                             \
        }                                                                                          \
    } while (0)

static void
gen_ec(CK_SESSION_HANDLE h, CK_BBOOL token, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv, int *ok)
{
    CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)},
                         {CKA_TOKEN, &token, sizeof(token)},
                         {CKA_VERIFY, &yes, sizeof(yes)}};
    CK_ATTRIBUTE st[] = {{CKA_TOKEN, &token, sizeof(token)},
                         {CKA_PRIVATE, &yes, sizeof(yes)},
                         {CKA_SIGN, &yes, sizeof(yes)}};

    CALL(ok, F->C_GenerateKeyPair(h, &m, pt, 3, st, 3, pub, priv));
}

static void
gen_aes(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *k, int *ok)
{
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ULONG len = 32;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof(len)},
                        {CKA_TOKEN, &no, sizeof(no)},
                        {CKA_ENCRYPT, &yes, sizeof(yes)},
                        {CKA_DECRYPT, &yes, sizeof(yes)}};

    CALL(ok, F->C_GenerateKey(h, &m, t, 4, k));
}

/* ECDSA over a digest with priv, verified with pub. */
static void
sign_verify(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub, int *ok)
{
    CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
    CK_BYTE digest[32], sig[64];
    CK_ULONG n = sizeof(sig);

    CALL(ok, F->C_GenerateRandom(h, digest, sizeof(digest)));
    CALL(ok, F->C_SignInit(h, &m, priv));
    CALL(ok, F->C_Sign(h, digest, sizeof(digest), sig, &n));
    CALL(ok, F->C_VerifyInit(h, &m, pub));
    CALL(ok, F->C_Verify(h, digest, sizeof(digest), sig, n));
}

static void
cbc_round_trip(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k, int *ok)
{
    CK_BYTE iv[16], pt[40], ct[64], back[64];
    CK_ULONG cn = sizeof(ct), bn = sizeof(back);
    CK_MECHANISM m = {CKM_AES_CBC_PAD, iv, sizeof(iv)};

    CALL(ok, F->C_GenerateRandom(h, iv, sizeof(iv)));
    CALL(ok, F->C_GenerateRandom(h, pt, sizeof(pt)));
    CALL(ok, F->C_EncryptInit(h, &m, k));
    CALL(ok, F->C_Encrypt(h, pt, sizeof(pt), ct, &cn));
    CALL(ok, F->C_DecryptInit(h, &m, k));
    CALL(ok, F->C_Decrypt(h, ct, cn, back, &bn));
    if (*ok && (bn != sizeof(pt) || memcmp(back, pt, sizeof(pt)) != 0)) {
        fprintf(stderr, "mt_stress: AES-CBC-PAD round trip differs\n");
        *ok = 0;
    }
}

static void *
worker(void *arg)
{
    CK_SESSION_HANDLE h;
    int ok = 1, all_ok = 1;

    (void)arg;
    CALL(&ok, F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
    if (!ok) {
        atomic_fetch_add(&failed, 1);
        return NULL;
    }
    for (int i = 0; i < iterations; i++) {
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_ATTRIBUTE ft[] = {{CKA_CLASS, &cls, sizeof(cls)}};
        CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
        CK_OBJECT_HANDLE aes = CK_INVALID_HANDLE, found[8];
        CK_ULONG nfound = 0;

        ok = 1;
        gen_ec(h, CK_FALSE, &pub, &priv, &ok);
        gen_aes(h, &aes, &ok);
        sign_verify(h, priv, pub, &ok);
        if (i % 2 == 0) {
            sign_verify(h, shared_ec, shared_ec_pub, &ok);
        } else {
            sign_verify(h, tok_ec, tok_ec_pub, &ok);
        }
        cbc_round_trip(h, i % 2 ? shared_aes : aes, &ok);
        CALL(&ok, F->C_FindObjectsInit(h, ft, 1));
        CALL(&ok, F->C_FindObjects(h, found, 8, &nfound));
        CALL(&ok, F->C_FindObjectsFinal(h));
        if (ok && nfound < 2) { /* at least the two shared private keys */
            fprintf(stderr, "mt_stress: C_FindObjects found %lu private keys\n",
                    (unsigned long)nfound);
            ok = 0;
        }
        CALL(&ok, F->C_DestroyObject(h, priv));
        CALL(&ok, F->C_DestroyObject(h, pub));
        CALL(&ok, F->C_DestroyObject(h, aes));
        all_ok &= ok;
    }
    CALL(&all_ok, F->C_CloseSession(h));
    atomic_fetch_add(all_ok ? &passed : &failed, 1);
    return NULL;
}

/* Phase 1: THREADS threads call C_Initialize at once, ROUNDS times; in
 * each round exactly one gets CKR_OK, the others
 * CKR_CRYPTOKI_ALREADY_INITIALIZED, then C_Finalize. */
#define INIT_ROUNDS 20

static pthread_barrier_t init_barrier;
static atomic_int init_ok, init_already, init_other;

static void *
init_racer(void *arg)
{
    CK_C_INITIALIZE_ARGS ia = {.flags = CKF_OS_LOCKING_OK};
    CK_INFO info;
    CK_RV rv;

    (void)arg;
    (void)pthread_barrier_wait(&init_barrier);
    rv = F->C_Initialize(&ia);
    atomic_fetch_add(rv == CKR_OK                             ? &init_ok
                     : rv == CKR_CRYPTOKI_ALREADY_INITIALIZED ? &init_already
                                                              : &init_other,
                     1);
    (void)F->C_GetInfo(&info); /* racing the winner's initialisation */
    return NULL;
}

static int
init_races(int threads)
{
    pthread_t th[MAX_THREADS];
    int ok = 1;

    for (int r = 0; r < INIT_ROUNDS && ok; r++) {
        atomic_store(&init_ok, 0);
        atomic_store(&init_already, 0);
        atomic_store(&init_other, 0);
        (void)pthread_barrier_init(&init_barrier, NULL, (unsigned)threads);
        for (int i = 0; i < threads; i++) {
            (void)pthread_create(&th[i], NULL, init_racer, NULL);
        }
        for (int i = 0; i < threads; i++) {
            (void)pthread_join(th[i], NULL);
        }
        (void)pthread_barrier_destroy(&init_barrier);
        if (atomic_load(&init_ok) != 1 || atomic_load(&init_already) != threads - 1) {
            fprintf(stderr, "mt_stress: round %d: %d CKR_OK, %d ALREADY_INITIALIZED, %d other\n", r,
                    atomic_load(&init_ok), atomic_load(&init_already), atomic_load(&init_other));
            ok = 0;
        }
        CALL(&ok, F->C_Finalize(NULL));
    }
    return ok;
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* The number of the token's objects (all classes, logged in), after a new
 * C_Initialize. */
static void
count_token_objects(CK_ULONG *count, int *ok)
{
    CK_SESSION_HANDLE h;
    CK_OBJECT_HANDLE found[16];
    CK_ULONG n = 0;

    CALL(ok, F->C_Initialize(NULL));
    CALL(ok, F->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h));
    CALL(ok, F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)));
    CALL(ok, F->C_FindObjectsInit(h, NULL, 0));
    CALL(ok, F->C_FindObjects(h, found, 16, &n));
    CALL(ok, F->C_FindObjectsFinal(h));
    CALL(ok, F->C_CloseSession(h));
    CALL(ok, F->C_Finalize(NULL));
    *count = n;
}

/* The application's mutexes (CK_C_INITIALIZE_ARGS callbacks, no
 * CKF_OS_LOCKING_OK): pthread mutexes the module only sees through these. */
static CK_RV
app_create(CK_VOID_PTR_PTR m)
{
    pthread_mutex_t *mu = malloc(sizeof(*mu));

    if (m == NULL || mu == NULL || pthread_mutex_init(mu, NULL) != 0) {
        free(mu);
        return CKR_HOST_MEMORY;
    }
    *m = mu;
    return CKR_OK;
}

static CK_RV
app_destroy(CK_VOID_PTR m)
{
    pthread_mutex_destroy(m);
    free(m);
    return CKR_OK;
}

static CK_RV
app_lock(CK_VOID_PTR m)
{
    return pthread_mutex_lock(m) == 0 ? CKR_OK : CKR_MUTEX_BAD;
}

static CK_RV
app_unlock(CK_VOID_PTR m)
{
    return pthread_mutex_unlock(m) == 0 ? CKR_OK : CKR_MUTEX_NOT_LOCKED;
}

/* One run of the workers on a module initialised with ia: the shared
 * session keys made here, the token key pair made (make_token) or found. */
static int
phase(CK_C_INITIALIZE_ARGS *ia, int threads, int make_token)
{
    CK_OBJECT_CLASS priv_cls = CKO_PRIVATE_KEY, pub_cls = CKO_PUBLIC_KEY;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE find_priv[] = {{CKA_CLASS, &priv_cls, sizeof(priv_cls)},
                                {CKA_TOKEN, &yes, sizeof(yes)}};
    CK_ATTRIBUTE find_pub[] = {{CKA_CLASS, &pub_cls, sizeof(pub_cls)},
                               {CKA_TOKEN, &yes, sizeof(yes)}};
    pthread_t th[MAX_THREADS];
    CK_SESSION_HANDLE h;
    CK_ULONG n = 0;
    int ok = 1;

    CALL(&ok, F->C_Initialize(ia));
    CALL(&ok, F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
    CALL(&ok, F->C_Login(h, CKU_USER, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)));
    gen_ec(h, CK_FALSE, &shared_ec_pub, &shared_ec, &ok);
    gen_aes(h, &shared_aes, &ok);
    if (make_token) {
        gen_ec(h, CK_TRUE, &tok_ec_pub, &tok_ec, &ok);
    } else {
        CALL(&ok, F->C_FindObjectsInit(h, find_priv, 2));
        CALL(&ok, F->C_FindObjects(h, &tok_ec, 1, &n));
        CALL(&ok, F->C_FindObjectsFinal(h));
        CALL(&ok, F->C_FindObjectsInit(h, find_pub, 2));
        CALL(&ok, F->C_FindObjects(h, &tok_ec_pub, 1, &n));
        CALL(&ok, F->C_FindObjectsFinal(h));
    }
    if (!ok) {
        return 0;
    }
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&th[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 0;
        }
    }
    for (int i = 0; i < threads; i++) {
        (void)pthread_join(th[i], NULL);
    }
    CALL(&ok, F->C_Logout(h));
    CALL(&ok, F->C_CloseSession(h));
    CALL(&ok, F->C_Finalize(NULL));
    return ok;
}

int
main(int argc, char **argv)
{
    CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
    CK_C_INITIALIZE_ARGS ia = {.flags = CKF_OS_LOCKING_OK};
    CK_C_INITIALIZE_ARGS app = {.CreateMutex = app_create,
                                .DestroyMutex = app_destroy,
                                .LockMutex = app_lock,
                                .UnlockMutex = app_unlock};
    CK_SLOT_ID slots[4];
    CK_ULONG nslots = 4;
    CK_UTF8CHAR label[32];
    CK_SESSION_HANDLE h;
    CK_ULONG tok_found = 0;
    char dir[64] = "/tmp/qt-mt-XXXXXX", path[128], store[128];
    int threads = argc > 1 ? atoi(argv[1]) : 4, ok = 1;
    void *dl;
    FILE *f;

    iterations = argc > 2 ? atoi(argv[2]) : iterations;
    if (threads < 1 || threads > MAX_THREADS || iterations < 1) {
        fprintf(stderr, "usage: mt_stress [THREADS (1..%d) [ITERATIONS]]\n", MAX_THREADS);
        return 2;
    }
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/qtoken.conf", dir);
    snprintf(store, sizeof(store), "%s/store", dir);
    if ((f = fopen(path, "w")) == NULL) {
        perror(path);
        return 1;
    }
    fprintf(f, "[token]\nargon2_memory_kib = 64\nargon2_passes = 1\nargon2_lanes = 1\n");
    fclose(f);
    setenv("QTOKEN_CONF", path, 1);
    setenv("QTOKEN_STORE", store, 1);
    setenv("QTOKEN_DEVICE", "sim", 1);

    if ((dl = dlopen(QT_P11_MODULE, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    if (get == NULL || get(&F) != CKR_OK) {
        fprintf(stderr, "C_GetFunctionList failed\n");
        return 1;
    }
    atomic_fetch_add(init_races(threads) ? &passed : &failed, 1);
    CALL(&ok, F->C_Initialize(&ia));
    CALL(&ok, F->C_GetSlotList(CK_FALSE, slots, &nslots));
    slot = slots[0];
    memset(label, ' ', sizeof(label));
    memcpy(label, "mt", 2);
    CALL(&ok, F->C_InitToken(slot, (CK_UTF8CHAR *)SO_PIN, strlen(SO_PIN), label));
    CALL(&ok, F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
    CALL(&ok, F->C_Login(h, CKU_SO, (CK_UTF8CHAR *)SO_PIN, strlen(SO_PIN)));
    CALL(&ok, F->C_InitPIN(h, (CK_UTF8CHAR *)USER_PIN, strlen(USER_PIN)));
    CALL(&ok, F->C_CloseSession(h));
    CALL(&ok, F->C_Finalize(NULL));
    if (!ok) {
        printf("%d passed, %d failed\n", atomic_load(&passed), atomic_load(&failed) + 1);
        return 1;
    }
    /* the module's own locking, then the application's mutexes */
    ok = phase(&ia, threads, 1);
    ok = phase(&app, threads, 0) && ok;
    /* the session objects died with their sessions: the token keeps its
     * one key pair (public and private) */
    count_token_objects(&tok_found, &ok);
    if (ok && tok_found != 2) {
        fprintf(stderr, "mt_stress: the token holds %lu objects, not the 2 of its key pair\n",
                (unsigned long)tok_found);
        ok = 0;
    }
    atomic_fetch_add(ok ? &passed : &failed, 1);
    (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d passed, %d failed\n", atomic_load(&passed), atomic_load(&failed));
    return atomic_load(&failed) == 0 ? 0 : 1;
}
