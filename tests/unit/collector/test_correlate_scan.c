/* SPDX-License-Identifier: MIT
 * correlate_scan: the candidates the JSON walker and the text scan keep,
 * their ranks and kinds, normalisation, and the line classifiers. The
 * carrier parsers and the choices made from these candidates are covered
 * by test_correlate.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "collector/correlate_scan.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN  "00f067aa0ba902b7"

/* The normalised value of v, NUL-terminated in a static buffer ("" when
 * empty). */
static const char *normed(const struct clew_corr_id *v)
{
    static char buf[CLEW_CORR_MAX_ID + 1];
    size_t n = v->len > 0 ? clew_corr_scan_norm_id(v, buf) : 0;
    buf[n] = '\0';
    return buf;
}

static struct clew_corr_scratch scratch;

static int json(struct clew_corr_doc *d, const char *s)
{
    memset(d, 0, sizeof(*d));
    scratch.used = 0;
    int whole = clew_corr_scan_json(&scratch, d, s, strlen(s));
    clew_corr_scan_finish(d);
    return whole;
}

static void text(struct clew_corr_doc *d, const char *s)
{
    memset(d, 0, sizeof(*d));
    clew_corr_scan_text(d, s, strlen(s));
    clew_corr_scan_finish(d);
}

static void test_set_and_norm(void **state)
{
    (void)state;
    struct clew_corr_id v;
    memset(&v, 0, sizeof(v));
    clew_corr_scan_set_id(&v, " 4BF92F3577B34DA6 ", 18, CLEW_CORR_K_TRACE, 3);
    assert_int_equal(v.len, 16);
    assert_int_equal(v.rank, 3);
    assert_string_equal(normed(&v), "00000000000000004bf92f3577b34da6");
    clew_corr_scan_set_id(&v, TRACE, 32, CLEW_CORR_K_TRACE, 3); /* same rank: kept */
    assert_int_equal(v.len, 16);
    clew_corr_scan_set_id(&v, "null", 4, CLEW_CORR_K_TRACE, 0); /* placeholder */
    clew_corr_scan_set_id(&v, "0000", 4, CLEW_CORR_K_TRACE, 0); /* all zero */
    clew_corr_scan_set_id(&v, "a b", 3, CLEW_CORR_K_TRACE, 0);  /* space inside */
    assert_int_equal(v.len, 16);
    clew_corr_scan_set_id(&v, TRACE, 32, CLEW_CORR_K_TRACE, 2); /* lower rank wins */
    assert_string_equal(normed(&v), TRACE);

    memset(&v, 0, sizeof(v));
    clew_corr_scan_set_id(&v, "5765087093466024278", 19, CLEW_CORR_K_DD_TRACE, 0);
    assert_int_equal(v.kind, CLEW_CORR_K_DD_TRACE);
    assert_string_equal(normed(&v), "00000000000000005001b42ab13b4956");
    memset(&v, 0, sizeof(v));
    clew_corr_scan_set_id(&v, "12ab", 4, CLEW_CORR_K_DD_SPAN, 0); /* not decimal: plain */
    assert_int_equal(v.kind, CLEW_CORR_K_SPAN);
    assert_string_equal(normed(&v), "12ab");
    memset(&v, 0, sizeof(v));
    clew_corr_scan_set_id(&v, "0", 1, CLEW_CORR_K_REQ, 0); /* request ids may be zero */
    assert_string_equal(normed(&v), "0");
}

static void test_json(void **state)
{
    (void)state;
    struct clew_corr_doc d;
    assert_int_equal(json(&d, "{\"a\":1,\"traceId\":\"" TRACE "\",\"span\":{\"id\":\"" SPAN
                              "\"},\"reqId\":\"r-1\"}"),
                     1);
    assert_string_equal(normed(&d.g[CLEW_CORR_GR_NAMED].trace), TRACE);
    assert_string_equal(normed(&d.g[CLEW_CORR_GR_NAMED].span), SPAN);
    assert_string_equal(normed(&d.req), "r-1");
    assert_int_equal(d.req.rank, 4);
    assert_int_equal(clew_corr_scan_has_trace(&d), 1);

    /* Escaped values are decoded into the scratch area; the walker keeps
     * what it found before a syntax error. */
    assert_int_equal(
        json(&d, "{\"x-request-id\":\"a\\u0062c\",\"b3\":\"" TRACE "-" SPAN "-1\",\"bad\":}"), 0);
    assert_string_equal(normed(&d.req), "abc");
    assert_ptr_equal(d.req.p, scratch.buf);
    assert_int_equal(scratch.used, 3);
    assert_string_equal(normed(&d.g[CLEW_CORR_GR_B3S].trace), TRACE);
    assert_string_equal(normed(&d.g[CLEW_CORR_GR_B3S].span), SPAN);
    assert_int_equal(d.g[CLEW_CORR_GR_NAMED].trace.len, 0);

    /* Two traceparents cancel each other. */
    assert_int_equal(json(&d, "{\"traceparent\":\"00-" TRACE "-" SPAN
                              "-01\",\"h\":{\"traceparent\":\"00-" TRACE "-" SPAN "-01\"}}"),
                     1);
    assert_int_equal(d.tp_seen, 2);
    assert_int_equal(clew_corr_scan_has_trace(&d), 0);
    assert_int_equal(json(&d, "[1]"), 0);
}

