/* SPDX-License-Identifier: Apache-2.0 */
/* Health tests: cutoff formulas, boundary tests (C-1 passes, C fails) for the
 * RCT and APT, agreement of the vectorised tests with a naive reference on
 * random low-entropy data, block-repeat detection, the drift monitor's
 * cutoff (exactly at it passes, one above fails) and ramp detection, and no
 * false alarm on 10M iid samples (all tests, drift monitor included). */
#include <criterion/criterion.h>
#include <stdio.h>

/* figures for the report: always printed (meson shows them with --verbose) */
#define note(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../src/entropy/ent_health.h"
#include "splitmix.h"

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

/* splitmix64 (xorshift's low bits are predictable enough for the lag-1
 * predictor to notice) */
static uint64_t
rnd(void)
{
    return qt_test_splitmix64(&rng_state);
}

static struct qt_ent_health *
make(double h, unsigned bits, struct qt_ent_health_cfg *cfg)
{
    struct qt_ent_health *hl = NULL;
    cr_assert_eq(qt_ent_health_cutoffs(h, bits, 30, cfg), QT_OK);
    cr_assert_eq(qt_ent_health_new(cfg, &hl), QT_OK);
    return hl;
}

/* Independent binomial tail by direct summation in long double. */
static long double
tail(unsigned w, double p, unsigned c)
{
    long double s = 0.0L;
    for (unsigned j = c; j <= w; j++) {
        s += expl(lgammal(w + 1.0L) - lgammal(j + 1.0L) - lgammal(w - j + 1.0L) +
                  j * logl(p) + (w - j) * log1pl(-p));
    }
    return s;
}

Test(ent_health, rct_cutoff_formula)
{
    cr_assert_eq(qt_ent_health_rct_cutoff(1.0, 20), 21); /* SP 800-90B example */
    cr_assert_eq(qt_ent_health_rct_cutoff(6.27, 30), 6); /* 1 + ceil(4.78) */
    cr_assert_eq(qt_ent_health_rct_cutoff(8.0, 30), 5);
    cr_assert_eq(qt_ent_health_rct_cutoff(7.5, 30), 5); /* exactly 4: no round-up */
    cr_assert_eq(qt_ent_health_rct_cutoff(0.5, 30), 61);
}

Test(ent_health, apt_cutoff_matches_sp800_90b_table)
{
    /* SP 800-90B table 2, W = 512, alpha = 2^-20 */
    cr_assert_eq(qt_ent_health_apt_cutoff(0.5, 512, 20), 410);
    cr_assert_eq(qt_ent_health_apt_cutoff(1.0, 512, 20), 311);
    cr_assert_eq(qt_ent_health_apt_cutoff(2.0, 512, 20), 177);
    cr_assert_eq(qt_ent_health_apt_cutoff(4.0, 512, 20), 62);
    cr_assert_eq(qt_ent_health_apt_cutoff(8.0, 512, 20), 13);
}

Test(ent_health, apt_cutoff_is_least_with_tail_below_alpha)
{
    static const double hs[] = {0.3, 1.0, 3.3, 6.27, 8.0, 11.0};
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        unsigned w = hs[i] < 1.0 ? 1024 : 512;
        unsigned c = qt_ent_health_apt_cutoff(hs[i], w, 30);
        long double alpha = ldexpl(1.0L, -30);
        cr_assert(tail(w, exp2(-hs[i]), c) <= alpha, "H=%g C=%u", hs[i], c);
        cr_assert(tail(w, exp2(-hs[i]), c - 1) > alpha, "H=%g C-1=%u", hs[i], c - 1);
    }
}

