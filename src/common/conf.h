/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration: one INI file parsed with inih, then environment overrides.
 *
 * Resolution (the same for the module, the CLI and the tests):
 *   file:   $QTOKEN_CONF, else QT_SYSCONFDIR "/qtoken/qtoken.conf" (missing is fine
 *           for the default path, an error for an explicit QTOKEN_CONF)
 *   store:  $QTOKEN_STORE, else [store] path, else QT_DEFAULT_STORE
 *   device: (CLI --device), else $QTOKEN_DEVICE, else [device] spec, else "sim"
 *
 * Sections and keys (all optional):
 *   [store]   path
 *   [device]  spec
 *   [entropy] alpha_log2 (30: alpha = 2^-30), extractor (toeplitz|sha256),
 *             epsilon_log2 (64), mix_os_entropy (yes|no), full_entropy (yes|no),
 *             retries (0), estimate_margin (0.5 bits/sample), window (e.g. 65536)
 *   [token]   pin_max_failures (10), min_rsa_bits (2048),
 *             argon2_memory_kib (65536), argon2_passes (3), argon2_lanes (1)
 *   [attest]  key_type (p256|ed25519), session_keys (batch|each: how the records of
 *             session-object key generations reach the log, see attest/FORMAT.md)
 *   [log]     level (error|warn|info|debug|trace)
 */
#ifndef QT_COMMON_CONF_H
#define QT_COMMON_CONF_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

#ifndef QT_SYSCONFDIR
#define QT_SYSCONFDIR "/etc"
#endif
#ifndef QT_DEFAULT_STORE
#define QT_DEFAULT_STORE "/var/lib/qtoken"
#endif

#define QT_CONF_STR 1024

/* [attest] session_keys: one record per session-object key written before
 * the key is handed out (each), or the keys' descriptions queued and
 * written as one session-keys record (batch, the default). */
enum qt_attest_session_keys {
    QT_ATTEST_SESSION_BATCH = 0,
    QT_ATTEST_SESSION_EACH = 1,
};

enum qt_extractor_kind {
    QT_EXTRACTOR_TOEPLITZ = 0,
    QT_EXTRACTOR_SHA256 = 1,
};

/* [entropy] fresh_samples default: new device samples a prediction-
 * resistance draw (every key generation) reads at least: two APT windows,
 * so every draw holds one complete adaptive-proportion window. */
#define QT_CONF_FRESH_SAMPLES 1024u

struct qt_conf {
    char conf_path[QT_CONF_STR];   /* file read, "" if none */
    char store_path[QT_CONF_STR];
    char device_spec[QT_CONF_STR];
    /* [entropy] */
    unsigned alpha_log2;
    unsigned epsilon_log2;
    enum qt_extractor_kind extractor;
    int mix_os_entropy;
    int full_entropy;
    unsigned retries;
    double estimate_margin;
    size_t window;
    size_t fresh_samples;
    /* [token] */
    unsigned pin_max_failures;
    unsigned min_rsa_bits;
    uint32_t argon2_memory_kib;
    uint32_t argon2_passes;
    uint32_t argon2_lanes;
    /* [attest] */
    char attest_key_type[16];
    enum qt_attest_session_keys attest_session_keys;
};

/* Fills c with built-in defaults (no I/O). */
void qt_conf_defaults(struct qt_conf *c);

/* Defaults, then the config file (see above), then environment overrides.
 * On QT_E_CONFIG, err (if non-NULL, errlen > 0) gets a one-line reason. */
qt_rc qt_conf_load(struct qt_conf *c, char *err, size_t errlen) QT_MUST_CHECK;

/* Parses the INI file at path into c (on top of what c holds). */
qt_rc qt_conf_load_file(struct qt_conf *c, const char *path, char *err,
                        size_t errlen) QT_MUST_CHECK;

/* The installation directory: "<store>/installation", created mode 0700 if missing
 * (parents too).  Holds the attestation key, device key, Toeplitz seeds, stats file. */
qt_rc qt_conf_install_dir(const struct qt_conf *c, char *out, size_t outlen) QT_MUST_CHECK;

/* mkdir -p with the given mode for each created component. */
qt_rc qt_mkdirs(const char *path, unsigned mode) QT_MUST_CHECK;

#endif
