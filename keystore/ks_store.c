/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store directory: listing token files ("tok-<serial>.db", sorted by
 * label), finding a token by label, the store-wide lock under which labels
 * are checked for uniqueness and token files appear or change label.
 * Labels are read here without authentication (listing needs no key); the
 * opened token's record MAC is what is trusted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../src/common/check.h"
#include "../src/common/conf.h"
#include "../src/common/log.h"
#include "ks_int.h"
#include "ks_sqlite.h"

qt_rc
qt_ks_store_lock(const char *store_dir, int *fd)
{
    char path[1100];
    int n;

    QT_ENSURE(store_dir != NULL && fd != NULL, QT_E_ARG);
    QT_TRY(qt_mkdirs(store_dir, 0700));
    n = snprintf(path, sizeof(path), "%s/.lock", store_dir);
    QT_ENSURE(n > 0 && (size_t)n < sizeof(path), QT_E_RANGE);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    QT_ENSURE(*fd >= 0, QT_E_IO);
    while (flock(*fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            (void)close(*fd);
            *fd = -1;
            return QT_E_IO;
        }
    }
    return QT_OK;
}

void
qt_ks_store_unlock(int fd)
{
    if (fd >= 0) {
        (void)flock(fd, LOCK_UN);
        (void)close(fd);
    }
}

/* Reads a token file's label without authenticating it (for listing). */
static qt_rc
peek_label(const char *path, char label[QT_KS_LABEL_MAX + 1], char serial[KS_SERIAL_LEN + 1])
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    const unsigned char *l, *s;
    qt_rc rc = QT_E_FORMAT;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = QT_E_IO;
        goto out;
    }
    (void)sqlite3_busy_timeout(db, KS_BUSY_MS);
    if (sqlite3_prepare_v2(db, "SELECT label, serial FROM token WHERE k = 1", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        goto out;
    }
    l = sqlite3_column_text(st, 0);
    s = sqlite3_column_text(st, 1);
    if (l == NULL || s == NULL || strlen((const char *)l) > QT_KS_LABEL_MAX ||
        strlen((const char *)s) != KS_SERIAL_LEN) {
        goto out;
    }
    memcpy(label, l, strlen((const char *)l) + 1);
    memcpy(serial, s, KS_SERIAL_LEN + 1);
    rc = QT_OK;
out:
    (void)sqlite3_finalize(st);
    (void)sqlite3_close_v2(db);
    return rc;
}

struct listent {
    char *path;
    char label[QT_KS_LABEL_MAX + 1];
};

static int
cmp_listent(const void *a, const void *b)
{
    const struct listent *x = a, *y = b;
    int c = strcmp(x->label, y->label);

    return c != 0 ? c : strcmp(x->path, y->path);
}

static int
is_token_name(const char *name)
{
    size_t n = strlen(name);

    return n == 4 + KS_SERIAL_LEN + 3 && strncmp(name, "tok-", 4) == 0 &&
           strcmp(name + n - 3, ".db") == 0;
}

void
qt_ks_free_list(char **paths, size_t n)
{
    if (paths == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(paths[i]);
    }
    free(paths);
}

qt_rc
qt_ks_list(const struct qt_ks_env *env, char ***paths, size_t *n)
{
    DIR *d = NULL;
    struct dirent *e;
    struct listent *v = NULL, *nv;
    char **res = NULL;
    char serial[KS_SERIAL_LEN + 1];
    size_t cnt = 0, cap = 0;
    qt_rc rc = QT_OK;

    QT_ENSURE(env != NULL && env->store_dir != NULL && paths != NULL && n != NULL, QT_E_ARG);
    *paths = NULL;
    *n = 0;
    d = opendir(env->store_dir);
    if (d == NULL) {
        return errno == ENOENT ? QT_OK : QT_E_IO;
    }
    while ((e = readdir(d)) != NULL) {
        char *p;

        if (!is_token_name(e->d_name)) {
            continue;
        }
        if (cnt == cap) {
            cap = cap == 0 ? 8 : cap * 2;
            if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
                rc = QT_E_NOMEM;
                goto out;
            }
            v = nv;
        }
        if (asprintf(&p, "%s/%s", env->store_dir, e->d_name) < 0) {
            rc = QT_E_NOMEM;
            goto out;
        }
        v[cnt].path = p;
        if (peek_label(p, v[cnt].label, serial) != QT_OK) {
            v[cnt].label[0] = '\0';
        }
        cnt++;
    }
    if (cnt > 0) {
        qsort(v, cnt, sizeof(*v), cmp_listent);
        if ((res = calloc(cnt, sizeof(*res))) == NULL) {
            rc = QT_E_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < cnt; i++) {
            res[i] = v[i].path;
            v[i].path = NULL;
        }
    }
    *paths = res;
    *n = cnt;
out:
    for (size_t i = 0; v != NULL && i < cnt; i++) {
        free(v[i].path);
    }
    free(v);
    (void)closedir(d);
    return rc;
}

/* QT_E_EXISTS if a token other than skip_path has label or serial.  Caller
 * holds the store lock. */
qt_rc
qt_ks_store_label_free(const char *store_dir, const char *label, const char *serial,
                        const char *skip_path)
{
    struct qt_ks_env env = {.store_dir = store_dir};
    char **paths = NULL;
    char l[QT_KS_LABEL_MAX + 1], s[KS_SERIAL_LEN + 1];
    size_t n = 0;
    qt_rc rc;

    QT_TRY(qt_ks_list(&env, &paths, &n));
    rc = QT_OK;
    for (size_t i = 0; i < n && rc == QT_OK; i++) {
        if (skip_path != NULL && strcmp(paths[i], skip_path) == 0) {
            continue;
        }
        if (peek_label(paths[i], l, s) == QT_OK &&
            ((label != NULL && strcmp(l, label) == 0) ||
             (serial != NULL && strcmp(s, serial) == 0))) {
            rc = QT_E_EXISTS;
        }
    }
    qt_ks_free_list(paths, n);
    return rc;
}

qt_rc
qt_ks_token_open_label(const struct qt_ks_env *env, const char *label, struct qt_ks_token **out)
{
    char **paths = NULL;
    char l[QT_KS_LABEL_MAX + 1], s[KS_SERIAL_LEN + 1];
    size_t n = 0;
    qt_rc rc = QT_E_NOTFOUND;

    QT_ENSURE(env != NULL && label != NULL && out != NULL, QT_E_ARG);
    QT_TRY(qt_ks_list(env, &paths, &n));
    for (size_t i = 0; i < n; i++) {
        if (peek_label(paths[i], l, s) == QT_OK && strcmp(l, label) == 0) {
            rc = qt_ks_token_open(env, paths[i], out);
            break;
        }
    }
    qt_ks_free_list(paths, n);
    return rc;
}
