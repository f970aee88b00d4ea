/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qtoken bench entropy: every figure of the entropy path from one run.
 *
 *   sim            raw samples/s from the device (qt_dev_read_full)
 *   health         samples/s through RCT + APT + block-repeat (ent_health)
 *   toeplitz       input Gbit/s of one Toeplitz product, CLMUL and portable
 *   sha256         input Gbit/s of the SHA-256 conditioner
 *   pipeline       fresh full-entropy output MB/s (qt_ent_pipeline_get_entropy:
 *                  device + health + estimator + extractor)
 *   drbg           qt_drbg_generate MB/s in-process (normal and full-entropy)
 *   random         `qtoken random` MB/s beside `openssl rand` MB/s, both as
 *                  child processes writing the same byte count to /dev/null
 *                  (best of 3, interleaved), and their ratio
 *
 * Component loops are time-boxed; the inputs are fresh device samples, never
 * a replayed buffer (which the block-repeat detector would rightly fail).
 */
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../device/dev.h"
#include "../common/check.h"
#include "../common/mem.h"
#include "../common/osrand.h"
#include "../drbg/drbg.h"
#include "../entropy/ent.h"
#include "../entropy/ent_extract.h"
#include "../entropy/ent_health.h"
#include "bench.h"
#include "cli.h"
#include "cli_util.h"

extern char **environ;

#define CHUNK_SAMPLES ((size_t)1 << 20)
#define READ_TIMEOUT_MS 5000

struct figures {
    double sim_msps;
    double health_msps;
    double toeplitz_clmul_gbps; /* < 0: no CLMUL on this CPU */
    double toeplitz_portable_gbps;
    double sha256_gbps;
    double pipeline_mbps;
    double drbg_mbps;
    double drbg_full_mbps;
    double random_mbps;
    double openssl_mbps;
    double ratio;
    size_t toeplitz_in_bits, toeplitz_out_bits;
};

struct bench_ctx {
    struct qt_conf conf;
    struct qt_dev_info info;
    struct qt_dev *dev;
    uint16_t *s; /* CHUNK_SAMPLES fresh samples */
    double dur;  /* seconds per component */
    uint64_t bytes;
};

static void
usage(FILE *f)
{
    (void)fprintf(f, "usage: qtoken bench entropy [--device SPEC] [--bytes N] [--quick]"
                     " [--json]\n\n"
                     "  --device SPEC  device (default: sim, whatever the config says)\n"
                     "  --bytes N      bytes for the qtoken random / openssl rand comparison\n"
                     "                 (default 256M; --quick: 64M)\n"
                     "  --quick        shorter time boxes (about 5 s in all)\n"
                     "  --json         one JSON object instead of text\n"
                     "Targets (issue 2): health >= 1 Gsample/s, Toeplitz CLMUL >= 1 Gbit/s,\n"
                     "qtoken random >= 0.8 x openssl rand.\n");
}

static qt_rc
fresh(struct bench_ctx *b)
{
    return qt_dev_read_full(b->dev, b->s, CHUNK_SAMPLES, READ_TIMEOUT_MS);
}

static qt_rc
bench_sim(struct bench_ctx *b, struct figures *fg)
{
    double t0 = qt_bench_now(), t;
    uint64_t n = 0;

    do {
        QT_TRY(fresh(b));
        n += CHUNK_SAMPLES;
        t = qt_bench_now() - t0;
    } while (t < b->dur);
    fg->sim_msps = (double)n / t / 1e6;
    return QT_OK;
}

/* Only the health-test call is timed; each round tests fresh samples. */
static qt_rc
bench_health(struct bench_ctx *b, struct figures *fg)
{
    struct qt_ent_health_cfg cfg;
    struct qt_ent_health *h = NULL;
    struct qt_ent_failure f;
    double spent = 0, t0;
    uint64_t n = 0;
    qt_rc rc;

    QT_TRY(qt_ent_health_cutoffs(b->info.h_declared, b->info.bits, b->conf.alpha_log2, &cfg));
    QT_TRY(qt_ent_health_new(&cfg, &h));
    while (spent < b->dur) {
        if ((rc = fresh(b)) != QT_OK) {
            goto out;
        }
        t0 = qt_bench_now();
        rc = qt_ent_health_run(h, b->s, CHUNK_SAMPLES, &f);
        spent += qt_bench_now() - t0;
        if (rc != QT_OK) {
            (void)fprintf(stderr, "bench: health test %s fired at sample %llu\n",
                          qt_ent_test_name(f.test), (unsigned long long)f.sample_index);
            goto out;
        }
        n += CHUNK_SAMPLES;
    }
    fg->health_msps = (double)n / spent / 1e6;
    rc = QT_OK;
out:
    qt_ent_health_free(h);
    return rc;
}