Test(ent_health, default_sim_cutoffs)
{
    struct qt_ent_health_cfg cfg;
    cr_assert_eq(qt_ent_health_cutoffs(6.27, 8, 30, &cfg), QT_OK);
    note("H=6.27 8-bit alpha=2^-30: RCT C=%u, APT W=%u C=%u, repeat K=%u", cfg.rct_cutoff,
                cfg.apt_window, cfg.apt_cutoff, cfg.repeat_run);
    cr_assert_eq(cfg.rct_cutoff, 6);
    cr_assert_eq(cfg.apt_window, 512);
    cr_assert_eq(cfg.repeat_run, 2);
    cr_assert_eq(qt_ent_health_cutoffs(0.9, 1, 30, &cfg), QT_OK);
    cr_assert_eq(cfg.apt_window, 1024);
    cr_assert_eq(cfg.repeat_chunk, 64);
    cr_assert_eq(qt_ent_health_cutoffs(0.1, 1, 30, &cfg), QT_OK);
    cr_assert_eq(cfg.repeat_chunk, 512);
    cr_assert_eq(cfg.rct_cutoff, 301);
    cr_assert_eq(qt_ent_health_cutoffs(0.005, 1, 30, &cfg), QT_E_CONFIG);
}

/* n samples with no two neighbours equal and no value frequent. */
static void
varied(uint16_t *s, size_t n, uint16_t avoid)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t v;
        do {
            v = (uint16_t)(rnd() & 0xFF);
        } while (v == avoid || (i > 0 && v == s[i - 1]));
        s[i] = v;
    }
}

static void
rct_boundary(size_t run, int expect_fail)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = make(6.27, 8, &cfg);
    static uint16_t s[4000];
    struct qt_ent_failure f;
    size_t at = 1234;

    varied(s, 4000, 77);
    for (size_t i = 0; i < run; i++) {
        s[at + i] = 77;
    }
    qt_ent_health_reset(h, 1000000);
    /* feed in uneven pieces so runs cross call boundaries */
    qt_rc rc = QT_OK;
    for (size_t off = 0; off < 4000 && rc == QT_OK;) {
        size_t k = 1 + rnd() % 700;
        k = k > 4000 - off ? 4000 - off : k;
        rc = qt_ent_health_run(h, s + off, k, &f);
        off += k;
    }
    if (expect_fail) {
        cr_assert_eq(rc, QT_E_HEALTH);
        cr_assert_eq(f.test, QT_ENT_TEST_RCT);
        cr_assert_eq(f.sample_index, 1000000 + at + cfg.rct_cutoff - 1);
    } else {
        cr_assert_eq(rc, QT_OK, "%s", f.detail);
    }
    qt_ent_health_free(h);
}

Test(ent_health, rct_cutoff_minus_one_passes)
{
    for (int i = 0; i < 50; i++) {
        rct_boundary(5, 0); /* C - 1 = 5 */
    }
}

Test(ent_health, rct_cutoff_fails_at_exact_sample)
{
    for (int i = 0; i < 50; i++) {
        rct_boundary(6, 1);
        rct_boundary(40, 1);
    }
}

static void
apt_boundary(unsigned occurrences, int expect_fail)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = make(6.27, 8, &cfg);
    static uint16_t s[3 * 512];
    struct qt_ent_failure f;
    size_t last = 0;

    /* window 2 (samples 512..1023) starts with 200 and holds it
     * `occurrences` times in all, never adjacent; others are varied */
    varied(s, sizeof(s) / sizeof(s[0]), 200);
    s[512] = 200;
    for (unsigned k = 1; k < occurrences; k++) {
        last = 512 + 2 + 2 * k * (500 / (2 * occurrences));
        s[last] = 200;
    }
    qt_rc rc = qt_ent_health_run(h, s, sizeof(s) / sizeof(s[0]), &f);
    if (expect_fail) {
        cr_assert_eq(rc, QT_E_HEALTH);
        cr_assert_eq(f.test, QT_ENT_TEST_APT, "%s", f.detail);
        cr_assert_eq(f.sample_index, last);
    } else {
        cr_assert_eq(rc, QT_OK, "%s", f.detail);
    }
    qt_ent_health_free(h);
}

