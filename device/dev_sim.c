/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `sim` device: a simulated vacuum-fluctuation homodyne QRNG (model and
 * spec keys in dev_sim.h).  It never measures anything quantum; info says
 * simulated = 1.
 *
 * Sampling.  The digitised distribution of q + c is computed exactly (normal
 * CDF over the bin edges, dev_sim_model.c) and sampled with a Vose alias
 * table.  One xoshiro256** output per sample: its top adc_bits bits pick a
 * table slot, its low 32 bits are compared with the slot's threshold to
 * choose the slot's own code or its alias.  A fault that changes the analog
 * signal (laser-off, saturate, drift) rebuilds the table from the changed
 * distribution at its onset (drift: every 1000 samples).
 *
 * Seeding.  seed=S expands S with splitmix64 into the xoshiro state (the
 * same spec always gives the same samples); without it the state comes
 * from getrandom.  This generator is for simulation only, never for keys.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/common/check.h"
#include "../src/common/log.h"
#include "../src/common/mem.h"
#include "../src/common/osrand.h"
#include "dev_priv.h"
#include "dev_sim.h"

#define SIM_REPEAT_LEN 4096
#define SIM_DRIFT_STEP 1000
#define SIM_DRIFT_SIGMA 0.01
#define SIM_LASER_OFF_FACTOR 0.05
#define SIM_SATURATE_GAIN 8.0
/* Below this the parameters leave nothing worth declaring. */
#define SIM_H_MIN 0.001

enum sim_fault {
    SIM_FAULT_NONE = 0,
    SIM_FAULT_STUCK,
    SIM_FAULT_LASER_OFF,
    SIM_FAULT_SATURATE,
    SIM_FAULT_DRIFT,
    SIM_FAULT_REPEAT,
    SIM_FAULT_READ_ERROR,
    SIM_FAULT_DEAD,
};

static const char *const fault_names[] = {
    [SIM_FAULT_NONE] = "none",
    [SIM_FAULT_STUCK] = "stuck",
    [SIM_FAULT_LASER_OFF] = "laser-off",
    [SIM_FAULT_SATURATE] = "saturate",
    [SIM_FAULT_DRIFT] = "drift",
    [SIM_FAULT_REPEAT] = "repeat",
    [SIM_FAULT_READ_ERROR] = "read-error",
    [SIM_FAULT_DEAD] = "dead",
};

/* One alias table slot: keep code i when (uint32_t)r < thresh, else alias. */
struct sim_slot {
    uint32_t thresh;
    uint16_t alias;
    uint16_t unused;
};

struct sim {
    struct qt_dev base;
    struct qt_dev_sim_model m;
    double sigma_total;
    double h;
    uint64_t seed;
    int seed_given;
    enum sim_fault fault;
    uint64_t onset;
    int fault_started;

    uint64_t rng[4];    /* xoshiro256** state */
    uint64_t pos;       /* raw samples emitted since open */
    uint16_t last;      /* last code emitted before the onset */
    int have_last;

    size_t nbins;
    unsigned shift;     /* 64 - adc_bits */
    struct sim_slot *tab;
    double *pmf;        /* scratch for table builds */
    uint32_t *work;     /* scratch for table builds, 2 * nbins */

    uint64_t drift_next; /* pos of the next drift step */
    uint64_t drift_steps;
    uint16_t *ring;     /* repeat: samples onset-4096 .. onset-1 */

    char serial[64];
    char detail[256];
};

/*
 * ----- PRNG (xoshiro256**, splitmix64 seeding; Blackman & Vigna) -----
 */

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Seeds s from (seed, stream) or, when !given, from the OS. */
static qt_rc
rng_seed(uint64_t s[4], uint64_t seed, int given, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);

    if (given) {
        for (int i = 0; i < 4; i++) {
            s[i] = splitmix64(&x);
        }
        return QT_OK;
    }
    if (qt_os_random(s, 4 * sizeof(uint64_t)) != QT_OK) {
        return QT_E_IO;
    }
    if ((s[0] | s[1] | s[2] | s[3]) == 0) {
        s[0] = 1; /* the one state xoshiro cannot leave */
    }
    return QT_OK;
}

/*
 * ----- alias table -----
 */

