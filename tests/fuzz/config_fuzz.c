/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the configuration file parser (qt_conf_load_file, inih plus
 * our value parsers).  The input is written to a private temp file, parsed
 * on top of the defaults, and the result checked: on success every value
 * is inside the range conf.c documents and every string is terminated; on
 * failure the reason is a terminated string.
 */
#include <string.h>
#include <unistd.h>

#include "../../src/common/conf.h"
#include "../../src/common/log.h"
#include "fuzz.h"

static char path[96];
static char dir[64];

static void
cleanup(void)
{
    if (path[0] != '\0') {
        (void)unlink(path);
    }
    if (dir[0] != '\0') {
        (void)rmdir(dir);
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)snprintf(dir, sizeof(dir), "/tmp/qt-fuzz-conf-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        fuzz_fail("mkdtemp");
    }
    (void)snprintf(path, sizeof(path), "%s/qtoken.conf", dir);
    atexit(cleanup);
    return 0;
}

static void
check_str(const char *s, size_t cap)
{
    fuzz_check(memchr(s, '\0', cap) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qt_conf c;
    char err[256];
    FILE *f;
    qt_rc rc;

    if (size > 64 * 1024) {
        return 0;
    }
    if ((f = fopen(path, "wb")) == NULL) {
        fuzz_fail("fopen %s", path);
    }
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        fuzz_fail("fwrite");
    }
    if (fclose(f) != 0) {
        fuzz_fail("fclose");
    }
    qt_conf_defaults(&c);
    memset(err, 'x', sizeof(err));
    rc = qt_conf_load_file(&c, path, err, sizeof(err));
    /* [log] level changes a global: put the default back. */
    qt_log_set_level(QT_LOG_WARN);
    if (rc != QT_OK) {
        fuzz_check(rc == QT_E_CONFIG);
        check_str(err, sizeof(err));
        return 0;
    }
    fuzz_check(strcmp(c.conf_path, path) == 0);
    check_str(c.store_path, sizeof(c.store_path));
    check_str(c.device_spec, sizeof(c.device_spec));
    check_str(c.attest_key_type, sizeof(c.attest_key_type));
    fuzz_check(strcmp(c.attest_key_type, "p256") == 0 || strcmp(c.attest_key_type, "ed25519") == 0);
    fuzz_check(c.alpha_log2 >= 8 && c.alpha_log2 <= 64);
    fuzz_check(c.epsilon_log2 >= 32 && c.epsilon_log2 <= 256);
    fuzz_check(c.extractor == QT_EXTRACTOR_TOEPLITZ || c.extractor == QT_EXTRACTOR_SHA256);
    fuzz_check(c.mix_os_entropy == 0 || c.mix_os_entropy == 1);
    fuzz_check(c.full_entropy == 0 || c.full_entropy == 1);
    fuzz_check(c.retries <= 1000);
    fuzz_check(c.estimate_margin >= 0.0 && c.estimate_margin <= 16.0);
    fuzz_check(c.window >= 1024 && c.window <= (1u << 24));
    fuzz_check(c.pin_max_failures >= 1 && c.pin_max_failures <= 1000);
    fuzz_check(c.min_rsa_bits >= 1024 && c.min_rsa_bits <= 16384);
    fuzz_check(c.argon2_memory_kib >= 8 && c.argon2_memory_kib <= (4u << 20));
    fuzz_check(c.argon2_passes >= 1 && c.argon2_passes <= 100);
    fuzz_check(c.argon2_lanes >= 1 && c.argon2_lanes <= 64);
    return 0;
}
