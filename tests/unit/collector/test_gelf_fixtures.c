/* SPDX-License-Identifier: MIT
 * Every GELF fixture captured from a real client (shared/fixtures) decodes to
 * the records in its NAME.expected.jsonl: UDP files go through the chunker,
 * TCP files through the NUL splitter, then clew_gelf_parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clew/error.h"
#include "collector/gelf_chunk.h"
#include "collector/gelf_parse.h"
#include "common/timeutil.h"

#define FIXTURES CLEW_SHARED_DIR "/fixtures/"
#define MAX_RECS 64

struct fixture {
    const char *name;
    int udp;
    int program_service; /* syslog-ng: service `_program` or "" both accepted */
};

static const struct fixture fixtures[] = {
    { "gelfpro-udp-zlib-chunked", 1, 0 }, { "dockergo-udp-gelf-gzip", 1, 0 },
    { "dockergo-udp-gelf-zlib", 1, 0 },   { "gelfpro-tcp-nul", 0, 0 },
    { "dockergo-tcp-gelf", 0, 0 },        { "syslogng-tcp-gelf-graylog2", 0, 1 },
};

struct decoded {
    struct clew_arena arena;
    struct clew_record recs[MAX_RECS];
    size_t n;
};

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

static void add_record(struct decoded *d, const void *p, size_t n, const char *name)
{
    assert_true(d->n < MAX_RECS);
    int rc = clew_gelf_parse(p, n, 42, NULL, &d->recs[d->n], &d->arena);
    if (rc != 0) {
        fail_msg("%s: record %zu: %s", name, d->n + 1, clew_gelf_strerror(rc));
    }
    d->n++;
}

/* UDP files: 4-byte big-endian length + datagram, in arrival order. */
static void decode_udp(const uint8_t *b, size_t len, struct decoded *d, const char *name)
{
    struct clew_gelf_chunker *c = clew_gelf_chunker_new(NULL);
    size_t off = 0;
    while (off < len) {
        assert_true(len - off >= 4);
        size_t n =
            (size_t)b[off] << 24 | (size_t)b[off + 1] << 16 | (size_t)b[off + 2] << 8 | b[off + 3];
        off += 4;
        assert_true(n <= len - off);
        const void *msg;
        size_t msg_len;
        int rc = clew_gelf_chunker_add(c, b + off, n, 0, &msg, &msg_len);
        assert_true(rc == 0 || rc == 1);
        if (rc == 1) {
            add_record(d, msg, msg_len, name);
        }
        off += n;
    }
    struct clew_gelf_chunker_stats st;
    clew_gelf_chunker_stats(c, &st);
    assert_int_equal(st.in_flight, 0);
    clew_gelf_chunker_free(c);
}

/* TCP files: NUL-terminated JSON messages. */
static void decode_tcp(const uint8_t *b, size_t len, struct decoded *d, const char *name)
{
    size_t off = 0, used, n;
    while ((used = clew_gelf_nul_frame(b + off, len - off, &n)) != 0) {
        if (n != 0) {
            add_record(d, b + off, n, name);
        }
        off += used;
    }
    assert_int_equal(off, len); /* every message ended with its NUL */
}

static void check_str(const char *what, const char *name, size_t i, struct clew_str got,
                      const json_t *want)
{
    const char *w = json_is_string(want) ? json_string_value(want) : "";
    size_t wn = json_is_string(want) ? json_string_length(want) : 0;
    if (got.len != wn || (wn && memcmp(got.ptr, w, wn) != 0)) {
        fail_msg("%s #%zu %s: got \"%.*s\" want \"%s\"", name, i + 1, what, (int)got.len,
                 got.ptr ? got.ptr : "", w);
    }
}

static int name_matches(const char *key, size_t klen, const char *k)
{
    size_t n = strlen(k);
    if (klen == n && memcmp(key, k, n) == 0) {
        return 1;
    }
    if (klen == n + 1 && key[0] == '_' && memcmp(key + 1, k, n) == 0) {
        return 1;
    }
    return klen > n && key[klen - n - 1] == '.' && memcmp(key + klen - n, k, n) == 0;
}

static int values_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        return json_number_value(a) == json_number_value(b);
    }
    return json_equal(a, b);
}

/* Lenient: some key anywhere named k, _k or ending in .k holds v. */
static int found(const json_t *node, const char *k, const json_t *v)
{
    if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++) {
            if (found(json_array_get(node, i), k, v)) {
                return 1;
            }
        }
        return 0;
    }
    const char *key;
    size_t klen;
    json_t *val;
    json_object_keylen_foreach((json_t *)(uintptr_t)node, key, klen, val)
    {
        if ((name_matches(key, klen, k) && values_equal(val, v)) || found(val, k, v)) {
            return 1;
        }
    }
    return 0;
}

