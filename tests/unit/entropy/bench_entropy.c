/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Throughput of the entropy room's stages, one run (suite 'bench', not in
 * the default test command):
 *   meson test -C build --suite bench entropy_bench --verbose
 * Health tests (RCT + APT + block-repeat + drift monitor) on 8-bit iid
 * samples, estimator, Toeplitz input Gbit/s (portable and PCLMULQDQ),
 * SHA-256 conditioner, and the pipeline end to end on the default sim.  Exits 1 if a stage fails.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../../device/dev.h"
#include "../../../src/entropy/ent.h"
#include "../../../src/entropy/ent_estimate.h"
#include "../../../src/entropy/ent_extract.h"
#include "../../../src/entropy/ent_health.h"
#include "splitmix.h"

static uint64_t rng_state = 1;

static uint64_t
rnd(void)
{
    return qt_test_splitmix64(&rng_state);
}

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define NS (16u << 20)

static int
bench_health(const uint16_t *s)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = NULL;
    struct qt_ent_failure f;
    double best = 1e9;

    if (qt_ent_health_cutoffs(6.26, 8, 30, &cfg) != QT_OK || qt_ent_health_new(&cfg, &h) != QT_OK) {
        return 1;
    }
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        for (size_t off = 0; off < NS; off += 8192) {
            if (qt_ent_health_run(h, s + off, 8192, &f) != QT_OK) {
                fprintf(stderr, "health false alarm: %s\n", f.detail);
                return 1;
            }
        }
        best = now() - t0 < best ? now() - t0 : best;
    }
    printf("health tests (RCT+APT+block-repeat+drift), 8-bit iid: %.2f Gsample/s\n",
           NS / best / 1e9);
    qt_ent_health_free(h);
    return 0;
}

static int
bench_estimate(const uint16_t *s)
{
    struct qt_ent_estimate *e = NULL;
    struct qt_ent_estimate_result r;
    double t0;

    if (qt_ent_estimate_new(8, &e) != QT_OK) {
        return 1;
    }
    t0 = now();
    for (size_t off = 0; off < NS; off += 65536) {
        qt_ent_estimate_add(e, s + off, 65536);
        qt_ent_estimate_finish(e, &r);
    }
    printf("estimator (MCV + lag-1 predictor), 8-bit: %.2f Gsample/s\n", NS / (now() - t0) / 1e9);
    qt_ent_estimate_free(e);
    return 0;
}

static int
bench_toeplitz(void)
{
    static uint8_t seed[QT_ENT_SEED_BYTES], in[512], out[512];
    static const size_t shapes[][2] = {{4096, 3072}, {2048, 1480}, {8192, 6144}};

    for (size_t i = 0; i < sizeof(seed); i++) {
        seed[i] = (uint8_t)rnd();
    }
    for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
        struct qt_ent_toeplitz *t = NULL;
        if (qt_ent_toeplitz_new(seed, sizeof(seed), shapes[k][0], shapes[k][1], &t) != QT_OK) {
            return 1;
        }
        for (int path = QT_ENT_TOEPLITZ_PORTABLE; path <= QT_ENT_TOEPLITZ_CLMUL; path++) {
            size_t blocks = path == QT_ENT_TOEPLITZ_CLMUL ? 200000 : 2000;
            double t0;
            if (path == QT_ENT_TOEPLITZ_CLMUL && !qt_ent_toeplitz_have_clmul()) {
                printf("toeplitz CLMUL: not available on this CPU\n");
                continue;
            }
            blocks = blocks * 4096 / shapes[k][0];
            t0 = now();
            for (size_t b = 0; b < blocks; b++) {
                in[b % 64] ^= (uint8_t)b;
                if (qt_ent_toeplitz_hash(t, (enum qt_ent_toeplitz_path)path, in, out) != QT_OK) {
                    return 1;
                }
            }
            printf("toeplitz %-8s N=%zu m=%zu: %.3f Gbit/s input\n",
                   path == QT_ENT_TOEPLITZ_CLMUL ? "CLMUL" : "portable", shapes[k][0],
                   shapes[k][1], (double)blocks * shapes[k][0] / (now() - t0) / 1e9);
        }
        qt_ent_toeplitz_free(t);
    }
    return 0;
}

