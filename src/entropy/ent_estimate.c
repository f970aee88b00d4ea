/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Online min-entropy estimator: most-common-value count and a lag-1
 * predictor, per window (see ent_estimate.h for the definitions).
 *
 * Cost per sample: one count increment (MCV) and, for widths <= 8 bits, one
 * prediction check and one pair-count update with a running argmax per
 * context, so no pass over the tables is needed to finish a window except
 * the final max over 2^bits counts and clearing the tables.
 */
#include "ent_estimate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "../common/mem.h"

#define PRED_MAX_BITS 8u

struct qt_ent_estimate {
    unsigned bits;
    size_t k;             /* 2^bits */
    uint32_t *count;      /* [k] value counts in this window */
    uint64_t n;           /* samples in this window */
    /* predictor (bits <= 8) */
    uint32_t *pair;       /* [k * k] successor counts: pair[a * k + b] */
    uint32_t *best_n;     /* [k] count of the most common successor of a */
    uint16_t *best;       /* [k] that successor */
    int have_prev;
    uint16_t prev;
    uint64_t guesses, hits;
};

double
qt_ent_estimate_bound_h(uint64_t count, uint64_t n, unsigned bits)
{
    double p, pu, floor_p = exp2(-(double)bits);

    if (n < 2) {
        return 0.0;
    }
    p = (double)count / (double)n;
    if (count == 0) {
        pu = 1.0 - pow(0.01, 1.0 / (double)n);
    } else {
        pu = p + 2.576 * sqrt(p * (1.0 - p) / (double)(n - 1));
    }
    if (pu > 1.0) {
        pu = 1.0;
    }
    if (pu < floor_p) {
        pu = floor_p;
    }
    return -log2(pu);
}

qt_rc
qt_ent_estimate_new(unsigned bits, struct qt_ent_estimate **out)
{
    struct qt_ent_estimate *e;
    qt_rc rc = QT_E_NOMEM;

    QT_ENSURE(out != NULL && bits >= 1 && bits <= 16, QT_E_ARG);
    e = calloc(1, sizeof(*e));
    QT_ENSURE(e != NULL, QT_E_NOMEM);
    e->bits = bits;
    e->k = (size_t)1 << bits;
    e->count = calloc(e->k, sizeof(*e->count));
    if (e->count == NULL) {
        goto out;
    }
    if (bits <= PRED_MAX_BITS) {
        e->pair = calloc(e->k * e->k, sizeof(*e->pair));
        e->best_n = calloc(e->k, sizeof(*e->best_n));
        e->best = calloc(e->k, sizeof(*e->best));
        if (e->pair == NULL || e->best_n == NULL || e->best == NULL) {
            goto out;
        }
    }
    *out = e;
    e = NULL;
    rc = QT_OK;
out:
    qt_ent_estimate_free(e);
    return rc;
}

static void
clear_window(struct qt_ent_estimate *e)
{
    memset(e->count, 0, e->k * sizeof(*e->count));
    e->n = 0;
    if (e->pair != NULL) {
        memset(e->pair, 0, e->k * e->k * sizeof(*e->pair));
        memset(e->best_n, 0, e->k * sizeof(*e->best_n));
        memset(e->best, 0, e->k * sizeof(*e->best));
    }
    e->guesses = 0;
    e->hits = 0;
}

void
qt_ent_estimate_reset(struct qt_ent_estimate *e)
{
    if (e != NULL) {
        clear_window(e);
        e->have_prev = 0;
        e->prev = 0;
    }
}

void
qt_ent_estimate_add(struct qt_ent_estimate *e, const uint16_t *s, size_t n)
{
    const uint16_t mask = (uint16_t)(e->k - 1);
    size_t i = 0;

    for (size_t j = 0; j < n; j++) {
        e->count[s[j] & mask]++;
    }
    e->n += n;
    if (e->pair == NULL || n == 0) {
        return;
    }
    if (!e->have_prev) {
        e->prev = s[0] & mask;
        e->have_prev = 1;
        i = 1;
    }
    {
        uint32_t *pair = e->pair, *best_n = e->best_n;
        uint16_t *best = e->best;
        uint16_t a = e->prev;
        uint64_t hits = 0, guesses = 0;
        /* A guess needs a context seen before in this window. */
        for (; i < n; i++) {
            uint16_t b = s[i] & mask;
            uint32_t c = ++pair[(size_t)a * e->k + b];
            guesses += best_n[a] > 0;
            hits += best_n[a] > 0 && best[a] == b;
            if (c > best_n[a]) {
                best_n[a] = c;
                best[a] = b;
            }
            a = b;
        }
        e->hits += hits;
        e->guesses += guesses;
        e->prev = a;
    }
}

void
qt_ent_estimate_finish(struct qt_ent_estimate *e, struct qt_ent_estimate_result *out)
{
    uint32_t maxc = 0;

    for (size_t v = 0; v < e->k; v++) {
        maxc = e->count[v] > maxc ? e->count[v] : maxc;
    }
    memset(out, 0, sizeof(*out));
    out->n = e->n;
    out->h_mcv = qt_ent_estimate_bound_h(maxc, e->n, e->bits);
    out->p_mcv = exp2(-out->h_mcv);
    out->h_pred = (double)e->bits;
    if (e->pair != NULL && e->guesses >= 2) {
        out->h_pred = qt_ent_estimate_bound_h(e->hits, e->guesses, e->bits);
        out->p_pred = exp2(-out->h_pred);
    }
    out->h = out->h_mcv < out->h_pred ? out->h_mcv : out->h_pred;
    clear_window(e);
}

void
qt_ent_estimate_free(struct qt_ent_estimate *e)
{
    if (e == NULL) {
        return;
    }
    free(e->count);
    free(e->pair);
    free(e->best_n);
    free(e->best);
    free(e);
}
