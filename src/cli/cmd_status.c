/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder for 'qtoken status' until its owner lands it. */
#include <stdio.h>

#include "cli.h"

int
qt_cmd_status(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    (void)fprintf(stderr, "qtoken status: not implemented yet\n");
    return QT_EXIT_USAGE;
}
