/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/syslog_parse.h"
#include "common/alloc.h"
#include "common/arena.h"
#include "common/timeutil.h"

static struct clew_arena arena;

static int setup(void **state)
{
    (void)state;
    clew_arena_init(&arena, 4096);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clew_arena_close(&arena);
    return 0;
}

static int64_t T(const char *s)
{
    int64_t t = 0;
    assert_int_equal(clew_time_parse_rfc3339(s, strlen(s), &t), 0);
    return t;
}

/* A receive time far from every timestamp below. */
#define RECV T("2024-01-15T12:00:00Z")

static int parse(const char *msg, size_t len, int64_t recv, struct clew_record *r)
{
    return clew_syslog_parse(msg, len, recv, NULL, r, &arena);
}

static int parse_s(const char *msg, struct clew_record *r)
{
    return parse(msg, strlen(msg), RECV, r);
}

static void str_is(struct clew_str s, const char *want)
{
    size_t n = strlen(want);
    if (s.len != n || (n > 0 && memcmp(s.ptr, want, n) != 0)) {
        fail_msg("got \"%.*s\" (%zu), want \"%s\"", (int)s.len, s.len ? s.ptr : "", s.len, want);
    }
}

/* Loads fields strictly (duplicates refused): the text must be valid JSON. */
static json_t *load_fields(const struct clew_record *r)
{
    json_error_t err;
    json_t *j = json_loadb(r->fields.ptr, r->fields.len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL) {
        fail_msg("fields not JSON: %s: %.*s", err.text, (int)r->fields.len, r->fields.ptr);
    }
    assert_true(json_is_object(j));
    return j;
}

static const char *sd_value(json_t *fields, const char *elem, const char *param)
{
    json_t *e = json_object_get(fields, elem);
    assert_non_null(e);
    json_t *v = json_object_get(e, param);
    assert_non_null(v);
    return json_string_value(v);
}

static void test_rfc5424_spec_vectors(void **state)
{
    (void)state;
    struct clew_record r;
    const char *m = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
                    "\xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8";
    assert_int_equal(parse_s(m, &r), 0);
    assert_int_equal(r.level, 2);
    assert_int_equal(r.input, CLEW_INPUT_SYSLOG);
    assert_true(r.ts == T("2003-10-11T22:14:15.003Z"));
    str_is(r.labels[CLEW_LABEL_HOST], "mymachine.example.com");
    str_is(r.labels[CLEW_LABEL_SERVICE], "su");
    str_is(r.message, "'su root' failed for lonvick on /dev/pts/8");
    str_is(r.fields, "{\"facility\":\"auth\",\"msgid\":\"ID47\"}");
    assert_true(r.message.ptr > m && r.message.ptr < m + strlen(m)); /* borrowed */

    m = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make "
        "the do-nuts.";
    assert_int_equal(parse_s(m, &r), 0);
    assert_int_equal(r.level, 5);
    assert_true(r.ts == T("2003-08-24T12:14:15.000003Z"));
    str_is(r.labels[CLEW_LABEL_HOST], "192.0.2.1");
    str_is(r.labels[CLEW_LABEL_SERVICE], "myproc");
    str_is(r.message, "%% It's time to make the do-nuts.");
    str_is(r.fields, "{\"facility\":\"local4\",\"procid\":\"8710\"}");

    m = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 "
        "iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 "
        "class=\"high\"]";
    assert_int_equal(parse_s(m, &r), 0);
    str_is(r.labels[CLEW_LABEL_SERVICE], "evntslog");
    str_is(r.message, "");
    str_is(r.fields, "{\"facility\":\"local4\",\"msgid\":\"ID47\",\"exampleSDID@32473\":{\"iut\":"
                     "\"3\",\"eventSource\":\"Application\",\"eventID\":\"1011\"},"
                     "\"examplePriority@32473\":{\"class\":\"high\"}}");
    json_decref(load_fields(&r));
}

