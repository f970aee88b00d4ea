/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qtoken device info | selftest | capture: inspect the entropy device, run
 * the health tests and the estimator over it, capture raw samples for
 * offline assessment (SP 800-90B tools).  Capture format (dev.h): raw
 * samples, one byte each for bits <= 8, little-endian 16-bit otherwise, no
 * header.
 */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../device/dev.h"
#include "../common/io.h"
#include "../entropy/ent.h"
#include "cli.h"
#include "cli_util.h"

#define DEFAULT_SELFTEST_SAMPLES 1000000ULL
#define CAPTURE_CHUNK 65536u
#define READ_TIMEOUT_MS 5000

static void
usage(FILE *f)
{
    (void)fprintf(f,
                  "usage: qtoken device info     [--device SPEC] [--json]\n"
                  "       qtoken device selftest [--device SPEC] [--samples N] [--json]\n"
                  "       qtoken device capture  [--device SPEC] --samples N --out FILE\n\n"
                  "  info      type, serial, declared min-entropy per sample, health-test\n"
                  "            cutoffs, extractor ratio\n"
                  "  selftest  start-up test, then N raw samples (default 1000000) through the\n"
                  "            health tests and the estimator; exit 3 naming the failing test\n"
                  "            (or the read error) and the sample index\n"
                  "  capture   N raw samples to FILE for offline assessment: one byte per\n"
                  "            sample for bits <= 8, else 16-bit little-endian; no header\n\n"
                  "SPEC: sim[:key=value,...] | chardev:PATH,bits=B,h=H | file:PATH,bits=B,h=H\n"
                  "(default: QTOKEN_DEVICE, else the config file's [device] spec, else sim).\n");
}

struct dev_args {
    const char *device;
    const char *out;
    uint64_t samples;
    int have_samples;
    int json;
};

/* Parses the options after the sub-sub-command. Returns -1 to continue, or an
 * exit code. */
