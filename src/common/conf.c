/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration: inih parse of qtoken.conf plus QTOKEN_* environment overrides. */
#include "conf.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "check.h"
#include "log.h"

struct parse_state {
    struct qt_conf *c;
    char *err;
    size_t errlen;
    int failed;
};

static int
copy_str(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap) {
        return -1;
    }
    memcpy(dst, v, n + 1);
    return 0;
}

static int
parse_bool(const char *v, int *out)
{
    if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
        strcasecmp(v, "on") == 0) {
        *out = 1;
        return 0;
    }
    if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
        strcasecmp(v, "off") == 0) {
        *out = 0;
        return 0;
    }
    return -1;
}

static int
parse_ulong(const char *v, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    unsigned long x;

    if (*v == '\0' || *v == '-') {
        return -1;
    }
    errno = 0;
    x = strtoul(v, &end, 10);
    if (errno != 0 || *end != '\0' || x < lo || x > hi) {
        return -1;
    }
    *out = x;
    return 0;
}

static int
parse_double(const char *v, double lo, double hi, double *out)
{
    char *end;
    double x;

    errno = 0;
    x = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(x >= lo && x <= hi)) {
        return -1;
    }
    *out = x;
    return 0;
}

#define IS(s, k) (strcmp(section, (s)) == 0 && strcmp(name, (k)) == 0)

static int
handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse_state *st = user;
    struct qt_conf *c = st->c;
    unsigned long u;
    int bad = 0;

    if (IS("store", "path")) {
        bad = copy_str(c->store_path, sizeof(c->store_path), value);
    } else if (IS("device", "spec")) {
        bad = copy_str(c->device_spec, sizeof(c->device_spec), value);
    } else if (IS("entropy", "alpha_log2")) {
        bad = parse_ulong(value, 8, 64, &u);
        c->alpha_log2 = bad ? c->alpha_log2 : (unsigned)u;
    } else if (IS("entropy", "epsilon_log2")) {
        bad = parse_ulong(value, 32, 256, &u);
        c->epsilon_log2 = bad ? c->epsilon_log2 : (unsigned)u;
    } else if (IS("entropy", "extractor")) {
        if (strcmp(value, "toeplitz") == 0) {
            c->extractor = QT_EXTRACTOR_TOEPLITZ;
        } else if (strcmp(value, "sha256") == 0) {
            c->extractor = QT_EXTRACTOR_SHA256;
        } else {
            bad = 1;
        }
    } else if (IS("entropy", "mix_os_entropy")) {
        bad = parse_bool(value, &c->mix_os_entropy);
    } else if (IS("entropy", "full_entropy")) {
        bad = parse_bool(value, &c->full_entropy);
    } else if (IS("entropy", "retries")) {
        bad = parse_ulong(value, 0, 1000, &u);
        c->retries = bad ? c->retries : (unsigned)u;
    } else if (IS("entropy", "estimate_margin")) {
        bad = parse_double(value, 0.0, 16.0, &c->estimate_margin);
    } else if (IS("entropy", "window")) {
        bad = parse_ulong(value, 1024, 1UL << 24, &u);
        c->window = bad ? c->window : (size_t)u;
    } else if (IS("entropy", "fresh_samples")) {
        bad = parse_ulong(value, 1024, 1UL << 24, &u);
        c->fresh_samples = bad ? c->fresh_samples : (size_t)u;
    } else if (IS("token", "pin_max_failures")) {
        bad = parse_ulong(value, 1, 1000, &u);
        c->pin_max_failures = bad ? c->pin_max_failures : (unsigned)u;
    } else if (IS("token", "min_rsa_bits")) {
        bad = parse_ulong(value, 1024, 16384, &u);
        c->min_rsa_bits = bad ? c->min_rsa_bits : (unsigned)u;
    } else if (IS("token", "argon2_memory_kib")) {
        bad = parse_ulong(value, 8, 4UL << 20, &u);
        c->argon2_memory_kib = bad ? c->argon2_memory_kib : (uint32_t)u;
    } else if (IS("token", "argon2_passes")) {
        bad = parse_ulong(value, 1, 100, &u);
        c->argon2_passes = bad ? c->argon2_passes : (uint32_t)u;
    } else if (IS("token", "argon2_lanes")) {
        bad = parse_ulong(value, 1, 64, &u);
        c->argon2_lanes = bad ? c->argon2_lanes : (uint32_t)u;
    } else if (IS("attest", "key_type")) {
        if (strcmp(value, "p256") == 0 || strcmp(value, "ed25519") == 0) {
            bad = copy_str(c->attest_key_type, sizeof(c->attest_key_type), value);
        } else {
            bad = 1;
        }
    } else if (IS("attest", "session_keys")) {
        if (strcmp(value, "batch") == 0) {
            c->attest_session_keys = QT_ATTEST_SESSION_BATCH;
        } else if (strcmp(value, "each") == 0) {
            c->attest_session_keys = QT_ATTEST_SESSION_EACH;
        } else {
            bad = 1;
        }
    } else if (IS("log", "level")) {
        static const char *const lv[] = {"error", "warn", "info", "debug", "trace"};
        bad = 1;
        for (int i = 0; i < 5; i++) {
            if (strcmp(value, lv[i]) == 0) {
                qt_log_set_level((enum qt_log_level)i);
                bad = 0;
            }
        }
    } else {
        if (st->err != NULL && st->errlen > 0) {
            (void)snprintf(st->err, st->errlen, "unknown key [%s] %s", section, name);
        }
        st->failed = 1;
        return 0;
    }
    if (bad) {
        if (st->err != NULL && st->errlen > 0) {
            (void)snprintf(st->err, st->errlen, "invalid value for [%s] %s: '%s'", section, name,
                           value);
        }
        st->failed = 1;
        return 0;
    }
    return 1;
}