/* Vose's alias method over pmf[0..nbins) (normalised here). */
static void
table_build(struct sim *s)
{
    size_t n = s->nbins;
    uint32_t *small = s->work;
    uint32_t *large = s->work + n;
    size_t ns = 0;
    size_t nl = 0;
    double sum = 0.0;

    for (size_t i = 0; i < n; i++) {
        sum += s->pmf[i];
    }
    for (size_t i = 0; i < n; i++) {
        s->pmf[i] = s->pmf[i] * (double)n / sum;
        if (s->pmf[i] < 1.0) {
            small[ns++] = (uint32_t)i;
        } else {
            large[nl++] = (uint32_t)i;
        }
    }
    while (ns > 0 && nl > 0) {
        uint32_t l = small[--ns];
        uint32_t g = large[--nl];
        double t = ldexp(s->pmf[l], 32);

        s->tab[l].thresh = t >= 4294967295.0 ? UINT32_MAX : (uint32_t)t;
        s->tab[l].alias = (uint16_t)g;
        s->pmf[g] = (s->pmf[g] + s->pmf[l]) - 1.0;
        if (s->pmf[g] < 1.0) {
            small[ns++] = g;
        } else {
            large[nl++] = g;
        }
    }
    /* Left-overs have mass 1 up to rounding: always their own code. */
    while (nl > 0) {
        uint32_t g = large[--nl];
        s->tab[g].thresh = UINT32_MAX;
        s->tab[g].alias = (uint16_t)g;
    }
    while (ns > 0) {
        uint32_t l = small[--ns];
        s->tab[l].thresh = UINT32_MAX;
        s->tab[l].alias = (uint16_t)l;
    }
}

/* The table for an analog input N(mean, sd^2). */
static void
table_set(struct sim *s, double mean, double sd)
{
    qt_dev_sim_adc_pmf(&s->m, mean, sd, s->pmf);
    table_build(s);
}

/* The hot loop: n samples from the current table with state rng. */
static void
gen(const struct sim_slot *restrict tab, unsigned shift, uint64_t *restrict rng,
    uint16_t *restrict out, size_t n)
{
    uint64_t s0 = rng[0];
    uint64_t s1 = rng[1];
    uint64_t s2 = rng[2];
    uint64_t s3 = rng[3];

    for (size_t i = 0; i < n; i++) {
        uint64_t r = rotl(s1 * 5, 7) * 9;
        uint64_t t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = rotl(s3, 45);

        uint32_t idx = (uint32_t)(r >> shift);
        struct sim_slot e = tab[idx];
        out[i] = (uint32_t)r < e.thresh ? (uint16_t)idx : e.alias;
    }
    rng[0] = s0;
    rng[1] = s1;
    rng[2] = s2;
    rng[3] = s3;
}

/*
 * ----- faults -----
 */

static void
drift_step(struct sim *s)
{
    s->drift_steps++;
    table_set(s, SIM_DRIFT_SIGMA * s->sigma_total * (double)s->drift_steps, s->sigma_total);
    s->drift_next += SIM_DRIFT_STEP;
}

/* Called once, at the first sample at or after the onset. */
static void
fault_start(struct sim *s)
{
    double sq_off;

    s->fault_started = 1;
    switch (s->fault) {
    case SIM_FAULT_STUCK:
        if (!s->have_last) {
            s->last = (uint16_t)(s->nbins / 2);
        }
        break;
    case SIM_FAULT_LASER_OFF:
        sq_off = SIM_LASER_OFF_FACTOR * s->m.sigma_q;
        table_set(s, 0.0, sqrt(sq_off * sq_off + s->m.sigma_c * s->m.sigma_c));
        break;
    case SIM_FAULT_SATURATE:
        table_set(s, 0.0, SIM_SATURATE_GAIN * s->sigma_total);
        break;
    case SIM_FAULT_DRIFT:
        s->drift_next = s->onset;
        s->drift_steps = 0;
        break;
    default:
        break;
    }
}

