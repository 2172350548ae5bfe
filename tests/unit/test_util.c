/*
 * test_util.c -- the small helpers: timestamps written digit by digit
 * agree with gmtime_r + strftime over a spread of instants.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util.h"

static void reference(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char head[32];
    gmtime_r(&secs, &tm);
    strftime(head, sizeof(head), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", head, (int)(ms % 1000));
}

static void test_known_instants(void **state)
{
    char buf[40];
    tl__fmt_time(0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    tl__fmt_time(1795308722123, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-22T00:52:02.123Z");
    tl__fmt_time(951782400999, buf, sizeof(buf)); /* a leap day */
    assert_string_equal(buf, "2000-02-29T00:00:00.999Z");
}

static void test_agrees_with_strftime(void **state)
{
    char got[40], want[40];
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13; /* xorshift: instants from 1970 to about 2262 */
        x ^= x >> 7;
        x ^= x << 17;
        int64_t ms = (int64_t)(x % 9223372036854ull);
        tl__fmt_time(ms, got, sizeof(got));
        reference(ms, want, sizeof(want));
        assert_string_equal(got, want);
    }
}

static void test_short_buffer_is_cut_not_overrun(void **state)
{
    char buf[12];
    memset(buf, 'x', sizeof(buf));
    tl__fmt_time(1795308722123, buf, sizeof(buf));
    assert_int_equal(strlen(buf), sizeof(buf) - 1);
    assert_string_equal(buf, "2026-11-22T");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_instants),
        cmocka_unit_test(test_agrees_with_strftime),
        cmocka_unit_test(test_short_buffer_is_cut_not_overrun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
