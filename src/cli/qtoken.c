/* SPDX-License-Identifier: Apache-2.0 */
/* qtoken: dispatch to one sub-command per file (cli.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"device", qt_cmd_device,
     "device info | selftest | capture: inspect and test the entropy device"},
    {"random", qt_cmd_random, "random --bytes N: bytes from the health-gated QRNG pipeline"},
    {"status", qt_cmd_status, "status: entropy pipeline counters shared by every process"},
    {"token", qt_cmd_token, "token list | init | check | rekey | backup | restore"},
    {"attest", qt_cmd_attest, "attest pubkey | export | verify | show | key"},
    {"ceremony", qt_cmd_ceremony, "ceremony root-ca | verify: CA root key ceremony"},
    {"monitor", qt_cmd_monitor, "monitor: Prometheus metrics endpoint"},
    {"bench", qt_cmd_bench,
     "bench entropy: benchmarks (keystore, PKCS#11: meson test --suite bench)"},
};

static void
usage(FILE *f)
{
    (void)fprintf(f, "usage: qtoken <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        (void)fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    }
    (void)fprintf(f, "\nRun 'qtoken <command> --help' for a command's options.\n"
                     "Environment: QTOKEN_CONF, QTOKEN_STORE, QTOKEN_DEVICE, QTOKEN_PIN.\n"
                     "Exit codes: 0 ok, 1 failure, 2 usage, 3 entropy source unhealthy, "
                     "4 not found.\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return QT_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return QT_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        (void)printf("qtoken %s\n", QT_VERSION);
        return QT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    (void)fprintf(stderr, "qtoken: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return QT_EXIT_USAGE;
}
