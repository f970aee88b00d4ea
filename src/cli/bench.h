/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `qtoken bench <name>`: one benchmark per file bench_<name>.c, each an entry
 * point with the sub-command's argv (argv[0] = "<name>") returning an exit
 * code.  To add one: write bench_<name>.c, declare it here, add a line to the
 * table in cmd_bench.c and the file to src/cli/meson.build, and a test() in
 * tests/bench/meson.build (suite 'bench').
 */
#ifndef QT_CLI_BENCH_H
#define QT_CLI_BENCH_H

int qt_bench_entropy(int argc, char **argv);

/* Monotonic time in seconds (for every bench). */
double qt_bench_now(void);

#endif
