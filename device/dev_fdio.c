/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the fd back-ends (chardev, file) share: the raw sample decoder of the
 * capture format (FORMAT.md: one byte per sample for bits <= 8, little-endian
 * 16-bit otherwise, no header), the fd identity check done before every read
 * (s2n's s2n_rand_device_validate: a host may close our fd and reuse its
 * number), opening and closing the fd with its spec, and monotonic time for
 * read deadlines.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../src/common/check.h"
#include "../src/common/log.h"
#include "dev_priv.h"

void
qt_dev_dec_init(struct qt_dev_dec *dec, unsigned bits)
{
    dec->bits = bits;
    dec->width = bits <= 8 ? 1 : 2;
    dec->mask = (uint16_t)((1U << bits) - 1U);
    dec->has_pending = 0;
    dec->pending = 0;
}

size_t
qt_dev_dec_run(struct qt_dev_dec *dec, const uint8_t *in, size_t len, uint16_t *out)
{
    size_t n = 0;
    size_t i = 0;

    if (dec->width == 1) {
        for (; i < len; i++) {
            out[i] = (uint16_t)(in[i] & dec->mask);
        }
        return len;
    }
    if (dec->has_pending && len > 0) {
        out[n++] = (uint16_t)((dec->pending | ((uint16_t)in[0] << 8)) & dec->mask);
        dec->has_pending = 0;
        i = 1;
    }
    for (; i + 1 < len; i += 2) {
        out[n++] = (uint16_t)((in[i] | ((uint16_t)in[i + 1] << 8)) & dec->mask);
    }
    if (i < len) {
        dec->pending = in[i];
        dec->has_pending = 1;
    }
    return n;
}

size_t
qt_dev_dec_want(const struct qt_dev_dec *dec, size_t n, size_t cap)
{
    size_t max_n = cap / dec->width;

    if (n > max_n) {
        n = max_n;
    }
    return n * dec->width - (dec->has_pending ? 1U : 0U);
}

qt_rc
qt_dev_fdid_take(int fd, struct qt_dev_fdid *id)
{
    struct stat st;

    QT_ENSURE(fstat(fd, &st) == 0, QT_E_IO);
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->rdev = st.st_rdev;
    id->type = st.st_mode & S_IFMT;
    return QT_OK;
}

qt_rc
qt_dev_fdid_check(int fd, const struct qt_dev_fdid *id)
{
    struct stat st;

    QT_ENSURE(fd >= 0 && fstat(fd, &st) == 0, QT_E_DEVICE);
    QT_ENSURE(st.st_dev == id->dev && st.st_ino == id->ino, QT_E_DEVICE);
    QT_ENSURE((st.st_mode & S_IFMT) == id->type, QT_E_DEVICE);
    QT_ENSURE(!S_ISCHR(st.st_mode) || st.st_rdev == id->rdev, QT_E_DEVICE);
    return QT_OK;
}

qt_rc
qt_dev_fdsrc_open(struct qt_dev_fdsrc *src, const char *args, const struct qt_dev_fdsrc_kind *kind)
{
    char canon[QT_DEV_PATH_MAX + 64];
    unsigned bits = 0;
    double h = 0.0;
    size_t i;
    qt_rc rc;

    src->fd = -1;
    QT_TRY(qt_dev_spec_fd(args, src->path, sizeof(src->path), &bits, &h));
    src->h = h;
    qt_dev_dec_init(&src->dec, bits);
    src->fd = open(src->path, kind->oflags);
    if (src->fd < 0) {
        qt_log(QT_LOG_WARN, "%s %s: open: %s", kind->name, src->path, strerror(errno));
        return QT_E_IO;
    }
    /* the fd is src's now: plain returns below, qt_dev_fdsrc_close frees it */
    if ((rc = qt_dev_fdid_take(src->fd, &src->id)) != QT_OK) {
        return rc;
    }
    for (i = 0; kind->types[i] != 0 && kind->types[i] != src->id.type; i++) {
        /* look for the fd's type */
    }
    if (kind->types[i] == 0) {
        qt_log(QT_LOG_WARN, "%s %s: %s", kind->name, src->path, kind->type_err);
        return QT_E_CONFIG;
    }
    (void)snprintf(canon, sizeof(canon), "%s|%s|%u|%.17g", kind->name, src->path, bits, h);
    (void)snprintf(src->serial, sizeof(src->serial), "%s-%016" PRIx64, kind->serial_prefix,
                   qt_dev_fnv1a64(canon));
    return QT_OK;
}

void
qt_dev_fdsrc_close(struct qt_dev_fdsrc *src)
{
    if (src->fd >= 0) {
        (void)close(src->fd);
    }
    src->fd = -1;
}

int64_t
qt_dev_now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
qt_dev_sleep_ms(int64_t ms)
{
    struct timespec ts;

    if (ms <= 0) {
        return;
    }
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        /* resume with the remaining time */
    }
}
