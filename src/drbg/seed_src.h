/* SPDX-License-Identifier: Apache-2.0 */
/*
 * QRNG-SEED: an OpenSSL EVP_RAND seed source whose only input is the
 * health-gated entropy pipeline (src/entropy/ent.h).  Shared by the
 * in-library provider that drbg.c adds to its private OSSL_LIB_CTX and by the
 * loadable provider module `qtoken` (provider.c).  Room-internal header.
 *
 * A struct qt_seed_prov is the provider context: it names the pipeline the
 * seed source pulls from (borrowed from the caller, or opened lazily from the
 * configuration on first use and owned) and counts every pull, so tests can
 * prove the source was really called.  Fail closed: when the pipeline
 * refuses, get_seed/generate return 0 and hand OpenSSL nothing.
 */
#ifndef QT_DRBG_SEED_SRC_H
#define QT_DRBG_SEED_SRC_H

#include <openssl/core.h>
#include <stddef.h>
#include <stdint.h>
#include "../common/err.h"

struct qt_ent_pipeline;
struct qt_seed_prov;

/* The algorithm name OpenSSL fetches (RAND_set_seed_source_type, [random] seed). */
#define QT_SEED_SRC_NAME "QRNG-SEED"

/* Names of the counters (OSSL_PARAM uint64).  As provider params: totals of
 * the provider.  As EVP_RAND ctx params: calls and bytes of that ctx alone,
 * failures of the provider. */
#define QT_SEED_PARAM_CALLS "qtoken-seed-calls"
#define QT_SEED_PARAM_BYTES "qtoken-seed-bytes"
#define QT_SEED_PARAM_FAILURES "qtoken-seed-failures"

struct qt_seed_counters {
    uint64_t calls;    /* successful pulls (get_seed, generate) */
    uint64_t bytes;    /* full-entropy bytes handed to OpenSSL */
    uint64_t failures; /* pulls refused because the pipeline failed */
};

/* New provider context.  pipe != NULL: pulls from pipe (borrowed; it must
 * outlive the provider).  pipe == NULL: the pipeline is created on first use
 * from qt_conf_load() (QTOKEN_CONF / QTOKEN_DEVICE / QTOKEN_STORE) and owned;
 * a failed creation is retried on the next pull.  NULL on allocation failure. */
struct qt_seed_prov *qt_seed_src_prov_new(struct qt_ent_pipeline *pipe);

/* NULL-safe.  Frees an owned pipeline. */
void qt_seed_src_prov_free(struct qt_seed_prov *sp);

/* on != 0: the calling thread's next pull from any QRNG-SEED source is a
 * fresh one (qt_ent_pipeline_get_fresh: from new samples read during that pull,
 * never from output buffered before); the pull clears it.  on == 0 clears
 * it (after a request that may not have pulled).  For prediction-resistance
 * reseeds: OpenSSL pulls a parent's seed in the thread that asked. */
void qt_seed_src_thread_fresh(int on);

/* Snapshot of the counters (atomic reads). */
/* Full-entropy bytes the calling thread has pulled from any QRNG-SEED source. */
uint64_t qt_seed_src_thread_bytes(void);
void qt_seed_src_counters(const struct qt_seed_prov *sp, struct qt_seed_counters *out);

/* Fills the provider's out dispatch table (query_operation, teardown,
 * get_params ...) for sp and returns 1.  `name` is reported as the provider
 * name parameter; teardown frees sp. */
int qt_seed_src_provider_setup(struct qt_seed_prov *sp, const char *name,
                               const OSSL_DISPATCH **out);

#endif