static void test_sd_escapes(void **state)
{
    (void)state;
    struct clew_record r;
    const char *m = "<13>1 - - - - - [x@1 a=\"q\\\"uo\\\\te\\]\" b=\"c\\d\"]";
    assert_int_equal(parse_s(m, &r), 0);
    assert_true(r.ts == RECV); /* NILVALUE timestamp */
    str_is(r.labels[CLEW_LABEL_HOST], "");
    str_is(r.labels[CLEW_LABEL_SERVICE], "");
    str_is(r.message, "");
    json_t *f = load_fields(&r);
    assert_string_equal(sd_value(f, "x@1", "a"), "q\"uo\\te]");
    assert_string_equal(sd_value(f, "x@1", "b"), "c\\d"); /* backslash kept */
    assert_string_equal(json_string_value(json_object_get(f, "facility")), "user");
    assert_int_equal(json_object_size(f), 2);
    json_decref(f);
}

static void test_heroku_without_sd(void **state)
{
    (void)state;
    struct clew_record r;
    const char *m = "<158>1 2014-08-04T18:28:43.078581+00:00 host heroku router - at=info "
                    "method=GET path=\"/foo\"";
    assert_int_equal(parse_s(m, &r), 0);
    assert_int_equal(r.level, 6);
    assert_true(r.ts == T("2014-08-04T18:28:43.078581Z"));
    str_is(r.labels[CLEW_LABEL_HOST], "host");
    str_is(r.labels[CLEW_LABEL_SERVICE], "heroku");
    str_is(r.message, "at=info method=GET path=\"/foo\"");
    str_is(r.fields, "{\"facility\":\"local3\",\"procid\":\"router\"}");
}

static void test_malformed_sd_is_message(void **state)
{
    (void)state;
    const char *msgs[] = {
        "[x@1 a=\"unterminated] rest", "[x@1 a=b] rest", "[] rest", "[x@1 a=\"1\"][y b=\"2\" rest",
        "[x@1 \xc3\xa9=\"1\"] rest", /* names are PRINTUSASCII */
    };
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        char m[128];
        snprintf(m, sizeof(m), "<13>1 - h a - - %s", msgs[i]);
        struct clew_record r;
        assert_int_equal(parse_s(m, &r), 0);
        str_is(r.message, msgs[i]);
        str_is(r.fields, "{\"facility\":\"user\"}");
        str_is(r.trace_id, "");
    }
    /* A valid element followed directly by text: the text is MSG. */
    struct clew_record r;
    assert_int_equal(parse_s("<13>1 - h a - - [x@1 a=\"1\"]tail", &r), 0);
    str_is(r.message, "tail");
    str_is(r.fields, "{\"facility\":\"user\",\"x@1\":{\"a\":\"1\"}}");
}

static void test_5424_bad_timestamp_falls_back(void **state)
{
    (void)state;
    struct clew_record r;
    const char *m = "<13>1 2024-13-45T00:00:00Z host app - - - text";
    assert_int_equal(parse_s(m, &r), 0);
    assert_int_equal(r.level, 5);
    assert_true(r.ts == RECV);
    str_is(r.labels[CLEW_LABEL_HOST], "");
    str_is(r.message, "1 2024-13-45T00:00:00Z host app - - - text");
    /* A year whose nanoseconds overflow int64 is not a timestamp either. */
    m = "<13>1 9999-01-01T00:00:00Z host app - - - text";
    assert_int_equal(parse_s(m, &r), 0);
    assert_true(r.ts == RECV);
    str_is(r.message, "1 9999-01-01T00:00:00Z host app - - - text");
}

