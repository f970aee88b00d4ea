/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qtoken random: N bytes from the health-gated QRNG pipeline through the
 * token's DRBG (CTR-DRBG, AES-256, private libctx, seeded by QRNG-SEED only).
 *
 * Output is produced in chunks of at most CHUNK bytes; each chunk is one
 * prediction-resistant request (fresh QRNG entropy first, so the device is
 * read and health-tested all along) and is written only once it was produced
 * in full.  On a failure the chunk in hand is wiped, never written, and the
 * command exits 3: what was written before came from data that passed.
 * --full-entropy (or [entropy] full_entropy) uses the DRBG's full-entropy mode
 * (every 24-byte block backed by a 256-bit QRNG reseed, drbg.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/io.h"
#include "../common/mem.h"
#include "../drbg/drbg.h"
#include "../entropy/ent.h"
#include "cli.h"
#include "cli_util.h"

#define CHUNK ((size_t)1 << 20)

static void
usage(FILE *f)
{
    (void)fprintf(f,
                  "usage: qtoken random --bytes N [--device SPEC] [--out FILE] [--full-entropy]"
                  " [--hex]\n\n"
                  "N bytes from the health-gated QRNG pipeline through the token's CTR-DRBG\n"
                  "(stdout by default).  N takes K/M/G suffixes (binary).\n\n"
                  "  --bytes N        how many bytes (required)\n"
                  "  --device SPEC    entropy device (else QTOKEN_DEVICE, config, 'sim')\n"
                  "  --out FILE       write to FILE (mode 0600) instead of stdout\n"
                  "  --full-entropy   every output bit backed by a fresh QRNG bit (RBG3(RS))\n"
                  "  --hex            hexadecimal output, 32 bytes per line\n\n"
                  "Exit 3 when the entropy source fails: nothing derived from failed data is\n"
                  "written (output goes out in complete, health-passed chunks of 1 MiB).\n");
}

static qt_rc
write_hex(int fd, const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char line[65 + 1];
    qt_rc rc = QT_OK;
    size_t i, k;

    for (i = 0; i < n && rc == QT_OK; i += 32) {
        size_t len = n - i < 32 ? n - i : 32;
        for (k = 0; k < len; k++) {
            line[2 * k] = digits[b[i + k] >> 4];
            line[2 * k + 1] = digits[b[i + k] & 15];
        }
        line[2 * len] = '\n';
        rc = qt_write_all(fd, line, 2 * len + 1);
    }
    qt_wipe(line, sizeof(line));
    return rc;
}

static void
report_failure(struct qt_ent_pipeline *p, qt_rc rc, uint64_t written)
{
    struct qt_ent_failure f;

    qt_ent_pipeline_last_failure(p, &f);
    if (f.test != QT_ENT_TEST_NONE) {
        (void)fprintf(stderr,
                      "qtoken random: entropy source failed: %s at sample %llu (%s); "
                      "%llu bytes written before the failure\n",
                      qt_ent_test_name(f.test), (unsigned long long)f.sample_index,
                      f.detail[0] ? f.detail : qt_rc_str(f.rc), (unsigned long long)written);
    } else {
        (void)fprintf(stderr, "qtoken random: %s; %llu bytes written before the failure\n",
                      qt_rc_str(rc), (unsigned long long)written);
    }
}

int
qt_cmd_random(int argc, char **argv)
{
    static const struct option opts[] = {
        {"bytes", required_argument, NULL, 'n'}, {"device", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},   {"full-entropy", no_argument, NULL, 'F'},
        {"hex", no_argument, NULL, 'x'},         {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *device = NULL, *out_path = NULL;
    struct qt_ent_pipeline *p = NULL;
    struct qt_drbg *d = NULL;
    struct qt_conf conf;
    uint64_t total = 0, done = 0;
    int have_bytes = 0, full = 0, hex = 0, fd = -1, c, ret;
    uint8_t *buf = NULL;
    qt_rc rc;

    optind = 0;
    while ((c = getopt_long(argc, argv, "n:d:o:Fxh", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (qt_cli_parse_count(optarg, &total) != 0) {
                (void)fprintf(stderr, "qtoken random: invalid --bytes '%s'\n", optarg);
                return QT_EXIT_USAGE;
            }
            have_bytes = 1;
            break;
        case 'd':
            device = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'F':
            full = 1;
            break;
        case 'x':
            hex = 1;
            break;
        case 'h':
            usage(stdout);
            return QT_EXIT_OK;
        default:
            usage(stderr);
            return QT_EXIT_USAGE;
        }
    }
    if (!have_bytes || optind != argc) {
        usage(stderr);
        return QT_EXIT_USAGE;
    }
    if ((ret = qt_cli_conf("random", device, &conf)) != QT_EXIT_OK) {
        return ret;
    }

    ret = QT_EXIT_FAIL;
    buf = qt_secret_alloc(CHUNK);
    if (buf == NULL) {
        (void)fprintf(stderr, "qtoken random: out of memory\n");
        goto out;
    }
    if ((rc = qt_ent_pipeline_new(conf.device_spec, &conf, &p)) != QT_OK) {
        (void)fprintf(stderr, "qtoken random: entropy source '%s': %s\n", conf.device_spec,
                      qt_rc_str(rc));
        ret = qt_cli_exit_code(rc);
        goto out;
    }
    if ((rc = qt_drbg_new(p, &conf, &d)) != QT_OK) {
        report_failure(p, rc, 0);
        ret = qt_cli_exit_code(rc);
        goto out;
    }
    /* Opened only once the source is up: a failing device leaves no file. */
    if ((fd = qt_cli_open_out("random", out_path)) < 0) {
        goto out;
    }
    while (done < total) {
        size_t len = total - done < CHUNK ? (size_t)(total - done) : CHUNK;
        if ((rc = qt_drbg_generate(d, buf, len, 1, full)) != QT_OK) {
            qt_wipe(buf, len);
            report_failure(p, rc, done);
            ret = qt_cli_exit_code(rc);
            goto out;
        }
        rc = hex ? write_hex(fd, buf, len) : qt_write_all(fd, buf, len);
        qt_wipe(buf, len);
        if (rc != QT_OK) {
            (void)fprintf(stderr, "qtoken random: write failed after %llu bytes\n",
                          (unsigned long long)done);
            goto out;
        }
        done += len;
    }
    ret = QT_EXIT_OK;
out:
    if (fd > STDOUT_FILENO && close(fd) != 0 && ret == QT_EXIT_OK) {
        (void)fprintf(stderr, "qtoken random: close failed\n");
        ret = QT_EXIT_FAIL;
    }
    qt_drbg_free(d);
    qt_ent_pipeline_free(p);
    qt_secret_free(buf, CHUNK);
    return ret;
}
