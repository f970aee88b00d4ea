/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pipeline against the real `sim` device: output and determinism, every
 * fault detected (test named, raw sample index, latency printed), fail
 * closed (bytes returned before a failure equal the no-fault run's, nothing
 * from the failing window), retries, selftest, fork, threads, SHA-256 mode.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../../device/dev.h"
#include "../../../src/entropy/ent.h"
#include "../../../src/entropy/ent_seed.h"

#define note(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))

#define ONSET 5000u
#define CALL 4096u /* bytes per get_entropy call in the loops below */

static char store[] = "/tmp/qt-ent-pipe-XXXXXX";
static struct qt_conf conf;
static const struct qt_ent_opts fast = {.read_timeout_ms = 30};

static void
setup(void)
{
    cr_assert_not_null(mkdtemp(store));
    qt_conf_defaults(&conf);
    (void)snprintf(conf.store_path, sizeof(conf.store_path), "%s", store);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
teardown(void)
{
    (void)nftw(store, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct qt_ent_pipeline *
open_ok(const char *spec)
{
    struct qt_ent_pipeline *p = NULL;
    struct qt_ent_failure f;
    qt_rc rc = qt_ent_pipeline_new_ex(spec, &conf, &fast, &p, &f);
    cr_assert_eq(rc, QT_OK, "%s: %s %s", spec, qt_rc_str(rc), f.detail);
    return p;
}

/* Makes the fault spec's Toeplitz seed file a copy of the no-fault spec's,
 * so both runs use the same extractor (serials differ with the fault). */
static void
share_seed(const char *from_spec, const char *to_spec)
{
    char a[2048], b[2048];
    struct qt_dev *d = NULL;
    struct qt_dev_info ia, ib;
    uint8_t seed[4096];

    cr_assert_eq(qt_dev_open(from_spec, &d), QT_OK);
    qt_dev_info(d, &ia);
    qt_dev_close(d);
    cr_assert_eq(qt_dev_open(to_spec, &d), QT_OK);
    qt_dev_info(d, &ib);
    qt_dev_close(d);
    cr_assert_eq(qt_ent_seed_path(&conf, ia.serial, a, sizeof(a)), QT_OK);
    cr_assert_eq(qt_ent_seed_path(&conf, ib.serial, b, sizeof(b)), QT_OK);
    cr_assert_eq(qt_ent_seed_load(&conf, ia.serial, seed, sizeof(seed)), QT_OK);
    int fd = open(b, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, seed, sizeof(seed)), (ssize_t)sizeof(seed));
    close(fd);
}

/* Reads CALL-byte chunks until failure or `limit` bytes; returns bytes
 * returned successfully (kept in *buf, malloc'd). */
static size_t
drain(struct qt_ent_pipeline *p, size_t limit, uint8_t **buf, qt_rc *rc_out)
{
    uint8_t *b = malloc(limit);
    size_t got = 0;
    qt_rc rc = QT_OK;

    cr_assert_not_null(b);
    while (got + CALL <= limit) {
        memset(b + got, 0xA5, CALL);
        rc = qt_ent_pipeline_get_entropy(p, b + got, CALL);
        if (rc != QT_OK) {
            for (size_t i = 0; i < CALL; i++) {
                cr_assert_eq(b[got + i], 0, "failed call left output bytes");
            }
            break;
        }
        got += CALL;
    }
    *buf = b;
    *rc_out = rc;
    return got;
}

Test(ent_pipeline, produces_deterministic_output_and_counts, .init = setup, .fini = teardown)
{
    struct qt_ent_pipeline *p = open_ok("sim:seed=1"), *q;
    struct qt_ent_params prm;
    struct qt_ent_estimate_info est;
    struct qt_ent_stats st, all;
    static uint8_t a[200000], b[200000];
    struct qt_dev_info info;

    qt_ent_pipeline_params(p, &prm);
    qt_ent_pipeline_dev_info(p, &info);
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, a, sizeof(a)), QT_OK);
    qt_ent_pipeline_estimate(p, &est);
    qt_ent_pipeline_stats(p, &st);
    note("sim default: H=%.4f RCT C=%u APT W=%u C=%u repeat K=%u startup=%llu window=%zu "
         "block %zu samples -> %zu bits (ratio %.4f)",
         prm.h_declared, prm.rct_cutoff, prm.apt_window, prm.apt_cutoff, prm.repeat_run,
         (unsigned long long)prm.startup_samples, prm.window, prm.block_samples,
         prm.block_out_bits, prm.extractor_ratio);
    note("sim default estimate over %llu windows: last mcv %.3f lag-1 %.3f (floor %.3f)",
         (unsigned long long)est.windows, est.h_mcv, est.h_pred, prm.estimate_floor);
    cr_assert_gt(est.h, prm.estimate_floor);
    cr_assert_eq(st.startup_runs, 1);
    cr_assert_eq(st.raw_samples % prm.window, 0);
    cr_assert_geq(st.bits_extracted, sizeof(a) * 8);
    cr_assert_eq(st.state, 0);
    /* same seed, same installation: same bytes */
    q = open_ok("sim:seed=1");
    cr_assert_eq(qt_ent_pipeline_get_entropy(q, b, sizeof(b)), QT_OK);
    cr_assert_eq(memcmp(a, b, sizeof(a)), 0);
    qt_ent_pipeline_free(q);
    q = open_ok("sim:seed=2");
    cr_assert_eq(qt_ent_pipeline_get_entropy(q, b, sizeof(b)), QT_OK);
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
    qt_ent_pipeline_note_served(q, 1000);
    qt_ent_pipeline_note_reseed(q);
    qt_ent_pipeline_free(q);
    cr_assert_eq(qt_ent_stats_read(&conf, &all), QT_OK);
    cr_assert_eq(all.startup_runs, 3);
    cr_assert_eq(all.bits_served, 1000);
    cr_assert_eq(all.reseeds, 1);
    cr_assert_geq(all.raw_samples, 3 * st.raw_samples);
    qt_ent_pipeline_free(p);
}

