/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Continuous health tests on raw samples (NIST SP 800-90B section 4.4):
 * Repetition Count Test, Adaptive Proportion Test, plus a block-repeat
 * detector for a device that replays a buffer (which passes RCT and APT)
 * and a bias (mean-drift) monitor for a slowly moving DC offset (which
 * passes all three until the distribution has shifted far).
 *
 * Cutoffs come from the declared min-entropy H per sample and the false
 * alarm rate alpha = 2^-alpha_log2.  A failure is sticky: every later call
 * returns QT_E_HEALTH until qt_ent_health_reset (which the pipeline calls
 * only for a fresh start-up test).
 */
#ifndef QT_ENTROPY_ENT_HEALTH_H
#define QT_ENTROPY_ENT_HEALTH_H

#include <stddef.h>
#include <stdint.h>
#include "ent.h"

#define QT_ENT_REPEAT_CHUNK 64u       /* samples per hashed chunk (at least) */
#define QT_ENT_REPEAT_CHUNK_MAX 4096u /* ... at most (a power of two) */
#define QT_ENT_REPEAT_HISTORY 65536u  /* samples of history the detector remembers */
#define QT_ENT_DRIFT_BLOCK 4096u      /* drift monitor: samples per block mean */
#define QT_ENT_DRIFT_BLOCK_MAX 65536u /* ... at most (the block sum stays in 32 bits) */
#define QT_ENT_DRIFT_K 8.0            /* ... cutoff in standard errors of the difference */

struct qt_ent_health_cfg {
    unsigned rct_cutoff;     /* C: a run of C identical samples fails */
    unsigned apt_window;     /* W: 512 (non-binary) or 1024 (binary) */
    unsigned apt_cutoff;     /* C: C occurrences of the window's first value fail */
    unsigned repeat_chunk;   /* 64, more (power of two) for H < 0.5: >= 32 bits per chunk */
    unsigned repeat_run;     /* K: K consecutive chunks seen before fail */
    unsigned repeat_history; /* QT_ENT_REPEAT_HISTORY */
    unsigned drift_block;    /* B: samples per block mean (QT_ENT_DRIFT_BLOCK) */
    double drift_k;          /* k: fail when |mean - mean_ref| > k sqrt(2 var_ref / B) */
    double drift_var_floor;  /* var_ref used is at least this: (2^(2H) - 1) / 12 */
};

/* Cutoffs for declared H (0 < H <= bits), sample width bits (1..16) and
 * alpha = 2^-alpha_log2 (1..64).  QT_E_CONFIG when H is too low for the
 * block-repeat detector (H < 32 / 4096 bits per sample). */
qt_rc qt_ent_health_cutoffs(double h, unsigned bits, unsigned alpha_log2,
                            struct qt_ent_health_cfg *out) QT_MUST_CHECK;

/* The two cutoff formulas on their own (unit tests, `device info`). */
unsigned qt_ent_health_rct_cutoff(double h, unsigned alpha_log2);
unsigned qt_ent_health_apt_cutoff(double h, unsigned window, unsigned alpha_log2);

/* Drift monitor cutoff on block sums: a block whose sum differs from the
 * reference block's sum `sum` by more than the returned value fails.  sum
 * and sumsq are the sum and sum of squares of the reference block's
 * cfg->drift_block samples: floor(k sqrt(2 B max(var_ref, var_floor))),
 * var_ref = (B sumsq - sum^2) / B^2. */
uint64_t qt_ent_health_drift_cutoff(const struct qt_ent_health_cfg *cfg, uint64_t sum,
                                    uint64_t sumsq);

struct qt_ent_health;

qt_rc qt_ent_health_new(const struct qt_ent_health_cfg *cfg,
                        struct qt_ent_health **out) QT_MUST_CHECK;

/* Forgets all state (runs, windows, chunk history, failure); the next
 * sample gets raw index first_index. */
void qt_ent_health_reset(struct qt_ent_health *h, uint64_t first_index);

/* Tests n samples in order.  QT_OK when all passed; QT_E_HEALTH with *fail
 * filled (test, raw index of the sample at which the test fired, detail)
 * for the earliest failing sample.  Sticky. */
qt_rc qt_ent_health_run(struct qt_ent_health *h, const uint16_t *s, size_t n,
                        struct qt_ent_failure *fail) QT_MUST_CHECK;

/* Samples tested since the last reset. */
uint64_t qt_ent_health_count(const struct qt_ent_health *h);

/* NULL-safe. */
void qt_ent_health_free(struct qt_ent_health *h);

#endif
