/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mathematics of the homodyne model (dev_sim.h): ADC bin edges, the
 * normal mass of an interval computed from erfc without cancellation in the
 * tails, the digitised distribution of a normal input, and the declared
 * conditional min-entropy.  Pure functions, no state.
 */
#include <math.h>

#include "dev_sim.h"

/* Worst-case classical offset, in units of sigma_c (issue 2). */
#define SIM_C_BOUND 5.0

void
qt_dev_sim_model_default(struct qt_dev_sim_model *m)
{
    m->sigma_q = 1.0;
    m->sigma_c = 0.3;
    m->adc_bits = 8;
    m->range = 4.0;
}

double
qt_dev_sim_sigma_total(const struct qt_dev_sim_model *m)
{
    return sqrt(m->sigma_q * m->sigma_q + m->sigma_c * m->sigma_c);
}

/* Edge i (1..nbins-1) between code i-1 and code i; exact 0 at the middle. */
static double
edge(double r, size_t nbins, size_t i)
{
    return r * ((double)(2 * i) / (double)nbins - 1.0);
}

/* Standard normal mass of [a, b]; a may be -INFINITY, b +INFINITY.  Each
 * branch subtracts two tail masses of the same side, so small masses far
 * from 0 keep their relative precision. */
static double
std_normal_mass(double a, double b)
{
    const double s = M_SQRT1_2;

    if (a == -INFINITY) {
        return 0.5 * erfc(-b * s);
    }
    if (b == INFINITY) {
        return 0.5 * erfc(a * s);
    }
    if (a >= 0.0) {
        return 0.5 * (erfc(a * s) - erfc(b * s));
    }
    if (b <= 0.0) {
        return 0.5 * (erfc(-b * s) - erfc(-a * s));
    }
    return 1.0 - 0.5 * erfc(b * s) - 0.5 * erfc(-a * s);
}

/* Mass of code i under N(mean, sd^2). */
static double
code_mass(double r, size_t nbins, size_t i, double mean, double sd)
{
    double lo = i == 0 ? -INFINITY : (edge(r, nbins, i) - mean) / sd;
    double hi = i + 1 == nbins ? INFINITY : (edge(r, nbins, i + 1) - mean) / sd;

    return std_normal_mass(lo, hi);
}

/* The pmf needs one erfc per edge: t is the tail mass beyond the edge on
 * its own side of the mean (below it for z <= 0, above it for z > 0), and
 * each bin's mass is a difference of tails of the same side, as in
 * std_normal_mass.  Used for every table rebuild (drift: every 1000
 * samples), so it matters at 16 bits. */
void
qt_dev_sim_adc_pmf(const struct qt_dev_sim_model *m, double mean, double sd, double *pmf)
{
    size_t nbins = (size_t)1 << m->adc_bits;
    double r = m->range * qt_dev_sim_sigma_total(m);
    double za = -INFINITY; /* lower edge of the current bin, standardised */
    double ta = 0.0;       /* its tail mass */

    for (size_t i = 0; i < nbins; i++) {
        double zb = i + 1 == nbins ? INFINITY : (edge(r, nbins, i + 1) - mean) / sd;
        double tb = zb == INFINITY ? 0.0 : 0.5 * erfc(fabs(zb) * M_SQRT1_2);

        if (za >= 0.0) {
            pmf[i] = ta - tb;             /* both upper tails */
        } else if (zb <= 0.0) {
            pmf[i] = tb - ta;             /* both lower tails (ta = 0 at -inf) */
        } else {
            pmf[i] = 1.0 - ta - tb;       /* the bin holding the mean */
        }
        za = zb;
        ta = tb;
    }
}

double
qt_dev_sim_h_declared(const struct qt_dev_sim_model *m)
{
    size_t nbins = (size_t)1 << m->adc_bits;
    double r = m->range * qt_dev_sim_sigma_total(m);
    double cmax = SIM_C_BOUND * m->sigma_c;
    double pmax = 0.0;

    for (size_t i = 0; i < nbins; i++) {
        double c;
        double p;

        if (i == 0) {
            c = -cmax; /* code 0 gains mass as the offset goes down */
        } else if (i + 1 == nbins) {
            c = cmax;
        } else {
            /* Mass of a fixed interval under N(c, .) peaks at its centre. */
            c = 0.5 * (edge(r, nbins, i) + edge(r, nbins, i + 1));
            c = fmin(fmax(c, -cmax), cmax);
        }
        p = code_mass(r, nbins, i, c, m->sigma_q);
        if (p > pmax) {
            pmax = p;
        }
    }
    return -log2(pmax);
}