struct fault_case {
    const char *name;
    enum qt_ent_test test;
    qt_rc rc;
};

static const struct fault_case faults[] = {
    {"stuck", QT_ENT_TEST_RCT, QT_E_HEALTH},
    {"laser-off", QT_ENT_TEST_NONE, QT_E_HEALTH}, /* apt or estimate */
    {"saturate", QT_ENT_TEST_NONE, QT_E_HEALTH},  /* rct or apt */
    {"repeat", QT_ENT_TEST_BLOCK_REPEAT, QT_E_HEALTH},
    {"drift", QT_ENT_TEST_DRIFT, QT_E_HEALTH},
    {"read-error", QT_ENT_TEST_READ, QT_E_IO},
    {"dead", QT_ENT_TEST_READ, QT_E_TIMEOUT},
};

Test(ent_pipeline, every_fault_at_5000_fails_startup, .init = setup, .fini = teardown)
{
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        char spec[128];
        struct qt_ent_pipeline *p = NULL;
        struct qt_ent_failure f;
        qt_rc rc;

        (void)snprintf(spec, sizeof(spec), "sim:seed=7,fault=%s@%u", faults[i].name, ONSET);
        rc = qt_ent_pipeline_new_ex(spec, &conf, &fast, &p, &f);
        cr_assert_eq(rc, faults[i].rc, "%s: %s", spec, qt_rc_str(rc));
        cr_assert_null(p);
        if (faults[i].test != QT_ENT_TEST_NONE) {
            cr_assert_eq(f.test, faults[i].test, "%s: %s", spec, qt_ent_test_name(f.test));
        } else {
            cr_assert(f.test == QT_ENT_TEST_RCT || f.test == QT_ENT_TEST_APT ||
                          f.test == QT_ENT_TEST_ESTIMATE,
                      "%s: %s", spec, qt_ent_test_name(f.test));
        }
        cr_assert_geq(f.sample_index, ONSET, "%s", spec);
        cr_assert_neq(strstr(f.detail, "start-up"), NULL);
        note("fault %-10s @%u: %-12s at raw sample %llu, latency %llu samples (%s)",
             faults[i].name, ONSET, qt_ent_test_name(f.test), (unsigned long long)f.sample_index,
             (unsigned long long)(f.sample_index - ONSET), f.detail);
    }
}

