/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qtoken status: the entropy pipeline counters shared by every process that
 * used the pipeline with this store (the memory-mapped stats file in the
 * installation directory, read through qt_ent_stats_read).
 */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "../entropy/ent.h"
#include "cli.h"
#include "cli_util.h"

static void
usage(FILE *f)
{
    (void)fprintf(f, "usage: qtoken status [--json]\n\n"
                     "Entropy pipeline counters summed over every process that used the\n"
                     "pipeline with this store (QTOKEN_STORE, else the config's [store] path):\n"
                     "raw samples, bits extracted, bits served, failures per test, start-up\n"
                     "runs, DRBG reseeds, declared and current estimated min-entropy, state.\n"
                     "Exit 4 when no process has used the pipeline with this store yet.\n");
}

static void
add_u64(struct json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, json_object_new_uint64(v));
}

static void
print_json(const struct qt_conf *conf, const struct qt_ent_stats *st)
{
    struct json_object *o = json_object_new_object();
    struct json_object *f = json_object_new_object();

    json_object_object_add(o, "store", json_object_new_string(conf->store_path));
    add_u64(o, "raw_samples", st->raw_samples);
    add_u64(o, "bits_extracted", st->bits_extracted);
    add_u64(o, "bits_served", st->bits_served);
    add_u64(f, "rct", st->failures_rct);
    add_u64(f, "apt", st->failures_apt);
    add_u64(f, "block_repeat", st->failures_block_repeat);
    add_u64(f, "estimate", st->failures_estimate);
    add_u64(f, "read", st->failures_read);
    add_u64(f, "drift", st->failures_drift);
    json_object_object_add(o, "failures", f);
    add_u64(o, "startup_runs", st->startup_runs);
    add_u64(o, "reseeds", st->reseeds);
    json_object_object_add(o, "h_declared", json_object_new_double(st->h_declared));
    json_object_object_add(o, "h_estimate", json_object_new_double(st->h_estimate));
    json_object_object_add(o, "state", json_object_new_string(st->state == 0 ? "ok" : "error"));
    (void)printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

static void
print_text(const struct qt_conf *conf, const struct qt_ent_stats *st)
{
    (void)printf("store:            %s\n", conf->store_path);
    (void)printf("state:            %s\n", st->state == 0 ? "ok" : "ERROR");
    (void)printf("raw samples:      %llu\n", (unsigned long long)st->raw_samples);
    (void)printf("bits extracted:   %llu\n", (unsigned long long)st->bits_extracted);
    (void)printf("bits served:      %llu\n", (unsigned long long)st->bits_served);
    (void)printf("failures:         rct %llu, apt %llu, block-repeat %llu, estimate %llu, "
                 "read %llu, drift %llu\n",
                 (unsigned long long)st->failures_rct, (unsigned long long)st->failures_apt,
                 (unsigned long long)st->failures_block_repeat,
                 (unsigned long long)st->failures_estimate,
                 (unsigned long long)st->failures_read,
                 (unsigned long long)st->failures_drift);
    (void)printf("start-up runs:    %llu\n", (unsigned long long)st->startup_runs);
    (void)printf("DRBG reseeds:     %llu\n", (unsigned long long)st->reseeds);
    (void)printf("min-entropy:      declared %.4f, estimated %.4f bits/sample\n", st->h_declared,
                 st->h_estimate);
}

int
qt_cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct qt_ent_stats st;
    struct qt_conf conf;
    int json = 0, c, ret;
    qt_rc rc;

    optind = 0;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
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
    if ((ret = qt_cli_conf("status", NULL, &conf)) != QT_EXIT_OK) {
        return ret;
    }
    rc = qt_ent_stats_read(&conf, &st);
    if (rc == QT_E_NOTFOUND) {
        (void)fprintf(stderr, "qtoken status: no stats yet under %s (no process has used the "
                              "entropy pipeline with this store)\n",
                      conf.store_path);
        return QT_EXIT_NOTFOUND;
    }
    if (rc != QT_OK) {
        (void)fprintf(stderr, "qtoken status: cannot read the stats file under %s: %s\n",
                      conf.store_path, qt_rc_str(rc));
        return QT_EXIT_FAIL;
    }
    if (json) {
        print_json(&conf, &st);
    } else {
        print_text(&conf, &st);
    }
    return QT_EXIT_OK;
}
