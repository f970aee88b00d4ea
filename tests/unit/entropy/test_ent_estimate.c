/* SPDX-License-Identifier: Apache-2.0 */
/* Online estimator: the 90B bound formula, iid data (uniform and the sim's
 * shape) stays above declared H - margin, a skewed source is caught by the
 * MCV, a correlated source with a flat marginal is caught by the predictor. */
#include <criterion/criterion.h>
#include <stdio.h>

/* figures for the report: always printed (meson shows them with --verbose) */
#define note(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))
#include <math.h>
#include <stdlib.h>

#include "../../../src/entropy/ent_estimate.h"
#include "splitmix.h"

#define W 65536u

static uint64_t rng_state = 0x452821e638d01377ULL;

/* splitmix64 (xorshift's low bits are predictable enough for the lag-1
 * predictor to notice) */
static uint64_t
rnd(void)
{
    return qt_test_splitmix64(&rng_state);
}

/* Box-Muller standard normal */
static double
normal(void)
{
    double u1 = ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* The sim's default: (q + c), sigma_q = 1, sigma_c = 0.3, 8-bit ADC over +-4
 * sigma_total, clipped.  Actual min-entropy ~6.33, declared (conditional) ~6.27. */
static uint16_t
sim_like(double sigma_q, double offset)
{
    double st = sqrt(1.0 + 0.09);
    double v = sigma_q * normal() + 0.3 * normal() + offset;
    double code = floor((v + 4.0 * st) / (8.0 * st) * 256.0);
    code = code < 0 ? 0 : code > 255 ? 255 : code;
    return (uint16_t)code;
}

static struct qt_ent_estimate_result
window_of(uint16_t (*gen)(void *), void *arg)
{
    struct qt_ent_estimate *e = NULL;
    struct qt_ent_estimate_result r;
    static uint16_t s[W];

    cr_assert_eq(qt_ent_estimate_new(8, &e), QT_OK);
    for (size_t i = 0; i < W; i++) {
        s[i] = gen(arg);
    }
    qt_ent_estimate_add(e, s, W / 3);
    qt_ent_estimate_add(e, s + W / 3, W - W / 3);
    qt_ent_estimate_finish(e, &r);
    qt_ent_estimate_free(e);
    cr_assert_eq(r.n, W);
    return r;
}

static uint16_t
gen_uniform(void *arg)
{
    (void)arg;
    return (uint16_t)(rnd() & 0xFF);
}

static uint16_t
gen_sim(void *arg)
{
    return sim_like(*(double *)arg, 0.0);
}

static uint16_t
gen_walk(void *arg)
{
    /* next = previous + d, d uniform in -4..3: flat marginal, 3 bits of
     * conditional entropy */
    uint16_t *prev = arg;
    *prev = (uint16_t)((*prev + (rnd() & 7) - 4) & 0xFF);
    return *prev;
}

Test(ent_estimate, bound_formula)
{
    /* p = 0.5, n = 10001: 0.5 + 2.576 * sqrt(0.25 / 10000) = 0.5128 */
    cr_assert_float_eq(qt_ent_estimate_bound_h(5000, 10000, 8),
                       -log2(0.5 + 2.576 * sqrt(0.25 / 9999.0)), 1e-12);
    cr_assert_float_eq(qt_ent_estimate_bound_h(0, 100, 8), -log2(1.0 - pow(0.01, 0.01)), 1e-12);
    cr_assert_float_eq(qt_ent_estimate_bound_h(100, 100, 8), 0.0, 1e-12);
    cr_assert_float_eq(qt_ent_estimate_bound_h(1, 1000000, 8), 8.0, 1e-12); /* floor 1/k */
}

Test(ent_estimate, uniform_iid_near_8_bits)
{
    for (int i = 0; i < 3; i++) {
        struct qt_ent_estimate_result r = window_of(gen_uniform, NULL);
        note("uniform: mcv %.3f pred %.3f", r.h_mcv, r.h_pred);
        cr_assert_gt(r.h, 7.3);
        cr_assert_gt(r.h_pred, 7.3);
    }
}

Test(ent_estimate, sim_default_stays_above_declared_minus_margin)
{
    double sq = 1.0, worst = 99.0;
    for (int i = 0; i < 8; i++) {
        struct qt_ent_estimate_result r = window_of(gen_sim, &sq);
        worst = r.h < worst ? r.h : worst;
        cr_assert_gt(r.h, 6.27 - 0.5 + 0.2, "mcv %.3f pred %.3f", r.h_mcv, r.h_pred);
    }
    note("sim-like iid windows: lowest estimate %.3f (declared 6.27, floor 5.77)", worst);
}

Test(ent_estimate, laser_off_caught_by_mcv)
{
    double sq = 0.05;
    struct qt_ent_estimate_result r = window_of(gen_sim, &sq);
    note("laser off: mcv %.3f pred %.3f", r.h_mcv, r.h_pred);
    cr_assert_lt(r.h_mcv, 5.0);
    cr_assert_lt(r.h, 6.27 - 0.5);
}

Test(ent_estimate, correlated_flat_marginal_caught_by_predictor)
{
    uint16_t prev = 0;
    struct qt_ent_estimate_result r = window_of(gen_walk, &prev);
    note("random walk: mcv %.3f pred %.3f", r.h_mcv, r.h_pred);
    cr_assert_gt(r.h_mcv, 7.3);
    cr_assert_lt(r.h_pred, 3.5);
    cr_assert_float_eq(r.h, r.h_pred, 1e-12);
}

Test(ent_estimate, windows_are_independent)
{
    struct qt_ent_estimate *e = NULL;
    struct qt_ent_estimate_result r;
    static uint16_t s[W];

    cr_assert_eq(qt_ent_estimate_new(8, &e), QT_OK);
    for (size_t i = 0; i < W; i++) {
        s[i] = 3;
    }
    qt_ent_estimate_add(e, s, W);
    qt_ent_estimate_finish(e, &r);
    cr_assert_lt(r.h, 0.01);
    for (size_t i = 0; i < W; i++) {
        s[i] = (uint16_t)(rnd() & 0xFF);
    }
    qt_ent_estimate_add(e, s, W);
    qt_ent_estimate_finish(e, &r);
    cr_assert_gt(r.h, 7.3);
    qt_ent_estimate_free(e);
}

Test(ent_estimate, wide_samples_mcv_only)
{
    struct qt_ent_estimate *e = NULL;
    struct qt_ent_estimate_result r;
    static uint16_t s[W];

    cr_assert_eq(qt_ent_estimate_new(12, &e), QT_OK);
    for (size_t i = 0; i < W; i++) {
        s[i] = (uint16_t)(rnd() & 0xFFF);
    }
    qt_ent_estimate_add(e, s, W);
    qt_ent_estimate_finish(e, &r);
    cr_assert_float_eq(r.h_pred, 12.0, 1e-12);
    cr_assert_gt(r.h_mcv, 10.0);
    qt_ent_estimate_free(e);
}
