/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/lib/corpus_gen.h"
#include "collector/correlate.h"
#include "common/alloc.h"
#include "common/arena.h"

#define TP    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN  "00f067aa0ba902b7"
#define SEC   INT64_C(1000000000)

/* ------------------------------------------------------------- helpers */

struct fx {
    struct clew_correlator *c;
    struct clew_arena a;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct clew_correlate_opts o;
    clew_correlate_opts_default(&o);
    o.seed = 1;
    char err[CLEW_ERR_LEN];
    if (f == NULL || clew_correlator_new(&o, &f->c, err) != 0) {
        return -1;
    }
    clew_arena_init(&f->a, 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    clew_correlator_free(f->c);
    clew_arena_close(&f->a);
    free(f);
    return 0;
}

static struct clew_str S(const char *s) {
    return (struct clew_str){ s, s != NULL ? strlen(s) : 0 };
}

static void
rec_init(struct clew_record *r, const char *msg, const char *fields)
{
    memset(r, 0, sizeof(*r));
    r->ts = 1000 * SEC;
    r->level = 6;
    r->labels[CLEW_LABEL_HOST] = S("host-a");
    r->labels[CLEW_LABEL_SERVICE] = S("orders");
    r->labels[CLEW_LABEL_CONTAINER_ID] = S("c0ffee");
    r->labels[CLEW_LABEL_STREAM] = S("stderr");
    r->message = S(msg);
    r->fields = S(fields);
}

#define assert_cstr(s, lit)                                                                        \
    do {                                                                                           \
        struct clew_str s_ = (s);                                                                  \
        if (s_.len != strlen(lit) || (s_.len > 0 && memcmp(s_.ptr, (lit), s_.len) != 0)) {         \
            fail_msg("got \"%.*s\", want \"%s\"", (int)s_.len, s_.ptr ? s_.ptr : "", (lit));       \
        }                                                                                          \
    } while (0)

/* Correlates one record (message, fields) and returns its source. */
static int run(struct fx *f, struct clew_record *r, struct clew_correlation *out)
{
    struct clew_correlation tmp;
    out = out != NULL ? out : &tmp;
    assert_int_equal(clew_correlate(f->c, r, &f->a, out), 0);
    return out->source;
}

static int one(struct fx *f, const char *msg, const char *fields, struct clew_record *r)
{
    static int64_t t = 0;
    rec_init(r, msg, fields);
    r->labels[CLEW_LABEL_STREAM] = S("stdout");
    r->ts = 5000 * SEC + (t += 10 * SEC); /* out of each other's window: no inheritance */
    return run(f, r, NULL);
}

/* ------------------------------------------------------ carrier vectors */

static void test_traceparent_vectors(void **state)
{
    (void)state;
    struct clew_corr_traceparent tp;
    assert_int_equal(clew_corr_traceparent_parse(TP, strlen(TP), &tp), 0);
    assert_string_equal(tp.trace_id, TRACE);
    assert_string_equal(tp.span_id, SPAN);
    assert_int_equal(tp.version, 0);
    assert_int_equal(tp.flags & 1, 1);
    const char *f00 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    assert_int_equal(clew_corr_traceparent_parse(f00, strlen(f00), &tp), 0);
    assert_int_equal(tp.flags, 0);
    const char *f03 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";
    assert_int_equal(clew_corr_traceparent_parse(f03, strlen(f03), &tp), 0);
    assert_int_equal(tp.flags, 3); /* sampled + random */
    const char *ows = " \t" TP " \t";
    assert_int_equal(clew_corr_traceparent_parse(ows, strlen(ows), &tp), 0);
    assert_string_equal(tp.trace_id, TRACE);
    const char *fut = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
    assert_int_equal(clew_corr_traceparent_parse(fut, strlen(fut), &tp), 0);
    assert_int_equal(tp.version, 0xcc);
    assert_string_equal(tp.trace_id, TRACE);
    assert_string_equal(tp.span_id, SPAN);
    const char *bad[] = {
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.extra",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (clew_corr_traceparent_parse(bad[i], strlen(bad[i]), &tp) != CLEW_EFORMAT) {
            fail_msg("accepted invalid traceparent %s", bad[i]);
        }
    }
}

static void test_tracestate_vectors(void **state)
{
    (void)state;
    struct clew_str m[40];
    const char *ts = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
    assert_int_equal(clew_corr_tracestate_parse(ts, strlen(ts), m, 40), 2);
    assert_cstr(m[0], "rojo=00f067aa0ba902b7");
    assert_cstr(m[1], "congo=t61rcWkgMzE");
    const char *ows = " rojo=1 ,, tenant@sys=2 ";
    assert_int_equal(clew_corr_tracestate_parse(ows, strlen(ows), m, 40), 2);
    assert_cstr(m[1], "tenant@sys=2");
    const char *inner = "rojo=a b"; /* inner spaces are allowed, a trailing one is not */
    assert_int_equal(clew_corr_tracestate_parse(inner, strlen(inner), m, 40), 1);
    char big[33 * 8 + 1];
    size_t n = 0;
    for (int i = 0; i < 33; i++) {
        n += (size_t)snprintf(big + n, sizeof(big) - n, "%sk%02d=v", i ? "," : "", i);
    }
    assert_int_equal(clew_corr_tracestate_parse(big, n, m, 40), CLEW_EFORMAT);
    size_t n32 = (size_t)(strrchr(big, ',') - big); /* the first 32 members */
    assert_int_equal(clew_corr_tracestate_parse(big, n32, m, 40), 32);
    const char *badv[] = { "Rojo=1", "rojo", "rojo=", "rojo=a=b", "@x=1", "a@b@c=1" };
    for (size_t i = 0; i < sizeof(badv) / sizeof(badv[0]); i++) {
        assert_int_equal(clew_corr_tracestate_parse(badv[i], strlen(badv[i]), m, 40), CLEW_EFORMAT);
    }
}