static void test_5424_lenient_forms(void **state)
{
    (void)state;
    struct clew_record r;
    /* Lower-case t/z, 9 fraction digits, Docker's over-long app name. */
    const char *m = "<30>1 2024-01-15t10:30:00.123456789z h "
                    "a-very-long-docker-tag-name-that-exceeds-the-48-char-limit 1 "
                    "a-very-long-docker-tag-name-that-exceeds-the-32-char-limit - x";
    assert_int_equal(parse_s(m, &r), 0);
    assert_true(r.ts == T("2024-01-15T10:30:00.123456789Z"));
    str_is(r.labels[CLEW_LABEL_SERVICE],
           "a-very-long-docker-tag-name-that-exceeds-the-48-char-limit");
    str_is(r.message, "x");
    /* Header cut short. */
    assert_int_equal(parse_s("<13>1 -", &r), 0);
    str_is(r.message, "");
    assert_int_equal(parse_s("<13>1 2024-01-15T10:30:00Z myhost", &r), 0);
    assert_true(r.ts == T("2024-01-15T10:30:00Z"));
    str_is(r.labels[CLEW_LABEL_HOST], "myhost");
    str_is(r.labels[CLEW_LABEL_SERVICE], "");
    /* SD `-` with nothing after it. */
    assert_int_equal(parse_s("<13>1 - h a p m -", &r), 0);
    str_is(r.message, "");
    str_is(r.fields, "{\"facility\":\"user\",\"procid\":\"p\",\"msgid\":\"m\"}");
    /* The BOM is dropped only at the start of MSG. */
    assert_int_equal(parse_s("<13>1 - h a - - - x\xEF\xBB\xBF", &r), 0);
    str_is(r.message, "x\xEF\xBB\xBF");
}

static void test_docker_and_logger_lines(void **state)
{
    (void)state;
    struct clew_record r;
    /* specs/syslog.md §7, lines 1-6. */
    assert_int_equal(parse_s("<30>Jan 15 10:30:00 3f2a1b4c5d6e[1234]: GET /health 200\n", &r), 0);
    assert_int_equal(r.level, 6);
    str_is(r.labels[CLEW_LABEL_HOST], "");
    str_is(r.labels[CLEW_LABEL_SERVICE], "3f2a1b4c5d6e");
    str_is(r.message, "GET /health 200");
    assert_true(r.ts == T("2024-01-15T10:30:00Z"));
    str_is(r.fields, "{\"facility\":\"daemon\",\"procid\":\"1234\"}");

    assert_int_equal(
        parse_s("<27>Jan  5 10:30:00 docker-host-1 3f2a1b4c5d6e[1234]: panic: boom\n", &r), 0);
    assert_int_equal(r.level, 3);
    assert_true(r.ts == T("2024-01-05T10:30:00Z"));
    str_is(r.labels[CLEW_LABEL_HOST], "docker-host-1");
    str_is(r.labels[CLEW_LABEL_SERVICE], "3f2a1b4c5d6e");
    str_is(r.message, "panic: boom");

    assert_int_equal(parse_s("<30>1 2024-01-15T10:30:00Z docker-host-1 3f2a1b4c5d6e 1234 "
                             "3f2a1b4c5d6e - hello world\n",
                             &r),
                     0);
    str_is(r.labels[CLEW_LABEL_SERVICE], "3f2a1b4c5d6e");
    str_is(r.message, "hello world");
    str_is(r.fields, "{\"facility\":\"daemon\",\"procid\":\"1234\",\"msgid\":\"3f2a1b4c5d6e\"}");

    assert_int_equal(
        parse_s("<30>1 2024-01-15T11:30:00.123456+01:00 docker-host-1 web 1234 web - hello\n", &r),
        0);
    assert_true(r.ts == T("2024-01-15T10:30:00.123456Z"));
    str_is(r.message, "hello");

    assert_int_equal(parse_s("<13>1 2024-01-15T11:30:00.123456+01:00 myhost myapp - - "
                             "[timeQuality tzKnown=\"1\" isSynced=\"1\" syncAccuracy=\"16000\"] "
                             "hello",
                             &r),
                     0);
    str_is(r.message, "hello");
    str_is(r.fields, "{\"facility\":\"user\",\"timeQuality\":{\"tzKnown\":\"1\",\"isSynced\":"
                     "\"1\",\"syncAccuracy\":\"16000\"}}");

    assert_int_equal(parse_s("<13>Jan 15 11:30:00 myhost myapp[4242]: hello", &r), 0);
    str_is(r.labels[CLEW_LABEL_HOST], "myhost");
    str_is(r.labels[CLEW_LABEL_SERVICE], "myapp");
    str_is(r.message, "hello");
}

