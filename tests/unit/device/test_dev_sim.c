/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sim device: its samples follow the model (chi-square goodness of fit,
 * SP 800-90B 6.3.1 most-common-value estimate not below the declared H),
 * seeds reproduce, and every fault starts at exactly its onset index.
 * The figures (H, MCV, chi-square, speed) are printed to stderr for the
 * report.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../../device/dev.h"
#include "../../../device/dev_sim.h"

/*
 * ----- statistics helpers -----
 */

/* Regularized upper incomplete gamma Q(a, x): the series for P(a, x) when
 * x < a + 1, else the Lentz continued fraction for Q (Press et al.,
 * Numerical Recipes, 6.2). */
static double
gamma_q(double a, double x)
{
    const double eps = 1e-15;
    const double tiny = 1e-300;
    double lpre = -x + a * log(x) - lgamma(a);

    if (x <= 0.0) {
        return 1.0;
    }
    if (x < a + 1.0) {
        double ap = a;
        double del = 1.0 / a;
        double sum = del;
        for (int n = 0; n < 100000; n++) {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * eps) {
                break;
            }
        }
        return 1.0 - sum * exp(lpre);
    }
    double b = x + 1.0 - a;
    double c = 1.0 / tiny;
    double d = 1.0 / b;
    double h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        double del;
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny) {
            d = tiny;
        }
        c = b + an / c;
        if (fabs(c) < tiny) {
            c = tiny;
        }
        d = 1.0 / d;
        del = d * c;
        h *= del;
        if (fabs(del - 1.0) < eps) {
            break;
        }
    }
    return exp(lpre) * h;
}

/* Pearson chi-square of counts against pmf * total, adjacent bins merged
 * until each group expects at least 5; returns the p-value. */
static double
chi_square(const uint64_t *counts, const double *pmf, size_t nbins, uint64_t total,
           double *stat_out, unsigned *df_out)
{
    double stat = 0.0;
    double e_acc = 0.0;
    double o_acc = 0.0;
    double e_last = 0.0;
    double o_last = 0.0;
    unsigned groups = 0;

    for (size_t i = 0; i < nbins; i++) {
        e_acc += pmf[i] * (double)total;
        o_acc += (double)counts[i];
        if (e_acc >= 5.0) {
            if (groups > 0) {
                stat += (o_last - e_last) * (o_last - e_last) / e_last;
            }
            e_last = e_acc;
            o_last = o_acc;
            groups++;
            e_acc = 0.0;
            o_acc = 0.0;
        }
    }
    /* A sparse tail joins the last group. */
    e_last += e_acc;
    o_last += o_acc;
    stat += (o_last - e_last) * (o_last - e_last) / e_last;
    *stat_out = stat;
    *df_out = groups - 1;
    return gamma_q((groups - 1) / 2.0, stat / 2.0);
}

/* SP 800-90B 6.3.1: the most common value estimate with its upper 99%
 * confidence bound. */
static double
mcv_estimate(const uint64_t *counts, size_t nbins, uint64_t total, double *p_hat_out)
{
    uint64_t max = 0;
    double p_hat;
    double p_u;

    for (size_t i = 0; i < nbins; i++) {
        if (counts[i] > max) {
            max = counts[i];
        }
    }
    p_hat = (double)max / (double)total;
    p_u = fmin(1.0, p_hat + 2.576 * sqrt(p_hat * (1.0 - p_hat) / (double)(total - 1)));
    *p_hat_out = p_hat;
    return -log2(p_u);
}

/*
 * ----- device helpers -----
 */

static uint16_t *
read_n(const char *spec, size_t n)
{
    struct qt_dev *d = NULL;
    uint16_t *out = calloc(n, sizeof(*out));

    cr_assert_not_null(out);
    cr_assert_eq(qt_dev_open(spec, &d), QT_OK, "%s", spec);
    cr_assert_eq(qt_dev_read_full(d, out, n, 100), QT_OK, "%s", spec);
    qt_dev_close(d);
    return out;
}