/* The drift fault at 5000 is caught by the drift monitor inside the
 * start-up window (latency ~20,000 samples): nothing is ever released. */
Test(ent_pipeline, drift_at_5000_detected_in_startup_nothing_released, .init = setup,
     .fini = teardown)
{
    static const struct qt_ent_opts deferred = {.read_timeout_ms = 30, .defer_startup = 1};
    const char *spec = "sim:seed=11,fault=drift@5000";
    struct qt_ent_pipeline *p = NULL;
    struct qt_ent_params prm;
    struct qt_ent_failure f;
    struct qt_ent_stats st;
    const size_t n = 1u << 20;
    uint8_t *out = malloc(n);

    cr_assert_not_null(out);
    cr_assert_eq(qt_ent_pipeline_new_ex(spec, &conf, &deferred, &p, &f), QT_OK);
    qt_ent_pipeline_params(p, &prm);
    cr_assert_eq(prm.drift_block, 4096);
    memset(out, 0xA5, n);
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, out, n), QT_E_HEALTH);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(out[i], 0, "byte %zu left in the output", i);
    }
    qt_ent_pipeline_last_failure(p, &f);
    qt_ent_pipeline_stats(p, &st);
    note("fault drift      @%u: %-12s at raw sample %llu, latency %llu samples (%s)", ONSET,
         qt_ent_test_name(f.test), (unsigned long long)f.sample_index,
         (unsigned long long)(f.sample_index - ONSET), f.detail);
    cr_assert_eq(f.test, QT_ENT_TEST_DRIFT, "%s", qt_ent_test_name(f.test));
    cr_assert_str_eq(qt_ent_test_name(f.test), "drift");
    cr_assert_gt(f.sample_index, ONSET);
    cr_assert_lt(f.sample_index, prm.startup_samples, "not within the start-up window");
    cr_assert_neq(strstr(f.detail, "start-up: "), NULL, "%s", f.detail);
    cr_assert_eq(st.failures_drift, 1);
    cr_assert_eq(st.bits_extracted, 0);
    cr_assert_lt(st.raw_samples, prm.startup_samples);
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, out, 16), QT_E_HEALTH); /* sticky */
    free(out);
    qt_ent_pipeline_free(p);
}

/* No false alarm of any test (drift monitor included) on healthy sims: the
 * default 8-bit, a 12-bit ADC and a 1-bit ADC, 16 Mi samples each. */
Test(ent_pipeline, no_false_alarm_on_healthy_sims, .init = setup, .fini = teardown)
{
    static const char *const specs[] = {"sim:seed=21", "sim:seed=22,adc_bits=12",
                                        "sim:seed=23,adc_bits=1"};
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct qt_ent_pipeline *p = open_ok(specs[i]);
        struct qt_ent_failure f;
        struct qt_ent_stats st;
        qt_rc rc = qt_ent_pipeline_selftest(p, 16u << 20, &f);

        cr_assert_eq(rc, QT_OK, "%s: %s at %llu: %s", specs[i], qt_ent_test_name(f.test),
                     (unsigned long long)f.sample_index, f.detail);
        qt_ent_pipeline_stats(p, &st);
        cr_assert_geq(st.raw_samples, 16u << 20);
        note("%s: %llu samples, no failure", specs[i], (unsigned long long)st.raw_samples);
        qt_ent_pipeline_free(p);
    }
}