static void test_bsd_spec_vectors(void **state)
{
    (void)state;
    struct clew_record r;
    assert_int_equal(
        parse_s("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", &r),
        0);
    assert_int_equal(r.level, 2);
    assert_true(r.ts == T("2023-10-11T22:14:15Z")); /* nearest to Jan 2024 */
    str_is(r.labels[CLEW_LABEL_HOST], "mymachine");
    str_is(r.labels[CLEW_LABEL_SERVICE], "su");
    str_is(r.message, "'su root' failed for lonvick on /dev/pts/8");
    str_is(r.fields, "{\"facility\":\"auth\"}");

    assert_int_equal(parse_s("<30>Jan  5 10:30:00 3f2a1b4c5d6e[1234]: hi\n", &r), 0);
    str_is(r.labels[CLEW_LABEL_HOST], "");
    str_is(r.labels[CLEW_LABEL_SERVICE], "3f2a1b4c5d6e");
    str_is(r.message, "hi");

    const char dgram[] = "<13>Jan 15 11:30:00 myhost myapp: hello\0";
    assert_int_equal(parse(dgram, sizeof(dgram) - 1, RECV, &r), 0);
    str_is(r.labels[CLEW_LABEL_HOST], "myhost");
    str_is(r.labels[CLEW_LABEL_SERVICE], "myapp");
    str_is(r.message, "hello");
    str_is(r.fields, "{\"facility\":\"user\"}");
}

static void test_bsd_variants(void **state)
{
    (void)state;
    struct clew_record r;
    /* RFC 3339 time in BSD position (rsyslog templates). */
    assert_int_equal(parse_s("<30>2024-01-15T10:30:00.123456+00:00 host app[77]: msg", &r), 0);
    assert_true(r.ts == T("2024-01-15T10:30:00.123456Z"));
    str_is(r.labels[CLEW_LABEL_HOST], "host");
    str_is(r.labels[CLEW_LABEL_SERVICE], "app");
    str_is(r.message, "msg");
    str_is(r.fields, "{\"facility\":\"daemon\",\"procid\":\"77\"}");
    /* Python SysLogHandler: no timestamp, no host. */
    assert_int_equal(parse_s("<15>pyapp[9108]: fxpython 0", &r), 0);
    assert_int_equal(r.level, 7);
    assert_true(r.ts == RECV);
    str_is(r.labels[CLEW_LABEL_SERVICE], "pyapp");
    str_is(r.message, "fxpython 0");
    /* Only a PRI. */
    assert_int_equal(parse_s("<13>hello world", &r), 0);
    str_is(r.labels[CLEW_LABEL_SERVICE], "");
    str_is(r.message, "hello world");
    /* Timestamp and no recognisable tag: all the rest is content. */
    assert_int_equal(parse_s("<13>Jan 15 11:30:00 hello big world", &r), 0);
    assert_true(r.ts == T("2024-01-15T11:30:00Z"));
    str_is(r.labels[CLEW_LABEL_HOST], "");
    str_is(r.message, "hello big world");
    assert_int_equal(parse_s("<13>Jan 15 11:30:00", &r), 0);
    str_is(r.message, "");
    /* Year and fraction; a tag ending the message; IPv6 host; dotted tags. */
    assert_int_equal(parse_s("<13>Jan 15 2023 11:30:00.250 h app:", &r), 0);
    assert_true(r.ts == T("2023-01-15T11:30:00.25Z"));
    str_is(r.labels[CLEW_LABEL_SERVICE], "app");
    str_is(r.message, "");
    assert_int_equal(parse_s("<13>Jan 15 11:30:00 fe80::1 cron.daily/x_y: m", &r), 0);
    str_is(r.labels[CLEW_LABEL_HOST], "fe80::1");
    str_is(r.labels[CLEW_LABEL_SERVICE], "cron.daily/x_y");
    /* `tag:` without a space after the colon is not a tag. */
    assert_int_equal(parse_s("<13>key:value rest", &r), 0);
    str_is(r.labels[CLEW_LABEL_SERVICE], "");
    str_is(r.message, "key:value rest");
    /* An invalid date is no timestamp. */
    assert_int_equal(parse_s("<13>Feb 30 11:30:00 h a: m", &r), 0);
    assert_true(r.ts == RECV);
    str_is(r.message, "Feb 30 11:30:00 h a: m");
    /* The 5424 test for VERSION needs the space: "1x" is BSD content. */
    assert_int_equal(parse_s("<13>1x y", &r), 0);
    str_is(r.message, "1x y");
}

