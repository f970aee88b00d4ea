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
    QT_ENT_TEST_STARTUP,      /* (not reported: a start-up failure names the test that
                               * fired, its detail starts with "start-up: ") */
    QT_ENT_TEST_READ,         /* device read error / timeout */
    QT_ENT_TEST_DRIFT,        /* block mean moved away from the start-up reference */
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
    uint64_t failures_drift;
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

/* Maximum age of released-but-unused output for ordinary requests
 * (get_entropy): output of a window judged longer ago than this is discarded
 * (wiped) and a new window is read first.  So a device that died is noticed
 * within this time by any request, e.g. the DRBG's periodic reseeds. */
#define QT_ENT_MAX_AGE_MS 10000

/* Like get_entropy, but from fresh samples (prediction resistance, key
 * generation): everything buffered is discarded (wiped), then only as many
 * new samples as the n bytes need, and at least params.fresh_samples
 * (rounded up to whole extractor blocks of params.block_samples; at most
 * one window per round), are read from the device, each through the
 * continuous health tests (RCT, APT, block-repeat, drift) and into the
 * estimator's current window, and the n bytes are extracted from them
 * alone; their unused rest is wiped too.  The estimator's verdict on the
 * window they belong to applies to the source from that window's end (a
 * failing verdict fails it as for any window).  Fails closed like a window
 * (QT_E_HEALTH or the device error; a device dead or stuck since the last
 * read fails here, nothing is written). */
qt_rc qt_ent_pipeline_get_fresh(struct qt_ent_pipeline *p, uint8_t *out,
                                size_t n) QT_MUST_CHECK;

/* The least new samples a get_fresh/refresh reads is params.fresh_samples
 * ([entropy] fresh_samples, default QT_CONF_FRESH_SAMPLES = 1024: two APT
 * windows, so every draw holds one complete adaptive-proportion window as
 * well as whole RCT runs).  The drift monitor's and the estimator's
 * verdicts (4096- and 65536-sample blocks) apply to the source from their
 * block's end, like the estimator's always did.  Cost of a key generation's
 * reseed: this many device reads and tests (~4.5 us at the default on the
 * sim device). */

/* get_fresh without output: discards the buffered output (wiped) and reads
 * params.fresh_samples new samples through the continuous tests (then
 * wiped): a liveness check of the device.  The next get_entropy reads a
 * new window.  Same failures as get_fresh. */
qt_rc qt_ent_pipeline_refresh(struct qt_ent_pipeline *p) QT_MUST_CHECK;

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
/* 1 while the pipeline is not in its error state (no lock: the DRBG's
 * per-request check).  A READY pipeline may still fail its next read. */
int qt_ent_pipeline_ready(struct qt_ent_pipeline *p);

/* NULL-safe; wipes internal buffers. */
void qt_ent_pipeline_free(struct qt_ent_pipeline *p);

/* ---- additions (entropy room) ------------------------------------------------------------- */

/* Everything derived from the declared H and conf: for `qtoken device info`,
 * attestation evidence and the closing note. */
struct qt_ent_params {
    unsigned bits;               /* sample width */
    double h_declared;           /* bits/sample */
    unsigned alpha_log2;         /* false-alarm rate 2^-alpha_log2 per test decision */
    unsigned rct_cutoff;         /* a run of this many identical samples fails */
    unsigned apt_window;         /* 512, or 1024 for binary samples */
    unsigned apt_cutoff;         /* this many copies of a window's first sample fail */
    unsigned repeat_chunk;       /* block-repeat: samples per hashed chunk (64) */
    unsigned repeat_run;         /* ... fail after this many consecutive repeated chunks */
    unsigned repeat_history;     /* ... remembered samples (65536) */
    unsigned drift_block;        /* drift monitor: samples per block mean (4096) */
    double drift_k;              /* ... fail when |block mean - start-up reference mean| >
                                  * drift_k * sqrt(2 var_ref / drift_block) */
    double drift_var_floor;      /* ... var_ref is taken as at least (2^(2H) - 1) / 12 */
    size_t window;               /* estimator window = release unit (samples) */
    size_t fresh_samples;        /* least new samples a fresh draw reads: conf fresh_samples,
                                  * at least 2 APT windows, whole extractor blocks, at most
                                  * a window */
    uint64_t startup_samples;    /* samples tested before the first output (one window) */
    double estimate_floor;       /* fail when a window's estimate < this: h_declared -
                                  * min(margin, h_declared / 2) */
    enum qt_extractor_kind extractor;
    size_t block_samples;        /* raw samples per extractor block */
    size_t block_out_bits;       /* output bits per block */
    double extractor_ratio;      /* output bits per raw input bit */
    unsigned epsilon_log2;       /* Toeplitz: statistical distance 2^-epsilon_log2 */
};

/* Parameters for a device of `bits` bits declaring h, under conf.
 * QT_E_CONFIG when h is unusable (too low for the tests/extractor). */
qt_rc qt_ent_params_compute(const struct qt_conf *conf, unsigned bits, double h,
                            struct qt_ent_params *out) QT_MUST_CHECK;
void qt_ent_pipeline_params(struct qt_ent_pipeline *p, struct qt_ent_params *out);

struct qt_ent_opts {
    int read_timeout_ms;   /* bound on each device read; 0 = 2000 */
    int defer_startup;     /* 1: _new_ex does not run the start-up test; the first
                            * get_entropy/selftest does */
    int max_age_ms;        /* released output older than this is discarded;
                            * 0 = QT_ENT_MAX_AGE_MS (tests use less) */
};

/* qt_ent_pipeline_new with options; on failure of the start-up test *fail
 * (if non-NULL) says which test fired at which raw sample (or the device
 * error) and *out stays NULL.  opts may be NULL (defaults). */
qt_rc qt_ent_pipeline_new_ex(const char *spec, const struct qt_conf *conf,
                             const struct qt_ent_opts *opts, struct qt_ent_pipeline **out,
                             struct qt_ent_failure *fail) QT_MUST_CHECK;

/* Latest window's estimator figures (0 before the first window). */
struct qt_ent_estimate_info {
    double h_mcv, h_pred, h;     /* bits/sample; h = min */
    uint64_t windows;            /* windows judged since creation */
};
void qt_ent_pipeline_estimate(struct qt_ent_pipeline *p, struct qt_ent_estimate_info *out);

/* Host-wide counters from the shared stats file <installation dir>/stats
 * (summed over every process that used a pipeline with this conf's store).
 * QT_E_NOTFOUND when no process has created it yet (out zeroed). For
 * `qtoken status` and the metrics exporter. */
qt_rc qt_ent_stats_read(const struct qt_conf *conf, struct qt_ent_stats *out) QT_MUST_CHECK;

#endif