static void check_fields(const char *name, size_t i, const struct clew_record *r,
                         const json_t *want)
{
    json_t *got = NULL;
    if (r->fields.len != 0) {
        json_error_t err;
        got = json_loadb(r->fields.ptr, r->fields.len, JSON_ALLOW_NUL, &err);
        if (got == NULL) {
            fail_msg("%s #%zu: fields are not JSON: %s", name, i + 1, err.text);
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)want, k, v)
    {
        if (got == NULL || !found(got, k, v)) {
            fail_msg("%s #%zu: field %s not found in %.*s", name, i + 1, k, (int)r->fields.len,
                     r->fields.ptr ? r->fields.ptr : "");
        }
    }
    json_decref(got);
}

static void check_ids(const char *name, size_t i, const struct clew_record *r, const json_t *e)
{
    /* A traceparent inside the payload is the correlation stage's business,
     * not the decoder's: those records' ids are not checked here. */
    if (json_object_get(json_object_get(e, "fields"), "traceparent") != NULL) {
        return;
    }
    check_str("trace_id", name, i, r->trace_id, json_object_get(e, "trace_id"));
    check_str("span_id", name, i, r->span_id, json_object_get(e, "span_id"));
    check_str("parent_span_id", name, i, r->parent_span_id, json_object_get(e, "parent_span_id"));
}

static void check_record(const struct fixture *fx, size_t i, const struct clew_record *r,
                         const json_t *e)
{
    check_str("host", fx->name, i, r->labels[CLEW_LABEL_HOST], json_object_get(e, "host"));
    if (!(fx->program_service && r->labels[CLEW_LABEL_SERVICE].len == 0)) {
        check_str("service", fx->name, i, r->labels[CLEW_LABEL_SERVICE],
                  json_object_get(e, "service"));
    }
    assert_int_equal(r->input, CLEW_INPUT_GELF);
    assert_int_equal(r->level, json_integer_value(json_object_get(e, "level")));
    check_str("message", fx->name, i, r->message, json_object_get(e, "message"));
    check_str("container_id", fx->name, i, r->labels[CLEW_LABEL_CONTAINER_ID],
              json_object_get(e, "container_id"));
    check_str("container_name", fx->name, i, r->labels[CLEW_LABEL_CONTAINER_NAME],
              json_object_get(e, "container_name"));
    const json_t *ts = json_object_get(e, "ts");
    if (json_is_string(ts)) {
        int64_t want;
        assert_int_equal(
            clew_time_parse_rfc3339(json_string_value(ts), json_string_length(ts), &want), 0);
        int64_t diff = r->ts > want ? r->ts - want : want - r->ts;
        if (diff > 1000) {
            fail_msg("%s #%zu ts: off by %lld ns", fx->name, i + 1, (long long)diff);
        }
    } else {
        assert_true(r->ts == 42); /* no timestamp in the bytes: receive time */
    }
    check_ids(fx->name, i, r, e);
    check_fields(fx->name, i, r, json_object_get(e, "fields"));
}

static void run_fixture(const struct fixture *fx)
{
    char path[512];
    size_t len, elen;
    snprintf(path, sizeof(path), FIXTURES "%s.bin", fx->name);
    uint8_t *bin = read_file(path, &len);
    snprintf(path, sizeof(path), FIXTURES "%s.expected.jsonl", fx->name);
    char *exp = (char *)read_file(path, &elen);

    struct decoded *d = calloc(1, sizeof(*d));
    clew_arena_init(&d->arena, 0);
    if (fx->udp) {
        decode_udp(bin, len, d, fx->name);
    } else {
        decode_tcp(bin, len, d, fx->name);
    }
    size_t lines = 0;
    for (char *line = exp, *nl; *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        nl = nl != NULL ? nl : line + strlen(line) - 1;
        json_error_t err;
        json_t *e = json_loadb(line, (size_t)(nl - line), 0, &err);
        assert_non_null(e);
        assert_true(lines < d->n);
        check_record(fx, lines, &d->recs[lines], e);
        json_decref(e);
        lines++;
    }
    assert_int_equal(lines, d->n);
    assert_true(lines > 0);
    clew_arena_close(&d->arena);
    free(d);
    free(exp);
    free(bin);
}

static void test_fixture(void **state)
{
    run_fixture(*state);
}

int main(void)
{
    struct CMUnitTest tests[sizeof(fixtures) / sizeof(fixtures[0])];
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        tests[i] = (struct CMUnitTest){ .name = fixtures[i].name,
                                        .test_func = test_fixture,
                                        .initial_state = (void *)(uintptr_t)&fixtures[i] };
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