static void test_bsd_year_resolution(void **state)
{
    (void)state;
    struct clew_record r;
    const char *m = "<13>Dec 31 23:59:59 h a: x";
    assert_int_equal(parse(m, strlen(m), T("2025-01-01T00:00:10Z"), &r), 0);
    assert_true(r.ts == T("2024-12-31T23:59:59Z"));
    m = "<13>Jan  1 00:00:30 h a: x";
    assert_int_equal(parse(m, strlen(m), T("2024-12-31T23:59:00Z"), &r), 0);
    assert_true(r.ts == T("2025-01-01T00:00:30Z"));
    m = "<13>Feb 29 12:00:00 h a: x";
    assert_int_equal(parse(m, strlen(m), T("2025-03-01T00:00:00Z"), &r), 0);
    assert_true(r.ts == T("2024-02-29T12:00:00Z"));
    assert_int_equal(parse(m, strlen(m), T("2023-06-01T00:00:00Z"), &r), 0);
    assert_true(r.ts == T("2024-02-29T12:00:00Z"));
}

static void test_bsd_time_zone(void **state)
{
    (void)state;
    struct clew_record r;
    struct clew_syslog_parse_opts opts = { .bsd_tz_offset = 3600 };
    const char *m = "<13>Jan 15 11:30:00 h a: x";
    assert_int_equal(clew_syslog_parse(m, strlen(m), RECV, &opts, &r, &arena), 0);
    assert_true(r.ts == T("2024-01-15T10:30:00Z"));
    opts.bsd_tz_offset = -5 * 3600;
    m = "<13>Jan 15 05:30:00 h a: x";
    assert_int_equal(clew_syslog_parse(m, strlen(m), RECV, &opts, &r, &arena), 0);
    assert_true(r.ts == T("2024-01-15T10:30:00Z"));
    /* The local date decides the year: 23:30 on Dec 31 at UTC-5 is already
     * Jan 1 UTC. */
    m = "<13>Dec 31 23:30:00 h a: x";
    assert_int_equal(clew_syslog_parse(m, strlen(m), T("2025-01-01T04:40:00Z"), &opts, &r, &arena),
                     0);
    assert_true(r.ts == T("2025-01-01T04:30:00Z"));
    /* 5424 and ISO times carry their own offset: opts do not apply. */
    m = "<13>1 2024-01-15T10:30:00Z h a - - - x";
    assert_int_equal(clew_syslog_parse(m, strlen(m), RECV, &opts, &r, &arena), 0);
    assert_true(r.ts == T("2024-01-15T10:30:00Z"));
}

static void test_no_pri(void **state)
{
    (void)state;
    const char *bad[] = { "hello world\r\n",    "<>x", "<1234>x", "<13", "<1a>x",
                          "<192>1 - - - - - -", "",    " <13>x",  "\n" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct clew_record r;
        assert_int_equal(parse_s(bad[i], &r), CLEW_SYSLOG_PARSE_NOPRI);
        assert_int_equal(r.level, CLEW_LEVEL_DEFAULT);
        assert_int_equal(r.input, CLEW_INPUT_SYSLOG);
        assert_true(r.ts == RECV);
        assert_int_equal(r.fields.len, 0);
        assert_int_equal(r.labels[CLEW_LABEL_SERVICE].len, 0);
        size_t n = strlen(bad[i]);
        while (n > 0 && (bad[i][n - 1] == '\n' || bad[i][n - 1] == '\r')) {
            n--;
        }
        assert_int_equal(r.message.len, n);
        assert_memory_equal(r.message.ptr, bad[i], n);
    }
    /* Leading zeros and the extremes are fine. */
    struct clew_record r;
    assert_int_equal(parse_s("<013>x: y", &r), 0);
    assert_int_equal(r.level, 5);
    assert_int_equal(parse_s("<0>x: y", &r), 0);
    str_is(r.fields, "{\"facility\":\"kern\"}");
    assert_int_equal(parse_s("<191>x: y", &r), 0);
    assert_int_equal(r.level, 7);
    str_is(r.fields, "{\"facility\":\"local7\"}");
}