Test(ent_health, apt_cutoff_minus_one_passes)
{
    struct qt_ent_health_cfg cfg;
    cr_assert_eq(qt_ent_health_cutoffs(6.27, 8, 30, &cfg), QT_OK);
    note("APT cutoff at H=6.27: %u", cfg.apt_cutoff);
    apt_boundary(cfg.apt_cutoff - 1, 0);
}

Test(ent_health, apt_cutoff_fails_at_exact_sample)
{
    struct qt_ent_health_cfg cfg;
    cr_assert_eq(qt_ent_health_cutoffs(6.27, 8, 30, &cfg), QT_OK);
    apt_boundary(cfg.apt_cutoff, 1);
}

Test(ent_health, apt_value_outside_window_does_not_count)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = make(6.27, 8, &cfg);
    static uint16_t s[2048];
    struct qt_ent_failure f;

    /* cutoff - 1 copies at the end of window 1, first value of window 2 equal:
     * windows are disjoint, so nothing fires */
    varied(s, 2048, 9);
    s[0] = 9;
    for (unsigned k = 1; k < cfg.apt_cutoff - 1; k++) {
        s[2 * k] = 9;
    }
    s[512] = 9;
    for (unsigned k = 1; k < cfg.apt_cutoff - 1; k++) {
        s[512 + 2 * k] = 9;
    }
    cr_assert_eq(qt_ent_health_run(h, s, 2048, &f), QT_OK, "%s", f.detail);
    qt_ent_health_free(h);
}

/* Naive RCT + APT for cross-checking the vectorised code. */
static int64_t
reference_first_fail(const uint16_t *s, size_t n, unsigned rc, unsigned w, unsigned ac,
                     enum qt_ent_test *which)
{
    unsigned run = 0, cnt = 0, pos = 0;
    uint16_t prev = 0, ref = 0;
    for (size_t i = 0; i < n; i++) {
        run = (i > 0 && s[i] == prev) ? run + 1 : 1;
        prev = s[i];
        if (run >= rc) {
            *which = QT_ENT_TEST_RCT;
            return (int64_t)i;
        }
        if (pos == 0) {
            ref = s[i];
            cnt = 1;
        } else if (s[i] == ref && ++cnt >= ac) {
            *which = QT_ENT_TEST_APT;
            return (int64_t)i;
        }
        pos = (pos + 1) % w;
    }
    return -1;
}

Test(ent_health, vectorised_tests_match_naive_reference)
{
    static uint16_t s[20000];
    int fails = 0;

    for (int rep = 0; rep < 300; rep++) {
        struct qt_ent_health_cfg cfg;
        /* alphabets of 2..9 values with declared H above their real entropy so
         * the tests fire at varied places */
        unsigned k = 2 + (unsigned)(rep % 8);
        double h = log2((double)k) * (1.6 + (rep % 5) * 0.5);
        struct qt_ent_health *hl;
        enum qt_ent_test which = QT_ENT_TEST_NONE;
        struct qt_ent_failure f;
        int64_t want;
        qt_rc rc = QT_OK;
        size_t off = 0;

        if (h > 8.0) {
            h = 8.0;
        }
        hl = make(h, 8, &cfg);
        for (size_t i = 0; i < 20000; i++) {
            s[i] = (uint16_t)(rnd() % k);
        }
        want = reference_first_fail(s, 20000, cfg.rct_cutoff, cfg.apt_window, cfg.apt_cutoff,
                                    &which);
        while (off < 20000 && rc == QT_OK) {
            size_t piece = rep % 3 == 0 ? 20000 : 1 + rnd() % 3000;
            piece = piece > 20000 - off ? 20000 - off : piece;
            rc = qt_ent_health_run(hl, s + off, piece, &f);
            off += piece;
        }
        if (want < 0) {
            cr_assert_eq(rc, QT_OK, "rep %d: %s", rep, f.detail);
        } else {
            fails++;
            cr_assert_eq(rc, QT_E_HEALTH, "rep %d: reference fails at %lld", rep,
                         (long long)want);
            cr_assert_eq((int64_t)f.sample_index, want, "rep %d", rep);
            cr_assert_eq(f.test, which, "rep %d", rep);
        }
        qt_ent_health_free(hl);
    }
    cr_assert_gt(fails, 100);
}

