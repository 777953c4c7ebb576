/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <errno.h>
#include <string.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "shipper/docker_json.h"

#define T0 1705314600000000000LL /* 2024-01-15T10:30:00Z */

static int parse(const char *line, struct clew_buf *scratch, struct clew_docker_line *out)
{
    return clew_docker_line_parse(line, strlen(line), scratch, out);
}

static void test_spec_vectors(void **state)
{
    (void)state;
    struct clew_buf b;
    clew_buf_init(&b);
    struct clew_docker_line d;
    assert_int_equal(parse("{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:"
                           "30:00.123456789Z\"}",
                           &b, &d),
                     0);
    assert_int_equal(d.stream, CLEW_SHIP_STDOUT);
    assert_true(d.ts == T0 + 123456789);
    assert_int_equal(d.complete, 1);
    assert_int_equal(d.content.len, 5);
    assert_memory_equal(d.content.ptr, "hello", 5);

    assert_int_equal(
        parse("{\"log\":\"x\",\"stream\":\"stderr\",\"time\":\"2024-01-15T10:30:00Z\"}", &b, &d),
        0);
    assert_int_equal(d.stream, CLEW_SHIP_STDERR);
    assert_int_equal(d.complete, 0);
    assert_true(d.ts == T0);

    /* Escapes, attrs, key order as Docker writes it. */
    assert_int_equal(parse("{\"log\":\"a\\u0009b\\u003c\\n\",\"stream\":\"stdout\",\"attrs\":{"
                           "\"tag\":\"web\",\"team\":\"pay\"},\"time\":\"2024-01-15T10:30:00.1Z\"}",
                           &b, &d),
                     0);
    assert_int_equal(d.content.len, 4);
    assert_memory_equal(d.content.ptr, "a\tb<", 4);
    assert_int_equal(d.nattrs, 2);
    assert_memory_equal(d.attr_keys[0].ptr, "tag", 3);
    assert_memory_equal(d.attr_vals[0].ptr, "web", 3);
    assert_memory_equal(d.attr_keys[1].ptr, "team", 4);
    assert_memory_equal(d.attr_vals[1].ptr, "pay", 3);
    assert_true(d.ts == T0 + 100000000);

    /* TTY: the CR stays. */
    assert_int_equal(
        parse("{\"log\":\"hi\\r\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"}", &b,
              &d),
        0);
    assert_int_equal(d.content.len, 3);
    assert_memory_equal(d.content.ptr, "hi\r", 3);

    /* An empty line and an omitted log. */
    assert_int_equal(
        parse("{\"log\":\"\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"}", &b, &d),
        0);
    assert_int_equal(d.complete, 1);
    assert_int_equal(d.content.len, 0);
    assert_int_equal(parse("{\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"}", &b, &d), 0);
    assert_int_equal(d.complete, 0);
    clew_buf_close(&b);
}

static void test_rejects(void **state)
{
    (void)state;
    struct clew_buf b;
    clew_buf_init(&b);
    struct clew_docker_line d;
    const char *bad[] = {
        "",
        "not json",
        "{\"log\":\"x\\n\",\"stream\":\"stdin\",\"time\":\"2024-01-15T10:30:00Z\"}",
        "{\"log\":\"x\\n\",\"stream\":\"stdout\"}",
        "{\"log\":\"x\\n\",\"time\":\"2024-01-15T10:30:00Z\"}",
        "{\"log\":5,\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"}",
        "{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"yesterday\"}",
        "{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"",
        "{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"} junk",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], &b, &d), CLEW_EFORMAT);
    }
    clew_buf_close(&b);
}

static void test_invalid_utf8_repaired(void **state)
{
    (void)state;
    struct clew_buf b;
    clew_buf_init(&b);
    struct clew_docker_line d;
    const char line[] =
        "{\"log\":\"a\xff\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"}";
    assert_int_equal(clew_docker_line_parse(line, sizeof(line) - 1, &b, &d), 0);
    assert_int_equal(d.content.len, 4);
    assert_memory_equal(d.content.ptr, "a\xef\xbf\xbd", 4);
    clew_buf_close(&b);
}

static void test_meta(void **state)
{
    (void)state;
    const char *cfg =
        "{\"ID\":\"3f2a\",\"Name\":\"/shop-web-1\",\"Config\":{\"Image\":\"nginx:1.25\","
        "\"Labels\":{\"com.docker.compose.service\":\"web\","
        "\"com.docker.compose.project\":\"shop\",\"x\":\"y\"}}}";
    struct clew_docker_meta m;
    assert_int_equal(clew_docker_meta_parse(cfg, strlen(cfg), &m), 0);
    assert_string_equal(m.name, "shop-web-1");
    assert_string_equal(m.image, "nginx:1.25");
    assert_string_equal(m.service, "web");
    assert_string_equal(m.project, "shop");
    clew_docker_meta_clear(&m);

    const char *plain = "{\"Name\":\"/db\",\"Config\":{\"Image\":\"postgres\"}}";
    assert_int_equal(clew_docker_meta_parse(plain, strlen(plain), &m), 0);
    assert_string_equal(m.name, "db");
    assert_string_equal(m.service, "");
    clew_docker_meta_clear(&m);
    assert_int_equal(clew_docker_meta_parse("[1]", 3, &m), CLEW_EFORMAT);
    assert_int_equal(clew_docker_meta_parse("{", 1, &m), CLEW_EFORMAT);

    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_docker_meta_load("/nonexistent/config.v2.json", &m, err), -2);
    assert_non_null(strstr(err, "/nonexistent/config.v2.json"));
}

static void test_alloc_failure(void **state)
{
    (void)state;
    struct clew_buf b;
    clew_buf_init(&b);
    struct clew_docker_line d;
    clew_alloc_fail_after(0);
    int rc =
        parse("{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"}", &b, &d);
    clew_alloc_fail_after(-1);
    assert_int_equal(rc, -12);
    clew_buf_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vectors),          cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_invalid_utf8_repaired), cmocka_unit_test(test_meta),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