static void test_message_byte_exact(void **state)
{
    (void)state;
    struct clew_record r;
    const char m[] = "<13>app: \xff\xfe a\0b\xc3\n\r\0";
    assert_int_equal(parse(m, sizeof(m) - 1, RECV, &r), 0);
    assert_int_equal(r.message.len, 7);
    assert_memory_equal(r.message.ptr, "\xff\xfe a\0b\xc3", 7);
    assert_ptr_equal(r.message.ptr, m + 9);
    assert_ptr_equal(r.labels[CLEW_LABEL_SERVICE].ptr, m + 4);
}

static void test_sd_values_are_valid_json(void **state)
{
    (void)state;
    struct clew_record r;
    const char m[] = "<13>1 - - - - - [x@1 v=\"\xff\x01tab\t\\\\ \xe2\x9c\x93 \xed\xa0\x80\" "
                     "n=\"a\0b\" c=\"caf\xc3\xa9\"] m";
    assert_int_equal(parse(m, sizeof(m) - 1, RECV, &r), 0);
    json_t *f = load_fields(&r);
    assert_string_equal(
        sd_value(f, "x@1", "v"),
        "\xEF\xBF\xBD\x01tab\t\\ \xe2\x9c\x93 \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(sd_value(f, "x@1", "n"), "a\xEF\xBF\xBD"
                                                 "b");
    assert_string_equal(sd_value(f, "x@1", "c"), "caf\xc3\xa9");
    json_decref(f);
    str_is(r.message, "m");
}

static void test_trace_ids(void **state)
{
    (void)state;
    struct clew_record r;
    const char *m = "<11>1 2026-11-28T20:29:38.727676+00:00 vm cron.daily - - [acc@32473 "
                    "user=\"alice\"][trace@32473 trace_id=\"B67C20887D24BD3FE2D628D3C1C9508D\" "
                    "span_id=\"c74707bed917f3eb\" parent_span_id=\"6aff24ea8df561a3\"][other "
                    "trace_id=\"ffff\"] json-looking";
    assert_int_equal(parse_s(m, &r), 0);
    str_is(r.trace_id, "b67c20887d24bd3fe2d628d3c1c9508d"); /* lower-cased, first wins */
    str_is(r.span_id, "c74707bed917f3eb");
    str_is(r.parent_span_id, "6aff24ea8df561a3");
    assert_true(r.span_id.ptr > m && r.span_id.ptr < m + strlen(m)); /* borrowed as is */
    assert_false(r.trace_id.ptr > m && r.trace_id.ptr < m + strlen(m));
    json_t *f = load_fields(&r);
    assert_string_equal(sd_value(f, "trace@32473", "trace_id"), "B67C20887D24BD3FE2D628D3C1C9508D");
    assert_string_equal(sd_value(f, "other", "trace_id"), "ffff");
    json_decref(f);
    /* A traceparent is left to the correlation stage. */
    m = "<13>1 - h a - - [trace@32473 traceparent=\"00-f7c8854dc8982184fe23a6e8db12e4c4-"
        "2412559c8afbb6a1-01\"] x";
    assert_int_equal(parse_s(m, &r), 0);
    str_is(r.trace_id, "");
    str_is(r.span_id, "");
    /* Escapes inside an id value are undone. */
    assert_int_equal(parse_s("<13>1 - h a - - [t span_id=\"a\\]b\"] x", &r), 0);
    str_is(r.span_id, "a]b");
}