static void test_text(void **state)
{
    (void)state;
    struct clew_corr_doc d;
    text(&d, "GET /x 200 trace_id=" TRACE ". span_id: '" SPAN "' request-id=abc-1");
    assert_string_equal(normed(&d.g[CLEW_CORR_GR_NAMED].trace), TRACE);
    assert_string_equal(normed(&d.g[CLEW_CORR_GR_NAMED].span), SPAN);
    assert_string_equal(normed(&d.req), "abc-1");

    text(&d, "INFO [shop," TRACE "," SPAN ",true] placed at 12:00:01");
    assert_string_equal(normed(&d.g[CLEW_CORR_GR_BRK].trace), TRACE);
    assert_string_equal(normed(&d.g[CLEW_CORR_GR_BRK].span), SPAN);
    assert_int_equal(d.req.len, 0);

    text(&d, "[f6e6ab06-4f6e-4b53-8b16-5b0c8d7f9a2e] Started GET");
    assert_string_equal(normed(&d.req), "f6e6ab06-4f6e-4b53-8b16-5b0c8d7f9a2e");
    assert_int_equal(d.req.rank, 9);
    text(&d, "x [f6e6ab06-4f6e-4b53-8b16-5b0c8d7f9a2e] Started GET"); /* not at the start */
    assert_int_equal(d.req.len, 0);

    text(&d, "X-B3-TraceId: " SPAN " x-b3-spanid=" SPAN);
    assert_string_equal(normed(&d.g[CLEW_CORR_GR_B3M].trace), "0000000000000000" SPAN);
    assert_string_equal(normed(&d.g[CLEW_CORR_GR_B3M].span), SPAN);
    text(&d, "at 12:00 the price=10 id=7 width: 3");
    assert_int_equal(clew_corr_scan_has_trace(&d), 0);
    assert_int_equal(d.req.len, 0);
}

static void test_lines(void **state)
{
    (void)state;
    static const char *const cont[] = { "\tat com.x.Y(Y.java:1)", "at x",        "Caused by: y",
                                        "Suppressed: z",          "... 42 more", "  foo" };
    static const char *const not_cont[] = { "", " INFO [app,,] x", "...  more", "Started" };
    for (size_t i = 0; i < sizeof(cont) / sizeof(cont[0]); i++) {
        assert_int_equal(clew_corr_scan_continuation(cont[i], strlen(cont[i])), 1);
    }
    for (size_t i = 0; i < sizeof(not_cont) / sizeof(not_cont[0]); i++) {
        assert_int_equal(clew_corr_scan_continuation(not_cont[i], strlen(not_cont[i])), 0);
    }
    static const char *const exc[] = { "java.lang.IllegalStateException: boom", "ValueError: x",
                                       "ValueError", "panic: nil map" };
    static const char *const not_exc[] = { "Error.handler.Main: x", "my-Error: x", "1Error: x",
                                           "Exception x" };
    for (size_t i = 0; i < sizeof(exc) / sizeof(exc[0]); i++) {
        assert_int_equal(clew_corr_scan_exception_header(exc[i], strlen(exc[i])), 1);
    }
    for (size_t i = 0; i < sizeof(not_exc) / sizeof(not_exc[0]); i++) {
        assert_int_equal(clew_corr_scan_exception_header(not_exc[i], strlen(not_exc[i])), 0);
    }
    const char *h = "abcabd";
    assert_ptr_equal(clew_corr_scan_find(h, 6, "abd", 3), h + 3);
    assert_null(clew_corr_scan_find(h, 5, "abd", 3));
    assert_null(clew_corr_scan_find(h, 6, "", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_norm),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
