/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SP 800-90B 4.4 health tests and the block-repeat detector.
 *
 * Speed (target >= 1 Gsample/s): each test is one pass over the buffer with
 * a vectorised pre-filter (GCC vector extensions, SSE2 on x86-64, NEON
 * elsewhere) and an exact scalar loop only where the pre-filter says a test
 * may fire.
 *  - RCT: a run of C equal samples ending at i implies s[i] == s[i-1] and
 *    s[i] == s[i-C+1]; a block of 256 samples with no position where both
 *    hold cannot hold the end of a failing run, so only its trailing run
 *    length is carried on.  For iid data with collision probability ~2^-H
 *    both equalities hold with probability ~2^-2H per sample.
 *  - APT: the count of the window's first value over the rest of the window
 *    is a vector compare-and-subtract; only a window that reaches the cutoff
 *    is rescanned to find the exact sample.
 *  - Block repeat: one hash per aligned chunk of 64 samples and one probe
 *    of an L1-sized table per chunk.
 *  - Drift monitor: a 4096-sample block sum in 32-bit vector lanes (two
 *    adds per 8 samples), one compare per block.
 * Measured (tests/unit/entropy/bench_entropy.c, shared 2-core VM): 1.1-1.5
 * Gsample/s for the four tests together on 8-bit samples (the drift pass
 * costs ~4%: 1.38 -> 1.33 Gsample/s in an A/B run of the same binary
 * flags).
 *
 * Block-repeat detector.  A firmware bug that replays a buffer of P samples
 * (P a multiple of 64, e.g. a 4096-sample DMA buffer) makes every aligned
 * 64-sample chunk after the onset equal to the chunk P samples earlier.  We
 * keep the 64-bit hashes of the chunks of the last 65536 samples (1024
 * chunks) in an 8-way table of 512 buckets (32 KiB of hashes, 8 KiB of
 * 16-bit chunk numbers; the oldest way is evicted, so a live entry is lost
 * only when 8 newer chunks land in its bucket within its lifetime, p ~ 1e-3)
 * and fail when K consecutive chunks each equal a remembered chunk.
 * Detection latency after the replay starts: at most 63 + 64 K samples
 * (K = 2 for H >= 1).  Below H = 0.5 the chunk doubles until it carries
 * >= 32 bits (H = 0.1: 512 samples, K = 3), up to 4096 samples.  Replays
 * with a period that is not a multiple of 64, or longer than 65536
 * samples, are not detected by this test.
 *
 * False alarms: under the declared model a chunk carries >= 64 H bits of
 * min-entropy, so it equals a given earlier chunk with probability <=
 * 2^-64H; two different chunks share a hash (63 bits: the low bit is forced
 * to mark used slots) with probability ~2^-63 (multiply-xorshift lanes and
 * a murmur finaliser; inputs are not adversarial).  A chunk is
 * compared with at most the 4096 table entries (stale ones included: the
 * 16-bit chunk numbers wrap), of which L = 1024 are recent, so it matches
 * with probability q <= 2^12 2^-63 + L 2^-64H.  K consecutive chunks
 * (independent samples) all match with probability q^K; K is the least
 * with q^K <= 2^-100.  At H = 6.3, K = 2 and q^K ~ 2^-102: a device at
 * 1 Gsample/s (2^24 chunks/s) running for 2^26 s (two years) false-alarms
 * with probability below 2^-50.
 *
 * Bias (mean-drift) monitor.  A slowly growing DC offset (thermal drift of
 * the homodyne balance, an ageing photodiode) shifts the code distribution
 * a little per sample; RCT and APT react only once a single code has become
 * far more likely than 2^-H, i.e. after the offset has grown to about a
 * sigma, long after the drifted samples were released.  The monitor keeps
 * the sum of each block of B = 4096 samples (aligned to the reset; a
 * separate vectorised pass, ~1 add per sample).  The first block after a
 * reset (the start of the start-up test) is the reference: its mean m_r and
 * (population) variance v_r.  Every later block fails when
 *     |m_b - m_r| > k sd_diff,   sd_diff = sqrt(2 v / B),  v = max(v_r, v_floor)
 * (done exactly on integer sums: |S_b - S_r| > floor(k sqrt(2 B v))).
 * Choice of k.  For a healthy stationary source m_b - m_r is a difference
 * of two independent means of B samples, so by the CLT it is ~N(0, 2 s^2 /
 * B) (s^2 the true variance).  A two-sided false-alarm rate of 2^-40 per
 * block needs k = 7.14 (erfc(7.14 / sqrt 2) = 2^-40).  We take k = 8
 * (nominal rate 2^-49.5 per block) to pay for two approximations: (a) v_r
 * is an estimate; its relative standard error is sqrt((kurtosis - 1) / B),
 * 2.2% for Gaussian-like samples, so even a v_r 10 standard errors low
 * (k sd_diff 11% too small) keeps the effective k >= 7.1; (b) the CLT's
 * relative error in the tail: the difference of two iid block sums is
 * symmetric, so the skewness term of the Edgeworth expansion cancels and
 * the first correction is the kurtosis term, relative size about
 * kappa / (2 B) (z^4 - 6 z^2 + 3) / 24 = 0.02 kappa at z = 8 (kappa the
 * samples' excess kurtosis: 9.4 for a 0.93-biased bit, ~0 for the
 * homodyne shape); the spare 9.5 bits cover it.  At 2^-49.5 per block a
 * 1 Gsample/s source (2^18 blocks/s) false-alarms about once in 2^31 s.
 * (The reference's own error is in sd_diff through the factor 2; given
 * one reference the blocks' alarms are not independent, the rate above is
 * the marginal rate per block.)
 * Variance floor.  For integer samples whose most likely value has
 * probability p <= 2^-H, Var >= (p^-2 - 1) / 12: X + U, U uniform on
 * (-1/2, 1/2), has a density <= p, so Var X + 1/12 >= 1 / (12 p^2) (among
 * densities bounded by p the uniform one has least variance); equality for
 * the uniform law on 1/p consecutive codes.  So v_floor = (2^(2H) - 1) / 12
 * is the least variance consistent with the declared H; a reference block
 * with less (a stuck-at-constant start, v_r = 0, which the RCT reports
 * anyway) does not make the monitor hair-triggered.
 * Sensitivity: at the default sim (8-bit ADC over +-4 sigma, 32 codes per
 * sigma) sd_diff = 0.022 sigma and the cutoff is a shift of 0.18 sigma of
 * a block mean; the sim's `drift` fault (+0.01 sigma per 1000 samples) is
 * caught ~18,000-22,000 samples after its onset, inside the start-up
 * window when the onset is early.  A drift that is already present in the
 * reference block is measured against a partly drifted reference, and a
 * shift smaller than 0.18 sigma is not detected (by design: the estimator
 * judges the entropy of a slightly biased source).
 */
