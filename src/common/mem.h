/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory for secrets.  qt_wipe is the one wipe primitive (OPENSSL_cleanse).
 * qt_secret_alloc returns zeroed memory that is mlock()ed and excluded from
 * core dumps on a best-effort basis (small requests from a pool of locked
 * chunks, see mem.c); qt_secret_free wipes and frees it and is NULL-safe.
 */
#ifndef QT_COMMON_MEM_H
#define QT_COMMON_MEM_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct qt_secret {
    uint8_t *p;
    size_t n;
};

/* Overwrites n bytes at p with zeros in a way the compiler will not elide. */
void qt_wipe(void *p, size_t n);

/* Allocates n (> 0) zeroed bytes of locked, non-dumpable memory; NULL on failure.
 * mlock failure is logged once and tolerated. Free with qt_secret_free(p, n). */
void *qt_secret_alloc(size_t n);

/* Wipes and releases memory from qt_secret_alloc. NULL-safe. */
void qt_secret_free(void *p, size_t n);

/* Requests of at most this many bytes come from a pool of locked chunks
 * (one free list per power-of-two size class; freed blocks wiped whole and
 * reused); larger ones map their own locked pages. */
#define QT_SECRET_POOL_MAX 2048u

/* Locked chunks the pool has mapped so far (for tests and diagnostics). */
size_t qt_secret_pool_chunks(void);

/* Allocates s->p with n bytes of secret memory. */
qt_rc qt_secret_init(struct qt_secret *s, size_t n) QT_MUST_CHECK;

/* Wipes and frees s->p; leaves s empty. NULL-safe, idempotent. */
void qt_secret_clear(struct qt_secret *s);

/* Scope-bound cleanup: QT_AUTO(qt_secret_clear) struct qt_secret k = {0}; */
#define QT_AUTO(fn) __attribute__((cleanup(fn)))

#endif
