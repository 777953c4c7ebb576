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
#include <zlib.h>

#include "clew/error.h"
#include "collector/gelf_parse.h"
#include "common/alloc.h"

#define RECV_NS 1700000000123456789LL

static const char docker_json[] =
    "{\"version\":\"1.1\",\"host\":\"docker-host-1\",\"short_message\":\"GET /health 200\","
    "\"timestamp\":1705314600.123,\"level\":6,\"_command\":\"/docker-entrypoint.sh nginx -g "
    "daemon off;\",\"_container_id\":\"3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"
    "f708\",\"_container_name\":\"/web\",\"_created\":\"2024-01-15T10:29:58.912345678Z\","
    "\"_image_id\":\"sha256:0f1e\",\"_image_name\":\"nginx:1.25\",\"_tag\":\"3f2a1b4c5d6e\"}";

struct fx {
    struct clew_arena arena;
    struct clew_record rec;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    clew_arena_init(&f->arena, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    clew_arena_close(&f->arena);
    free(f);
    return 0;
}

static int parse_str(struct fx *f, const char *json)
{
    return clew_gelf_parse(json, strlen(json), RECV_NS, NULL, &f->rec, &f->arena);
}

static void assert_str(struct clew_str s, const char *want)
{
    if (s.len != strlen(want) || (s.len && memcmp(s.ptr, want, s.len) != 0)) {
        fail_msg("got \"%.*s\", want \"%s\"", (int)s.len, s.ptr ? s.ptr : "", want);
    }
}

/* gzip (windowBits 31) or zlib (15) at the given level. */
static uint8_t *deflate_buf(const void *p, size_t n, int bits, int level, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static void check_docker(const struct clew_record *r)
{
    assert_int_equal(r->input, CLEW_INPUT_GELF);
    assert_str(r->labels[CLEW_LABEL_HOST], "docker-host-1");
    assert_str(r->labels[CLEW_LABEL_SERVICE], "web");
    assert_str(r->labels[CLEW_LABEL_CONTAINER_NAME], "web");
    assert_str(r->labels[CLEW_LABEL_CONTAINER_ID],
               "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708");
    assert_str(r->labels[CLEW_LABEL_STREAM], "");
    assert_str(r->message, "GET /health 200");
    assert_int_equal(r->level, 6);
    assert_true(r->ts == 1705314600123000000LL);
    assert_str(
        r->fields,
        "{\"command\":\"/docker-entrypoint.sh nginx -g daemon off;\",\"container_id\":"
        "\"3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708\","
        "\"container_name\":\"/web\",\"created\":\"2024-01-15T10:29:58.912345678Z\","
        "\"image_id\":\"sha256:0f1e\",\"image_name\":\"nginx:1.25\",\"tag\":\"3f2a1b4c5d6e\"}");
    assert_int_equal(r->trace_id.len, 0);
    assert_int_equal(r->flags, 0);
}

static void test_plain_docker(void **state)
{
    struct fx *f = *state;
    assert_int_equal(parse_str(f, docker_json), 0);
    check_docker(&f->rec);
}

static void test_gzip_and_zlib(void **state)
{
    struct fx *f = *state;
    const struct {
        int bits, level;
        uint8_t b1;
    } cases[] = {
        { 31, 1, 0x8b }, { 15, 1, 0x01 }, { 15, 6, 0x9c }, { 15, 9, 0xda }, { 15, 3, 0x5e }
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n;
        uint8_t *z =
            deflate_buf(docker_json, strlen(docker_json), cases[i].bits, cases[i].level, &n);
        assert_int_equal(z[1], cases[i].b1);
        assert_int_equal(clew_gelf_sniff(z, n),
                         cases[i].bits == 31 ? CLEW_GELF_GZIP : CLEW_GELF_ZLIB);
        assert_int_equal(clew_gelf_parse(z, n, RECV_NS, NULL, &f->rec, &f->arena), 0);
        check_docker(&f->rec);
        /* Cut short, and with a flipped byte in the middle. */
        assert_int_equal(clew_gelf_parse(z, n - 5, RECV_NS, NULL, &f->rec, &f->arena),
                         CLEW_GELF_EINFLATE);
        z[n / 2] ^= 0x55;
        /* The checksum catches it: inflate never hands out damaged data. */
        assert_int_equal(clew_gelf_parse(z, n, RECV_NS, NULL, &f->rec, &f->arena),
                         CLEW_GELF_EINFLATE);
        free(z);
    }
}

/* One inflater reused across gzip and zlib payloads, good and damaged,
 * decodes exactly as a fresh stream per payload does. */
static void test_inflater_reuse(void **state)
{
    struct fx *f = *state;
    struct clew_gelf_inflater *inf = clew_gelf_inflater_new();
    assert_non_null(inf);
    struct clew_gelf_parse_opts o = { 0, 0, NULL, inf };
    for (int round = 0; round < 3; round++) {
        for (int bits = 15; bits <= 31; bits += 16) {
            size_t n;
            uint8_t *z = deflate_buf(docker_json, strlen(docker_json), bits, 6, &n);
            assert_int_equal(clew_gelf_parse(z, n, RECV_NS, &o, &f->rec, &f->arena), 0);
            check_docker(&f->rec);
            assert_int_equal(clew_gelf_parse(z, n - 5, RECV_NS, &o, &f->rec, &f->arena),
                             CLEW_GELF_EINFLATE);
            z[n / 2] ^= 0x55;
            assert_int_equal(clew_gelf_parse(z, n, RECV_NS, &o, &f->rec, &f->arena),
                             CLEW_GELF_EINFLATE);
            z[n / 2] ^= 0x55; /* after the damage, the stream still works */
            assert_int_equal(clew_gelf_parse(z, n, RECV_NS, &o, &f->rec, &f->arena), 0);
            check_docker(&f->rec);
            free(z);
        }
    }
    clew_gelf_inflater_free(inf);
    clew_gelf_inflater_free(NULL);
}

static void test_sniff(void **state)
{
    (void)state;
    assert_int_equal(clew_gelf_sniff("{", 1), CLEW_GELF_EMAGIC); /* spec vector 5 */
    assert_int_equal(clew_gelf_sniff("", 0), CLEW_GELF_EMAGIC);
    assert_int_equal(clew_gelf_sniff("\x78\x00", 2), CLEW_GELF_EMAGIC); /* vector 3 */
    assert_int_equal(clew_gelf_sniff("\x78\x9c", 2), CLEW_GELF_ZLIB);
    assert_int_equal(clew_gelf_sniff("\x1f\x8b", 2), CLEW_GELF_GZIP);
    assert_int_equal(clew_gelf_sniff("\x1f\x00", 2), CLEW_GELF_EMAGIC);
    assert_int_equal(clew_gelf_sniff("\x1e\x0f", 2), CLEW_GELF_CHUNK);
    assert_int_equal(clew_gelf_sniff("\x1e\x00", 2), CLEW_GELF_EMAGIC);
    assert_int_equal(clew_gelf_sniff("{}", 2), CLEW_GELF_PLAIN);
}

static void test_bad_magic_parse(void **state)
{
    struct fx *f = *state;
    const char chunk[] = "\x1e\x0f"
                         "12345678\x00\x01{}";
    assert_int_equal(clew_gelf_parse(chunk, sizeof(chunk) - 1, 0, NULL, &f->rec, &f->arena),
                     CLEW_GELF_EMAGIC);
    assert_int_equal(clew_gelf_parse("\x78\x00zz", 4, 0, NULL, &f->rec, &f->arena),
                     CLEW_GELF_EMAGIC);
    assert_int_equal(clew_gelf_parse("{", 1, 0, NULL, &f->rec, &f->arena), CLEW_GELF_EMAGIC);
    /* A valid zlib header on garbage. */
    assert_int_equal(clew_gelf_parse("\x78\x9c\xff\xff\xff\xff", 6, 0, NULL, &f->rec, &f->arena),
                     CLEW_GELF_EINFLATE);
}

static void test_bomb_capped(void **state)
{
    struct fx *f = *state;
    size_t big = (size_t)4 << 20; /* 4 MiB of spaces inside a string */
    char *json = malloc(big + 64);
    memset(json, ' ', big + 64);
    memcpy(json, "{\"short_message\":\"", 18);
    memcpy(json + big + 62, "\"}", 2);
    for (int bits = 15; bits <= 31; bits += 16) {
        size_t n;
        uint8_t *z = deflate_buf(json, big + 64, bits, 9, &n);
        assert_true(n < 64 * 1024); /* a bomb: tiny in, huge out */
        assert_int_equal(clew_gelf_parse(z, n, 0, NULL, &f->rec, &f->arena), CLEW_ETOOBIG);
        struct clew_gelf_parse_opts o = { .max_size = 100000 };
        assert_int_equal(clew_gelf_parse(z, n, 0, &o, &f->rec, &f->arena), CLEW_ETOOBIG);
        o.max_size = big + 64; /* exactly fits */
        assert_int_equal(clew_gelf_parse(z, n, 0, &o, &f->rec, &f->arena), 0);
        assert_int_equal(f->rec.message.len, big + 62 - 18);
        o.max_size = big + 63; /* one byte short */
        assert_int_equal(clew_gelf_parse(z, n, 0, &o, &f->rec, &f->arena), CLEW_ETOOBIG);
        free(z);
    }
    /* A plain payload over the cap. */
    struct clew_gelf_parse_opts o = { .max_size = 1000 };
    assert_int_equal(clew_gelf_parse(json, big + 64, 0, &o, &f->rec, &f->arena), CLEW_ETOOBIG);
    free(json);
}

static void test_invalid_json(void **state)
{
    struct fx *f = *state;
    const char *bad[] = { "{\"short_message\":\"x\"", "{\"short_message\" \"x\"}", "nope",
                          "{\"short_message\":\"x\"} trailing", "{\"a\":\"\\uzzzz\"}" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_str(f, bad[i]), CLEW_GELF_EJSON);
    }
    assert_int_equal(parse_str(f, "[1,2]"), CLEW_GELF_ENOTOBJ);
    assert_int_equal(parse_str(f, "\"str\""), CLEW_GELF_ENOTOBJ);
    assert_int_equal(parse_str(f, "  {\"short_message\":\"ws\"}\n"), 0);
    assert_str(f->rec.message, "ws");
}

static void test_missing_fields(void **state)
{
    struct fx *f = *state;
    /* Nothing but the message: host "", ts = receive time, level 6, no fields. */
    assert_int_equal(parse_str(f, "{\"short_message\":\"only\"}"), 0);
    assert_str(f->rec.message, "only");
    assert_str(f->rec.labels[CLEW_LABEL_HOST], "");
    assert_str(f->rec.labels[CLEW_LABEL_SERVICE], "");
    assert_true(f->rec.ts == RECV_NS);
    assert_int_equal(f->rec.level, 6);
    assert_int_equal(f->rec.fields.len, 0);

    assert_int_equal(parse_str(f, "{\"host\":\"h\",\"level\":3}"), CLEW_GELF_ENOMSG);
    assert_int_equal(parse_str(f, "{\"host\":\"h\",\"short_message\":42}"), CLEW_GELF_ENOMSG);

    /* Graylog's "message" extension (spec vector 15). */
    assert_int_equal(parse_str(f, "{\"message\":\"x\",\"_a\":1}"), 0);
    assert_str(f->rec.message, "x");
    assert_str(f->rec.fields, "{\"a\":1}");

    /* full_message only: it is the message and stays in fields. */
    assert_int_equal(parse_str(f, "{\"full_message\":\"trace\\nline 2\"}"), 0);
    assert_str(f->rec.message, "trace\nline 2");
    assert_str(f->rec.fields, "{\"full_message\":\"trace\\nline 2\"}");

    /* Empty short_message falls back to full_message; all empty gives "". */
    assert_int_equal(parse_str(f, "{\"short_message\":\"\",\"full_message\":\"long\"}"), 0);
    assert_str(f->rec.message, "long");
    assert_str(f->rec.fields, "{\"short_message\":\"\",\"full_message\":\"long\"}");
    assert_int_equal(parse_str(f, "{\"short_message\":\"\"}"), 0);
    assert_str(f->rec.message, "");
    assert_int_equal(f->rec.fields.len, 0);

    /* A non-string host stays in fields; the label is empty. */
    assert_int_equal(parse_str(f, "{\"short_message\":\"m\",\"host\":7}"), 0);
    assert_str(f->rec.labels[CLEW_LABEL_HOST], "");
    assert_str(f->rec.fields, "{\"host\":7}");
}

static void test_levels(void **state)
{
    struct fx *f = *state;
    const struct {
        const char *level;
        int want;
        int in_fields;
    } cases[] = {
        { "0", 0, 0 },         { "7", 7, 0 },           { "3.0", 3, 0 },       { "\"err\"", 3, 0 },
        { "\"ERROR\"", 3, 0 }, { "\"warning\"", 4, 0 }, { "\"Debug\"", 7, 0 }, { "\"5\"", 5, 0 },
        { "\"crit\"", 2, 0 },  { "8", 6, 1 },           { "-1", 6, 1 },        { "\"loud\"", 6, 1 },
        { "2.5", 6, 1 },       { "null", 6, 1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[128];
        snprintf(json, sizeof(json), "{\"short_message\":\"m\",\"level\":%s}", cases[i].level);
        assert_int_equal(parse_str(f, json), 0);
        assert_int_equal(f->rec.level, cases[i].want);
        assert_int_equal(f->rec.fields.len != 0, cases[i].in_fields);
    }
    /* No usable level: _stream decides. */
    assert_int_equal(parse_str(f, "{\"short_message\":\"m\",\"_stream\":\"stderr\"}"), 0);
    assert_int_equal(f->rec.level, 3);
    assert_str(f->rec.labels[CLEW_LABEL_STREAM], "stderr");
    assert_int_equal(parse_str(f, "{\"short_message\":\"m\",\"_stream\":\"stdout\"}"), 0);
    assert_int_equal(f->rec.level, 6);
}

static void test_timestamps(void **state)
{
    struct fx *f = *state;
    const struct {
        const char *ts;
        int64_t want;
    } cases[] = {
        { "1705314600", 1705314600000000000LL },               /* vector 13 */
        { "1705314600.5", 1705314600500000000LL },             /* vector 1 */
        { "1705314600.123", 1705314600123000000LL },           /* ms, rounded to the us */
        { "1705314600.123456", 1705314600123456000LL },        /* us survive a double */
        { "\"1705314600.25\"", 1705314600250000000LL },        /* vector 14 */
        { "\"1705314600.123456789\"", 1705314600123456789LL }, /* strings are exact */
        { "\"1705314600\"", 1705314600000000000LL },
        { "\"2024-01-15T10:30:00.5Z\"", 1705314600500000000LL },
        { "1.5", 1500000000LL }, /* tiny values keep ns */
        { "0", RECV_NS },        /* <= 0: receive time */
        { "-5.5", RECV_NS },
        { "\"soon\"", RECV_NS },
        { "\"12x\"", RECV_NS },
        { "1e300", RECV_NS },
        { "99999999999", RECV_NS }, /* ms by mistake: out of range */
        { "true", RECV_NS },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[128];
        snprintf(json, sizeof(json), "{\"short_message\":\"m\",\"timestamp\":%s}", cases[i].ts);
        assert_int_equal(parse_str(f, json), 0);
        if (f->rec.ts != cases[i].want) {
            fail_msg("ts %s: got %lld want %lld", cases[i].ts, (long long)f->rec.ts,
                     (long long)cases[i].want);
        }
        /* A used timestamp is not a field; an unusable one is kept. */
        assert_int_equal(f->rec.fields.len != 0, cases[i].want == RECV_NS);
    }
}

static void test_service_priority(void **state)
{
    struct fx *f = *state;
    const struct {
        const char *extra;
        const char *want;
    } cases[] = {
        { "\"_program\":\"p\",\"_container_name\":\"/c\",\"_service\":\"s\"", "s" },
        { "\"_program\":\"p\",\"_container_name\":\"/c\",\"_app\":\"a\"", "a" },
        { "\"_service.name\":\"sn\",\"_app\":\"a\"", "sn" },
        { "\"_service\":{\"name\":\"nested\"},\"_app\":\"a\"", "nested" },
        { "\"_com.docker.compose.service\":\"compose\",\"_container_name\":\"/c\"", "compose" },
        { "\"_container_name\":\"/c\",\"_program\":\"p\"", "c" },
        { "\"_container_name\":\"/\",\"_program\":\"p\"", "p" },
        { "\"_service\":\"\",\"_program\":\"p\"", "p" },
        { "\"_service\":5,\"_program\":\"p\"", "p" },
        { "\"service\":\"plain\"", "plain" },
        { "\"_other\":\"x\"", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[256];
        snprintf(json, sizeof(json), "{\"short_message\":\"m\",%s}", cases[i].extra);
        assert_int_equal(parse_str(f, json), 0);
        assert_str(f->rec.labels[CLEW_LABEL_SERVICE], cases[i].want);
    }
}

static void test_trace_ids_and_fields(void **state)
{
    struct fx *f = *state;
    const char *json = "{\"version\":\"1.1\",\"short_message\":\"m\",\"_trace_id\":"
                       "\"F8BA1B4BA1BB555895DA80C2586D0C0B\","
                       "\"_span_id\":\"FF96a2f9c565d4ad\",\"_parent_span_id\":\"b06753039ee7b290\","
                       "\"_id\":\"drop\","
                       "\"facility\":\"old\",\"_facility\":\"new\",\"_unix\":{\"pid\":\"1\",\"a\":["
                       "1,2.5,true,null]},"
                       "\"_pi\":3.25,\"_big\":1e300,\"_tenth\":0.1,\"_n\":-7,\"_esc\":"
                       "\"q\\\"b\\\\\\u0001\\u0000\\t\","
                       "\"_u\":\"\\u00e9\\ud83d\\ude00\",\"_x\":null}";
    assert_int_equal(parse_str(f, json), 0);
    assert_str(f->rec.trace_id, "f8ba1b4ba1bb555895da80c2586d0c0b");
    assert_str(f->rec.span_id, "ff96a2f9c565d4ad");
    assert_str(f->rec.parent_span_id, "b06753039ee7b290");
    assert_str(
        f->rec.fields,
        "{\"trace_id\":\"F8BA1B4BA1BB555895DA80C2586D0C0B\",\"span_id\":\"FF96a2f9c565d4ad\","
        "\"parent_span_id\":\"b06753039ee7b290\",\"facility\":\"new\","
        "\"unix\":{\"pid\":\"1\",\"a\":[1,2.5,true,null]},\"pi\":3.25,\"big\":1e+300,"
        "\"tenth\":0.1,\"n\":-7,\"esc\":\"q\\\"b\\\\\\u0001\\u0000\\t\","
        "\"u\":\"\xc3\xa9\xf0\x9f\x98\x80\",\"x\":null}");
    /* The fields text is itself valid JSON: feed it back as a payload. */
    char *again = malloc(f->rec.fields.len + 40);
    memcpy(again, "{\"short_message\":\"m\",", 21);
    memcpy(again + 21, f->rec.fields.ptr + 1, f->rec.fields.len - 1);
    struct clew_record first = f->rec;
    assert_int_equal(clew_gelf_parse(again, 20 + f->rec.fields.len, 0, NULL, &f->rec, &f->arena),
                     0);
    free(again);
    assert_int_equal(f->rec.fields.len, first.fields.len); /* same text: '_' already gone */
    assert_memory_equal(f->rec.fields.ptr, first.fields.ptr, first.fields.len);
}

static void test_nul_and_bytes_in_message(void **state)
{
    struct fx *f = *state;
    const char json[] = "{\"short_message\":\"a\\u0000b\\r\"}";
    assert_int_equal(parse_str(f, json), 0);
    assert_int_equal(f->rec.message.len, 4);
    assert_memory_equal(f->rec.message.ptr, "a\0b\r", 4);
}

static void test_utf8_repair(void **state)
{
    struct fx *f = *state;
    struct clew_gelf_stats st = { 0, 0 };
    struct clew_gelf_parse_opts o = { .stats = &st };
    /* Invalid UTF-8 (lone continuation, overlong, surrogate, truncated), a raw
     * control byte and a lone surrogate escape. */
    const char raw[] = "{\"short_message\":\"a\x80z\xc0\xaf\xed\xa0\x80\xe2\x82\","
                       "\"_k\":\"t\x01\tu\",\"_s\":\"\\ud800x\\udc00\",\"_ok\":\"\xe2\x9c\x93\"}";
    assert_int_equal(clew_gelf_parse(raw, sizeof(raw) - 1, 0, &o, &f->rec, &f->arena), 0);
    assert_int_equal(st.repaired, 1);
    assert_str(f->rec.message, "a\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                               "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    assert_str(
        f->rec.fields,
        "{\"k\":\"t\\u0001\\tu\",\"s\":\"\xef\xbf\xbdx\xef\xbf\xbd\",\"ok\":\"\xe2\x9c\x93\"}");
    /* Bad bytes outside strings are not repaired. */
    const char outside[] = "{\"short_message\":\"a\"\x80}";
    assert_int_equal(clew_gelf_parse(outside, sizeof(outside) - 1, 0, &o, &f->rec, &f->arena),
                     CLEW_GELF_EJSON);
    /* Valid input is not counted. */
    assert_int_equal(clew_gelf_parse(docker_json, strlen(docker_json), 0, &o, &f->rec, &f->arena),
                     0);
    assert_int_equal(st.repaired, 1);
}

static void test_truncate(void **state)
{
    struct fx *f = *state;
    struct clew_gelf_stats st = { 0, 0 };
    struct clew_gelf_parse_opts o = { .max_message = 5, .stats = &st };
    const char *json = "{\"short_message\":\"abcd\xc3\xa9xyz\"}"; /* é spans bytes 4-5 */
    assert_int_equal(clew_gelf_parse(json, strlen(json), 0, &o, &f->rec, &f->arena), 0);
    assert_str(f->rec.message, "abcd");
    assert_int_equal(f->rec.flags, CLEW_REC_TRUNCATED);
    o.max_message = 6;
    assert_int_equal(clew_gelf_parse(json, strlen(json), 0, &o, &f->rec, &f->arena), 0);
    assert_str(f->rec.message, "abcd\xc3\xa9");
    o.max_message = 9;
    assert_int_equal(clew_gelf_parse(json, strlen(json), 0, &o, &f->rec, &f->arena), 0);
    assert_int_equal(f->rec.flags, 0);
    assert_int_equal(st.truncated, 2);
}

/* Behaviours the decoder shares with jansson, pinned down. */
static void test_duplicate_keys(void **state)
{
    struct fx *f = *state;
    /* A repeated key keeps its first position and takes the last value. */
    assert_int_equal(parse_str(f, "{\"short_message\":\"m\",\"a\":1,\"b\":2,\"a\":3,"
                                  "\"short_message\":\"second\"}"),
                     0);
    assert_str(f->rec.message, "second");
    assert_str(f->rec.fields, "{\"a\":3,\"b\":2}");
    /* A usable value wins only if it is the last: the host is dropped. */
    assert_int_equal(parse_str(f, "{\"short_message\":\"m\",\"host\":\"h\",\"host\":5}"), 0);
    assert_str(f->rec.labels[CLEW_LABEL_HOST], "");
    assert_str(f->rec.fields, "{\"host\":5}");
    /* The same inside a nested object (written through the fallback). */
    assert_int_equal(
        parse_str(f, "{\"short_message\":\"m\",\"_n\":{\"a\":1,\"b\":[1,2],\"a\":{\"c\":true}}}"),
        0);
    assert_str(f->rec.fields, "{\"n\":{\"a\":{\"c\":true},\"b\":[1,2]}}");
    /* Keys compare decoded: "\u005fx" is "_x", which beats "x". */
    assert_int_equal(parse_str(f, "{\"short_\\u006dessage\":\"m\",\"_k\\u00e9y\":\"v\","
                                  "\"\\u005fx\":1,\"x\":2}"),
                     0);
    assert_str(f->rec.message, "m");
    assert_str(f->rec.fields, "{\"k\xc3\xa9y\":\"v\",\"x\":1}");
    /* The nested service name: the last "name" decides. */
    assert_int_equal(parse_str(f, "{\"short_message\":\"m\",\"_service\":{\"name\":\"a\","
                                  "\"n\\u0061me\":\"b\"}}"),
                     0);
    assert_str(f->rec.labels[CLEW_LABEL_SERVICE], "b");
}

static void test_numbers_and_layout(void **state)
{
    struct fx *f = *state;
    /* Integers stay as written (but -0), reals print as jansson's %.15g/17g. */
    assert_int_equal(parse_str(f, "{\"short_message\":\"m\",\"_r\":[1.50,-0,1E2,0.00001,1e-7,"
                                  "100.0,-0.0,123456789012345678,1.5e300,0.1,3.0e0,5e-324]}"),
                     0);
    assert_str(f->rec.fields, "{\"r\":[1.5,0,100.0,1e-05,1e-07,100.0,-0.0,123456789012345678,"
                              "1.5e+300,0.1,3.0,4.94065645841247e-324]}");
    /* Whitespace anywhere; nested values come out compact. */
    assert_int_equal(parse_str(f, " { \"short_message\" : \"m\" ,\n \"_n\" :\t[ 1 , { \"a\" : "
                                  "[ ] , \"b\" : { } } ] } "),
                     0);
    assert_str(f->rec.fields, "{\"n\":[1,{\"a\":[],\"b\":{}}]}");
    /* Out of range numbers are not JSON (jansson's limits). */
    assert_int_equal(parse_str(f, "{\"short_message\":\"m\",\"_i\":9223372036854775808}"),
                     CLEW_GELF_EJSON);
    assert_int_equal(parse_str(f, "{\"short_message\":\"m\",\"_r\":1e309}"), CLEW_GELF_EJSON);
    /* Escapes in nested strings are re-encoded the canonical way. */
    assert_int_equal(parse_str(f, "{\"short_message\":\"m\",\"_n\":[\"\\/\\u0041\\b\\u001f\"]}"),
                     0);
    assert_str(f->rec.fields, "{\"n\":[\"/A\\b\\u001f\"]}");
}

static void test_odd_bytes(void **state)
{
    struct fx *f = *state;
    struct clew_gelf_stats st = { 0, 0 };
    struct clew_gelf_parse_opts o = { .stats = &st };
    /* Repaired strings inside a nested object that also needs the fallback. */
    const char nested[] =
        "{\"short_message\":\"m\",\"_n\":{\"a\":\"\x80\",\"a\":1,\"b\":\"\x01\"}}";
    assert_int_equal(clew_gelf_parse(nested, sizeof(nested) - 1, 0, &o, &f->rec, &f->arena), 0);
    assert_str(f->rec.fields, "{\"n\":{\"a\":1,\"b\":\"\\u0001\"}}");
    assert_int_equal(st.repaired, 1);
    /* NUL in a key is refused even escaped; one NUL after a number or a
     * literal is skipped, as jansson does. */
    assert_int_equal(parse_str(f, "{\"short_message\":\"m\",\"a\\u0000\":1}"), CLEW_GELF_EJSON);
    const char quirk[] = "{\"short_message\":\"m\",\"_f\":1\0,\"_t\":true\0}";
    assert_int_equal(clew_gelf_parse(quirk, sizeof(quirk) - 1, 0, &o, &f->rec, &f->arena), 0);
    assert_str(f->rec.fields, "{\"f\":1,\"t\":true}");
    const char two[] = "{\"short_message\":\"m\",\"_f\":1\0\0}";
    assert_int_equal(clew_gelf_parse(two, sizeof(two) - 1, 0, &o, &f->rec, &f->arena),
                     CLEW_GELF_EJSON);
    /* A repaired payload that is no object still counts as repaired. */
    assert_int_equal(clew_gelf_parse("\"\x80\"", 3, 0, &o, &f->rec, &f->arena), CLEW_GELF_ENOTOBJ);
    assert_int_equal(st.repaired, 2);
}

/* Nesting: jansson's limit of 2048 levels holds; past the writer's own
 * depth the fallback writes the same compact text. */
static void test_deep_nesting(void **state)
{
    struct fx *f = *state;
    const size_t depths[] = { 70, 2047, 2048 };
    for (size_t i = 0; i < 3; i++) {
        size_t d = depths[i], n = 0;
        char *json = malloc(2 * d + 64);
        n += (size_t)sprintf(json, "{\"short_message\":\"m\",\"_d\":");
        memset(json + n, '[', d);
        memset(json + n + d, ']', d);
        n += 2 * d;
        json[n++] = '}';
        int rc = clew_gelf_parse(json, n, 0, NULL, &f->rec, &f->arena);
        assert_int_equal(rc, d == 2048 ? CLEW_GELF_EJSON : 0);
        if (rc == 0) {
            assert_int_equal(f->rec.fields.len, 2 * d + 6);
            assert_memory_equal(f->rec.fields.ptr, "{\"d\":[[", 7);
        }
        free(json);
    }
}

static void test_nul_frame(void **state)
{
    (void)state;
    const char tcp[] = "{A}\0{BB}\0\0{C"; /* spec vector 12, plus an empty frame */
    size_t off = 0, n = 0, len = sizeof(tcp) - 1, used;
    used = clew_gelf_nul_frame(tcp + off, len - off, &n);
    assert_int_equal(used, 4);
    assert_int_equal(n, 3);
    off += used;
    used = clew_gelf_nul_frame(tcp + off, len - off, &n);
    assert_int_equal(used, 5);
    assert_memory_equal(tcp + off, "{BB}", n);
    off += used;
    used = clew_gelf_nul_frame(tcp + off, len - off, &n);
    assert_int_equal(used, 1);
    assert_int_equal(n, 0);
    off += used;
    assert_int_equal(clew_gelf_nul_frame(tcp + off, len - off, &n), 0); /* "{C" waits */
    assert_int_equal(clew_gelf_nul_frame(NULL, 0, &n), 0);
}

static void test_strerror(void **state)
{
    (void)state;
    const int codes[] = { CLEW_GELF_EMAGIC, CLEW_GELF_EINFLATE, CLEW_GELF_EJSON, CLEW_GELF_ENOTOBJ,
                          CLEW_GELF_ENOMSG };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        assert_non_null(strstr(clew_gelf_strerror(codes[i]), "GELF"));
    }
    assert_string_equal(clew_gelf_strerror(CLEW_ETOOBIG), clew_strerror(CLEW_ETOOBIG));
}

/* Every allocation failing in turn gives -ENOMEM (never a crash or leak),
 * and once enough succeed the result is the normal one. */
static void test_alloc_failures(void **state)
{
    (void)state;
    size_t n;
    uint8_t *z = deflate_buf(docker_json, strlen(docker_json), 31, 1, &n);
    int ok = 0;
    for (long k = 0; k < 200 && !ok; k++) {
        struct clew_arena arena;
        struct clew_record rec;
        clew_arena_init(&arena, 256);
        clew_alloc_fail_after(k);
        int rc = clew_gelf_parse(z, n, 0, NULL, &rec, &arena);
        clew_alloc_fail_after(-1);
        if (rc == 0) {
            check_docker(&rec);
            ok = 1;
        } else {
            assert_int_equal(rc, -ENOMEM);
        }
        clew_arena_close(&arena);
    }
    assert_true(ok);
    free(z);
}

/* The same on a payload that takes every allocating path of the decoder:
 * more members than fit on the stack, escaped keys, a nested object for the
 * fallback with a repaired string, reals to re-print, a cut message. */
static void test_alloc_failures_all_paths(void **state)
{
    (void)state;
    char json[4096];
    size_t n =
        (size_t)sprintf(json, "{\"short_message\":\"q\\\"uoted \\u00e9 message\","
                              "\"_k\\u0065y\":\"v\\n\",\"_n\":{\"a\":\"\x80\",\"a\":[0.50]}");
    for (int i = 0; i < 40; i++) {
        n += (size_t)sprintf(json + n, ",\"_f%d\":%d.250", i, i);
    }
    json[n++] = '}';
    struct clew_gelf_parse_opts o = { .max_message = 8 };
    struct clew_arena arena;
    struct clew_record rec;
    clew_arena_init(&arena, 256);
    assert_int_equal(clew_gelf_parse(json, n, 0, &o, &rec, &arena), 0);
    char *want = strndup(rec.fields.ptr, rec.fields.len);
    assert_str(rec.message, "q\"uoted ");
    clew_arena_close(&arena);
    int ok = 0;
    for (long k = 0; k < 400 && !ok; k++) {
        clew_arena_init(&arena, 256);
        clew_alloc_fail_after(k);
        int rc = clew_gelf_parse(json, n, 0, &o, &rec, &arena);
        clew_alloc_fail_after(-1);
        if (rc == 0) {
            assert_str(rec.fields, want);
            ok = 1;
        } else {
            assert_int_equal(rc, -ENOMEM);
        }
        clew_arena_close(&arena);
    }
    assert_true(ok);
    assert_non_null(strstr(want, "\"key\":\"v\\n\",\"n\":{\"a\":[0.5]},\"f0\":0.25,"));
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_docker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_and_zlib, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inflater_reuse, setup, teardown),
        cmocka_unit_test(test_sniff),
        cmocka_unit_test_setup_teardown(test_bad_magic_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bomb_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_priority, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_ids_and_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_and_bytes_in_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8_repair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers_and_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
        cmocka_unit_test(test_nul_frame),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_alloc_failures_all_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
