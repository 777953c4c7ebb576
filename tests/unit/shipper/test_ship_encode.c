/* SPDX-License-Identifier: MIT
 * What clew-ship sends, decoded by the collector's own Forward decoder;
 * and the option table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
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
        cmocka_unit_test(test_packed),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_many_pairs),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