static void test_sd_duplicates(void **state)
{
    (void)state;
    struct clew_record r;
    const char *m = "<13>1 - h a 1 - [a x=\"1\" x=\"2\" y=\"3\"][a z=\"4\"][facility q=\"5\"]"
                    "[procid w=\"6\"] m";
    assert_int_equal(parse_s(m, &r), 0);
    str_is(r.fields, "{\"facility\":\"user\",\"procid\":\"1\",\"a\":{\"x\":\"1\",\"y\":\"3\"}}");
    json_decref(load_fields(&r)); /* JSON_REJECT_DUPLICATES */
}

static void test_sd_caps(void **state)
{
    (void)state;
    /* 70 elements of 5 params each: fields keep the first 64 elements and
     * 256 params, ids are still found past the caps. */
    size_t cap = 70 * 80 + 256;
    char *m = malloc(cap);
    assert_non_null(m);
    size_t n = (size_t)snprintf(m, cap, "<13>1 - h a - - ");
    for (int e = 0; e < 70; e++) {
        n += (size_t)snprintf(m + n, cap - n, "[e%d a=\"1\" b=\"2\" c=\"3\" d=\"4\" f=\"5\"]", e);
    }
    n += (size_t)snprintf(m + n, cap - n, "[late span_id=\"abc\"] end");
    struct clew_record r;
    assert_int_equal(parse(m, n, RECV, &r), 0);
    str_is(r.message, "end");
    str_is(r.span_id, "abc");
    json_t *f = load_fields(&r);
    size_t params = 0;
    const char *key;
    json_t *v;
    json_object_foreach(f, key, v)
    {
        if (json_is_object(v)) {
            params += json_object_size(v);
        }
    }
    assert_int_equal(json_object_size(f), 1 + CLEW_SYSLOG_MAX_SD_ELEMS);
    assert_int_equal(params, CLEW_SYSLOG_MAX_SD_PARAMS);
    json_decref(f);
    free(m);
}

static void test_arena_oom(void **state)
{
    (void)state;
    struct clew_arena a;
    clew_arena_init(&a, 0);
    struct clew_record r;
    const char *m = "<13>1 - h a - - [t trace_id=\"ABC\"] x";
    for (long k = 0; k < 2; k++) {
        clew_alloc_fail_after(k);
        int rc = clew_syslog_parse(m, strlen(m), RECV, NULL, &r, &a);
        clew_alloc_fail_after(-1);
        assert_int_equal(rc, -ENOMEM); /* first the id copy, then fields (new chunk each) */
        clew_arena_close(&a);
        clew_arena_init(&a, 16);
    }
    assert_int_equal(clew_syslog_parse(m, strlen(m), RECV, NULL, &r, &a), 0);
    str_is(r.trace_id, "abc");
    clew_arena_close(&a);
}

static void test_facility_names(void **state)
{
    (void)state;
    assert_string_equal(clew_syslog_facility_name(0), "kern");
    assert_string_equal(clew_syslog_facility_name(3), "daemon");
    assert_string_equal(clew_syslog_facility_name(10), "authpriv");
    assert_string_equal(clew_syslog_facility_name(16), "local0");
    assert_string_equal(clew_syslog_facility_name(23), "local7");
    assert_string_equal(clew_syslog_facility_name(24), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5424_spec_vectors),
        cmocka_unit_test(test_sd_escapes),
        cmocka_unit_test(test_heroku_without_sd),
        cmocka_unit_test(test_malformed_sd_is_message),
        cmocka_unit_test(test_5424_bad_timestamp_falls_back),
        cmocka_unit_test(test_5424_lenient_forms),
        cmocka_unit_test(test_docker_and_logger_lines),
        cmocka_unit_test(test_bsd_spec_vectors),
        cmocka_unit_test(test_bsd_variants),
        cmocka_unit_test(test_bsd_year_resolution),
        cmocka_unit_test(test_bsd_time_zone),
        cmocka_unit_test(test_no_pri),
        cmocka_unit_test(test_message_byte_exact),
        cmocka_unit_test(test_sd_values_are_valid_json),
        cmocka_unit_test(test_trace_ids),
        cmocka_unit_test(test_sd_duplicates),
        cmocka_unit_test(test_sd_caps),
        cmocka_unit_test(test_arena_oom),
        cmocka_unit_test(test_facility_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
