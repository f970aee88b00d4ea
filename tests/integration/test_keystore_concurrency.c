/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Many writers on one token (issue 3): PROCS processes x THREADS threads,
 * each thread with its own qt_ks_token handle (its own SQLite connection),
 * create and destroy objects for SECONDS.  Every call must succeed: a wait
 * for the write lock never surfaces as SQLITE_BUSY.  Each thread checks
 * that its object is found right after creating it, and records whether it
 * saw objects of other processes (visibility without re-opening).  At the
 * end every thread's surviving ids are written to a result file and the
 * parent checks that the store holds exactly their union, that destroyed
 * ids are gone, and that qt_ks_check passes.
 *
 * usage: test_keystore_concurrency [SECONDS] [PROCS] [THREADS]   (20 4 2)
 * Prints "N passed, N failed" (checks) as its last line.
 */
#include <ftw.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../keystore/ks.h"
#include "../../src/common/osrand.h"
#include "check.h"

#define PIN ((const uint8_t *)"conc-user-pin")
#define PIN_LEN 13
#define MAX_LIVE 4096

static char root[256], store[300], inst[300];
static struct qt_ks_env env;
static const struct qt_ks_kdf_params kdf = {.memory_kib = 64, .passes = 1, .lanes = 1};
static double seconds = 20;

static qt_rc
rng(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    return qt_os_random(out, n);
}

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct worker {
    int proc, thr;
    uint64_t live[MAX_LIVE];
    size_t nlive;
    uint64_t destroyed[MAX_LIVE * 8];
    size_t ndestroyed;
    unsigned creates, errors, saw_foreign;
    char err[160];
};

static void *
work(void *arg)
{
    struct worker *w = arg;
    struct qt_ks_token *t = NULL;
    CK_OBJECT_CLASS cls_data = CKO_DATA, cls_key = CKO_SECRET_KEY;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    uint8_t val[32];
    char label[48];
    unsigned seed = (unsigned)(w->proc * 131 + w->thr * 7 + 1);
    double end;
    qt_rc rc;

    if ((rc = qt_ks_token_open_label(&env, "conc", &t)) != QT_OK ||
        (rc = qt_ks_login(t, QT_KS_USER, PIN, PIN_LEN)) != QT_OK) {
        snprintf(w->err, sizeof(w->err), "open/login: %s", qt_rc_str(rc));
        w->errors++;
        qt_ks_token_close(t);
        return NULL;
    }
    end = now() + seconds;
    for (unsigned n = 0; now() < end && w->errors == 0; n++) {
        int priv = (int)(n % 2);
        uint64_t id = 0, *ids = NULL;
        size_t cnt = 0;
        struct qt_attr a[4] = {
            {CKA_CLASS, (uint8_t *)(priv ? &cls_key : &cls_data), sizeof(CK_OBJECT_CLASS)},
            {CKA_PRIVATE, priv ? &yes : &no, 1},
            {CKA_LABEL, (uint8_t *)label, 0},
            {CKA_VALUE, val, sizeof(val)},
        };

        a[2].len = (size_t)snprintf(label, sizeof(label), "p%d-t%d-%u", w->proc, w->thr, n);
        (void)rng(NULL, val, sizeof(val));
        if ((rc = qt_ks_obj_create(t, a, 4, &id)) != QT_OK) {
            snprintf(w->err, sizeof(w->err), "create: %s", qt_rc_str(rc));
            w->errors++;
            break;
        }
        w->creates++;
        if (w->nlive < MAX_LIVE) {
            w->live[w->nlive++] = id;
        }
        /* found at once, by label, exactly once */
        if ((rc = qt_ks_obj_find(t, &a[2], 1, &ids, &cnt)) != QT_OK || cnt != 1 || ids[0] != id) {
            snprintf(w->err, sizeof(w->err), "find own object: %s, %zu hits", qt_rc_str(rc), cnt);
            w->errors++;
            free(ids);
            break;
        }
        free(ids);
        /* destroy about half, at random, keeping the live set bounded */
        if (w->nlive > 0 && (rand_r(&seed) % 2 == 0 || w->nlive >= MAX_LIVE)) {
            size_t k = (size_t)rand_r(&seed) % w->nlive;
            if ((rc = qt_ks_obj_destroy(t, w->live[k])) != QT_OK) {
                snprintf(w->err, sizeof(w->err), "destroy: %s", qt_rc_str(rc));
                w->errors++;
                break;
            }
            if (w->ndestroyed < MAX_LIVE * 8) {
                w->destroyed[w->ndestroyed++] = w->live[k];
            }
            w->live[k] = w->live[--w->nlive];
        }
        /* every 16th round: do we see other processes' objects? */
        if (n % 16 == 0 && !w->saw_foreign) {
            struct qt_attr q = {CKA_CLASS, (uint8_t *)&cls_data, sizeof(cls_data)};
            if ((rc = qt_ks_obj_find(t, &q, 1, &ids, &cnt)) != QT_OK) {
                snprintf(w->err, sizeof(w->err), "find all: %s", qt_rc_str(rc));
                w->errors++;
                break;
            }
            for (size_t i = 0; i < cnt && !w->saw_foreign; i++) {
                struct qt_attr *oa = NULL;
                size_t on = 0;
                if (qt_ks_obj_get(t, ids[i], &oa, &on) == QT_OK) {
                    for (size_t j = 0; j < on; j++) {
                        char pre[16];
                        int pl = snprintf(pre, sizeof(pre), "p%d-", w->proc);
                        if (oa[j].type == CKA_LABEL && oa[j].len > (size_t)pl &&
                            memcmp(oa[j].val, pre, (size_t)pl) != 0) {
                            w->saw_foreign = 1;
                        }
                    }
                }
                qt_ks_attrs_free(oa, on);
            }
            free(ids);
        }
    }
    qt_ks_token_close(t);
    return NULL;
}