static int
bench_sha(const uint16_t *s)
{
    struct qt_ent_extract_geom g;
    struct qt_ent_extractor *x = NULL;
    uint8_t out[32];
    size_t blocks = 0;
    double t0;

    if (qt_ent_extract_geometry(QT_EXTRACTOR_SHA256, 8, 6.26, 64, &g) != QT_OK ||
        qt_ent_extractor_new(&g, NULL, 0, &x) != QT_OK) {
        return 1;
    }
    t0 = now();
    for (size_t off = 0; off + g.n_samples <= NS / 4; off += g.n_samples, blocks++) {
        if (qt_ent_extractor_run(x, s + off, out) != QT_OK) {
            return 1;
        }
    }
    {
        double dt = now() - t0;
        printf("sha256 conditioner (%zu samples -> 256 bits): %.1f Mbit/s input, %.1f Mbit/s "
               "output\n",
               g.n_samples, (double)blocks * g.in_bits / dt / 1e6, blocks * 256.0 / dt / 1e6);
    }
    qt_ent_extractor_free(x);
    return 0;
}

/* The estimator on the real default sim: lowest window estimate vs the floor. */
static int
bench_sim_estimate(void)
{
    struct qt_dev *d = NULL;
    struct qt_dev_info info;
    struct qt_ent_estimate *e = NULL;
    struct qt_ent_estimate_result r;
    static uint16_t w[65536];
    double lo = 99.0, lo_mcv = 99.0, lo_pred = 99.0, sum = 0.0;
    const int windows = 300;

    if (qt_dev_open("sim:seed=1", &d) != QT_OK || qt_ent_estimate_new(8, &e) != QT_OK) {
        return 1;
    }
    qt_dev_info(d, &info);
    for (int i = 0; i < windows; i++) {
        if (qt_dev_read_full(d, w, 65536, 1000) != QT_OK) {
            return 1;
        }
        qt_ent_estimate_add(e, w, 65536);
        qt_ent_estimate_finish(e, &r);
        lo = r.h < lo ? r.h : lo;
        lo_mcv = r.h_mcv < lo_mcv ? r.h_mcv : lo_mcv;
        lo_pred = r.h_pred < lo_pred ? r.h_pred : lo_pred;
        sum += r.h;
    }
    printf("estimator on sim default, %d windows of 65536: mean %.3f, lowest %.3f (mcv %.3f, "
           "lag-1 %.3f); declared %.4f, floor %.4f\n",
           windows, sum / windows, lo, lo_mcv, lo_pred, info.h_declared, info.h_declared - 0.5);
    qt_ent_estimate_free(e);
    qt_dev_close(d);
    return lo < info.h_declared - 0.5;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
bench_pipeline(enum qt_extractor_kind kind)
{
    char store[] = "/tmp/qt-ent-bench-XXXXXX";
    struct qt_conf c;
    struct qt_ent_pipeline *p = NULL;
    static uint8_t buf[1 << 20];
    double t0;
    int rc = 1;

    if (mkdtemp(store) == NULL) {
        return 1;
    }
    qt_conf_defaults(&c);
    (void)snprintf(c.store_path, sizeof(c.store_path), "%s", store);
    c.extractor = kind;
    if (qt_ent_pipeline_new("sim:seed=1", &c, &p) == QT_OK) {
        t0 = now();
        for (int i = 0; i < 16; i++) {
            if (qt_ent_pipeline_get_entropy(p, buf, sizeof(buf)) != QT_OK) {
                goto out;
            }
        }
        printf("pipeline sim -> %s: %.1f MB/s of full-entropy output\n",
               kind == QT_EXTRACTOR_SHA256 ? "sha256" : "toeplitz",
               16.0 * sizeof(buf) / (now() - t0) / 1e6);
        rc = 0;
    }
out:
    qt_ent_pipeline_free(p);
    (void)nftw(store, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

int
main(void)
{
    uint16_t *s = malloc(NS * sizeof(*s));
    int rc = 0;

    if (s == NULL) {
        return 1;
    }
    for (size_t i = 0; i < NS; i++) {
        uint64_t r = rnd();
        s[i] = (uint16_t)(((r & 0xFF) + ((r >> 8) & 0xFF) + ((r >> 16) & 0xFF) +
                           ((r >> 24) & 0xFF)) / 4);
    }
    rc |= bench_health(s);
    rc |= bench_estimate(s);
    rc |= bench_toeplitz();
    rc |= bench_sha(s);
    rc |= bench_sim_estimate();
    rc |= bench_pipeline(QT_EXTRACTOR_TOEPLITZ);
    rc |= bench_pipeline(QT_EXTRACTOR_SHA256);
    free(s);
    return rc;
}
