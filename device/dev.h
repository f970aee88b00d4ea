/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entropy devices: one small ops table, three back-ends (sim, chardev, file),
 * chosen by a device spec string used identically by the config file, the CLI
 * and the tests:
 *
 *   sim[:key=value,...]        homodyne QRNG model (dev_sim.c), fault injection
 *   chardev:PATH,bits=B,h=H    character device / FIFO (dev_chardev.c)
 *   file:PATH,bits=B,h=H       replay of a capture (dev_file.c)
 *
 * Raw samples are delivered as uint16_t holding an unsigned ADC code in the
 * low `bits` bits.  Capture file format (dev_file.c, `qtoken device capture`):
 * raw samples, one byte each for bits <= 8, little-endian 16-bit otherwise,
 * no header (device/FORMAT.md).  The sim model and its fault injection are
 * described in dev_sim.h.
 *
 * Errors: qt_dev_open returns QT_E_CONFIG for any malformed spec (unknown
 * back-end or key, repeated key, bad number, value out of range, chardev or
 * file path of the wrong file type), QT_E_IO when the path cannot be
 * opened.  Reads: QT_E_TIMEOUT when no sample came in time (a FIFO with no
 * writer included: a restarted vendor tool may come back), QT_E_IO on a
 * read error, QT_E_DEVICE when the device is unusable (file capture
 * exhausted, fd identity changed under us).
 *
 * A device instance is used by one thread at a time (the pipeline locks).
 */
#ifndef QT_DEVICE_DEV_H
#define QT_DEVICE_DEV_H

#include <stddef.h>
#include <stdint.h>
#include "../src/common/err.h"

struct qt_dev;

struct qt_dev_info {
    char type[16];        /* "sim", "chardev", "file" */
    char serial[64];      /* stable identity of this device/config */
    unsigned bits;        /* sample width, 1..16 */
    double h_declared;    /* declared min-entropy per sample, bits (0 < H <= bits) */
    int simulated;        /* 1 when not a live physical source: sim, and file
                           * (a replay); never quantum, said in every attestation */
    char detail[256];     /* human-readable parameters (no secrets) */
};

struct qt_dev_ops {
    const char *name;     /* spec prefix */
    /* Required. args is the text after "name:" (or "" ). */
    qt_rc (*open)(const char *args, struct qt_dev **out);
    /* Required. Reads up to n (> 0) samples into out, at least 1 unless
     * error; *got = number delivered (0 on error).  Bounded by timeout_ms
     * (>= 0; 0 = do not wait; negative is QT_E_ARG): QT_E_TIMEOUT if no
     * sample arrived; QT_E_IO / QT_E_DEVICE on read errors. */
    qt_rc (*read)(struct qt_dev *d, uint16_t *out, size_t n, size_t *got, int timeout_ms);
    /* Required. */
    void (*info)(const struct qt_dev *d, struct qt_dev_info *out);
    /* Required; NULL-safe. */
    void (*close)(struct qt_dev *d);
};

/* Every device instance starts with this header so the generic layer can
 * find its ops. */
struct qt_dev {
    const struct qt_dev_ops *ops;
};

/* Parses spec, opens the matching back-end.  QT_E_CONFIG on a bad spec. */
qt_rc qt_dev_open(const char *spec, struct qt_dev **out) QT_MUST_CHECK;

/* Fills exactly n samples, looping over short reads, each read bounded by
 * timeout_ms (>= 0).  Returns the first error; the samples read before it
 * are in out but not counted for the caller (treat out as unusable). */
qt_rc qt_dev_read_full(struct qt_dev *d, uint16_t *out, size_t n, int timeout_ms) QT_MUST_CHECK;

void qt_dev_info(const struct qt_dev *d, struct qt_dev_info *out);

/* NULL-safe. */
void qt_dev_close(struct qt_dev *d);

#endif
