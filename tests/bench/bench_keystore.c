/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keystore benchmark (issue 3): through keystore/ks.h directly,
 *   - login time with the default Argon2id parameters (64 MiB, 3 passes),
 *   - object create rate (one transaction, fsync'ed, per object; and 1,000
 *     per transaction),
 *   - lookup by label among 1,000 and 10,000 objects (half of them private
 *     sealed keys, logged in as user),
 * and, when SoftHSM2 is installed, the same three through its PKCS#11
 * module (C_Login; C_CreateObject of token data objects; C_FindObjects by
 * CKA_LABEL) in a temporary token directory.
 *
 * usage: bench_keystore [--softhsm PATH] [--no-softhsm] [--objects N]
 * Prints one line per figure and "N passed, N failed" (figures measured /
 * figures that could not be measured) last.
 */
#include <dlfcn.h>
#include <ftw.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../keystore/ks.h"
#include "../../src/common/osrand.h"

static unsigned passed, failed;
static char root[256];

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static qt_rc
rng(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    return qt_os_random(out, n);
}

static void
figure(const char *who, const char *what, double v, const char *unit)
{
    printf("%-8s %-44s %12.3f %s\n", who, what, v, unit);
    passed++;
}

static void
missing(const char *who, const char *what, const char *why)
{
    printf("%-8s %-44s %12s (%s)\n", who, what, "n/a", why);
    failed++;
}

static int
rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* ---- qtoken keystore ---------------------------------------------------- */

static qt_rc
ks_create(struct qt_ks_token *t, int i, uint64_t *id)
{
    CK_OBJECT_CLASS cd = CKO_DATA, ck = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    uint8_t val[32];
    char label[32];
    int priv = i % 2;
    struct qt_attr a[6] = {
        {CKA_CLASS, (uint8_t *)(priv ? &ck : &cd), sizeof(CK_OBJECT_CLASS)},
        {CKA_PRIVATE, priv ? &yes : &no, 1},
        {CKA_LABEL, (uint8_t *)label, 0},
        {CKA_VALUE, val, sizeof(val)},
        {CKA_TOKEN, &yes, 1},
        {CKA_KEY_TYPE, (uint8_t *)&kt, sizeof(kt)},
    };

    a[2].len = (size_t)snprintf(label, sizeof(label), "object-%06d", i);
    (void)rng(NULL, val, sizeof(val));
    return qt_ks_obj_create(t, a, priv ? 6 : 5, id);
}

static double
ks_lookups(struct qt_ks_token *t, int population)
{
    char label[32];
    double t0, t1;
    int n = -50; /* 50 warm-up lookups, not timed */

    t0 = t1 = now();
    do {
        if (n == 0) {
            t0 = now();
        }
        struct qt_attr q = {CKA_LABEL, (uint8_t *)label, 0};
        uint64_t *ids = NULL;
        size_t cnt = 0;

        q.len = (size_t)snprintf(label, sizeof(label), "object-%06d",
                                 (int)((unsigned)rand() % (unsigned)population));
        if (qt_ks_obj_find(t, &q, 1, &ids, &cnt) != QT_OK || cnt != 1) {
            free(ids);
            return -1;
        }
        free(ids);
        n++;
        t1 = now();
    } while (n <= 0 || t1 - t0 < 1.0 || n < 200);
    return (t1 - t0) / n * 1e6;
}

