/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: device spec strings.  The input (up to the first NUL) is a
 * spec.  "sim..." specs go through qt_dev_open, which only computes (the
 * model's tables); an opened device must describe itself sanely and
 * deliver samples inside its width.  "chardev:" and "file:" arguments go
 * to their parser qt_dev_spec_fd only: opening arbitrary paths from fuzz
 * input would touch the filesystem.  Every other prefix must be refused by
 * qt_dev_open with QT_E_CONFIG (no back-end matches, nothing is opened).
 * Finally the bytes also drive the raw sample decoder (dev_fdio.c) with
 * the width taken from the first byte.
 */
#include <math.h>
#include <string.h>

#include "../../device/dev.h"
#include "../../device/dev_priv.h"
#include "fuzz.h"

#define SPEC_MAX (QT_DEV_SPEC_MAX + 64)

static void
check_sim(const char *spec)
{
    struct qt_dev *d = NULL;
    struct qt_dev_info info;
    uint16_t s[64];
    qt_rc rc;

    rc = qt_dev_open(spec, &d);
    if (rc != QT_OK) {
        fuzz_check(d == NULL);
        fuzz_check(rc == QT_E_CONFIG || rc == QT_E_NOMEM);
        return;
    }
    fuzz_check(d != NULL);
    qt_dev_info(d, &info);
    fuzz_check(strcmp(info.type, "sim") == 0);
    fuzz_check(memchr(info.serial, '\0', sizeof(info.serial)) != NULL);
    fuzz_check(memchr(info.detail, '\0', sizeof(info.detail)) != NULL);
    fuzz_check(info.bits >= 1 && info.bits <= 16);
    fuzz_check(info.h_declared > 0.0 && info.h_declared <= (double)info.bits);
    fuzz_check(info.simulated == 1);
    /* Timeout 0: the stall-like faults must not wait. */
    rc = qt_dev_read_full(d, s, (sizeof(s) / sizeof(s[0])), 0);
    if (rc == QT_OK) {
        for (size_t i = 0; i < (sizeof(s) / sizeof(s[0])); i++) {
            fuzz_check(info.bits == 16 || s[i] < (1u << info.bits));
        }
    } else {
        fuzz_check(rc == QT_E_TIMEOUT || rc == QT_E_IO || rc == QT_E_DEVICE);
    }
    qt_dev_close(d);
}

static void
check_fd_args(const char *args)
{
    char path[QT_DEV_PATH_MAX];
    unsigned bits = 0;
    double h = 0.0;

    if (qt_dev_spec_fd(args, path, sizeof(path), &bits, &h) != QT_OK) {
        return;
    }
    fuzz_check(bits >= 1 && bits <= 16);
    fuzz_check(isfinite(h) && h > 0.0 && h <= (double)bits);
    fuzz_check(path[0] != '\0' && strchr(path, ',') == NULL);
    fuzz_check(strncmp(args, path, strlen(path)) == 0);
}

static void
check_decoder(const uint8_t *data, size_t size)
{
    struct qt_dev_dec dec;
    uint16_t *out;
    unsigned bits;
    size_t pos = 1;
    size_t total = 0;
    size_t bytes = 0;

    if (size < 2) {
        return;
    }
    bits = 1u + (data[0] & 15u);
    qt_dev_dec_init(&dec, bits);
    if ((out = malloc((size + 1) * sizeof(*out))) == NULL) {
        return;
    }
    /* Chunks of varying length (from the data itself) to cross the
     * dangling-byte path of 16-bit samples. */
    while (pos < size) {
        size_t chunk = 1u + (data[pos] % 7u);
        size_t got;

        if (chunk > size - pos) {
            chunk = size - pos;
        }
        got = qt_dev_dec_run(&dec, data + pos, chunk, out + total);
        fuzz_check(got <= (chunk + 1) / dec.width);
        total += got;
        bytes += chunk;
        pos += chunk;
    }
    fuzz_check(total == bytes / dec.width);
    /* The chunking must not change the samples: compare with the stream
     * decoded in one go (little-endian for 16-bit samples, masked). */
    for (size_t k = 0; k < total; k++) {
        const uint8_t *b = data + 1 + k * dec.width;
        unsigned v = dec.width == 1 ? b[0] : (unsigned)b[0] | ((unsigned)b[1] << 8);

        fuzz_check(out[k] == (v & ((1u << bits) - 1u)));
    }
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char spec[SPEC_MAX + 1];
    size_t n = size < SPEC_MAX ? size : SPEC_MAX;
    struct qt_dev *d = NULL;

    memcpy(spec, data, n);
    spec[n] = '\0';
    if (strncmp(spec, "sim", 3) == 0) {
        check_sim(spec);
    } else if (strncmp(spec, "chardev:", 8) == 0) {
        check_fd_args(spec + 8);
    } else if (strncmp(spec, "file:", 5) == 0) {
        check_fd_args(spec + 5);
    } else if (strncmp(spec, "chardev", 7) != 0 && strncmp(spec, "file", 4) != 0) {
        fuzz_check(qt_dev_open(spec, &d) == QT_E_CONFIG && d == NULL);
    }
    check_decoder(data, size);
    return 0;
}
