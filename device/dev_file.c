/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `file` device: replays a raw capture (FORMAT.md), spec
 * "file:PATH,bits=B,h=H" (bits 1..16, default 8; h required, 0 < h <= bits).
 * For audits and regression tests.  At the end of the capture every read
 * fails with QT_E_DEVICE ("capture exhausted"): it never wraps around, as
 * replaying samples twice would hand out the same entropy twice.  A 16-bit
 * capture ending in half a sample is exhausted at that sample.
 *
 * A replay is not a live source: info reports simulated = 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/common/check.h"
#include "../src/common/log.h"
#include "../src/common/mem.h"
#include "dev_priv.h"

#define FILE_CHUNK 16384

struct file_dev {
    struct qt_dev base;
    struct qt_dev_fdsrc src;
    int exhausted;
    uint64_t samples;
};

static qt_rc
file_read(struct qt_dev *d, uint16_t *out, size_t n, size_t *got, int timeout_ms)
{
    struct file_dev *f = (struct file_dev *)d;
    uint8_t buf[FILE_CHUNK];

    QT_ENSURE_REF(d);
    QT_ENSURE_REF(out);
    QT_ENSURE_REF(got);
    QT_ENSURE(n > 0 && timeout_ms >= 0, QT_E_ARG);
    *got = 0;
    QT_ENSURE(!f->exhausted, QT_E_DEVICE);
    QT_TRY(qt_dev_fdid_check(f->src.fd, &f->src.id));
    for (;;) {
        ssize_t r = read(f->src.fd, buf, qt_dev_dec_want(&f->src.dec, n, sizeof(buf)));
        size_t k;

        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            qt_log(QT_LOG_WARN, "file %s: read: %s", f->src.path, strerror(errno));
            return QT_E_IO;
        }
        if (r == 0) {
            f->exhausted = 1;
            qt_log(QT_LOG_INFO, "file %s: capture exhausted after %" PRIu64 " samples", f->src.path,
                   f->samples);
            return QT_E_DEVICE;
        }
        k = qt_dev_dec_run(&f->src.dec, buf, (size_t)r, out);
        /* Raw samples feed keys: no copy left on the stack. */
        qt_wipe(buf, (size_t)r);
        if (k > 0) {
            f->samples += k;
            *got = k;
            return QT_OK;
        }
    }
}

static void
file_info(const struct qt_dev *d, struct qt_dev_info *out)
{
    const struct file_dev *f = (const struct file_dev *)d;

    (void)snprintf(out->type, sizeof(out->type), "file");
    (void)snprintf(out->serial, sizeof(out->serial), "%s", f->src.serial);
    out->bits = f->src.dec.bits;
    out->h_declared = f->src.h;
    out->simulated = 1;
    (void)snprintf(out->detail, sizeof(out->detail), "capture replay %.200s bits=%u h=%g",
                   f->src.path, f->src.dec.bits, f->src.h);
}

static void
file_close(struct qt_dev *d)
{
    struct file_dev *f = (struct file_dev *)d;

    if (f == NULL) {
        return;
    }
    qt_dev_fdsrc_close(&f->src);
    qt_wipe(f, sizeof(*f)); /* a pending half sample */
    free(f);
}

static qt_rc
file_open(const char *args, struct qt_dev **out)
{
    static const struct qt_dev_fdsrc_kind kind = {
        .name = "file",
        .serial_prefix = "FILE",
        .oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
        .types = {S_IFREG, 0},
        .type_err = "not a regular file",
    };
    struct file_dev *f = NULL;
    qt_rc rc;

    QT_ENSURE_REF(args);
    QT_ENSURE_REF(out);
    if ((f = calloc(1, sizeof(*f))) == NULL) {
        return QT_E_NOMEM;
    }
    f->base.ops = &qt_dev_file_ops;
    if ((rc = qt_dev_fdsrc_open(&f->src, args, &kind)) != QT_OK) {
        goto out;
    }
    *out = &f->base;
    f = NULL;
out:
    file_close(f ? &f->base : NULL);
    return rc;
}

const struct qt_dev_ops qt_dev_file_ops = {
    .name = "file",
    .open = file_open,
    .read = file_read,
    .info = file_info,
    .close = file_close,
};
