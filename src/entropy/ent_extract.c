/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Extractors: Toeplitz hashing (portable kernel here, PCLMULQDQ kernel in
 * ent_toeplitz_clmul.c) and the SHA-256 conditioner; block geometry from
 * the leftover hash lemma.  See ent_extract.h for the definitions.
 */
#include "ent_extract.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "../common/mem.h"
#include "ent_toeplitz_kernel.h"

#define SHA_OUT_BITS 256u

struct qt_ent_toeplitz {
    size_t nw, mw;       /* input words, output words (ceil) */
    size_t out_bytes;
    uint64_t *tw;        /* nw + mw words of t' = t << 1 */
    uint64_t *xw;        /* nw words of scratch input */
    uint64_t *yw;        /* mw words of scratch output */
    uint64_t (*tab)[16][2]; /* nw x 16 portable tables: x[j] * nibble, 128-bit */
};

struct qt_ent_extractor {
    struct qt_ent_extract_geom g;
    struct qt_ent_toeplitz *t;
    uint8_t *packed;     /* in_bits / 8 (toeplitz) or serialised samples (sha256) */
    size_t packed_len;
    EVP_MD *md;
    EVP_MD_CTX *mdctx;
};

size_t
qt_ent_toeplitz_seed_bytes(size_t in_bits, size_t out_bits)
{
    return 8 * (in_bits / 64 + (out_bits + 63) / 64);
}

qt_rc
qt_ent_extract_geometry(enum qt_extractor_kind kind, unsigned bits, double h, unsigned eps_log2,
                        struct qt_ent_extract_geom *out)
{
    QT_ENSURE_REF(out);
    QT_ENSURE(bits >= 1 && bits <= 16 && h > 0.0 && h <= (double)bits, QT_E_ARG);
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->bits = bits;
    if (kind == QT_EXTRACTOR_SHA256) {
        out->n_samples = (size_t)ceil(2.0 * SHA_OUT_BITS / h - 1e-9);
        out->in_bits = out->n_samples * bits;
        out->out_bits = SHA_OUT_BITS;
        return QT_OK;
    }
    QT_ENSURE(kind == QT_EXTRACTOR_TOEPLITZ && eps_log2 >= 1, QT_E_ARG);
    out->n_samples = 64 * ((QT_ENT_TOEPLITZ_MIN_IN_BITS / bits + 63) / 64);
    while ((double)out->n_samples * h < 4.0 * eps_log2) {
        out->n_samples += 64;
    }
    out->in_bits = out->n_samples * bits;
    out->out_bits = (size_t)floor((double)out->n_samples * h - 2.0 * eps_log2) / 8 * 8;
    out->seed_bytes = qt_ent_toeplitz_seed_bytes(out->in_bits, out->out_bits);
    QT_ENSURE(out->out_bits >= 8 && out->seed_bytes <= QT_ENT_SEED_BYTES, QT_E_CONFIG);
    return QT_OK;
}

void
qt_ent_pack(const uint16_t *s, size_t n, unsigned bits, uint8_t *out)
{
    size_t nbytes = (n * bits + 7) / 8, bit = 0;

    if (bits == 8) {
        for (size_t i = 0; i < n; i++) {
            out[i] = (uint8_t)s[i];
        }
        return;
    }
    memset(out, 0, nbytes);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = s[i] & ((1u << bits) - 1u);
        for (unsigned k = 0; k < bits; k++, bit++) {
            out[bit / 8] |= (uint8_t)(((v >> k) & 1u) << (bit % 8));
        }
    }
}

int
qt_ent_toeplitz_have_clmul(void)
{
    return qt_ent_toeplitz_clmul_available();
}

static uint64_t
load_le64(const uint8_t *p, size_t avail)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8 && i < avail; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

/* Fixed-width forms: compilers turn these into single loads/stores. */
static inline uint64_t
get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static inline void
put_le64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

qt_rc
qt_ent_toeplitz_new(const uint8_t *seed, size_t seed_len, size_t in_bits, size_t out_bits,
                    struct qt_ent_toeplitz **out)
{
    struct qt_ent_toeplitz *t;
    size_t tn;
    qt_rc rc = QT_E_NOMEM;