/* Normal (pre-onset) samples; keeps the repeat buffer and the last code. */
static void
emit_normal(struct sim *s, uint16_t *out, size_t m)
{
    gen(s->tab, s->shift, s->rng, out, m);
    if (s->ring != NULL) {
        uint64_t win = s->onset >= SIM_REPEAT_LEN ? s->onset - SIM_REPEAT_LEN : 0;
        uint64_t end = s->pos + m;
        for (uint64_t i = s->pos > win ? s->pos : win; i < end; i++) {
            s->ring[SIM_REPEAT_LEN - (s->onset - i)] = out[i - s->pos];
        }
    }
    s->last = out[m - 1];
    s->have_last = 1;
    s->pos += m;
}

/* Up to n faulty samples (n > 0); *m gets how many were produced. */
static qt_rc
emit_fault(struct sim *s, uint16_t *out, size_t n, size_t *m, int timeout_ms)
{
    size_t k = n;

    switch (s->fault) {
    case SIM_FAULT_READ_ERROR:
        return QT_E_IO;
    case SIM_FAULT_DEAD:
        qt_dev_sleep_ms(timeout_ms);
        return QT_E_TIMEOUT;
    case SIM_FAULT_STUCK:
        for (size_t i = 0; i < n; i++) {
            out[i] = s->last;
        }
        break;
    case SIM_FAULT_LASER_OFF:
    case SIM_FAULT_SATURATE:
        gen(s->tab, s->shift, s->rng, out, n);
        break;
    case SIM_FAULT_DRIFT:
        if (s->pos == s->drift_next) {
            drift_step(s);
        }
        if (k > s->drift_next - s->pos) {
            k = (size_t)(s->drift_next - s->pos);
        }
        gen(s->tab, s->shift, s->rng, out, k);
        break;
    case SIM_FAULT_REPEAT:
        for (size_t i = 0; i < n; i++) {
            out[i] = s->ring[(s->pos + i - s->onset) % SIM_REPEAT_LEN];
        }
        break;
    default:
        return QT_E_INTERNAL;
    }
    s->pos += k;
    *m = k;
    return QT_OK;
}

/*
 * ----- ops -----
 */

static qt_rc
sim_read(struct qt_dev *d, uint16_t *out, size_t n, size_t *got, int timeout_ms)
{
    struct sim *s = (struct sim *)d;
    size_t done = 0;

    QT_ENSURE_REF(d);
    QT_ENSURE_REF(out);
    QT_ENSURE_REF(got);
    QT_ENSURE(n > 0 && timeout_ms >= 0, QT_E_ARG);
    *got = 0;
    while (done < n) {
        size_t m = n - done;
        qt_rc rc;

        if (s->fault == SIM_FAULT_NONE || s->pos < s->onset) {
            if (s->fault != SIM_FAULT_NONE && s->onset - s->pos < m) {
                m = (size_t)(s->onset - s->pos);
            }
            emit_normal(s, out + done, m);
            done += m;
            continue;
        }
        if (!s->fault_started) {
            fault_start(s);
        }
        rc = emit_fault(s, out + done, m, &m, timeout_ms);
        if (rc != QT_OK) {
            /* Deliver what came before the onset; the error comes next read. */
            if (done > 0) {
                break;
            }
            return rc;
        }
        done += m;
    }
    *got = done;
    return QT_OK;
}

static void
sim_info(const struct qt_dev *d, struct qt_dev_info *out)
{
    const struct sim *s = (const struct sim *)d;

    (void)snprintf(out->type, sizeof(out->type), "sim");
    (void)snprintf(out->serial, sizeof(out->serial), "%s", s->serial);
    out->bits = s->m.adc_bits;
    out->h_declared = s->h;
    out->simulated = 1;
    (void)snprintf(out->detail, sizeof(out->detail), "%s", s->detail);
}

static void
sim_close(struct qt_dev *d)
{
    struct sim *s = (struct sim *)d;

    if (s == NULL) {
        return;
    }
    free(s->tab);
    free(s->pmf);
    free(s->work);
    free(s->ring);
    qt_wipe(s, sizeof(*s));
    free(s);
}