/* Reads n samples through the ops in chunks of varying size (so reads cross
 * the onset at arbitrary offsets); stops at the first error. Returns the
 * number read, *rc the error (QT_OK if n were read). */
static size_t
read_chunked(struct qt_dev *d, uint16_t *out, size_t n, qt_rc *rc)
{
    static const size_t sizes[] = {777, 1, 4096, 13, 1000, 65536, 3};
    size_t done = 0;

    for (size_t k = 0; done < n; k++) {
        size_t want = sizes[k % 7];
        size_t got = 0;
        if (want > n - done) {
            want = n - done;
        }
        *rc = d->ops->read(d, out + done, want, &got, 50);
        if (*rc != QT_OK) {
            return done;
        }
        cr_assert(got > 0 && got <= want);
        done += got;
    }
    *rc = QT_OK;
    return done;
}

static uint16_t *
read_fault(const char *spec, size_t n)
{
    struct qt_dev *d = NULL;
    uint16_t *out = calloc(n, sizeof(*out));
    qt_rc rc;

    cr_assert_not_null(out);
    cr_assert_eq(qt_dev_open(spec, &d), QT_OK, "%s", spec);
    cr_assert_eq(read_chunked(d, out, n, &rc), n, "%s", spec);
    cr_assert_eq(rc, QT_OK);
    qt_dev_close(d);
    return out;
}

static size_t
first_diff(const uint16_t *a, const uint16_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            return i;
        }
    }
    return n;
}

static void
moments(const uint16_t *x, size_t n, double *mean, double *sd)
{
    double s = 0.0;
    double s2 = 0.0;

    for (size_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    *mean = s / n;
    *sd = sqrt(s2 / n - *mean * *mean);
}

/*
 * ----- the statistics helpers themselves -----
 */

Test(dev_sim, gamma_q_matches_known_chi_square_quantiles)
{
    /* df = 2: the chi-square survival function is exp(-x/2) exactly. */
    for (double x = 0.5; x < 60.0; x += 3.7) {
        cr_assert(fabs(gamma_q(1.0, x / 2.0) - exp(-x / 2.0)) < 1e-12 * fmax(1e-300, exp(-x / 2)) +
                                                                    1e-15);
    }
    /* 5% critical values (tables): df 1, 10, 100, 255. */
    cr_assert(fabs(gamma_q(0.5, 3.841459 / 2.0) - 0.05) < 1e-6);
    cr_assert(fabs(gamma_q(5.0, 18.307038 / 2.0) - 0.05) < 1e-6);
    cr_assert(fabs(gamma_q(50.0, 124.342113 / 2.0) - 0.05) < 1e-6);
    cr_assert(fabs(gamma_q(127.5, 293.247835 / 2.0) - 0.05) < 1e-5);
    /* 0.01% upper critical value of df 10. */
    cr_assert(fabs(gamma_q(5.0, 35.564 / 2.0) - 1e-4) < 2e-7);
}

/*
 * ----- the model's distribution -----
 */

static void
histogram_check(const char *spec, size_t n, int print, double *p_out, double *h_mcv_out,
                double *h_decl_out)
{
    struct qt_dev *d = NULL;
    struct qt_dev_sim_model m;
    struct qt_dev_info info;
    uint16_t *x = calloc(n, sizeof(*x));
    uint64_t *counts;
    double *pmf;
    size_t nbins;
    double stat;
    double p_hat;
    unsigned df;

    cr_assert_not_null(x);
    cr_assert_eq(qt_dev_open(spec, &d), QT_OK);
    cr_assert_eq(qt_dev_sim_model_of(d, &m), QT_OK);
    qt_dev_info(d, &info);
    cr_assert_eq(qt_dev_read_full(d, x, n, 100), QT_OK);
    qt_dev_close(d);
    /* The model of the default device, whatever spec produced the samples. */
    qt_dev_sim_model_default(&m);
    m.adc_bits = info.bits;
    nbins = (size_t)1 << m.adc_bits;
    counts = calloc(nbins, sizeof(*counts));
    pmf = calloc(nbins, sizeof(*pmf));
    cr_assert(counts != NULL && pmf != NULL);
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(x[i], nbins);
        counts[x[i]]++;
    }
    qt_dev_sim_adc_pmf(&m, 0.0, qt_dev_sim_sigma_total(&m), pmf);
    *p_out = chi_square(counts, pmf, nbins, n, &stat, &df);
    *h_mcv_out = mcv_estimate(counts, nbins, n, &p_hat);
    *h_decl_out = info.h_declared;
    if (print) {
        fprintf(stderr,
                "%s, %zu samples: chi-square %.2f, df %u, p = %.4f; MCV p_hat %.6f, "
                "H_mcv %.4f bits >= declared H %.4f bits\n",
                spec, n, stat, df, *p_out, p_hat, *h_mcv_out, *h_decl_out);
    }
    free(pmf);
    free(counts);
    free(x);
}

