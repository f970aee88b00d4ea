/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the qtoken sub-commands: help detection, size and count
 * parsing, configuration with the --device override, qt_rc -> exit code, and
 * writing output in full.  Messages go to stderr prefixed "qtoken <cmd>: ".
 */
#ifndef QT_CLI_CLI_UTIL_H
#define QT_CLI_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include "../common/conf.h"
#include "../common/err.h"

/* 1 if arg is --help, -h or help. */
int qt_cli_is_help(const char *arg);

/* Parses a byte/sample count: decimal digits with an optional binary suffix
 * K, M, G (also KiB, MiB, GiB; k/m/g).  0 on success, -1 on junk or
 * overflow. */
int qt_cli_parse_count(const char *s, uint64_t *out);

/* Loads the configuration (qt_conf_load: QTOKEN_CONF, QTOKEN_STORE,
 * QTOKEN_DEVICE), then applies `device` (the --device option) if not NULL.
 * Resolution of the device spec: --device, else QTOKEN_DEVICE, else the
 * config file's [device] spec, else "sim".  Returns QT_EXIT_OK, or prints the
 * reason under `cmd` and returns QT_EXIT_USAGE. */
int qt_cli_conf(const char *cmd, const char *device, struct qt_conf *c);

/* The exit code for a failed qt_rc (cli.h): entropy/device failures -> 3,
 * configuration/argument errors -> 2, not found -> 4, everything else -> 1. */
int qt_cli_exit_code(qt_rc rc);

/* Opens `path` for writing (created 0600, truncated); "-" or NULL is stdout
 * (returned as 1, not to be closed).  -1 with a message on failure. */
int qt_cli_open_out(const char *cmd, const char *path);

#endif
