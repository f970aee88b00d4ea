/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The homodyne model's declared min-entropy and digitised distribution,
 * checked against an independent computation: Simpson integration of the
 * Gaussian density over the ADC bins (edges recomputed here), and for H a
 * brute-force maximum over a dense grid of classical offsets and all bins,
 * with no use of the model's analytic shortcuts.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../../device/dev_sim.h"

static double
density(double x, double mu, double s)
{
    double z = (x - mu) / s;
    return exp(-0.5 * z * z) / (s * sqrt(2.0 * M_PI));
}

/* Composite Simpson rule with n (even) sub-intervals. */
static double
simpson(double a, double b, double mu, double s, int n)
{
    double h = (b - a) / n;
    double sum = density(a, mu, s) + density(b, mu, s);

    if (!(b > a)) {
        return 0.0;
    }
    for (int k = 1; k < n; k++) {
        sum += (k % 2 ? 4.0 : 2.0) * density(a + k * h, mu, s);
    }
    return sum * h / 3.0;
}

/* Mass of ADC code i under N(mu, s^2), by integration.  Edge codes run to
 * 12 s beyond the mean (the rest is below 1e-32). */
static double
bin_mass(const struct qt_dev_sim_model *m, unsigned i, double mu, double s, int n_inner,
         int n_edge)
{
    unsigned nb = 1U << m->adc_bits;
    double st = sqrt(m->sigma_q * m->sigma_q + m->sigma_c * m->sigma_c);
    double r = m->range * st;
    double w = 2.0 * r / nb;
    double lo = -r + i * w;
    double hi = lo + w;

    if (i == 0) {
        lo = fmin(hi, mu - 12.0 * s);
        return simpson(lo, hi, mu, s, n_edge);
    }
    if (i == nb - 1) {
        hi = fmax(lo, mu + 12.0 * s);
        return simpson(lo, hi, mu, s, n_edge);
    }
    return simpson(lo, hi, mu, s, n_inner);
}

/* Simpson steps for a bin of width w: at most 0.01 s per step. */
static int
steps_for(double w, double s)
{
    int n = 2 * (int)ceil(w / (0.02 * s));
    return n < 8 ? 8 : n;
}

/* max over offsets c on a grid of k+1 points in [-5 sc, 5 sc], over all
 * codes, of the quantum-noise mass of the code given c. */
static double
pmax_numeric(const struct qt_dev_sim_model *m, int k)
{
    unsigned nb = 1U << m->adc_bits;
    double cmax = 5.0 * m->sigma_c;
    double st = sqrt(m->sigma_q * m->sigma_q + m->sigma_c * m->sigma_c);
    int n_inner = steps_for(2.0 * m->range * st / nb, m->sigma_q);
    double pmax = 0.0;

    if (m->sigma_c == 0.0) {
        k = 0;
    }
    for (int j = 0; j <= k; j++) {
        double c = k == 0 ? 0.0 : -cmax + 2.0 * cmax * j / k;
        for (unsigned i = 0; i < nb; i++) {
            double p = bin_mass(m, i, c, m->sigma_q, n_inner, 2000);
            if (p > pmax) {
                pmax = p;
            }
        }
    }
    return pmax;
}

static void
check_h(double sq, double sc, unsigned bits, double range, int grid)
{
    struct qt_dev_sim_model m = {.sigma_q = sq, .sigma_c = sc, .adc_bits = bits, .range = range};
    double h = qt_dev_sim_h_declared(&m);
    double pnum = pmax_numeric(&m, grid);
    double hnum = -log2(pnum);
    double pmod = exp2(-h);

    fprintf(stderr,
            "H(sigma_q=%g sigma_c=%g adc_bits=%u range=%g): model %.9f, integration %.9f "
            "(rel diff %.2e)\n",
            sq, sc, bits, range, h, hnum, fabs(h - hnum) / hnum);
    cr_assert(fabs(pmod - pnum) / pnum < 1e-6, "pmax model %.12g vs numeric %.12g", pmod, pnum);
    cr_assert(fabs(h - hnum) / hnum < 1e-6, "H model %.12g vs numeric %.12g", h, hnum);
    /* The grid can only miss the peak, never exceed it. */
    cr_assert(pnum <= pmod * (1.0 + 1e-9));
}

Test(dev_sim_model, declared_h_at_defaults_matches_integration)
{
    struct qt_dev_sim_model m;

    qt_dev_sim_model_default(&m);
    cr_assert_eq(m.adc_bits, 8);
    check_h(m.sigma_q, m.sigma_c, m.adc_bits, m.range, 4000);
}

Test(dev_sim_model, declared_h_when_edge_bins_dominate)
{
    /* Two bits over +-1 sigma: the clipping bins hold most of the mass. */
    check_h(1.0, 0.3, 2, 1.0, 4000);
    check_h(1.0, 0.3, 1, 4.0, 4000);
}

Test(dev_sim_model, declared_h_when_the_offset_bound_binds)
{
    /* sigma_c tiny: no bin centre is reachable, the peak is at +-5 sigma_c. */
    check_h(1.0, 0.01, 4, 4.0, 4000);
    check_h(0.5, 1.0, 4, 4.0, 4000);
}

Test(dev_sim_model, declared_h_other_parameters)
{
    check_h(1.0, 0.0, 8, 4.0, 0);
    check_h(2.0, 0.5, 10, 6.0, 2000);
    check_h(1.0, 0.6, 6, 3.0, 4000);
}

Test(dev_sim_model, marginal_pmf_matches_integration_and_sums_to_one)
{
    struct qt_dev_sim_model m;
    double st;
    double *pmf;
    double sum = 0.0;

    qt_dev_sim_model_default(&m);
    st = qt_dev_sim_sigma_total(&m);
    pmf = calloc(256, sizeof(*pmf));
    cr_assert_not_null(pmf);
    qt_dev_sim_adc_pmf(&m, 0.0, st, pmf);
    for (unsigned i = 0; i < 256; i++) {
        double p = bin_mass(&m, i, 0.0, st, 16, 4000);
        cr_assert(fabs(pmf[i] - p) <= 1e-7 * p, "code %u: %.12g vs %.12g", i, pmf[i], p);
        sum += pmf[i];
    }
    cr_assert(fabs(sum - 1.0) < 1e-12, "sum %.15f", sum);
    /* Symmetric model: code i and 255 - i have equal mass. */
    for (unsigned i = 0; i < 128; i++) {
        cr_assert(fabs(pmf[i] - pmf[255 - i]) <= 1e-12 * pmf[i]);
    }
    /* Edge bins: the tails beyond +-4 sigma_total plus one bin. */
    cr_assert(fabs(pmf[0] - 0.5 * erfc((4.0 - 8.0 / 256) / M_SQRT2)) < 1e-15);

    /* A shifted, wider input (what faults use). */
    qt_dev_sim_adc_pmf(&m, 0.7, 3.0 * st, pmf);
    for (unsigned i = 0; i < 256; i++) {
        double p = bin_mass(&m, i, 0.7, 3.0 * st, 16, 4000);
        cr_assert(fabs(pmf[i] - p) <= 1e-7 * p, "code %u: %.12g vs %.12g", i, pmf[i], p);
    }
    free(pmf);
}