#include "ent_health.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "../common/mem.h"

#define RCT_BLOCK 256u
#define REPEAT_BUCKETS 512u
#define REPEAT_BUCKET_BITS 9u
#define REPEAT_WAYS 8u
#define REPEAT_TARGET_LOG2 100.0

typedef uint16_t v8u16 __attribute__((vector_size(16)));
typedef int16_t v8i16 __attribute__((vector_size(16)));

struct qt_ent_health {
    struct qt_ent_health_cfg cfg;
    uint64_t base;     /* raw index of the first sample after reset */
    uint64_t pos;      /* samples tested since reset */
    int failed;
    struct qt_ent_failure failure;
    /* RCT */
    uint16_t rct_prev;
    unsigned rct_run;  /* 0 before the first sample */
    /* APT */
    uint16_t apt_ref;
    unsigned apt_count;
    unsigned apt_pos;  /* samples of the current window seen; 0 = none */
    /* block repeat */
    uint16_t part[QT_ENT_REPEAT_CHUNK_MAX];
    unsigned part_len;
    uint64_t chunks;   /* complete chunks since reset */
    unsigned streak;
    uint64_t rep_hash[REPEAT_BUCKETS][REPEAT_WAYS]; /* 0 = empty (hashes are odd) */
    uint16_t rep_seq[REPEAT_BUCKETS][REPEAT_WAYS];  /* chunk number mod 2^16 */
    /* drift monitor */
    uint64_t drift_sum;    /* sum of the current block so far */
    uint64_t drift_sumsq;  /* ... and of squares (reference block only) */
    unsigned drift_pos;    /* samples of the current block seen */
    int drift_have_ref;
    uint64_t drift_ref_sum;
    uint64_t drift_cut;    /* fail when |block sum - drift_ref_sum| > drift_cut */
    uint64_t drift_last;   /* sum of the last completed block */
};