static void
bench_qtoken(int objects)
{
    struct qt_ks_env env;
    struct qt_ks_token *t = NULL;
    char store[300];
    const uint8_t *so = (const uint8_t *)"bench-so", *pin = (const uint8_t *)"bench-user";
    double t0, best = 1e9, sum = 0;
    uint64_t id;
    int made = 0;

    snprintf(store, sizeof(store), "%s/qtoken", root);
    env = (struct qt_ks_env){.store_dir = store, .rng = rng};
    if (qt_ks_token_create(&env, "bench", so, 8, NULL, &t) != QT_OK ||
        qt_ks_login(t, QT_KS_SO, so, 8) != QT_OK || qt_ks_init_pin(t, pin, 10) != QT_OK) {
        missing("qtoken", "token with default Argon2id", "create failed");
        qt_ks_token_close(t);
        return;
    }
    qt_ks_logout(t);
    for (int i = 0; i < 5; i++) {
        t0 = now();
        if (qt_ks_login(t, QT_KS_USER, pin, 10) != QT_OK) {
            missing("qtoken", "login", "login failed");
            qt_ks_token_close(t);
            return;
        }
        double d = now() - t0;
        sum += d;
        best = d < best ? d : best;
        if (i < 4) {
            qt_ks_logout(t);
        }
    }
    figure("qtoken", "C_Login, Argon2id 64 MiB t=3 p=1 (mean)", sum / 5 * 1e3, "ms");
    figure("qtoken", "C_Login, Argon2id 64 MiB t=3 p=1 (best)", best * 1e3, "ms");

    t0 = now();
    for (; made < 1000; made++) {
        if (ks_create(t, made, &id) != QT_OK) {
            missing("qtoken", "create", "create failed");
            goto out;
        }
    }
    figure("qtoken", "object create, 1 txn (fsync) each", 1000 / (now() - t0), "objects/s");
    t0 = now();
    if (qt_ks_txn_begin(t) != QT_OK) {
        goto out;
    }
    for (int k = 0; k < 1000; k++, made++) {
        if (ks_create(t, made, &id) != QT_OK) {
            qt_ks_txn_rollback(t);
            goto out;
        }
    }
    if (qt_ks_txn_commit(t) != QT_OK) {
        goto out;
    }
    figure("qtoken", "object create, 1000 per txn", 1000 / (now() - t0), "objects/s");
    /* back to exactly 1,000 objects for the first lookup figure */
    {
        uint64_t *ids = NULL;
        size_t cnt = 0;
        char label[32];
        for (int k = 1000; k < 2000; k++) {
            struct qt_attr q = {CKA_LABEL, (uint8_t *)label, 0};
            q.len = (size_t)snprintf(label, sizeof(label), "object-%06d", k);
            if (qt_ks_obj_find(t, &q, 1, &ids, &cnt) != QT_OK || cnt != 1 ||
                qt_ks_obj_destroy(t, ids[0]) != QT_OK) {
                free(ids);
                missing("qtoken", "destroy", "failed");
                goto out;
            }
            free(ids);
        }
        made = 1000;
    }
    double us = ks_lookups(t, 1000);
    if (us < 0) {
        missing("qtoken", "find by label among 1,000", "lookup failed");
    } else {
        figure("qtoken", "find by label among 1,000 objects", us, "us/lookup");
    }
    if (qt_ks_txn_begin(t) != QT_OK) {
        goto out;
    }
    for (; made < objects; made++) {
        if (ks_create(t, made, &id) != QT_OK) {
            qt_ks_txn_rollback(t);
            goto out;
        }
    }
    if (qt_ks_txn_commit(t) != QT_OK) {
        goto out;
    }
    us = ks_lookups(t, objects);
    char what[64];
    snprintf(what, sizeof(what), "find by label among %d,%03d objects", objects / 1000,
             objects % 1000);
    if (us < 0) {
        missing("qtoken", what, "lookup failed");
    } else {
        figure("qtoken", what, us, "us/lookup");
    }
out:
    qt_ks_token_close(t);
}

/* ---- SoftHSM2 through PKCS#11 ------------------------------------------ */

static CK_FUNCTION_LIST_PTR p11;

static CK_RV
sh_create(CK_SESSION_HANDLE s, int i)
{
    CK_OBJECT_CLASS cd = CKO_DATA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    char label[32];
    uint8_t val[32];
    CK_OBJECT_HANDLE h;
    CK_ATTRIBUTE a[5] = {
        {CKA_CLASS, &cd, sizeof(cd)},
        {CKA_TOKEN, &yes, 1},
        {CKA_PRIVATE, (i % 2) ? &yes : &no, 1},
        {CKA_LABEL, label, 0},
        {CKA_VALUE, val, sizeof(val)},
    };

    a[3].ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "object-%06d", i);
    (void)rng(NULL, val, sizeof(val));
    return p11->C_CreateObject(s, a, 5, &h);
}

static double
sh_lookups(CK_SESSION_HANDLE s, int population)
{
    char label[32];
    double t0 = now(), t1;
    int n = 0;

    do {
        CK_ATTRIBUTE q = {CKA_LABEL, label, 0};
        CK_OBJECT_HANDLE h[2];
        CK_ULONG cnt = 0;

        q.ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "object-%06d",
                                          (int)((unsigned)rand() % (unsigned)population));
        if (p11->C_FindObjectsInit(s, &q, 1) != CKR_OK ||
            p11->C_FindObjects(s, h, 2, &cnt) != CKR_OK || p11->C_FindObjectsFinal(s) != CKR_OK ||
            cnt != 1) {
            return -1;
        }
        n++;
        t1 = now();
    } while (t1 - t0 < 1.0 || n < 20);
    return (t1 - t0) / n * 1e6;
}