Test(ent_pipeline, late_faults_fail_closed_nothing_after_onset, .init = setup, .fini = teardown)
{
    const char *clean = "sim:seed=3";
    struct qt_ent_params prm;
    struct qt_ent_pipeline *q = open_ok(clean);
    uint8_t *ref;
    qt_rc rc;
    size_t window_bytes, nref;

    qt_ent_pipeline_params(q, &prm);
    window_bytes = prm.window / prm.block_samples * (prm.block_out_bits / 8);
    nref = drain(q, 4 * window_bytes, &ref, &rc);
    cr_assert_eq(rc, QT_OK);
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        /* onset 700 samples into the 4th window */
        uint64_t onset = 3 * prm.window + 700;
        char spec[128];
        struct qt_ent_pipeline *p;
        struct qt_ent_failure f;
        uint8_t *out;
        size_t n;

        (void)snprintf(spec, sizeof(spec), "sim:seed=3,fault=%s@%llu", faults[i].name,
                       (unsigned long long)onset);
        share_seed(clean, spec);
        p = open_ok(spec);
        n = drain(p, nref, &out, &rc);
        qt_ent_pipeline_last_failure(p, &f);
        cr_assert_eq(rc, faults[i].rc, "%s: %s", spec, qt_rc_str(rc));
        cr_assert_geq(f.sample_index, onset, "%s", spec);
        /* everything served came from the three windows before the onset,
         * and equals the clean run */
        cr_assert_leq(n, 3 * window_bytes, "%s: %zu bytes", spec, n);
        cr_assert_gt(n + CALL, 3 * window_bytes, "%s: %zu bytes", spec, n);
        cr_assert_eq(memcmp(out, ref, n), 0, "%s", spec);
        note("fault %-10s @%llu: %-12s latency %llu samples; %zu bytes served, all from "
             "pre-onset windows",
             faults[i].name, (unsigned long long)onset, qt_ent_test_name(f.test),
             (unsigned long long)(f.sample_index - onset), n);
        /* sticky: later calls fail with QT_E_HEALTH and write nothing */
        memset(out, 0xA5, 64);
        cr_assert_eq(qt_ent_pipeline_get_entropy(p, out, 64), QT_E_HEALTH);
        for (int k = 0; k < 64; k++) {
            cr_assert_eq(out[k], 0);
        }
        free(out);
        qt_ent_pipeline_free(p);
    }
    free(ref);
    qt_ent_pipeline_free(q);
}

Test(ent_pipeline, retry_recovers_after_read_error, .init = setup, .fini = teardown)
{
    struct qt_ent_pipeline *p;
    struct qt_ent_stats st;
    struct qt_ent_failure f;
    static uint8_t buf[400000];

    conf.retries = 1;
    /* each (re-)open of the sim delivers 140000 samples: two full windows; the
     * re-opened sim restarts at sample 0 */
    p = open_ok("sim:seed=5,fault=read-error@140000");
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, sizeof(buf)), QT_E_IO);
    qt_ent_pipeline_stats(p, &st);
    cr_assert_eq(st.failures_read, 2);
    cr_assert_eq(st.startup_runs, 2);
    qt_ent_pipeline_last_failure(p, &f);
    cr_assert_eq(f.test, QT_ENT_TEST_READ);
    qt_ent_pipeline_free(p);

    conf.retries = 3;
    p = open_ok("sim:seed=5,fault=read-error@140000");
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, 90000), QT_OK);
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, 90000), QT_OK); /* fails, retries, serves */
    qt_ent_pipeline_stats(p, &st);
    cr_assert_eq(st.failures_read, 1);
    cr_assert_eq(st.startup_runs, 2);
    cr_assert_eq(st.state, 0);
    qt_ent_pipeline_free(p);
}

Test(ent_pipeline, no_retries_stays_in_error, .init = setup, .fini = teardown)
{
    struct qt_ent_pipeline *p = open_ok("sim:seed=5,fault=stuck@66000");
    static uint8_t buf[100000];
    struct qt_ent_stats st;

    cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, sizeof(buf)), QT_E_HEALTH);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, 10), QT_E_HEALTH);
    }
    qt_ent_pipeline_stats(p, &st);
    cr_assert_eq(st.failures_rct, 1);
    cr_assert_eq(st.state, 1);
    qt_ent_pipeline_free(p);
}

Test(ent_pipeline, selftest_names_test_and_index, .init = setup, .fini = teardown)
{
    struct qt_ent_opts o = fast;
    struct qt_ent_pipeline *p = NULL;
    struct qt_ent_failure f;

    o.defer_startup = 1;
    cr_assert_eq(qt_ent_pipeline_new_ex("sim:seed=9,fault=stuck@150000", &conf, &o, &p, &f),
                 QT_OK);
    cr_assert_eq(qt_ent_pipeline_selftest(p, 100000, &f), QT_OK);
    cr_assert_eq(qt_ent_pipeline_selftest(p, 200000, &f), QT_E_HEALTH);
    cr_assert_eq(f.test, QT_ENT_TEST_RCT);
    /* stuck repeats the last good code (sample 149999): C = 6 identical
     * samples end at 150004 */
    cr_assert_eq(f.sample_index, 150000 + 4);
    cr_assert_str_eq(qt_ent_test_name(f.test), "rct");
    qt_ent_pipeline_free(p);
}