Test(dev_sim, million_samples_fit_the_model_and_mcv_not_below_declared_h)
{
    double p;
    double h_mcv;
    double h_decl;

    histogram_check("sim:seed=20261127", 1000000, 1, &p, &h_mcv, &h_decl);
    cr_assert_gt(p, 1e-4, "chi-square p-value %g", p);
    cr_assert_geq(h_mcv, h_decl, "MCV %f below declared %f", h_mcv, h_decl);
    cr_assert(h_decl > 6.2 && h_decl < 6.3);
}

Test(dev_sim, twelve_bit_samples_fit_the_model)
{
    double p;
    double h_mcv;
    double h_decl;

    histogram_check("sim:seed=5,adc_bits=12", 1000000, 1, &p, &h_mcv, &h_decl);
    cr_assert_gt(p, 1e-4, "chi-square p-value %g", p);
    cr_assert_geq(h_mcv, h_decl);
}

Test(dev_sim, chi_square_rejects_a_different_distribution)
{
    double p;
    double h_mcv;
    double h_decl;

    /* Samples over +-4.1 sigma tested against the +-4 sigma model. */
    histogram_check("sim:seed=3,range=4.1", 1000000, 0, &p, &h_mcv, &h_decl);
    cr_assert_lt(p, 1e-12, "p = %g", p);
    /* A narrower beam (laser off from the start) fails too. */
    histogram_check("sim:seed=3,fault=laser-off@0", 100000, 0, &p, &h_mcv, &h_decl);
    cr_assert_lt(p, 1e-12, "p = %g", p);
}

/*
 * ----- seeds -----
 */

Test(dev_sim, seeds_reproduce)
{
    size_t n = 100000;
    uint16_t *a = read_n("sim:seed=42", n);
    uint16_t *b = read_n("sim:seed=42", n);
    uint16_t *c = read_n("sim:seed=43", n);
    uint16_t *u1 = read_n("sim", n);
    uint16_t *u2 = read_n("sim", n);
    size_t same = 0;

    cr_assert_eq(memcmp(a, b, n * sizeof(*a)), 0);
    for (size_t i = 0; i < n; i++) {
        same += a[i] == c[i];
    }
    cr_assert_lt(same, n / 20, "seed 43 gives a different stream (%zu equal)", same);
    cr_assert_neq(memcmp(u1, u2, n * sizeof(*u1)), 0, "unseeded runs differ");
    /* Chunking does not change the stream. */
    free(b);
    b = read_fault("sim:seed=42", n);
    cr_assert_eq(memcmp(a, b, n * sizeof(*a)), 0);
    free(a);
    free(b);
    free(c);
    free(u1);
    free(u2);
}