static void test_b3_vectors(void **state)
{
    (void)state;
    struct clew_corr_b3 b;
    const char *full = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90";
    assert_int_equal(clew_corr_b3_parse(full, strlen(full), &b), 0);
    assert_string_equal(b.trace_id, "80f198ee56343ba864fe8b2a57d3eff7");
    assert_string_equal(b.span_id, "e457b5a2e4d86bd1");
    assert_string_equal(b.parent_span_id, "05e3ac9a4f6e3b90");
    assert_int_equal(b.sampled, 1);
    assert_int_equal(clew_corr_b3_parse("0", 1, &b), 0);
    assert_int_equal(b.sampled, 0);
    assert_string_equal(b.trace_id, "");
    const char *dbg = "80f198ee56343ba8-05e3ac9a4f6e3b90-d";
    assert_int_equal(clew_corr_b3_parse(dbg, strlen(dbg), &b), 0);
    assert_string_equal(b.trace_id, "000000000000000080f198ee56343ba8");
    assert_string_equal(b.span_id, "05e3ac9a4f6e3b90");
    assert_string_equal(b.parent_span_id, "");
    assert_int_equal(b.sampled, 2);
    const char *two = "80f198ee56343ba8-05e3ac9a4f6e3b90";
    assert_int_equal(clew_corr_b3_parse(two, strlen(two), &b), 0);
    assert_int_equal(b.sampled, -1);
    const char *bad[] = { "x",
                          "80f198ee56343ba8",
                          "80f198ee56343ba8-05e3ac9a4f6e3b9",
                          "80F198EE56343BA8-05e3ac9a4f6e3b90",
                          "80f198ee56343ba8-05e3ac9a4f6e3b90-2",
                          "80f198ee56343ba8-05e3ac9a4f6e3b90-1-05e3",
                          "0000000000000000-05e3ac9a4f6e3b90" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (clew_corr_b3_parse(bad[i], strlen(bad[i]), &b) != CLEW_EFORMAT) {
            fail_msg("accepted invalid b3 %s", bad[i]);
        }
    }
    assert_int_equal(clew_corr_b3_sampled("true", 4), 1);
    assert_int_equal(clew_corr_b3_sampled("1", 1), 1);
    assert_int_equal(clew_corr_b3_sampled("False", 5), 0);
    assert_int_equal(clew_corr_b3_sampled("maybe", 5), -1);
}

static void test_b3_in_records(void **state)
{
    struct fx *f = *state;
    struct clew_record r;
    assert_int_equal(one(f, "x",
                         "{\"X-B3-TraceId\":\"463ac35c9f6413ad48485a3953bb6124\","
                         "\"X-B3-SpanId\":\"a2fb4a1d1a96d312\",\"X-B3-Sampled\":\"true\"}",
                         &r),
                     CLEW_CORR_B3);
    assert_cstr(r.trace_id, "463ac35c9f6413ad48485a3953bb6124");
    assert_cstr(r.span_id, "a2fb4a1d1a96d312");
    /* b3 single wins over the multi keys; padded 64-bit trace id. */
    assert_int_equal(one(f, "x",
                         "{\"x-b3-traceid\":\"463ac35c9f6413ad48485a3953bb6124\","
                         "\"B3\":\"80f198ee56343ba8-05e3ac9a4f6e3b90-1-e457b5a2e4d86bd1\"}",
                         &r),
                     CLEW_CORR_B3);
    assert_cstr(r.trace_id, "000000000000000080f198ee56343ba8");
    assert_cstr(r.span_id, "05e3ac9a4f6e3b90");
    assert_cstr(r.parent_span_id, "e457b5a2e4d86bd1");
    assert_int_equal(one(f, "GET / b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1", "", &r),
                     CLEW_CORR_B3);
    assert_cstr(r.trace_id, "80f198ee56343ba864fe8b2a57d3eff7");
    /* "b3: 0" carries no ids. */
    assert_int_equal(one(f, "b3: 0", "{\"b3\":\"0\"}", &r), CLEW_CORR_INJECTED);
}

/* ------------------------------------------------------------- fields */

