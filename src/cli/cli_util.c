/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the qtoken sub-commands (see cli_util.h). */
#include "cli_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int
qt_cli_is_help(const char *arg)
{
    return arg != NULL &&
           (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0);
}

int
qt_cli_parse_count(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {
        {"", 0},   {"K", 10},  {"k", 10},   {"KiB", 10}, {"M", 20},
        {"m", 20}, {"MiB", 20}, {"G", 30},  {"g", 30},   {"GiB", 30},
    };
    char *end;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (units[i].shift > 0 && v > (UINT64_MAX >> units[i].shift)) {
                return -1;
            }
            *out = (uint64_t)v << units[i].shift;
            return 0;
        }
    }
    return -1;
}

int
qt_cli_conf(const char *cmd, const char *device, struct qt_conf *c)
{
    char err[512] = "";
    size_t n;

    if (qt_conf_load(c, err, sizeof(err)) != QT_OK) {
        (void)fprintf(stderr, "qtoken %s: configuration: %s\n", cmd, err[0] ? err : "invalid");
        return QT_EXIT_USAGE;
    }
    if (device != NULL) {
        n = strlen(device);
        if (n == 0 || n >= sizeof(c->device_spec)) {
            (void)fprintf(stderr, "qtoken %s: invalid --device\n", cmd);
            return QT_EXIT_USAGE;
        }
        memcpy(c->device_spec, device, n + 1);
    }
    return QT_EXIT_OK;
}

int
qt_cli_exit_code(qt_rc rc)
{
    switch (rc) {
    case QT_OK:
        return QT_EXIT_OK;
    case QT_E_HEALTH:
    case QT_E_DEVICE:
    case QT_E_TIMEOUT:
    case QT_E_IO:
        return QT_EXIT_HEALTH;
    case QT_E_CONFIG:
    case QT_E_ARG:
        return QT_EXIT_USAGE;
    case QT_E_NOTFOUND:
        return QT_EXIT_NOTFOUND;
    default:
        return QT_EXIT_FAIL;
    }
}

int
qt_cli_open_out(const char *cmd, const char *path)
{
    int fd;

    if (path == NULL || strcmp(path, "-") == 0) {
        return STDOUT_FILENO;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        (void)fprintf(stderr, "qtoken %s: cannot open %s: %s\n", cmd, path, strerror(errno));
    }
    return fd;
}