/* fault=NAME@N */
static qt_rc
parse_fault(const char *val, size_t len, enum sim_fault *fault, uint64_t *onset)
{
    const char *at = memchr(val, '@', len);
    size_t nlen;

    QT_ENSURE(at != NULL, QT_E_CONFIG);
    nlen = (size_t)(at - val);
    for (size_t i = 1; i < QT_ARRAY_LEN(fault_names); i++) {
        if (strlen(fault_names[i]) == nlen && memcmp(fault_names[i], val, nlen) == 0) {
            *fault = (enum sim_fault)i;
            return qt_dev_spec_u64(at + 1, len - nlen - 1, 0, UINT64_MAX / 2, onset);
        }
    }
    return QT_E_CONFIG;
}

/* Parses the spec arguments into s (parameters only, nothing allocated). */
static qt_rc
parse_args(const char *args, struct sim *s)
{
    struct qt_dev_spec_cur cur = {.p = args};
    char key[QT_DEV_KEY_MAX];
    const char *val;
    size_t vlen;
    unsigned seen = 0;
    int done = 0;

    for (;;) {
        unsigned bit;
        uint64_t u;

        QT_TRY(qt_dev_spec_next(&cur, key, &val, &vlen, &done));
        if (done) {
            return QT_OK;
        }
        if (strcmp(key, "seed") == 0) {
            bit = 1U << 0;
            QT_TRY(qt_dev_spec_u64(val, vlen, 0, UINT64_MAX, &s->seed));
            s->seed_given = 1;
        } else if (strcmp(key, "sigma_q") == 0) {
            bit = 1U << 1;
            QT_TRY(qt_dev_spec_double(val, vlen, 1e-6, 1e6, &s->m.sigma_q));
        } else if (strcmp(key, "sigma_c") == 0) {
            bit = 1U << 2;
            QT_TRY(qt_dev_spec_double(val, vlen, 0.0, 1e6, &s->m.sigma_c));
        } else if (strcmp(key, "adc_bits") == 0) {
            bit = 1U << 3;
            QT_TRY(qt_dev_spec_u64(val, vlen, 1, 16, &u));
            s->m.adc_bits = (unsigned)u;
        } else if (strcmp(key, "range") == 0) {
            bit = 1U << 4;
            QT_TRY(qt_dev_spec_double(val, vlen, 0.01, 64.0, &s->m.range));
        } else if (strcmp(key, "fault") == 0) {
            bit = 1U << 5;
            QT_TRY(parse_fault(val, vlen, &s->fault, &s->onset));
        } else {
            return QT_E_CONFIG;
        }
        QT_ENSURE((seen & bit) == 0, QT_E_CONFIG);
        seen |= bit;
    }
}

static void
describe(struct sim *s)
{
    char canon[256];
    char seedtxt[24];

    if (s->seed_given) {
        (void)snprintf(seedtxt, sizeof(seedtxt), "%" PRIu64, s->seed);
    } else {
        (void)snprintf(seedtxt, sizeof(seedtxt), "os");
    }
    (void)snprintf(canon, sizeof(canon), "sim|%.17g|%.17g|%u|%.17g|%s|%s@%" PRIu64, s->m.sigma_q,
                   s->m.sigma_c, s->m.adc_bits, s->m.range, seedtxt, fault_names[s->fault],
                   s->fault != SIM_FAULT_NONE ? s->onset : 0);
    (void)snprintf(s->serial, sizeof(s->serial), "SIM-%016" PRIx64, qt_dev_fnv1a64(canon));
    /* The seed value is not repeated here: say only whether it was fixed. */
    if (s->fault == SIM_FAULT_NONE) {
        (void)snprintf(s->detail, sizeof(s->detail),
                       "homodyne model: sigma_q=%g sigma_c=%g adc_bits=%u range=+-%g sigma_total "
                       "(sigma_total=%g) seed=%s H=%.6f bits/sample",
                       s->m.sigma_q, s->m.sigma_c, s->m.adc_bits, s->m.range, s->sigma_total,
                       s->seed_given ? "fixed" : "os", s->h);
    } else {
        (void)snprintf(s->detail, sizeof(s->detail),
                       "homodyne model: sigma_q=%g sigma_c=%g adc_bits=%u range=+-%g sigma_total "
                       "(sigma_total=%g) seed=%s H=%.6f bits/sample fault=%s@%" PRIu64,
                       s->m.sigma_q, s->m.sigma_c, s->m.adc_bits, s->m.range, s->sigma_total,
                       s->seed_given ? "fixed" : "os", s->h, fault_names[s->fault], s->onset);
    }
}

