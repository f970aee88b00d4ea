/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The token's DRBG: a private OSSL_LIB_CTX whose primary DRBG (CTR-DRBG,
 * AES-256) is seeded only by the QRNG-SEED EVP_RAND (an in-library provider
 * fed by an entropy pipeline).  All crypto of the token runs in this libctx,
 * so every key OpenSSL generates for it draws on the QRNG.  OS entropy may be
 * mixed in as additional input, credited zero (conf mix_os_entropy).
 *
 * Thread-safe (OpenSSL DRBG locking).  Fork-safe: a child never emits the
 * parent's stream (fork detection + reseed from the QRNG in the child).
 */
#ifndef QT_DRBG_DRBG_H
#define QT_DRBG_DRBG_H

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>
#include "../common/conf.h"
#include "../common/err.h"

struct qt_ent_pipeline;
struct qt_drbg;

/* Creates the private libctx and DRBG chain on top of pipeline p (borrowed:
 * p must outlive the drbg). */
qt_rc qt_drbg_new(struct qt_ent_pipeline *p, const struct qt_conf *conf,
                  struct qt_drbg **out) QT_MUST_CHECK;

/* The private library context: use it for every EVP call of the token. */
OSSL_LIB_CTX *qt_drbg_libctx(struct qt_drbg *d);

/* n random bytes.  prediction_resistance: reseed from the QRNG first, from
 * samples the pipeline reads from the device during the call
 * (qt_ent_pipeline_get_fresh: at least params.fresh_samples new samples,
 * each through the continuous health tests; the estimator's verdict on the
 * window they join applies to the source from that window's end, whereas
 * ordinary output waits for the verdict on its whole window).  In
 * full-entropy mode (conf full_entropy, or force_full) every output block is
 * preceded by a reseed carrying >= its length + 64 bits of assessed entropy
 * (SP 800-90C RBG3(RS) style), drawn from released output not older than
 * QT_ENT_MAX_AGE_MS, each bit once.  QT_E_HEALTH when the source is in
 * error: nothing is written. */
qt_rc qt_drbg_generate(struct qt_drbg *d, uint8_t *out, size_t n, int prediction_resistance,
                       int force_full) QT_MUST_CHECK;

/* qt_drbg_generate reseeds the primary from fresh samples first when its
 * last reseed is older than this (ms): a dead device fails ordinary
 * requests too within this time. */
#define QT_DRBG_RESEED_MS 10000

/* Ordinary generate calls carry additional input (counter, pid, tid, time,
 * conf mix_os_entropy: 32 bytes of getrandom(), credited zero) on this
 * schedule: the first of every QT_DRBG_MIX_CALLS calls, and the first call
 * after QT_DRBG_MIX_MS since the last mixed one; other calls carry none.
 * Reseeds of the primary, prediction-resistant and full-entropy requests
 * always carry it. */
#define QT_DRBG_MIX_CALLS 64
#define QT_DRBG_MIX_MS 10

/* Reseeds the whole chain from the QRNG now (prediction resistance for the
 * next keygen done through OpenSSL in this libctx): the seed comes from new
 * samples read from the device during this call (as for
 * prediction_resistance above), so a device that died or stuck since the
 * last read makes it fail (QT_E_HEALTH or the device error). */
qt_rc qt_drbg_reseed(struct qt_drbg *d) QT_MUST_CHECK;

/* Mixes caller bytes in as additional input, credited zero (C_SeedRandom). */
qt_rc qt_drbg_mix(struct qt_drbg *d, const uint8_t *in, size_t n) QT_MUST_CHECK;

/* Number of seeds the QRNG-SEED source has handed to this drbg's DRBGs
 * (instantiations and reseeds, every chain of the libctx). */
uint64_t qt_drbg_reseed_count(struct qt_drbg *d);

/* Full-entropy mode output block: each block of at most this many bytes is
 * preceded by a prediction-resistance reseed of a CTR-DRBG (AES-256) that
 * takes 256 bits straight from QRNG-SEED, i.e. >= 8 * block + 64 bits. */
#define QT_DRBG_FULL_BLOCK 24

struct qt_drbg_counters {
    uint64_t seed_calls;     /* seeds pulled from QRNG-SEED, all chains */
    uint64_t seed_bytes;     /* full-entropy bytes those seeds carried */
    uint64_t seed_failures;  /* pulls the entropy pipeline refused */
    uint64_t full_blocks;    /* full-entropy output blocks produced */
    uint64_t full_seed_bytes; /* QRNG bytes consumed by the full-entropy chain */
    uint64_t bytes_out;      /* bytes returned by qt_drbg_generate */
};

/* Snapshot of the counters (tests, status, bench). */
void qt_drbg_counters(struct qt_drbg *d, struct qt_drbg_counters *out);

/* Full-entropy QRNG bytes the calling thread has pulled into any DRBG so far:
 * the difference around qt_drbg_reseed is what that reseed drew (OpenSSL
 * pulls seeds in the thread that asked). */
uint64_t qt_drbg_thread_seed_bytes(void);

/* NULL-safe. Frees the libctx. */
void qt_drbg_free(struct qt_drbg *d);

#endif