static void test_field_names(void **state)
{
    struct fx *f = *state;
    struct clew_record r;
    char fields[256];
    const char *trace_names[] = { "trace_id", "traceId",   "trace.id",   "traceID",
                                  "TraceId",  "_trace_id", "otelTraceID" };
    for (size_t i = 0; i < sizeof(trace_names) / sizeof(trace_names[0]); i++) {
        snprintf(fields, sizeof(fields), "{\"a\":1,\"%s\":\"4BF92F3577B34DA6A3CE929D0E0E4736\"}",
                 trace_names[i]);
        assert_int_equal(one(f, "m", fields, &r), CLEW_CORR_FIELD);
        assert_cstr(r.trace_id, TRACE); /* hex lower-cased */
    }
    const char *req_names[] = { "request_id",     "requestId",   "x_request_id", "X-Request-ID",
                                "correlation_id", "_request_id", "req_id" };
    for (size_t i = 0; i < sizeof(req_names) / sizeof(req_names[0]); i++) {
        snprintf(fields, sizeof(fields), "{\"%s\":\" Req-42@Abc \"}", req_names[i]);
        assert_int_equal(one(f, "m", fields, &r), CLEW_CORR_FIELD);
        assert_cstr(r.trace_id, "Req-42@Abc"); /* opaque: trimmed, case kept */
    }
    const char *span_names[] = { "span_id", "spanId", "span.id", "SpanId" };
    const char *parent_names[] = { "parent_span_id", "parentSpanId", "parent_id", "parent_id" };
    for (size_t i = 0; i < 4; i++) {
        snprintf(fields, sizeof(fields),
                 "{\"TraceId\":\"%s\",\"%s\":\"%s\",\"%s\":\"AAAAAAAAAAAAAAAA\"}", TRACE,
                 span_names[i], SPAN, parent_names[i]);
        assert_int_equal(one(f, "m", fields, &r), CLEW_CORR_FIELD);
        assert_cstr(r.span_id, SPAN);
        assert_cstr(r.parent_span_id, "aaaaaaaaaaaaaaaa");
    }
    /* ECS dotted and nested, both. */
    assert_int_equal(one(f, "m", "{\"trace.id\":\"" TRACE "\",\"span.id\":\"" SPAN "\"}", &r),
                     CLEW_CORR_FIELD);
    assert_cstr(r.trace_id, TRACE);
    assert_cstr(r.span_id, SPAN);
    assert_int_equal(
        one(f, "m", "{\"trace\":{\"id\":\"" TRACE "\"},\"span\":{\"id\":\"" SPAN "\"}}", &r),
        CLEW_CORR_FIELD);
    assert_cstr(r.trace_id, TRACE);
    assert_cstr(r.span_id, SPAN);
    /* A 16-hex trace id is padded; OTel Python's "0" means none. */
    assert_int_equal(one(f, "m", "{\"traceId\":\"6BFD228DC00D216B\"}", &r), CLEW_CORR_FIELD);
    assert_cstr(r.trace_id, "00000000000000006bfd228dc00d216b");
    assert_int_equal(one(f, "m", "{\"otelTraceID\":\"0\",\"otelSpanID\":\"0\"}", &r),
                     CLEW_CORR_INJECTED);
    /* Escaped value, deeper nesting, arrays. */
    assert_int_equal(one(f, "m", "{\"ctx\":[{\"meta\":{\"request_id\":\"ab\\u0063\\/d\"}}]}", &r),
                     CLEW_CORR_FIELD);
    assert_cstr(r.trace_id, "abc/d");
}

static void test_datadog_ids(void **state)
{
    struct fx *f = *state;
    struct clew_record r;
    assert_int_equal(
        one(f, "m", "{\"dd.trace_id\":\"5765087093466024278\",\"dd.span_id\":\"1234567890\"}", &r),
        CLEW_CORR_FIELD);
    assert_cstr(r.trace_id, "00000000000000005001b42ab13b4956");
    assert_cstr(r.span_id, "00000000499602d2");
    /* Numbers, nested under "dd", and the text form. */
    assert_int_equal(one(f, "m", "{\"dd\":{\"trace_id\":5765087093466024278}}", &r),
                     CLEW_CORR_FIELD);
    assert_cstr(r.trace_id, "00000000000000005001b42ab13b4956");
    assert_int_equal(one(f,
                         "[dd.service=web dd.env=prod dd.trace_id=5765087093466024278 "
                         "dd.span_id=987654321] hello",
                         "", &r),
                     CLEW_CORR_TEXT);
    assert_cstr(r.trace_id, "00000000000000005001b42ab13b4956");
    assert_cstr(r.span_id, "000000003ade68b1");
    /* Above 2^64-1: not decimal any more, kept as an opaque id. */
    assert_int_equal(one(f, "m", "{\"dd.trace_id\":\"18446744073709551616\"}", &r),
                     CLEW_CORR_FIELD);
    assert_cstr(r.trace_id, "18446744073709551616");
}