Test(ent_health, failure_is_sticky_until_reset)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = make(6.27, 8, &cfg);
    uint16_t s[600];
    struct qt_ent_failure f;

    memset(s, 0, sizeof(s));
    cr_assert_eq(qt_ent_health_run(h, s, 600, &f), QT_E_HEALTH);
    varied(s, 600, 999);
    cr_assert_eq(qt_ent_health_run(h, s, 600, &f), QT_E_HEALTH);
    cr_assert_eq(f.test, QT_ENT_TEST_RCT);
    qt_ent_health_reset(h, 0);
    cr_assert_eq(qt_ent_health_run(h, s, 600, &f), QT_OK);
    qt_ent_health_free(h);
}

#define BIG 10000000u

/* iid samples: a discretised Gaussian (the sim's shape, H ~ 6.3) */
static void
gaussianish(uint16_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* sum of 4 uniforms: bell-shaped, p_max ~ 2^-7.2 over 256 codes */
        uint64_t r = rnd();
        unsigned v = (unsigned)(r & 0xFF) + (unsigned)((r >> 8) & 0xFF) +
                     (unsigned)((r >> 16) & 0xFF) + (unsigned)((r >> 24) & 0xFF);
        s[i] = (uint16_t)(v / 4);
    }
}

Test(ent_health, no_false_alarm_on_10M_iid_samples)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = make(6.27, 8, &cfg);
    uint16_t *s = malloc(BIG * sizeof(*s));
    struct qt_ent_failure f;

    cr_assert_not_null(s);
    gaussianish(s, BIG);
    for (size_t off = 0; off < BIG; off += 65536) {
        size_t k = BIG - off < 65536 ? BIG - off : 65536;
        cr_assert_eq(qt_ent_health_run(h, s + off, k, &f), QT_OK, "%s at %llu", f.detail,
                     (unsigned long long)f.sample_index);
    }
    cr_assert_eq(qt_ent_health_count(h), BIG);
    free(s);
    qt_ent_health_free(h);
}

/* biased bits: P(1) = 0.93, min-entropy 0.105 bits */
static void
biased_bits(uint16_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s[i] = (uint16_t)((rnd() % 100) < 93);
    }
}

static void
replay_gen(double hd, unsigned bits, void (*gen)(uint16_t *, size_t), size_t onset,
           size_t period, size_t piece)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = make(hd, bits, &cfg);
    size_t n = onset + 20000;
    uint16_t *s = malloc(n * sizeof(*s));
    struct qt_ent_failure f;
    qt_rc rc = QT_OK;

    cr_assert_not_null(s);
    gen(s, n);
    for (size_t i = onset; i < n; i++) {
        s[i] = s[i - period];
    }
    for (size_t off = 0; off < n && rc == QT_OK; off += piece) {
        rc = qt_ent_health_run(h, s + off, n - off < piece ? n - off : piece, &f);
    }
    cr_assert_eq(rc, QT_E_HEALTH);
    cr_assert_eq(f.test, QT_ENT_TEST_BLOCK_REPEAT, "%s", f.detail);
    cr_assert_geq(f.sample_index, onset);
    note("H=%g: replay of a %zu-sample buffer from %zu: block-repeat after %llu samples "
         "(chunk %u, K=%u)",
         hd, period, onset, (unsigned long long)(f.sample_index - onset), cfg.repeat_chunk,
         cfg.repeat_run);
    if (period == 4096) {
        cr_assert_leq(f.sample_index - onset,
                      cfg.repeat_chunk - 1 + cfg.repeat_chunk * cfg.repeat_run);
    } else {
        cr_assert_leq(f.sample_index - onset, 2000);
    }
    free(s);
    qt_ent_health_free(h);
}