Test(dev_sim, sample_widths)
{
    size_t n = 100000;
    uint16_t *one = read_n("sim:seed=1,adc_bits=1", n);
    uint16_t *wide = read_n("sim:seed=1,adc_bits=16", n);
    size_t ones = 0;
    double mean;
    double sd;

    for (size_t i = 0; i < n; i++) {
        cr_assert_leq(one[i], 1);
        ones += one[i];
    }
    cr_assert(ones > n / 2 - 2000 && ones < n / 2 + 2000);
    moments(wide, n, &mean, &sd);
    /* 65536 codes over +-4 sigma: sd = 65536 / 8 codes. */
    cr_assert(fabs(mean - 32767.5) < 100.0, "mean %f", mean);
    cr_assert(fabs(sd - 8192.0) < 100.0, "sd %f", sd);
    free(one);
    free(wide);
}

/*
 * ----- faults: the stream is the unfaulted one up to the onset, then the
 * fault from exactly the onset -----
 */

#define ONSET 5000
#define TOTAL 120000

Test(dev_sim, fault_stuck)
{
    uint16_t *ref = read_n("sim:seed=77", TOTAL);
    uint16_t *x = read_fault("sim:seed=77,fault=stuck@5000", TOTAL);

    cr_assert_eq(first_diff(ref, x, ONSET), ONSET);
    for (size_t i = ONSET; i < TOTAL; i++) {
        cr_assert_eq(x[i], ref[ONSET - 1], "sample %zu", i);
    }
    cr_assert_neq(ref[ONSET], ref[ONSET - 1], "seed makes the onset visible");
    free(x);
    x = read_fault("sim:seed=77,fault=stuck@0", 1000);
    for (size_t i = 0; i < 1000; i++) {
        cr_assert_eq(x[i], 128);
    }
    free(x);
    free(ref);
}

/*
 * Exact onset of a fault that changes the analog signal.  With seed S:
 *   - the fault@N stream equals the unfaulted stream on [0, N);
 *   - it equals the fault@(N+1) stream at every index after N (each sample
 *     consumes one PRNG output whatever the table, so both use the same
 *     table on the same random numbers there), except, for drift, at the
 *     block boundaries N + 1000 k where the two are one step apart;
 *   - across many seeds, sample N follows the fault's distribution and
 *     sample N - 1 the nominal one (checked by the caller from at_n[] and
 *     before_n[]).
 */
#define SEEDS 200

static void
onset_check(const char *fault, size_t n, size_t len, int drift, uint16_t *at_n, uint16_t *before_n,
            size_t *differ_at_n)
{
    uint16_t *ref = calloc(n + len, sizeof(*ref));
    uint16_t *a = calloc(n + len, sizeof(*a));
    uint16_t *b = calloc(n + len, sizeof(*b));
    size_t boundary_diffs = 0;
    char spec[128];

    cr_assert(ref != NULL && a != NULL && b != NULL);
    *differ_at_n = 0;
    for (unsigned seed = 1; seed <= SEEDS; seed++) {
        struct qt_dev *d = NULL;
        qt_rc rc;

        snprintf(spec, sizeof(spec), "sim:seed=%u", seed);
        cr_assert_eq(qt_dev_open(spec, &d), QT_OK);
        cr_assert_eq(qt_dev_read_full(d, ref, n + len, 10), QT_OK);
        qt_dev_close(d);
        snprintf(spec, sizeof(spec), "sim:seed=%u,fault=%s@%zu", seed, fault, n);
        cr_assert_eq(qt_dev_open(spec, &d), QT_OK);
        cr_assert_eq(read_chunked(d, a, n + len, &rc), n + len);
        qt_dev_close(d);
        snprintf(spec, sizeof(spec), "sim:seed=%u,fault=%s@%zu", seed, fault, n + 1);
        cr_assert_eq(qt_dev_open(spec, &d), QT_OK);
        cr_assert_eq(read_chunked(d, b, n + len, &rc), n + len);
        qt_dev_close(d);

        cr_assert_eq(first_diff(ref, a, n), n, "%s: nothing changes before the onset", spec);
        cr_assert_eq(ref[n], b[n], "%s: @N+1 is still nominal at N", spec);
        for (size_t i = n + 1; i < n + len; i++) {
            if (drift && (i - n) % 1000 == 0) {
                boundary_diffs += a[i] != b[i];
                continue;
            }
            cr_assert_eq(a[i], b[i], "seed %u, sample %zu", seed, i);
        }
        at_n[seed - 1] = a[n];
        before_n[seed - 1] = a[n - 1];
        *differ_at_n += a[n] != ref[n];
    }
    if (drift) {
        /* The steps really happen at N + 1000 k (for @N) vs N + 1 + 1000 k. */
        cr_assert_gt(boundary_diffs, SEEDS * ((len - 1) / 1000) / 10, "%zu", boundary_diffs);
    }
    free(b);
    free(a);
    free(ref);
}