static void test_traceparent_in_fields(void **state)
{
    struct fx *f = *state;
    struct clew_record r;
    /* syslog SD element, any depth, any case of the key. */
    assert_int_equal(
        one(f, "m", "{\"facility\":\"user\",\"trace@32473\":{\"TraceParent\":\"" TP "\"}}", &r),
        CLEW_CORR_TRACEPARENT);
    assert_cstr(r.trace_id, TRACE);
    assert_cstr(r.span_id, SPAN);
    assert_cstr(r.parent_span_id, "");
    /* Invalid ones are ignored; two traceparents are invalid together. */
    assert_int_equal(one(f, "m",
                         "{\"traceparent\":\"ff-4bf92f3577b34da6a3ce929d0e0e4736-"
                         "00f067aa0ba902b7-01\"}",
                         &r),
                     CLEW_CORR_INJECTED);
    assert_int_equal(
        one(f, "m", "{\"a\":{\"traceparent\":\"" TP "\"},\"b\":{\"traceparent\":\"" TP "\"}}", &r),
        CLEW_CORR_INJECTED);
}

static void test_message_json(void **state)
{
    struct fx *f = *state;
    struct clew_record r;
    assert_int_equal(one(f,
                         "{\"level\":\"info\",\"msg\":\"done\",\"trace_id\":\"" TRACE
                         "\",\"span_id\":\"" SPAN "\"}\n",
                         "{\"tag\":\"docker\"}", &r),
                     CLEW_CORR_MESSAGE_JSON);
    assert_cstr(r.trace_id, TRACE);
    assert_cstr(r.span_id, SPAN);
    /* A traceparent inside message JSON reports its carrier. */
    assert_int_equal(one(f, "{\"headers\":{\"traceparent\":\"" TP "\"}}", "", &r),
                     CLEW_CORR_TRACEPARENT);
    /* Broken JSON falls back to the text patterns. */
    assert_int_equal(one(f, "{oops request_id=abc-123", "", &r), CLEW_CORR_TEXT);
    assert_cstr(r.trace_id, "abc-123");
}

/* ---------------------------------------------------------------- text */

static void test_text_patterns(void **state)
{
    struct fx *f = *state;
    struct clew_record r;
    static const struct {
        const char *msg, *trace, *span;
        int source;
    } v[] = {
        { "at=info method=GET path=\"/\" request_id=e5bb3580-44b0-46d2-aad3-185263641044 "
          "fwd=\"1.2.3.4\"",
          "e5bb3580-44b0-46d2-aad3-185263641044", "", CLEW_CORR_TEXT },
        { "GET /x request-id: 7f1c2d3e handled", "7f1c2d3e", "", CLEW_CORR_TEXT },
        { "req-id: r-000042.", "r-000042", "", CLEW_CORR_TEXT },
        { "user saved (requestId=AbC123XyZ)", "AbC123XyZ", "", CLEW_CORR_TEXT },
        { "X-Request-ID: \"quoted-id-1\" ok", "quoted-id-1", "", CLEW_CORR_TEXT },
        { "trace_id=" TRACE " span_id=" SPAN " trace_flags=01", TRACE, SPAN, CLEW_CORR_TEXT },
        { "traceId=6BFD228DC00D216B spanId=6bfd228dc00d216b", "00000000000000006bfd228dc00d216b",
          "6bfd228dc00d216b", CLEW_CORR_TEXT },
        { "INFO [bar,6bfd228dc00d216b,6bfd228dc00d216b,false] 23030 --- [nio-8081-exec-3] x",
          "00000000000000006bfd228dc00d216b", "6bfd228dc00d216b", CLEW_CORR_TEXT },
        { "INFO [bar," TRACE "," SPAN "] 1 --- [main] c.e.Foo : hi", TRACE, SPAN, CLEW_CORR_TEXT },
        { "2024 INFO [" TRACE "-" SPAN "] done", TRACE, SPAN, CLEW_CORR_TEXT },
        { "[f6e6ab06-4f6e-4b53-8b16-5b0c8d7f9a2e] Started GET \"/\" for 127.0.0.1",
          "f6e6ab06-4f6e-4b53-8b16-5b0c8d7f9a2e", "", CLEW_CORR_TEXT },
        { "trace.id=" TRACE " transaction.id=" SPAN, TRACE, "", CLEW_CORR_TEXT },
        { "call done traceparent: " TP, TRACE, SPAN, CLEW_CORR_TRACEPARENT },
        { "call done traceparent=" TP ", next", TRACE, SPAN, CLEW_CORR_TRACEPARENT },
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int src = one(f, v[i].msg, "", &r);
        if (src != v[i].source) {
            fail_msg("%s: source %s", v[i].msg, clew_corr_source_name((unsigned)src));
        }
        assert_cstr(r.trace_id, v[i].trace);
        assert_cstr(r.span_id, v[i].span);
    }
    /* Things that are not ids. */
    const char *none[] = {
        "Caused by: java.io.IOException: x",
        "request_id=- handled",
        "trace_id=0000000000000000 nothing",
        "INFO [bar,,] 1 --- [main] no trace",
        "http://example.com:8080/?a=b&c=d",
        "a traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "request_id=",
        "",
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        int src = one(f, none[i], "", &r);
        if (src != CLEW_CORR_INJECTED) {
            fail_msg("\"%s\": found an id (%s)", none[i], clew_corr_source_name((unsigned)src));
        }
    }
}

/* ------------------------------------------------------ sources, links */

