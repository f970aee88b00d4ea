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
 * no header.
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
    int simulated;        /* 1 for sim: never quantum, said in every attestation */
    char detail[256];     /* human-readable parameters (no secrets) */
};

struct qt_dev_ops {
    const char *name;     /* spec prefix */
    /* Required. args is the text after "name:" (or "" ). */
    qt_rc (*open)(const char *args, struct qt_dev **out);
    /* Required. Reads up to n samples into out, at least 1 unless error;
     * *got = number delivered.  Bounded by timeout_ms: QT_E_TIMEOUT if no
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
 * timeout_ms.  Returns the first error. */
qt_rc qt_dev_read_full(struct qt_dev *d, uint16_t *out, size_t n, int timeout_ms) QT_MUST_CHECK;

void qt_dev_info(const struct qt_dev *d, struct qt_dev_info *out);

/* NULL-safe. */
void qt_dev_close(struct qt_dev *d);

#endif
