/* SPDX-License-Identifier: MIT
 * The Forward fixtures (real client byte streams, shared/fixtures) through
 * the decoder, fed whole, in random pieces and byte by byte; every record is
 * checked against NAME.expected.jsonl under the README's field mapping. */
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

#include "clew/error.h"
#include "collector/forward_parse.h"
#include "common/timeutil.h"

static const char *const fixtures[] = {
    "fluentlogger-tcp-message",    "fluentlogger-tcp-message-ack", "fluentlogger-tcp-packed",
    "fluentlogger-tcp-compressed", "dockergo-tcp-fluentd",         "dockergo-tcp-fluentd-ack",
};

struct fixture {
    const char *name;
    unsigned char *bytes;
    size_t len;
    json_t *expected;    /* array of the expected records */
    char chunks[16][64]; /* ack ids found in the raw bytes, in order */
    int nchunks;
};

struct check {
    const struct fixture *fx;
    const char *how;
    int nrec, nend, since_end, nchunks;
    char cur_chunk[64]; /* chunk of the records since the last END */
};

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* The ack ids, found independently of the decoder: "chunk" (a5 + 5 bytes)
 * followed by a fixstr or str8. */
static void find_chunks(struct fixture *fx)
{
    for (size_t i = 0; i + 8 < fx->len; i++) {
        if (memcmp(fx->bytes + i, "\245chunk", 6) != 0) {
            continue;
        }
        const unsigned char *p = fx->bytes + i + 6;
        size_t n = (*p >= 0xa0 && *p <= 0xbf) ? (size_t)(*p & 0x1f) : (size_t)p[1];
        p += (*p == 0xd9) ? 2 : 1;
        assert_true(n < 64 && fx->nchunks < 16);
        memcpy(fx->chunks[fx->nchunks], p, n);
        fx->chunks[fx->nchunks++][n] = '\0';
    }
}

static void load(struct fixture *fx, const char *name)
{
    char path[512];
    memset(fx, 0, sizeof(*fx));
    fx->name = name;
    snprintf(path, sizeof(path), "%s/fixtures/%s.bin", CLEW_SHARED_DIR, name);
    fx->bytes = slurp(path, &fx->len);
    find_chunks(fx);
    snprintf(path, sizeof(path), "%s/fixtures/%s.expected.jsonl", CLEW_SHARED_DIR, name);
    size_t n;
    char *text = (char *)slurp(path, &n);
    text[n] = '\0';
    fx->expected = json_array();
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        assert_non_null(j);
        json_array_append_new(fx->expected, j);
    }
    free(text);
}

static void fail_at(const struct check *c, const char *what, const char *got, size_t got_len,
                    const char *want)
{
    fail_msg("%s (%s) record %d: %s is \"%.*s\", expected \"%s\"", c->fx->name, c->how, c->nrec,
             what, (int)got_len, got, want);
}

/* Compares a record string with the expected key (absent/null = ""). */
static void expect_str(const struct check *c, const json_t *exp, const char *key,
                       struct clew_str got)
{
    const json_t *v = json_object_get(exp, key);
    const char *want = json_is_string(v) ? json_string_value(v) : "";
    size_t want_len = json_is_string(v) ? json_string_length(v) : 0;
    if (got.len != want_len || (want_len > 0 && memcmp(got.ptr, want, want_len) != 0)) {
        fail_at(c, key, got.ptr, got.len, want);
    }
}

static int values_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        return json_number_value(a) == json_number_value(b);
    }
    return json_equal(a, b);
}

/* The README's lenient lookup: some key anywhere named k, _k or ending in
 * .k with an equal value. */
