/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The homodyne QRNG model behind the `sim` device, exposed for tests and
 * benchmarks (the device itself is reached through dev.h).
 *
 * Model: the analog signal is x = q + c, quantum vacuum noise q ~ N(0,
 * sigma_q^2) plus classical electronic noise c ~ N(0, sigma_c^2), digitised
 * by an adc_bits ADC over [-R, +R], R = range * sigma_total, sigma_total =
 * sqrt(sigma_q^2 + sigma_c^2).  The 2^adc_bits codes are equal-width bins;
 * code 0 takes (-inf, edge 1), the top code takes [last edge, +inf)
 * (clipping at the rails).
 *
 * Spec keys (all optional): seed=U64 (default: from getrandom), sigma_q=X
 * (1e-6..1e6, default 1.0), sigma_c=X (0..1e6, default 0.3), adc_bits=N
 * (1..16, default 8), range=X (0.01..64 sigma_total, default 4),
 * fault=NAME@N with NAME one of stuck, laser-off, saturate, drift, repeat,
 * read-error, dead and N the raw sample index (from open) where it starts.
 * Fault behaviour, from sample N on:
 *   stuck       every sample is the last code emitted before N
 *               (2^(adc_bits-1) if N = 0)
 *   laser-off   sigma_q drops to 5% of its value (0.05 at the default)
 *   saturate    analog gain x8 before the ADC, clipping at the rails
 *   drift       a DC offset of 0.01 * sigma_total * (floor((i - N) / 1000) + 1)
 *               is added to sample i (a step every 1000 samples)
 *   repeat      the device replays the 4096 samples preceding N cyclically
 *               (when N < 4096 the older part of that buffer holds model
 *               samples drawn at open from an independent stream and never
 *               delivered before: the firmware's power-on buffer)
 *   read-error  reads fail with QT_E_IO
 *   dead        no samples: every read sleeps its timeout, QT_E_TIMEOUT
 * A read stops short at N for read-error and dead, so the samples before N
 * are always delivered; for the other faults the switch happens inside a
 * read at exactly sample N.  With a fixed seed the samples before N are
 * identical to those of the same spec without the fault.
 */
#ifndef QT_DEVICE_DEV_SIM_H
#define QT_DEVICE_DEV_SIM_H

#include <stddef.h>
#include "dev.h"

struct qt_dev_sim_model {
    double sigma_q;     /* quantum noise standard deviation (analog units) */
    double sigma_c;     /* classical noise standard deviation (analog units) */
    unsigned adc_bits;  /* 1..16 */
    double range;       /* ADC half-range in units of sigma_total */
};

/* Fills m with the defaults: 1.0, 0.3, 8, 4. */
void qt_dev_sim_model_default(struct qt_dev_sim_model *m);

/* sqrt(sigma_q^2 + sigma_c^2). */
double qt_dev_sim_sigma_total(const struct qt_dev_sim_model *m);

/*
 * Declared conditional min-entropy per sample, in bits, given the classical
 * noise: H = -log2 max_{|c| <= 5 sigma_c} max_i P(code i | c), with
 * P(code i | c) the mass of N(c, sigma_q^2) over bin i (edge bins included).
 * The inner maximum is taken analytically: an interior bin's mass is
 * unimodal in c with its peak at the bin centre, an edge bin's mass is
 * monotone in c.
 */
double qt_dev_sim_h_declared(const struct qt_dev_sim_model *m);

/*
 * Probability of each ADC code when the analog input is N(mean, sd^2)
 * (sd > 0).  pmf has room for 2^adc_bits doubles.  The nominal marginal
 * distribution of the device is mean = 0, sd = sigma_total.
 */
void qt_dev_sim_adc_pmf(const struct qt_dev_sim_model *m, double mean, double sd, double *pmf);

/* The model of an open sim device.  QT_E_ARG if d is not a sim device. */
qt_rc qt_dev_sim_model_of(const struct qt_dev *d, struct qt_dev_sim_model *m) QT_MUST_CHECK;

/*
 * Benchmark helper: opens spec (a sim spec), reads n samples through the
 * device's read op in 64 Ki-sample chunks and reports samples per second of
 * wall-clock (monotonic) time.
 */
qt_rc qt_dev_sim_speed(const char *spec, size_t n, double *samples_per_s) QT_MUST_CHECK;

#endif
