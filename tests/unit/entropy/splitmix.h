/* SPDX-License-Identifier: Apache-2.0 */
/*
 * splitmix64, the entropy tests' seedable sample generator: fast, and with
 * no structure the estimators or health tests would pick up (xorshift's low
 * bits are predictable enough for the lag-1 predictor to notice).  Each
 * test file keeps its own state, so its sequences do not depend on others.
 */
#ifndef QT_TEST_SPLITMIX_H
#define QT_TEST_SPLITMIX_H

#include <stdint.h>

static inline uint64_t
qt_test_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
