/* SPDX-License-Identifier: Apache-2.0 */
/* qt_log: one line per call with its level tag; levels below the set one
 * are dropped; control characters in the formatted text (a token label, a
 * device spec) become '?', so caller text cannot forge or split lines. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "../../../src/common/log.h"

Test(log, one_tagged_line_control_characters_replaced, .init = cr_redirect_stderr)
{
    qt_log_set_level(QT_LOG_INFO);
    qt_log(QT_LOG_WARN, "label '%s'", "ca\nqtoken[error]: forged\x1b[2J\r");
    qt_log(QT_LOG_INFO, "tab\there, utf-8 \xc3\xa9 kept");
    qt_log(QT_LOG_DEBUG, "dropped below the level");
    fflush(stderr);
    cr_assert_stderr_eq_str("qtoken[warn]: label 'ca?qtoken[error]: forged?[2J?'\n"
                            "qtoken[info]: tab?here, utf-8 \xc3\xa9 kept\n");
}
