/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file device: replay of the fixtures in tests/data/device (8-bit ramp,
 * little-endian 16-bit ramp, a 16-bit capture ending in half a sample),
 * masking, exhaustion without wrap-around, and a capture of the sim written
 * in the FORMAT.md encoding and replayed identically (8 and 12 bits,
 * larger than one internal read chunk).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../device/dev.h"

#define DATA QT_TEST_DATA "/device/"

Test(dev_file, eight_bit_replay_then_exhausted)
{
    struct qt_dev *d = NULL;
    struct qt_dev_info info;
    uint16_t x[300];
    size_t got = 0;
    size_t done = 0;

    cr_assert_eq(qt_dev_open("file:" DATA "ramp8.bin,bits=8,h=0.5", &d), QT_OK);
    qt_dev_info(d, &info);
    cr_assert_str_eq(info.type, "file");
    cr_assert_eq(strncmp(info.serial, "FILE-", 5), 0);
    cr_assert_eq(info.bits, 8);
    cr_assert_float_eq(info.h_declared, 0.5, 1e-12);
    cr_assert_eq(info.simulated, 1, "a replay is not a live source");
    /* Short reads of 7. */
    while (done < 256) {
        cr_assert_eq(d->ops->read(d, x + done, 7, &got, 0), QT_OK);
        cr_assert(got > 0 && got <= 7);
        done += got;
    }
    cr_assert_eq(done, 256);
    for (unsigned i = 0; i < 256; i++) {
        cr_assert_eq(x[i], i);
    }
    cr_assert_eq(d->ops->read(d, x, 1, &got, 0), QT_E_DEVICE, "capture exhausted");
    cr_assert_eq(got, 0);
    cr_assert_eq(d->ops->read(d, x, 1, &got, 0), QT_E_DEVICE, "never wraps around");
    qt_dev_close(d);
}

Test(dev_file, read_full_past_the_end_fails)
{
    struct qt_dev *d = NULL;
    uint16_t x[300];

    cr_assert_eq(qt_dev_open("file:" DATA "ramp8.bin,bits=3,h=1", &d), QT_OK);
    cr_assert_eq(qt_dev_read_full(d, x, 300, 10), QT_E_DEVICE);
    qt_dev_close(d);
    cr_assert_eq(qt_dev_open("file:" DATA "ramp8.bin,bits=3,h=1", &d), QT_OK);
    cr_assert_eq(qt_dev_read_full(d, x, 256, 10), QT_OK);
    for (unsigned i = 0; i < 256; i++) {
        cr_assert_eq(x[i], i & 7, "masked to 3 bits");
    }
    qt_dev_close(d);
}

Test(dev_file, sixteen_bit_little_endian)
{
    struct qt_dev *d = NULL;
    uint16_t x[256];

    cr_assert_eq(qt_dev_open("file:" DATA "ramp16le.bin,bits=16,h=2", &d), QT_OK);
    cr_assert_eq(qt_dev_read_full(d, x, 256, 10), QT_OK);
    for (unsigned i = 0; i < 256; i++) {
        cr_assert_eq(x[i], (i << 8) | (255 - i), "sample %u = %04x", i, x[i]);
    }
    cr_assert_eq(qt_dev_read_full(d, x, 1, 10), QT_E_DEVICE);
    qt_dev_close(d);
    cr_assert_eq(qt_dev_open("file:" DATA "ramp16le.bin,bits=9,h=2", &d), QT_OK);
    cr_assert_eq(qt_dev_read_full(d, x, 256, 10), QT_OK);
    for (unsigned i = 0; i < 256; i++) {
        cr_assert_eq(x[i], ((i << 8) | (255 - i)) & 0x1ff);
    }
    qt_dev_close(d);
}

Test(dev_file, half_a_sample_at_the_end_is_exhaustion)
{
    struct qt_dev *d = NULL;
    uint16_t x[2];
    size_t got = 0;

    cr_assert_eq(qt_dev_open("file:" DATA "odd16.bin,bits=16,h=1", &d), QT_OK);
    cr_assert_eq(d->ops->read(d, x, 2, &got, 0), QT_OK);
    cr_assert_eq(got, 1);
    cr_assert_eq(x[0], 0x1234);
    cr_assert_eq(d->ops->read(d, x, 2, &got, 0), QT_E_DEVICE);
    qt_dev_close(d);
}

static void
capture_and_replay(const char *sim_spec, unsigned bits, size_t n)
{
    char dir[] = "/tmp/qt-file-XXXXXX";
    char path[128];
    char spec[256];
    struct qt_dev *d = NULL;
    uint16_t *x = calloc(n, sizeof(*x));
    uint16_t *y = calloc(n, sizeof(*y));
    uint8_t *raw = calloc(n, 2);
    size_t width = bits <= 8 ? 1 : 2;
    FILE *f;

    cr_assert(x != NULL && y != NULL && raw != NULL);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/capture.bin", dir);
    cr_assert_eq(qt_dev_open(sim_spec, &d), QT_OK);
    cr_assert_eq(qt_dev_read_full(d, x, n, 100), QT_OK);
    qt_dev_close(d);
    /* FORMAT.md: one byte per sample up to 8 bits, else little-endian 16. */
    for (size_t i = 0; i < n; i++) {
        if (width == 1) {
            raw[i] = (uint8_t)x[i];
        } else {
            raw[2 * i] = (uint8_t)(x[i] & 0xff);
            raw[2 * i + 1] = (uint8_t)(x[i] >> 8);
        }
    }
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(raw, width, n, f), n);
    cr_assert_eq(fclose(f), 0);
    snprintf(spec, sizeof(spec), "file:%s,bits=%u,h=1", path, bits);
    cr_assert_eq(qt_dev_open(spec, &d), QT_OK);
    cr_assert_eq(qt_dev_read_full(d, y, n, 100), QT_OK);
    cr_assert_eq(memcmp(x, y, n * sizeof(*x)), 0);
    cr_assert_eq(qt_dev_read_full(d, y, 1, 100), QT_E_DEVICE);
    qt_dev_close(d);
    unlink(path);
    rmdir(dir);
    free(raw);
    free(y);
    free(x);
}

Test(dev_file, sim_capture_replays_identically)
{
    capture_and_replay("sim:seed=11", 8, 100000);
    capture_and_replay("sim:seed=11,adc_bits=12", 12, 100003);
}

Test(dev_file, replaced_fd_is_detected)
{
    struct qt_dev *d = NULL;
    uint16_t x[4];
    int fd;

    cr_assert_eq(qt_dev_open("file:" DATA "ramp8.bin,bits=8,h=1", &d), QT_OK);
    /* Find the device's fd through /proc and put another file under its
     * number, as a host closing and reusing fds would. */
    for (fd = 3; fd < 1024; fd++) {
        char link[64];
        char target[4096];
        ssize_t n;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            if (strstr(target, "/device/ramp8.bin") != NULL) {
                int other = open(DATA "ramp16le.bin", O_RDONLY | O_CLOEXEC);
                cr_assert_geq(other, 0);
                cr_assert_eq(dup2(other, fd), fd);
                close(other);
                break;
            }
        }
    }
    cr_assert_lt(fd, 1024);
    cr_assert_eq(qt_dev_read_full(d, x, 4, 10), QT_E_DEVICE);
    qt_dev_close(d);
}
