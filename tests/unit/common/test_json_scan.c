/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_scan.h"

#define STRICT  (CLEW_JSON_NO_NUL_KEY)
#define LENIENT (CLEW_JSON_REPAIR | CLEW_JSON_NO_NUL_KEY)

/* Scans one whole text: the value's rc, then the end check. */
static int scan_all(const char *text, size_t len, unsigned opts, unsigned depth,
                    struct clew_json_val *v)
{
    struct clew_json_scan s;
    clew_json_scan_init(&s, text, len, opts, depth);
    int rc = clew_json_scan_value(&s, v);
    return rc != 0 ? rc : clew_json_scan_end(&s);
}

static int scan_str(const char *text, unsigned opts)
{
    struct clew_json_val v;
    return scan_all(text, strlen(text), opts, 0, &v);
}

/* Decodes string v into a buffer of exactly v->dlen bytes (ASan checks it). */
static char *decode(const struct clew_json_val *v)
{
    char *out = malloc(v->dlen ? v->dlen : 1);
    assert_int_equal(clew_json_str_decode(v, out), v->dlen);
    return out;
}

static void assert_decodes(const char *text, size_t len, unsigned opts, const char *want,
                           size_t want_len, uint8_t flags)
{
    struct clew_json_val v;
    assert_int_equal(scan_all(text, len, opts, 0, &v), 0);
    assert_int_equal(v.kind, CLEW_JSON_STRING);
    assert_int_equal(v.flags, flags);
    assert_int_equal(v.len, len);
    assert_int_equal(v.dlen, want_len);
    char *got = decode(&v);
    assert_memory_equal(got, want, want_len);
    free(got);
}