unsigned
qt_ent_health_rct_cutoff(double h, unsigned alpha_log2)
{
    /* SP 800-90B 4.4.1: C = 1 + ceil(-log2(alpha) / H) */
    return 1u + (unsigned)ceil((double)alpha_log2 / h - 1e-9);
}

unsigned
qt_ent_health_apt_cutoff(double h, unsigned window, unsigned alpha_log2)
{
    /* SP 800-90B 4.4.2: C = 1 + CRITBINOM(W, 2^-H, 1 - alpha), i.e. the
     * least c with P(X >= c) <= alpha for X ~ Binomial(W, p).  Tail sums in
     * log space (log-sum-exp from the top), log factorials by summation. */
    double p = exp2(-h);
    double lp = log(p), lq = log1p(-p);
    double lalpha = -(double)alpha_log2 * log(2.0);
    double lfw = 0.0, ltail = -INFINITY;
    unsigned c = window + 1;

    if (p >= 1.0) {
        return window;
    }
    for (unsigned i = 2; i <= window; i++) {
        lfw += log((double)i);
    }
    for (unsigned j = window + 1; j-- > 0;) {
        double lfj = 0.0, lfr = 0.0, lpmf, hi, lo;
        for (unsigned i = 2; i <= j; i++) {
            lfj += log((double)i);
        }
        for (unsigned i = 2; i <= window - j; i++) {
            lfr += log((double)i);
        }
        lpmf = lfw - lfj - lfr + (double)j * lp + (double)(window - j) * lq;
        hi = ltail > lpmf ? ltail : lpmf;
        lo = ltail > lpmf ? lpmf : ltail;
        ltail = hi + log1p(exp(lo - hi));
        if (ltail > lalpha) {
            break;
        }
        c = j;
    }
    return c > window ? window : c;
}

qt_rc
qt_ent_health_cutoffs(double h, unsigned bits, unsigned alpha_log2, struct qt_ent_health_cfg *out)
{
    double chunk_bits, q_log2;

    QT_ENSURE_REF(out);
    QT_ENSURE(bits >= 1 && bits <= 16 && alpha_log2 >= 1 && alpha_log2 <= 64, QT_E_ARG);
    QT_ENSURE(h > 0.0 && h <= (double)bits, QT_E_ARG);
    memset(out, 0, sizeof(*out));
    out->rct_cutoff = qt_ent_health_rct_cutoff(h, alpha_log2);
    out->apt_window = bits == 1 ? 1024u : 512u;
    out->apt_cutoff = qt_ent_health_apt_cutoff(h, out->apt_window, alpha_log2);
    out->repeat_chunk = QT_ENT_REPEAT_CHUNK;
    while ((double)out->repeat_chunk * h < 32.0) {
        out->repeat_chunk *= 2;
    }
    QT_ENSURE(out->repeat_chunk <= QT_ENT_REPEAT_CHUNK_MAX, QT_E_CONFIG);
    out->repeat_history = QT_ENT_REPEAT_HISTORY;
    chunk_bits = (double)out->repeat_chunk * h;
    q_log2 = log2(exp2(12.0 - 63.0) +
                  exp2(log2((double)(QT_ENT_REPEAT_HISTORY / out->repeat_chunk)) - chunk_bits));
    QT_ENSURE(q_log2 < -1.0, QT_E_CONFIG);
    out->repeat_run = (unsigned)ceil(REPEAT_TARGET_LOG2 / -q_log2);
    if (out->repeat_run < 1) {
        out->repeat_run = 1;
    }
    out->drift_block = QT_ENT_DRIFT_BLOCK;
    out->drift_k = QT_ENT_DRIFT_K;
    out->drift_var_floor = (exp2(2.0 * h) - 1.0) / 12.0;
    return QT_OK;
}