Test(ent_pipeline, sha256_conditioner_mode, .init = setup, .fini = teardown)
{
    struct qt_ent_pipeline *p, *q;
    struct qt_ent_params prm;
    static uint8_t a[50000], b[50000];

    conf.extractor = QT_EXTRACTOR_SHA256;
    p = open_ok("sim:seed=1");
    qt_ent_pipeline_params(p, &prm);
    cr_assert_eq(prm.block_out_bits, 256);
    cr_assert_geq(prm.block_samples * prm.h_declared, 512.0);
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, a, sizeof(a)), QT_OK);
    q = open_ok("sim:seed=1");
    cr_assert_eq(qt_ent_pipeline_get_entropy(q, b, sizeof(b)), QT_OK);
    cr_assert_eq(memcmp(a, b, sizeof(a)), 0);
    qt_ent_pipeline_free(p);
    qt_ent_pipeline_free(q);
}

Test(ent_pipeline, child_after_fork_never_repeats_parent, .init = setup, .fini = teardown)
{
    struct qt_ent_pipeline *p = open_ok("sim"); /* OS-seeded */
    uint8_t first[1000], mine[1000], child[1000];
    int fds[2];
    pid_t pid;
    int status;

    cr_assert_eq(qt_ent_pipeline_get_entropy(p, first, sizeof(first)), QT_OK);
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct qt_ent_stats st;
        uint8_t c[1000];
        int ok = qt_ent_pipeline_get_entropy(p, c, sizeof(c)) == QT_OK;
        qt_ent_pipeline_stats(p, &st);
        ok = ok && st.startup_runs == 2;
        if (write(fds[1], c, sizeof(c)) != (ssize_t)sizeof(c)) {
            ok = 0;
        }
        qt_ent_pipeline_free(p);
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, mine, sizeof(mine)), QT_OK);
    cr_assert_neq(memcmp(child, mine, sizeof(mine)), 0);
    cr_assert_neq(memcmp(child, first, sizeof(first)), 0);
    qt_ent_pipeline_free(p);
}

static void *
worker(void *arg)
{
    uint8_t buf[3000];
    for (int i = 0; i < 40; i++) {
        if (qt_ent_pipeline_get_entropy(arg, buf, sizeof(buf)) != QT_OK) {
            return (void *)1;
        }
    }
    return NULL;
}

Test(ent_pipeline, concurrent_threads, .init = setup, .fini = teardown)
{
    struct qt_ent_pipeline *p = open_ok("sim:seed=4");
    pthread_t t[4];
    struct qt_ent_stats st;

    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pthread_create(&t[i], NULL, worker, p), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *r;
        cr_assert_eq(pthread_join(t[i], &r), 0);
        cr_assert_null(r);
    }
    qt_ent_pipeline_stats(p, &st);
    cr_assert_geq(st.bits_extracted, 4 * 40 * 3000 * 8);
    qt_ent_pipeline_free(p);
}

Test(ent_pipeline, seed_file_created_once_mode_0600, .init = setup, .fini = teardown)
{
    struct qt_ent_pipeline *p = open_ok("sim:seed=1");
    struct qt_dev_info info;
    char path[2048];
    struct stat st;
    uint8_t s1[4096], s2[4096];

    qt_ent_pipeline_dev_info(p, &info);
    cr_assert_eq(qt_ent_seed_path(&conf, info.serial, path, sizeof(path)), QT_OK);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(st.st_size, 4096);
    cr_assert_eq(qt_ent_seed_load(&conf, info.serial, s1, sizeof(s1)), QT_OK);
    cr_assert_eq(qt_ent_seed_load(&conf, info.serial, s2, sizeof(s2)), QT_OK);
    cr_assert_eq(memcmp(s1, s2, sizeof(s1)), 0);
    /* group-writable seed is refused */
    cr_assert_eq(chmod(path, 0620), 0);
    cr_assert_eq(qt_ent_seed_load(&conf, info.serial, s2, sizeof(s2)), QT_E_TAMPER);
    qt_ent_pipeline_free(p);
}

