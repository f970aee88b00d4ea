/* SPDX-License-Identifier: Apache-2.0 */
/* Extractors: Toeplitz KATs (vectors from tests/vectors/gen_entropy_vectors.py),
 * CLMUL == portable == a matrix-vector reference on random inputs, geometry,
 * SHA-256 conditioner KATs. */
#include <criterion/criterion.h>
#include <stdio.h>

/* figures for the report: always printed (meson shows them with --verbose) */
#define note(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../../src/entropy/ent_extract.h"
#include "splitmix.h"

static size_t
unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    cr_assert(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert_eq(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* splitmix64 (xorshift's low bits are predictable enough for the lag-1
 * predictor to notice) */
static uint64_t
rnd(void)
{
    return qt_test_splitmix64(&rng_state);
}

static void
fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)rnd();
    }
}

static int
bit(const uint8_t *p, size_t k)
{
    return (p[k / 8] >> (k % 8)) & 1;
}

/* y = T x with T[i][j] = t[i - j + N - 1], straight from the definition. */
static void
toeplitz_ref(const uint8_t *seed, const uint8_t *x, size_t n, size_t m, uint8_t *y)
{
    memset(y, 0, m / 8);
    for (size_t i = 0; i < m; i++) {
        int acc = 0;
        for (size_t j = 0; j < n; j++) {
            acc ^= bit(seed, i + n - 1 - j) & bit(x, j);
        }
        y[i / 8] |= (uint8_t)(acc << (i % 8));
    }
}

static void
run_path(struct qt_ent_toeplitz *t, enum qt_ent_toeplitz_path path, const uint8_t *in,
         uint8_t *out)
{
    qt_rc rc = qt_ent_toeplitz_hash(t, path, in, out);
    if (path == QT_ENT_TOEPLITZ_CLMUL && !qt_ent_toeplitz_have_clmul()) {
        cr_assert_eq(rc, QT_E_UNSUPPORTED);
        return;
    }
    cr_assert_eq(rc, QT_OK);
}

Test(ent_extract, toeplitz_known_answers_both_paths)
{
    FILE *f = fopen(QT_TEST_VECTORS "/toeplitz.kat", "r");
    static char line[65536];
    int cases = 0;

    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        static char sh[20000], ih[20000], oh[20000];
        static uint8_t seed[8192], in[4096], want[4096], got[4096];
        size_t nin, m, slen;
        struct qt_ent_toeplitz *t = NULL;

        if (line[0] == '#') {
            continue;
        }
        cr_assert_eq(sscanf(line, "%zu %zu %19999s %19999s %19999s", &nin, &m, sh, ih, oh), 5);
        slen = unhex(sh, seed, sizeof(seed));
        cr_assert_eq(slen, qt_ent_toeplitz_seed_bytes(nin, m));
        cr_assert_eq(unhex(ih, in, sizeof(in)), nin / 8);
        cr_assert_eq(unhex(oh, want, sizeof(want)), m / 8);
        cr_assert_eq(qt_ent_toeplitz_new(seed, slen, nin, m, &t), QT_OK);
        for (int path = QT_ENT_TOEPLITZ_AUTO; path <= QT_ENT_TOEPLITZ_CLMUL; path++) {
            memset(got, 0xAA, sizeof(got));
            run_path(t, (enum qt_ent_toeplitz_path)path, in, got);
            if (path == QT_ENT_TOEPLITZ_CLMUL && !qt_ent_toeplitz_have_clmul()) {
                continue;
            }
            cr_assert_eq(memcmp(got, want, m / 8), 0, "KAT %d (N=%zu m=%zu) path %d", cases, nin,
                         m, path);
        }
        qt_ent_toeplitz_free(t);
        cases++;
    }
    fclose(f);
    cr_assert_geq(cases, 5);
}