static int
parse_args(const char *sub, int argc, char **argv, struct dev_args *a)
{
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'}, {"samples", required_argument, NULL, 'n'},
        {"out", required_argument, NULL, 'o'},    {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;

    memset(a, 0, sizeof(*a));
    a->samples = DEFAULT_SELFTEST_SAMPLES;
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:n:o:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->device = optarg;
            break;
        case 'n':
            if (qt_cli_parse_count(optarg, &a->samples) != 0 || a->samples == 0) {
                (void)fprintf(stderr, "qtoken device %s: invalid --samples '%s'\n", sub, optarg);
                return QT_EXIT_USAGE;
            }
            a->have_samples = 1;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'j':
            a->json = 1;
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
    return -1;
}

static void
print_json(struct json_object *o)
{
    (void)printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
}

static const char *
extractor_name(enum qt_extractor_kind k)
{
    return k == QT_EXTRACTOR_SHA256 ? "sha256" : "toeplitz";
}

static int
cmd_info(int argc, char **argv)
{
    struct qt_ent_params ep;
    struct qt_dev_info info;
    struct qt_dev *dev = NULL;
    struct json_object *o, *x;
    struct dev_args a;
    struct qt_conf conf;
    int ret;
    qt_rc rc;

    if ((ret = parse_args("info", argc, argv, &a)) >= 0) {
        return ret;
    }
    if ((ret = qt_cli_conf("device info", a.device, &conf)) != QT_EXIT_OK) {
        return ret;
    }
    if ((rc = qt_dev_open(conf.device_spec, &dev)) != QT_OK) {
        (void)fprintf(stderr, "qtoken device info: cannot open '%s': %s\n", conf.device_spec,
                      qt_rc_str(rc));
        return qt_cli_exit_code(rc);
    }
    qt_dev_info(dev, &info);
    qt_dev_close(dev);
    if ((rc = qt_ent_params_compute(&conf, info.bits, info.h_declared, &ep)) != QT_OK) {
        (void)fprintf(stderr, "qtoken device info: '%s' (H = %g): %s\n", conf.device_spec,
                      info.h_declared, qt_rc_str(rc));
        return QT_EXIT_USAGE;
    }
    if (!a.json) {
        (void)printf("device:         %s%s\n", info.type,
                     info.simulated ? " (simulated, not quantum)" : "");
        (void)printf("spec:           %s\n", conf.device_spec);
        (void)printf("serial:         %s\n", info.serial);
        (void)printf("detail:         %s\n", info.detail);
        (void)printf("sample width:   %u bits\n", info.bits);
        (void)printf("declared H:     %.6f bits/sample (min-entropy)\n", info.h_declared);
        (void)printf("health tests:   alpha = 2^-%u\n", ep.alpha_log2);
        (void)printf("  RCT:          cutoff %u identical samples in a row\n", ep.rct_cutoff);
        (void)printf("  APT:          window %u, cutoff %u\n", ep.apt_window, ep.apt_cutoff);
        (void)printf("  block-repeat: %u consecutive repeated %u-sample chunks (history %u)\n",
                     ep.repeat_run, ep.repeat_chunk, ep.repeat_history);
        (void)printf("  drift:        %u-sample block mean vs the start-up block's: cutoff %.1f "
                     "standard errors (variance floor %.4g)\n",
                     ep.drift_block, ep.drift_k, ep.drift_var_floor);
        (void)printf("  start-up:     %llu samples before the first output\n",
                     (unsigned long long)ep.startup_samples);
        (void)printf("  key draws:    at least %zu new samples per prediction-resistance draw\n",
                     ep.fresh_samples);
        (void)printf("estimator:      window %zu samples, fails below %.4f bits/sample\n",
                     ep.window, ep.estimate_floor);
        (void)printf("extractor:      %s, eps = 2^-%u\n", extractor_name(ep.extractor),
                     ep.epsilon_log2);
        (void)printf("  block:        %zu samples -> %zu bits\n", ep.block_samples,
                     ep.block_out_bits);
        (void)printf("  ratio:        %.4f output bits per raw input bit (%.4f per sample)\n",
                     ep.extractor_ratio, (double)ep.block_out_bits / (double)ep.block_samples);
        return QT_EXIT_OK;
    }
    o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(info.type));
    json_object_object_add(o, "spec", json_object_new_string(conf.device_spec));
    json_object_object_add(o, "serial", json_object_new_string(info.serial));
    json_object_object_add(o, "simulated", json_object_new_boolean(info.simulated));
    json_object_object_add(o, "detail", json_object_new_string(info.detail));
    json_object_object_add(o, "bits", json_object_new_int((int)info.bits));
    json_object_object_add(o, "h_declared", json_object_new_double(info.h_declared));
    x = json_object_new_object();
    json_object_object_add(x, "alpha_log2", json_object_new_int((int)ep.alpha_log2));
    json_object_object_add(x, "rct_cutoff", json_object_new_int64(ep.rct_cutoff));
    json_object_object_add(x, "apt_window", json_object_new_int64(ep.apt_window));
    json_object_object_add(x, "apt_cutoff", json_object_new_int64(ep.apt_cutoff));
    json_object_object_add(x, "repeat_chunk", json_object_new_int64(ep.repeat_chunk));
    json_object_object_add(x, "repeat_run", json_object_new_int64(ep.repeat_run));
    json_object_object_add(x, "repeat_history", json_object_new_int64(ep.repeat_history));
    json_object_object_add(x, "drift_block", json_object_new_int64(ep.drift_block));
    json_object_object_add(x, "drift_k", json_object_new_double(ep.drift_k));
    json_object_object_add(x, "drift_var_floor", json_object_new_double(ep.drift_var_floor));
    json_object_object_add(x, "startup_samples",
                           json_object_new_int64((int64_t)ep.startup_samples));
    json_object_object_add(x, "fresh_samples", json_object_new_int64((int64_t)ep.fresh_samples));
    json_object_object_add(o, "health", x);
    x = json_object_new_object();
    json_object_object_add(x, "window", json_object_new_int64((int64_t)ep.window));
    json_object_object_add(x, "floor", json_object_new_double(ep.estimate_floor));
    json_object_object_add(o, "estimator", x);
    x = json_object_new_object();
    json_object_object_add(x, "kind", json_object_new_string(extractor_name(ep.extractor)));
    json_object_object_add(x, "epsilon_log2", json_object_new_int((int)ep.epsilon_log2));
    json_object_object_add(x, "block_samples", json_object_new_int64((int64_t)ep.block_samples));
    json_object_object_add(x, "block_out_bits",
                           json_object_new_int64((int64_t)ep.block_out_bits));
    json_object_object_add(x, "ratio", json_object_new_double(ep.extractor_ratio));
    json_object_object_add(o, "extractor", x);
    print_json(o);
    json_object_put(o);
    return QT_EXIT_OK;
}