uint64_t
qt_ent_health_drift_cutoff(const struct qt_ent_health_cfg *cfg, uint64_t sum, uint64_t sumsq)
{
    /* exact: with B <= 2^16 samples below 2^16, B sumsq <= 2^32 (2^16 - 1)^2
     * < 2^64 and sum^2 < 2^64; B sumsq - sum^2 >= 0 (Cauchy-Schwarz) */
    const uint64_t b = cfg->drift_block;
    double var = (double)(b * sumsq - sum * sum) / ((double)b * (double)b);

    if (!(var >= cfg->drift_var_floor)) {
        var = cfg->drift_var_floor;
    }
    return (uint64_t)floor(cfg->drift_k * sqrt(2.0 * (double)b * var));
}

qt_rc
qt_ent_health_new(const struct qt_ent_health_cfg *cfg, struct qt_ent_health **out)
{
    struct qt_ent_health *h;

    QT_ENSURE(cfg != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(cfg->rct_cutoff >= 2 && cfg->apt_window >= 2 && cfg->apt_cutoff >= 2 &&
                  cfg->repeat_chunk >= QT_ENT_REPEAT_CHUNK &&
                  cfg->repeat_chunk <= QT_ENT_REPEAT_CHUNK_MAX &&
                  (cfg->repeat_chunk & (cfg->repeat_chunk - 1)) == 0 && cfg->repeat_run >= 1 &&
                  cfg->repeat_history / cfg->repeat_chunk <= 2048 &&
                  cfg->drift_block >= 8 && cfg->drift_block <= QT_ENT_DRIFT_BLOCK_MAX &&
                  cfg->drift_block % 8 == 0 && cfg->drift_k > 0.0 &&
                  cfg->drift_var_floor >= 0.0,
              QT_E_ARG);
    h = calloc(1, sizeof(*h));
    QT_ENSURE(h != NULL, QT_E_NOMEM);
    h->cfg = *cfg;
    qt_ent_health_reset(h, 0);
    *out = h;
    return QT_OK;
}

void
qt_ent_health_reset(struct qt_ent_health *h, uint64_t first_index)
{
    struct qt_ent_health_cfg cfg;

    if (h == NULL) {
        return;
    }
    cfg = h->cfg;
    qt_wipe(h, sizeof(*h));
    h->cfg = cfg;
    h->base = first_index;
}

uint64_t
qt_ent_health_count(const struct qt_ent_health *h)
{
    return h == NULL ? 0 : h->pos;
}

void
qt_ent_health_free(struct qt_ent_health *h)
{
    if (h != NULL) {
        qt_wipe(h, sizeof(*h));
        free(h);
    }
}

/* ---- Repetition Count Test ---------------------------------------------------------------- */

static inline v8u16
load8(const uint16_t *p)
{
    v8u16 v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline int
any8(v8i16 v)
{
    uint64_t w[2];
    memcpy(w, &v, sizeof(w));
    return (w[0] | w[1]) != 0;
}

/* Nonzero if some i in [i0, i0 + RCT_BLOCK) has s[i] == s[i-1] == s[i-k]
 * (needs i0 >= k). */
static int
rct_block_suspect(const uint16_t *s, size_t i0, unsigned k)
{
    v8i16 hit = {0};
    for (size_t i = i0; i < i0 + RCT_BLOCK; i += 8) {
        v8u16 a = load8(s + i);
        hit |= (v8i16)((a == load8(s + i - 1)) & (a == load8(s + i - k)));
    }
    return any8(hit);
}

/* Returns the offset of the sample at which the RCT fires, or n. */
static size_t
rct_run(struct qt_ent_health *h, const uint16_t *s, size_t n)
{
    const unsigned c = h->cfg.rct_cutoff;
    uint16_t prev = h->rct_prev;
    unsigned run = h->rct_run;
    size_t i = 0, fail = n;

    for (;;) {
        size_t stop;
        /* scalar: the first c samples (history), suspect blocks, the tail */
        if (i < c) {
            stop = n < c ? n : c;
        } else if (i + RCT_BLOCK <= n && !rct_block_suspect(s, i, c - 1)) {
            size_t e = i + RCT_BLOCK - 1;
            unsigned r = 1;
            while (r < c && s[e - r] == s[e]) {
                r++;
            }
            prev = s[e];
            run = r;
            i += RCT_BLOCK;
            continue;
        } else {
            stop = i + RCT_BLOCK <= n ? i + RCT_BLOCK : n;
        }
        if (i >= n) {
            break;
        }
        for (; i < stop; i++) {
            if (run > 0 && s[i] == prev) {
                if (++run >= c) {
                    fail = i;
                    goto out;
                }
            } else {
                prev = s[i];
                run = 1;
            }
        }
    }
out:
    h->rct_prev = prev;
    h->rct_run = run;
    return fail;
}

/* ---- Adaptive Proportion Test ------------------------------------------------------------- */

static unsigned
count_eq(const uint16_t *s, size_t n, uint16_t ref)
{
    v8u16 r = {ref, ref, ref, ref, ref, ref, ref, ref};
    v8i16 acc = {0};
    size_t i = 0;
    unsigned total = 0;

    /* lanes count at most n / 8 <= 128 per window: no int16 overflow */
    for (; i + 8 <= n; i += 8) {
        acc -= (v8i16)(load8(s + i) == r);
    }
    for (unsigned l = 0; l < 8; l++) {
        total += (unsigned)acc[l];
    }
    for (; i < n; i++) {
        total += s[i] == ref;
    }
    return total;
}

static size_t
apt_run(struct qt_ent_health *h, const uint16_t *s, size_t n)
{
    const unsigned w = h->cfg.apt_window, c = h->cfg.apt_cutoff;
    size_t i = 0;

    while (i < n) {
        size_t take;
        unsigned cnt;

        if (h->apt_pos == 0) {
            h->apt_ref = s[i];
            h->apt_count = 1;
            h->apt_pos = 1;
            i++;
            continue;
        }
        take = w - h->apt_pos;
        if (take > n - i) {
            take = n - i;
        }
        cnt = count_eq(s + i, take, h->apt_ref);
        if (h->apt_count + cnt >= c) {
            for (size_t j = i; j < i + take; j++) {
                if (s[j] == h->apt_ref && ++h->apt_count >= c) {
                    return j;
                }
            }
        }
        h->apt_count += cnt;
        h->apt_pos += (unsigned)take;
        if (h->apt_pos == w) {
            h->apt_pos = 0;
        }
        i += take;
    }
    return n;
}

/* ---- Block-repeat detector ---------------------------------------------------------------- */

static inline uint64_t
fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static inline uint64_t
rotl(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

/* 64-bit hash of one chunk: eight independent lanes of two multiply-xorshift
 * rounds over words j and j + 8 (with the other word fixed, a lane is a
 * bijection of either word, so a change confined to one word always changes
 * the lane), short dependency chains, combined and finalised. */
static uint64_t
chunk_hash(const uint16_t *s)
{
    static const uint64_t seed[8] = {
        0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL, 0xa4093822299f31d0ULL,
        0x082efa98ec4e6c89ULL, 0x452821e638d01377ULL, 0xbe5466cf34e90c6cULL,
        0xc0ac29b7c97c50ddULL, 0x3f84d5b5b5470917ULL};
    uint64_t l[8], w[QT_ENT_REPEAT_CHUNK / 4];

    memcpy(w, s, sizeof(w));
    for (unsigned j = 0; j < 8; j++) {
        uint64_t x = (seed[j] ^ w[j]) * 0x9e3779b97f4a7c15ULL;
        x = ((x ^ (x >> 29)) ^ w[j + 8]) * 0xbf58476d1ce4e5b9ULL;
        l[j] = x ^ (x >> 32);
    }
    return fmix64(l[0] ^ rotl(l[1], 8) ^ rotl(l[2], 16) ^ rotl(l[3], 24) ^ rotl(l[4], 32) ^
                  rotl(l[5], 40) ^ rotl(l[6], 48) ^ rotl(l[7], 56));
}

/* Chunks longer than 64 samples: the 64-sample hashes folded in order. */
static uint64_t
chunk_hash_n(const uint16_t *s, unsigned n)
{
    uint64_t acc = chunk_hash(s);
    for (unsigned i = QT_ENT_REPEAT_CHUNK; i < n; i += QT_ENT_REPEAT_CHUNK) {
        acc = fmix64(rotl(acc, 1) ^ chunk_hash(s + i));
    }
    return acc;
}

/* Returns 1 when this chunk completes a run of K repeated chunks. */
static int
repeat_chunk(struct qt_ent_health *h, const uint16_t *chunk)
{
    const unsigned live = h->cfg.repeat_history / h->cfg.repeat_chunk;
    uint64_t hash = chunk_hash_n(chunk, h->cfg.repeat_chunk) | 1u;
    uint16_t seq = (uint16_t)++h->chunks;
    size_t b = (size_t)(hash >> (64 - REPEAT_BUCKET_BITS));
    uint64_t *bh = h->rep_hash[b];
    uint16_t *bs = h->rep_seq[b];
    unsigned victim = 0, oldest = 0;
    int seen = 0;

    for (unsigned k = 0; k < REPEAT_WAYS; k++) {
        unsigned age = (uint16_t)(seq - bs[k]);
        seen |= bh[k] == hash && age >= 1 && age <= live;
        age = bh[k] == 0 ? 65536u : age;
        if (age > oldest) {
            oldest = age;
            victim = k;
        }
    }
    bh[victim] = hash;
    bs[victim] = seq;
    h->streak = seen ? h->streak + 1 : 0;
    return h->streak >= h->cfg.repeat_run;
}

static size_t
repeat_run(struct qt_ent_health *h, const uint16_t *s, size_t n)
{
    const unsigned k = h->cfg.repeat_chunk;
    size_t i = 0;

    if (h->part_len > 0) {
        size_t take = k - h->part_len;
        if (take > n) {
            take = n;
        }
        memcpy(h->part + h->part_len, s, take * sizeof(*s));
        h->part_len += (unsigned)take;
        i = take;
        if (h->part_len < k) {
            return n;
        }
        h->part_len = 0;
        if (repeat_chunk(h, h->part)) {
            return i - 1;
        }
    }
    for (; i + k <= n; i += k) {
        if (repeat_chunk(h, s + i)) {
            return i + k - 1;
        }
    }
    if (i < n) {
        memcpy(h->part, s + i, (n - i) * sizeof(*s));
        h->part_len = (unsigned)(n - i);
    }
    return n;
}

/* ---- Bias (mean-drift) monitor ------------------------------------------------------------ */

/* Sum of n samples (n a multiple of 8 or not): four 32-bit lanes each
 * adding the low and the high 16-bit half of a 32-bit word; a lane takes
 * at most n / 4 samples < 2^16, so it cannot overflow for n <= 2^18. */
static uint64_t
sum16(const uint16_t *s, size_t n)
{
    typedef uint32_t v4u32 __attribute__((vector_size(16)));
    const v4u32 lo16 = {0xffffu, 0xffffu, 0xffffu, 0xffffu};
    v4u32 a = {0}, b = {0};
    uint64_t total = 0;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        v4u32 w;
        memcpy(&w, s + i, sizeof(w));
        a += w & lo16;
        b += w >> 16;
    }
    for (unsigned l = 0; l < 4; l++) {
        total += (uint64_t)a[l] + b[l];
    }
    for (; i < n; i++) {
        total += s[i];
    }
    return total;
}

static uint64_t
sumsq16(const uint16_t *s, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += (uint64_t)s[i] * s[i];
    }
    return total;
}

/* Returns the offset of the last sample of the first failing block, or n. */
static size_t
drift_run(struct qt_ent_health *h, const uint16_t *s, size_t n)
{
    const unsigned b = h->cfg.drift_block;
    size_t i = 0;

    while (i < n) {
        size_t take = b - h->drift_pos;
        uint64_t diff;

        if (take > n - i) {
            take = n - i;
        }
        h->drift_sum += sum16(s + i, take);
        if (!h->drift_have_ref) {
            h->drift_sumsq += sumsq16(s + i, take);
        }
        h->drift_pos += (unsigned)take;
        i += take;
        if (h->drift_pos < b) {
            break;
        }
        h->drift_last = h->drift_sum;
        h->drift_sum = 0;
        h->drift_pos = 0;
        if (!h->drift_have_ref) {
            h->drift_have_ref = 1;
            h->drift_ref_sum = h->drift_last;
            h->drift_cut = qt_ent_health_drift_cutoff(&h->cfg, h->drift_last, h->drift_sumsq);
            h->drift_sumsq = 0;
            continue;
        }
        diff = h->drift_last > h->drift_ref_sum ? h->drift_last - h->drift_ref_sum
                                                : h->drift_ref_sum - h->drift_last;
        if (diff > h->drift_cut) {
            return i - 1;
        }
    }
    return n;
}

/* ---- driver ------------------------------------------------------------------------------- */

qt_rc
qt_ent_health_run(struct qt_ent_health *h, const uint16_t *s, size_t n,
                  struct qt_ent_failure *fail)
{
    size_t at_rct, at_apt, at_rep, at_drift, first;
    enum qt_ent_test test = QT_ENT_TEST_NONE;

    QT_ENSURE(h != NULL && (s != NULL || n == 0), QT_E_ARG);
    if (h->failed) {
        if (fail != NULL) {
            *fail = h->failure;
        }
        return QT_E_HEALTH;
    }
    at_rct = rct_run(h, s, n);
    at_apt = apt_run(h, s, at_rct < n ? at_rct + 1 : n);
    first = at_rct < at_apt ? at_rct : at_apt;
    at_rep = repeat_run(h, s, first < n ? first + 1 : n);
    first = first < at_rep ? first : at_rep;
    at_drift = drift_run(h, s, first < n ? first + 1 : n);
    if (at_rct < n && at_rct <= at_apt && at_rct <= at_rep && at_rct <= at_drift) {
        test = QT_ENT_TEST_RCT;
        first = at_rct;
    } else if (at_apt < n && at_apt <= at_rep && at_apt <= at_drift) {
        test = QT_ENT_TEST_APT;
        first = at_apt;
    } else if (at_rep < n && at_rep <= at_drift) {
        test = QT_ENT_TEST_BLOCK_REPEAT;
        first = at_rep;
    } else if (at_drift < n) {
        test = QT_ENT_TEST_DRIFT;
        first = at_drift;
    }
    if (test == QT_ENT_TEST_NONE) {
        h->pos += n;
        return QT_OK;
    }
    h->failed = 1;
    h->failure.test = test;
    h->failure.sample_index = h->base + h->pos + first;
    h->failure.rc = QT_E_HEALTH;
    if (test == QT_ENT_TEST_RCT) {
        (void)snprintf(h->failure.detail, sizeof(h->failure.detail),
                       "%u identical samples (value %u), cutoff %u", h->rct_run, s[first],
                       h->cfg.rct_cutoff);
    } else if (test == QT_ENT_TEST_APT) {
        (void)snprintf(h->failure.detail, sizeof(h->failure.detail),
                       "value %u seen %u times in a window of %u, cutoff %u", h->apt_ref,
                       h->apt_count, h->cfg.apt_window, h->cfg.apt_cutoff);
    } else if (test == QT_ENT_TEST_BLOCK_REPEAT) {
        (void)snprintf(h->failure.detail, sizeof(h->failure.detail),
                       "%u consecutive %u-sample chunks repeat earlier data (last %u samples)",
                       h->streak, h->cfg.repeat_chunk, h->cfg.repeat_history);
    } else {
        const double b = (double)h->cfg.drift_block;
        const double d = ((double)h->drift_last - (double)h->drift_ref_sum) / b;
        const double se = (double)h->drift_cut / (h->cfg.drift_k * b);
        (void)snprintf(h->failure.detail, sizeof(h->failure.detail),
                       "mean of the %u-sample block ending here %.3f vs reference %.3f: shift "
                       "%+.3f = %+.1f standard errors, cutoff %.1f",
                       h->cfg.drift_block, (double)h->drift_last / b,
                       (double)h->drift_ref_sum / b, d, se > 0.0 ? d / se : 0.0,
                       h->cfg.drift_k);
    }
    h->pos += first + 1;
    if (fail != NULL) {
        *fail = h->failure;
    }
    return QT_E_HEALTH;
}