static double
toeplitz_rate(struct bench_ctx *b, struct qt_ent_toeplitz *t, enum qt_ent_toeplitz_path path,
              const uint8_t *in, size_t in_bits, uint8_t *out)
{
    double t0 = qt_bench_now(), el;
    uint64_t n = 0;

    do {
        for (int i = 0; i < 64; i++) {
            if (qt_ent_toeplitz_hash(t, path, in, out) != QT_OK) {
                return -1;
            }
        }
        n += 64;
        el = qt_bench_now() - t0;
    } while (el < b->dur);
    return (double)n * (double)in_bits / el / 1e9;
}

static qt_rc
bench_toeplitz(struct bench_ctx *b, struct figures *fg)
{
    struct qt_ent_extract_geom g;
    struct qt_ent_toeplitz *t = NULL;
    uint8_t *seed = NULL, *in = NULL, *out = NULL;
    size_t seed_len;
    qt_rc rc;

    QT_TRY(qt_ent_extract_geometry(QT_EXTRACTOR_TOEPLITZ, b->info.bits, b->info.h_declared,
                                   b->conf.epsilon_log2, &g));
    QT_TRY(fresh(b));
    seed_len = qt_ent_toeplitz_seed_bytes(g.in_bits, g.out_bits);
    rc = QT_E_NOMEM;
    seed = malloc(seed_len);
    in = malloc(g.in_bits / 8);
    out = malloc(g.out_bits / 8);
    if (seed == NULL || in == NULL || out == NULL) {
        goto out;
    }
    if ((rc = qt_os_random(seed, seed_len)) != QT_OK) {
        goto out;
    }
    qt_ent_pack(b->s, g.n_samples, b->info.bits, in);
    if ((rc = qt_ent_toeplitz_new(seed, seed_len, g.in_bits, g.out_bits, &t)) != QT_OK) {
        goto out;
    }
    fg->toeplitz_in_bits = g.in_bits;
    fg->toeplitz_out_bits = g.out_bits;
    fg->toeplitz_clmul_gbps = -1;
    if (qt_ent_toeplitz_have_clmul()) {
        fg->toeplitz_clmul_gbps =
            toeplitz_rate(b, t, QT_ENT_TOEPLITZ_CLMUL, in, g.in_bits, out);
    }
    fg->toeplitz_portable_gbps =
        toeplitz_rate(b, t, QT_ENT_TOEPLITZ_PORTABLE, in, g.in_bits, out);
    rc = QT_OK;
out:
    qt_ent_toeplitz_free(t);
    if (out != NULL) {
        qt_wipe(out, g.out_bits / 8);
    }
    free(out);
    free(in);
    free(seed);
    return rc;
}

static qt_rc
bench_sha256(struct bench_ctx *b, struct figures *fg)
{
    struct qt_ent_extract_geom g;
    struct qt_ent_extractor *x = NULL;
    uint8_t out[32];
    double t0, el;
    uint64_t n = 0;
    size_t off = 0;
    qt_rc rc;

    QT_TRY(qt_ent_extract_geometry(QT_EXTRACTOR_SHA256, b->info.bits, b->info.h_declared,
                                   b->conf.epsilon_log2, &g));
    QT_ENSURE(g.out_bits / 8 <= sizeof(out) && g.n_samples <= CHUNK_SAMPLES, QT_E_RANGE);
    QT_TRY(fresh(b));
    QT_TRY(qt_ent_extractor_new(&g, NULL, 0, &x));
    t0 = qt_bench_now();
    do {
        if ((rc = qt_ent_extractor_run(x, b->s + off, out)) != QT_OK) {
            goto out;
        }
        off = off + 2 * g.n_samples <= CHUNK_SAMPLES ? off + g.n_samples : 0;
        n++;
        el = qt_bench_now() - t0;
    } while (el < b->dur);
    fg->sha256_gbps = (double)n * (double)g.in_bits / el / 1e9;
    rc = QT_OK;
out:
    qt_wipe(out, sizeof(out));
    qt_ent_extractor_free(x);
    return rc;
}

