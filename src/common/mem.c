/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret memory: the wipe primitive and locked, non-dumpable allocations.
 *
 * Small secrets (at most QT_SECRET_POOL_MAX bytes: keys, seeds, PINs) come
 * from a pool of locked chunks, one free list per power-of-two size class,
 * under one mutex.  A key generation allocates and frees a few of them;
 * doing that with mmap + mlock + munlock + munmap per secret cost ~30% of
 * a session-key generation (four system calls and a TLB shootdown each).
 * A freed block is wiped whole before it goes back on its list, so the pool
 * never holds a secret that nobody owns; chunks stay mapped (and locked)
 * for the life of the process, their memory bounded by the peak number of
 * live secrets.  Larger requests map their own pages as before.
 *
 * Under AddressSanitizer the free blocks (and each block's tail beyond the
 * size asked for) are poisoned, so a use after free or an overrun of a
 * pooled secret is still reported.  Fork: the pool's lock is taken around
 * fork(2) (pthread_atfork), so a child never inherits it held.
 */
#include "mem.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define POOL_MIN_SHIFT 4u              /* smallest class: 16 bytes */
#define POOL_CLASSES 8u                /* 16 .. 2048 bytes */
#define POOL_CHUNK ((size_t)64 * 1024) /* locked memory mapped at a time */

struct free_blk {
    struct free_blk *next;
};

static struct {
    pthread_mutex_t mu;
    struct free_blk *free[POOL_CLASSES];
    uint8_t *cur; /* unused tail of the newest chunk */
    size_t left;
    size_t chunks;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

void
qt_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0) {
        OPENSSL_cleanse(p, n);
    }
}

static size_t
mapped_len(size_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    return (n + page - 1) / page * page;
}

/* Locked, non-dumpable, zeroed pages; NULL on failure. */
static void *
map_locked(size_t len)
{
    static atomic_int warned;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        return NULL;
    }
#ifdef MADV_DONTDUMP
    (void)madvise(p, len, MADV_DONTDUMP);
#endif
    if (mlock(p, len) != 0 && atomic_exchange(&warned, 1) == 0) {
        qt_log(QT_LOG_INFO, "mlock failed (RLIMIT_MEMLOCK?); secrets may be swapped");
    }
    return p;
}

static void
pool_lock(void)
{
    (void)pthread_mutex_lock(&pool.mu);
}

static void
pool_unlock(void)
{
    (void)pthread_mutex_unlock(&pool.mu);
}

static void
pool_init(void)
{
    if (pthread_atfork(pool_lock, pool_unlock, pool_unlock) != 0) {
        qt_log(QT_LOG_WARN, "secret pool: pthread_atfork failed");
    }
}

/* Size class of an n-byte request (n <= QT_SECRET_POOL_MAX). */
static unsigned
class_of(size_t n)
{
    unsigned c = 0;

    while (((size_t)1 << (POOL_MIN_SHIFT + c)) < n) {
        c++;
    }
    return c;
}

static void *
pool_alloc(size_t n)
{
    const unsigned c = class_of(n);
    const size_t size = (size_t)1 << (POOL_MIN_SHIFT + c);
    uint8_t *p = NULL;

    (void)pthread_once(&pool_once, pool_init);
    pool_lock();
    if (pool.free[c] != NULL) {
        struct free_blk *b = pool.free[c];
        UNPOISON(b, sizeof(*b));
        pool.free[c] = b->next;
        POISON(b, sizeof(*b));
        p = (uint8_t *)b;
    } else {
        if (pool.left < size) {
            uint8_t *chunk = map_locked(POOL_CHUNK);
            if (chunk == NULL) {
                pool_unlock();
                return NULL;
            }
            /* the old chunk's tail (< 2 KiB) is left unused */
            POISON(chunk, POOL_CHUNK);
            pool.cur = chunk;
            pool.left = POOL_CHUNK;
            pool.chunks++;
        }
        p = pool.cur;
        pool.cur += size;
        pool.left -= size;
    }
    pool_unlock();
    UNPOISON(p, n);
    memset(p, 0, n); /* the list link, or nothing: blocks are wiped when freed */
    return p;
}

static void
pool_free(void *p, size_t n)
{
    const unsigned c = class_of(n);
    const size_t size = (size_t)1 << (POOL_MIN_SHIFT + c);
    struct free_blk *b = p;

    OPENSSL_cleanse(p, n); /* the tail beyond n was never handed out */
    POISON(p, size);
    pool_lock();
    UNPOISON(b, sizeof(*b));
    b->next = pool.free[c];
    pool.free[c] = b;
    POISON(b, sizeof(*b));
    pool_unlock();
}

void *
qt_secret_alloc(size_t n)
{
    void *p;

    if (n == 0 || n > ((size_t)1 << 30)) {
        return NULL;
    }
    if (n <= QT_SECRET_POOL_MAX) {
        return pool_alloc(n);
    }
    p = map_locked(mapped_len(n));
    return p;
}

void
qt_secret_free(void *p, size_t n)
{
    size_t len;

    if (p == NULL) {
        return;
    }
    if (n <= QT_SECRET_POOL_MAX) {
        pool_free(p, n);
        return;
    }
    len = mapped_len(n);
    OPENSSL_cleanse(p, n);
    (void)munlock(p, len);
    (void)munmap(p, len);
}

size_t
qt_secret_pool_chunks(void)
{
    size_t n;

    pool_lock();
    n = pool.chunks;
    pool_unlock();
    return n;
}

qt_rc
qt_secret_init(struct qt_secret *s, size_t n)
{
    if (s == NULL || n == 0) {
        return QT_E_ARG;
    }
    s->p = qt_secret_alloc(n);
    if (s->p == NULL) {
        s->n = 0;
        return QT_E_NOMEM;
    }
    s->n = n;
    return QT_OK;
}

void
qt_secret_clear(struct qt_secret *s)
{
    if (s == NULL) {
        return;
    }
    qt_secret_free(s->p, s->n);
    s->p = NULL;
    s->n = 0;
}
