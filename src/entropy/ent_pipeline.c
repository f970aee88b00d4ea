/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The entropy pipeline: device -> health tests -> estimator -> extractor.
 *
 * Theory of operation.  Raw samples are read one estimator window at a time
 * (conf `window`, default 65536 samples) into a locked buffer.  Every sample
 * goes through RCT, APT, the block-repeat detector and the drift monitor
 * (4096-sample block means against the start-up test's first block) as it
 * arrives; when
 * the window is complete the estimator judges it.  Only then is the window
 * "released": the extractor turns it, block by block, into output.  So a
 * block is extracted only after all of its samples passed every test,
 * including the estimator's verdict on the whole window around them.  The
 * start-up test is the first window after creation, a retry or a fork
 * (>= 1024 samples and whole APT windows through every test).
 *
 * Failure (fail closed): the state goes to ERROR first; the window, the
 * current output block and the caller's partial output are wiped; the
 * failure (test, raw sample index, detail) is recorded and counted.  With
 * retries left (conf `retries`, a budget over the pipeline's life) the
 * pipeline re-opens the device (after a read error) or carries on reading
 * (after a test failure), runs a fresh start-up test and sets READY last;
 * otherwise it stays in ERROR and every call returns QT_E_HEALTH until
 * freed.  No other source is ever used.
 *
 * Buffering: at most one extracted block of output (wiped as it is handed
 * out) and the raw samples of one released window (wiped after use).
 * Released output has a maximum age (QT_ENT_MAX_AGE_MS, 10 s, from the
 * moment its window was judged): an ordinary request that finds older
 * output discards it (wiped) and reads a new window, so a device that died
 * after the last window is noticed by the DRBG's periodic reseeds within
 * that time, however little entropy is being drawn.
 *
 * Fresh entropy (qt_ent_pipeline_get_fresh, qt_ent_pipeline_refresh: the
 * prediction-resistance reseeds of key generation and the DRBG's periodic
 * reseed).  Under the one lock: the buffered output (released window and
 * current block) is wiped first; then only the new samples the request
 * needs are read, at least params.fresh_samples (conf fresh_samples,
 * default 1024: two APT windows; rounded up to whole extractor blocks; one
 * window at most per round), all read after the call started.  Each goes through RCT, APT,
 * block-repeat and drift as it arrives, and into the estimator's current
 * window; output is extracted from these samples alone and their unused
 * rest is wiped, never served later.  A device that died or stuck since the
 * last read therefore fails the draw (QT_E_HEALTH or the device error)
 * instead of being served from samples read earlier.
 * The guarantees differ by kind of draw:
 *  - ordinary output (get_entropy) still waits for the estimator's verdict
 *    on the whole window around its samples, as above;
 *  - a fresh draw is gated by the continuous tests only, like the output of
 *    every SP 800-90B source (4.4: the continuous tests run on every sample
 *    before it is used).  The estimator still sees its samples: the window
 *    they join is judged when it is complete (by the fresh draw that fills
 *    it, or by the next window read with them), and a failing verdict
 *    fails the source from that window's end, as for any window, with the
 *    usual fail-closed steps.  Output already handed out from that window's
 *    fresh samples is not recalled: the estimator is the source's long-term
 *    check, the continuous tests are the per-sample gate.
 * The drift monitor is a long-term check too: its 4096-sample blocks span
 * several draws, and a drift verdict fails the source from its block's
 * end.  (Until 2026-11 every draw read 8192 samples, two drift blocks, so
 * that each spanned a drift verdict; that cost ~45 us per key, more than
 * an EC key generation itself.)
 * Costs params.fresh_samples reads per key instead of a window.  Bits
 * are never reused either way: every byte handed out is wiped from the
 * buffers.
 * Fork: the creating pid is recorded; a child drops everything buffered,
 * re-opens the device and runs a start-up test before any output.  (A sim
 * device with a fixed seed= restarts its sequence when re-opened; with the
 * default OS seed it does not.)
 */
#include "ent.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../device/dev.h"
#include "../common/check.h"
#include "../common/log.h"
#include "../common/mem.h"
#include "../common/osrand.h"
#include "ent_estimate.h"
#include "ent_extract.h"
#include "ent_health.h"
#include "ent_seed.h"
#include "ent_stats.h"

#define DEFAULT_TIMEOUT_MS 2000
#define READ_CHUNK 8192u

enum { STATE_READY = 0, STATE_ERROR = 1 };

struct qt_ent_pipeline {
    pthread_mutex_t mu;
    char spec[QT_CONF_STR];
    struct qt_ent_opts opts;
    pid_t pid;
    struct qt_dev *dev;
    struct qt_dev_info info;
    struct qt_ent_params params;
    struct qt_ent_extract_geom geom;
    struct qt_ent_health *health;
    struct qt_ent_estimate *est;
    struct qt_ent_extractor *x;
    uint16_t *win;          /* params.window samples, secret memory */
    size_t win_avail;       /* released samples in win (0 or window) */
    size_t win_pos;         /* next released sample to extract */
    size_t win_dirty;       /* leading samples of win that may hold data */
    uint8_t *blk;           /* one extracted block, secret memory */
    size_t blk_len, blk_pos;
    int64_t released_ms;    /* monotonic time the buffered window was released */
    int64_t max_age_ms;     /* released output older than this is discarded */
    uint64_t dev_index;     /* samples read since the device was opened */
    size_t est_pending;     /* samples in the estimator's current (unjudged) window */
    int state;
    int started;            /* a start-up test has passed since the last (re)open/reset */
    unsigned retries_left;
    struct qt_ent_failure last;
    struct qt_ent_stats local;
    atomic_int astate;      /* state, readable without the lock (set with it) */
    atomic_uint_fast64_t served; /* local.bits_served, counted without the lock */
    struct qt_ent_estimate_info estimate;
    struct qt_ent_stats_map *stats;
};

const char *
qt_ent_test_name(enum qt_ent_test t)
{
    switch (t) {
    case QT_ENT_TEST_NONE:
        return "none";
    case QT_ENT_TEST_RCT:
        return "rct";
    case QT_ENT_TEST_APT:
        return "apt";
    case QT_ENT_TEST_BLOCK_REPEAT:
        return "block-repeat";
    case QT_ENT_TEST_ESTIMATE:
        return "estimate";
    case QT_ENT_TEST_STARTUP:
        return "startup";
    case QT_ENT_TEST_READ:
        return "read";
    case QT_ENT_TEST_DRIFT:
        return "drift";
    }
    return "unknown";
}

qt_rc
qt_ent_params_compute(const struct qt_conf *conf, unsigned bits, double h,
                      struct qt_ent_params *out)
{
    struct qt_ent_health_cfg hc;
    struct qt_ent_extract_geom g;

    QT_ENSURE(conf != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(bits >= 1 && bits <= 16 && h > 0.0 && h <= (double)bits, QT_E_CONFIG);
    QT_TRY(qt_ent_health_cutoffs(h, bits, conf->alpha_log2, &hc));
    QT_TRY(qt_ent_extract_geometry(conf->extractor, bits, h, conf->epsilon_log2, &g));
    memset(out, 0, sizeof(*out));
    out->bits = bits;
    out->h_declared = h;
    out->alpha_log2 = conf->alpha_log2;
    out->rct_cutoff = hc.rct_cutoff;
    out->apt_window = hc.apt_window;
    out->apt_cutoff = hc.apt_cutoff;
    out->repeat_chunk = hc.repeat_chunk;
    out->repeat_run = hc.repeat_run;
    out->repeat_history = hc.repeat_history;
    out->drift_block = hc.drift_block;
    out->drift_k = hc.drift_k;
    out->drift_var_floor = hc.drift_var_floor;
    out->window = conf->window < 1024 ? 1024 : (conf->window + 1023) / 1024 * 1024;
    QT_ENSURE(out->window >= g.n_samples, QT_E_CONFIG);
    out->startup_samples = out->window;
    /* H - margin; for a low H the margin is capped at H / 2 so the floor
     * stays meaningful (a 0.5-bit margin under H = 0.1 would never fire) */
    out->estimate_floor = h - fmin(conf->estimate_margin, h / 2.0);
    out->extractor = conf->extractor;
    out->block_samples = g.n_samples;
    out->fresh_samples = conf->fresh_samples > 2u * hc.apt_window ? conf->fresh_samples
                                                                   : 2u * hc.apt_window;
    out->fresh_samples = (out->fresh_samples + g.n_samples - 1) / g.n_samples * g.n_samples;
    if (out->fresh_samples > out->window) {
        out->fresh_samples = out->window / g.n_samples * g.n_samples;
    }
    out->block_out_bits = g.out_bits;
    out->extractor_ratio = (double)g.out_bits / (double)g.in_bits;
    out->epsilon_log2 = conf->epsilon_log2;
    return QT_OK;
}

/* ---- failure and recovery ----------------------------------------------------------------- */

static int64_t
now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
drop_buffers(struct qt_ent_pipeline *p)
{
    /* only what was written since the last wipe: a fresh draw fills a
     * fraction of the window, and wiping all of it cost as much as the draw */
    qt_wipe(p->win, p->win_dirty * sizeof(*p->win));
    p->win_dirty = 0;
    qt_wipe(p->blk, p->blk_len);
    p->win_avail = 0;
    p->win_pos = 0;
    p->blk_pos = p->blk_len;
}

static void
count_failure(struct qt_ent_pipeline *p, enum qt_ent_test t)
{
    static const struct {
        enum qt_ent_test t;
        enum qt_ent_counter c;
    } map[] = {
        {QT_ENT_TEST_RCT, QT_ENT_C_FAIL_RCT},
        {QT_ENT_TEST_APT, QT_ENT_C_FAIL_APT},
        {QT_ENT_TEST_BLOCK_REPEAT, QT_ENT_C_FAIL_BLOCK_REPEAT},
        {QT_ENT_TEST_ESTIMATE, QT_ENT_C_FAIL_ESTIMATE},
        {QT_ENT_TEST_READ, QT_ENT_C_FAIL_READ},
        {QT_ENT_TEST_DRIFT, QT_ENT_C_FAIL_DRIFT},
    };
    for (size_t i = 0; i < QT_ARRAY_LEN(map); i++) {
        if (map[i].t == t) {
            qt_ent_stats_add(p->stats, map[i].c, 1);
        }
    }
    p->local.failures_rct += t == QT_ENT_TEST_RCT;
    p->local.failures_apt += t == QT_ENT_TEST_APT;
    p->local.failures_block_repeat += t == QT_ENT_TEST_BLOCK_REPEAT;
    p->local.failures_estimate += t == QT_ENT_TEST_ESTIMATE;
    p->local.failures_read += t == QT_ENT_TEST_READ;
    p->local.failures_drift += t == QT_ENT_TEST_DRIFT;
}

/* ERROR first, then wipe, record and count. */
static void
fail(struct qt_ent_pipeline *p, const struct qt_ent_failure *f)
{
    p->state = STATE_ERROR;
    atomic_store(&p->astate, STATE_ERROR);
    p->local.state = STATE_ERROR;
    qt_ent_stats_set_state(p->stats, STATE_ERROR);
    drop_buffers(p);
    p->last = *f;
    if (!p->started) {
        static const char pre[] = "start-up: ";
        size_t room = sizeof(p->last.detail) - sizeof(pre);
        size_t n = strnlen(f->detail, sizeof(f->detail));
        n = n < room ? n : room;
        memcpy(p->last.detail, pre, sizeof(pre) - 1);
        memcpy(p->last.detail + sizeof(pre) - 1, f->detail, n);
        p->last.detail[sizeof(pre) - 1 + n] = '\0';
    }
    count_failure(p, f->test);
    qt_log(QT_LOG_ERROR, "entropy source %s failed %s at raw sample %llu: %s", p->info.serial,
           qt_ent_test_name(f->test), (unsigned long long)f->sample_index, p->last.detail);
}

static void
read_failure(struct qt_ent_pipeline *p, qt_rc rc)
{
    struct qt_ent_failure f;

    memset(&f, 0, sizeof(f));
    f.test = QT_ENT_TEST_READ;
    f.sample_index = p->dev_index;
    f.rc = rc;
    (void)snprintf(f.detail, sizeof(f.detail), "device read failed: %s", qt_rc_str(rc));
    fail(p, &f);
}

/* ---- reading and testing ------------------------------------------------------------------- */

/* Reads n raw samples into dst, each through the continuous health tests
 * and into the estimator's current window.  Fails p (ERROR first) on a read
 * error or a test failure. */
static qt_rc
read_tested(struct qt_ent_pipeline *p, uint16_t *dst, size_t n)
{
    struct qt_ent_failure f;
    size_t have = 0;
    qt_rc rc;

    while (have < n) {
        size_t want = n - have < READ_CHUNK ? n - have : READ_CHUNK, got = 0;
        rc = p->dev->ops->read(p->dev, dst + have, want, &got, p->opts.read_timeout_ms);
        if (rc == QT_OK && (got == 0 || got > want)) {
            rc = QT_E_DEVICE;
        }
        if (rc != QT_OK) {
            read_failure(p, rc);
            return rc;
        }
        p->dev_index += got;
        p->local.raw_samples += got;
        qt_ent_stats_add(p->stats, QT_ENT_C_RAW_SAMPLES, got);
        if (qt_ent_health_run(p->health, dst + have, got, &f) != QT_OK) {
            fail(p, &f);
            return QT_E_HEALTH;
        }
        qt_ent_estimate_add(p->est, dst + have, got);
        p->est_pending += got;
        have += got;
    }
    return QT_OK;
}

/* The estimator's verdict on its current window (every sample added since
 * the last verdict, ending at the newest one); a new window starts.  Fails
 * p when the estimate is below the floor. */
static qt_rc
judge(struct qt_ent_pipeline *p)
{
    struct qt_ent_estimate_result r;
    struct qt_ent_failure f;
    size_t n = p->est_pending;

    qt_ent_estimate_finish(p->est, &r);
    p->est_pending = 0;
    p->estimate.h_mcv = r.h_mcv;
    p->estimate.h_pred = r.h_pred;
    p->estimate.h = r.h;
    p->estimate.windows++;
    p->local.h_estimate = r.h;
    qt_ent_stats_set_h(p->stats, p->params.h_declared, r.h);
    if (r.h < p->params.estimate_floor) {
        memset(&f, 0, sizeof(f));
        f.test = QT_ENT_TEST_ESTIMATE;
        f.sample_index = p->dev_index - 1;
        f.rc = QT_E_HEALTH;
        (void)snprintf(f.detail, sizeof(f.detail),
                       "window of %zu samples ending here: estimate %.3f bits/sample (mcv %.3f, "
                       "lag-1 predictor %.3f) < %.3f - %.3f",
                       n, r.h, r.h_mcv, r.h_pred, p->params.h_declared,
                       p->params.h_declared - p->params.estimate_floor);
        fail(p, &f);
        return QT_E_HEALTH;
    }
    return QT_OK;
}

/* Reads, tests and judges one window (the estimator's window also holds the
 * fresh samples read since its last verdict).  On QT_OK the window is
 * released. */
static qt_rc
fill_window(struct qt_ent_pipeline *p)
{
    qt_rc rc;

    p->win_avail = 0;
    p->win_pos = 0;
    p->win_dirty = p->params.window;
    if ((rc = read_tested(p, p->win, p->params.window)) != QT_OK ||
        (rc = judge(p)) != QT_OK) {
        return rc;
    }
    p->win_avail = p->params.window;
    p->released_ms = now_ms();
    return QT_OK;
}

/* A prediction-resistance draw: n bytes (n == 0: none) extracted only from
 * samples read now, at least params.fresh_samples of them (at most one
 * window per round), each through the continuous tests.  Buffered output is
 * wiped first and the fresh leftover after: ordinary requests never see
 * either.  When the estimator's window fills up meanwhile it is judged here. */
static qt_rc
serve_fresh(struct qt_ent_pipeline *p, uint8_t *out, size_t n)
{
    const size_t blk_bytes = p->geom.out_bits / 8;
    const size_t ns = p->geom.n_samples;
    const size_t max_blocks = p->params.window / ns;
    const size_t min_blocks = p->params.fresh_samples / ns;
    size_t done = 0;
    qt_rc rc = QT_OK;

    drop_buffers(p);
    do {
        size_t blocks = (n - done + blk_bytes - 1) / blk_bytes;
        blocks = blocks < min_blocks ? min_blocks : blocks;
        blocks = blocks > max_blocks ? max_blocks : blocks;
        p->win_dirty = blocks * ns > p->win_dirty ? blocks * ns : p->win_dirty;
        if ((rc = read_tested(p, p->win, blocks * ns)) != QT_OK ||
            (p->est_pending >= p->params.window && (rc = judge(p)) != QT_OK)) {
            goto out;
        }
        for (size_t b = 0; b < blocks && done < n; b++) {
            const uint16_t *in = p->win + b * ns;
            size_t k = blk_bytes < n - done ? blk_bytes : n - done;
            /* only the k bytes handed out are computed (a reseed needs 48
             * of a Toeplitz block's 384) */
            if ((rc = qt_ent_extractor_run_prefix(p->x, in, p->blk, k)) != QT_OK) {
                goto out;
            }
            p->local.bits_extracted += 8 * k;
            qt_ent_stats_add(p->stats, QT_ENT_C_BITS_EXTRACTED, 8 * k);
            memcpy(out + done, p->blk, k);
            done += k;
            qt_wipe(p->blk, p->blk_len);
        }
    } while (done < n);
out:
    drop_buffers(p);
    if (rc != QT_OK) {
        qt_wipe(out, n);
    }
    return rc;
}

/* Fresh start-up test: all test state forgotten, one full window judged. */
static qt_rc
startup(struct qt_ent_pipeline *p)
{
    qt_rc rc;

    drop_buffers(p);
    p->started = 0;
    qt_ent_health_reset(p->health, p->dev_index);
    qt_ent_estimate_reset(p->est);
    p->est_pending = 0;
    p->local.startup_runs++;
    qt_ent_stats_add(p->stats, QT_ENT_C_STARTUP_RUNS, 1);
    if ((rc = fill_window(p)) != QT_OK) {
        return rc;
    }
    p->started = 1;
    return QT_OK;
}

static qt_rc
open_device(struct qt_ent_pipeline *p)
{
    struct qt_dev_info info;
    qt_rc rc;

    qt_dev_close(p->dev);
    p->dev = NULL;
    p->dev_index = 0;
    p->started = 0;
    if ((rc = qt_dev_open(p->spec, &p->dev)) != QT_OK) {
        return rc;
    }
    qt_dev_info(p->dev, &info);
    if (strcmp(info.serial, p->info.serial) != 0 || info.bits != p->info.bits ||
        info.h_declared != p->info.h_declared) {
        qt_log(QT_LOG_ERROR, "entropy device changed identity on re-open");
        return QT_E_DEVICE;
    }
    return QT_OK;
}

/* After a failure: spend retries until a start-up test passes. READY last. */
static qt_rc
recover(struct qt_ent_pipeline *p)
{
    while (p->retries_left > 0) {
        qt_rc rc = QT_OK;
        p->retries_left--;
        if (p->last.test == QT_ENT_TEST_READ) {
            rc = open_device(p);
            if (rc != QT_OK) {
                read_failure(p, rc);
                continue;
            }
        }
        if (startup(p) == QT_OK) {
            p->state = STATE_READY;
            p->local.state = STATE_READY;
            atomic_store(&p->astate, STATE_READY);
            qt_ent_stats_set_state(p->stats, STATE_READY);
            qt_log(QT_LOG_WARN, "entropy source %s recovered after a fresh start-up test",
                   p->info.serial);
            return QT_OK;
        }
    }
    return QT_E_HEALTH;
}

/* A child of the process that created p: nothing of the parent's is used. */
static qt_rc
check_fork(struct qt_ent_pipeline *p)
{
    pid_t now = getpid();
    qt_rc rc;

    if (now == p->pid) {
        return QT_OK;
    }
    p->pid = now;
    drop_buffers(p);
    if (p->state != STATE_READY) {
        return QT_E_HEALTH;
    }
    if ((rc = open_device(p)) != QT_OK) {
        read_failure(p, rc);
        return rc;
    }
    return startup(p);
}

/* ---- public API ----------------------------------------------------------------------------- */

static qt_rc
load_seed(struct qt_ent_pipeline *p, const struct qt_conf *conf, uint8_t *seed)
{
    static atomic_int warned;
    qt_rc rc = qt_ent_seed_load(conf, p->info.serial, seed, QT_ENT_SEED_BYTES);

    if (rc == QT_E_IO) {
        /* An unusable installation dir: a fresh OS-random seed is still a
         * valid extractor seed (public, independent of the source); only the
         * stability of the mapping is lost. */
        if (atomic_exchange(&warned, 1) == 0) {
            qt_log(QT_LOG_WARN, "cannot store the Toeplitz seed in %s: using a per-process seed",
                   conf->store_path);
        }
        rc = qt_os_random(seed, QT_ENT_SEED_BYTES);
    }
    return rc;
}

qt_rc
qt_ent_pipeline_new_ex(const char *spec, const struct qt_conf *conf,
                       const struct qt_ent_opts *opts, struct qt_ent_pipeline **out,
                       struct qt_ent_failure *fail_out)
{
    struct qt_ent_pipeline *p;
    struct qt_ent_health_cfg hc;
    uint8_t *seed = NULL;
    qt_rc rc = QT_E_NOMEM;

    QT_ENSURE(spec != NULL && conf != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(strlen(spec) < QT_CONF_STR, QT_E_CONFIG);
    *out = NULL;
    if (fail_out != NULL) {
        memset(fail_out, 0, sizeof(*fail_out));
    }
    p = calloc(1, sizeof(*p));
    QT_ENSURE(p != NULL, QT_E_NOMEM);
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return QT_E_NOMEM;
    }
    memcpy(p->spec, spec, strlen(spec) + 1);
    if (opts != NULL) {
        p->opts = *opts;
    }
    if (p->opts.read_timeout_ms <= 0) {
        p->opts.read_timeout_ms = DEFAULT_TIMEOUT_MS;
    }
    p->max_age_ms = p->opts.max_age_ms > 0 ? p->opts.max_age_ms : QT_ENT_MAX_AGE_MS;
    p->pid = getpid();
    p->retries_left = conf->retries;
    if ((rc = qt_dev_open(spec, &p->dev)) != QT_OK) {
        goto out;
    }
    qt_dev_info(p->dev, &p->info);
    if ((rc = qt_ent_params_compute(conf, p->info.bits, p->info.h_declared, &p->params)) !=
        QT_OK) {
        goto out;
    }
    if ((rc = qt_ent_extract_geometry(conf->extractor, p->info.bits, p->info.h_declared,
                                      conf->epsilon_log2, &p->geom)) != QT_OK ||
        (rc = qt_ent_health_cutoffs(p->info.h_declared, p->info.bits, conf->alpha_log2, &hc)) !=
            QT_OK ||
        (rc = qt_ent_health_new(&hc, &p->health)) != QT_OK ||
        (rc = qt_ent_estimate_new(p->info.bits, &p->est)) != QT_OK ||
        (rc = qt_ent_stats_open(conf, &p->stats)) != QT_OK) {
        goto out;
    }
    if (conf->extractor == QT_EXTRACTOR_TOEPLITZ) {
        rc = QT_E_NOMEM;
        if ((seed = malloc(QT_ENT_SEED_BYTES)) == NULL ||
            (rc = load_seed(p, conf, seed)) != QT_OK) {
            goto out;
        }
    }
    if ((rc = qt_ent_extractor_new(&p->geom, seed, seed == NULL ? 0 : QT_ENT_SEED_BYTES,
                                   &p->x)) != QT_OK) {
        goto out;
    }
    rc = QT_E_NOMEM;
    p->win = qt_secret_alloc(p->params.window * sizeof(*p->win));
    p->blk_len = p->geom.out_bits / 8;
    p->blk = qt_secret_alloc(p->blk_len);
    if (p->win == NULL || p->blk == NULL) {
        goto out;
    }
    p->blk_pos = p->blk_len;
    p->local.h_declared = p->info.h_declared;
    qt_ent_stats_set_h(p->stats, p->info.h_declared, 0.0);
    if (!p->opts.defer_startup && (rc = startup(p)) != QT_OK) {
        if (fail_out != NULL) {
            *fail_out = p->last;
        }
        goto out;
    }
    qt_ent_stats_set_state(p->stats, STATE_READY);
    *out = p;
    p = NULL;
    rc = QT_OK;
out:
    free(seed);
    qt_ent_pipeline_free(p);
    return rc;
}

qt_rc
qt_ent_pipeline_new(const char *spec, const struct qt_conf *conf, struct qt_ent_pipeline **out)
{
    return qt_ent_pipeline_new_ex(spec, conf, NULL, out, NULL);
}

/* Makes sure p can produce: fork check, deferred start-up. Locked. */
static qt_rc
ready_inlock(struct qt_ent_pipeline *p)
{
    qt_rc rc = check_fork(p);

    if (rc != QT_OK) {
        return rc;
    }
    if (p->state != STATE_READY) {
        return QT_E_HEALTH;
    }
    return p->started ? QT_OK : startup(p);
}

/* Serves n bytes; fresh: from a window read now (buffered output discarded
 * first).  Locked by the caller. */
static qt_rc
get_inlock(struct qt_ent_pipeline *p, uint8_t *out, size_t n, int fresh)
{
    const uint64_t windows0 = p->estimate.windows;
    size_t done = 0;
    qt_rc rc;

    if ((rc = ready_inlock(p)) != QT_OK) {
        if (p->state != STATE_ERROR || recover(p) != QT_OK) {
            goto out;
        }
        rc = QT_OK;
    }
    if (now_ms() - p->released_ms > p->max_age_ms) {
        /* Too old to serve: discarded (wiped); the loop reads a new window */
        drop_buffers(p);
    }
    /* Fresh: unless a window was released during this call already (a
     * deferred start-up, a fork, a recovery: served below), read new samples
     * now and extract from them only */
    if (fresh && p->estimate.windows == windows0) {
        if ((rc = serve_fresh(p, out, n)) == QT_OK) {
            goto out;
        }
        if (recover(p) != QT_OK) {
            goto out;
        }
        rc = QT_OK;
    }
    while (done < n) {
        if (p->blk_pos < p->blk_len) {
            size_t k = p->blk_len - p->blk_pos < n - done ? p->blk_len - p->blk_pos : n - done;
            memcpy(out + done, p->blk + p->blk_pos, k);
            qt_wipe(p->blk + p->blk_pos, k);
            p->blk_pos += k;
            done += k;
            continue;
        }
        if (p->win_pos + p->geom.n_samples <= p->win_avail) {
            if ((rc = qt_ent_extractor_run(p->x, p->win + p->win_pos, p->blk)) != QT_OK) {
                goto out;
            }
            qt_wipe(p->win + p->win_pos, p->geom.n_samples * sizeof(*p->win));
            p->win_pos += p->geom.n_samples;
            p->blk_pos = 0;
            p->local.bits_extracted += p->geom.out_bits;
            qt_ent_stats_add(p->stats, QT_ENT_C_BITS_EXTRACTED, p->geom.out_bits);
            continue;
        }
        drop_buffers(p); /* the window's leftover (< one block) is not used */
        if ((rc = fill_window(p)) != QT_OK) {
            qt_wipe(out, done);
            done = 0;
            if (recover(p) != QT_OK) {
                goto out;
            }
            rc = QT_OK;
        }
    }
out:
    if (rc != QT_OK) {
        qt_wipe(out, n);
        if (p->state == STATE_ERROR && rc != QT_E_HEALTH && p->last.test != QT_ENT_TEST_READ) {
            rc = QT_E_HEALTH;
        }
    }
    return rc;
}

qt_rc
qt_ent_pipeline_get_entropy(struct qt_ent_pipeline *p, uint8_t *out, size_t n)
{
    qt_rc rc;

    QT_ENSURE(p != NULL && (out != NULL || n == 0), QT_E_ARG);
    (void)pthread_mutex_lock(&p->mu);
    rc = get_inlock(p, out, n, 0);
    (void)pthread_mutex_unlock(&p->mu);
    return rc;
}

qt_rc
qt_ent_pipeline_get_fresh(struct qt_ent_pipeline *p, uint8_t *out, size_t n)
{
    qt_rc rc;

    QT_ENSURE(p != NULL && (out != NULL || n == 0), QT_E_ARG);
    (void)pthread_mutex_lock(&p->mu);
    rc = get_inlock(p, out, n, 1);
    (void)pthread_mutex_unlock(&p->mu);
    return rc;
}

qt_rc
qt_ent_pipeline_refresh(struct qt_ent_pipeline *p)
{
    qt_rc rc;

    QT_ENSURE_REF(p);
    (void)pthread_mutex_lock(&p->mu);
    rc = get_inlock(p, NULL, 0, 1);
    (void)pthread_mutex_unlock(&p->mu);
    return rc;
}

qt_rc
qt_ent_pipeline_selftest(struct qt_ent_pipeline *p, uint64_t samples,
                         struct qt_ent_failure *fail_out)
{
    uint64_t tested = 0;
    qt_rc rc;

    QT_ENSURE_REF(p);
    (void)pthread_mutex_lock(&p->mu);
    if (fail_out != NULL) {
        memset(fail_out, 0, sizeof(*fail_out));
    }
    if ((rc = check_fork(p)) != QT_OK || p->state != STATE_READY) {
        rc = rc == QT_OK ? QT_E_HEALTH : rc;
        goto out;
    }
    if ((rc = startup(p)) != QT_OK) {
        goto out;
    }
    tested = p->params.window;
    while (tested < samples) {
        if ((rc = fill_window(p)) != QT_OK) {
            goto out;
        }
        tested += p->params.window;
    }
    /* tested samples are not used for output */
    drop_buffers(p);
out:
    if (rc != QT_OK && fail_out != NULL) {
        *fail_out = p->last;
    }
    (void)pthread_mutex_unlock(&p->mu);
    return rc;
}

void
qt_ent_pipeline_last_failure(struct qt_ent_pipeline *p, struct qt_ent_failure *out)
{
    if (p == NULL || out == NULL) {
        return;
    }
    (void)pthread_mutex_lock(&p->mu);
    *out = p->last;
    (void)pthread_mutex_unlock(&p->mu);
}

void
qt_ent_pipeline_stats(struct qt_ent_pipeline *p, struct qt_ent_stats *out)
{
    if (p == NULL || out == NULL) {
        return;
    }
    (void)pthread_mutex_lock(&p->mu);
    *out = p->local;
    (void)pthread_mutex_unlock(&p->mu);
    out->bits_served = atomic_load_explicit(&p->served, memory_order_relaxed);
}

void
qt_ent_pipeline_params(struct qt_ent_pipeline *p, struct qt_ent_params *out)
{
    if (p != NULL && out != NULL) {
        *out = p->params; /* immutable after creation */
    }
}

void
qt_ent_pipeline_estimate(struct qt_ent_pipeline *p, struct qt_ent_estimate_info *out)
{
    if (p == NULL || out == NULL) {
        return;
    }
    (void)pthread_mutex_lock(&p->mu);
    *out = p->estimate;
    (void)pthread_mutex_unlock(&p->mu);
}

void
qt_ent_pipeline_dev_info(struct qt_ent_pipeline *p, struct qt_dev_info *out)
{
    if (p != NULL && out != NULL) {
        *out = p->info; /* immutable after creation */
    }
}

void
qt_ent_pipeline_note_reseed(struct qt_ent_pipeline *p)
{
    if (p == NULL) {
        return;
    }
    (void)pthread_mutex_lock(&p->mu);
    p->local.reseeds++;
    qt_ent_stats_add(p->stats, QT_ENT_C_RESEEDS, 1);
    (void)pthread_mutex_unlock(&p->mu);
}

void
qt_ent_pipeline_note_served(struct qt_ent_pipeline *p, uint64_t bits)
{
    if (p == NULL) {
        return;
    }
    /* Per generate call: two relaxed atomic adds, no lock */
    atomic_fetch_add_explicit(&p->served, bits, memory_order_relaxed);
    qt_ent_stats_add(p->stats, QT_ENT_C_BITS_SERVED, bits);
}

int
qt_ent_pipeline_ready(struct qt_ent_pipeline *p)
{
    return p != NULL && atomic_load(&p->astate) == STATE_READY;
}

void
qt_ent_pipeline_free(struct qt_ent_pipeline *p)
{
    if (p == NULL) {
        return;
    }
    qt_dev_close(p->dev);
    qt_ent_health_free(p->health);
    qt_ent_estimate_free(p->est);
    qt_ent_extractor_free(p->x);
    qt_secret_free(p->win, p->params.window * sizeof(*p->win));
    qt_secret_free(p->blk, p->blk_len);
    qt_ent_stats_close(p->stats);
    (void)pthread_mutex_destroy(&p->mu);
    qt_wipe(p, sizeof(*p));
    free(p);
}