static int
cmd_selftest(int argc, char **argv)
{
    static const struct qt_ent_opts deferred = {.defer_startup = 1};
    struct qt_ent_pipeline *p = NULL;
    struct qt_ent_estimate_info ei;
    struct qt_ent_failure f;
    struct qt_ent_stats st;
    struct json_object *o;
    struct dev_args a;
    struct qt_conf conf;
    int ret;
    qt_rc rc;

    if ((ret = parse_args("selftest", argc, argv, &a)) >= 0) {
        return ret;
    }
    if ((ret = qt_cli_conf("device selftest", a.device, &conf)) != QT_EXIT_OK) {
        return ret;
    }
    memset(&f, 0, sizeof(f));
    memset(&st, 0, sizeof(st));
    memset(&ei, 0, sizeof(ei));
    /* The start-up test is deferred to the selftest (which runs one first),
     * so the pipeline, and its figures, exist after a start-up failure too. */
    rc = qt_ent_pipeline_new_ex(conf.device_spec, &conf, &deferred, &p, &f);
    if (rc == QT_OK) {
        rc = qt_ent_pipeline_selftest(p, a.samples, &f);
        qt_ent_pipeline_stats(p, &st);
        qt_ent_pipeline_estimate(p, &ei);
    }
    ret = rc == QT_OK ? QT_EXIT_OK : qt_cli_exit_code(rc);
    if (rc == QT_E_CONFIG || rc == QT_E_ARG) {
        (void)fprintf(stderr, "qtoken device selftest: '%s': %s\n", conf.device_spec,
                      qt_rc_str(rc));
        goto out;
    }
    if (a.json) {
        o = json_object_new_object();
        json_object_object_add(o, "spec", json_object_new_string(conf.device_spec));
        json_object_object_add(o, "samples", json_object_new_int64((int64_t)a.samples));
        json_object_object_add(o, "result", json_object_new_string(rc == QT_OK ? "pass" : "fail"));
        if (rc != QT_OK) {
            json_object_object_add(o, "test", json_object_new_string(qt_ent_test_name(f.test)));
            json_object_object_add(o, "sample_index",
                                   json_object_new_int64((int64_t)f.sample_index));
            json_object_object_add(o, "error", json_object_new_string(qt_rc_str(f.rc)));
            json_object_object_add(o, "detail", json_object_new_string(f.detail));
        }
        json_object_object_add(o, "raw_samples", json_object_new_int64((int64_t)st.raw_samples));
        /* null: no device (h_declared) or no window judged yet (h_estimate) */
        json_object_object_add(o, "h_declared",
                               p != NULL ? json_object_new_double(st.h_declared) : NULL);
        json_object_object_add(o, "h_estimate",
                               ei.windows > 0 ? json_object_new_double(st.h_estimate) : NULL);
        json_object_object_add(o, "windows", json_object_new_int64((int64_t)ei.windows));
        print_json(o);
        json_object_put(o);
    } else if (rc == QT_OK) {
        (void)printf("selftest passed: %llu samples from %s, H declared %.4f, estimated %.4f "
                     "bits/sample\n",
                     (unsigned long long)a.samples, conf.device_spec, st.h_declared,
                     st.h_estimate);
    } else {
        (void)printf("selftest FAILED: %s at sample %llu: %s%s%s\n", qt_ent_test_name(f.test),
                     (unsigned long long)f.sample_index, qt_rc_str(f.rc), f.detail[0] ? ": " : "",
                     f.detail);
    }
out:
    qt_ent_pipeline_free(p);
    return ret;
}