static int find_value(const json_t *in, const char *k, const json_t *want)
{
    size_t kl = strlen(k);
    if (json_is_array(in)) {
        for (size_t i = 0; i < json_array_size(in); i++) {
            if (find_value(json_array_get(in, i), k, want)) {
                return 1;
            }
        }
        return 0;
    }
    for (void *it = json_object_iter((json_t *)(uintptr_t)in); it != NULL;
         it = json_object_iter_next((json_t *)(uintptr_t)in, it)) {
        const char *key = json_object_iter_key(it);
        const json_t *v = json_object_iter_value(it);
        size_t n = strlen(key);
        int named = strcmp(key, k) == 0 || (key[0] == '_' && strcmp(key + 1, k) == 0) ||
                    (n > kl && key[n - kl - 1] == '.' && strcmp(key + n - kl, k) == 0);
        if ((named && values_equal(v, want)) || find_value(v, k, want)) {
            return 1;
        }
    }
    return 0;
}

static int has_key(const json_t *in, const char *k)
{
    return json_is_object(in) && json_object_get(in, k) != NULL;
}

static void check_fields(const struct check *c, const json_t *exp, const json_t *ours)
{
    json_t *f = json_object_get(exp, "fields");
    for (void *it = json_object_iter(f); it != NULL; it = json_object_iter_next(f, it)) {
        const char *k = json_object_iter_key(it);
        const json_t *v = json_object_iter_value(it);
        if (!find_value(ours, k, v)) {
            char *want = json_dumps(v, JSON_ENCODE_ANY);
            char *got = json_dumps(ours, 0);
            fail_at(c, k, got, strlen(got), want);
        }
    }
}

static void check_record(struct check *c, const struct clew_fwd_event *ev)
{
    const json_t *exp = json_array_get(c->fx->expected, (size_t)c->nrec);
    const struct clew_str *l = ev->rec.labels;
    assert_non_null(exp);
    assert_int_equal(ev->rec.input, CLEW_INPUT_FORWARD);
    assert_string_equal(json_string_value(json_object_get(exp, "input")), "forward");
    if (json_string_length(json_object_get(exp, "host")) > 0) {
        expect_str(c, exp, "host", l[CLEW_LABEL_HOST]);
    }
    /* The README accepts the tag or "" where neither service nor container. */
    if (l[CLEW_LABEL_SERVICE].len > 0 ||
        !json_equal(json_object_get(exp, "service"),
                    json_object_get(json_object_get(exp, "fields"), "tag"))) {
        expect_str(c, exp, "service", l[CLEW_LABEL_SERVICE]);
    }
    expect_str(c, exp, "message", ev->rec.message);
    expect_str(c, exp, "container_id", l[CLEW_LABEL_CONTAINER_ID]);
    expect_str(c, exp, "container_name", l[CLEW_LABEL_CONTAINER_NAME]);
    expect_str(c, exp, "stream", l[CLEW_LABEL_STREAM]);
    assert_int_equal(ev->rec.level, json_integer_value(json_object_get(exp, "level")));
    assert_true(json_is_integer(json_object_get(exp, "level")));
    const json_t *ts = json_object_get(exp, "ts");
    if (json_is_string(ts)) {
        int64_t want;
        assert_int_equal(
            clew_time_parse_rfc3339(json_string_value(ts), json_string_length(ts), &want), 0);
        assert_int_equal(ev->has_ts, 1);
        assert_true(llabs(ev->rec.ts - want) <= 1000);
    }
    json_t *ours = json_loadb(ev->rec.fields.ptr, ev->rec.fields.len, 0, NULL);
    assert_true(json_is_object(ours));
    /* Ids sent as explicit keys must come out; ids that only a traceparent
     * key carries are the correlation stage's job, so those are skipped. */
    if (!has_key(ours, "traceparent")) {
        expect_str(c, exp, "trace_id", ev->rec.trace_id);
        expect_str(c, exp, "span_id", ev->rec.span_id);
        expect_str(c, exp, "parent_span_id", ev->rec.parent_span_id);
    }
    check_fields(c, exp, ours);
    json_decref(ours);
}

