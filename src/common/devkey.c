/* SPDX-License-Identifier: Apache-2.0 */
/* The installation device key file (devkey.h): read with strict checks,
 * created atomically at first use. */
#include "devkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "conf.h"
#include "io.h"
#include "log.h"
#include "mem.h"

static qt_rc
read_key(const char *path, uint8_t out[QT_DEVKEY_LEN])
{
    struct stat st;
    int fd;
    qt_rc rc = QT_E_IO;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? QT_E_NOTFOUND : QT_E_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != (off_t)QT_DEVKEY_LEN) {
        qt_log(QT_LOG_ERROR, "device key: %s is not a %u-byte regular file", path,
               (unsigned)QT_DEVKEY_LEN);
        rc = QT_E_FORMAT;
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        qt_log(QT_LOG_ERROR, "device key: %s is accessible to others (mode %o): refused", path,
               (unsigned)(st.st_mode & 0777));
        goto out;
    }
    rc = qt_read_exact(fd, out, QT_DEVKEY_LEN);
out:
    if (rc != QT_OK) {
        qt_wipe(out, QT_DEVKEY_LEN);
    }
    (void)close(fd);
    return rc;
}

qt_rc
qt_fsync_dir(const char *dir)
{
    int fd;
    qt_rc rc;

    QT_ENSURE_REF(dir);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return QT_E_IO;
    }
    rc = fsync(fd) == 0 ? QT_OK : QT_E_IO;
    (void)close(fd);
    return rc;
}

qt_rc
qt_devkey_get(const char *install_dir, qt_devkey_rng_fn rng, void *rng_ctx,
              uint8_t out[QT_DEVKEY_LEN])
{
    char path[QT_CONF_STR + 32], tmp[QT_CONF_STR + 64];
    uint8_t key[QT_DEVKEY_LEN], nonce[8];
    char hex[2 * sizeof(nonce) + 1];
    int fd = -1, tmp_made = 0, n;
    qt_rc rc;

    QT_ENSURE(install_dir != NULL && out != NULL, QT_E_ARG);
    n = snprintf(path, sizeof(path), "%s/%s", install_dir, QT_DEVKEY_FILE);
    QT_ENSURE(n > 0 && (size_t)n < sizeof(path), QT_E_RANGE);
    rc = read_key(path, out);
    if (rc != QT_E_NOTFOUND || rng == NULL) {
        return rc;
    }
    /* First use: a private temporary file, then link() into place, which
     * fails with EEXIST if another process won the race (we then read theirs). */
    QT_TRY(qt_mkdirs(install_dir, 0700));
    QT_TRY(rng(rng_ctx, nonce, sizeof(nonce)));
    qt_hex(hex, nonce, sizeof(nonce));
    n = snprintf(tmp, sizeof(tmp), "%s/.%s.%s.tmp", install_dir, QT_DEVKEY_FILE, hex);
    QT_ENSURE(n > 0 && (size_t)n < sizeof(tmp), QT_E_RANGE);
    if ((rc = rng(rng_ctx, key, sizeof(key))) != QT_OK) {
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = QT_E_IO;
        goto out;
    }
    tmp_made = 1;
    if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || fsync(fd) != 0) {
        rc = QT_E_IO;
        goto out;
    }
    (void)close(fd);
    fd = -1;
    if (link(tmp, path) != 0 && errno != EEXIST) {
        rc = QT_E_IO;
        goto out;
    }
    if ((rc = qt_fsync_dir(install_dir)) != QT_OK) {
        goto out;
    }
    qt_log(QT_LOG_INFO, "device key: using %s", path);
    rc = read_key(path, out);
out:
    if (fd >= 0) {
        (void)close(fd);
    }
    if (tmp_made) {
        (void)unlink(tmp);
    }
    qt_wipe(key, sizeof(key));
    return rc;
}