void
qt_conf_defaults(struct qt_conf *c)
{
    memset(c, 0, sizeof(*c));
    (void)copy_str(c->store_path, sizeof(c->store_path), QT_DEFAULT_STORE);
    (void)copy_str(c->device_spec, sizeof(c->device_spec), "sim");
    c->alpha_log2 = 30;
    c->epsilon_log2 = 64;
    c->extractor = QT_EXTRACTOR_TOEPLITZ;
    c->mix_os_entropy = 1;
    c->full_entropy = 0;
    c->retries = 0;
    c->estimate_margin = 0.5;
    c->window = 65536;
    c->fresh_samples = QT_CONF_FRESH_SAMPLES;
    c->pin_max_failures = 10;
    c->min_rsa_bits = 2048;
    c->argon2_memory_kib = 65536;
    c->argon2_passes = 3;
    c->argon2_lanes = 1;
    (void)copy_str(c->attest_key_type, sizeof(c->attest_key_type), "p256");
    c->attest_session_keys = QT_ATTEST_SESSION_BATCH;
}

qt_rc
qt_conf_load_file(struct qt_conf *c, const char *path, char *err, size_t errlen)
{
    struct parse_state st = {c, err, errlen, 0};
    int r;

    QT_ENSURE(c != NULL && path != NULL, QT_E_ARG);
    r = ini_parse(path, handler, &st);
    if (r == -1) {
        if (err != NULL && errlen > 0) {
            (void)snprintf(err, errlen, "cannot open config file %s", path);
        }
        return QT_E_CONFIG;
    }
    if (r != 0 || st.failed) {
        if (!st.failed && err != NULL && errlen > 0) {
            (void)snprintf(err, errlen, "%s: syntax error on line %d", path, r);
        } else if (err != NULL && errlen > 0) {
            /* prefix the file name, keep handler's reason */
            char tmp[512];
            (void)snprintf(tmp, sizeof(tmp), "%s: line %d: %s", path, r, err);
            (void)snprintf(err, errlen, "%s", tmp);
        }
        return QT_E_CONFIG;
    }
    (void)copy_str(c->conf_path, sizeof(c->conf_path), path);
    return QT_OK;
}

qt_rc
qt_conf_load(struct qt_conf *c, char *err, size_t errlen)
{
    const char *env;
    struct stat st;

    QT_ENSURE_REF(c);
    qt_conf_defaults(c);
    env = getenv("QTOKEN_CONF");
    if (env != NULL && *env != '\0') {
        QT_TRY(qt_conf_load_file(c, env, err, errlen));
    } else if (stat(QT_SYSCONFDIR "/qtoken/qtoken.conf", &st) == 0) {
        QT_TRY(qt_conf_load_file(c, QT_SYSCONFDIR "/qtoken/qtoken.conf", err, errlen));
    }
    env = getenv("QTOKEN_STORE");
    if (env != NULL && *env != '\0') {
        if (copy_str(c->store_path, sizeof(c->store_path), env) != 0) {
            if (err != NULL && errlen > 0) {
                (void)snprintf(err, errlen, "QTOKEN_STORE too long");
            }
            return QT_E_CONFIG;
        }
    }
    env = getenv("QTOKEN_DEVICE");
    if (env != NULL && *env != '\0') {
        if (copy_str(c->device_spec, sizeof(c->device_spec), env) != 0) {
            if (err != NULL && errlen > 0) {
                (void)snprintf(err, errlen, "QTOKEN_DEVICE too long");
            }
            return QT_E_CONFIG;
        }
    }
    return QT_OK;
}

qt_rc
qt_mkdirs(const char *path, unsigned mode)
{
    char tmp[QT_CONF_STR];
    size_t n;

    QT_ENSURE_REF(path);
    n = strlen(path);
    QT_ENSURE(n > 0 && n < sizeof(tmp), QT_E_ARG);
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char save = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST) {
                return QT_E_IO;
            }
            tmp[i] = save;
        }
    }
    return QT_OK;
}

qt_rc
qt_conf_install_dir(const struct qt_conf *c, char *out, size_t outlen)
{
    int n;

    QT_ENSURE(c != NULL && out != NULL, QT_E_ARG);
    n = snprintf(out, outlen, "%s/installation", c->store_path);
    QT_ENSURE(n > 0 && (size_t)n < outlen, QT_E_RANGE);
    QT_TRY(qt_mkdirs(c->store_path, 0700));
    QT_TRY(qt_mkdirs(out, 0700));
    return QT_OK;
}
