/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qtoken bench: dispatch to one benchmark per file (bench.h).  Figures go to
 * stdout as text, or one JSON object with --json.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cli.h"
#include "cli_util.h"

struct bench {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct bench benches[] = {
    {"entropy", qt_bench_entropy,
     "sim, health tests, Toeplitz (CLMUL/portable), SHA-256, pipeline, qtoken random vs openssl"},
};

double
qt_bench_now(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
usage(FILE *f)
{
    (void)fprintf(f, "usage: qtoken bench <name> [options]   (qtoken bench <name> --help)\n\n");
    for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
        (void)fprintf(f, "  %-10s %s\n", benches[i].name, benches[i].help);
    }
}

int
qt_cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return QT_EXIT_USAGE;
    }
    if (qt_cli_is_help(argv[1])) {
        usage(stdout);
        return QT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
        if (strcmp(argv[1], benches[i].name) == 0) {
            return benches[i].fn(argc - 1, argv + 1);
        }
    }
    (void)fprintf(stderr, "qtoken bench: unknown benchmark '%s'\n", argv[1]);
    usage(stderr);
    return QT_EXIT_USAGE;
}