static void test_each_source(void **state)
{
    struct fx *f = *state;
    struct clew_record r;
    struct clew_correlation out;
    /* The input's own ids (and flags) win over anything in fields. */
    rec_init(&r, "request_id=zzz", "{\"trace_id\":\"11111111111111111111111111111111\"}");
    r.trace_id = S(TRACE);
    r.span_id = S(SPAN);
    r.flags = CLEW_REC_TRUNCATED;
    assert_int_equal(run(f, &r, &out), CLEW_CORR_RECORD);
    assert_cstr(r.trace_id, TRACE);
    assert_cstr(r.span_id, SPAN);
    assert_int_equal(r.flags, CLEW_REC_TRUNCATED);
    assert_cstr(out.link_id, "zzz"); /* a request id is the preferred link */
    assert_int_equal(one(f, "m", "{\"trace_id\":\"" TRACE "\"}", &r), CLEW_CORR_FIELD);
    assert_int_equal(one(f, "{\"traceId\":\"" TRACE "\"}", "", &r), CLEW_CORR_MESSAGE_JSON);
    assert_int_equal(one(f, "m", "{\"traceparent\":\"" TP "\"}", &r), CLEW_CORR_TRACEPARENT);
    assert_int_equal(one(f, "m", "{\"b3\":\"" TRACE "-" SPAN "\"}", &r), CLEW_CORR_B3);
    assert_int_equal(one(f, "trace_id=" TRACE, "", &r), CLEW_CORR_TEXT);
    assert_int_equal(one(f, "plain line", "{\"x\":1}", &r), CLEW_CORR_INJECTED);
    assert_true(r.flags & CLEW_REC_INJECTED);
    assert_int_equal(r.trace_id.len, 32);
    rec_init(&r, NULL, NULL); /* empty strings may have NULL pointers */
    assert_int_equal(run(f, &r, &out), CLEW_CORR_INJECTED);
    assert_string_equal(clew_corr_source_name(CLEW_CORR_TRACEPARENT), "traceparent");
    assert_string_equal(clew_corr_source_name(99), "unknown");
}

static void test_inject_off(void **state)
{
    (void)state;
    struct clew_correlate_opts o;
    clew_correlate_opts_default(&o);
    o.inject = 0;
    struct clew_correlator *c;
    struct clew_arena a;
    clew_arena_init(&a, 0);
    assert_int_equal(clew_correlator_new(&o, &c, NULL), 0);
    struct clew_record r;
    struct clew_correlation out;
    rec_init(&r, "plain", "");
    assert_int_equal(clew_correlate(c, &r, &a, &out), 0);
    assert_int_equal(out.source, CLEW_CORR_NONE);
    assert_int_equal(r.trace_id.len, 0);
    assert_int_equal(r.flags, 0);
    /* A continuation of a record without id has nothing to inherit. */
    rec_init(&r, "\tat x.Y.z(Y.java:1)", "");
    assert_int_equal(clew_correlate(c, &r, &a, &out), 0);
    assert_int_equal(out.source, CLEW_CORR_NONE);
    clew_correlator_free(c);
    clew_arena_close(&a);
}

static void test_link(void **state)
{
    struct fx *f = *state;
    struct clew_record r;
    struct clew_correlation out;
    rec_init(&r, "assigned request_id=abc for GET /x traceparent: " TP, "");
    assert_int_equal(run(f, &r, &out), CLEW_CORR_TRACEPARENT);
    assert_cstr(r.trace_id, TRACE);
    assert_cstr(out.link_id, "abc");
    /* Across places: request id in fields, trace id in text. */
    rec_init(&r, "trace_id=" TRACE, "{\"request_id\":\"r-1\"}");
    assert_int_equal(run(f, &r, &out), CLEW_CORR_TEXT);
    assert_cstr(r.trace_id, TRACE);
    assert_cstr(out.link_id, "r-1");
    /* The same id twice is no link; a lone request id is the trace id. */
    rec_init(&r, "m", "{\"request_id\":\"" TRACE "\",\"trace_id\":\"" TRACE "\"}");
    assert_int_equal(run(f, &r, &out), CLEW_CORR_FIELD);
    assert_int_equal(out.link_id.len, 0);
    rec_init(&r, "request_id=only-one", "");
    assert_int_equal(run(f, &r, &out), CLEW_CORR_TEXT);
    assert_cstr(r.trace_id, "only-one");
    assert_int_equal(out.link_id.len, 0);
}

/* ---------------------------------------------------------- inheritance */

static void java_line(char *buf, size_t cap, int i)
{
    if (i == 0) {
        snprintf(buf, cap, "ERROR 1 --- [exec-1] c.e.Orders : failed request_id=req-7788");
    } else if (i == 1) {
        snprintf(buf, cap, "java.lang.IllegalStateException: order 17 cannot be processed");
    } else if (i == 30) {
        snprintf(buf, cap, "Caused by: java.net.SocketTimeoutException: Read timed out");
    } else if (i == 39) {
        snprintf(buf, cap, "\t... 27 more");
    } else {
        snprintf(buf, cap, "\tat com.example.orders.Svc.m%d(Svc.java:%d)", i, 100 + i);
    }
}