static qt_rc
bench_pipeline_drbg(struct bench_ctx *b, struct figures *fg)
{
    struct qt_ent_pipeline *p = NULL;
    struct qt_drbg *d = NULL;
    size_t len = (size_t)1 << 20;
    uint8_t *buf = NULL;
    double t0, el;
    uint64_t n;
    qt_rc rc = QT_E_NOMEM;

    buf = qt_secret_alloc(len);
    if (buf == NULL) {
        goto out;
    }
    if ((rc = qt_ent_pipeline_new(b->conf.device_spec, &b->conf, &p)) != QT_OK ||
        (rc = qt_drbg_new(p, &b->conf, &d)) != QT_OK) {
        goto out;
    }
    for (n = 0, t0 = qt_bench_now();; n += 65536) {
        el = qt_bench_now() - t0;
        if (el >= b->dur) {
            break;
        }
        if ((rc = qt_ent_pipeline_get_entropy(p, buf, 65536)) != QT_OK) {
            goto out;
        }
    }
    fg->pipeline_mbps = (double)n / el / 1e6;
    for (n = 0, t0 = qt_bench_now();; n += len) {
        el = qt_bench_now() - t0;
        if (el >= b->dur) {
            break;
        }
        if ((rc = qt_drbg_generate(d, buf, len, 0, 0)) != QT_OK) {
            goto out;
        }
    }
    fg->drbg_mbps = (double)n / el / 1e6;
    for (n = 0, t0 = qt_bench_now();; n += 65536) {
        el = qt_bench_now() - t0;
        if (el >= b->dur) {
            break;
        }
        if ((rc = qt_drbg_generate(d, buf, 65536, 0, 1)) != QT_OK) {
            goto out;
        }
    }
    fg->drbg_full_mbps = (double)n / el / 1e6;
out:
    qt_secret_free(buf, len);
    qt_drbg_free(d);
    qt_ent_pipeline_free(p);
    return rc;
}

/* Wall time of one child process, or < 0 when it failed. */
static double
run_child(char *const argv[], int use_path)
{
    double t0 = qt_bench_now();
    pid_t pid;
    int st;
    int e = use_path ? posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ)
                     : posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);

    if (e != 0) {
        return -1;
    }
    while (waitpid(pid, &st, 0) < 0) {
        continue;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        return -1;
    }
    return qt_bench_now() - t0;
}

static qt_rc
bench_random_vs_openssl(struct bench_ctx *b, struct figures *fg)
{
    char self[PATH_MAX], bytes[32], spec[QT_CONF_STR + 16];
    double best_q = 1e30, best_o = 1e30, t;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    QT_ENSURE(n > 0, QT_E_IO);
    self[n] = '\0';
    (void)snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)b->bytes);
    (void)snprintf(spec, sizeof(spec), "%s", b->conf.device_spec);
    char *qargv[] = {self, "random", "--bytes", bytes, "--device", spec, "--out", "/dev/null",
                     NULL};
    char *oargv[] = {"openssl", "rand", "-out", "/dev/null", bytes, NULL};
    for (int i = 0; i < 3; i++) {
        t = run_child(qargv, 0);
        QT_ENSURE(t > 0, QT_E_IO);
        best_q = t < best_q ? t : best_q;
        t = run_child(oargv, 1);
        QT_ENSURE(t > 0, QT_E_IO);
        best_o = t < best_o ? t : best_o;
    }
    fg->random_mbps = (double)b->bytes / best_q / 1e6;
    fg->openssl_mbps = (double)b->bytes / best_o / 1e6;
    fg->ratio = fg->random_mbps / fg->openssl_mbps;
    return QT_OK;
}

static const char *
mark(int ok)
{
    return ok ? "ok" : "BELOW TARGET";
}

static void
print_text(const struct bench_ctx *b, const struct figures *fg)
{
    (void)printf("qtoken bench entropy: device %s (H = %.4f bits/sample, %u bits)\n",
                 b->conf.device_spec, b->info.h_declared, b->info.bits);
    (void)printf("  sim device         %10.1f Msamples/s\n", fg->sim_msps);
    (void)printf("  health tests       %10.1f Msamples/s   target >= 1000   %s\n",
                 fg->health_msps, mark(fg->health_msps >= 1000));
    if (fg->toeplitz_clmul_gbps >= 0) {
        (void)printf("  Toeplitz CLMUL     %10.3f Gbit/s in    target >= 1      %s"
                     "  (%zu -> %zu bits)\n",
                     fg->toeplitz_clmul_gbps, mark(fg->toeplitz_clmul_gbps >= 1),
                     fg->toeplitz_in_bits, fg->toeplitz_out_bits);
    } else {
        (void)printf("  Toeplitz CLMUL           n/a (no PCLMULQDQ on this CPU)\n");
    }
    (void)printf("  Toeplitz portable  %10.3f Gbit/s in\n", fg->toeplitz_portable_gbps);
    (void)printf("  SHA-256 conditioner%10.3f Gbit/s in\n", fg->sha256_gbps);
    (void)printf("  pipeline (fresh)   %10.1f MB/s full-entropy output\n", fg->pipeline_mbps);
    (void)printf("  DRBG in-process    %10.1f MB/s (full-entropy mode %.1f MB/s)\n",
                 fg->drbg_mbps, fg->drbg_full_mbps);
    (void)printf("  qtoken random      %10.1f MB/s\n", fg->random_mbps);
    (void)printf("  openssl rand       %10.1f MB/s\n", fg->openssl_mbps);
    (void)printf("  ratio              %10.2f x          target >= 0.8    %s  (%llu bytes, "
                 "best of 3)\n",
                 fg->ratio, mark(fg->ratio >= 0.8), (unsigned long long)b->bytes);
}

