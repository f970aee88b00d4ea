/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The generic device layer: spec parsing (good and malformed specs, and a
 * mutation loop that must never crash), dispatch, qt_dev_read_full,
 * qt_dev_info and qt_dev_close.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../device/dev.h"
#include "../../../device/dev_sim.h"

static void
open_ok(const char *spec)
{
    struct qt_dev *d = NULL;
    qt_rc rc = qt_dev_open(spec, &d);

    cr_assert_eq(rc, QT_OK, "spec '%s' should open, got %s", spec, qt_rc_str(rc));
    cr_assert_not_null(d);
    qt_dev_close(d);
}

static void
open_bad(const char *spec, qt_rc want)
{
    struct qt_dev *d = (struct qt_dev *)&d; /* must be reset to NULL */
    qt_rc rc = qt_dev_open(spec, &d);

    cr_assert_eq(rc, want, "spec '%s': want %s, got %s", spec, qt_rc_str(want), qt_rc_str(rc));
    cr_assert_null(d, "spec '%s': out must be NULL on failure", spec);
}

Test(dev, good_sim_specs_open)
{
    static const char *const good[] = {
        "sim",
        "sim:",
        "sim:seed=1",
        "sim:seed=0",
        "sim:seed=18446744073709551615",
        "sim:seed=0xdeadBEEF",
        "sim:sigma_q=2.5,sigma_c=0,adc_bits=12,range=6",
        "sim:sigma_q=1e-1,sigma_c=3E-2",
        "sim:adc_bits=1",
        "sim:adc_bits=16,seed=3",
        "sim:range=0.01",
        "sim:range=64",
        "sim:fault=stuck@0",
        "sim:fault=laser-off@5000",
        "sim:fault=saturate@1",
        "sim:fault=drift@7",
        "sim:fault=repeat@100",
        "sim:fault=repeat@100000",
        "sim:fault=read-error@5000",
        "sim:fault=dead@5000",
        "sim:seed=9,fault=dead@0x10",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        open_ok(good[i]);
    }
}

Test(dev, malformed_specs_are_config_errors)
{
    static const char *const bad[] = {
        "",
        ":",
        "sim:,",
        "sim:,seed=1",
        "sim:seed=1,",
        "sim:seed=1,,adc_bits=8",
        "SIM",
        " sim",
        "sim ",
        "simx",
        "sim:seed",
        "sim:seed=",
        "sim:=1",
        "sim:seed=-1",
        "sim:seed=+1",
        "sim:seed= 1",
        "sim:seed=1 ",
        "sim:seed=abc",
        "sim:seed=0x",
        "sim:seed=0xg",
        "sim:seed=18446744073709551616",
        "sim:seed=1,seed=2",
        "sim:foo=1",
        "sim:Seed=1",
        "sim:sigma_q=0",
        "sim:sigma_q=-1",
        "sim:sigma_q=nan",
        "sim:sigma_q=inf",
        "sim:sigma_q=1e999",
        "sim:sigma_q=0x1p3",
        "sim:sigma_q=1..2",
        "sim:sigma_q=1.0x",
        "sim:sigma_c=-0.1",
        "sim:adc_bits=0",
        "sim:adc_bits=17",
        "sim:adc_bits=8.0",
        "sim:range=0",
        "sim:range=65",
        "sim:range=4,range=4",
        "sim:fault=stuck",
        "sim:fault=stuck@",
        "sim:fault=@5",
        "sim:fault=stuck@-1",
        "sim:fault=stuck@1x",
        "sim:fault=bogus@5",
        "sim:fault=Stuck@5",
        "sim:fault=stuck@5@6",
        "sim:fault=stuck@5,fault=dead@6",
        "sim:fault=dead@18446744073709551615",
        /* no min-entropy left to declare */
        "sim:sigma_q=0.000001,sigma_c=1000",
        "chardev",
        "chardev:",
        "chardev:,bits=8,h=1",
        "chardev:/dev/urandom",
        "chardev:/dev/urandom,",
        "chardev:/dev/urandom,bits=8",
        "chardev:/dev/urandom,h=0",
        "chardev:/dev/urandom,h=-1",
        "chardev:/dev/urandom,h=9",
        "chardev:/dev/urandom,bits=4,h=4.5",
        "chardev:/dev/urandom,bits=0,h=1",
        "chardev:/dev/urandom,bits=17,h=1",
        "chardev:/dev/urandom,bits=8,h=1,h=1",
        "chardev:/dev/urandom,bits=8,h=1,x=2",
        "chardev:/dev/urandom,bits=8,h=nan",
        "file",
        "file:",
        "file:" QT_TEST_DATA "/device/ramp8.bin",
        "file:" QT_TEST_DATA "/device/ramp8.bin,bits=8",
        "file:" QT_TEST_DATA "/device/ramp8.bin,bits=8,h=8.01",
        "nosuch:thing",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        open_bad(bad[i], QT_E_CONFIG);
    }
}