Test(ent_extract, clmul_portable_and_reference_agree_on_random_inputs)
{
    static const size_t shapes[][2] = {{64, 8},     {128, 128},   {192, 64},   {448, 200},
                                       {1024, 1000}, {2048, 1480}, {4096, 3080}, {4608, 3600}};
    static uint8_t seed[QT_ENT_SEED_BYTES], in[1024], a[1024], b[1024], r[1024];

    note("PCLMULQDQ path %s", qt_ent_toeplitz_have_clmul() ? "present" : "absent");
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        size_t n = shapes[s][0], m = shapes[s][1];
        for (int rep = 0; rep < 4; rep++) {
            struct qt_ent_toeplitz *t = NULL;
            fill(seed, sizeof(seed));
            fill(in, n / 8);
            if (rep == 1) {
                memset(in, 0xFF, n / 8); /* all ones: every seed bit matters */
            }
            cr_assert_eq(qt_ent_toeplitz_new(seed, sizeof(seed), n, m, &t), QT_OK);
            cr_assert_eq(qt_ent_toeplitz_hash(t, QT_ENT_TOEPLITZ_PORTABLE, in, a), QT_OK);
            if (qt_ent_toeplitz_have_clmul()) {
                cr_assert_eq(qt_ent_toeplitz_hash(t, QT_ENT_TOEPLITZ_CLMUL, in, b), QT_OK);
                cr_assert_eq(memcmp(a, b, m / 8), 0, "N=%zu m=%zu", n, m);
            }
            if (n <= 2048 || rep == 0) {
                toeplitz_ref(seed, in, n, m, r);
                cr_assert_eq(memcmp(a, r, m / 8), 0, "reference N=%zu m=%zu", n, m);
            }
            qt_ent_toeplitz_free(t);
        }
    }
}

Test(ent_extract, toeplitz_rejects_bad_shapes)
{
    static uint8_t seed[QT_ENT_SEED_BYTES];
    struct qt_ent_toeplitz *t = NULL;

    cr_assert_eq(qt_ent_toeplitz_new(seed, sizeof(seed), 100, 8, &t), QT_E_ARG);
    cr_assert_eq(qt_ent_toeplitz_new(seed, sizeof(seed), 64, 12, &t), QT_E_ARG);
    cr_assert_eq(qt_ent_toeplitz_new(seed, sizeof(seed), 64, 128, &t), QT_E_ARG);
    cr_assert_eq(qt_ent_toeplitz_new(seed, 16, 4096, 3080, &t), QT_E_ARG);
    cr_assert_null(t);
}

Test(ent_extract, geometry_follows_leftover_hash_lemma)
{
    struct qt_ent_extract_geom g;
    static const struct {
        unsigned bits;
        double h;
        unsigned eps;
    } cases[] = {{8, 6.27, 64}, {8, 8.0, 64}, {16, 11.5, 64}, {1, 0.9, 64},
                 {12, 3.0, 128}, {8, 0.5, 64}, {4, 3.9, 32}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double m;
        cr_assert_eq(qt_ent_extract_geometry(QT_EXTRACTOR_TOEPLITZ, cases[i].bits, cases[i].h,
                                             cases[i].eps, &g),
                     QT_OK);
        cr_assert_eq(g.n_samples % 64, 0);
        cr_assert_eq(g.in_bits, g.n_samples * cases[i].bits);
        cr_assert_geq(g.in_bits, 4096);
        cr_assert_geq((double)g.n_samples * cases[i].h, 4.0 * cases[i].eps);
        m = floor((double)g.n_samples * cases[i].h - 2.0 * cases[i].eps);
        cr_assert_eq(g.out_bits, (size_t)m / 8 * 8, "case %zu", i);
        cr_assert_leq((double)g.out_bits + 2.0 * cases[i].eps, (double)g.n_samples * cases[i].h);
    }
    /* the default sim: 512 samples of 8 bits, H = 6.27 -> 3082 -> 3080 bits */
    cr_assert_eq(qt_ent_extract_geometry(QT_EXTRACTOR_TOEPLITZ, 8, 6.27, 64, &g), QT_OK);
    cr_assert_eq(g.n_samples, 512);
    cr_assert_eq(g.out_bits, 3080);
    cr_assert_eq(qt_ent_extract_geometry(QT_EXTRACTOR_SHA256, 8, 6.27, 64, &g), QT_OK);
    cr_assert_eq(g.n_samples, 82); /* ceil(512 / 6.27) */
    cr_assert_eq(g.out_bits, 256);
    cr_assert_geq(g.n_samples * 6.27, 512.0);
    cr_assert_eq(qt_ent_extract_geometry(QT_EXTRACTOR_TOEPLITZ, 8, 9.0, 64, &g), QT_E_ARG);
    /* too low an H for the seed: N + m beyond QT_ENT_SEED_BYTES */
    cr_assert_eq(qt_ent_extract_geometry(QT_EXTRACTOR_TOEPLITZ, 16, 0.01, 64, &g), QT_E_CONFIG);
}

