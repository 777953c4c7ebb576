/* SPDX-License-Identifier: MIT
 * What clew-ship sends (file entries and whole listener records), decoded
 * by the collector's own Forward decoder; and the option table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clew/error.h"
#include "collector/forward_parse.h"
#include "common/alloc.h"

#include "shipper/ship_config.h"
#include "shipper/ship_encode.h"

#define TS 1705314600123456789LL

/* Builds one request of the entries in payload and decodes it. */
static void decode(const struct clew_buf *payload, uint32_t count, int gzip,
                   struct clew_fwd_decoder *dec)
{
    struct clew_buf req, body;
    clew_buf_init(&req);
    clew_buf_init(&body);
    const struct clew_buf *b = payload;
    if (gzip) {
        assert_int_equal(clew_ship_gzip(&body, payload->data, payload->len, 1), 0);
        b = &body;
    }
    uint8_t head[CLEW_SHIP_HEAD_MAX];
    size_t hl = clew_ship_request_head(head, "clew-ship", b->len);
    assert_int_equal(clew_buf_append(&req, head, hl), 0);
    assert_int_equal(clew_buf_append(&req, b->data, b->len), 0);
    assert_int_equal(clew_ship_request_tail(&req, "run-1", count, gzip), 0);
    assert_int_equal(clew_fwd_decoder_feed(dec, req.data, req.len), 0);
    clew_buf_close(&req);
    clew_buf_close(&body);
}

static void str_eq(struct clew_str s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    if (s.len) {
        assert_memory_equal(s.ptr, want, s.len);
    }
}

static void check_requests(int gzip)
{
    struct clew_ship_fixed fx;
    clew_ship_fixed_init(&fx);
    assert_int_equal(clew_ship_fixed_add(&fx, "host", "node1", 5), 0);
    assert_int_equal(clew_ship_fixed_add(&fx, "container_id", "abc", 3), 0);
    assert_int_equal(clew_ship_fixed_add(&fx, "container_name", "shop-web-1", 10), 0);
    assert_int_equal(clew_ship_fixed_add(&fx, "service", "web", 3), 0);
    assert_int_equal(clew_ship_fixed_add(&fx, "image", "", 0), 0); /* empty: skipped */
    assert_int_equal(fx.npairs, 4);
    assert_true(clew_ship_fixed_has(&fx, "service", 7));
    assert_false(clew_ship_fixed_has(&fx, "image", 5));

    struct clew_str keys[3] = { CLEW_STR_LIT("team"), CLEW_STR_LIT("service"),
                                CLEW_STR_LIT("log") };
    struct clew_str vals[3] = { CLEW_STR_LIT("pay"), CLEW_STR_LIT("ignored"),
                                CLEW_STR_LIT("ignored") };
    struct clew_buf payload;
    clew_buf_init(&payload);
    size_t big_len = 70000; /* a str32 */
    char *big = clew_malloc(big_len);
    memset(big, 'z', big_len);
    struct clew_ship_entry e[3] = {
        { .ts = TS,
          .stream = 1,
          .msg = CLEW_STR_LIT("boom\xff"),
          .attr_keys = keys,
          .attr_vals = vals,
          .nattrs = 3 },
        { .ts = TS + 1, .stream = 0, .msg = { big, big_len }, .flags = CLEW_REC_TRUNCATED },
        { .ts = TS + 2, .stream = -1, .msg = CLEW_STR_LIT(""), .partial = 1 },
    };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(clew_ship_entry_encode(&payload, &e[i], &fx), 0);
    }
    struct clew_fwd_decoder *dec;
    assert_int_equal(clew_fwd_decoder_new(NULL, &dec), 0);
    decode(&payload, 3, gzip, dec);
    struct clew_fwd_event ev;
    assert_int_equal(clew_fwd_decoder_next(dec, &ev), 0);
    assert_int_equal(ev.kind, CLEW_FWD_RECORD);
    assert_int_equal(ev.mode, gzip ? CLEW_FWD_MODE_COMPRESSED : CLEW_FWD_MODE_PACKED);
    assert_true(ev.rec.ts == TS);
    str_eq(ev.rec.message, "boom\xff");
    str_eq(ev.rec.labels[CLEW_LABEL_HOST], "node1");
    str_eq(ev.rec.labels[CLEW_LABEL_SERVICE], "web");
    str_eq(ev.rec.labels[CLEW_LABEL_CONTAINER_ID], "abc");
    str_eq(ev.rec.labels[CLEW_LABEL_CONTAINER_NAME], "shop-web-1");
    str_eq(ev.rec.labels[CLEW_LABEL_STREAM], "stderr");
    assert_int_equal(ev.rec.level, 3); /* stderr */
    str_eq(ev.rec.fields, "{\"tag\":\"clew-ship\",\"team\":\"pay\"}");
    assert_int_equal(clew_fwd_decoder_next(dec, &ev), 0);
    assert_int_equal(ev.rec.message.len, big_len);
    assert_memory_equal(ev.rec.message.ptr, big, big_len);
    str_eq(ev.rec.labels[CLEW_LABEL_STREAM], "stdout");
    str_eq(ev.rec.fields, "{\"tag\":\"clew-ship\",\"truncated\":\"true\"}");
    assert_int_equal(clew_fwd_decoder_next(dec, &ev), 0);
    assert_true(ev.rec.ts == TS + 2);
    str_eq(ev.rec.message, "");
    str_eq(ev.rec.labels[CLEW_LABEL_STREAM], "");
    str_eq(ev.rec.fields, "{\"tag\":\"clew-ship\",\"partial\":\"true\"}");
    assert_int_equal(clew_fwd_decoder_next(dec, &ev), 0);
    assert_int_equal(ev.kind, CLEW_FWD_END);
    str_eq(ev.chunk, "run-1");
    assert_true(ev.size == 3);
    assert_int_equal(ev.records, 3);
    assert_int_equal(clew_fwd_decoder_next(dec, &ev), -EAGAIN);
    clew_fwd_decoder_free(dec);
    clew_free(big);
    clew_buf_close(&payload);
    clew_ship_fixed_close(&fx);
}