static void test_inherit_java_stack(void **state)
{
    struct fx *f = *state;
    struct clew_record r, o;
    struct clew_correlation out;
    char line[128];
    for (int i = 0; i < 40; i++) {
        java_line(line, sizeof(line), i);
        rec_init(&r, line, "");
        r.level = 3;
        r.ts = 1000 * SEC + i * 1000;
        if (run(f, &r, &out) != (i == 0 ? CLEW_CORR_TEXT : CLEW_CORR_INHERITED)) {
            fail_msg("line %d (%s): %s", i, line, clew_corr_source_name((unsigned)out.source));
        }
        assert_cstr(r.trace_id, "req-7788");
        assert_int_equal(!!(r.flags & CLEW_REC_INHERITED), i > 0);
        /* Lines of another stream (same service, other container) between
         * the frames neither inherit nor break the chain. */
        rec_init(&o, "\tat other.Frame.x(Frame.java:1)", "");
        o.labels[CLEW_LABEL_CONTAINER_ID] = S("other-container");
        o.ts = r.ts;
        int src = run(f, &o, &out);
        assert_true(src == (i == 0 ? CLEW_CORR_INJECTED : CLEW_CORR_INHERITED)); /* its own */
        assert_true(o.trace_id.len == 32 && memcmp(o.trace_id.ptr, "req-7788", 8) != 0);
    }
    /* After the window: no inheritance. */
    rec_init(&r, "\tat late.Frame.x(Frame.java:1)", "");
    r.ts = 1000 * SEC + 39 * 1000 + 2 * SEC + 1;
    assert_int_equal(run(f, &r, &out), CLEW_CORR_INJECTED);
    assert_int_equal(r.flags, CLEW_REC_INJECTED);
}

static void test_inherit_rules(void **state)
{
    struct fx *f = *state;
    struct clew_record r;
    struct clew_correlation out;
    /* Python: error line with id, traceback, final exception line. */
    const char *py[] = { "ERROR request failed request_id=py-1",
                         "Traceback (most recent call last):",
                         "  File \"app.py\", line 3, in <module>", "    main()",
                         "ValueError: boom" };
    for (int i = 0; i < 5; i++) {
        rec_init(&r, py[i], "");
        r.level = 3;
        r.labels[CLEW_LABEL_SERVICE] = S("py");
        assert_int_equal(run(f, &r, &out), i == 0 ? CLEW_CORR_TEXT : CLEW_CORR_INHERITED);
        assert_cstr(r.trace_id, "py-1");
    }
    /* An exception header after an INFO line with an id is glued only if
     * that line was warning or worse. */
    rec_init(&r, "INFO ok request_id=info-1", "");
    r.labels[CLEW_LABEL_SERVICE] = S("svc2");
    assert_int_equal(run(f, &r, &out), CLEW_CORR_TEXT);
    rec_init(&r, "Error: unrelated", "");
    r.labels[CLEW_LABEL_SERVICE] = S("svc2");
    assert_int_equal(run(f, &r, &out), CLEW_CORR_INJECTED);
    /* ...and never to an injected id; frames still follow their header. */
    rec_init(&r, "java.lang.NullPointerException", "");
    r.labels[CLEW_LABEL_SERVICE] = S("svc2");
    assert_int_equal(run(f, &r, &out), CLEW_CORR_INJECTED);
    char injected[33] = { 0 };
    memcpy(injected, r.trace_id.ptr, 32);
    rec_init(&r, "\tat a.B.c(B.java:1)", "");
    r.labels[CLEW_LABEL_SERVICE] = S("svc2");
    assert_int_equal(run(f, &r, &out), CLEW_CORR_INHERITED);
    assert_cstr(r.trace_id, injected);
    assert_int_equal(r.flags, CLEW_REC_INHERITED);
    /* Not continuations: ordinary lines, "ERROR:" levels. */
    const char *plain[] = { "ERROR: disk full", "GET /health 200", "atomic op" };
    for (int i = 0; i < 3; i++) {
        rec_init(&r, plain[i], "");
        r.labels[CLEW_LABEL_SERVICE] = S("svc2");
        assert_int_equal(run(f, &r, &out), CLEW_CORR_INJECTED);
    }
    /* A continuation line with its own id keeps it. */
    rec_init(&r, "  detail request_id=own-1", "");
    r.labels[CLEW_LABEL_SERVICE] = S("svc2");
    assert_int_equal(run(f, &r, &out), CLEW_CORR_TEXT);
    assert_cstr(r.trace_id, "own-1");
}

