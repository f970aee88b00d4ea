/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The qtoken command: one file per sub-command.  Each qt_cmd_* gets argv with
 * argv[0] = the sub-command name and returns the process exit code:
 *   0 ok, 1 failure (invalid data, verification failed), 2 usage/config error,
 *   3 entropy source unhealthy (health test failed, device unreadable),
 *   4 not found (token, key, record).
 */
#ifndef QT_CLI_CLI_H
#define QT_CLI_CLI_H

enum {
    QT_EXIT_OK = 0,
    QT_EXIT_FAIL = 1,
    QT_EXIT_USAGE = 2,
    QT_EXIT_HEALTH = 3,
    QT_EXIT_NOTFOUND = 4,
};

int qt_cmd_attest(int argc, char **argv);
int qt_cmd_bench(int argc, char **argv);
int qt_cmd_ceremony(int argc, char **argv);
int qt_cmd_device(int argc, char **argv);
int qt_cmd_monitor(int argc, char **argv);
int qt_cmd_random(int argc, char **argv);
int qt_cmd_status(int argc, char **argv);
int qt_cmd_token(int argc, char **argv);

#endif
