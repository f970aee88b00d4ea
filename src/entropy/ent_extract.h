/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Randomness extractors: a seeded Toeplitz hashing extractor sized by the
 * leftover hash lemma, and a SHA-256 conditioner (SP 800-90B 3.1.5.1.1
 * vetted conditioning component).  Both take one block of n raw samples
 * that passed every health test and give out_bits bits.
 *
 * Toeplitz: the n samples are packed into N = n b input bits x (bit k of
 * sample i is x[i b + k]; bits LSB-first within bytes).  The public seed t
 * (m + N - 1 bits, LSB-first) defines the m x N matrix T[i][j] = t[i - j + N - 1];
 * y = T x over GF(2), i.e. y[i] = bit i + N - 1 of the carry-less product
 * t * x.  m = floor(n H - 2 log2(1/eps)) rounded down to a whole byte, with
 * n the least multiple of 64 samples giving N >= 4096 bits and n H >= 4
 * log2(1/eps) (so the cost per input bit stays flat and at least half the
 * entropy is kept).  Computed with PCLMULQDQ when the CPU has it, else a
 * portable 4-bit-table carry-less multiply; both give identical output.
 *
 * SHA-256: out = SHA-256(the n samples, one byte each for b <= 8, else
 * 16-bit little-endian), n = ceil(2 * 256 / H): the input carries at least
 * twice the output length in assessed min-entropy, the conservative
 * full-entropy condition (90B asks n_in >= n_out + 64 = 320 bits).
 */
#ifndef QT_ENTROPY_ENT_EXTRACT_H
#define QT_ENTROPY_ENT_EXTRACT_H

#include <stddef.h>
#include <stdint.h>
#include "../common/conf.h"
#include "../common/err.h"

#define QT_ENT_TOEPLITZ_MIN_IN_BITS 4096u
#define QT_ENT_SEED_BYTES 4096u          /* seed file size: N + m <= 32768 bits */

struct qt_ent_extract_geom {
    enum qt_extractor_kind kind;
    unsigned bits;       /* sample width */
    size_t n_samples;    /* raw samples per block */
    size_t in_bits;      /* n b */
    size_t out_bits;     /* multiple of 8 */
    size_t seed_bytes;   /* Toeplitz seed bytes used (0 for sha256) */
};

/* Block geometry for declared H (bits/sample), eps = 2^-eps_log2.
 * QT_E_CONFIG when the block would exceed the seed or H is unusable. */
qt_rc qt_ent_extract_geometry(enum qt_extractor_kind kind, unsigned bits, double h,
                              unsigned eps_log2, struct qt_ent_extract_geom *out) QT_MUST_CHECK;

/* Packs n samples of `bits` bits LSB-first into ceil(n bits / 8) bytes. */
void qt_ent_pack(const uint16_t *s, size_t n, unsigned bits, uint8_t *out);

/* Nonzero when the PCLMULQDQ path is usable on this CPU. */
int qt_ent_toeplitz_have_clmul(void);

enum qt_ent_toeplitz_path {
    QT_ENT_TOEPLITZ_AUTO = 0,
    QT_ENT_TOEPLITZ_PORTABLE = 1,
    QT_ENT_TOEPLITZ_CLMUL = 2,
};

/* One Toeplitz product: in_bits (multiple of 64) packed input bits, out_bits
 * (multiple of 8, <= in_bits) output bits, seed of at least
 * qt_ent_toeplitz_seed_bytes(in_bits, out_bits) bytes.  QT_E_UNSUPPORTED
 * when path CLMUL is forced on a CPU without it. */
size_t qt_ent_toeplitz_seed_bytes(size_t in_bits, size_t out_bits);

struct qt_ent_toeplitz;
qt_rc qt_ent_toeplitz_new(const uint8_t *seed, size_t seed_len, size_t in_bits, size_t out_bits,
                          struct qt_ent_toeplitz **out) QT_MUST_CHECK;
qt_rc qt_ent_toeplitz_hash(struct qt_ent_toeplitz *t, enum qt_ent_toeplitz_path path,
                           const uint8_t *in, uint8_t *out) QT_MUST_CHECK;
/* The first nbytes (1 .. out_bits / 8) of the product, computing only
 * those: the first rows of a Toeplitz matrix are a Toeplitz matrix (a
 * shorter output of the same universal family; leftover hash lemma with a
 * smaller output length). */
qt_rc qt_ent_toeplitz_hash_prefix(struct qt_ent_toeplitz *t, enum qt_ent_toeplitz_path path,
                                  const uint8_t *in, uint8_t *out, size_t nbytes) QT_MUST_CHECK;
void qt_ent_toeplitz_free(struct qt_ent_toeplitz *t);

/* The extractor the pipeline uses: geometry + Toeplitz or SHA-256. */
struct qt_ent_extractor;
qt_rc qt_ent_extractor_new(const struct qt_ent_extract_geom *g, const uint8_t *seed,
                           size_t seed_len, struct qt_ent_extractor **out) QT_MUST_CHECK;
/* g->n_samples samples in, g->out_bits / 8 bytes out. Wipes its scratch. */
qt_rc qt_ent_extractor_run(struct qt_ent_extractor *x, const uint16_t *samples,
                           uint8_t *out) QT_MUST_CHECK;
/* The first nbytes of run's output (Toeplitz: only those computed). */
qt_rc qt_ent_extractor_run_prefix(struct qt_ent_extractor *x, const uint16_t *samples,
                                  uint8_t *out, size_t nbytes) QT_MUST_CHECK;
void qt_ent_extractor_free(struct qt_ent_extractor *x);

#endif