Test(dev, wrong_file_types_and_missing_paths)
{
    open_bad("chardev:" QT_TEST_DATA "/device/ramp8.bin,bits=8,h=1", QT_E_CONFIG);
    open_bad("file:/dev/null,bits=8,h=1", QT_E_CONFIG);
    open_bad("file:" QT_TEST_DATA "/device,bits=8,h=1", QT_E_CONFIG);
    open_bad("chardev:/nonexistent/qrandom0,bits=8,h=1", QT_E_IO);
    open_bad("file:/nonexistent/capture.bin,bits=8,h=1", QT_E_IO);
    open_ok("chardev:/dev/urandom,bits=8,h=7.5");
    open_ok("file:" QT_TEST_DATA "/device/ramp8.bin,bits=8,h=1");
    open_ok("file:" QT_TEST_DATA "/device/ramp8.bin,h=1,bits=3");
}

Test(dev, overlong_spec_is_rejected)
{
    size_t n = 5000;
    char *spec = malloc(n + 1);

    cr_assert_not_null(spec);
    memcpy(spec, "sim:seed=", 9);
    memset(spec + 9, '1', n - 9);
    spec[n] = '\0';
    open_bad(spec, QT_E_CONFIG);
    free(spec);
}

Test(dev, null_arguments)
{
    struct qt_dev *d = NULL;
    struct qt_dev_info info;
    uint16_t x;

    cr_assert_eq(qt_dev_open(NULL, &d), QT_E_ARG);
    cr_assert_eq(qt_dev_open("sim", NULL), QT_E_ARG);
    cr_assert_eq(qt_dev_read_full(NULL, &x, 1, 10), QT_E_ARG);
    qt_dev_close(NULL);
    memset(&info, 0xa5, sizeof(info));
    qt_dev_info(NULL, &info);
    cr_assert_eq(info.bits, 0);
    cr_assert_eq(info.type[0], '\0');
    qt_dev_info(NULL, NULL);
}

/* Byte-level mutations of valid specs: every result is a clean accept or
 * QT_E_CONFIG (under ASan this is the no-crash check). */
Test(dev, mutated_specs_never_crash)
{
    static const char *const seeds[] = {
        "sim:seed=12,sigma_q=1.5,sigma_c=0.2,adc_bits=10,range=5,fault=drift@300",
        "sim:fault=repeat@4096",
        "sim:adc_bits=2,range=1",
    };
    static const char alphabet[] = "=,:@.-+xe0123456789abcdefsimqr_ \x01\xff";
    char buf[128];
    uint64_t x = 0x1234567887654321ULL;
    unsigned accepted = 0;

    for (int iter = 0; iter < 20000; iter++) {
        const char *s = seeds[(size_t)iter % 3];
        size_t len = strlen(s);
        struct qt_dev *d = NULL;
        qt_rc rc;

        memcpy(buf, s, len + 1);
        for (int k = 0; k < 1 + iter % 4; k++) {
            size_t pos;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pos = (size_t)(x % len);
            switch ((x >> 32) % 3) {
            case 0: /* replace */
                buf[pos] = alphabet[(x >> 40) % (sizeof(alphabet) - 1)];
                break;
            case 1: /* truncate */
                buf[pos] = '\0';
                break;
            default: /* delete */
                memmove(buf + pos, buf + pos + 1, strlen(buf + pos));
                break;
            }
            len = strlen(buf);
            if (len == 0) {
                break;
            }
        }
        rc = qt_dev_open(buf, &d);
        cr_assert(rc == QT_OK || rc == QT_E_CONFIG, "'%s' -> %s", buf, qt_rc_str(rc));
        if (rc == QT_OK) {
            uint16_t out[4];
            struct qt_dev_info info;
            accepted++;
            qt_dev_info(d, &info);
            cr_assert(info.h_declared > 0 && info.h_declared <= info.bits);
            /* Faults may start at 0: any of these outcomes, never a crash. */
            rc = qt_dev_read_full(d, out, 4, 0);
            cr_assert(rc == QT_OK || rc == QT_E_IO || rc == QT_E_TIMEOUT, "%s", qt_rc_str(rc));
            qt_dev_close(d);
        } else {
            cr_assert_null(d);
        }
    }
    cr_assert_gt(accepted, 0);
}