static void
replay(size_t onset, size_t period, size_t piece)
{
    replay_gen(6.27, 8, gaussianish, onset, period, piece);
}

Test(ent_health, block_repeat_detects_4096_replay)
{
    replay(100000, 4096, 65536);
    replay(100017, 4096, 1000);
    replay(300001, 4096, 4096);
    replay(70000, 64 * 1000, 3333);
}

Test(ent_health, low_entropy_binary_source_replay_and_no_false_alarm)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = make(0.1, 1, &cfg);
    size_t n = 4000000;
    uint16_t *s = malloc(n * sizeof(*s));
    struct qt_ent_failure f;

    cr_assert_not_null(s);
    biased_bits(s, n);
    cr_assert_eq(qt_ent_health_run(h, s, n, &f), QT_OK, "%s", f.detail);
    free(s);
    qt_ent_health_free(h);
    replay_gen(0.1, 1, biased_bits, 100000, 4096, 5000);
    replay_gen(0.1, 1, biased_bits, 123457, 4096, 65536);
}

/* Block-repeat boundary: K-1 consecutive repeated chunks pass, K fail at the
 * last sample of the K-th. */
static void
repeat_boundary(unsigned chunks, int expect_fail)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = make(6.27, 8, &cfg);
    static uint16_t s[40000];
    const size_t at = 20480; /* chunk-aligned */
    struct qt_ent_failure f;
    qt_rc rc;

    gaussianish(s, 40000);
    for (size_t i = 0; i < (size_t)chunks * cfg.repeat_chunk; i++) {
        s[at + i] = s[at + i - 4096];
    }
    rc = qt_ent_health_run(h, s, 40000, &f);
    if (expect_fail) {
        cr_assert_eq(rc, QT_E_HEALTH);
        cr_assert_eq(f.test, QT_ENT_TEST_BLOCK_REPEAT);
        cr_assert_eq(f.sample_index, at + (size_t)cfg.repeat_run * cfg.repeat_chunk - 1);
    } else {
        cr_assert_eq(rc, QT_OK, "%s", f.detail);
    }
    qt_ent_health_free(h);
}

Test(ent_health, block_repeat_run_minus_one_passes)
{
    struct qt_ent_health_cfg cfg;
    cr_assert_eq(qt_ent_health_cutoffs(6.27, 8, 30, &cfg), QT_OK);
    repeat_boundary(cfg.repeat_run - 1, 0);
}

Test(ent_health, block_repeat_run_fails_at_exact_sample)
{
    struct qt_ent_health_cfg cfg;
    cr_assert_eq(qt_ent_health_cutoffs(6.27, 8, 30, &cfg), QT_OK);
    repeat_boundary(cfg.repeat_run, 1);
    repeat_boundary(cfg.repeat_run + 5, 1);
}

/* ---- bias (mean-drift) monitor -------------------------------------------------------------- */

/* The cutoff on block sums, computed here independently in long double:
 * floor(k sqrt(2 B max(var, floor))), var the population variance. */
static uint64_t
drift_cut_ref(const struct qt_ent_health_cfg *cfg, const uint16_t *ref)
{
    long double b = cfg->drift_block, mean = 0.0L, var = 0.0L;
    for (unsigned i = 0; i < cfg->drift_block; i++) {
        mean += ref[i];
    }
    mean /= b;
    for (unsigned i = 0; i < cfg->drift_block; i++) {
        var += (ref[i] - mean) * (ref[i] - mean);
    }
    var /= b;
    if (var < cfg->drift_var_floor) {
        var = cfg->drift_var_floor;
    }
    return (uint64_t)floorl(cfg->drift_k * sqrtl(2.0L * b * var));
}

