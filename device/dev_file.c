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
    int fd;
    int exhausted;
    uint64_t samples;
    struct qt_dev_fdid id;
    struct qt_dev_dec dec;
    double h;
    char path[QT_DEV_PATH_MAX];
    char serial[64];
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
    QT_TRY(qt_dev_fdid_check(f->fd, &f->id));
    for (;;) {
        ssize_t r = read(f->fd, buf, qt_dev_dec_want(&f->dec, n, sizeof(buf)));
        size_t k;

        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            qt_log(QT_LOG_WARN, "file %s: read: %s", f->path, strerror(errno));
            return QT_E_IO;
        }
        if (r == 0) {
            f->exhausted = 1;
            qt_log(QT_LOG_INFO, "file %s: capture exhausted after %" PRIu64 " samples", f->path,
                   f->samples);
            return QT_E_DEVICE;
        }
        k = qt_dev_dec_run(&f->dec, buf, (size_t)r, out);
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
    (void)snprintf(out->serial, sizeof(out->serial), "%s", f->serial);
    out->bits = f->dec.bits;
    out->h_declared = f->h;
    out->simulated = 1;
    (void)snprintf(out->detail, sizeof(out->detail), "capture replay %.200s bits=%u h=%g",
                   f->path, f->dec.bits, f->h);
}

static void
file_close(struct qt_dev *d)
{
    struct file_dev *f = (struct file_dev *)d;

    if (f == NULL) {
        return;
    }
    if (f->fd >= 0) {
        (void)close(f->fd);
    }
    qt_wipe(f, sizeof(*f)); /* a pending half sample */
    free(f);
}

static qt_rc
file_open(const char *args, struct qt_dev **out)
{
    struct file_dev *f = NULL;
    char canon[QT_DEV_PATH_MAX + 64];
    unsigned bits = 0;
    double h = 0.0;
    qt_rc rc;

    QT_ENSURE_REF(args);
    QT_ENSURE_REF(out);
    if ((f = calloc(1, sizeof(*f))) == NULL) {
        return QT_E_NOMEM;
    }
    f->base.ops = &qt_dev_file_ops;
    f->fd = -1;
    if ((rc = qt_dev_spec_fd(args, f->path, sizeof(f->path), &bits, &h)) != QT_OK) {
        goto out;
    }
    f->h = h;
    qt_dev_dec_init(&f->dec, bits);
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (f->fd < 0) {
        qt_log(QT_LOG_WARN, "file %s: open: %s", f->path, strerror(errno));
        rc = QT_E_IO;
        goto out;
    }
    if ((rc = qt_dev_fdid_take(f->fd, &f->id)) != QT_OK) {
        goto out;
    }
    if (f->id.type != S_IFREG) {
        qt_log(QT_LOG_WARN, "file %s: not a regular file", f->path);
        rc = QT_E_CONFIG;
        goto out;
    }
    (void)snprintf(canon, sizeof(canon), "file|%s|%u|%.17g", f->path, bits, h);
    (void)snprintf(f->serial, sizeof(f->serial), "FILE-%016" PRIx64, qt_dev_fnv1a64(canon));
    *out = &f->base;
    f = NULL;
    rc = QT_OK;
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