static void
bench_softhsm(const char *module, int objects)
{
    CK_C_GetFunctionList gfl = NULL;
    CK_SLOT_ID slots[16];
    CK_ULONG nslots = 16;
    CK_SESSION_HANDLE s = 0;
    CK_UTF8CHAR label[32];
    char dir[300], conf[300];
    void *lib;
    FILE *f;
    double t0, sum = 0;
    int made = 0;

    snprintf(dir, sizeof(dir), "%s/softhsm", root);
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", root);
    if (mkdir(dir, 0700) != 0 || (f = fopen(conf, "w")) == NULL) {
        missing("softhsm", "setup", "temp dir");
        return;
    }
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (lib != NULL) {
        *(void **)(&gfl) = dlsym(lib, "C_GetFunctionList");
    }
    if (lib == NULL || gfl == NULL || gfl(&p11) != CKR_OK || p11->C_Initialize(NULL) != CKR_OK) {
        missing("softhsm", "load", module);
        return;
    }
    memset(label, ' ', sizeof(label));
    memcpy(label, "bench", 5);
    if (p11->C_GetSlotList(CK_FALSE, slots, &nslots) != CKR_OK || nslots == 0 ||
        p11->C_InitToken(slots[0], (CK_UTF8CHAR_PTR) "bench-so", 8, label) != CKR_OK) {
        missing("softhsm", "C_InitToken", "failed");
        goto out;
    }
    nslots = 16;
    if (p11->C_GetSlotList(CK_TRUE, slots, &nslots) != CKR_OK || nslots == 0 ||
        p11->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) !=
            CKR_OK ||
        p11->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR) "bench-so", 8) != CKR_OK ||
        p11->C_InitPIN(s, (CK_UTF8CHAR_PTR) "bench-user", 10) != CKR_OK ||
        p11->C_Logout(s) != CKR_OK) {
        missing("softhsm", "session/InitPIN", "failed");
        goto out;
    }
    for (int i = 0; i < 5; i++) {
        t0 = now();
        if (p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "bench-user", 10) != CKR_OK) {
            missing("softhsm", "C_Login", "failed");
            goto out;
        }
        sum += now() - t0;
        if (i < 4) {
            (void)p11->C_Logout(s);
        }
    }
    figure("softhsm", "C_Login (PBKDF: its iterated SHA-256) (mean)", sum / 5 * 1e3, "ms");
    t0 = now();
    for (; made < 1000; made++) {
        if (sh_create(s, made) != CKR_OK) {
            missing("softhsm", "C_CreateObject", "failed");
            goto out;
        }
    }
    figure("softhsm", "object create (token data object)", 1000 / (now() - t0), "objects/s");
    double us = sh_lookups(s, 1000);
    if (us < 0) {
        missing("softhsm", "find by label among 1,000", "failed");
    } else {
        figure("softhsm", "find by label among 1,000 objects", us, "us/lookup");
    }
    for (; made < objects; made++) {
        if (sh_create(s, made) != CKR_OK) {
            missing("softhsm", "C_CreateObject", "failed");
            goto out;
        }
    }
    us = sh_lookups(s, objects);
    char what[64];
    snprintf(what, sizeof(what), "find by label among %d,%03d objects", objects / 1000,
             objects % 1000);
    if (us < 0) {
        missing("softhsm", what, "failed");
    } else {
        figure("softhsm", what, us, "us/lookup");
    }
out:
    if (s != 0) {
        (void)p11->C_CloseSession(s);
    }
    (void)p11->C_Finalize(NULL);
}

int
main(int argc, char **argv)
{
    const char *softhsm = "/usr/lib/softhsm/libsofthsm2.so";
    int objects = 10000;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--softhsm") == 0 && i + 1 < argc) {
            softhsm = argv[++i];
        } else if (strcmp(argv[i], "--no-softhsm") == 0) {
            softhsm = NULL;
        } else if (strcmp(argv[i], "--objects") == 0 && i + 1 < argc) {
            objects = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--softhsm PATH | --no-softhsm] [--objects N]\n", argv[0]);
            return 2;
        }
    }
    if (objects < 2000) {
        objects = 2000;
    }
    snprintf(root, sizeof(root), "/tmp/qt-ks-bench-XXXXXX");
    if (mkdtemp(root) == NULL) {
        return 1;
    }
    srand((unsigned)time(NULL));
    printf("%-8s %-44s %12s %s\n", "store", "figure", "value", "unit");
    bench_qtoken(objects);
    if (softhsm != NULL && access(softhsm, R_OK) == 0) {
        bench_softhsm(softhsm, objects);
    }
    (void)nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    printf("%u passed, %u failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