static uint64_t
sum_of(const uint16_t *s, size_t n)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++) {
        t += s[i];
    }
    return t;
}

Test(ent_health, drift_cutoff_formula_and_floor)
{
    struct qt_ent_health_cfg cfg;
    static uint16_t s[QT_ENT_DRIFT_BLOCK];
    uint64_t sum, sq = 0;

    cr_assert_eq(qt_ent_health_cutoffs(6.27, 8, 30, &cfg), QT_OK);
    cr_assert_eq(cfg.drift_block, 4096);
    cr_assert_float_eq(cfg.drift_k, 8.0, 1e-12);
    cr_assert_float_eq(cfg.drift_var_floor, (exp2(12.54) - 1.0) / 12.0, 1e-9);
    /* half 100, half 140: mean 120, variance 400 exactly; sd_diff = sqrt(800 /
     * 4096) = 0.4419 codes, cutoff 8 sd_diff = 3.5355 codes = 14481.5 in sums */
    cfg.drift_var_floor = 0.0;
    for (unsigned i = 0; i < 4096; i++) {
        s[i] = i % 2 ? 100 : 140;
        sq += (uint64_t)s[i] * s[i];
    }
    sum = sum_of(s, 4096);
    cr_assert_eq(qt_ent_health_drift_cutoff(&cfg, sum, sq), 14481);
    cr_assert_eq(drift_cut_ref(&cfg, s), 14481);
    /* random 12-bit reference */
    for (int rep = 0; rep < 20; rep++) {
        sq = 0;
        for (unsigned i = 0; i < 4096; i++) {
            s[i] = (uint16_t)(rnd() % (1u + (unsigned)rep * 200u));
            sq += (uint64_t)s[i] * s[i];
        }
        cr_assert_eq(qt_ent_health_drift_cutoff(&cfg, sum_of(s, 4096), sq),
                     drift_cut_ref(&cfg, s), "rep %d", rep);
    }
    /* a constant reference (variance 0) falls back on the floor implied by
     * H: (2^(2H) - 1) / 12 */
    cr_assert_eq(qt_ent_health_cutoffs(6.27, 8, 30, &cfg), QT_OK);
    cr_assert_eq(qt_ent_health_drift_cutoff(&cfg, 4096u * 77u, 4096u * 77u * 77u),
                 (uint64_t)floor(8.0 * sqrt(2.0 * 4096.0 * (exp2(12.54) - 1.0) / 12.0)));
    cr_assert_gt(qt_ent_health_drift_cutoff(&cfg, 4096u * 77u, 4096u * 77u * 77u), 0);
}

/* Moves the sum of s[0..n) to exactly target by +-1 steps on single
 * samples, keeping 0..255 and no two neighbours equal (prev: the sample
 * before s[0]), so RCT and APT stay quiet. */
static void
steer_sum(uint16_t *s, size_t n, uint16_t prev, uint64_t target)
{
    int64_t d = (int64_t)target - (int64_t)sum_of(s, n);
    for (size_t pass = 0; d != 0; pass++) {
        cr_assert_lt(pass, 200, "cannot steer the block sum");
        for (size_t i = 0; i < n && d != 0; i++) {
            int step = d > 0 ? 1 : -1;
            int v = s[i] + step;
            uint16_t left = i > 0 ? s[i - 1] : prev;
            if (v < 0 || v > 255 || v == left || (i + 1 < n && v == s[i + 1])) {
                continue;
            }
            s[i] = (uint16_t)v;
            d -= step;
        }
    }
}

/* Block 0 is the reference; block 1 has sum ref + delta; block 2 is fresh.
 * expect_fail: the monitor fires at the last sample of block 1. */