static void
print_json(const struct bench_ctx *b, const struct figures *fg)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "device", json_object_new_string(b->conf.device_spec));
    json_object_object_add(o, "h_declared", json_object_new_double(b->info.h_declared));
    json_object_object_add(o, "sim_msamples_per_s", json_object_new_double(fg->sim_msps));
    json_object_object_add(o, "health_msamples_per_s", json_object_new_double(fg->health_msps));
    if (fg->toeplitz_clmul_gbps >= 0) {
        json_object_object_add(o, "toeplitz_clmul_gbit_per_s",
                               json_object_new_double(fg->toeplitz_clmul_gbps));
    }
    json_object_object_add(o, "toeplitz_portable_gbit_per_s",
                           json_object_new_double(fg->toeplitz_portable_gbps));
    json_object_object_add(o, "toeplitz_in_bits",
                           json_object_new_int64((int64_t)fg->toeplitz_in_bits));
    json_object_object_add(o, "toeplitz_out_bits",
                           json_object_new_int64((int64_t)fg->toeplitz_out_bits));
    json_object_object_add(o, "sha256_gbit_per_s", json_object_new_double(fg->sha256_gbps));
    json_object_object_add(o, "pipeline_mb_per_s", json_object_new_double(fg->pipeline_mbps));
    json_object_object_add(o, "drbg_mb_per_s", json_object_new_double(fg->drbg_mbps));
    json_object_object_add(o, "drbg_full_entropy_mb_per_s",
                           json_object_new_double(fg->drbg_full_mbps));
    json_object_object_add(o, "qtoken_random_mb_per_s", json_object_new_double(fg->random_mbps));
    json_object_object_add(o, "openssl_rand_mb_per_s", json_object_new_double(fg->openssl_mbps));
    json_object_object_add(o, "random_vs_openssl", json_object_new_double(fg->ratio));
    json_object_object_add(o, "compare_bytes", json_object_new_uint64(b->bytes));
    (void)printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
    json_object_put(o);
}

int
qt_bench_entropy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'}, {"bytes", required_argument, NULL, 'n'},
        {"quick", no_argument, NULL, 'q'},        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    static const struct {
        const char *name;
        qt_rc (*fn)(struct bench_ctx *b, struct figures *fg);
    } steps[] = {
        {"sim", bench_sim},           {"health", bench_health},
        {"toeplitz", bench_toeplitz}, {"sha256", bench_sha256},
        {"pipeline/drbg", bench_pipeline_drbg}, {"random-vs-openssl", bench_random_vs_openssl},
    };
    struct bench_ctx b;
    struct figures fg;
    const char *device = "sim";
    int json = 0, quick = 0, have_bytes = 0, c, ret;
    qt_rc rc;

    memset(&b, 0, sizeof(b));
    memset(&fg, 0, sizeof(fg));
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:n:qjh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            device = optarg;
            break;
        case 'n':
            if (qt_cli_parse_count(optarg, &b.bytes) != 0 || b.bytes == 0) {
                (void)fprintf(stderr, "qtoken bench entropy: invalid --bytes '%s'\n", optarg);
                return QT_EXIT_USAGE;
            }
            have_bytes = 1;
            break;
        case 'q':
            quick = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return QT_EXIT_OK;
        default:
            usage(stderr);
            return QT_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return QT_EXIT_USAGE;
    }
    if ((ret = qt_cli_conf("bench entropy", device, &b.conf)) != QT_EXIT_OK) {
        return ret;
    }
    b.dur = quick ? 0.2 : 0.75;
    if (!have_bytes) {
        b.bytes = quick ? (uint64_t)64 << 20 : (uint64_t)256 << 20;
    }
    if ((rc = qt_dev_open(b.conf.device_spec, &b.dev)) != QT_OK) {
        (void)fprintf(stderr, "qtoken bench entropy: cannot open '%s': %s\n", b.conf.device_spec,
                      qt_rc_str(rc));
        return qt_cli_exit_code(rc);
    }
    qt_dev_info(b.dev, &b.info);
    ret = QT_EXIT_FAIL;
    b.s = malloc(CHUNK_SAMPLES * sizeof(*b.s));
    if (b.s == NULL) {
        goto out;
    }
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if ((rc = steps[i].fn(&b, &fg)) != QT_OK) {
            (void)fprintf(stderr, "qtoken bench entropy: %s: %s\n", steps[i].name, qt_rc_str(rc));
            ret = qt_cli_exit_code(rc);
            goto out;
        }
    }
    if (json) {
        print_json(&b, &fg);
    } else {
        print_text(&b, &fg);
    }
    ret = QT_EXIT_OK;
out:
    free(b.s);
    qt_dev_close(b.dev);
    return ret;
}
