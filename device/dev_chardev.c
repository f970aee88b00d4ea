/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `chardev` device: raw samples from a character device or a FIFO (a
 * Quantis card's /dev/qrandomN, /dev/hwrng, a pipe fed by a vendor tool),
 * spec "chardev:PATH,bits=B,h=H" (bits 1..16, default 8; h required,
 * 0 < h <= bits).  Samples are encoded as in FORMAT.md.
 *
 * The fd is opened O_RDONLY|O_NONBLOCK|O_CLOEXEC and its identity (st_dev,
 * st_ino, type, st_rdev) is recorded; it is re-checked before every read
 * (s2n_rand_device_validate), so a host that closed our fd and reused the
 * number gets QT_E_DEVICE, never samples from another file.  Every read is
 * bounded by its timeout: poll() for data, EINTR retried, short reads
 * accepted (a half 16-bit sample is kept for the next read).
 *
 * End of file.  A FIFO whose writer went away reads 0 bytes, and poll()
 * then reports POLLHUP at once, forever, until a new writer opens it.  We
 * treat that as "no data yet", not as a permanent failure: a vendor tool
 * that restarts must be able to resume.  The read polls at a bounded
 * back-off (10 ms) until its deadline and returns QT_E_TIMEOUT.  A
 * character device reading 0 bytes is handled the same way.  Only a read
 * error (EIO, ...) or a changed identity is QT_E_IO / QT_E_DEVICE.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/common/check.h"
#include "../src/common/log.h"
#include "../src/common/mem.h"
#include "dev_priv.h"

#define CHARDEV_CHUNK 16384
#define CHARDEV_BACKOFF_MS 10

struct chardev {
    struct qt_dev base;
    struct qt_dev_fdsrc src;
};

/* Waits until fd is readable or the deadline passes.  QT_OK when a read is
 * worth trying, QT_E_TIMEOUT, or QT_E_IO on a poll error. */
static qt_rc
wait_readable(int fd, int64_t deadline, int hup_seen)
{
    for (;;) {
        int64_t left = deadline - qt_dev_now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r;

        if (left <= 0) {
            return QT_E_TIMEOUT;
        }
        if (hup_seen) {
            /* poll() would return POLLHUP at once: back off instead. */
            qt_dev_sleep_ms(left < CHARDEV_BACKOFF_MS ? left : CHARDEV_BACKOFF_MS);
            return QT_OK;
        }
        r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return QT_E_IO;
        }
        if (r == 0) {
            continue; /* the deadline check above ends it */
        }
        if ((pfd.revents & (POLLERR | POLLNVAL)) != 0) {
            return QT_E_IO;
        }
        return QT_OK;
    }
}

static qt_rc
chardev_read(struct qt_dev *d, uint16_t *out, size_t n, size_t *got, int timeout_ms)
{
    struct chardev *c = (struct chardev *)d;
    uint8_t buf[CHARDEV_CHUNK];
    int64_t deadline;
    int hup_seen = 0;
    int tried = 0;

    QT_ENSURE_REF(d);
    QT_ENSURE_REF(out);
    QT_ENSURE_REF(got);
    QT_ENSURE(n > 0 && timeout_ms >= 0, QT_E_ARG);
    *got = 0;
    QT_TRY(qt_dev_fdid_check(c->src.fd, &c->src.id));
    deadline = qt_dev_now_ms() + timeout_ms;
    for (;;) {
        size_t want = qt_dev_dec_want(&c->src.dec, n, sizeof(buf));
        ssize_t r;
        size_t k;

        /* After the first attempt, each further one waits for data first. */
        if (tried > 0) {
            QT_TRY(wait_readable(c->src.fd, deadline, hup_seen));
            QT_TRY(qt_dev_fdid_check(c->src.fd, &c->src.id));
        }
        tried++;
        r = read(c->src.fd, buf, want);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* A device without poll support reports "readable" at
                 * once; do not spin on it. */
                if (tried > 1) {
                    qt_dev_sleep_ms(1);
                }
                hup_seen = 0;
                continue;
            }
            if (errno == EINTR) {
                continue;
            }
            qt_log(QT_LOG_WARN, "chardev %s: read: %s", c->src.path, strerror(errno));
            return QT_E_IO;
        }
        if (r == 0) {
            hup_seen = 1; /* no writer (FIFO) or nothing (device): see above */
            continue;
        }
        hup_seen = 0;
        k = qt_dev_dec_run(&c->src.dec, buf, (size_t)r, out);
        /* Raw samples feed keys: no copy left on the stack. */
        qt_wipe(buf, (size_t)r);
        if (k > 0) {
            *got = k;
            return QT_OK;
        }
        /* Half a 16-bit sample: wait for its other byte. */
    }
}

static void
chardev_info(const struct qt_dev *d, struct qt_dev_info *out)
{
    const struct chardev *c = (const struct chardev *)d;

    (void)snprintf(out->type, sizeof(out->type), "chardev");
    (void)snprintf(out->serial, sizeof(out->serial), "%s", c->src.serial);
    out->bits = c->src.dec.bits;
    out->h_declared = c->src.h;
    out->simulated = 0;
    (void)snprintf(out->detail, sizeof(out->detail), "%s %.200s bits=%u h=%g",
                   c->src.id.type == S_IFIFO ? "fifo" : "character device", c->src.path,
                   c->src.dec.bits, c->src.h);
}

static void
chardev_close(struct qt_dev *d)
{
    struct chardev *c = (struct chardev *)d;

    if (c == NULL) {
        return;
    }
    qt_dev_fdsrc_close(&c->src);
    qt_wipe(c, sizeof(*c)); /* a pending half sample */
    free(c);
}

static qt_rc
chardev_open(const char *args, struct qt_dev **out)
{
    static const struct qt_dev_fdsrc_kind kind = {
        .name = "chardev",
        .serial_prefix = "CHR",
        .oflags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
        .types = {S_IFCHR, S_IFIFO, 0},
        .type_err = "not a character device or FIFO",
    };
    struct chardev *c = NULL;
    qt_rc rc;

    QT_ENSURE_REF(args);
    QT_ENSURE_REF(out);
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        return QT_E_NOMEM;
    }
    c->base.ops = &qt_dev_chardev_ops;
    if ((rc = qt_dev_fdsrc_open(&c->src, args, &kind)) != QT_OK) {
        goto out;
    }
    *out = &c->base;
    c = NULL;
out:
    chardev_close(c ? &c->base : NULL);
    return rc;
}

const struct qt_dev_ops qt_dev_chardev_ops = {
    .name = "chardev",
    .open = chardev_open,
    .read = chardev_read,
    .info = chardev_info,
    .close = chardev_close,
};
