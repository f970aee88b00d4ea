/* SPDX-License-Identifier: Apache-2.0 */
/* Secret memory: wipe primitive and locked, non-dumpable allocations. */
#include "mem.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

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

void *
qt_secret_alloc(size_t n)
{
    static atomic_int warned;
    void *p;
    size_t len;

    if (n == 0 || n > ((size_t)1 << 30)) {
        return NULL;
    }
    len = mapped_len(n);
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
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

void
qt_secret_free(void *p, size_t n)
{
    size_t len;

    if (p == NULL) {
        return;
    }
    len = mapped_len(n);
    OPENSSL_cleanse(p, n);
    (void)munlock(p, len);
    (void)munmap(p, len);
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