static void test_packed(void **state)
{
    (void)state;
    check_requests(0);
}

static void test_gzip(void **state)
{
    (void)state;
    check_requests(1);
}

static void test_many_pairs(void **state)
{
    (void)state;
    struct clew_ship_fixed fx;
    clew_ship_fixed_init(&fx);
    char k[16], v[16];
    for (int i = 0; i < 20; i++) { /* map16 */
        snprintf(k, sizeof(k), "k%02d", i);
        snprintf(v, sizeof(v), "v%d", i);
        assert_int_equal(clew_ship_fixed_add(&fx, k, v, strlen(v)), 0);
    }
    struct clew_buf payload;
    clew_buf_init(&payload);
    struct clew_ship_entry e = { .ts = TS, .stream = 0, .msg = CLEW_STR_LIT("m") };
    assert_int_equal(clew_ship_entry_encode(&payload, &e, &fx), 0);
    struct clew_fwd_decoder *dec;
    assert_int_equal(clew_fwd_decoder_new(NULL, &dec), 0);
    decode(&payload, 1, 0, dec);
    struct clew_fwd_event ev;
    assert_int_equal(clew_fwd_decoder_next(dec, &ev), 0);
    assert_int_equal(ev.kind, CLEW_FWD_RECORD);
    char *fields = clew_strndup(ev.rec.fields.ptr, ev.rec.fields.len);
    assert_non_null(strstr(fields, "\"k00\":\"v0\""));
    assert_non_null(strstr(fields, "\"k19\":\"v19\""));
    clew_free(fields);
    clew_fwd_decoder_free(dec);
    clew_buf_close(&payload);
    clew_ship_fixed_close(&fx);
}

/* ---- whole records (the listeners) ---- */

static struct clew_str S(const char *s) {
    return (struct clew_str){ s, strlen(s) };
}

/* Encodes records, decodes them as clewd does, returns the decoder (the
 * caller reads n RECORD events and the END). */
static struct clew_fwd_decoder *
round_trip(const struct clew_record *recs, uint32_t n)
{
    struct clew_buf payload;
    clew_buf_init(&payload);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(clew_ship_record_encode(&payload, &recs[i]), 0);
    }
    struct clew_fwd_decoder *dec;
    assert_int_equal(clew_fwd_decoder_new(NULL, &dec), 0);
    decode(&payload, n, 0, dec);
    clew_buf_close(&payload);
    return dec;
}

static void next_record(struct clew_fwd_decoder *dec, struct clew_fwd_event *ev)
{
    assert_int_equal(clew_fwd_decoder_next(dec, ev), 0);
    assert_int_equal(ev->kind, CLEW_FWD_RECORD);
    assert_true(ev->has_ts);
}