/* A capture whose marginal is flat but whose next sample is predictable
 * (x[i+1] = x[i] + d, d in 1..8): RCT, APT and block-repeat stay quiet, the
 * estimator's lag-1 predictor fails the first window; the file: back-end
 * replays it.  Also: the end of the capture is a READ failure. */
Test(ent_pipeline, estimator_fails_correlated_capture, .init = setup, .fini = teardown)
{
    char path[1200], spec[1300];
    static uint8_t cap[3 * 65536];
    struct qt_ent_pipeline *p = NULL;
    struct qt_ent_failure f;
    uint64_t z = 12345;
    uint8_t x = 0;
    FILE *fp;

    for (size_t i = 0; i < sizeof(cap); i++) {
        z = z * 6364136223846793005ULL + 1442695040888963407ULL;
        x = (uint8_t)(x + 1 + (z >> 61));
        cap[i] = x;
    }
    (void)snprintf(path, sizeof(path), "%s/walk.bin", store);
    fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(cap, 1, sizeof(cap), fp), sizeof(cap));
    fclose(fp);
    (void)snprintf(spec, sizeof(spec), "file:%s,bits=8,h=6", path);
    cr_assert_eq(qt_ent_pipeline_new_ex(spec, &conf, &fast, &p, &f), QT_E_HEALTH);
    cr_assert_eq(f.test, QT_ENT_TEST_ESTIMATE, "%s: %s", qt_ent_test_name(f.test), f.detail);
    cr_assert_eq(f.sample_index, 65535);
    note("correlated capture: %s at %llu (%s)", qt_ent_test_name(f.test),
         (unsigned long long)f.sample_index, f.detail);

    /* the same data shuffled into iid order passes, then the capture runs out */
    for (size_t i = sizeof(cap) - 1; i > 0; i--) {
        size_t j;
        uint8_t t;
        z = z * 6364136223846793005ULL + 1442695040888963407ULL;
        j = (size_t)((z >> 33) % (i + 1));
        t = cap[i];
        cap[i] = cap[j];
        cap[j] = t;
    }
    fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(cap, 1, sizeof(cap), fp), sizeof(cap));
    fclose(fp);
    (void)snprintf(spec, sizeof(spec), "file:%s,bits=8,h=6", path);
    {
        uint8_t *buf;
        qt_rc rc;
        size_t n;
        p = open_ok(spec);
        n = drain(p, 4 * 49152, &buf, &rc);
        qt_ent_pipeline_last_failure(p, &f);
        cr_assert_neq(rc, QT_OK);
        cr_assert_eq(f.test, QT_ENT_TEST_READ, "%s", f.detail);
        cr_assert_eq(f.sample_index, sizeof(cap));
        cr_assert_gt(n, 0);
        free(buf);
        qt_ent_pipeline_free(p);
    }
}

Test(ent_pipeline, bad_spec_and_args)
{
    struct qt_ent_pipeline *p = NULL;
    struct qt_conf c;
    uint8_t b[4];

    qt_conf_defaults(&c);
    cr_assert_eq(qt_ent_pipeline_new("nosuchdevice:x", &c, &p), QT_E_CONFIG);
    cr_assert_null(p);
    cr_assert_eq(qt_ent_pipeline_new(NULL, &c, &p), QT_E_ARG);
    cr_assert_eq(qt_ent_pipeline_get_entropy(NULL, b, 4), QT_E_ARG);
    cr_assert_eq(qt_ent_pipeline_get_fresh(NULL, b, 4), QT_E_ARG);
    cr_assert_eq(qt_ent_pipeline_refresh(NULL), QT_E_ARG);
    qt_ent_pipeline_free(NULL);
}

static uint64_t
raw_samples(struct qt_ent_pipeline *p)
{
    struct qt_ent_stats st;

    qt_ent_pipeline_stats(p, &st);
    return st.raw_samples;
}

/* Fresh entropy: get_fresh and refresh read new samples from the device
 * (as many as the request needs, at least params.fresh_samples) and
 * never serve the output buffered before, nor leave their own rest for
 * later requests; an ordinary request is served from the buffer. */
