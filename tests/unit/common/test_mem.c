/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret memory: zeroed and usable at every size, pooled blocks reused and
 * wiped, bounded chunk growth, locked pages, many threads, fork while
 * another thread holds the pool.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../../src/common/mem.h"

static int
all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }
    return 1;
}

Test(mem, zeroed_and_writable_at_every_size)
{
    static const size_t sizes[] = {1,   7,    8,    15,   16,   17,   32,   33,
                                   100, 1024, 2047, 2048, 2049, 4096, 5000, 70000};
    uint8_t *p[16];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        p[i] = qt_secret_alloc(sizes[i]);
        cr_assert_not_null(p[i], "size %zu", sizes[i]);
        cr_assert(all_zero(p[i], sizes[i]), "size %zu not zeroed", sizes[i]);
        cr_assert_eq((uintptr_t)p[i] % 16, 0, "size %zu not 16-byte aligned", sizes[i]);
        memset(p[i], 0xa5, sizes[i]);
    }
    /* distinct blocks: each still holds its own pattern */
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t k = 0; k < sizes[i]; k++) {
            cr_assert_eq(p[i][k], 0xa5);
        }
        qt_secret_free(p[i], sizes[i]);
    }
    cr_assert_null(qt_secret_alloc(0));
    qt_secret_free(NULL, 10);
}

Test(mem, freed_block_is_reused_zeroed_and_was_wiped)
{
    uint8_t *a = qt_secret_alloc(48), *b;

    cr_assert_not_null(a);
    memset(a, 0x5c, 48);
    qt_secret_free(a, 48);
#if !defined(__SANITIZE_ADDRESS__)
    /* the block stays mapped in the pool: past its list link it must hold
     * no trace of the secret (under ASan it is poisoned instead) */
    {
        const volatile uint8_t *v = a;
        for (size_t i = sizeof(void *); i < 48; i++) {
            cr_assert_eq(v[i], 0, "byte %zu not wiped", i);
        }
    }
#endif
    b = qt_secret_alloc(40); /* same size class (64) */
    cr_assert_eq(b, a, "freed block not reused");
    cr_assert(all_zero(b, 40));
    qt_secret_free(b, 40);
}

Test(mem, churn_does_not_grow_the_pool)
{
    size_t before, after;
    void *p;

    p = qt_secret_alloc(32);
    qt_secret_free(p, 32);
    before = qt_secret_pool_chunks();
    for (int i = 0; i < 100000; i++) {
        p = qt_secret_alloc((size_t)(i % 2048) + 1);
        cr_assert_not_null(p);
        qt_secret_free(p, (size_t)(i % 2048) + 1);
    }
    after = qt_secret_pool_chunks();
    cr_assert_leq(after, before + 1, "chunks %zu -> %zu", before, after);
}

/* AddressSanitizer turns mlock into a no-op: this runs in the plain build. */
#if !defined(__SANITIZE_ADDRESS__)
Test(mem, pool_pages_are_locked)
{
    struct rlimit rl;
    char line[256];
    long locked_kb = -1;
    FILE *f;
    void *p = qt_secret_alloc(64);

    cr_assert_not_null(p);
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0 ||
        (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 256 * 1024)) {
        qt_secret_free(p, 64);
        cr_skip_test("RLIMIT_MEMLOCK below 256 KiB: mlock is allowed to fail");
    }
    f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmLck: %ld kB", &locked_kb) == 1) {
            break;
        }
    }
    fclose(f);
    cr_assert_geq(locked_kb, 64, "VmLck %ld kB", locked_kb);
    qt_secret_free(p, 64);
}
#endif

struct churn_arg {
    uint8_t tag;
    int bad;
};

static void *
churn(void *v)
{
    struct churn_arg *a = v;
    uint8_t *held[16] = {0};
    size_t len[16] = {0};

    for (unsigned i = 0; i < 40000; i++) {
        unsigned s = (i * 2654435761u >> 7) % 16;
        if (held[s] != NULL) {
            for (size_t k = 0; k < len[s]; k++) {
                a->bad += held[s][k] != a->tag;
            }
            qt_secret_free(held[s], len[s]);
        }
        len[s] = (size_t)((i * 40503u) % 2100) + 1;
        held[s] = qt_secret_alloc(len[s]);
        if (held[s] == NULL || !all_zero(held[s], len[s])) {
            a->bad++;
            continue;
        }
        memset(held[s], a->tag, len[s]);
    }
    for (unsigned s = 0; s < 16; s++) {
        qt_secret_free(held[s], len[s]);
    }
    return NULL;
}

Test(mem, four_threads_never_share_a_block)
{
    pthread_t t[4];
    struct churn_arg a[4];

    for (int i = 0; i < 4; i++) {
        a[i].tag = (uint8_t)(0x11 * (i + 1));
        a[i].bad = 0;
        cr_assert_eq(pthread_create(&t[i], NULL, churn, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(a[i].bad, 0, "thread %d saw %d bad bytes or blocks", i, a[i].bad);
    }
}

Test(mem, fork_while_another_thread_churns)
{
    pthread_t t;
    struct churn_arg a = {.tag = 0x77, .bad = 0};

    cr_assert_eq(pthread_create(&t, NULL, churn, &a), 0);
    for (int i = 0; i < 20; i++) {
        int status = 0;
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            alarm(10); /* a pool lock inherited held would hang here */
            for (int k = 0; k < 1000; k++) {
                void *p = qt_secret_alloc(100);
                if (p == NULL) {
                    _exit(2);
                }
                qt_secret_free(p, 100);
            }
            _exit(0);
        }
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d status %d", i, status);
    }
    pthread_join(t, NULL);
    cr_assert_eq(a.bad, 0);
}
