/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../../src/common/buf.h"
#include "../../../src/common/mem.h"

Test(buf, roundtrip_integers_and_lv)
{
    struct qt_buf b;
    uint32_t u32;
    uint64_t u64;
    uint8_t u8;
    const uint8_t *p;
    size_t n;

    qt_buf_init(&b);
    cr_assert_eq(qt_buf_put_u8(&b, 0xab), QT_OK);
    cr_assert_eq(qt_buf_put_u32(&b, 0x01020304), QT_OK);
    cr_assert_eq(qt_buf_put_u64(&b, 0x1122334455667788ULL), QT_OK);
    cr_assert_eq(qt_buf_put_lv(&b, "hello", 5), QT_OK);
    cr_assert_eq(b.len, 1 + 4 + 8 + 4 + 5);
    cr_assert_eq(b.p[1], 0x01);
    cr_assert_eq(qt_buf_get_u8(&b, &u8), QT_OK);
    cr_assert_eq(u8, 0xab);
    cr_assert_eq(qt_buf_get_u32(&b, &u32), QT_OK);
    cr_assert_eq(u32, 0x01020304);
    cr_assert_eq(qt_buf_get_u64(&b, &u64), QT_OK);
    cr_assert_eq(u64, 0x1122334455667788ULL);
    cr_assert_eq(qt_buf_get_lv(&b, &p, &n, 16), QT_OK);
    cr_assert_eq(n, 5);
    cr_assert(memcmp(p, "hello", 5) == 0);
    cr_assert_eq(qt_buf_remaining(&b), 0);
    cr_assert_eq(qt_buf_get_u8(&b, &u8), QT_E_FORMAT);
    qt_buf_clear(&b);
}

Test(buf, wrapped_buffer_never_overflows)
{
    uint8_t mem[6] = {0};
    struct qt_buf b;

    qt_buf_wrap(&b, mem, 0, sizeof(mem));
    cr_assert_eq(qt_buf_put_u32(&b, 7), QT_OK);
    cr_assert_eq(qt_buf_put_u32(&b, 7), QT_E_BUFFER_TOO_SMALL);
    cr_assert_eq(b.len, 4, "a failed write leaves the buffer unchanged");
}

Test(buf, lv_longer_than_max_or_data_is_rejected_and_cursor_kept)
{
    uint8_t mem[8] = {0, 0, 0, 9, 'a', 'b', 'c', 'd'};
    struct qt_buf b;
    const uint8_t *p;
    size_t n;

    qt_buf_wrap(&b, mem, sizeof(mem), sizeof(mem));
    cr_assert_eq(qt_buf_get_lv(&b, &p, &n, 100), QT_E_FORMAT);
    cr_assert_eq(b.off, 0);
    mem[3] = 4;
    cr_assert_eq(qt_buf_get_lv(&b, &p, &n, 3), QT_E_FORMAT);
    cr_assert_eq(qt_buf_get_lv(&b, &p, &n, 4), QT_OK);
    cr_assert_eq(n, 4);
}

Test(buf, hex_is_lowercase)
{
    const uint8_t in[3] = {0x00, 0xab, 0xff};
    char out[7];
    qt_hex(out, in, sizeof(in));
    cr_assert_str_eq(out, "00abff");
}

Test(mem, secret_alloc_is_zeroed_and_clear_is_idempotent)
{
    struct qt_secret s = {0};
    cr_assert_eq(qt_secret_init(&s, 100), QT_OK);
    for (size_t i = 0; i < s.n; i++) {
        cr_assert_eq(s.p[i], 0);
    }
    memset(s.p, 0x5a, s.n);
    qt_secret_clear(&s);
    cr_assert_null(s.p);
    cr_assert_eq(s.n, 0);
    qt_secret_clear(&s);
    qt_secret_clear(NULL);
    cr_assert_eq(qt_secret_init(&s, 0), QT_E_ARG);
}

Test(err, every_code_has_a_string)
{
    for (int rc = 0; rc > QT_E__LAST; rc--) {
        cr_assert_not_null(qt_rc_str(rc));
        cr_assert_str_neq(qt_rc_str(rc), "unknown error", "code %d", rc);
    }
    cr_assert_str_eq(qt_rc_str(QT_E__LAST), "unknown error");
    cr_assert_str_eq(qt_rc_str(5), "unknown error");
}
