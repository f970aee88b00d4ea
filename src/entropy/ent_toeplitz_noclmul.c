/* SPDX-License-Identifier: Apache-2.0 */
/* Builds without a carry-less-multiply instruction: only the portable path exists. */
#include "ent_toeplitz_kernel.h"

int
qt_ent_toeplitz_clmul_available(void)
{
    return 0;
}

void
qt_ent_toeplitz_clmul_kernel(const uint64_t *tw, const uint64_t *xw, size_t nw, size_t mw,
                             uint64_t *yw)
{
    (void)tw;
    (void)xw;
    (void)nw;
    (void)mw;
    (void)yw;
}