static void test_scalars(void **state)
{
    (void)state;
    const struct {
        const char *text;
        int kind;
        uint8_t flags;
        size_t off, len; /* the value's span */
    } cases[] = {
        { "true", CLEW_JSON_TRUE, 0, 0, 4 },
        { " false\n", CLEW_JSON_FALSE, 0, 1, 5 },
        { "\tnull\r", CLEW_JSON_NULL, 0, 1, 4 },
        { "0", CLEW_JSON_NUMBER, 0, 0, 1 },
        { "-12", CLEW_JSON_NUMBER, 0, 0, 3 },
        { " 1.5e-3 ", CLEW_JSON_NUMBER, CLEW_JSON_F_REAL, 1, 6 },
        { "2E+10", CLEW_JSON_NUMBER, CLEW_JSON_F_REAL, 0, 5 },
        { "\"\"", CLEW_JSON_STRING, 0, 0, 2 },
        { "\"a\\nb\"", CLEW_JSON_STRING, CLEW_JSON_F_ESC, 0, 6 },
        { "  [1, [2], {}] ", CLEW_JSON_ARRAY, CLEW_JSON_F_REAL * 0, 2, 12 },
        { "{\"a\":\"\\u0000\",\"b\":0.5}", CLEW_JSON_OBJECT,
          CLEW_JSON_F_ESC | CLEW_JSON_F_NUL | CLEW_JSON_F_REAL, 0, 22 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct clew_json_val v;
        const char *t = cases[i].text;
        assert_int_equal(scan_all(t, strlen(t), STRICT, 0, &v), 0);
        assert_int_equal(v.kind, cases[i].kind);
        assert_int_equal(v.flags, cases[i].flags);
        assert_ptr_equal(v.ptr, t + cases[i].off);
        assert_int_equal(v.len, cases[i].len);
    }
}

static void test_object_walk(void **state)
{
    (void)state;
    const char *t = " { \"a\" : 1 , \"b\\u0041\":{\"x\":[true,\"s\"]},\"c\":[],\"a\":null } ";
    struct clew_json_scan s;
    struct clew_json_val k, v;
    clew_json_scan_init(&s, t, strlen(t), STRICT, 0);
    assert_int_equal(clew_json_scan_peek(&s), CLEW_JSON_OBJECT);
    assert_int_equal(clew_json_scan_enter(&s), CLEW_JSON_OBJECT);
    assert_int_equal(clew_json_scan_member(&s, &k, &v), 1);
    assert_memory_equal(k.ptr, "\"a\"", 3);
    assert_int_equal(v.kind, CLEW_JSON_NUMBER);
    assert_memory_equal(v.ptr, "1", v.len);
    /* Descend into the second member instead of skipping it. */
    assert_int_equal(clew_json_scan_key(&s, &k), 1);
    assert_int_equal(k.flags, CLEW_JSON_F_ESC);
    char *kd = decode(&k);
    assert_memory_equal(kd, "bA", 2);
    free(kd);
    assert_int_equal(clew_json_scan_enter(&s), CLEW_JSON_OBJECT);
    assert_int_equal(clew_json_scan_key(&s, &k), 1);
    assert_int_equal(clew_json_scan_enter(&s), CLEW_JSON_ARRAY);
    assert_int_equal(clew_json_scan_item(&s), 1);
    assert_int_equal(clew_json_scan_value(&s, &v), 0);
    assert_int_equal(v.kind, CLEW_JSON_TRUE);
    assert_int_equal(clew_json_scan_item(&s), 1);
    assert_int_equal(clew_json_scan_value(&s, &v), 0);
    assert_int_equal(v.kind, CLEW_JSON_STRING);
    assert_int_equal(clew_json_scan_item(&s), 0);
    assert_int_equal(clew_json_scan_key(&s, &k), 0); /* inner object closed */
    assert_int_equal(s.depth, 1);
    /* Skip the third whole: the span is the empty array. */
    assert_int_equal(clew_json_scan_member(&s, &k, &v), 1);
    assert_int_equal(v.kind, CLEW_JSON_ARRAY);
    assert_int_equal(v.len, 2);
    assert_int_equal(clew_json_scan_member(&s, &k, &v), 1);
    assert_int_equal(v.kind, CLEW_JSON_NULL);
    assert_int_equal(clew_json_scan_member(&s, &k, &v), 0);
    assert_int_equal(clew_json_scan_end(&s), 0);
}

static void test_empty_containers(void **state)
{
    (void)state;
    struct clew_json_scan s;
    clew_json_scan_init(&s, "[ ]", 3, STRICT, 0);
    assert_int_equal(clew_json_scan_enter(&s), CLEW_JSON_ARRAY);
    assert_int_equal(clew_json_scan_item(&s), 0);
    assert_int_equal(clew_json_scan_end(&s), 0);
    struct clew_json_val k;
    clew_json_scan_init(&s, "{\n}", 3, STRICT, 0);
    assert_int_equal(clew_json_scan_enter(&s), CLEW_JSON_OBJECT);
    assert_int_equal(clew_json_scan_key(&s, &k), 0);
    assert_int_equal(clew_json_scan_end(&s), 0);
    /* Entering a scalar, and a key inside an array, are refused. */
    clew_json_scan_init(&s, "7", 1, STRICT, 0);
    assert_int_equal(clew_json_scan_enter(&s), CLEW_JSON_EKIND);
    clew_json_scan_init(&s, "[\"a\":1]", 7, STRICT, 0);
    assert_int_equal(clew_json_scan_enter(&s), CLEW_JSON_ARRAY);
    assert_int_equal(clew_json_scan_key(&s, &k), 1);
    assert_int_equal(clew_json_scan_key(&s, &k), CLEW_JSON_ESYNTAX); /* ']' is no '}' */
    /* An object left open fails the end check. */
    clew_json_scan_init(&s, "{", 1, STRICT, 0);
    assert_int_equal(clew_json_scan_enter(&s), CLEW_JSON_OBJECT);
    assert_int_equal(clew_json_scan_end(&s), CLEW_JSON_ESYNTAX);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    const struct {
        const char *text;
        int rc;
        size_t off; /* where the cursor stops */
    } cases[] = {
        { "", CLEW_JSON_ESYNTAX, 0 },
        { "   ", CLEW_JSON_ESYNTAX, 3 },
        { "{\"a\":1} x", CLEW_JSON_ESYNTAX, 8 },
        { "{\"a\":1,}", CLEW_JSON_ESYNTAX, 7 },
        { "{\"a\" 1}", CLEW_JSON_ESYNTAX, 5 },
        { "{a:1}", CLEW_JSON_ESYNTAX, 1 },
        { "[1 2]", CLEW_JSON_ESYNTAX, 3 },
        { "[1,]", CLEW_JSON_ESYNTAX, 3 },
        { "[1}", CLEW_JSON_ESYNTAX, 2 },
        { "{\"a\":[}", CLEW_JSON_ESYNTAX, 6 },
        { "01", CLEW_JSON_ESYNTAX, 0 },
        { "-", CLEW_JSON_ESYNTAX, 1 },
        { "-a", CLEW_JSON_ESYNTAX, 1 },
        { "1.", CLEW_JSON_ESYNTAX, 2 },
        { "1.e5", CLEW_JSON_ESYNTAX, 2 },
        { "1e", CLEW_JSON_ESYNTAX, 2 },
        { "1e+", CLEW_JSON_ESYNTAX, 3 },
        { ".5", CLEW_JSON_ESYNTAX, 0 },
        { "+1", CLEW_JSON_ESYNTAX, 0 },
        { "tru", CLEW_JSON_ESYNTAX, 0 },
        { "truex", CLEW_JSON_ESYNTAX, 4 },
        { "nul", CLEW_JSON_ESYNTAX, 0 },
        { "\"abc", CLEW_JSON_ESYNTAX, 4 },
        { "\"\\x\"", CLEW_JSON_ESYNTAX, 1 },
        { "\"\\u12\"", CLEW_JSON_ESYNTAX, 1 },
        { "\"\\u12g4\"", CLEW_JSON_ESYNTAX, 1 },
        { "\"\\", CLEW_JSON_ESYNTAX, 1 },
        { "\xef\xbb\xbf{}", CLEW_JSON_ESYNTAX, 0 }, /* a BOM is no JSON */
        { "9223372036854775808", CLEW_JSON_ERANGE, 0 },
        { "-9223372036854775809", CLEW_JSON_ERANGE, 0 },
        { "[1e309]", CLEW_JSON_ERANGE, 1 },
        { "1.7976931348623159e308", CLEW_JSON_ERANGE, 0 },
        { "-1e400", CLEW_JSON_ERANGE, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct clew_json_scan s;
        struct clew_json_val v;
        const char *t = cases[i].text;
        clew_json_scan_init(&s, t, strlen(t), STRICT, 0);
        int rc = clew_json_scan_value(&s, &v);
        rc = rc != 0 ? rc : clew_json_scan_end(&s);
        if (rc != cases[i].rc || clew_json_scan_offset(&s) != cases[i].off) {
            fail_msg("%s: rc %d at %zu, want %d at %zu", t, rc, clew_json_scan_offset(&s),
                     cases[i].rc, cases[i].off);
        }
    }
    assert_non_null(strstr(clew_json_strerror(CLEW_JSON_EDEPTH), "deep"));
}

static void test_number_limits(void **state)
{
    (void)state;
    const char *ok[] = { "9223372036854775807",
                         "-9223372036854775808",
                         "-0",
                         "0.0",
                         "1.7976931348623157e308",
                         "1.7976931348623158e308",
                         "1e-400",
                         "-1e-99999999999999999999",
                         "0e99999",
                         "4.9e-324" };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (scan_str(ok[i], STRICT) != 0) {
            fail_msg("%s refused", ok[i]);
        }
    }
    struct clew_json_val v;
    int64_t n;
    double d;
    assert_int_equal(scan_all("-9223372036854775808", 20, STRICT, 0, &v), 0);
    assert_int_equal(clew_json_num_i64(&v, &n), 0);
    assert_true(n == INT64_MIN);
    assert_int_equal(scan_all("1.5", 3, STRICT, 0, &v), 0);
    assert_int_equal(clew_json_num_i64(&v, &n), CLEW_JSON_EKIND);
    assert_int_equal(clew_json_num_f64(&v, &d), 0);
    assert_true(d == 1.5);
    assert_int_equal(scan_all("\"1\"", 3, STRICT, 0, &v), 0);
    assert_int_equal(clew_json_num_f64(&v, &d), CLEW_JSON_EKIND);
}

/* clew_json_num_f64 rounds as strtod does, fast path and slow path alike. */
static void test_f64_matches_strtod(void **state)
{
    (void)state;
    const char *cases[] = {
        "1795897827.475",
        "0.1",
        "-0.0",
        "123456789012345678901234567890.0",
        "9007199254740993", /* 2^53 + 1: a halfway case */
        "9007199254740993.0000000000000000000000000000001",
        "2.2250738585072011e-308",
        "2.4703282292062327e-324", /* just under half the smallest subnormal */
        "2.4703282292062328e-324",
        "1.7976931348623158e308",
        "1e22",
        "1e23",
        "8.98846567431158e307",
        "0.000000000000000000000000000000000000000000001234",
        "12345678901234567890e-40",
        "3.14159265358979323846264338327950288419716939937510",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct clew_json_val v;
        double d;
        assert_int_equal(scan_str(cases[i], STRICT), 0);
        assert_int_equal(scan_all(cases[i], strlen(cases[i]), STRICT, 0, &v), 0);
        assert_int_equal(clew_json_num_f64(&v, &d), 0);
        double want = strtod(cases[i], NULL);
        if (memcmp(&d, &want, sizeof(d)) != 0) {
            fail_msg("%s: %.17g, strtod %.17g", cases[i], d, want);
        }
    }
    /* 1000 significant digits: past what the rewrite keeps, still exact. */
    char big[1100];
    memcpy(big, "0.", 2);
    for (int i = 0; i < 1000; i++) {
        big[2 + i] = (char)('0' + (i * 7 + 3) % 10);
    }
    memcpy(big + 1002, "e-5", 4);
    struct clew_json_val v;
    double d;
    assert_int_equal(scan_all(big, strlen(big), STRICT, 0, &v), 0);
    assert_int_equal(clew_json_num_f64(&v, &d), 0);
    assert_true(d == strtod(big, NULL));
}

static void test_string_decode(void **state)
{
    (void)state;
    const char t1[] = "\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\"";
    assert_decodes(t1, sizeof(t1) - 1, STRICT, "q\"b\\s/\b\f\n\r\t", 11, CLEW_JSON_F_ESC);
    const char t2[] = "\"\\u00e9\\u20AC\\ud83d\\ude00x\"";
    assert_decodes(t2, sizeof(t2) - 1, STRICT, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80x", 10,
                   CLEW_JSON_F_ESC);
    const char t3[] = "\"a\\u0000b\"";
    assert_decodes(t3, sizeof(t3) - 1, STRICT, "a\0b", 3, CLEW_JSON_F_ESC | CLEW_JSON_F_NUL);
    /* Raw UTF-8 passes untouched and needs no decoding. */
    const char t4[] = "\"\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80 long enough for eight-byte steps\"";
    assert_decodes(t4, sizeof(t4) - 1, STRICT, t4 + 1, sizeof(t4) - 3, 0);
}

static void test_repair(void **state)
{
    (void)state;
    /* Refused when strict, repaired when lenient, byte by byte. */
    const struct {
        const char *text;
        const char *want;
        uint8_t flags;
    } cases[] = {
        { "\"a\x80z\"", "a\xef\xbf\xbdz", CLEW_JSON_F_FIX },
        { "\"\xc0\xaf\"", "\xef\xbf\xbd\xef\xbf\xbd", CLEW_JSON_F_FIX }, /* overlong */
        { "\"\xed\xa0\x80\"", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
          CLEW_JSON_F_FIX },                                             /* UTF-16 */
        { "\"\xe2\x82\"", "\xef\xbf\xbd\xef\xbf\xbd", CLEW_JSON_F_FIX }, /* cut short */
        { "\"\xf4\x90\x80\x80\"", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
          CLEW_JSON_F_FIX }, /* past U+10FFFF */
        { "\"t\x01\tu\"", "t\x01\tu", CLEW_JSON_F_FIX },
        { "\"\\ud800x\"", "\xef\xbf\xbdx", CLEW_JSON_F_FIX | CLEW_JSON_F_ESC },
        { "\"\\udc00\\ud800\\ud800\\udc00\"", "\xef\xbf\xbd\xef\xbf\xbd\xf0\x90\x80\x80",
          CLEW_JSON_F_FIX | CLEW_JSON_F_ESC },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *t = cases[i].text;
        assert_int_equal(scan_str(t, STRICT), CLEW_JSON_ESTRING);
        assert_decodes(t, strlen(t), LENIENT, cases[i].want, strlen(cases[i].want), cases[i].flags);
    }
    /* A raw NUL byte is kept and flagged; in a key it is refused. */
    assert_decodes("\"a\0b\"", 5, LENIENT, "a\0b", 3, CLEW_JSON_F_FIX | CLEW_JSON_F_NUL);
    struct clew_json_val v;
    assert_int_equal(scan_all("{\"a\0\":1}", 8, LENIENT, 0, &v), CLEW_JSON_ENULKEY);
    assert_int_equal(scan_all("{\"a\\u0000\":1}", 13, LENIENT, 0, &v), CLEW_JSON_ENULKEY);
    assert_int_equal(scan_all("{\"a\\u0000\":1}", 13, CLEW_JSON_REPAIR, 0, &v), 0);
    /* Bad bytes outside strings are never repaired; fixes counts strings. */
    assert_int_equal(scan_str("[\"a\"\x80]", LENIENT), CLEW_JSON_ESYNTAX);
    struct clew_json_scan s;
    clew_json_scan_init(&s, "[\"\x80\",\"ok\",{\"\x01\":\"\\udfff\"}]", 26, LENIENT, 0);
    assert_int_equal(clew_json_scan_value(&s, &v), 0);
    assert_int_equal(s.fixes, 3);
    assert_int_equal(v.flags, CLEW_JSON_F_FIX | CLEW_JSON_F_ESC);
}

static void test_depth(void **state)
{
    (void)state;
    struct clew_json_val v;
    /* The top value is depth 1: scalars count, as in jansson. */
    assert_int_equal(scan_all("[[]]", 4, STRICT, 2, &v), 0);
    assert_int_equal(scan_all("[[1]]", 5, STRICT, 2, &v), CLEW_JSON_EDEPTH);
    assert_int_equal(scan_all("[[1]]", 5, STRICT, 3, &v), 0);
    assert_int_equal(scan_all("{\"a\":{\"b\":{}}}", 14, STRICT, 2, &v), CLEW_JSON_EDEPTH);
    /* The default limit: 2048 nested arrays pass, 2049 do not. */
    size_t n = CLEW_JSON_MAX_DEPTH + 1;
    char *t = malloc(2 * n);
    for (size_t d = n - 1; d <= n; d++) {
        memset(t, '[', d);
        memset(t + d, ']', d);
        assert_int_equal(scan_all(t, 2 * d, STRICT, 0, &v), d == n ? CLEW_JSON_EDEPTH : 0);
    }
    free(t);
    /* enter counts too. */
    struct clew_json_scan s;
    clew_json_scan_init(&s, "[[", 2, STRICT, 1);
    assert_int_equal(clew_json_scan_enter(&s), CLEW_JSON_ARRAY);
    assert_int_equal(clew_json_scan_item(&s), 1);
    assert_int_equal(clew_json_scan_enter(&s), CLEW_JSON_EDEPTH);
}

static void test_nul_after(void **state)
{
    (void)state;
    const char *t[] = { "[1\0]", "{\"a\":true\0,\"b\":-2.5\0}", "null\0" };
    const size_t len[] = { 4, 21, 5 };
    for (size_t i = 0; i < 3; i++) {
        struct clew_json_val v;
        assert_int_equal(scan_all(t[i], len[i], STRICT, 0, &v), CLEW_JSON_ESYNTAX);
        assert_int_equal(scan_all(t[i], len[i], STRICT | CLEW_JSON_NUL_AFTER, 0, &v), 0);
    }
    /* Only one, only after numbers and literals. */
    assert_int_equal(scan_all("[1\0\0]", 5, CLEW_JSON_NUL_AFTER, 0, &(struct clew_json_val){ 0 }),
                     CLEW_JSON_ESYNTAX);
    assert_int_equal(scan_all("[\"a\"\0]", 6, CLEW_JSON_NUL_AFTER, 0, &(struct clew_json_val){ 0 }),
                     CLEW_JSON_ESYNTAX);
    struct clew_json_val v;
    assert_int_equal(scan_all("7\0", 2, CLEW_JSON_NUL_AFTER, 0, &v), 0);
    assert_int_equal(v.len, 1); /* the span leaves the NUL out */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_object_walk),
        cmocka_unit_test(test_empty_containers),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_number_limits),
        cmocka_unit_test(test_f64_matches_strtod),
        cmocka_unit_test(test_string_decode),
        cmocka_unit_test(test_repair),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_nul_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
