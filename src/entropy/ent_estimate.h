/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Online min-entropy estimate over consecutive windows of raw samples
 * (window length from conf `window`, default 65536).  Two estimators, both
 * with the 99% upper confidence bound of SP 800-90B:
 *  - most common value (6.3.1): p_u = min(1, p + 2.576 sqrt(p (1-p) / (N-1)));
 *  - a lag-1 predictor (in the manner of 6.3.7-6.3.10): for each sample it
 *    guesses the value that most often followed the previous sample so far
 *    in this window; C correct guesses out of N' give
 *    p' = p + 2.576 sqrt(p (1-p) / (N'-1)) (p = C/N'; 1 - 0.01^(1/N') if
 *    C = 0).  It catches dependence between neighbouring samples that the
 *    MCV cannot see (a uniform marginal with a predictable next value).
 *    Being judged out of sample it is not biased low on iid data.  Defined
 *    for sample widths <= 8 bits; wider samples get the MCV only.
 * The window's estimate is the minimum, -log2 of the larger p bound.
 * Each window is judged on its own; the pipeline fails the source when a
 * complete window's estimate is below declared H - margin.
 */
#ifndef QT_ENTROPY_ENT_ESTIMATE_H
#define QT_ENTROPY_ENT_ESTIMATE_H

#include <stddef.h>
#include <stdint.h>
#include "../common/err.h"

struct qt_ent_estimate_result {
    uint64_t n;        /* samples in the window */
    double p_mcv;      /* upper bound on the most common value's probability */
    double p_pred;     /* upper bound on the lag-1 predictor's success rate (0: not run) */
    double h_mcv;      /* -log2 p_mcv */
    double h_pred;     /* -log2 p_pred (bits when not run) */
    double h;          /* min of the above */
};

struct qt_ent_estimate;

qt_rc qt_ent_estimate_new(unsigned bits, struct qt_ent_estimate **out) QT_MUST_CHECK;

/* Starts an empty window (and forgets the previous sample). */
void qt_ent_estimate_reset(struct qt_ent_estimate *e);

/* Adds n samples (values < 2^bits) to the current window. */
void qt_ent_estimate_add(struct qt_ent_estimate *e, const uint16_t *s, size_t n);

/* Estimate over the samples added since the last reset/finish; then starts
 * a new window (the predictor keeps the last sample as context). */
void qt_ent_estimate_finish(struct qt_ent_estimate *e, struct qt_ent_estimate_result *out);

/* -log2 of the 99% upper bound for a proportion count/n (n >= 2). */
double qt_ent_estimate_bound_h(uint64_t count, uint64_t n, unsigned bits);

/* NULL-safe. */
void qt_ent_estimate_free(struct qt_ent_estimate *e);

#endif
