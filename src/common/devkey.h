/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The installation's device key: 32 random bytes in <installation>/device.key
 * (mode 0600), shared by the keystore (seals of public keys' values, MACs
 * checked before login) and attest/ (the attestation key's seal).  One
 * implementation, so both agree on name, size, permissions and the race at
 * first use.
 */
#ifndef QT_COMMON_DEVKEY_H
#define QT_COMMON_DEVKEY_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define QT_DEVKEY_FILE "device.key"
#define QT_DEVKEY_LEN 32

/* Random bytes for a new key (the caller's QRNG DRBG). */
typedef qt_rc (*qt_devkey_rng_fn)(void *ctx, uint8_t *out, size_t n);

/* Reads install_dir/device.key into out: a regular file of exactly 32 bytes
 * not accessible to group or others (QT_E_FORMAT for a wrong size or type,
 * QT_E_IO for loose permissions or a read error).  When it is missing:
 * QT_E_NOTFOUND, unless rng != NULL, in which case a new key from rng is
 * written to a private temporary file (0600, fsync'ed) and link()ed into
 * place; if another process won that race its key is the one returned.
 * out is wiped on failure. */
qt_rc qt_devkey_get(const char *install_dir, qt_devkey_rng_fn rng, void *rng_ctx,
                    uint8_t out[QT_DEVKEY_LEN]) QT_MUST_CHECK;

/* fsync() of a directory (after a rename/link in it). */
qt_rc qt_fsync_dir(const char *dir) QT_MUST_CHECK;

#endif