static void test_stream_lru(void **state)
{
    (void)state;
    struct clew_correlate_opts o;
    clew_correlate_opts_default(&o);
    o.max_streams = 8;
    o.seed = 3;
    struct clew_correlator *c;
    struct clew_arena a;
    clew_arena_init(&a, 0);
    assert_int_equal(clew_correlator_new(&o, &c, NULL), 0);
    char host[32], id[32];
    struct clew_record r;
    struct clew_correlation out;
    /* Churn through 200 streams in a scrambled order (exercises eviction
     * and the table's delete), then the last 8 must still inherit and an
     * older one must not. */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 200; i++) {
            int s = (i * 37 + round * 11) % 200;
            snprintf(host, sizeof(host), "h%d", s);
            snprintf(id, sizeof(id), "request_id=r%d-%d", s, round);
            rec_init(&r, id, "");
            r.labels[CLEW_LABEL_HOST] = S(host);
            assert_int_equal(clew_correlate(c, &r, &a, &out), 0);
            assert_int_equal(out.source, CLEW_CORR_TEXT);
        }
    }
    for (int i = 199; i >= 0; i--) {
        int s = (i * 37 + 2 * 11) % 200;
        snprintf(host, sizeof(host), "h%d", s);
        snprintf(id, sizeof(id), "r%d-2", s);
        rec_init(&r, "\tat x", "");
        r.labels[CLEW_LABEL_HOST] = S(host);
        assert_int_equal(clew_correlate(c, &r, &a, &out), 0);
        if (i >= 192) {
            assert_int_equal(out.source, CLEW_CORR_INHERITED);
            assert_cstr(r.trace_id, id);
        } else if (i == 191) { /* evicted by the 8 lookups above */
            assert_int_equal(out.source, CLEW_CORR_INJECTED);
        }
    }
    clew_correlator_free(c);
    clew_arena_close(&a);
}

static void test_injected_unique_ordered(void **state)
{
    struct fx *f = *state;
    struct clew_record r;
    char prev[33] = { 0 };
    for (int i = 0; i < 20000; i++) {
        rec_init(&r, "no id here", "");
        r.labels[CLEW_LABEL_STREAM] = S("stdout");
        assert_int_equal(run(f, &r, NULL), CLEW_CORR_INJECTED);
        assert_int_equal(r.trace_id.len, 32);
        assert_int_equal(r.span_id.len, 0);
        if (i > 0 && memcmp(prev, r.trace_id.ptr, 32) >= 0) {
            fail_msg("injected id %d not after the previous one", i);
        }
        memcpy(prev, r.trace_id.ptr, 32);
        if (i % 1000 == 0) {
            clew_arena_reset(&f->a);
        }
    }
}

/* -------------------------------------------------------- user patterns */

static void test_user_patterns(void **state)
{
    (void)state;
    const char *pats[] = { "order=(?<id>[0-9]+)",
                           "(?i)TXN (?<id>[a-f0-9]{32})/(?<span>[a-f0-9]{16})",
                           "job\\[(?<id>\\w+)\\](?:x|y)?" };
    struct clew_correlate_opts o;
    clew_correlate_opts_default(&o);
    o.patterns = pats;
    o.npatterns = 3;
    struct clew_correlator *c;
    struct clew_arena a;
    char err[CLEW_ERR_LEN];
    clew_arena_init(&a, 0);
    assert_int_equal(clew_correlator_new(&o, &c, err), 0);
    struct clew_record r;
    struct clew_correlation out;
    rec_init(&r, "placed order=12345 ok", "");
    assert_int_equal(clew_correlate(c, &r, &a, &out), 0);
    assert_int_equal(out.source, CLEW_CORR_USER);
    assert_cstr(r.trace_id, "12345");
    rec_init(&r, "txn " TRACE "/" SPAN " done", "");
    assert_int_equal(clew_correlate(c, &r, &a, &out), 0);
    assert_int_equal(out.source, CLEW_CORR_USER);
    assert_cstr(r.trace_id, TRACE);
    assert_cstr(r.span_id, SPAN);
    rec_init(&r, "running job[nightly_7]", "");
    assert_int_equal(clew_correlate(c, &r, &a, &out), 0);
    assert_cstr(r.trace_id, "nightly_7");
    /* A default pattern's trace id comes first; the user id links to it. */
    rec_init(&r, "order=99 trace_id=" TRACE, "");
    assert_int_equal(clew_correlate(c, &r, &a, &out), 0);
    assert_int_equal(out.source, CLEW_CORR_TEXT);
    assert_cstr(out.link_id, "99");
    rec_init(&r, "ORDER=1 no match (case)", "");
    assert_int_equal(clew_correlate(c, &r, &a, &out), 0);
    assert_int_equal(out.source, CLEW_CORR_INJECTED);
    clew_correlator_free(c);
    clew_arena_close(&a);

    /* Errors name the pattern and the offset. */
    const char *bad[] = { "ok=(?<id>x)", "broken=(?<id>[a-z" };
    o.patterns = bad;
    o.npatterns = 2;
    assert_int_equal(clew_correlator_new(&o, &c, err), CLEW_EBADARG);
    assert_null(c);
    assert_non_null(strstr(err, "pattern 2"));
    assert_non_null(strstr(err, "broken=(?<id>[a-z"));
    assert_non_null(strstr(err, "offset 17"));
    const char *noid[] = { "x=(?<rid>\\d+)" };
    o.patterns = noid;
    o.npatterns = 1;
    assert_int_equal(clew_correlator_new(&o, &c, err), CLEW_EBADARG);
    assert_non_null(strstr(err, "no named group"));
}

/* ------------------------------------------------------- alloc failures */