    QT_ENSURE(seed != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(in_bits >= 64 && in_bits % 64 == 0 && out_bits >= 8 && out_bits % 8 == 0 &&
                  out_bits <= in_bits,
              QT_E_ARG);
    QT_ENSURE(seed_len >= qt_ent_toeplitz_seed_bytes(in_bits, out_bits), QT_E_ARG);
    t = calloc(1, sizeof(*t));
    QT_ENSURE(t != NULL, QT_E_NOMEM);
    t->nw = in_bits / 64;
    t->mw = (out_bits + 63) / 64;
    t->out_bytes = out_bits / 8;
    tn = t->nw + t->mw;
    t->tw = calloc(tn, sizeof(*t->tw));
    t->xw = calloc(t->nw, sizeof(*t->xw));
    t->yw = calloc(t->mw, sizeof(*t->yw));
    t->tab = calloc(t->nw, sizeof(*t->tab));
    if (t->tw == NULL || t->xw == NULL || t->yw == NULL || t->tab == NULL) {
        goto out;
    }
    /* t' = t << 1: word w takes bits 64w-1 .. 64w+62 of t */
    for (size_t w = 0; w < tn; w++) {
        uint64_t cur = load_le64(seed + 8 * w, seed_len - 8 * w);
        uint64_t below = w > 0 ? load_le64(seed + 8 * (w - 1), 8) : 0;
        t->tw[w] = (cur << 1) | (below >> 63);
    }
    *out = t;
    t = NULL;
    rc = QT_OK;
out:
    qt_ent_toeplitz_free(t);
    return rc;
}

void
qt_ent_toeplitz_free(struct qt_ent_toeplitz *t)
{
    if (t == NULL) {
        return;
    }
    if (t->xw != NULL) {
        qt_wipe(t->xw, t->nw * sizeof(*t->xw));
    }
    if (t->yw != NULL) {
        qt_wipe(t->yw, t->mw * sizeof(*t->yw));
    }
    if (t->tab != NULL) {
        qt_wipe(t->tab, t->nw * sizeof(*t->tab));
    }
    free(t->tw);
    free(t->xw);
    free(t->yw);
    free(t->tab);
    free(t);
}

/* Portable kernel: per input word a table of its 16 nibble multiples, then
 * each product is 16 table lookups, shifts and xors. */
static void
toeplitz_portable(struct qt_ent_toeplitz *t, size_t mw)
{
    const size_t nw = t->nw;
    uint64_t prev_hi = 0;

    for (size_t j = 0; j < nw; j++) {
        uint64_t x = t->xw[j];
        t->tab[j][0][0] = 0;
        t->tab[j][0][1] = 0;
        for (unsigned v = 1; v < 16; v++) {
            /* v * x = (v & 1) x ^ ((v >> 1) * x) << 1 */
            uint64_t lo = t->tab[j][v >> 1][0], hi = t->tab[j][v >> 1][1];
            hi = (hi << 1) | (lo >> 63);
            lo <<= 1;
            if (v & 1u) {
                lo ^= x;
            }
            t->tab[j][v][0] = lo;
            t->tab[j][v][1] = hi;
        }
    }
    for (size_t r = nw - 1; r < nw + mw; r++) {
        uint64_t lo = 0, hi = 0;
        for (size_t j = 0; j < nw; j++) {
            uint64_t a = t->tw[r - j];
            uint64_t(*tab)[2] = t->tab[j];
            lo ^= tab[a & 15u][0];
            hi ^= tab[a & 15u][1];
            for (unsigned q = 4; q < 64; q += 4) {
                unsigned v = (unsigned)(a >> q) & 15u;
                lo ^= tab[v][0] << q;
                hi ^= (tab[v][1] << q) | (tab[v][0] >> (64 - q));
            }
        }
        if (r >= nw) {
            t->yw[r - nw] = lo ^ prev_hi;
        }
        prev_hi = hi;
    }
}

qt_rc
qt_ent_toeplitz_hash(struct qt_ent_toeplitz *t, enum qt_ent_toeplitz_path path,
                     const uint8_t *in, uint8_t *out)
{
    QT_ENSURE(t != NULL, QT_E_ARG);
    return qt_ent_toeplitz_hash_prefix(t, path, in, out, t->out_bytes);
}

/* Output word k is the product of the input with rows 64k .. 64k + 63 of
 * the matrix alone, so a prefix costs only its own words. */
qt_rc
qt_ent_toeplitz_hash_prefix(struct qt_ent_toeplitz *t, enum qt_ent_toeplitz_path path,
                            const uint8_t *in, uint8_t *out, size_t nbytes)
{
    size_t mw;
    int clmul;

    QT_ENSURE(t != NULL && in != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(nbytes > 0 && nbytes <= t->out_bytes, QT_E_ARG);
    mw = (nbytes + 7) / 8;
    clmul = path != QT_ENT_TOEPLITZ_PORTABLE && qt_ent_toeplitz_clmul_available();
    QT_ENSURE(path != QT_ENT_TOEPLITZ_CLMUL || clmul, QT_E_UNSUPPORTED);
    for (size_t w = 0; w < t->nw; w++) {
        t->xw[w] = get_le64(in + 8 * w);
    }
    if (clmul) {
        qt_ent_toeplitz_clmul_kernel(t->tw, t->xw, t->nw, mw, t->yw);
    } else {
        toeplitz_portable(t, mw);
    }
    for (size_t w = 0; w < nbytes / 8; w++) {
        put_le64(out + 8 * w, t->yw[w]);
    }
    for (size_t i = nbytes / 8 * 8; i < nbytes; i++) {
        out[i] = (uint8_t)(t->yw[i / 8] >> (8 * (i % 8)));
    }
    qt_wipe(t->xw, t->nw * sizeof(*t->xw));
    qt_wipe(t->yw, mw * sizeof(*t->yw));
    return QT_OK;
}

/* ---- the pipeline's extractor ------------------------------------------------------------- */

qt_rc
qt_ent_extractor_new(const struct qt_ent_extract_geom *g, const uint8_t *seed, size_t seed_len,
                     struct qt_ent_extractor **out)
{
    struct qt_ent_extractor *x;
    qt_rc rc = QT_E_NOMEM;

    QT_ENSURE(g != NULL && out != NULL, QT_E_ARG);
    x = calloc(1, sizeof(*x));
    QT_ENSURE(x != NULL, QT_E_NOMEM);
    x->g = *g;
    if (g->kind == QT_EXTRACTOR_SHA256) {
        x->packed_len = g->n_samples * (g->bits <= 8 ? 1 : 2);
        rc = QT_E_CRYPTO;
        x->md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
        x->mdctx = EVP_MD_CTX_new();
        if (x->md == NULL || x->mdctx == NULL) {
            goto out;
        }
    } else {
        x->packed_len = g->in_bits / 8;
        if ((rc = qt_ent_toeplitz_new(seed, seed_len, g->in_bits, g->out_bits, &x->t)) != QT_OK) {
            goto out;
        }
    }
    rc = QT_E_NOMEM;
    x->packed = calloc(1, x->packed_len);
    if (x->packed == NULL) {
        goto out;
    }
    *out = x;
    x = NULL;
    rc = QT_OK;
out:
    qt_ent_extractor_free(x);
    return rc;
}

static qt_rc
sha256_condition(struct qt_ent_extractor *x, const uint16_t *s, uint8_t *out)
{
    unsigned int len = 0;

    if (x->g.bits <= 8) {
        for (size_t i = 0; i < x->g.n_samples; i++) {
            x->packed[i] = (uint8_t)s[i];
        }
    } else {
        for (size_t i = 0; i < x->g.n_samples; i++) {
            x->packed[2 * i] = (uint8_t)s[i];
            x->packed[2 * i + 1] = (uint8_t)(s[i] >> 8);
        }
    }
    if (EVP_DigestInit_ex(x->mdctx, x->md, NULL) != 1 ||
        EVP_DigestUpdate(x->mdctx, x->packed, x->packed_len) != 1 ||
        EVP_DigestFinal_ex(x->mdctx, out, &len) != 1 || len != SHA_OUT_BITS / 8) {
        return QT_E_CRYPTO;
    }
    return QT_OK;
}

qt_rc
qt_ent_extractor_run(struct qt_ent_extractor *x, const uint16_t *samples, uint8_t *out)
{
    QT_ENSURE(x != NULL, QT_E_ARG);
    return qt_ent_extractor_run_prefix(x, samples, out, x->g.out_bits / 8);
}

qt_rc
qt_ent_extractor_run_prefix(struct qt_ent_extractor *x, const uint16_t *samples, uint8_t *out,
                            size_t nbytes)
{
    uint8_t full[SHA_OUT_BITS / 8];
    qt_rc rc;

    QT_ENSURE(x != NULL && samples != NULL && out != NULL, QT_E_ARG);
    QT_ENSURE(nbytes > 0 && nbytes <= x->g.out_bits / 8, QT_E_ARG);
    if (x->g.kind == QT_EXTRACTOR_SHA256) {
        if ((rc = sha256_condition(x, samples, full)) == QT_OK) {
            memcpy(out, full, nbytes);
        }
        qt_wipe(full, sizeof(full));
    } else {
        qt_ent_pack(samples, x->g.n_samples, x->g.bits, x->packed);
        rc = qt_ent_toeplitz_hash_prefix(x->t, QT_ENT_TOEPLITZ_AUTO, x->packed, out, nbytes);
    }
    qt_wipe(x->packed, x->packed_len);
    if (rc != QT_OK) {
        qt_wipe(out, nbytes);
    }
    return rc;
}

void
qt_ent_extractor_free(struct qt_ent_extractor *x)
{
    if (x == NULL) {
        return;
    }
    qt_ent_toeplitz_free(x->t);
    if (x->packed != NULL) {
        qt_wipe(x->packed, x->packed_len);
        free(x->packed);
    }
    EVP_MD_CTX_free(x->mdctx);
    EVP_MD_free(x->md);
    free(x);
}