static void end_of(struct clew_fwd_decoder *dec, uint32_t n)
{
    struct clew_fwd_event ev;
    assert_int_equal(clew_fwd_decoder_next(dec, &ev), 0);
    assert_int_equal(ev.kind, CLEW_FWD_END);
    assert_int_equal(ev.records, n);
    assert_int_equal(ev.skipped, 0);
    assert_int_equal(clew_fwd_decoder_next(dec, &ev), -EAGAIN);
    clew_fwd_decoder_free(dec);
}

/* A syslog record with structured data, ids and the truncated flag. */
static void test_record_syslog(void **state)
{
    (void)state;
    struct clew_record r = { .ts = TS, .level = 3, .input = CLEW_INPUT_SYSLOG };
    r.flags = CLEW_REC_TRUNCATED;
    r.labels[CLEW_LABEL_HOST] = S("web-1");
    r.labels[CLEW_LABEL_SERVICE] = S("billing");
    r.message = (struct clew_str){ "payment failed\xff\0!", 17 };
    r.trace_id = S("0af7651916cd43dd8448eb211c80319c");
    r.span_id = S("b7ad6b7169203331");
    r.fields = S("{\"facility\":\"user\",\"procid\":\"42\",\"msgid\":\"ID7\","
                 "\"acc@32473\":{\"user\":\"alice\"}}");
    struct clew_fwd_decoder *dec = round_trip(&r, 1);
    struct clew_fwd_event ev;
    next_record(dec, &ev);
    assert_true(ev.rec.ts == TS);
    assert_int_equal(ev.rec.level, 3);
    assert_int_equal(ev.rec.message.len, 17);
    assert_memory_equal(ev.rec.message.ptr, "payment failed\xff\0!", 17);
    str_eq(ev.rec.labels[CLEW_LABEL_HOST], "web-1");
    str_eq(ev.rec.labels[CLEW_LABEL_SERVICE], "billing");
    str_eq(ev.rec.labels[CLEW_LABEL_CONTAINER_ID], "");
    str_eq(ev.rec.labels[CLEW_LABEL_CONTAINER_NAME], "");
    str_eq(ev.rec.labels[CLEW_LABEL_STREAM], "");
    str_eq(ev.rec.trace_id, "0af7651916cd43dd8448eb211c80319c");
    str_eq(ev.rec.span_id, "b7ad6b7169203331");
    str_eq(ev.rec.parent_span_id, "");
    /* What Forward cannot say goes to fields: the input and the flag. */
    assert_int_equal(ev.rec.input, CLEW_INPUT_FORWARD);
    str_eq(ev.rec.fields, "{\"tag\":\"clew-ship\",\"input\":\"syslog\",\"truncated\":\"true\","
                          "\"facility\":\"user\",\"procid\":\"42\",\"msgid\":\"ID7\","
                          "\"acc@32473\":{\"user\":\"alice\"}}");
    end_of(dec, 1);
}

/* A GELF record whose fields repeat the record's own keys (GELF keeps
 * _service etc. in fields) and hold every JSON type. */