static qt_rc
sim_open(const char *args, struct qt_dev **out)
{
    struct sim *s = NULL;
    qt_rc rc;

    QT_ENSURE_REF(args);
    QT_ENSURE_REF(out);
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        return QT_E_NOMEM;
    }
    s->base.ops = &qt_dev_sim_ops;
    qt_dev_sim_model_default(&s->m);
    if ((rc = parse_args(args, s)) != QT_OK) {
        goto out;
    }
    s->sigma_total = qt_dev_sim_sigma_total(&s->m);
    s->h = qt_dev_sim_h_declared(&s->m);
    if (!(s->h >= SIM_H_MIN)) {
        rc = QT_E_CONFIG;
        goto out;
    }
    s->nbins = (size_t)1 << s->m.adc_bits;
    s->shift = 64U - s->m.adc_bits;
    s->tab = calloc(s->nbins, sizeof(*s->tab));
    s->pmf = calloc(s->nbins, sizeof(*s->pmf));
    s->work = calloc(2 * s->nbins, sizeof(*s->work));
    if (s->tab == NULL || s->pmf == NULL || s->work == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    if ((rc = rng_seed(s->rng, s->seed, s->seed_given, 0)) != QT_OK) {
        goto out;
    }
    table_set(s, 0.0, s->sigma_total);
    if (s->fault == SIM_FAULT_REPEAT) {
        if ((s->ring = calloc(SIM_REPEAT_LEN, sizeof(*s->ring))) == NULL) {
            rc = QT_E_NOMEM;
            goto out;
        }
        if (s->onset < SIM_REPEAT_LEN) {
            /* The power-on part of the buffer: an independent stream. */
            uint64_t rng2[4];
            if ((rc = rng_seed(rng2, s->seed, s->seed_given, 1)) != QT_OK) {
                goto out;
            }
            gen(s->tab, s->shift, rng2, s->ring, (size_t)(SIM_REPEAT_LEN - s->onset));
            qt_wipe(rng2, sizeof(rng2));
        }
    }
    describe(s);
    *out = &s->base;
    s = NULL;
    rc = QT_OK;
out:
    sim_close(s ? &s->base : NULL);
    return rc;
}

const struct qt_dev_ops qt_dev_sim_ops = {
    .name = "sim",
    .open = sim_open,
    .read = sim_read,
    .info = sim_info,
    .close = sim_close,
};

qt_rc
qt_dev_sim_model_of(const struct qt_dev *d, struct qt_dev_sim_model *m)
{
    QT_ENSURE_REF(d);
    QT_ENSURE_REF(m);
    QT_ENSURE(d->ops == &qt_dev_sim_ops, QT_E_ARG);
    *m = ((const struct sim *)d)->m;
    return QT_OK;
}

qt_rc
qt_dev_sim_speed(const char *spec, size_t n, double *samples_per_s)
{
    struct qt_dev *d = NULL;
    uint16_t *buf = NULL;
    const size_t chunk = 65536;
    struct timespec t0;
    struct timespec t1;
    size_t done = 0;
    double secs;
    qt_rc rc;

    QT_ENSURE_REF(spec);
    QT_ENSURE_REF(samples_per_s);
    QT_ENSURE(n > 0, QT_E_ARG);
    QT_ENSURE(strncmp(spec, "sim", 3) == 0 && (spec[3] == '\0' || spec[3] == ':'), QT_E_ARG);
    if ((rc = qt_dev_open(spec, &d)) != QT_OK) {
        goto out;
    }
    if ((buf = malloc(chunk * sizeof(*buf))) == NULL) {
        rc = QT_E_NOMEM;
        goto out;
    }
    (void)clock_gettime(CLOCK_MONOTONIC, &t0);
    while (done < n) {
        size_t got = 0;
        size_t want = n - done < chunk ? n - done : chunk;
        if ((rc = d->ops->read(d, buf, want, &got, 1000)) != QT_OK) {
            goto out;
        }
        done += got;
    }
    (void)clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    *samples_per_s = secs > 0.0 ? (double)n / secs : INFINITY;
    rc = QT_OK;
out:
    free(buf);
    qt_dev_close(d);
    return rc;
}
