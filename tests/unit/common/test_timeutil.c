/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "clew/error.h"
#include "common/timeutil.h"

static void test_format_parse_round_trip(void **state)
{
    (void)state;
    const int64_t cases[] = { 0, 1, -1, 1795897778710192000LL, 951782400LL * CLEW_NS_PER_SEC,
                              -86400LL * CLEW_NS_PER_SEC * 365 * 70 + 123 };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[40];
        int n = clew_time_format(cases[i], 9, buf, sizeof(buf));
        assert_int_equal(n, 30);
        int64_t back = 0;
        assert_int_equal(clew_time_parse_rfc3339(buf, (size_t)n, &back), 0);
        assert_true(back == cases[i]);
    }
}

static void test_known_values(void **state)
{
    (void)state;
    char buf[40];
    clew_time_format(1795897778710192000LL, 6, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-28T20:29:38.710192Z");
    clew_time_format(0, 0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    clew_time_format(951782400LL * CLEW_NS_PER_SEC, 3, buf, sizeof(buf)); /* leap day */
    assert_string_equal(buf, "2000-02-29T00:00:00.000Z");

    int64_t t;
    const char *s = "2026-11-28T21:29:38.5+01:00";
    assert_int_equal(clew_time_parse_rfc3339(s, strlen(s), &t), 0);
    assert_true(t == 1795897778500000000LL);
    s = "2026-11-28T20:29:38.123456789123Z"; /* extra digits are dropped */
    assert_int_equal(clew_time_parse_rfc3339(s, strlen(s), &t), 0);
    assert_true(t == 1795897778123456789LL);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    const char *bad[] = { "", "2026-11-28", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2026-11-28T24:00:00Z", "2026-11-28T20:29:38", "2026-11-28T20:29:38.Z",
                          "2026-11-28T20:29:38Zjunk", "2026-11-28T20:29:38+0100" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t;
        assert_int_equal(clew_time_parse_rfc3339(bad[i], strlen(bad[i]), &t), CLEW_EFORMAT);
    }
}

/* The largest exact unit, read back by clew_duration_parse. */
static void test_duration_format(void **state)
{
    (void)state;
    static const struct {
        int64_t d;
        const char *want;
    } cases[] = { { 90 * CLEW_NS_PER_SEC, "90s" },  { 300 * CLEW_NS_PER_SEC, "5m" },
                  { 1500000000LL, "1500ms" },        { 7200 * CLEW_NS_PER_SEC, "2h" },
                  { 86400 * CLEW_NS_PER_SEC, "1d" }, { 1234567, "1234567ns" } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        clew_duration_format(cases[i].d, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
        int64_t back;
        assert_int_equal(clew_duration_parse(buf, &back), 0);
        assert_int_equal(back, cases[i].d);
    }
}

static void test_duration(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(clew_duration_parse("15m", &v), 0);
    assert_true(v == 15 * 60 * CLEW_NS_PER_SEC);
    assert_int_equal(clew_duration_parse("7d", &v), 0);
    assert_true(v == 7 * 24 * CLEW_NS_PER_HOUR);
    assert_int_equal(clew_duration_parse("100ms", &v), 0);
    assert_true(v == 100000000);
    assert_int_equal(clew_duration_parse("7", &v), CLEW_EFORMAT);
    assert_int_equal(clew_duration_parse("d", &v), CLEW_EFORMAT);
    assert_int_equal(clew_duration_parse("99999999999999999999h", &v), CLEW_EFORMAT);
}

static void test_hour_floor(void **state)
{
    (void)state;
    assert_true(clew_hour_floor(CLEW_NS_PER_HOUR + 5) == CLEW_NS_PER_HOUR);
    assert_true(clew_hour_floor(-1) == -CLEW_NS_PER_HOUR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_hour_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