Test(ent_extract, pack_is_lsb_first)
{
    uint16_t s[4] = {0x5, 0x3, 0x7, 0x1};
    uint8_t out[2] = {0};
    qt_ent_pack(s, 4, 3, out); /* LSB-first: 101 110 111 100 -> 10111011 1100 */
    cr_assert_eq(out[0], 0xDD);
    cr_assert_eq(out[1], 0x03);
}

Test(ent_extract, sha256_conditioner_known_answers)
{
    FILE *f = fopen(QT_TEST_VECTORS "/sha256_cond.kat", "r");
    static char line[16384];
    int cases = 0;

    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        static char list[16000], hex[80];
        static uint16_t samples[2048];
        uint8_t want[32], got[32];
        struct qt_ent_extract_geom g = {0};
        struct qt_ent_extractor *x = NULL;
        unsigned bits;
        size_t n, k = 0;
        char *tok, *save = NULL;

        if (line[0] == '#') {
            continue;
        }
        cr_assert_eq(sscanf(line, "%u %zu %15999s %79s", &bits, &n, list, hex), 4);
        for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
            samples[k++] = (uint16_t)strtoul(tok, NULL, 10);
        }
        cr_assert_eq(k, n);
        unhex(hex, want, sizeof(want));
        g.kind = QT_EXTRACTOR_SHA256;
        g.bits = bits;
        g.n_samples = n;
        g.in_bits = n * bits;
        g.out_bits = 256;
        cr_assert_eq(qt_ent_extractor_new(&g, NULL, 0, &x), QT_OK);
        cr_assert_eq(qt_ent_extractor_run(x, samples, got), QT_OK);
        cr_assert_eq(memcmp(got, want, 32), 0, "case %d", cases);
        qt_ent_extractor_free(x);
        cases++;
    }
    fclose(f);
    cr_assert_eq(cases, 4);
}

Test(ent_extract, extractor_wrapper_equals_toeplitz_of_packed_samples)
{
    static uint8_t seed[QT_ENT_SEED_BYTES], packed[1024], a[1024], b[1024];
    static uint16_t s[512];
    struct qt_ent_extract_geom g;
    struct qt_ent_extractor *x = NULL;
    struct qt_ent_toeplitz *t = NULL;

    fill(seed, sizeof(seed));
    for (size_t i = 0; i < 512; i++) {
        s[i] = (uint16_t)(rnd() & 0xFF);
    }
    cr_assert_eq(qt_ent_extract_geometry(QT_EXTRACTOR_TOEPLITZ, 8, 6.27, 64, &g), QT_OK);
    cr_assert_eq(qt_ent_extractor_new(&g, seed, sizeof(seed), &x), QT_OK);
    cr_assert_eq(qt_ent_extractor_run(x, s, a), QT_OK);
    qt_ent_pack(s, 512, 8, packed);
    cr_assert_eq(qt_ent_toeplitz_new(seed, sizeof(seed), g.in_bits, g.out_bits, &t), QT_OK);
    cr_assert_eq(qt_ent_toeplitz_hash(t, QT_ENT_TOEPLITZ_PORTABLE, packed, b), QT_OK);
    cr_assert_eq(memcmp(a, b, g.out_bits / 8), 0);
    qt_ent_toeplitz_free(t);
    qt_ent_extractor_free(x);
}