Test(dev_sim, fault_laser_off)
{
    uint16_t at_n[SEEDS];
    uint16_t before_n[SEEDS];
    size_t differ = 0;
    size_t wide_at = 0;
    size_t wide_before = 0;
    uint16_t *x;
    double mean;
    double sd;
    double want_sd = sqrt(0.05 * 0.05 + 0.3 * 0.3) / (4.0 * sqrt(1.09) * 2.0 / 256.0);

    onset_check("laser-off", ONSET, 2000, 0, at_n, before_n, &differ);
    /* 60 codes = 6.4 sigma of the laser-off beam, 1.9 sigma of the nominal. */
    for (size_t i = 0; i < SEEDS; i++) {
        wide_at += fabs(at_n[i] - 127.5) > 60.0;
        wide_before += fabs(before_n[i] - 127.5) > 60.0;
    }
    cr_assert_eq(wide_at, 0, "sample N has the narrow distribution");
    cr_assert_geq(wide_before, 3, "sample N-1 has the nominal one (%zu wide)", wide_before);
    cr_assert_gt(differ, SEEDS / 2);

    x = read_fault("sim:seed=77,fault=laser-off@5000", TOTAL);
    moments(x + ONSET, TOTAL - ONSET, &mean, &sd);
    cr_assert(fabs(sd - want_sd) < 0.2, "sd %f codes, want %f", sd, want_sd);
    cr_assert(fabs(mean - 127.5) < 0.5, "mean %f", mean);
    moments(x, ONSET, &mean, &sd);
    cr_assert(sd > 28.0, "before the onset: nominal spread (%f)", sd);
    free(x);
}

Test(dev_sim, fault_saturate)
{
    uint16_t at_n[SEEDS];
    uint16_t before_n[SEEDS];
    size_t differ = 0;
    size_t rails_at = 0;
    size_t rails_before = 0;
    size_t rails = 0;
    uint16_t *x;
    double frac;

    onset_check("saturate", ONSET, 2000, 0, at_n, before_n, &differ);
    for (size_t i = 0; i < SEEDS; i++) {
        rails_at += at_n[i] == 0 || at_n[i] == 255;
        rails_before += before_n[i] == 0 || before_n[i] == 255;
    }
    cr_assert_gt(rails_at, SEEDS / 2 - 20, "%zu", rails_at);
    cr_assert_leq(rails_before, 2);

    x = read_fault("sim:seed=77,fault=saturate@5000", TOTAL);
    for (size_t i = ONSET; i < TOTAL; i++) {
        rails += x[i] == 0 || x[i] == 255;
    }
    /* Gain 8 puts the inner edges of the rail codes at +-(4 - 1/32) / 8
     * sigma: 2 Q(0.5 - 1/256) of the mass. */
    frac = (double)rails / (TOTAL - ONSET);
    cr_assert(fabs(frac - erfc((0.5 - 1.0 / 256.0) / M_SQRT2)) < 0.01, "rail fraction %f", frac);
    free(x);
}

