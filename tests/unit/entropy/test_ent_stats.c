/* SPDX-License-Identifier: Apache-2.0 */
/* Shared stats file: counters from two processes add up; reader; fallback. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../../src/entropy/ent_stats.h"

static char store[] = "/tmp/qt-ent-stats-XXXXXX";
static struct qt_conf conf;

static void
setup(void)
{
    cr_assert_not_null(mkdtemp(store));
    qt_conf_defaults(&conf);
    (void)snprintf(conf.store_path, sizeof(conf.store_path), "%s", store);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
teardown(void)
{
    (void)nftw(store, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
bump(int rounds)
{
    struct qt_ent_stats_map *m = NULL;
    cr_assert_eq(qt_ent_stats_open(&conf, &m), QT_OK);
    cr_assert(qt_ent_stats_shared(m));
    for (int i = 0; i < rounds; i++) {
        qt_ent_stats_add(m, QT_ENT_C_RAW_SAMPLES, 3);
        qt_ent_stats_add(m, QT_ENT_C_FAIL_APT, 1);
    }
    qt_ent_stats_close(m);
}

Test(ent_stats, reader_without_file_is_notfound, .init = setup, .fini = teardown)
{
    struct qt_ent_stats s;
    cr_assert_eq(qt_ent_stats_read(&conf, &s), QT_E_NOTFOUND);
    cr_assert_eq(s.raw_samples, 0);
}

Test(ent_stats, two_processes_share_counters, .init = setup, .fini = teardown)
{
    struct qt_ent_stats s;
    struct qt_ent_stats_map *m = NULL;
    char path[1200];
    struct stat st;
    pid_t pid;
    int status;

    cr_assert_eq(qt_ent_stats_open(&conf, &m), QT_OK); /* mapped before the fork */
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        for (int i = 0; i < 100000; i++) {
            qt_ent_stats_add(m, QT_ENT_C_BITS_SERVED, 1);
        }
        bump(50000);
        _exit(0);
    }
    for (int i = 0; i < 100000; i++) {
        qt_ent_stats_add(m, QT_ENT_C_BITS_SERVED, 1);
    }
    bump(50000);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    qt_ent_stats_set_h(m, 6.25, 6.1);
    qt_ent_stats_set_state(m, 1);
    cr_assert_eq(qt_ent_stats_read(&conf, &s), QT_OK);
    cr_assert_eq(s.bits_served, 200000);
    cr_assert_eq(s.raw_samples, 300000);
    cr_assert_eq(s.failures_apt, 100000);
    cr_assert_float_eq(s.h_declared, 6.25, 1e-12);
    cr_assert_float_eq(s.h_estimate, 6.1, 1e-12);
    cr_assert_eq(s.state, 1);
    qt_ent_stats_close(m);
    (void)snprintf(path, sizeof(path), "%s/installation/stats", store);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
}

Test(ent_stats, corrupt_file_is_not_used, .init = setup, .fini = teardown)
{
    struct qt_ent_stats_map *m = NULL;
    struct qt_ent_stats s;
    char path[1200];
    FILE *f;

    bump(1);
    (void)snprintf(path, sizeof(path), "%s/installation/stats", store);
    f = fopen(path, "r+");
    cr_assert_not_null(f);
    fputs("garbage!", f);
    fclose(f);
    cr_assert_eq(qt_ent_stats_read(&conf, &s), QT_E_FORMAT);
    cr_assert_eq(qt_ent_stats_open(&conf, &m), QT_OK);
    cr_assert_not(qt_ent_stats_shared(m));
    qt_ent_stats_close(m);
}

Test(ent_stats, unusable_dir_falls_back_to_local, .init = setup, .fini = teardown)
{
    struct qt_ent_stats_map *m = NULL;
    struct qt_ent_stats a, b;

    (void)snprintf(conf.store_path, sizeof(conf.store_path), "/proc/qt-no-such-dir");
    cr_assert_eq(qt_ent_stats_open(&conf, &m), QT_OK);
    cr_assert_not(qt_ent_stats_shared(m));
    qt_ent_stats_snapshot(m, &a);
    qt_ent_stats_add(m, QT_ENT_C_RESEEDS, 2);
    qt_ent_stats_snapshot(m, &b);
    cr_assert_eq(b.reseeds, a.reseeds + 2);
    qt_ent_stats_close(m);
}