Test(dev, read_full_loops_and_checks_arguments)
{
    struct qt_dev *d = NULL;
    uint16_t buf[1000];

    cr_assert_eq(qt_dev_open("sim:seed=5,fault=read-error@700", &d), QT_OK);
    cr_assert_eq(qt_dev_read_full(d, buf, 0, 10), QT_OK);
    cr_assert_eq(qt_dev_read_full(d, NULL, 1, 10), QT_E_ARG);
    cr_assert_eq(qt_dev_read_full(d, buf, 1, -1), QT_E_ARG);
    cr_assert_eq(qt_dev_read_full(d, buf, 600, 10), QT_OK);
    /* 100 more are there, then the fault: read_full returns the error. */
    cr_assert_eq(qt_dev_read_full(d, buf, 200, 10), QT_E_IO);
    cr_assert_eq(qt_dev_read_full(d, buf, 1, 10), QT_E_IO);
    qt_dev_close(d);
}

Test(dev, sim_info_describes_the_device)
{
    struct qt_dev *d = NULL;
    struct qt_dev_info info;
    struct qt_dev_sim_model m;

    cr_assert_eq(qt_dev_open("sim:seed=1", &d), QT_OK);
    qt_dev_info(d, &info);
    cr_assert_str_eq(info.type, "sim");
    cr_assert_eq(strncmp(info.serial, "SIM-", 4), 0);
    cr_assert_eq(info.bits, 8);
    cr_assert_eq(info.simulated, 1);
    qt_dev_sim_model_default(&m);
    cr_assert_float_eq(info.h_declared, qt_dev_sim_h_declared(&m), 1e-12);
    cr_assert_not_null(strstr(info.detail, "sigma_q=1 "));
    cr_assert_not_null(strstr(info.detail, "sigma_c=0.3 "));
    cr_assert_not_null(strstr(info.detail, "adc_bits=8 "));
    cr_assert_not_null(strstr(info.detail, "range=+-4 "));
    cr_assert_null(strstr(info.detail, "seed=1"), "the seed value is not repeated");
    fprintf(stderr, "device info: %s %s bits=%u H=%.6f simulated=%d\n  %s\n", info.type,
            info.serial, info.bits, info.h_declared, info.simulated, info.detail);
    qt_dev_close(d);
}

Test(dev, sim_serial_is_deterministic_from_parameters)
{
    const char *specs[] = {"sim:seed=1", "sim:seed=1", "sim:seed=2", "sim", "sim",
                           "sim:adc_bits=12", "sim:seed=1,fault=stuck@5"};
    char serial[7][64];

    for (int i = 0; i < 7; i++) {
        struct qt_dev *d = NULL;
        struct qt_dev_info info;
        cr_assert_eq(qt_dev_open(specs[i], &d), QT_OK);
        qt_dev_info(d, &info);
        memcpy(serial[i], info.serial, sizeof(info.serial));
        qt_dev_close(d);
    }
    cr_assert_str_eq(serial[0], serial[1]);
    cr_assert_str_neq(serial[0], serial[2]);
    cr_assert_str_eq(serial[3], serial[4], "unseeded: serial from the parameters");
    cr_assert_str_neq(serial[3], serial[5]);
    cr_assert_str_neq(serial[0], serial[6]);
}