static void on_event(struct check *c, const struct clew_fwd_event *ev)
{
    char chunk[64];
    assert_true(ev->chunk.len < sizeof(chunk));
    memcpy(chunk, ev->chunk.ptr ? ev->chunk.ptr : "", ev->chunk.len);
    chunk[ev->chunk.len] = '\0';
    if (ev->kind == CLEW_FWD_RECORD) {
        if (c->since_end++ == 0) {
            strcpy(c->cur_chunk, chunk);
        }
        assert_string_equal(chunk, c->cur_chunk); /* one request, one chunk */
        check_record(c, ev);
        c->nrec++;
        return;
    }
    assert_int_equal(ev->kind, CLEW_FWD_END); /* no SKIP in real client bytes */
    assert_true(c->since_end > 0);
    assert_int_equal(ev->records, c->since_end);
    assert_int_equal(ev->skipped, 0);
    assert_string_equal(chunk, c->cur_chunk);
    if (ev->chunk.len > 0) {
        /* the ack id comes after the request's last entry, in stream order */
        assert_true(c->nchunks < c->fx->nchunks);
        assert_string_equal(chunk, c->fx->chunks[c->nchunks++]);
    } else {
        assert_int_equal(c->fx->nchunks, 0);
    }
    c->nend++;
    c->since_end = 0;
}

static void run(const struct fixture *fx, const char *how, size_t piece, unsigned seed)
{
    struct clew_fwd_decoder *d;
    struct clew_fwd_event ev;
    struct check c = { .fx = fx, .how = how };
    assert_int_equal(clew_fwd_decoder_new(NULL, &d), 0);
    size_t off = 0;
    int rc = -EAGAIN;
    while (off < fx->len) {
        size_t n = piece;
        if (n == 0) { /* random pieces, 1..600 bytes */
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 8) % 600;
        }
        n = n < fx->len - off ? n : fx->len - off;
        assert_int_equal(clew_fwd_decoder_feed(d, fx->bytes + off, n), 0);
        off += n;
        while ((rc = clew_fwd_decoder_next(d, &ev)) == 0) {
            on_event(&c, &ev);
        }
        assert_int_equal(rc, -EAGAIN);
    }
    assert_int_equal(c.nrec, (int)json_array_size(fx->expected));
    assert_int_equal(c.since_end, 0);
    assert_int_equal(c.nchunks, fx->nchunks);
    struct clew_fwd_stats st;
    clew_fwd_decoder_stats(d, &st);
    assert_true(st.bytes == fx->len && st.bad_entries == 0 && st.bad_requests == 0);
    clew_fwd_decoder_free(d);
}

static void test_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        struct fixture fx;
        load(&fx, fixtures[i]);
        assert_int_equal(json_array_size(fx.expected), 6);
        run(&fx, "whole", fx.len, 0);
        for (unsigned seed = 1; seed <= 8; seed++) {
            run(&fx, "random pieces", 0, seed);
        }
        run(&fx, "byte by byte", 1, 0);
        json_decref(fx.expected);
        free(fx.bytes);
    }
}

/* The -ack fixtures: one chunk per message, each reported after its entry. */
static void test_ack_fixtures(void **state)
{
    (void)state;
    const char *names[] = { "fluentlogger-tcp-message-ack", "dockergo-tcp-fluentd-ack" };
    for (int i = 0; i < 2; i++) {
        struct fixture fx;
        load(&fx, names[i]);
        assert_int_equal(fx.nchunks, 6);
        struct clew_fwd_decoder *d;
        struct clew_fwd_event ev;
        assert_int_equal(clew_fwd_decoder_new(NULL, &d), 0);
        assert_int_equal(clew_fwd_decoder_feed(d, fx.bytes, fx.len), 0);
        for (int m = 0; m < 6; m++) {
            assert_int_equal(clew_fwd_decoder_next(d, &ev), 0);
            assert_int_equal(ev.kind, CLEW_FWD_RECORD);
            assert_int_equal(clew_fwd_decoder_next(d, &ev), 0);
            assert_int_equal(ev.kind, CLEW_FWD_END);
            assert_int_equal(ev.chunk.len, strlen(fx.chunks[m]));
            assert_memory_equal(ev.chunk.ptr, fx.chunks[m], ev.chunk.len);
        }
        assert_int_equal(clew_fwd_decoder_next(d, &ev), -EAGAIN);
        clew_fwd_decoder_free(d);
        json_decref(fx.expected);
        free(fx.bytes);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_ack_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