Test(dev_sim, fault_drift)
{
    uint16_t at_n[SEEDS];
    uint16_t before_n[SEEDS];
    size_t differ = 0;
    uint16_t *ref = read_n("sim:seed=77", TOTAL);
    uint16_t *x = read_fault("sim:seed=77,fault=drift@5000", TOTAL);
    size_t changed = 0;
    double mean;
    double sd;

    onset_check("drift", ONSET, 5001, 1, at_n, before_n, &differ);
    /* The first step (0.01 sigma) applies from sample N itself. */
    cr_assert_gt(differ, SEEDS / 10, "%zu", differ);
    cr_assert_eq(first_diff(ref, x, ONSET), ONSET);
    for (size_t i = ONSET; i < ONSET + 1000; i++) {
        changed += x[i] != ref[i];
    }
    cr_assert_gt(changed, 100);
    /* Block k (1000 samples) after the onset has offset 0.01 (k + 1) sigma,
     * that is 0.32 (k + 1) codes. */
    for (size_t k = 9; k < 110; k += 50) {
        moments(x + ONSET + 1000 * k, 1000, &mean, &sd);
        cr_assert(fabs(mean - 127.5 - 0.32 * (k + 1)) < 4.0, "block %zu mean %f", k, mean);
    }
    moments(x + ONSET + 109000, 1000, &mean, &sd);
    cr_assert(mean - 127.5 > 30.0, "1.1 sigma of drift: mean %f", mean);
    free(x);
    free(ref);
}

Test(dev_sim, fault_repeat_after_a_full_buffer)
{
    uint16_t *ref = read_n("sim:seed=77", TOTAL);
    uint16_t *x = read_fault("sim:seed=77,fault=repeat@10000", TOTAL);

    cr_assert_eq(first_diff(ref, x, 10000), 10000);
    for (size_t j = 0; j < TOTAL - 10000; j++) {
        cr_assert_eq(x[10000 + j], ref[10000 - 4096 + j % 4096], "sample %zu", 10000 + j);
    }
    cr_assert_neq(memcmp(x + 10000, ref + 10000, 4096 * sizeof(*x)), 0);
    free(x);
    free(ref);
}

Test(dev_sim, fault_repeat_before_a_full_buffer)
{
    uint16_t *ref = read_n("sim:seed=77", 20000);
    uint16_t *x = read_fault("sim:seed=77,fault=repeat@1000", 20000);
    double mean;
    double sd;

    cr_assert_eq(first_diff(ref, x, 1000), 1000);
    for (size_t i = 1000; i + 4096 < 20000; i++) {
        cr_assert_eq(x[i], x[i + 4096], "period 4096 at %zu", i);
    }
    /* The buffer ends with the 1000 delivered samples ... */
    cr_assert_eq(memcmp(x + 4096, ref, 1000 * sizeof(*x)), 0);
    /* ... and starts with power-on samples of the model, not zeros. */
    moments(x + 1000, 3096, &mean, &sd);
    cr_assert(fabs(mean - 127.5) < 3.0 && sd > 28.0, "mean %f sd %f", mean, sd);
    free(x);
    free(ref);
}

Test(dev_sim, fault_read_error)
{
    struct qt_dev *d = NULL;
    uint16_t *ref = read_n("sim:seed=77", ONSET);
    uint16_t *x = calloc(TOTAL, sizeof(*x));
    size_t got = 0;
    qt_rc rc;

    cr_assert_eq(qt_dev_open("sim:seed=77,fault=read-error@5000", &d), QT_OK);
    cr_assert_eq(read_chunked(d, x, TOTAL, &rc), ONSET);
    cr_assert_eq(rc, QT_E_IO);
    cr_assert_eq(memcmp(x, ref, ONSET * sizeof(*x)), 0);
    cr_assert_eq(d->ops->read(d, x, 10, &got, 10), QT_E_IO, "sticky");
    cr_assert_eq(got, 0);
    qt_dev_close(d);

    /* One read spanning the onset stops short at it. */
    cr_assert_eq(qt_dev_open("sim:seed=77,fault=read-error@5000", &d), QT_OK);
    cr_assert_eq(d->ops->read(d, x, 4990, &got, 10), QT_OK);
    cr_assert_eq(d->ops->read(d, x, 100, &got, 10), QT_OK);
    cr_assert_eq(got, 10);
    cr_assert_eq(d->ops->read(d, x, 100, &got, 10), QT_E_IO);
    qt_dev_close(d);

    cr_assert_eq(qt_dev_open("sim:seed=77,fault=read-error@0", &d), QT_OK);
    cr_assert_eq(d->ops->read(d, x, 1, &got, 10), QT_E_IO);
    qt_dev_close(d);
    free(x);
    free(ref);
}

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

