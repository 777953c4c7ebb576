/* SPDX-License-Identifier: MIT */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "common/alloc.h"
#include "common/rec_copy.h"

static struct clew_str S(const char *s)
{
    return (struct clew_str){ s, strlen(s) };
}

static void test_copy_is_deep(void **state)
{
    (void)state;
    char msg[] = "hello\0world";
    struct clew_record r;
    memset(&r, 0, sizeof(r));
    r.ts = 42;
    r.level = 3;
    r.message = (struct clew_str){ msg, sizeof(msg) - 1 };
    r.labels[CLEW_LABEL_SERVICE] = S("api");
    r.fields = S("{\"a\":1}");
    struct clew_arena a;
    clew_arena_init(&a, 64);
    struct clew_record c;
    assert_int_equal(clew_rec_copy(&c, &r, &a), 0);
    memset(msg, 'x', sizeof(msg) - 1); /* the copy must not see this */
    assert_true(c.ts == 42 && c.level == 3);
    assert_int_equal(c.message.len, 11);
    assert_memory_equal(c.message.ptr, "hello\0world", 11);
    assert_int_equal(c.labels[CLEW_LABEL_SERVICE].len, 3);
    assert_int_equal(c.trace_id.len, 0);
    assert_non_null(c.trace_id.ptr);
    clew_alloc_fail_after(0);
    assert_int_equal(clew_rec_copy(&c, &r, &a), 0); /* fits in the chunk */
    clew_alloc_fail_after(-1);
    clew_arena_close(&a);
}

static void test_link_id(void **state)
{
    (void)state;
    struct clew_record r;
    struct clew_str l;
    memset(&r, 0, sizeof(r));
    assert_int_equal(clew_rec_link_id(&r, &l), 0);
    r.fields = S("{\"user\":\"bob\",\"link_id\":\"req-55\"}");
    assert_int_equal(clew_rec_link_id(&r, &l), 1);
    assert_int_equal(l.len, 6);
    assert_memory_equal(l.ptr, "req-55", 6);
    r.fields = S("{\"link_id\":\"\"}");
    assert_int_equal(clew_rec_link_id(&r, &l), 0);
    r.fields = S("{\"link_id\":[\"a\"]}"); /* arrays are not indexed */
    assert_int_equal(clew_rec_link_id(&r, &l), 0);
    r.fields = S("{\"link_id\":\"a\\\"b\"}"); /* escapes: not an id */
    assert_int_equal(clew_rec_link_id(&r, &l), 0);
    r.fields = S("{\"link_id\":\"unterminated");
    assert_int_equal(clew_rec_link_id(&r, &l), 0);
    r.fields = S("{\"x\":\"\\\"link_id\\\":\\\"no\\\"\"}"); /* inside a string value */
    assert_int_equal(clew_rec_link_id(&r, &l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_link_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