/* A prefix computes exactly the first bytes of the full product, on both
 * kernels and through the extractor (Toeplitz and SHA-256), and refuses
 * lengths of 0 or more than the output. */
Test(ent_extract, prefix_is_the_first_bytes_of_the_full_output)
{
    static const size_t lens[] = {1, 7, 8, 9, 31, 32, 48, 64, 65, 0 /* out - 1 */, 0 /* out */};
    static uint8_t seed[QT_ENT_SEED_BYTES], packed[1024], full[1024], part[1024];
    static uint16_t s[512];
    struct qt_ent_extract_geom g, gs;
    struct qt_ent_extractor *x = NULL, *xs = NULL;
    struct qt_ent_toeplitz *t = NULL;

    fill(seed, sizeof(seed));
    for (size_t i = 0; i < 512; i++) {
        s[i] = (uint16_t)(rnd() & 0xFF);
    }
    cr_assert_eq(qt_ent_extract_geometry(QT_EXTRACTOR_TOEPLITZ, 8, 6.27, 64, &g), QT_OK);
    cr_assert_geq(g.out_bits, 1024);
    cr_assert_eq(qt_ent_extractor_new(&g, seed, sizeof(seed), &x), QT_OK);
    cr_assert_eq(qt_ent_extractor_run(x, s, full), QT_OK);
    qt_ent_pack(s, 512, 8, packed);
    cr_assert_eq(qt_ent_toeplitz_new(seed, sizeof(seed), g.in_bits, g.out_bits, &t), QT_OK);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = lens[i] != 0 ? lens[i] : g.out_bits / 8 - (i + 1 < sizeof(lens) / sizeof(lens[0]));

        memset(part, 0xEE, sizeof(part));
        cr_assert_eq(qt_ent_extractor_run_prefix(x, s, part, n), QT_OK);
        cr_assert_eq(memcmp(part, full, n), 0, "extractor prefix %zu", n);
        cr_assert_eq(part[n], 0xEE, "wrote past %zu bytes", n);
        cr_assert_eq(qt_ent_toeplitz_hash_prefix(t, QT_ENT_TOEPLITZ_PORTABLE, packed, part, n),
                     QT_OK);
        cr_assert_eq(memcmp(part, full, n), 0, "portable prefix %zu", n);
        if (qt_ent_toeplitz_have_clmul()) {
            cr_assert_eq(qt_ent_toeplitz_hash_prefix(t, QT_ENT_TOEPLITZ_CLMUL, packed, part, n),
                         QT_OK);
            cr_assert_eq(memcmp(part, full, n), 0, "clmul prefix %zu", n);
        }
    }
    cr_assert_eq(qt_ent_extractor_run_prefix(x, s, part, 0), QT_E_ARG);
    cr_assert_eq(qt_ent_extractor_run_prefix(x, s, part, g.out_bits / 8 + 1), QT_E_ARG);
    cr_assert_eq(
        qt_ent_toeplitz_hash_prefix(t, QT_ENT_TOEPLITZ_AUTO, packed, part, g.out_bits / 8 + 1),
        QT_E_ARG);
    /* SHA-256: the first bytes of the digest */
    cr_assert_eq(qt_ent_extract_geometry(QT_EXTRACTOR_SHA256, 8, 6.27, 64, &gs), QT_OK);
    cr_assert_eq(qt_ent_extractor_new(&gs, NULL, 0, &xs), QT_OK);
    cr_assert_eq(qt_ent_extractor_run(xs, s, full), QT_OK);
    cr_assert_eq(qt_ent_extractor_run_prefix(xs, s, part, 20), QT_OK);
    cr_assert_eq(memcmp(part, full, 20), 0);
    cr_assert_eq(qt_ent_extractor_run_prefix(xs, s, part, 33), QT_E_ARG);
    qt_ent_toeplitz_free(t);
    qt_ent_extractor_free(x);
    qt_ent_extractor_free(xs);
}