static int
cmd_capture(int argc, char **argv)
{
    struct qt_dev_info info;
    struct qt_dev *dev = NULL;
    uint16_t *s = NULL;
    uint8_t *b = NULL;
    struct dev_args a;
    struct qt_conf conf;
    uint64_t done = 0;
    int fd = -1, ret;
    qt_rc rc;

    if ((ret = parse_args("capture", argc, argv, &a)) >= 0) {
        return ret;
    }
    if (!a.have_samples || a.out == NULL) {
        (void)fprintf(stderr, "qtoken device capture: --samples and --out are required\n");
        return QT_EXIT_USAGE;
    }
    if ((ret = qt_cli_conf("device capture", a.device, &conf)) != QT_EXIT_OK) {
        return ret;
    }
    if ((rc = qt_dev_open(conf.device_spec, &dev)) != QT_OK) {
        (void)fprintf(stderr, "qtoken device capture: cannot open '%s': %s\n", conf.device_spec,
                      qt_rc_str(rc));
        return qt_cli_exit_code(rc);
    }
    ret = QT_EXIT_FAIL;
    qt_dev_info(dev, &info);
    s = malloc(CAPTURE_CHUNK * sizeof(*s));
    b = malloc(CAPTURE_CHUNK * 2);
    if (s == NULL || b == NULL) {
        (void)fprintf(stderr, "qtoken device capture: out of memory\n");
        goto out;
    }
    if ((fd = qt_cli_open_out("device capture", a.out)) < 0) {
        goto out;
    }
    while (done < a.samples) {
        size_t n = a.samples - done < CAPTURE_CHUNK ? (size_t)(a.samples - done) : CAPTURE_CHUNK;
        size_t len;
        if ((rc = qt_dev_read_full(dev, s, n, READ_TIMEOUT_MS)) != QT_OK) {
            (void)fprintf(stderr, "qtoken device capture: read failed at sample %llu: %s\n",
                          (unsigned long long)done, qt_rc_str(rc));
            ret = qt_cli_exit_code(rc);
            goto out;
        }
        if (info.bits <= 8) {
            for (size_t i = 0; i < n; i++) {
                b[i] = (uint8_t)s[i];
            }
            len = n;
        } else {
            for (size_t i = 0; i < n; i++) {
                b[2 * i] = (uint8_t)(s[i] & 0xff);
                b[2 * i + 1] = (uint8_t)(s[i] >> 8);
            }
            len = 2 * n;
        }
        if (qt_write_all(fd, b, len) != QT_OK) {
            (void)fprintf(stderr, "qtoken device capture: write to %s failed\n", a.out);
            goto out;
        }
        done += n;
    }
    (void)fprintf(stderr, "captured %llu samples of %u bits from %s to %s (%s)\n",
                  (unsigned long long)done, info.bits, conf.device_spec, a.out,
                  info.bits <= 8 ? "1 byte per sample" : "16-bit little-endian");
    ret = QT_EXIT_OK;
out:
    if (fd > STDOUT_FILENO && close(fd) != 0 && ret == QT_EXIT_OK) {
        ret = QT_EXIT_FAIL;
    }
    free(b);
    free(s);
    qt_dev_close(dev);
    return ret;
}

int
qt_cmd_device(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return QT_EXIT_USAGE;
    }
    if (qt_cli_is_help(argv[1])) {
        usage(stdout);
        return QT_EXIT_OK;
    }
    if (strcmp(argv[1], "info") == 0) {
        return cmd_info(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "selftest") == 0) {
        return cmd_selftest(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "capture") == 0) {
        return cmd_capture(argc - 1, argv + 1);
    }
    (void)fprintf(stderr, "qtoken device: unknown sub-command '%s'\n", argv[1]);
    usage(stderr);
    return QT_EXIT_USAGE;
}