static void
drift_boundary(int64_t delta_from_cut, int sign, int expect_fail)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = make(6.27, 8, &cfg);
    const unsigned b = cfg.drift_block;
    static uint16_t s[3 * QT_ENT_DRIFT_BLOCK];
    struct qt_ent_failure f;
    uint64_t ref, cut;
    int64_t target;
    qt_rc rc;

    varied(s, 3 * b, 999);
    ref = sum_of(s, b);
    cut = drift_cut_ref(&cfg, s);
    target = (int64_t)ref + sign * ((int64_t)cut + delta_from_cut);
    steer_sum(s + b, b, s[b - 1], (uint64_t)target);
    /* the block after must not be the one to fire */
    steer_sum(s + 2 * b, b - 1, s[2 * b - 1], ref - s[3 * b - 1]);
    cr_assert_eq(sum_of(s + b, b), (uint64_t)target);
    /* in pieces that straddle the blocks */
    rc = qt_ent_health_run(h, s, 1000, &f);
    cr_assert_eq(rc, QT_OK, "%s", f.detail);
    rc = qt_ent_health_run(h, s + 1000, 3 * b - 1000, &f);
    if (expect_fail) {
        cr_assert_eq(rc, QT_E_HEALTH);
        cr_assert_eq(f.test, QT_ENT_TEST_DRIFT, "%d", f.test);
        cr_assert_eq(f.sample_index, 2 * b - 1);
        cr_assert_neq(strstr(f.detail, "standard errors"), NULL, "%s", f.detail);
        note("drift boundary: block sum - reference %+lld (cutoff %llu): %s",
             (long long)(target - (int64_t)ref), (unsigned long long)cut, f.detail);
    } else {
        cr_assert_eq(rc, QT_OK, "%s", f.detail);
    }
    qt_ent_health_free(h);
}

Test(ent_health, drift_cutoff_exactly_passes)
{
    drift_boundary(0, 1, 0);
    drift_boundary(0, -1, 0);
    drift_boundary(-1, 1, 0);
}

Test(ent_health, drift_cutoff_plus_one_fails_at_block_end)
{
    drift_boundary(1, 1, 1);
    drift_boundary(1, -1, 1);
    drift_boundary(500, 1, 1);
}

/* A ramp like the sim's drift fault (+0.01 sigma every 1000 samples from
 * onset 5000) on the bell-shaped samples: caught within ~25,000 samples;
 * after a reset the shifted level becomes the new reference. */
Test(ent_health, drift_ramp_detected_and_reset_takes_new_reference)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = make(6.27, 8, &cfg);
    const size_t n = 65536, onset = 5000;
    uint16_t *s = malloc(n * sizeof(*s));
    struct qt_ent_failure f;
    double sd = 256.0 / sqrt(48.0); /* sum of 4 uniforms on 0..255, divided by 4 */

    cr_assert_not_null(s);
    gaussianish(s, n);
    for (size_t i = onset; i < n; i++) {
        double v = s[i] + 0.01 * sd * (double)((i - onset) / 1000 + 1);
        s[i] = (uint16_t)(v > 255.0 ? 255.0 : v + 0.5);
    }
    cr_assert_eq(qt_ent_health_run(h, s, n, &f), QT_E_HEALTH);
    cr_assert_eq(f.test, QT_ENT_TEST_DRIFT, "%s", f.detail);
    note("drift ramp (0.01 sd / 1000 samples) from %zu: fired at %llu, latency %llu: %s", onset,
         (unsigned long long)f.sample_index, (unsigned long long)(f.sample_index - onset),
         f.detail);
    cr_assert_lt(f.sample_index - onset, 30000);
    cr_assert_eq((f.sample_index + 1) % cfg.drift_block, 0);
    /* a constant offset after a fresh start is the new normal */
    qt_ent_health_reset(h, 0);
    gaussianish(s, n);
    for (size_t i = 0; i < n; i++) {
        s[i] = (uint16_t)(s[i] + 20);
    }
    cr_assert_eq(qt_ent_health_run(h, s, n, &f), QT_OK, "%s", f.detail);
    free(s);
    qt_ent_health_free(h);
}