static void test_record_gelf(void **state)
{
    (void)state;
    struct clew_record r = { .ts = TS + 7, .level = 4, .input = CLEW_INPUT_GELF };
    r.labels[CLEW_LABEL_SERVICE] = S("api");
    r.labels[CLEW_LABEL_CONTAINER_ID] = S("c0ffee");
    r.labels[CLEW_LABEL_CONTAINER_NAME] = S("shop-api-1");
    r.labels[CLEW_LABEL_STREAM] = S("stderr"); /* level 4 still wins over stderr's 3 */
    r.message = S("m");
    r.parent_span_id = S("00f067aa0ba902b7");
    const char *fields =
        "{\"service\":\"api\",\"container_name\":\"/shop-api-1\",\"message\":\"other\","
        "\"level\":\"bogus\",\"host\":\"h2\",\"n\":-5,\"neg\":-100000,\"big\":9007199254740993,"
        "\"min\":-9223372036854775808,\"r\":1.5,\"ok\":true,\"no\":false,\"nil\":null,"
        "\"arr\":[1,\"two\",[3],{}],\"u\":\"h\\u00e9\\u0000x\",\"obj\":{\"a\":{\"b\":[]}}}";
    r.fields = S(fields);
    struct clew_fwd_decoder *dec = round_trip(&r, 1);
    struct clew_fwd_event ev;
    next_record(dec, &ev);
    assert_true(ev.rec.ts == TS + 7);
    assert_int_equal(ev.rec.level, 4);
    str_eq(ev.rec.message, "m");
    str_eq(ev.rec.labels[CLEW_LABEL_HOST], ""); /* empty, not the field's h2 */
    str_eq(ev.rec.labels[CLEW_LABEL_SERVICE], "api");
    str_eq(ev.rec.labels[CLEW_LABEL_CONTAINER_ID], "c0ffee");
    str_eq(ev.rec.labels[CLEW_LABEL_CONTAINER_NAME], "shop-api-1");
    str_eq(ev.rec.labels[CLEW_LABEL_STREAM], "stderr");
    str_eq(ev.rec.trace_id, "");
    str_eq(ev.rec.span_id, "");
    str_eq(ev.rec.parent_span_id, "00f067aa0ba902b7");
    str_eq(ev.rec.fields,
           "{\"tag\":\"clew-ship\",\"input\":\"gelf\",\"service\":\"api\","
           "\"container_name\":\"/shop-api-1\",\"message\":\"other\",\"level\":\"bogus\","
           "\"host\":\"h2\",\"n\":-5,\"neg\":-100000,\"big\":9007199254740993,"
           "\"min\":-9223372036854775808,\"r\":1.5,\"ok\":true,\"no\":false,\"nil\":null,"
           "\"arr\":[1,\"two\",[3],{}],\"u\":\"h\xc3\xa9\\u0000x\",\"obj\":{\"a\":{\"b\":[]}}}");
    end_of(dec, 1);
}

/* Nesting beyond CLEW_SHIP_MAX_DEPTH goes as JSON text; fields that are not
 * an object go whole; no fields, no service, unknown input. */
static void test_record_edges(void **state)
{
    (void)state;
    char deep[128], want[256];
    int levels = CLEW_SHIP_MAX_DEPTH + 4;
    int n = snprintf(deep, sizeof(deep), "{\"d\":");
    for (int i = 0; i < levels; i++) {
        deep[n++] = '[';
    }
    deep[n++] = '1';
    for (int i = 0; i < levels; i++) {
        deep[n++] = ']';
    }
    snprintf(deep + n, sizeof(deep) - (size_t)n, "}");
    n = snprintf(want, sizeof(want), "{\"tag\":\"clew-ship\",\"input\":\"http\",\"d\":");
    for (int i = 0; i < CLEW_SHIP_MAX_DEPTH; i++) {
        want[n++] = '[';
    }
    n += snprintf(want + n, sizeof(want) - (size_t)n, "\"[[[[1]]]]\"");
    for (int i = 0; i < CLEW_SHIP_MAX_DEPTH; i++) {
        want[n++] = ']';
    }
    snprintf(want + n, sizeof(want) - (size_t)n, "}");

    struct clew_record r[3] = {
        { .ts = TS, .level = 0, .input = CLEW_INPUT_HTTP, .message = S("deep"), .fields = S(deep) },
        { .ts = TS, .level = 7, .input = CLEW_INPUT_SYSLOG, .message = S(""), .fields = S("[1,2") },
        { .ts = 1, .level = 6, .input = 99, .message = S("bare") },
    };
    r[2].labels[CLEW_LABEL_HOST] = S("n1");
    struct clew_fwd_decoder *dec = round_trip(r, 3);
    struct clew_fwd_event ev;
    next_record(dec, &ev);
    assert_int_equal(ev.rec.level, 0);
    str_eq(ev.rec.fields, want);
    next_record(dec, &ev);
    assert_int_equal(ev.rec.level, 7);
    str_eq(ev.rec.message, "");
    /* Forward's service fallback is the tag when the record had none. */
    str_eq(ev.rec.labels[CLEW_LABEL_SERVICE], "clew-ship");
    str_eq(ev.rec.fields, "{\"tag\":\"clew-ship\",\"input\":\"syslog\",\"fields\":\"[1,2\"}");
    next_record(dec, &ev);
    assert_true(ev.rec.ts == 1);
    assert_int_equal(ev.rec.level, 6);
    str_eq(ev.rec.labels[CLEW_LABEL_HOST], "n1");
    str_eq(ev.rec.fields, "{\"tag\":\"clew-ship\",\"input\":\"unknown\"}");
    end_of(dec, 3);
}

