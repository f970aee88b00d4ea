/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../src/common/conf.h"

static char dir[] = "/tmp/qt-conf-XXXXXX";
static char path[256];

static void
setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    (void)snprintf(path, sizeof(path), "%s/qtoken.conf", dir);
    unsetenv("QTOKEN_STORE");
    unsetenv("QTOKEN_DEVICE");
    unsetenv("QTOKEN_CONF");
}

static void
write_conf(const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(conf, defaults_without_file, .init = setup)
{
    struct qt_conf c;
    qt_conf_defaults(&c);
    cr_assert_str_eq(c.device_spec, "sim");
    cr_assert_eq(c.alpha_log2, 30);
    cr_assert_eq(c.epsilon_log2, 64);
    cr_assert_eq(c.mix_os_entropy, 1);
    cr_assert_eq(c.pin_max_failures, 10);
}

Test(conf, file_then_environment_override, .init = setup)
{
    struct qt_conf c;
    char err[256] = "";

    write_conf("[store]\npath = /srv/tokens\n[device]\nspec = sim:seed=7\n"
               "[entropy]\nextractor = sha256\nmix_os_entropy = no\nalpha_log2 = 40\n");
    setenv("QTOKEN_CONF", path, 1);
    cr_assert_eq(qt_conf_load(&c, err, sizeof(err)), QT_OK, "%s", err);
    cr_assert_str_eq(c.store_path, "/srv/tokens");
    cr_assert_str_eq(c.device_spec, "sim:seed=7");
    cr_assert_eq(c.extractor, QT_EXTRACTOR_SHA256);
    cr_assert_eq(c.mix_os_entropy, 0);
    cr_assert_eq(c.alpha_log2, 40);
    setenv("QTOKEN_STORE", "/tmp/elsewhere", 1);
    setenv("QTOKEN_DEVICE", "sim:fault=stuck@10", 1);
    cr_assert_eq(qt_conf_load(&c, err, sizeof(err)), QT_OK, "%s", err);
    cr_assert_str_eq(c.store_path, "/tmp/elsewhere");
    cr_assert_str_eq(c.device_spec, "sim:fault=stuck@10");
}

Test(conf, bad_values_and_unknown_keys_are_errors, .init = setup)
{
    struct qt_conf c;
    char err[256] = "";

    setenv("QTOKEN_CONF", path, 1);
    write_conf("[entropy]\nextractor = xor\n");
    cr_assert_eq(qt_conf_load(&c, err, sizeof(err)), QT_E_CONFIG);
    cr_assert(strstr(err, "extractor") != NULL, "%s", err);
    write_conf("[entropy]\nalpha_log2 = -3\n");
    cr_assert_eq(qt_conf_load(&c, err, sizeof(err)), QT_E_CONFIG);
    write_conf("[nonsense]\nfoo = 1\n");
    cr_assert_eq(qt_conf_load(&c, err, sizeof(err)), QT_E_CONFIG);
    cr_assert(strstr(err, "unknown key") != NULL, "%s", err);
    setenv("QTOKEN_CONF", "/nonexistent/qtoken.conf", 1);
    cr_assert_eq(qt_conf_load(&c, err, sizeof(err)), QT_E_CONFIG);
}

/* [entropy] fresh_samples: default two APT windows, range 1024..2^24. */
Test(conf, fresh_samples_default_range_and_file, .init = setup)
{
    struct qt_conf c;
    char err[256] = "";

    qt_conf_defaults(&c);
    cr_assert_eq(c.fresh_samples, 1024);
    setenv("QTOKEN_CONF", path, 1);
    write_conf("[entropy]\nfresh_samples = 8192\n");
    cr_assert_eq(qt_conf_load(&c, err, sizeof(err)), QT_OK, "%s", err);
    cr_assert_eq(c.fresh_samples, 8192);
    write_conf("[entropy]\nfresh_samples = 100\n");
    cr_assert_eq(qt_conf_load(&c, err, sizeof(err)), QT_E_CONFIG);
    cr_assert(strstr(err, "fresh_samples") != NULL, "%s", err);
}

Test(conf, install_dir_is_created_private, .init = setup)
{
    struct qt_conf c;
    char out[1100];
    struct stat st;

    qt_conf_defaults(&c);
    (void)snprintf(c.store_path, sizeof(c.store_path), "%s/store/a", dir);
    cr_assert_eq(qt_conf_install_dir(&c, out, sizeof(out)), QT_OK);
    cr_assert_eq(stat(out, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
}

Test(conf, attest_session_keys_batch_by_default_each_or_error, .init = setup)
{
    struct qt_conf c;
    char err[256] = "";

    qt_conf_defaults(&c);
    cr_assert_eq(c.attest_session_keys, QT_ATTEST_SESSION_BATCH);
    setenv("QTOKEN_CONF", path, 1);
    write_conf("[attest]\nsession_keys = each\n");
    cr_assert_eq(qt_conf_load(&c, err, sizeof(err)), QT_OK, "%s", err);
    cr_assert_eq(c.attest_session_keys, QT_ATTEST_SESSION_EACH);
    write_conf("[attest]\nsession_keys = batch\n");
    cr_assert_eq(qt_conf_load(&c, err, sizeof(err)), QT_OK, "%s", err);
    cr_assert_eq(c.attest_session_keys, QT_ATTEST_SESSION_BATCH);
    write_conf("[attest]\nsession_keys = never\n");
    cr_assert_eq(qt_conf_load(&c, err, sizeof(err)), QT_E_CONFIG);
    cr_assert(strstr(err, "session_keys") != NULL, "%s", err);
}