Test(dev_sim, fault_dead)
{
    struct qt_dev *d = NULL;
    uint16_t *ref = read_n("sim:seed=77", ONSET);
    uint16_t *x = calloc(TOTAL, sizeof(*x));
    size_t got = 0;
    double t0;
    double dt;
    qt_rc rc;

    cr_assert_eq(qt_dev_open("sim:seed=77,fault=dead@5000", &d), QT_OK);
    t0 = now_ms();
    cr_assert_eq(read_chunked(d, x, TOTAL, &rc), ONSET);
    dt = now_ms() - t0;
    cr_assert_eq(rc, QT_E_TIMEOUT);
    cr_assert(dt >= 50.0 && dt < 1000.0, "the timeout is honoured (%f ms)", dt);
    cr_assert_eq(memcmp(x, ref, ONSET * sizeof(*x)), 0);
    t0 = now_ms();
    cr_assert_eq(d->ops->read(d, x, 10, &got, 0), QT_E_TIMEOUT);
    cr_assert_lt(now_ms() - t0, 20.0);
    cr_assert_eq(qt_dev_read_full(d, x, 10, 20), QT_E_TIMEOUT);
    qt_dev_close(d);
    free(x);
    free(ref);
}

Test(dev_sim, faults_at_sixteen_bits)
{
    uint16_t *ref = read_n("sim:seed=9,adc_bits=16", 20000);
    uint16_t *x = read_fault("sim:seed=9,adc_bits=16,fault=laser-off@3333", 20000);
    uint16_t *y = read_fault("sim:seed=9,adc_bits=16,fault=laser-off@3334", 20000);
    double mean;
    double sd;

    cr_assert_eq(first_diff(ref, x, 3333), 3333);
    cr_assert_eq(y[3333], ref[3333]);
    cr_assert_eq(memcmp(x + 3334, y + 3334, (20000 - 3334) * sizeof(*x)), 0);
    moments(x + 3333, 20000 - 3333, &mean, &sd);
    cr_assert(fabs(sd / 8192.0 - sqrt(0.05 * 0.05 + 0.09) / sqrt(1.09)) < 0.02, "sd %f", sd);
    free(x);
    x = read_fault("sim:seed=9,adc_bits=16,fault=stuck@3333", 20000);
    cr_assert_eq(first_diff(ref, x, 20000), 3333);
    cr_assert_eq(x[19999], ref[3332]);
    free(y);
    free(x);
    free(ref);
}

/*
 * ----- speed (reported, not asserted) -----
 */

Test(dev_sim, speed_is_reported)
{
    double sps8 = 0.0;
    double sps16 = 0.0;

    cr_assert_eq(qt_dev_sim_speed("sim:seed=1", (size_t)1 << 24, &sps8), QT_OK);
    cr_assert_eq(qt_dev_sim_speed("sim:seed=1,adc_bits=16", (size_t)1 << 24, &sps16), QT_OK);
    cr_assert_gt(sps8, 0.0);
    fprintf(stderr, "sim speed: %.1f Msamples/s (8-bit), %.1f Msamples/s (16-bit)\n", sps8 / 1e6,
            sps16 / 1e6);
    cr_assert_eq(qt_dev_sim_speed("chardev:/dev/urandom,bits=8,h=8", 10, &sps8), QT_E_ARG);
}