/* Every allocation failure leaves the buffer as it was. */
static void test_record_nomem(void **state)
{
    (void)state;
    struct clew_record r = { .ts = TS, .level = 5, .input = CLEW_INPUT_GELF };
    char big[3000];
    memset(big, 'x', sizeof(big));
    r.message = (struct clew_str){ big, sizeof(big) };
    r.labels[CLEW_LABEL_HOST] = S("h");
    r.fields = S("{\"a\":[1,2,{\"b\":\"c\"}],\"s\":\"" /* long enough to grow the buffer */
                 "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
                 "\"}");
    struct clew_buf good;
    clew_buf_init(&good);
    assert_int_equal(clew_ship_record_encode(&good, &r), 0);
    int failed = 0;
    for (long k = 0; k < 20; k++) {
        struct clew_buf b;
        clew_buf_init(&b);
        assert_int_equal(clew_buf_append(&b, "prefix", 6), 0);
        clew_alloc_fail_after(k);
        int rc = clew_ship_record_encode(&b, &r);
        clew_alloc_fail_after(-1);
        if (rc < 0) {
            assert_int_equal(rc, -ENOMEM);
            assert_int_equal(b.len, 6);
            failed++;
        } else {
            assert_int_equal(b.len, 6 + good.len);
            assert_memory_equal(b.data + 6, good.data, good.len);
        }
        clew_buf_close(&b);
    }
    assert_true(failed > 0);
    clew_buf_close(&good);
}

static void test_config(void **state)
{
    (void)state;
    size_t n;
    assert_int_equal(clew_ship_parse_size("64MiB", &n), 0);
    assert_true(n == 64u << 20);
    assert_int_equal(clew_ship_parse_size("512k", &n), 0);
    assert_true(n == 512u << 10);
    assert_int_equal(clew_ship_parse_size("4096", &n), 0);
    assert_true(n == 4096);
    assert_int_equal(clew_ship_parse_size("1Gb", &n), 0);
    assert_true(n == 1u << 30);
    assert_int_equal(clew_ship_parse_size("-1", &n), CLEW_EFORMAT);
    assert_int_equal(clew_ship_parse_size("12 parsecs", &n), CLEW_EFORMAT);
    assert_int_equal(clew_ship_parse_size("", &n), CLEW_EFORMAT);

    char path[] = "/tmp/clew-ship-cfg-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# clew-ship\nforward: \"a:1,b:2\"\nbuffer-size: 8MiB\n"
                       "batch-wait: 1s\nmultiline: off\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct clew_ship_config c;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_ship_config_init(&c), 0);
    assert_string_equal(c.state, "/var/lib/clew-ship");
    assert_string_equal(c.docker_root, "/var/lib/docker/containers");
    assert_string_equal(c.cri_root, "/var/log/pods");
    assert_string_equal(c.syslog, "off");
    char *argv[] = { (char *)"--batch-wait=300ms", (char *)"--config", path, (char *)"--state",
                     (char *)"/tmp/st" };
    assert_int_equal(clew_ship_config_parse_args(&c, 5, argv, stdout, err), 0);
    assert_string_equal(c.forward, "a:1,b:2");
    assert_true(c.buffer_size == 8u << 20);
    assert_true(c.batch_wait == 300000000LL); /* the command line wins */
    assert_string_equal(c.multiline, "off");
    assert_string_equal(c.state, "/tmp/st");
    char *bad[] = { (char *)"--no-such", (char *)"1" };
    assert_int_equal(clew_ship_config_parse_args(&c, 2, bad, stdout, err), CLEW_EBADARG);
    assert_non_null(strstr(err, "no-such"));
    char *bad2[] = { (char *)"--gzip", (char *)"11" };
    assert_int_equal(clew_ship_config_parse_args(&c, 2, bad2, stdout, err), CLEW_EBADARG);
    char *bad3[] = { (char *)"--state" };
    assert_int_equal(clew_ship_config_parse_args(&c, 1, bad3, stdout, err), CLEW_EBADARG);
    clew_ship_config_close(&c);

    FILE *f = fopen(path, "w");
    fputs("forward 1.2.3.4:5\n", f);
    fclose(f);
    assert_int_equal(clew_ship_config_init(&c), 0);
    assert_int_equal(clew_ship_config_load_file(&c, path, err), CLEW_EBADARG);
    assert_non_null(strstr(err, ":1:"));
    clew_ship_config_close(&c);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed),       cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_many_pairs),   cmocka_unit_test(test_record_syslog),
        cmocka_unit_test(test_record_gelf),  cmocka_unit_test(test_record_edges),
        cmocka_unit_test(test_record_nomem), cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