static void test_alloc_failures(void **state)
{
    (void)state;
    const char *pats[] = { "order=(?<id>[0-9]+)" };
    int ok = 0;
    for (long n = 0; n < 200 && !ok; n++) {
        struct clew_correlate_opts o;
        clew_correlate_opts_default(&o);
        o.patterns = pats;
        o.npatterns = 1;
        struct clew_correlator *c = NULL;
        struct clew_arena a;
        clew_arena_init(&a, 0);
        char err[CLEW_ERR_LEN];
        clew_alloc_fail_after(n);
        int rc = clew_correlator_new(&o, &c, err);
        struct clew_record r;
        struct clew_correlation out;
        if (rc == 0) {
            rec_init(&r, "order=5 request_id=abc", "");
            rc = clew_correlate(c, &r, &a, &out);
            if (rc == 0) {
                assert_cstr(r.trace_id, "abc");
                assert_cstr(out.link_id, "5");
            } else {
                assert_int_equal(r.trace_id.len, 0); /* untouched */
            }
        }
        clew_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
        } else {
            assert_int_equal(rc, -ENOMEM);
            assert_true(c == NULL || r.trace_id.len == 0);
        }
        clew_correlator_free(c);
        clew_arena_close(&a);
    }
    assert_true(ok);
}

/* ----------------------------------------------- the generated corpus */

struct link {
    char from[256], to[33];
};

/* Every record of the generator's raw corpus gets the true ids: directly,
 * through the gateway's request-id links, or by inheritance; records
 * without an id get injected ones. */
static void test_generated_corpus(void **state)
{
    (void)state;
    struct clew_gen_opts go;
    clew_gen_opts_default(&go);
    go.records = 20000;
    go.seed = 7;
    struct clew_gen *g;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_gen_new(&go, &g, err), 0);
    struct clew_correlate_opts o;
    clew_correlate_opts_default(&o);
    o.seed = 9;
    struct clew_correlator *c;
    assert_int_equal(clew_correlator_new(&o, &c, NULL), 0);
    struct clew_arena a;
    clew_arena_init(&a, 0);
    struct pending {
        char got[256], want[33];
    } *pend = calloc(go.records, sizeof(*pend));
    struct link *links = calloc(4096, sizeof(*links));
    size_t npend = 0, nlinks = 0, direct = 0, inherited = 0, injected = 0;
    struct clew_record r;
    while (clew_gen_next(g, &r) == 1) {
        struct clew_gen_truth t;
        struct clew_correlation out;
        clew_gen_record_truth(g, &t);
        assert_int_equal(clew_correlate(c, &r, &a, &out), 0);
        if (t.trace_id.len == 0 || (!t.carries_id && !t.continuation)) {
            if (out.source != CLEW_CORR_INJECTED) {
                fail_msg("no-id record got %s: %.*s", clew_corr_source_name(out.source),
                         (int)r.message.len, r.message.ptr);
            }
            injected++;
            continue;
        }
        if (t.continuation) {
            assert_int_equal(out.source, CLEW_CORR_INHERITED);
            inherited++;
        } else {
            direct++;
        }
        if (out.link_id.len > 0 && nlinks < 4096) {
            snprintf(links[nlinks].from, 256, "%.*s", (int)out.link_id.len, out.link_id.ptr);
            snprintf(links[nlinks].to, 33, "%.*s", (int)r.trace_id.len, r.trace_id.ptr);
            nlinks++;
        }
        snprintf(pend[npend].got, 256, "%.*s", (int)r.trace_id.len, r.trace_id.ptr);
        snprintf(pend[npend].want, 33, "%.*s", (int)t.trace_id.len, t.trace_id.ptr);
        npend++;
        clew_arena_reset(&a);
    }
    for (size_t i = 0; i < npend; i++) {
        const char *got = pend[i].got;
        for (size_t k = 0; k < nlinks && strcmp(got, pend[i].want) != 0; k++) {
            got = strcmp(links[k].from, got) == 0 ? links[k].to : got;
        }
        if (strcmp(got, pend[i].want) != 0) {
            fail_msg("record %zu: id %s resolves to %s, want %s", i, pend[i].got, got,
                     pend[i].want);
        }
    }
    assert_true(direct > 1000 && inherited > 100 && injected > 1000 && nlinks > 10);
    free(pend);
    free(links);
    clew_arena_close(&a);
    clew_correlator_free(c);
    clew_gen_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent_vectors),
        cmocka_unit_test(test_tracestate_vectors),
        cmocka_unit_test(test_b3_vectors),
        cmocka_unit_test_setup_teardown(test_b3_in_records, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_field_names, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_datadog_ids, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_traceparent_in_fields, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_message_json, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_text_patterns, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_each_source, fx_setup, fx_teardown),
        cmocka_unit_test(test_inject_off),
        cmocka_unit_test_setup_teardown(test_link, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_inherit_java_stack, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_inherit_rules, fx_setup, fx_teardown),
        cmocka_unit_test(test_stream_lru),
        cmocka_unit_test_setup_teardown(test_injected_unique_ordered, fx_setup, fx_teardown),
        cmocka_unit_test(test_user_patterns),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_generated_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
