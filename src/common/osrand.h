/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel's CSPRNG (getrandom(2)), for what must not wait on the QRNG:
 * per-device extractor seeds, the OS input mixed into every DRBG reseed
 * (credited zero), the simulator's default seed, object identifiers, and
 * the keystore's random source in tests.  Never a substitute for the QRNG:
 * no key material comes from here.
 */
#ifndef QT_COMMON_OSRAND_H
#define QT_COMMON_OSRAND_H
#include <stddef.h>

#include "err.h"

/* Fills out with n bytes, retrying interrupted and short reads.  QT_E_IO if
 * the kernel refuses (out may then hold a partial fill). */
qt_rc qt_os_random(void *out, size_t n) QT_MUST_CHECK;

#endif