Test(ent_pipeline, fresh_reads_a_new_window, .init = setup, .fini = teardown)
{
    struct qt_ent_pipeline *p = open_ok("sim:seed=1");
    struct qt_ent_pipeline *q = open_ok("sim:seed=1");
    struct qt_ent_params pa;
    struct qt_ent_estimate_info e0, e1;
    uint8_t a[32], b[32], c[32], d[32];
    uint8_t *big;
    uint64_t w, blk, fmin, big_blocks;
    size_t big_len;

    qt_ent_pipeline_params(p, &pa);
    w = pa.window;
    blk = pa.block_samples;
    fmin = pa.fresh_samples;
    cr_assert_eq(fmin, 1024, "default fresh_samples: two APT windows of 512");
    cr_assert_lt(fmin, w, "a fresh draw reads less than a window");
    cr_assert_eq(raw_samples(p), w, "start-up read one window");
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, a, sizeof(a)), QT_OK);
    cr_assert_eq(raw_samples(p), w, "ordinary request served from the buffered window");
    cr_assert_eq(qt_ent_pipeline_get_fresh(p, b, sizeof(b)), QT_OK);
    cr_assert_eq(raw_samples(p), w + fmin,
                 "get_fresh read new samples: its minimum");
    cr_assert_eq(qt_ent_pipeline_refresh(p), QT_OK);
    cr_assert_eq(raw_samples(p), w + 2 * fmin, "refresh read new samples");
    /* buffered output was dropped by the fresh draws: a new window */
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, c, sizeof(c)), QT_OK);
    cr_assert_eq(raw_samples(p), 2 * w + 2 * fmin,
                 "the fresh draws' leftover is not served to ordinary requests");

    /* A larger fresh request reads as many blocks as it needs */
    big_blocks = fmin / blk + 2;
    big_len = (size_t)(big_blocks * pa.block_out_bits / 8);
    big = malloc(big_len);
    cr_assert_not_null(big);
    qt_ent_pipeline_estimate(p, &e0);
    cr_assert_eq(qt_ent_pipeline_get_fresh(p, big, big_len), QT_OK);
    cr_assert_eq(raw_samples(p), 2 * w + 2 * fmin + big_blocks * blk);
    free(big);

    /* Fresh samples join the estimator's window: after a window's worth of
     * fresh draws the estimator has judged again */
    for (uint64_t i = 0; i <= w / fmin; i++) {
        cr_assert_eq(qt_ent_pipeline_get_fresh(p, b, sizeof(b)), QT_OK);
    }
    qt_ent_pipeline_estimate(p, &e1);
    cr_assert_geq(e1.windows, e0.windows + 1, "fresh samples were judged by the estimator");

    /* Same device sequence and extractor seed: q continues the first window
     * where p discarded it. */
    cr_assert_eq(qt_ent_pipeline_get_entropy(q, d, sizeof(d)), QT_OK);
    cr_assert_eq(memcmp(a, d, sizeof(a)), 0, "same sequence");
    cr_assert_eq(qt_ent_pipeline_get_entropy(q, d, sizeof(d)), QT_OK);
    cr_assert_neq(memcmp(b, d, sizeof(b)), 0, "get_fresh did not serve the buffered output");
    cr_assert_neq(memcmp(b, c, sizeof(b)), 0);
    qt_ent_pipeline_free(q);
    qt_ent_pipeline_free(p);
}

/* [entropy] fresh_samples sets the least new samples per fresh draw:
 * 8192 reads 8192; a value under two APT windows is raised to two. */
Test(ent_pipeline, fresh_samples_from_conf, .init = setup, .fini = teardown)
{
    static const size_t asked[] = {8192, 1000, 3000};
    static const size_t want[] = {8192, 1024, 3072};
    uint8_t buf[32];

    for (size_t i = 0; i < 3; i++) {
        struct qt_ent_pipeline *p;
        struct qt_ent_params pa;
        uint64_t before;

        conf.fresh_samples = asked[i];
        p = open_ok("sim:seed=3");
        qt_ent_pipeline_params(p, &pa);
        cr_assert_eq(pa.fresh_samples, want[i], "asked %zu: %zu", asked[i], pa.fresh_samples);
        before = raw_samples(p);
        cr_assert_eq(qt_ent_pipeline_get_fresh(p, buf, sizeof(buf)), QT_OK);
        cr_assert_eq(raw_samples(p) - before, want[i]);
        qt_ent_pipeline_free(p);
    }
    conf.fresh_samples = QT_CONF_FRESH_SAMPLES;
}

