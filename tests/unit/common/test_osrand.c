/* SPDX-License-Identifier: Apache-2.0 */
/* qt_os_random: argument checks; a fill larger than what one getrandom(2)
 * call returns (32 MiB) is complete, and two fills differ. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../../src/common/osrand.h"

Test(osrand, arguments)
{
    cr_assert_eq(qt_os_random(NULL, 0), QT_OK);
    cr_assert_eq(qt_os_random(NULL, 1), QT_E_ARG);
}

Test(osrand, large_fill_is_complete_and_fresh)
{
    const size_t n = (size_t)40 << 20; /* more than one getrandom call returns */
    uint8_t *a = malloc(n), *b = malloc(n);
    size_t zero_runs = 0;

    cr_assert(a != NULL && b != NULL);
    memset(a, 0, n);
    memset(b, 0, n);
    cr_assert_eq(qt_os_random(a, n), QT_OK);
    cr_assert_eq(qt_os_random(b, n), QT_OK);
    /* an unfilled tail would be 4 KiB blocks of zeros: none expected */
    for (size_t off = 0; off + 4096 <= n; off += 4096) {
        size_t k = 0;
        while (k < 4096 && a[off + k] == 0) {
            k++;
        }
        zero_runs += k == 4096;
    }
    cr_assert_eq(zero_runs, 0, "%zu all-zero 4 KiB blocks", zero_runs);
    cr_assert_neq(memcmp(a, b, 4096), 0);
    free(a);
    free(b);
}
