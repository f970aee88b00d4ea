/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The health-gated entropy pipeline: device -> SP 800-90B health tests ->
 * online min-entropy estimate -> extractor (Toeplitz or SHA-256) -> full
 * entropy bytes.  Fail closed: after any failure no bit derived from the
 * failed block leaves, the pipeline stays in ERROR until a fresh start-up
 * test passes (automatic retries per config), never a fallback source.
 *
 * Thread-safe: every call takes the pipeline's own mutex.
 * Fork: a child process must not reuse a pipeline created by its parent;
 * qt_ent_pipeline_get_entropy detects a changed pid and re-opens the device
 * and re-runs the start-up test first.
 */
#ifndef QT_ENTROPY_ENT_H
#define QT_ENTROPY_ENT_H

#include <stddef.h>
#include <stdint.h>
#include "../common/conf.h"
#include "../common/err.h"

struct qt_ent_pipeline;

/* Which test failed (for selftest reports, stats, attestation). */
enum qt_ent_test {
    QT_ENT_TEST_NONE = 0,
    QT_ENT_TEST_RCT,          /* repetition count */
    QT_ENT_TEST_APT,          /* adaptive proportion */
    QT_ENT_TEST_BLOCK_REPEAT, /* replayed buffer */
    QT_ENT_TEST_ESTIMATE,     /* online min-entropy estimate below declared H - margin */
    QT_ENT_TEST_STARTUP,      /* (start-up test failed in one of the above) */
    QT_ENT_TEST_READ,         /* device read error / timeout */
};
const char *qt_ent_test_name(enum qt_ent_test t); /* "rct", "apt", "block-repeat", ... */

struct qt_ent_failure {
    enum qt_ent_test test;
    uint64_t sample_index;    /* raw sample index (0-based, since device open) */
    qt_rc rc;                 /* QT_E_HEALTH or the device error */
    char detail[160];
};

struct qt_ent_stats {
    uint64_t raw_samples;
    uint64_t bits_extracted;
    uint64_t bits_served;
    uint64_t failures_rct, failures_apt, failures_block_repeat, failures_estimate, failures_read;
    uint64_t startup_runs;
    uint64_t reseeds;         /* filled by the DRBG layer */
    double h_declared;
    double h_estimate;        /* current online estimate (min of estimators), bits/sample */
    int state;                /* 0 ok, 1 error */
};

/* Creates the pipeline for device spec `spec` with parameters from conf
 * (alpha, epsilon, extractor, retries, margin, window).  The Toeplitz seed is
 * read from (or created in) conf's installation directory, per device serial.
 * Runs the start-up test before returning QT_OK. */
qt_rc qt_ent_pipeline_new(const char *spec, const struct qt_conf *conf,
                          struct qt_ent_pipeline **out) QT_MUST_CHECK;

/* Writes n full-entropy bytes (extractor output) into out.  On any failure
 * returns QT_E_HEALTH (or the device error) and out holds nothing derived
 * from the failed block (it is wiped). */
qt_rc qt_ent_pipeline_get_entropy(struct qt_ent_pipeline *p, uint8_t *out,
                                  size_t n) QT_MUST_CHECK;

/* Reads and health-tests `samples` raw samples (after a fresh start-up test)
 * without producing output.  QT_E_HEALTH with *fail filled on failure. */
qt_rc qt_ent_pipeline_selftest(struct qt_ent_pipeline *p, uint64_t samples,
                               struct qt_ent_failure *fail) QT_MUST_CHECK;

/* Last failure (test NONE if none). */
void qt_ent_pipeline_last_failure(struct qt_ent_pipeline *p, struct qt_ent_failure *out);
void qt_ent_pipeline_stats(struct qt_ent_pipeline *p, struct qt_ent_stats *out);
/* Device info of the underlying device. */
struct qt_dev_info;
void qt_ent_pipeline_dev_info(struct qt_ent_pipeline *p, struct qt_dev_info *out);
/* Counts a DRBG reseed in the stats (called by src/drbg). */
void qt_ent_pipeline_note_reseed(struct qt_ent_pipeline *p);
void qt_ent_pipeline_note_served(struct qt_ent_pipeline *p, uint64_t bits);

/* NULL-safe; wipes internal buffers. */
void qt_ent_pipeline_free(struct qt_ent_pipeline *p);

#endif