/* A device that died (stuck, or no samples at all) after the start-up
 * window: ordinary requests are still served from that window, but a fresh
 * request fails closed, writes nothing, and the pipeline stays in error. */
Test(ent_pipeline, fresh_fails_on_device_dead_after_first_window, .init = setup,
     .fini = teardown)
{
    static const char *const specs[] = {"sim:seed=1,fault=stuck@66000",
                                        "sim:seed=1,fault=dead@66000"};
    static const enum qt_ent_test want[] = {QT_ENT_TEST_RCT, QT_ENT_TEST_READ};

    for (size_t i = 0; i < 2; i++) {
        for (int use_refresh = 0; use_refresh < 2; use_refresh++) {
            struct qt_ent_pipeline *p = open_ok(specs[i]);
            struct qt_ent_failure f;
            struct qt_ent_stats st;
            uint8_t buf[32];
            qt_rc rc;

            cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, sizeof(buf)), QT_OK);
            memset(buf, 0xA5, sizeof(buf));
            rc = use_refresh ? qt_ent_pipeline_refresh(p)
                             : qt_ent_pipeline_get_fresh(p, buf, sizeof(buf));
            cr_assert(rc == QT_E_HEALTH || rc == QT_E_TIMEOUT, "%s: %s", specs[i],
                      qt_rc_str(rc));
            for (size_t k = 0; !use_refresh && k < sizeof(buf); k++) {
                cr_assert_eq(buf[k], 0, "failed get_fresh left output bytes");
            }
            qt_ent_pipeline_last_failure(p, &f);
            cr_assert_eq(f.test, want[i], "%s: failed %s", specs[i], qt_ent_test_name(f.test));
            cr_assert_geq(f.sample_index, 65536);
            qt_ent_pipeline_stats(p, &st);
            cr_assert_eq(st.state, 1);
            /* the window read before the death is gone too */
            cr_assert_neq(qt_ent_pipeline_get_entropy(p, buf, sizeof(buf)), QT_OK);
            qt_ent_pipeline_free(p);
        }
    }
}

/* Released output has a maximum age: past it an ordinary request discards
 * it and reads a new window, so a dead device is noticed without any
 * prediction-resistance request. */
Test(ent_pipeline, released_output_expires, .init = setup, .fini = teardown)
{
    static const struct qt_ent_opts young = {.read_timeout_ms = 30, .max_age_ms = 60};
    struct qt_ent_pipeline *p = NULL;
    struct qt_ent_failure f;
    struct qt_ent_params pa;
    uint8_t buf[32];

    cr_assert_eq(qt_ent_pipeline_new_ex("sim:seed=1", &conf, &young, &p, &f), QT_OK);
    qt_ent_pipeline_params(p, &pa);
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, sizeof(buf)), QT_OK);
    cr_assert_eq(raw_samples(p), pa.window);
    (void)usleep(150 * 1000);
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, sizeof(buf)), QT_OK);
    cr_assert_eq(raw_samples(p), 2 * pa.window, "expired output replaced by a new window");
    qt_ent_pipeline_free(p);

    /* The default age is long enough for back-to-back requests. */
    p = open_ok("sim:seed=1");
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, sizeof(buf)), QT_OK);
    (void)usleep(150 * 1000);
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, sizeof(buf)), QT_OK);
    cr_assert_eq(raw_samples(p), pa.window);
    qt_ent_pipeline_free(p);

    p = NULL;
    cr_assert_eq(qt_ent_pipeline_new_ex("sim:seed=1,fault=stuck@66000", &conf, &young, &p, &f),
                 QT_OK);
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, sizeof(buf)), QT_OK);
    (void)usleep(150 * 1000);
    cr_assert_eq(qt_ent_pipeline_get_entropy(p, buf, sizeof(buf)), QT_E_HEALTH,
                 "the stuck device is noticed once the buffered output expired");
    qt_ent_pipeline_free(p);
}
