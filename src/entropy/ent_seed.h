/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Toeplitz extractor's seed, one per device serial, kept in the
 * installation directory as toeplitz-<first 16 hex digits of
 * SHA-256(serial)>.seed (QT_ENT_SEED_BYTES bytes, mode 0600).
 *
 * The seed is public in the sense of the leftover hash lemma: it must be
 * uniform and independent of the raw samples, not secret.  It is drawn once
 * from the OS (getrandom), which is independent of the QRNG, and reused so
 * the device's output is a fixed function of its samples.  Creation is
 * atomic: written to a temporary file, fsync'd, then link()ed to its name
 * (no replace: when two processes race, both end up with the winner's seed).
 * An existing file must be a regular file of the exact size, not writable by
 * group or others (an attacker who could choose the seed after seeing the
 * source could weaken the extractor).
 */
#ifndef QT_ENTROPY_ENT_SEED_H
#define QT_ENTROPY_ENT_SEED_H

#include <stddef.h>
#include <stdint.h>
#include "../common/conf.h"
#include "../common/err.h"

/* The seed file's path for this serial (creates the installation dir). */
qt_rc qt_ent_seed_path(const struct qt_conf *conf, const char *serial, char *out,
                       size_t outlen) QT_MUST_CHECK;

/* Reads the seed for serial into seed[len], creating the file on first use.
 * QT_E_IO when the directory or file is unusable, QT_E_TAMPER when the file
 * has the wrong size, type or permissions. */
qt_rc qt_ent_seed_load(const struct qt_conf *conf, const char *serial, uint8_t *seed,
                       size_t len) QT_MUST_CHECK;

#endif