/* A child process: THREADS workers, then a result file "pP" with lines
 *   L id   (live)   X id   (destroyed)   E text   S creates saw_foreign */
static int
child(int proc, int threads)
{
    struct worker *w = calloc((size_t)threads, sizeof(*w));
    pthread_t th[16];
    char path[400];
    FILE *f;

    if (w == NULL) {
        return 2;
    }
    for (int i = 0; i < threads; i++) {
        w[i].proc = proc;
        w[i].thr = i;
        if (pthread_create(&th[i], NULL, work, &w[i]) != 0) {
            return 2;
        }
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
    }
    snprintf(path, sizeof(path), "%s/p%d", root, proc);
    f = fopen(path, "w");
    if (f == NULL) {
        return 2;
    }
    for (int i = 0; i < threads; i++) {
        for (size_t k = 0; k < w[i].nlive; k++) {
            fprintf(f, "L %llu\n", (unsigned long long)w[i].live[k]);
        }
        for (size_t k = 0; k < w[i].ndestroyed; k++) {
            fprintf(f, "X %llu\n", (unsigned long long)w[i].destroyed[k]);
        }
        if (w[i].errors > 0) {
            fprintf(f, "E p%d-t%d %s\n", proc, i, w[i].err);
        }
        fprintf(f, "S %u %u\n", w[i].creates, w[i].saw_foreign);
    }
    fclose(f);
    free(w);
    return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static int
rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int
main(int argc, char **argv)
{
    int procs = argc > 2 ? atoi(argv[2]) : 4, threads = argc > 3 ? atoi(argv[3]) : 2;
    struct qt_ks_token *t = NULL;
    uint64_t *live = NULL, *gone = NULL, *ids = NULL;
    size_t nlive = 0, ngone = 0, cnt = 0;
    unsigned creates = 0, foreign = 0, workers = 0;
    pid_t pids[64];

    if (argc > 1) {
        seconds = atof(argv[1]);
    }
    if (procs < 1 || procs > 64 || threads < 1 || threads > 16 || seconds <= 0) {
        fprintf(stderr, "usage: %s [SECONDS] [PROCS<=64] [THREADS<=16]\n", argv[0]);
        return 2;
    }
    snprintf(root, sizeof(root), "/tmp/qt-ks-conc-XXXXXX");
    if (mkdtemp(root) == NULL) {
        return 1;
    }
    snprintf(store, sizeof(store), "%s/store", root);
    snprintf(inst, sizeof(inst), "%s/store/installation", root);
    env = (struct qt_ks_env){.store_dir = store, .install_dir = inst, .rng = rng,
                             .pin_max_failures = 10};
    check(qt_ks_token_create(&env, "conc", (const uint8_t *)"so", 2, &kdf, &t) == QT_OK &&
              qt_ks_login(t, QT_KS_SO, (const uint8_t *)"so", 2) == QT_OK &&
              qt_ks_init_pin(t, PIN, PIN_LEN) == QT_OK,
          "create token");
    qt_ks_token_close(t);
    t = NULL;

    for (int p = 0; p < procs; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            _exit(child(p, threads));
        }
        check(pids[p] > 0, "fork");
    }
    for (int p = 0; p < procs; p++) {
        int st = 0;
        (void)waitpid(pids[p], &st, 0);
        check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d exit status %d", p, st);
    }

    live = calloc((size_t)procs * (size_t)threads * MAX_LIVE, sizeof(*live));
    gone = calloc((size_t)procs * (size_t)threads * MAX_LIVE * 8, sizeof(*gone));
    check(live != NULL && gone != NULL, "alloc");
    for (int p = 0; p < procs && live != NULL && gone != NULL; p++) {
        char path[400], line[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/p%d", root, p);
        f = fopen(path, "r");
        check(f != NULL, "result of process %d", p);
        if (f == NULL) {
            continue;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
            unsigned long long v;
            unsigned a, b;
            if (sscanf(line, "L %llu", &v) == 1) {
                live[nlive++] = v;
            } else if (sscanf(line, "X %llu", &v) == 1) {
                gone[ngone++] = v;
            } else if (sscanf(line, "S %u %u", &a, &b) == 2) {
                creates += a;
                foreign += b;
                workers++;
            } else if (line[0] == 'E') {
                check(0, "worker error: %s", line + 2);
            }
        }
        fclose(f);
    }
    check(workers == (unsigned)(procs * threads), "%u of %d workers reported", workers,
          procs * threads);
    check(foreign == workers || procs == 1, "%u of %u workers saw other processes' objects",
          foreign, workers);

    /* The store holds exactly the union of the live sets. */
    check(qt_ks_token_open_label(&env, "conc", &t) == QT_OK &&
              qt_ks_login(t, QT_KS_USER, PIN, PIN_LEN) == QT_OK,
          "reopen");
    check(qt_ks_check(t, NULL, NULL) == QT_OK, "qt_ks_check after the run");
    check(qt_ks_obj_find(t, NULL, 0, &ids, &cnt) == QT_OK, "find all");
    qsort(live, nlive, sizeof(*live), cmp_u64);
    check(cnt == nlive, "store has %zu objects, workers account for %zu", cnt, nlive);
    size_t mism = 0;
    for (size_t i = 0; i < cnt && i < nlive; i++) {
        mism += ids[i] != live[i];
    }
    check(mism == 0, "%zu ids differ between the store and the workers' accounts", mism);
    size_t back = 0;
    for (size_t i = 0; i < ngone; i++) {
        struct qt_attr *a = NULL;
        size_t n = 0;
        if (qt_ks_obj_get(t, gone[i], &a, &n) != QT_E_NOTFOUND) {
            back++;
        }
        qt_ks_attrs_free(a, n);
    }
    check(back == 0, "%zu destroyed objects still present", back);
    printf("%d processes x %d threads, %.0f s: %u creates (%.0f/s), %zu destroys, %zu live, "
           "all accounted for\n",
           procs, threads, seconds, creates, creates / seconds, ngone, nlive);
    free(ids);
    free(live);
    free(gone);
    qt_ks_token_close(t);
    (void)nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    printf("%u passed, %u failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
