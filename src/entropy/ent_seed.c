/* SPDX-License-Identifier: Apache-2.0 */
/* Toeplitz seed file: per-serial, created atomically on first use (see ent_seed.h). */
#include "ent_seed.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/check.h"
#include "../common/io.h"
#include "../common/log.h"
#include "../common/osrand.h"

qt_rc
qt_ent_seed_path(const struct qt_conf *conf, const char *serial, char *out, size_t outlen)
{
    char dir[QT_CONF_STR];
    uint8_t md[SHA256_DIGEST_LENGTH];
    char hex[2 * 8 + 1];
    int n;

    QT_ENSURE(conf != NULL && serial != NULL && out != NULL, QT_E_ARG);
    QT_TRY(qt_conf_install_dir(conf, dir, sizeof(dir)));
    (void)SHA256((const unsigned char *)serial, strlen(serial), md);
    qt_hex(hex, md, 8);
    n = snprintf(out, outlen, "%s/toeplitz-%s.seed", dir, hex);
    QT_ENSURE(n > 0 && (size_t)n < outlen, QT_E_RANGE);
    return QT_OK;
}

/* Creates path with fresh random content unless it exists.  QT_OK both when
 * we created it and when another process did first. */
static qt_rc
create_seed(const char *path, size_t len)
{
    char tmp[QT_CONF_STR + 16];
    uint8_t *buf = NULL;
    int fd = -1, n;
    qt_rc rc = QT_E_IO;

    n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
    QT_ENSURE(n > 0 && (size_t)n < sizeof(tmp), QT_E_RANGE);
    buf = malloc(len);
    QT_ENSURE(buf != NULL, QT_E_NOMEM);
    fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        goto out;
    }
    if ((rc = qt_os_random(buf, len)) != QT_OK ||
        (rc = qt_write_all(fd, buf, len)) != QT_OK) {
        goto out;
    }
    rc = QT_E_IO;
    if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
        goto out;
    }
    if (link(tmp, path) != 0 && errno != EEXIST) {
        goto out;
    }
    rc = QT_OK;
out:
    if (fd >= 0) {
        (void)close(fd);
        (void)unlink(tmp);
    }
    free(buf);
    return rc;
}

qt_rc
qt_ent_seed_load(const struct qt_conf *conf, const char *serial, uint8_t *seed, size_t len)
{
    char path[QT_CONF_STR + 64];
    struct stat st;
    int fd;
    qt_rc rc;

    QT_ENSURE(seed != NULL && len > 0, QT_E_ARG);
    QT_TRY(qt_ent_seed_path(conf, serial, path, sizeof(path)));
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        QT_TRY(create_seed(path, len));
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    QT_ENSURE(fd >= 0, QT_E_IO);
    rc = QT_E_IO;
    if (fstat(fd, &st) != 0) {
        goto out;
    }
    rc = QT_E_TAMPER;
    if (!S_ISREG(st.st_mode) || st.st_size != (off_t)len || (st.st_mode & 022) != 0) {
        qt_log(QT_LOG_ERROR, "toeplitz seed %s: wrong type, size or permissions", path);
        goto out;
    }
    rc = qt_read_exact(fd, seed, len);
out:
    (void)close(fd);
    return rc;
}
