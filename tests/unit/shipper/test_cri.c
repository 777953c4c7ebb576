/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "clew/error.h"
#include "shipper/cri.h"
#include "shipper/docker_json.h"

#define T0 1705314600000000000LL /* 2024-01-15T10:30:00Z */

static int parse(const char *s, struct clew_cri_line *out)
{
    return clew_cri_line_parse(s, strlen(s), out);
}

static void str_eq(struct clew_str s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

static void test_lines(void **state)
{
    (void)state;
    struct clew_cri_line c;
    assert_int_equal(parse("2024-01-15T10:30:00.123456789Z stdout F hello world", &c), 0);
    assert_int_equal(c.stream, CLEW_SHIP_STDOUT);
    assert_int_equal(c.complete, 1);
    assert_true(c.ts == T0 + 123456789);
    str_eq(c.content, "hello world");

    assert_int_equal(parse("2024-01-15T10:30:00.1Z stderr P part1", &c), 0);
    assert_int_equal(c.stream, CLEW_SHIP_STDERR);
    assert_int_equal(c.complete, 0);
    str_eq(c.content, "part1");

    assert_int_equal(parse("2024-01-15T10:30:00Z stdout F ", &c), 0);
    assert_int_equal(c.complete, 1);
    assert_int_equal(c.content.len, 0);
    assert_int_equal(c.no_delim, 0);

    assert_int_equal(parse("2024-01-15T18:30:00.5+08:00 stdout F:x:y z", &c), 0);
    assert_true(c.ts == T0 + 500000000);
    str_eq(c.content, "z");

    assert_int_equal(parse("2024-01-15T10:30:00.120000000+00:00 stdout F hi\r", &c), 0);
    assert_true(c.ts == T0 + 120000000);
    str_eq(c.content, "hi\r");

    assert_int_equal(parse("2024-01-15T10:30:00Z stdout F", &c), 0);
    assert_int_equal(c.no_delim, 1);
    assert_int_equal(c.content.len, 0);

    assert_int_equal(parse("2024-01-15T10:30:00Z stdin F x", &c), CLEW_EFORMAT);
    assert_int_equal(parse("2024-01-15T10:30:00Z stdout Fx", &c), CLEW_EFORMAT);
    assert_int_equal(parse("2024-01-15T10:30:00Z stdout X y", &c), CLEW_EFORMAT);
    assert_int_equal(parse("yesterday stdout F y", &c), CLEW_EFORMAT);
    assert_int_equal(parse("2024-01-15T10:30:00Z", &c), CLEW_EFORMAT);
    assert_int_equal(
        parse("{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"}", &c),
        CLEW_EFORMAT);
}

static void test_paths(void **state)
{
    (void)state;
    struct clew_cri_meta m;
    const char *p =
        "/var/log/pods/shop_web-7d4b9c-xk2p_0d1c2b3a-4e5f-6071-8293-a4b5c6d7e8f9/nginx/2.log";
    assert_int_equal(clew_cri_path_parse(p, strlen(p), &m), 0);
    str_eq(m.namespace_, "shop");
    str_eq(m.pod, "web-7d4b9c-xk2p");
    str_eq(m.uid, "0d1c2b3a-4e5f-6071-8293-a4b5c6d7e8f9");
    str_eq(m.container, "nginx");
    assert_int_equal(m.restart, 2);
    /* Rotated by kubelet, compressed or not: the same metadata. */
    const char *rotated[] = {
        "/var/log/pods/shop_web-7d4b9c-xk2p_0d1c2b3a-4e5f-6071-8293-a4b5c6d7e8f9/nginx/"
        "2.log.20240115-103000",
        "/var/log/pods/shop_web-7d4b9c-xk2p_0d1c2b3a-4e5f-6071-8293-a4b5c6d7e8f9/nginx/"
        "2.log.20240115-093000.gz",
    };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(clew_cri_path_parse(rotated[i], strlen(rotated[i]), &m), 0);
        str_eq(m.pod, "web-7d4b9c-xk2p");
        str_eq(m.container, "nginx");
        assert_int_equal(m.restart, 2);
    }

    const char *l = "/var/log/containers/web-7d4b9c-xk2p_shop_nginx-"
                    "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708.log";
    assert_int_equal(clew_cri_link_parse(l, strlen(l), &m), 0);
    str_eq(m.pod, "web-7d4b9c-xk2p");
    str_eq(m.namespace_, "shop");
    str_eq(m.container, "nginx");
    str_eq(m.container_id, "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708");

    const char *bad[] = { "/var/log/pods/nounderscore/c/0.log",
                          "/var/log/pods/a_b/c/0.log",
                          "/var/log/pods/a_b_c_d/c/0.log",
                          "0.log",
                          "/x/a_b_c/c/0.txt",
                          "/x/a_b_c/c/0.logx",
                          "/x/a_b_c/c/.log" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(clew_cri_path_parse(bad[i], strlen(bad[i]), &m), CLEW_EFORMAT);
    }
    const char *bad_links[] = { "/var/log/containers/nodash.log", "/c/a_b-id.log",
                                "/c/a_b_c-.log" };
    for (size_t i = 0; i < sizeof(bad_links) / sizeof(bad_links[0]); i++) {
        assert_int_equal(clew_cri_link_parse(bad_links[i], strlen(bad_links[i]), &m), CLEW_EFORMAT);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
